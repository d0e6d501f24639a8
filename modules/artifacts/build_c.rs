//! Builds the C twin of the median-price module (owned by the C-module work; see issue 2).
//!
//! Returns the path of a core wasm module with its component-type metadata embedded, or
//! `None` while the C toolchain is not wired in yet.

use std::path::{Path, PathBuf};

/// Build `modules/median-price-c` into a core wasm module under `out_dir`.
pub fn build(_repo_root: &Path, _out_dir: &Path) -> Result<Option<PathBuf>, String> {
    Ok(None)
}
