//! Building a module project into a component, running its native tests, and verifying a
//! hash by rebuilding a clean copy.
//!
//! # Reproducibility
//! A build's bytes depend only on the project's sources and the pinned toolchains, never
//! on where the project lies or when it is built:
//! - Rust: the project pins its toolchain (`rust-toolchain.toml`) and its dependencies
//!   (`Cargo.lock`, written by the first build and honoured with `--locked` after);
//!   paths are remapped (`--remap-path-prefix`: the project to `/module`, the cargo home
//!   to `/cargo`) and debug info is off, so no path reaches the output; variables of an
//!   outer cargo are removed.
//! - C: zig from the pinned `ziglang` wheel, fixed flags ([`spore_buildkit::c::CFLAGS`]),
//!   run inside the project with relative paths, no debug info.
//! - JavaScript and Python: the componentizers at pinned versions (see
//!   [`script_templates`] and the functions below).
//!
//! The component then gets a `spore-build` section ([`spore_buildkit::buildinfo`]):
//! name, role, language, the digest of the sources, the toolchain versions and the
//! version of this `spore`. [`verify`] copies the sources (nothing else) to a temporary
//! directory, builds them there and compares the hash.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use spore_buildkit::buildinfo::BuildInfo;
use spore_buildkit::toolchain::{Toolchains, clean_cargo};
use spore_buildkit::{c, component, digest};
use spore_core::crypto::sha256;

use super::manifest::{Lang, Manifest};
use super::{ProjectError, io};
use crate::modules::Role;

