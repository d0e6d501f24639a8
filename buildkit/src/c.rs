//! C modules: the bindings of a world (wit-bindgen's C generator, used as a library) and
//! the freestanding `zig cc` invocation that compiles and links them with the module's
//! sources into a core module carrying the world's `component-type` section.
//!
//! # Determinism
//! The flags are fixed here: no debug info and no paths in the output, the same
//! post-MVP features as the Rust modules and nothing nondeterministic (no SIMD, no
//! threads), so the same sources and zig version give the same bytes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result, io, run, write_if_changed};

/// Compiler and linker flags: freestanding wasm32 with the same post-MVP features as
/// the Rust modules, no libc, no entry point, the canonical-ABI exports kept by name.
pub const CFLAGS: &[&str] = &[
    "--target=wasm32-freestanding",
    "-mcpu=mvp+bulk_memory+sign_ext+mutable_globals+nontrapping_fptoint",
    "-std=c11",
    "-O2",
    "-g0",
    "-ffreestanding",
    "-nostdlib",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--no-entry",
    "-Wl,--strip-debug",
    "-Wl,-z,stack-size=1048576",
];

/// Generate the C bindings of `world` (from the WIT package in `wit_dir`) into `dir`;
/// return the generated files to compile and link (`<world>.c` and the component-type
/// object). The header is `<dir>/<world>.h`.
pub fn bindings(wit_dir: &Path, world: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    use wit_bindgen_core::wit_parser::Resolve;

    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(wit_dir)
        .map_err(|e| Error::Invalid(format!("parsing {}: {e:#}", wit_dir.display())))?;
    let world_id = resolve
        .select_world(&[package], Some(world))
        .map_err(|e| Error::Invalid(format!("selecting world `{world}`: {e:#}")))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world_id, &mut files)
        .map_err(|e| Error::Invalid(format!("generating C bindings: {e:#}")))?;

    fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut link = Vec::new();
    for (name, contents) in files.iter() {
        let path = dir.join(name);
        write_if_changed(&path, contents)?;
        if name.ends_with(".c") || name.ends_with(".o") {
            link.push(path);
        }
    }
    Ok(link)
}

/// The `.c` files directly in `dir`, sorted by name (the order is part of the build).
pub fn sources(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io("reading", dir))? {
        let path = entry.map_err(io("reading", dir))?.path();
        if path.extension().is_some_and(|ext| ext == "c") {
            out.push(path);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::Invalid(format!("no C sources in {}", dir.display())));
    }
    Ok(out)
}

/// Compile and link `sources` (plus the generated `bindings`) with `zig cc` into the core
/// module `output`, with `include` directories searched in order. `cwd` is the directory
/// the compiler runs in: pass the project root and relative paths, so that nothing
/// absolute can reach the output. zig's caches go to `cache`.
pub fn compile(
    zig: &Path,
    cwd: &Path,
    include: &[PathBuf],
    sources: &[PathBuf],
    output: &Path,
    cache: &Path,
) -> Result<()> {
    let mut cmd = Command::new(zig);
    cmd.current_dir(cwd).arg("cc").args(CFLAGS);
    for dir in include {
        cmd.arg("-I").arg(dir);
    }
    cmd.arg("-o")
        .arg(output)
        .args(sources)
        .env("ZIG_GLOBAL_CACHE_DIR", cache)
        .env("ZIG_LOCAL_CACHE_DIR", cache);
    run(&mut cmd, "zig cc").map(drop)
}

/// `zig version`, for the build information.
pub fn zig_version(zig: &Path) -> Result<String> {
    crate::toolchain::version_line(zig, &["version"], Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_of_every_world_declare_its_export() {
        let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        let out = tempfile::tempdir().expect("tempdir");
        for (world, export) in [
            ("validator", "exports_validator_validate("),
            ("admission", "exports_admission_evaluate("),
            ("resolver", "exports_resolver_resolve("),
        ] {
            let dir = out.path().join(world);
            let files = bindings(&wit, world, &dir).expect("bindings");
            assert_eq!(files.len(), 2, "{world}: {files:?}");
            let header = fs::read_to_string(dir.join(format!("{world}.h"))).expect("header");
            assert!(header.contains(export), "{world}.h lacks {export}");
            if std::env::var_os("SPORE_KEEP_BINDINGS").is_some() {
                let keep = Path::new("/tmp/spore-c-bindings").join(world);
                fs::create_dir_all(&keep).expect("mkdir");
                fs::copy(
                    dir.join(format!("{world}.h")),
                    keep.join(format!("{world}.h")),
                )
                .expect("copy");
            }
        }
        // Control: a world that does not exist is a clear error, not a panic.
        let err = bindings(&wit, "no-such-world", &out.path().join("x")).expect_err("unknown");
        assert!(err.to_string().contains("no-such-world"), "{err}");
    }
}
