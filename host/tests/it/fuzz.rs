//! The bounded, deterministic run of every fuzz target inside `cargo test` (stable Rust):
//! its committed seed corpus (`fuzz/corpus/<target>/`, plus the built-in seeds) and a
//! fixed number of mutations. Long coverage-guided runs use cargo-fuzz (see fuzz/README.md).

use std::path::PathBuf;

use spore::fuzz::{TARGETS, run_bounded, seed_corpus};

/// Mutations per target in `cargo test` (the long runs are cargo-fuzz's job).
const MUTATIONS: usize = 3_000;

fn corpus(name: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut out: Vec<Vec<u8>> = seed_corpus()
        .into_iter()
        .filter(|(t, _)| *t == name)
        .map(|(_, b)| b)
        .collect();
    if dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for f in files {
            out.push(std::fs::read(&f)?);
        }
    }
    Ok(out)
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_mutations() -> anyhow::Result<()> {
    for (i, (name, target)) in TARGETS.iter().enumerate() {
        let seeds = corpus(name)?;
        assert!(!seeds.is_empty(), "{name} has no seed");
        let mutations = if *name == "node" {
            MUTATIONS / 10
        } else {
            MUTATIONS
        };
        run_bounded(*target, &seeds, mutations, 0x5eed + i as u64);
    }
    Ok(())
}

/// Writes the built-in seeds into `fuzz/corpus/` (run once with `--ignored` when the
/// targets change; the files are committed).
#[test]
#[ignore = "writes the committed seed corpus"]
fn write_seed_corpus() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (i, (name, bytes)) in seed_corpus().into_iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{i:02}")), bytes)?;
    }
    Ok(())
}
