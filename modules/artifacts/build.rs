//! Builds every Spore module crate for `wasm32-unknown-unknown` and turns each core
//! module into a component in `OUT_DIR`.
//!
//! # Design
//! After wasmtime's `crates/test-programs/artifacts/build.rs`: a nested `cargo build`
//! with its own target dir (`<workspace>/target/wasm-modules`, so it never waits on the
//! outer build's lock), with every `CARGO_*` / `RUSTFLAGS` variable the outer cargo
//! leaks removed and the release profile set through `CARGO_PROFILE_RELEASE_*`
//! variables (size-optimised, LTO, one codegen unit, `panic = "abort"`), leaving the
//! workspace's own profiles alone. Artifact paths come from cargo's JSON messages.
//!
//! Three nested invocations, each with its own target dir under `target/wasm-modules/`:
//! `default-validator` alone, `hostile-aliased-reasons` alone (it brings its own
//! `#[global_allocator]`, so it needs the SDK without its `arena` feature, which the
//! others turn on), and every other module. The default validator links the
//! median-price and sponsored-admission logic with their `export` feature off; cargo
//! unifies features within one invocation, so building it together with them would
//! strip their exports, and building both variants in one target dir makes their
//! `cdylib` outputs (whose names carry no hash) overwrite each other, so every build
//! would recompile them. Separate dirs cost one extra compile of the SDK and
//! wit-bindgen on a clean build and nothing afterwards.
//!
//! If the `wasm32-unknown-unknown` target is missing from the toolchain, it is installed
//! with `rustup target add` first, so `cargo test` works on a machine with only rustup.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "build_c.rs"]
mod build_c;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Module crates (directory under `modules/` = package name), in build groups: the
/// subdirectory of `target/wasm-modules` each group builds in, and its packages.
const GROUPS: &[(&str, &[&str])] = &[
    ("default-validator", &["default-validator"]),
    // Brings its own allocator: the SDK's arena feature, which the other modules turn
    // on, would clash with it in one invocation.
    ("own-allocator", &["hostile-aliased-reasons"]),
    (
        "modules",
        &[
            "sponsored-admission",
            "hierarchy-resolver",
            "strict-resolver",
            "median-price",
            "hostile-loop",
            "hostile-memory-bomb",
            "hostile-recursion",
            "hostile-trap",
            "hostile-oversized",
            "hostile-wrong-world",
            "hostile-foreign-imports",
            "hostile-host-abuse",
        ],
    ),
];

type BoxError = Box<dyn std::error::Error>;

