//! JavaScript and Python module projects: their starter files, their builds (the pinned
//! componentizers from npm and PyPI, made reproducible) and their native tests.
//!
//! # Reproducibility
//! Both componentizers pre-initialise an interpreter (SpiderMonkey, CPython) inside
//! wasmtime and snapshot its heap, so whatever the host hands the guest while it starts
//! ends up in the bytes. A build therefore runs:
//! - under the deterministic-host shim ([`Toolchains::detshim`]): fixed random bytes,
//!   clocks at `SOURCE_DATE_EPOCH` (0), fixed file times and inode numbers;
//! - in a fixed scratch folder (`/tmp/spore-componentize-js`, `/tmp/spore-componentize-py`:
//!   host paths reach the snapshot and, for Python, the order of the component's
//!   modules), under an exclusive lock so that builds take turns;
//! - on copies of the sources and of the WIT package in that folder, so that neither the
//!   project's location nor files a build leaves behind (Python's `.pyc`) matter.
//!
//! - for Python, with one tokio worker thread (`TOKIO_WORKER_THREADS=1`): componentize-py
//!   drives the pre-initialisation on a tokio runtime with one worker per CPU by default,
//!   and the snapshot's heap depended on that count (measured: 1, 2, 3, 4 and 8 workers
//!   gave five different hashes, each repeatable), so builds on machines with different
//!   core counts or affinities differed;
//! - and the snapshot's dead shadow stack (below the stack pointer) is zeroed
//!   ([`spore_buildkit::deadstack`]): componentize-py's start-up leaves host-dependent
//!   bytes there (11 in every Python build measured) that no later code reads.
//!
//! Measured: JavaScript builds are byte-identical from any location, offline. Python
//! builds no longer depend on the core count, but one heap word (the unused tail of a
//! small block) still differs between some builds of the `module new` validator
//! (docs/MODULES.md), and `spore module verify` says so rather than hide it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use spore_buildkit::buildinfo::BuildInfo;
use spore_buildkit::toolchain::{Toolchains, python};
use spore_buildkit::write_if_changed;

use super::manifest::{Lang, Manifest};
use super::{ProjectError, io};
use crate::modules::Role;

/// The pinned componentize-js release (npm).
pub const COMPONENTIZE_JS: &str = "0.23.0";
/// The preview2-shim release componentize-js's splicer imports (a dev dependency there,
/// so pinned here).
pub const PREVIEW2_SHIM: &str = "0.25.0";
/// The pinned componentize-py release (PyPI).
pub const COMPONENTIZE_PY: &str = "0.25.1";

const JS_SCRATCH: &str = "/tmp/spore-componentize-js";
const PY_STAGE: &str = "/tmp/spore-componentize-py";
const COMPONENTIZE_MJS: &str = include_str!("componentize.mjs");

const JS: [(&str, &str); 3] = [
    (
        include_str!("../../templates/js/validator.js"),
        include_str!("../../templates/js/validator.test.mjs"),
    ),
    (
        include_str!("../../templates/js/admission.js"),
        include_str!("../../templates/js/admission.test.mjs"),
    ),
    (
        include_str!("../../templates/js/resolver.js"),
        include_str!("../../templates/js/resolver.test.mjs"),
    ),
];

const PY: [(&str, &str, &str); 3] = [
    (
        include_str!("../../templates/python/validator_app.py"),
        include_str!("../../templates/python/validator_logic.py"),
        include_str!("../../templates/python/validator_test.py"),
    ),
    (
        include_str!("../../templates/python/admission_app.py"),
        include_str!("../../templates/python/admission_logic.py"),
        include_str!("../../templates/python/admission_test.py"),
    ),
    (
        include_str!("../../templates/python/resolver_app.py"),
        include_str!("../../templates/python/resolver_logic.py"),
        include_str!("../../templates/python/resolver_test.py"),
    ),
];

