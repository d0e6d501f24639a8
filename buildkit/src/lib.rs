//! Building Spore modules from source, shared by the `spore-artifacts` build script (the
//! modules of this repository) and `spore module build` (a module author's project).
//!
//! # Layout
//! - [`toolchain`]: pinned toolchains from package registries (zig from PyPI, and the
//!   JavaScript and Python componentizers), installed once into a directory and reused
//!   offline; the nested `cargo` command with the outer build's variables removed.
//! - [`c`]: C bindings of a world (wit-bindgen's C generator) and the freestanding
//!   `zig cc` invocation.
//! - [`component`]: a core module into a component (`wit-component`).
//! - [`buildinfo`]: the `spore-build` custom section (source digest, toolchain
//!   versions) that a reproducible build appends, and reading it back.
//! - [`digest`]: the digest of a project's source files, independent of where the
//!   project lies.
//!
//! Errors are [`Error`]: which step failed and the tool's own output.

pub mod buildinfo;
pub mod c;
pub mod component;
pub mod deadstack;
pub mod digest;
pub mod toolchain;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a build step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `writing`, ...).
        what: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A tool could not be started or exited with failure; `detail` holds its output.
    #[error("{step} failed: {detail}")]
    Tool {
        /// The step, e.g. `zig cc`.
        step: String,
        /// The status and output of the tool, or why it could not be started.
        detail: String,
    },
    /// The input is not what the step needs (a malformed world, a module that cannot be
    /// componentized, ...).
    #[error("{0}")]
    Invalid(String),
}

/// Result of a build step.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Run `cmd`; on failure return its status and output as the error.
pub fn run(cmd: &mut Command, step: &str) -> Result<std::process::Output> {
    let output = cmd.output().map_err(|e| Error::Tool {
        step: step.to_owned(),
        detail: format!("cannot start {:?}: {e}", cmd.get_program()),
    })?;
    if output.status.success() {
        return Ok(output);
    }
    Err(Error::Tool {
        step: step.to_owned(),
        detail: format!(
            "{}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

/// Write `contents` unless the file already holds exactly them (keeps mtimes stable, so
/// build systems watching the file do not rebuild for nothing).
pub fn write_if_changed(path: &Path, contents: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents).map_err(io("writing", path))
}
