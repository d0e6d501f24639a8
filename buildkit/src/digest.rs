//! The digest of a module project's sources: SHA-256 over every source file's path
//! (relative, `/`-separated) and contents, in path order. It does not depend on where
//! the project lies, on timestamps or on build outputs.
//!
//! Skipped: directories named `target`, `node_modules`, `__pycache__` or starting with
//! a dot (`.git`, editors' state), and the files whose names the caller lists (e.g. a
//! build's own output). Symbolic links are refused rather than followed: a digest must
//! name what the build reads.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::{Error, Result, io};

/// Directories never part of a project's sources.
pub const SKIPPED_DIRS: &[&str] = &["target", "node_modules", "__pycache__"];

/// The project's source files, relative to `root`, sorted by their `/`-separated form.
pub fn source_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out)?;
    out.sort_by_key(|p| slash_path(p));
    Ok(out)
}

/// The hex SHA-256 digest of the project's sources (see the module docs).
pub fn source_digest(root: &Path) -> Result<String> {
    source_digest_with(root, None)
}

/// The digest of the project's sources, with the files of `wit` (a WIT package outside
/// the project, if it has one there) counted as the project's `wit/` folder: the same
/// digest as a project holding that package itself.
pub fn source_digest_with(root: &Path, wit: Option<&Path>) -> Result<String> {
    let mut files: Vec<(String, PathBuf)> = source_files(root)?
        .into_iter()
        .map(|rel| (slash_path(&rel), root.join(rel)))
        .collect();
    if let Some(wit) = wit {
        for rel in source_files(wit)? {
            files.push((format!("wit/{}", slash_path(&rel)), wit.join(rel)));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (name, path) in files {
        let bytes = fs::read(&path).map_err(io("reading", &path))?;
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Hex SHA-256 of `bytes`.
pub fn bytes_digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Copy the project's source files (those the digest covers) from `from` into `to`.
pub fn copy_sources(from: &Path, to: &Path) -> Result<()> {
    for rel in source_files(from)? {
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        let src = from.join(&rel);
        fs::copy(&src, &dest).map_err(io("copying", &src))?;
    }
    Ok(())
}

fn slash_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(rel);
    for entry in fs::read_dir(&dir).map_err(io("reading", &dir))? {
        let entry = entry.map_err(io("reading", &dir))?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        let child = rel.join(&name);
        let kind = entry.file_type().map_err(io("reading", &entry.path()))?;
        if kind.is_symlink() {
            return Err(Error::Invalid(format!(
                "{} is a symbolic link; a module's sources must be plain files",
                root.join(&child).display()
            )));
        }
        if kind.is_dir() {
            if name_str.starts_with('.') || SKIPPED_DIRS.contains(&name_str.as_ref()) {
                continue;
            }
            walk(root, &child, out)?;
        } else if kind.is_file() {
            out.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(dir: &Path) {
        fs::create_dir_all(dir.join("src")).expect("mkdir");
        fs::create_dir_all(dir.join("target/x")).expect("mkdir");
        fs::create_dir_all(dir.join(".git")).expect("mkdir");
        fs::write(dir.join("src/lib.rs"), "fn main() {}").expect("write");
        fs::write(dir.join("Cargo.toml"), "[package]").expect("write");
        fs::write(dir.join("target/x/out.wasm"), "build output").expect("write");
        fs::write(dir.join(".git/HEAD"), "ref").expect("write");
    }

    #[test]
    fn digest_ignores_location_and_outputs_but_not_sources() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        project(a.path());
        project(b.path());
        fs::write(b.path().join("target/x/out.wasm"), "other output").expect("write");
        let da = source_digest(a.path()).expect("digest");
        assert_eq!(da, source_digest(b.path()).expect("digest"));
        assert_eq!(
            source_files(a.path()).expect("files"),
            vec![PathBuf::from("Cargo.toml"), PathBuf::from("src/lib.rs")]
        );
        // Control: a changed source changes the digest, and so does a renamed one.
        fs::write(b.path().join("src/lib.rs"), "fn main() { }").expect("write");
        assert_ne!(da, source_digest(b.path()).expect("digest"));
        fs::write(b.path().join("src/lib.rs"), "fn main() {}").expect("write");
        fs::rename(b.path().join("src/lib.rs"), b.path().join("src/main.rs")).expect("mv");
        assert_ne!(da, source_digest(b.path()).expect("digest"));
    }

    #[test]
    fn copy_reproduces_the_digest() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        project(a.path());
        copy_sources(a.path(), b.path()).expect("copy");
        assert_eq!(
            source_digest(a.path()).expect("digest"),
            source_digest(b.path()).expect("digest")
        );
        assert!(!b.path().join("target").exists());
    }
}
