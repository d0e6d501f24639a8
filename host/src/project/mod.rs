//! Module projects: what `spore module new`, `build`, `test` and `verify` work on.
//!
//! # Layout
//! - [`manifest`]: `spore-module.toml` (name, role, language) and the languages.
//! - [`templates`]: the starter project of each language and role, written by
//!   `spore module new`.
//! - [`build`]: turning a project into a component, reproducibly, with the build
//!   information appended; running its native tests; rebuilding a copy to verify a hash.
//!
//! A project holds its sources, its own copy of the WIT package (`wit/`) and, for Rust,
//! the guest SDK (`sdk/`), so that it builds anywhere without this repository. Outputs go
//! to `target/` inside the project: the component to `target/spore/<name>.wasm`, and the
//! pinned toolchains (zig, componentizers) to `target/toolchains/`, installed on the
//! first build and used offline afterwards (`SPORE_TOOLCHAINS` names another directory).

pub mod build;
pub mod manifest;
pub mod script;
pub mod templates;

pub use build::{Built, build, build_copy, test, verify};
pub use manifest::{Lang, Manifest};

use std::path::PathBuf;

/// Why a project operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The project's manifest is missing or malformed.
    #[error("{}: {reason}", path.display())]
    Manifest {
        /// The manifest's path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `spore module new` would overwrite something.
    #[error("{} already exists and is not empty; choose a new folder", .0.display())]
    Exists(PathBuf),
    /// The name is not usable as a module (and crate) name.
    #[error(
        "invalid module name `{0}`: use 1 to 64 lowercase ASCII letters, digits and `-`, \
         starting with a letter"
    )]
    Name(String),
    /// A build step failed.
    #[error(transparent)]
    Build(#[from] spore_buildkit::Error),
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The project's tests failed.
    #[error("the tests failed (see their output above)")]
    TestsFailed,
}

pub(crate) fn io<'a>(
    what: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> ProjectError + 'a {
    move |source| ProjectError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}
