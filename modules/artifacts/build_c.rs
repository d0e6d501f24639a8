//! Builds the C twin of the median-price module (`modules/median-price-c`) from source.
//!
//! # Design
//! Three steps, all driven from this build script so that `cargo test` on a machine with
//! only rustup and python3 needs no manual step; each step is `spore-buildkit`'s, the
//! same code `spore module build` runs for a C module project:
//! 1. Bindings: wit-bindgen's C generator turns the `validator` world of `wit/` into
//!    `validator.c`, `validator.h` and `validator_component_type.o` under `OUT_DIR`.
//!    Nothing generated is checked in.
//! 2. Toolchain: `zig cc` from the pinned PyPI package `ziglang`, installed once into
//!    `<target>/toolchains/ziglang-<version>/` and reused offline afterwards. Setting
//!    `SPORE_ZIG` to a zig binary of the same version skips the installation.
//! 3. Compile and link: freestanding C (no libc, no WASI) for `wasm32-freestanding`; the
//!    module's own `runtime.c` supplies the allocator and the few libc functions the
//!    bindings call. The result is a core module with the component-type custom section,
//!    which the caller componentizes.

use std::path::{Path, PathBuf};

use spore_buildkit::{c, toolchain::Toolchains};

/// The world the C module exports.
const WORLD: &str = "validator";

/// Build `modules/median-price-c` into a core wasm module under `out_dir`.
pub fn build(repo_root: &Path, out_dir: &Path) -> Result<Option<PathBuf>, String> {
    let module_dir = repo_root.join("modules").join("median-price-c");
    println!("cargo:rerun-if-changed={}", module_dir.display());
    for sub in ["src", "include"] {
        let dir = module_dir.join(sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-changed={}", repo_root.join("wit").display());
    println!("cargo:rerun-if-env-changed=SPORE_ZIG");
    println!("cargo:rerun-if-env-changed=SPORE_PYTHON");

    let work = out_dir.join("median-price-c");
    let bindings = work.join("bindings");
    let generated =
        c::bindings(&repo_root.join("wit"), WORLD, &bindings).map_err(|e| e.to_string())?;
    let toolchains = Toolchains::new(toolchains_dir(repo_root, out_dir));
    let zig = toolchains.zig().map_err(|e| e.to_string())?;

    let output = work.join("median_price_c.wasm");
    let mut sources = c::sources(&module_dir.join("src")).map_err(|e| e.to_string())?;
    sources.extend(generated);
    c::compile(
        &zig,
        &module_dir,
        &[module_dir.join("include"), module_dir.join("src"), bindings],
        &sources,
        &output,
        &toolchains.cache("zig"),
    )
    .map_err(|e| format!("median-price-c: {e}"))?;
    Ok(Some(output))
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