fn role_index(role: Role) -> usize {
    match role {
        Role::Validator => 0,
        Role::Admission => 1,
        Role::Resolver => 2,
    }
}

/// The language's starter files for `role`, as `(relative path, contents)` with
/// `{{name}}` unfilled (the caller fills every placeholder).
pub fn templates(role: Role, lang: Lang) -> Vec<(String, String)> {
    let i = role_index(role);
    match lang {
        Lang::Js => vec![
            ("src/module.js".into(), JS[i].0.into()),
            ("tests/module.test.mjs".into(), JS[i].1.into()),
        ],
        Lang::Python => vec![
            ("src/app.py".into(), PY[i].0.into()),
            ("src/logic.py".into(), PY[i].1.into()),
            ("tests/test_logic.py".into(), PY[i].2.into()),
        ],
        Lang::Rust | Lang::C => Vec::new(),
    }
}

/// An exclusive lock on `<scratch>.lock`, held while a build uses the scratch folder.
fn lock(scratch: &str) -> Result<fs::File, ProjectError> {
    let path = PathBuf::from(format!("{scratch}.lock"));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("opening", &path))?;
    file.lock().map_err(io("locking", &path))?;
    Ok(file)
}

/// Build a JavaScript or Python project into a component (bytes).
pub fn component(
    dir: &Path,
    manifest: &Manifest,
    wit: &Path,
    toolchains: &Toolchains,
    info: &mut BuildInfo,
) -> Result<Vec<u8>, ProjectError> {
    let name = &manifest.module.name;
    let world = manifest.module.role.world();
    let out_dir = dir.join("target").join(manifest.module.lang.name());
    fs::create_dir_all(&out_dir).map_err(io("creating", &out_dir))?;
    let out = out_dir.join(format!("{name}.component.wasm"));
    let shim = toolchains.detshim()?;
    match manifest.module.lang {
        Lang::Js => {
            let home = toolchains.npm_packages(
                &format!("componentize-js-{COMPONENTIZE_JS}"),
                &[
                    &format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"),
                    &format!("@bytecodealliance/preview2-shim@{PREVIEW2_SHIM}"),
                ],
            )?;
            let script = home.join("spore-componentize.mjs");
            write_if_changed(&script, COMPONENTIZE_MJS.as_bytes())?;
            let node = toolchains.node()?;
            let _lock = lock(JS_SCRATCH)?;
            let mut cmd = Command::new(&node);
            cmd.current_dir(&home)
                .arg(&script)
                .arg(dir.join("src").join("module.js"))
                .arg(wit)
                .arg(world)
                .arg(&out)
                .env("SOURCE_DATE_EPOCH", "0")
                .env("SPORE_DETSHIM", &shim)
                .env("SPORE_JS_SCRATCH", JS_SCRATCH);
            spore_buildkit::run(&mut cmd, "componentize-js")?;
            info.set("node", version(&node, &["--version"])?)
                .set("componentize-js", COMPONENTIZE_JS)
                .set("preview2-shim", PREVIEW2_SHIM)
                .set("wizer", package_version(&home, "@bytecodealliance/wizer"));
        }
        Lang::Python => {
            let home = toolchains.pip_package("componentize-py", COMPONENTIZE_PY, false)?;
            let _lock = lock(PY_STAGE)?;
            let stage = Path::new(PY_STAGE);
            let _ = fs::remove_dir_all(stage);
            let app = stage.join("app");
            let venv = stage.join("venv");
            for d in [
                &app,
                &venv.join("lib").join("site-packages"),
                &stage.join("tmp"),
            ] {
                fs::create_dir_all(d).map_err(io("creating", d))?;
            }
            // Only the .py sources: a .pyc left by an earlier build would change the heap.
            for rel in spore_buildkit::digest::source_files(&dir.join("src"))? {
                if rel.extension().is_some_and(|e| e == "py") {
                    let dest = app.join(&rel);
                    if let Some(parent) = dest.parent() {
                        fs::create_dir_all(parent).map_err(io("creating", parent))?;
                    }
                    let src = dir.join("src").join(&rel);
                    fs::copy(&src, &dest).map_err(io("copying", &src))?;
                }
            }
            let stage_wit = stage.join("wit");
            spore_buildkit::digest::copy_sources(wit, &stage_wit)?;
            // The interpreter itself, not a launcher script (pyenv's would drop the shim).
            let python = real_python()?;
            let mut cmd = Command::new(&python);
            cmd.current_dir(&app)
                .arg("-c")
                .arg(
                    "import sys; from componentize_py import script; \
                     sys.argv[0] = 'componentize-py'; sys.exit(script())",
                )
                .args(["-q", "-d"])
                .arg(&stage_wit)
                .args([
                    "-w",
                    world,
                    "componentize",
                    "--stub-wasi",
                    "app",
                    "-p",
                    ".",
                    "-o",
                ])
                .arg(&out)
                .env_remove("PYTHONHASHSEED")
                .env("VIRTUAL_ENV", &venv)
                .env("TMPDIR", stage.join("tmp"))
                .env("PYTHONPATH", &home)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("SOURCE_DATE_EPOCH", "0")
                // The snapshot depends on the runtime's worker count (module doc).
                .env("TOKIO_WORKER_THREADS", "1")
                .env("LD_PRELOAD", &shim);
            let result = spore_buildkit::run(&mut cmd, "componentize-py");
            let _ = fs::remove_dir_all(stage);
            result?;
            info.set("componentize-py", COMPONENTIZE_PY)
                .set("python", version(&python, &["--version"])?);
        }
        Lang::Rust | Lang::C => {
            return Err(spore_buildkit::Error::Invalid(format!(
                "{name} is not a JavaScript or Python project"
            ))
            .into());
        }
    }
    let mut bytes = fs::read(&out).map_err(|e| io("reading", &out)(e))?;
    // What start-up left below the stack pointer varies between builds and is dead.
    spore_buildkit::deadstack::zero_dead_stack(&mut bytes)?;
    Ok(bytes)
}

