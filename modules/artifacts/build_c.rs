//! Builds the C twin of the median-price module (`modules/median-price-c`) from source.
//!
//! # Design
//! Three steps, all driven from this build script so that `cargo test` on a machine with
//! only rustup and python3 needs no manual step:
//! 1. Bindings: wit-bindgen's C generator (the `wit-bindgen-c` crate, used as a library)
//!    turns the `validator` world of `wit/` into `validator.c`, `validator.h` and
//!    `validator_component_type.o` (the component-type metadata as a wasm object) under
//!    `OUT_DIR`. Nothing generated is checked in.
//! 2. Toolchain: `zig cc` from the PyPI package `ziglang` (pinned, see [`ZIGLANG`]), which
//!    carries clang and wasm-ld. It is installed once with pip into
//!    `<target>/toolchains/ziglang-<version>/` and reused offline afterwards. Setting
//!    `SPORE_ZIG` to a zig binary of the same version skips the installation.
//! 3. Compile and link: freestanding C (no libc, no WASI) for `wasm32-freestanding`; the
//!    module's own `runtime.c` supplies the allocator and the few libc functions the
//!    bindings call. The result is a core module with the component-type custom section,
//!    which the caller componentizes.
//!
//! # Determinism
//! The flags are fixed here and in the module's README; the output carries no paths or
//! debug info, so the same sources and toolchain version give the same bytes.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned `ziglang` PyPI release (zig, clang and wasm-ld in one wheel).
const ZIGLANG: &str = "0.15.2";

/// The world the C module exports.
const WORLD: &str = "validator";

/// Compiler and linker flags: freestanding wasm32 with the same post-MVP features as
/// the Rust modules, no libc, no entry point, the canonical-ABI exports kept by name.
const CFLAGS: &[&str] = &[
    "--target=wasm32-freestanding",
    "-mcpu=mvp+bulk_memory+sign_ext+mutable_globals+nontrapping_fptoint",
    "-std=c11",
    "-O2",
    "-g0",
    "-ffreestanding",
    "-nostdlib",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--no-entry",
    "-Wl,--strip-debug",
    "-Wl,-z,stack-size=1048576",
];

/// Build `modules/median-price-c` into a core wasm module under `out_dir`.
pub fn build(repo_root: &Path, out_dir: &Path) -> Result<Option<PathBuf>, String> {
    let module_dir = repo_root.join("modules").join("median-price-c");
    let sources = c_sources(&module_dir)?;
    for path in &sources.rerun {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed={}", repo_root.join("wit").display());
    println!("cargo:rerun-if-env-changed=SPORE_ZIG");
    println!("cargo:rerun-if-env-changed=SPORE_PYTHON");

    let work = out_dir.join("median-price-c");
    let bindings = work.join("bindings");
    let generated = generate_bindings(&repo_root.join("wit"), &bindings)?;
    let toolchains = toolchains_dir(repo_root, out_dir);
    let zig = zig(&toolchains)?;

    let output = work.join("median_price_c.wasm");
    let mut cmd = Command::new(&zig);
    cmd.arg("cc")
        .args(CFLAGS)
        .arg("-I")
        .arg(module_dir.join("include"))
        .arg("-I")
        .arg(module_dir.join("src"))
        .arg("-I")
        .arg(&bindings)
        .arg("-o")
        .arg(&output)
        .args(&sources.compile)
        .args(&generated)
        // Keep zig's caches under the target directory, never in $HOME.
        .env("ZIG_GLOBAL_CACHE_DIR", toolchains.join("zig-cache"))
        .env("ZIG_LOCAL_CACHE_DIR", toolchains.join("zig-cache"));
    run(&mut cmd, "zig cc (median-price-c)")?;
    Ok(Some(output))
}

/// The module's C files: those to compile, and every file whose change means a rebuild.
struct Sources {
    compile: Vec<PathBuf>,
    rerun: Vec<PathBuf>,
}

fn c_sources(module_dir: &Path) -> Result<Sources, String> {
    let mut sources = Sources {
        compile: Vec::new(),
        rerun: Vec::new(),
    };
    for sub in ["src", "include"] {
        let dir = module_dir.join(sub);
        let entries = fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let mut paths = Vec::new();
        for entry in entries {
            paths.push(
                entry
                    .map_err(|e| format!("reading {}: {e}", dir.display()))?
                    .path(),
            );
        }
        paths.sort();
        for path in paths {
            if path.extension().is_some_and(|ext| ext == "c") {
                sources.compile.push(path.clone());
            }
            sources.rerun.push(path);
        }
        sources.rerun.push(dir);
    }
    if sources.compile.is_empty() {
        return Err(format!(
            "no C sources in {}",
            module_dir.join("src").display()
        ));
    }
    Ok(sources)
}

/// Generate the C bindings of [`WORLD`] into `dir`; return the files to compile and link.
fn generate_bindings(wit_dir: &Path, dir: &Path) -> Result<Vec<PathBuf>, String> {
    use wit_bindgen_core::wit_parser::Resolve;

    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(wit_dir)
        .map_err(|e| format!("parsing {}: {e:#}", wit_dir.display()))?;
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .map_err(|e| format!("selecting world `{WORLD}`: {e:#}"))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| format!("generating C bindings: {e:#}"))?;

    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut link = Vec::new();
    for (name, contents) in files.iter() {
        let path = dir.join(name);
        write_if_changed(&path, contents)?;
        if name.ends_with(".c") || name.ends_with(".o") {
            link.push(path);
        }
    }
    Ok(link)
}

