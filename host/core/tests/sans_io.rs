//! Guards the dependency rule of the sans-IO core: `spore-core` depends on none of tokio,
//! quinn, redb or wasmtime, and its sources read no clock and draw no OS randomness.

use std::path::{Path, PathBuf};

const FORBIDDEN_CRATES: &[&str] = &["tokio", "quinn", "redb", "wasmtime", "rand", "getrandom"];
const FORBIDDEN_CALLS: &[&str] = &[
    "std::time::Instant",
    "SystemTime",
    "Instant::now",
    "thread_rng",
    "OsRng",
    "std::net",
    "std::fs",
    "std::thread::sleep",
];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn manifest_has_no_io_dependencies() {
    let manifest = std::fs::read_to_string(manifest_dir().join("Cargo.toml")).expect("manifest");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] section")
        .split("\n[")
        .next()
        .unwrap_or_default();
    for line in deps.lines() {
        let name = line.split(['=', '.']).next().unwrap_or_default().trim();
        assert!(
            !FORBIDDEN_CRATES.contains(&name),
            "spore-core must stay sans-IO, but depends on `{name}`"
        );
    }
}

#[test]
fn sources_read_no_clock_and_no_os_randomness() {
    let mut files = Vec::new();
    rust_files(&manifest_dir().join("src"), &mut files);
    assert!(files.len() > 10, "found the core's sources");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        // Unit tests (at the end of a file, after `#[cfg(test)]`) may use the OS.
        for (no, line) in text
            .lines()
            .enumerate()
            .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        {
            let code = line.split("//").next().unwrap_or_default();
            for call in FORBIDDEN_CALLS {
                assert!(
                    !code.contains(call),
                    "{}:{}: `{call}` has no place in the sans-IO core",
                    file.display(),
                    no + 1
                );
            }
        }
    }
}
