//! `spore-module.toml`: a project's name, role and language.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ProjectError;
use crate::modules::Role;

/// The file name of a project's manifest.
pub const FILE: &str = "spore-module.toml";

/// A module's source language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Rust with the guest SDK, built by cargo for `wasm32-unknown-unknown`.
    Rust,
    /// Freestanding C, built by zig (from PyPI) with wit-bindgen's C bindings.
    C,
    /// JavaScript, built by componentize-js (from npm).
    Js,
    /// Python, built by componentize-py (from PyPI).
    Python,
}

impl Lang {
    /// The name used in the manifest and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Js => "js",
            Lang::Python => "python",
        }
    }
}

/// The `[module]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// The module's name (lowercase letters, digits, `-`).
    pub name: String,
    /// The world it exports.
    pub role: Role,
    /// Its source language.
    pub lang: Lang,
    /// Where the WIT package is, relative to the project (default `wit`, the copy
    /// `spore module new` writes). A project inside this repository names the
    /// repository's own (`../../wit`); Rust projects keep theirs in `wit/` (the SDK
    /// reads it from there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wit: Option<String>,
}

/// A project's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The module.
    pub module: Module,
}

impl Manifest {
    /// Read `<dir>/spore-module.toml`.
    pub fn load(dir: &Path) -> Result<Self, ProjectError> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ProjectError::Manifest {
            path: path.clone(),
            reason: format!(
                "cannot read it ({e}); a module project has one (create a project with \
                 `spore module new NAME --role ROLE --lang LANG`)"
            ),
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| ProjectError::Manifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        check_name(&manifest.module.name)?;
        if let Some(wit) = &manifest.module.wit {
            let relative = Path::new(wit)
                .components()
                .all(|c| matches!(c, Component::ParentDir | Component::Normal(_)));
            if !relative || manifest.module.lang == Lang::Rust {
                return Err(ProjectError::Manifest {
                    path,
                    reason: format!(
                        "wit = \"{wit}\": the WIT package must be a relative path (a build \
                         must not depend on where the project lies), and a Rust project \
                         keeps it in wit/"
                    ),
                });
            }
        }
        Ok(manifest)
    }

    /// The WIT package folder of the project in `dir`.
    pub fn wit_dir(&self, dir: &Path) -> PathBuf {
        dir.join(self.module.wit.as_deref().unwrap_or("wit"))
    }

    /// The WIT package folder if it lies outside the project (counted in the source
    /// digest as the project's `wit/`).
    pub fn external_wit(&self, dir: &Path) -> Option<PathBuf> {
        self.module
            .wit
            .as_deref()
            .filter(|w| w.starts_with(".."))
            .map(|w| dir.join(w))
    }
}

/// A module name: 1 to 64 of `[a-z0-9-]`, starting with a letter (a valid crate, file
/// and C identifier stem).
pub fn check_name(name: &str) -> Result<(), ProjectError> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ProjectError::Name(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "my-validator", "sum2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "2x",
            "-a",
            "a-",
            "A",
            "a_b",
            "a/b",
            "../x",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifest_errors_are_clear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Manifest::load(dir.path()).expect_err("missing");
        assert!(err.to_string().contains("spore module new"), "{err}");
        std::fs::write(
            dir.path().join(FILE),
            "[module]\nname = \"x\"\nrole = \"validator\"\nlang = \"cobol\"\n",
        )
        .expect("write");
        let err = Manifest::load(dir.path()).expect_err("bad lang");
        assert!(err.to_string().contains("cobol"), "{err}");
        std::fs::write(
            dir.path().join(FILE),
            "[module]\nname = \"x\"\nrole = \"resolver\"\nlang = \"c\"\n",
        )
        .expect("write");
        let m = Manifest::load(dir.path()).expect("valid");
        assert_eq!((m.module.role, m.module.lang), (Role::Resolver, Lang::C));
    }
}