fn main() {
    if let Err(e) = run() {
        // A build script reports failure by exiting non-zero; cargo shows stderr.
        eprintln!("error: building the Spore modules failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .ok_or("modules/artifacts has no workspace root above it")?
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    rerun_if_changed(&root);
    ensure_wasm_target(&root)?;

    let target_root = root.join("target").join("wasm-modules");
    for (subdir, group) in GROUPS {
        let core_modules = cargo_build(&root, &target_root.join(subdir), group)?;
        for name in group.iter() {
            let path = core_modules
                .get(*name)
                .ok_or_else(|| format!("cargo reported no .wasm artifact for `{name}`"))?;
            componentize(path, &out_dir.join(format!("{name}.wasm")), name)?;
        }
    }

    let c_twin = build_c::build(&root, &out_dir)
        .map_err(|e| format!("building the C twin (modules/median-price-c): {e}"))?;
    let c_twin_rs = match c_twin {
        Some(core) => {
            componentize(
                &core,
                &out_dir.join("median-price-c.wasm"),
                "median-price-c",
            )?;
            "Some(artifact!(\"median-price-c\", Role::Validator))"
        }
        None => "None",
    };
    fs::write(
        out_dir.join("c_twin.rs"),
        format!(
            "/// The C twin of [`MEDIAN_PRICE`], if its toolchain is wired into the build.\n\
             pub fn median_price_c() -> Option<Artifact> {{\n    {c_twin_rs}\n}}\n"
        ),
    )?;
    Ok(())
}

/// Precise rerun triggers: the WIT package, the SDK and every module's sources.
fn rerun_if_changed(root: &Path) {
    let mut paths = vec![
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        root.join("rust-toolchain.toml"),
        root.join("wit"),
        root.join("guest-sdk").join("Cargo.toml"),
        root.join("guest-sdk").join("src"),
        root.join("modules").join("median-price-c"),
    ];
    for name in GROUPS.iter().flat_map(|(_, g)| g.iter()) {
        let dir = root.join("modules").join(name);
        paths.push(dir.join("Cargo.toml"));
        paths.push(dir.join("src"));
        paths.push(dir.join("wit"));
    }
    for path in paths {
        // A missing path would make cargo rerun this script on every build.
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// The `rustc` of the toolchain cargo is building with.
fn rustc() -> PathBuf {
    env::var_os("RUSTC").map_or_else(|| PathBuf::from("rustc"), PathBuf::from)
}

/// Install the wasm target with rustup if the toolchain lacks it.
fn ensure_wasm_target(root: &Path) -> Result<(), BoxError> {
    let output = Command::new(rustc())
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("running `rustc --print sysroot`: {e}"))?;
    if !output.status.success() {
        return Err("`rustc --print sysroot` failed".into());
    }
    let sysroot = PathBuf::from(String::from_utf8(output.stdout)?.trim());
    let target_lib = sysroot
        .join("lib")
        .join("rustlib")
        .join(WASM_TARGET)
        .join("lib");
    if target_lib.is_dir() {
        return Ok(());
    }
    println!("cargo:warning=installing the {WASM_TARGET} target with rustup");
    let mut cmd = Command::new("rustup");
    cmd.current_dir(root).args(["target", "add", WASM_TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    let status = cmd.status().map_err(|e| {
        format!(
            "the {WASM_TARGET} target is not installed and `rustup` could not be run ({e}); \
             install it with `rustup target add {WASM_TARGET}`"
        )
    })?;
    if !status.success() || !target_lib.is_dir() {
        return Err(format!("`rustup target add {WASM_TARGET}` failed").into());
    }
    Ok(())
}

/// Run one nested `cargo build` for `packages`; returns package name -> core `.wasm`.
fn cargo_build(
    root: &Path,
    target_dir: &Path,
    packages: &[&str],
) -> Result<BTreeMap<String, PathBuf>, BoxError> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = spore_buildkit::toolchain::clean_cargo(cargo);
    cmd.current_dir(root)
        .arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target")
        .arg(WASM_TARGET)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--message-format=json-render-diagnostics")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS", "false")
        .env("CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS", "false")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for package in packages {
        cmd.arg("-p").arg(package);
    }
    let output = cmd
        .output()
        .map_err(|e| format!("running the nested cargo build: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "nested `cargo build --target {WASM_TARGET}` of {packages:?} failed ({})",
            output.status
        )
        .into());
    }

    let mut artifacts = BTreeMap::new();
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(manifest) = msg["manifest_path"].as_str() else {
            continue;
        };
        let Some(package) = Path::new(manifest)
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
        else {
            continue;
        };
        if !packages.contains(&package) {
            continue;
        }
        let wasm = msg["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".wasm"));
        if let Some(wasm) = wasm {
            artifacts.insert(package.to_owned(), PathBuf::from(wasm));
        }
    }
    Ok(artifacts)
}

/// Turn the core module at `core` into a component at `dest`.
fn componentize(core: &Path, dest: &Path, name: &str) -> Result<(), BoxError> {
    let bytes = fs::read(core).map_err(|e| format!("reading {}: {e}", core.display()))?;
    let component = spore_buildkit::component::componentize(&bytes, name)?;
    // Leave an unchanged file untouched, so dependants are not rebuilt for nothing.
    spore_buildkit::write_if_changed(dest, &component)?;
    Ok(())
}