/// Write `contents` unless the file already holds exactly them (keeps mtimes stable).
fn write_if_changed(path: &Path, contents: &[u8]) -> Result<(), String> {
    if fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    fs::write(path, contents).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `<target>/toolchains`: derived from `OUT_DIR` (`<target>/<profile>/build/<pkg>/out`).
fn toolchains_dir(repo_root: &Path, out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map_or_else(|| repo_root.join("target"), Path::to_path_buf)
        .join("toolchains")
}

/// The zig binary: `SPORE_ZIG`, or the pinned `ziglang` wheel, installed on first use.
fn zig(toolchains: &Path) -> Result<PathBuf, String> {
    if let Some(zig) = std::env::var_os("SPORE_ZIG") {
        return Ok(PathBuf::from(zig));
    }
    let exe = if cfg!(windows) { "zig.exe" } else { "zig" };
    let home = toolchains.join(format!("ziglang-{ZIGLANG}"));
    let zig = home.join("ziglang").join(exe);
    if zig.is_file() {
        return Ok(zig);
    }

    // Install into a private directory, then rename it into place: concurrent builds
    // (e.g. the test and bench profiles) never see a half-installed toolchain.
    fs::create_dir_all(toolchains)
        .map_err(|e| format!("creating {}: {e}", toolchains.display()))?;
    let staging = toolchains.join(format!(".ziglang-{ZIGLANG}.{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let python = python()?;
    pip_install(&python, &staging, toolchains)?;
    if fs::rename(&staging, &home).is_err() {
        // Another build won the race; use its copy.
        let _ = fs::remove_dir_all(&staging);
    }
    if zig.is_file() {
        Ok(zig)
    } else {
        Err(format!(
            "the ziglang wheel did not provide {}",
            zig.display()
        ))
    }
}

/// `SPORE_PYTHON`, else the first of `python3` / `python` that runs.
fn python() -> Result<OsString, String> {
    if let Some(python) = std::env::var_os("SPORE_PYTHON") {
        return Ok(python);
    }
    for candidate in ["python3", "python"] {
        let works = Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return Ok(candidate.into());
        }
    }
    Err(
        "building modules/median-price-c needs python3 with pip (to install the pinned \
         `ziglang` wheel once), or SPORE_ZIG pointing to a zig binary"
            .into(),
    )
}

/// `pip install --target <dir> ziglang==<pinned>`, with the machine's pip if it has one,
/// else with the pip of a fresh venv. `--target` leaves the interpreter untouched (and is
/// therefore allowed on "externally managed" system pythons).
fn pip_install(python: &OsString, target: &Path, toolchains: &Path) -> Result<(), String> {
    let has_pip = Command::new(python)
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let pip_python = if has_pip {
        PathBuf::from(python)
    } else {
        let venv = toolchains.join("venv");
        if !venv.join("pyvenv.cfg").is_file() {
            run(
                Command::new(python).args(["-m", "venv"]).arg(&venv),
                "python3 -m venv",
            )?;
        }
        venv.join(if cfg!(windows) {
            "Scripts/python.exe"
        } else {
            "bin/python"
        })
    };
    let mut cmd = Command::new(pip_python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
    ])
    .args(["--no-deps", "--only-binary=:all:", "--target"])
    .arg(target)
    .arg(format!("ziglang=={ZIGLANG}"));
    run(&mut cmd, "pip install ziglang")
}

/// Run `cmd`; on failure return its status and output as the error.
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let output = cmd
        .output()
        .map_err(|e| format!("{what}: cannot start {cmd:?}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