/// The wasm target Rust modules are built for.
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    /// The project's manifest.
    pub manifest: Manifest,
    /// Where the component was written (`<project>/target/spore/<name>.wasm`).
    pub path: PathBuf,
    /// The component's bytes, build information included.
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`: the module's address in a cluster.
    pub hash: String,
    /// The recorded build information.
    pub info: BuildInfo,
}

/// The toolchain directory of a project: `SPORE_TOOLCHAINS`, else `<dir>/target/toolchains`.
pub fn toolchains_for(dir: &Path) -> Toolchains {
    match std::env::var_os("SPORE_TOOLCHAINS") {
        Some(shared) => Toolchains::new(PathBuf::from(shared)),
        None => Toolchains::new(dir.join("target").join("toolchains")),
    }
}

/// Build the project in `dir` into `target/spore/<name>.wasm`.
pub fn build(dir: &Path) -> Result<Built, ProjectError> {
    build_with(dir, &toolchains_for(dir))
}

fn build_with(dir: &Path, toolchains: &Toolchains) -> Result<Built, ProjectError> {
    let manifest = Manifest::load(dir)?;
    // Tools run in other folders: hand them absolute paths.
    let dir = &fs::canonicalize(dir).map_err(io("resolving", dir))?;
    let name = manifest.module.name.clone();
    let role = manifest.module.role;
    let wit = manifest.wit_dir(dir);
    let mut info = BuildInfo::new();
    info.set("name", &name)
        .set("role", role.world())
        .set("lang", manifest.module.lang.name())
        .set("spore", env!("CARGO_PKG_VERSION"));
    let component = match manifest.module.lang {
        Lang::Rust => {
            let core = rust_core(dir, &name, &mut info)?;
            component::componentize(&core, &name)?
        }
        Lang::C => {
            let core = c_core(dir, &wit, &name, role, toolchains, &mut info)?;
            component::componentize(&core, &name)?
        }
        Lang::Js | Lang::Python => {
            super::script::component(dir, &manifest, &wit, toolchains, &mut info)?
        }
    };
    // After the build: a first Rust build writes Cargo.lock, which is a source.
    info.set(
        "source-digest",
        digest::source_digest_with(dir, manifest.external_wit(dir).as_deref())?,
    );
    let bytes = info.append_to(&component);
    let out_dir = dir.join("target").join("spore");
    fs::create_dir_all(&out_dir).map_err(io("creating", &out_dir))?;
    let path = out_dir.join(format!("{name}.wasm"));
    fs::write(&path, &bytes).map_err(io("writing", &path))?;
    Ok(Built {
        manifest,
        path,
        hash: sha256(&bytes).to_hex(),
        bytes,
        info,
    })
}

/// Rebuild a clean copy of the project's sources (in a temporary directory, with the
/// project's toolchains) and return the build; the caller compares its hash.
pub fn verify(dir: &Path) -> Result<Built, ProjectError> {
    let scratch = tempfile::Builder::new()
        .prefix("spore-verify-")
        .tempdir()
        .map_err(io(
            "creating a temporary directory in",
            &std::env::temp_dir(),
        ))?;
    build_copy(dir, scratch.path(), &toolchains_for(dir))
}

/// Copy the project's sources into a fresh folder under `scratch` and build them there:
/// the build of what the sources alone determine. A WIT package outside the project
/// (`wit = "../../wit"` in the manifest) is copied to the same relative place.
pub fn build_copy(
    dir: &Path,
    scratch: &Path,
    toolchains: &Toolchains,
) -> Result<Built, ProjectError> {
    let manifest = Manifest::load(dir)?;
    let mut copy = scratch.to_path_buf();
    if let Some(wit) = &manifest.module.wit {
        // One folder level per leading `..`, so that the relative path still resolves.
        let ups = Path::new(wit)
            .components()
            .take_while(|c| matches!(c, std::path::Component::ParentDir))
            .count();
        for level in 0..ups {
            copy.push(format!("d{level}"));
        }
    }
    copy.push(&manifest.module.name);
    digest::copy_sources(dir, &copy)?;
    if let Some(external) = manifest.external_wit(dir) {
        digest::copy_sources(&external, &manifest.wit_dir(&copy))?;
    }
    build_with(&copy, toolchains)
}

/// Run the project's native tests, their output going to this process's.
pub fn test(dir: &Path) -> Result<(), ProjectError> {
    let manifest = Manifest::load(dir)?;
    let toolchains = toolchains_for(dir);
    let status = match manifest.module.lang {
        Lang::Rust => {
            ensure_rust(dir)?;
            let mut cmd = rust_cargo(dir);
            cmd.arg("test").arg("--target-dir").arg("target/cargo");
            status_of(&mut cmd, "cargo test")?
        }
        Lang::C => {
            let zig = toolchains.zig()?;
            let out = dir.join("target").join("c");
            fs::create_dir_all(&out).map_err(io("creating", &out))?;
            let mut compile = Command::new(&zig);
            compile
                .current_dir(dir)
                .args(["cc", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-o"])
                .arg("target/c/test")
                .arg("tests/test.c")
                .env("ZIG_GLOBAL_CACHE_DIR", toolchains.cache("zig"))
                .env("ZIG_LOCAL_CACHE_DIR", toolchains.cache("zig"));
            if !status_of(&mut compile, "zig cc (tests)")? {
                return Err(ProjectError::TestsFailed);
            }
            status_of(
                Command::new(out.join("test")).current_dir(dir),
                "the C tests",
            )?
        }
        Lang::Js | Lang::Python => super::script::test(dir, &manifest, &toolchains)?,
    };
    if status {
        Ok(())
    } else {
        Err(ProjectError::TestsFailed)
    }
}

/// Run `cmd` with inherited output; whether it succeeded.
fn status_of(cmd: &mut Command, step: &str) -> Result<bool, ProjectError> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| spore_buildkit::Error::Tool {
            step: step.to_owned(),
            detail: format!("cannot start {:?}: {e}", cmd.get_program()),
        })?;
    Ok(status.success())
}

/// `cargo` in the project, for its own toolchain file: the outer build's variables and
/// any `RUSTUP_TOOLCHAIN` override removed.
fn rust_cargo(dir: &Path) -> Command {
    let mut cmd = clean_cargo("cargo");
    cmd.current_dir(dir).env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

/// Make sure the project's pinned toolchain and the wasm target are installed (rustup
/// installs neither on its own when `RUSTUP_AUTO_INSTALL=0`).
fn ensure_rust(dir: &Path) -> Result<(), ProjectError> {
    let channel = super::templates::rust_channel_of(dir);
    let sysroot = Command::new("rustc")
        .current_dir(dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .args(["--print", "sysroot"])
        .output();
    let installed = match &sysroot {
        Ok(out) if out.status.success() => Some(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )),
        _ => None,
    };
    let has_target = installed.as_ref().is_some_and(|root| {
        root.join("lib/rustlib")
            .join(WASM_TARGET)
            .join("lib")
            .is_dir()
    });
    if has_target {
        return Ok(());
    }
    let mut cmd = Command::new("rustup");
    cmd.current_dir(dir);
    match (&installed, &channel) {
        (None, Some(channel)) => {
            cmd.args([
                "toolchain",
                "install",
                channel,
                "--profile",
                "minimal",
                "--target",
            ])
            .arg(WASM_TARGET);
        }
        (_, Some(channel)) => {
            cmd.args(["target", "add", WASM_TARGET, "--toolchain", channel]);
        }
        (_, None) => {
            cmd.args(["target", "add", WASM_TARGET]);
        }
    }
    spore_buildkit::run(
        &mut cmd,
        "installing the Rust toolchain and wasm target with rustup",
    )?;
    Ok(())
}

/// `cargo build` the Rust project for wasm; the core module's bytes.
fn rust_core(dir: &Path, name: &str, info: &mut BuildInfo) -> Result<Vec<u8>, ProjectError> {
    ensure_rust(dir)?;
    let root = fs::canonicalize(dir).map_err(io("resolving", dir))?;
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut flags: Vec<OsString> = Vec::new();
    let mut remap = |from: &Path, to: &str| {
        let mut flag = OsString::from("--remap-path-prefix=");
        flag.push(from.as_os_str());
        flag.push("=");
        flag.push(to);
        flags.push(flag);
    };
    if let Some(home) = &cargo_home {
        let home = fs::canonicalize(home).unwrap_or_else(|_| home.clone());
        remap(&home, "/cargo");
    }
    remap(&root, "/module");
    let encoded = flags.join(&OsString::from("\u{1f}"));

    let mut cmd = rust_cargo(dir);
    cmd.args(["build", "--release", "--target", WASM_TARGET])
        .args(["--target-dir", "target/cargo"])
        .arg("--message-format=json-render-diagnostics")
        .env("CARGO_ENCODED_RUSTFLAGS", encoded)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if dir.join("Cargo.lock").is_file() {
        cmd.arg("--locked");
    }
    let output = cmd.output().map_err(|e| spore_buildkit::Error::Tool {
        step: "cargo build".into(),
        detail: format!("cannot start cargo: {e}"),
    })?;
    if !output.status.success() {
        return Err(spore_buildkit::Error::Tool {
            step: format!("cargo build --target {WASM_TARGET}"),
            detail: format!("{} (the compiler's messages are above)", output.status),
        }
        .into());
    }
    let wasm = output
        .stdout
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|msg| {
            msg["reason"] == "compiler-artifact" && msg["target"]["name"] == name.replace('-', "_")
        })
        .flat_map(|msg| {
            msg["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(PathBuf::from))
                .collect::<Vec<_>>()
        })
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
        .ok_or_else(|| {
            spore_buildkit::Error::Invalid(format!(
                "cargo reported no .wasm artifact for `{name}` (is its crate-type cdylib?)"
            ))
        })?;
    info.set("rustc", version_line_in(dir, "rustc")?)
        .set("cargo", version_line_in(dir, "cargo")?)
        .set("wit-bindgen", super::templates::WIT_BINDGEN);
    fs::read(&wasm).map_err(|e| io("reading", &wasm)(e))
}

/// `<tool> -V` inside the project (its pinned toolchain).
fn version_line_in(dir: &Path, tool: &str) -> Result<String, ProjectError> {
    let mut cmd = Command::new(tool);
    cmd.current_dir(dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .arg("-V");
    Ok(spore_buildkit::toolchain::first_line(&mut cmd)?)
}

/// Compile the C project; the core module's bytes.
fn c_core(
    dir: &Path,
    wit: &Path,
    name: &str,
    role: Role,
    toolchains: &Toolchains,
    info: &mut BuildInfo,
) -> Result<Vec<u8>, ProjectError> {
    let world = role.world();
    let work = Path::new("target").join("c");
    let bindings = work.join("bindings");
    let generated = c::bindings(wit, world, &dir.join(&bindings))?;
    let zig = toolchains.zig()?;
    let mut sources: Vec<PathBuf> = c::sources(&dir.join("src"))?
        .into_iter()
        .filter_map(|p| p.file_name().map(|f| Path::new("src").join(f)))
        .collect();
    sources.extend(
        generated
            .iter()
            .filter_map(|p| p.file_name().map(|f| bindings.join(f))),
    );
    let output = work.join(format!("{name}.core.wasm"));
    c::compile(
        &zig,
        dir,
        &[PathBuf::from("include"), PathBuf::from("src"), bindings],
        &sources,
        &output,
        &toolchains.cache("zig"),
    )?;
    info.set("zig", c::zig_version(&zig)?)
        .set("wit-bindgen-c", super::templates::WIT_BINDGEN);
    let path = dir.join(output);
    fs::read(&path).map_err(|e| io("reading", &path)(e))
}