/// Run the native tests; whether they passed.
pub fn test(
    dir: &Path,
    manifest: &Manifest,
    toolchains: &Toolchains,
) -> Result<bool, ProjectError> {
    let tests = dir.join("tests");
    let mut cmd = match manifest.module.lang {
        Lang::Js => {
            let mut files: Vec<PathBuf> = spore_buildkit::digest::source_files(&tests)?
                .into_iter()
                .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
                .map(|p| Path::new("tests").join(p))
                .collect();
            files.sort();
            let mut cmd = Command::new(toolchains.node()?);
            cmd.arg("--test").args(files);
            cmd
        }
        Lang::Python => {
            let mut cmd = Command::new(python()?);
            cmd.args(["-m", "unittest", "discover", "-s", "tests", "-v"])
                .env("PYTHONDONTWRITEBYTECODE", "1");
            cmd
        }
        Lang::Rust | Lang::C => return Ok(false),
    };
    let status = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| spore_buildkit::Error::Tool {
            step: "the tests".into(),
            detail: format!("cannot start {:?}: {e}", cmd.get_program()),
        })?;
    Ok(status.success())
}

fn version(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Result<String, ProjectError> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    Ok(spore_buildkit::toolchain::first_line(&mut cmd)?)
}

/// The version an installed npm package declares, or `unknown`.
fn package_version(home: &Path, package: &str) -> String {
    let path = home.join("node_modules").join(package).join("package.json");
    fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// The python interpreter's own path (`sys.executable`), not a launcher in front of it.
fn real_python() -> Result<PathBuf, ProjectError> {
    let mut cmd = Command::new(python()?);
    cmd.args(["-c", "import sys; print(sys.executable)"]);
    let out = spore_buildkit::run(&mut cmd, "locating the python interpreter")?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}
