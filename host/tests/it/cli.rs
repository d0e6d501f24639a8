//! The `spore` binary end to end: `module hash|check|run|propose`, `simulate` and `demo`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::text;

use spore::core::crypto::sha256;

fn spore(args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_spore"))
        .args(args)
        .output()?)
}

fn write_module(dir: &Path, artifact: &spore_artifacts::Artifact) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{}.wasm", artifact.name));
    std::fs::write(&path, artifact.bytes)?;
    Ok(path)
}

fn example(name: &str) -> String {
    format!("{}/examples/inputs/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn module_hash_prints_the_sha256() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_module(dir.path(), &spore_artifacts::MEDIAN_PRICE)?;
    let out = spore(&["module", "hash", &path.to_string_lossy()])?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with(&sha256(spore_artifacts::MEDIAN_PRICE.bytes).to_hex()));
    Ok(())
}

#[test]
fn module_check_passes_a_default_module_with_its_self_test() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_module(dir.path(), &spore_artifacts::DEFAULT_VALIDATOR)?;
    let out = spore(&[
        "module",
        "check",
        &path.to_string_lossy(),
        "--role",
        "validator",
    ])?;
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("verdict    FIT"), "{shown}");
    assert!(shown.contains("identical"), "{shown}");
    assert!(!shown.contains("DIFFERENT"), "{shown}");
    Ok(())
}

#[test]
fn module_check_refuses_unfit_modules_with_a_clear_message() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cases = [
        (
            spore_artifacts::HOSTILE_FOREIGN_IMPORTS,
            "validator",
            "forbidden import",
        ),
        (
            spore_artifacts::HOSTILE_WRONG_WORLD,
            "validator",
            "wrong world",
        ),
        (spore_artifacts::MEDIAN_PRICE, "resolver", "wrong world"),
        (spore_artifacts::HOSTILE_LOOP, "validator", "out of fuel"),
    ];
    for (artifact, role, message) in cases {
        let path = write_module(dir.path(), &artifact)?;
        let out = spore(&["module", "check", &path.to_string_lossy(), "--role", role])?;
        let shown = text(&out);
        assert!(!out.status.success(), "{}: {shown}", artifact.name);
        assert!(shown.contains("UNFIT"), "{}: {shown}", artifact.name);
        assert!(shown.contains(message), "{}: {shown}", artifact.name);
    }
    Ok(())
}

#[test]
fn module_propose_refuses_an_unfit_module_before_contacting_a_node() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_module(dir.path(), &spore_artifacts::MEDIAN_PRICE)?;
    // Nothing listens on the address: the refusal must come from the local check.
    let node_id = "00".repeat(32);
    let out = spore(&[
        "module",
        "propose",
        &path.to_string_lossy(),
        "--role",
        "resolver",
        "--node",
        "127.0.0.1:9",
        "--node-id",
        &node_id,
    ])?;
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("is not a fit resolver module"), "{shown}");
    assert!(shown.contains("wrong world"), "{shown}");
    Ok(())
}

#[test]
fn simulate_runs_seeded_scenarios_and_refuses_bad_parameters() -> anyhow::Result<()> {
    let out = spore(&[
        "simulate",
        "--nodes",
        "4",
        "--byzantine",
        "1",
        "--behaviour",
        "equivocator",
        "--seeds",
        "3",
        "--drop",
        "0.1",
    ])?;
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for line in ["runs                     3", "safety violations        0"] {
        assert!(shown.contains(line), "missing {line:?}: {shown}");
    }
    for (args, message) in [
        (&["--nodes", "3", "--byzantine", "1"][..], "n >= 3f + 1"),
        (&["--behaviour", "nosuch"][..], "unknown behaviour"),
        (&["--drop", "2"][..], "--drop must be within 0..=1"),
    ] {
        let mut all = vec!["simulate", "--seeds", "1"];
        all.extend_from_slice(args);
        let out = spore(&all)?;
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(text(&out).contains(message), "{args:?}: {}", text(&out));
    }
    Ok(())
}

#[test]
fn module_run_prints_the_result_and_fuel() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_module(dir.path(), &spore_artifacts::MEDIAN_PRICE)?;
    let out = spore(&[
        "module",
        "run",
        &path.to_string_lossy(),
        "--role",
        "validator",
        "--input",
        &example("validator-compute.json"),
        "--snapshot",
        &example("snapshot.json"),
        "--json",
    ])?;
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    // 100980 (i64 LE), 6 kept, 1 dropped.
    assert_eq!(
        json["result"]["accepted"],
        serde_json::json!("748a0100000000000600000001000000")
    );
    assert!(json["fuel_used"].as_u64().unwrap_or(0) > 0);
    Ok(())
}

#[test]
fn module_run_reports_a_failure_with_a_non_zero_exit() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_module(dir.path(), &spore_artifacts::HOSTILE_LOOP)?;
    let out = spore(&[
        "module",
        "run",
        &path.to_string_lossy(),
        "--role",
        "validator",
        "--input",
        &example("validator-compute.json"),
        "--fuel",
        "100000",
    ])?;
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("out of fuel"), "{shown}");
    assert!(shown.contains("100000 of 100000"), "{shown}");
    Ok(())
}

#[test]
fn help_is_available_on_every_command() -> anyhow::Result<()> {
    for args in [
        vec!["--help"],
        vec!["module", "--help"],
        vec!["module", "check", "--help"],
        vec!["module", "run", "--help"],
        vec!["module", "hash", "--help"],
        vec!["demo", "--help"],
    ] {
        let out = spore(&args)?;
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("Usage"), "{args:?}");
    }
    let run_help = text(&spore(&["module", "run", "--help"])?);
    assert!(run_help.contains("trust_modification"), "{run_help}");
    Ok(())
}

#[test]
fn demo_runs_and_exits_zero() -> anyhow::Result<()> {
    let out = spore(&["demo"])?;
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for needle in [
        "out of fuel",
        "memory limit",
        "stack overflow",
        "trap",
        "output too large",
        "wrong world",
        "forbidden import",
        "rollback",
    ] {
        assert!(
            shown.contains(needle),
            "demo output lacks {needle:?}:\n{shown}"
        );
    }
    Ok(())
}

#[test]
fn module_check_reports_limits_time_log_volume_and_generated_inputs() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // The cluster's limits come from its genesis.
    let mut params = spore::core::genesis::Params::default();
    params.set("timing.validator-fuel", 30_000_000)?;
    let genesis = spore::core::genesis::Genesis::new(
        "check",
        Vec::new(),
        params,
        spore::cli::genesis::default_modules(),
    );
    let genesis_path = dir.path().join("genesis.json");
    spore::cli::genesis::save(&genesis_path, &genesis)?;
    let path = write_module(dir.path(), &spore_artifacts::DEFAULT_VALIDATOR)?;
    let out = spore(&[
        "module",
        "check",
        &path.to_string_lossy(),
        "--role",
        "validator",
        "--genesis",
        &genesis_path.to_string_lossy(),
        "--generated",
        "40",
    ])?;
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("fuel 30000000 per call"), "{shown}");
    assert!(shown.contains("the cluster's"), "{shown}");
    assert!(shown.contains("40 generated input(s)"), "{shown}");
    assert!(shown.contains("\ntime       "), "{shown}");
    assert!(shown.contains("\nlog        at most 1 line(s)"), "{shown}");

    // A module that floods its log and burns host fuel: the volume and the time bound are
    // reported, and it is unfit (it runs out of fuel on samples and generated inputs).
    let path = write_module(dir.path(), &spore_artifacts::HOSTILE_HOST_ABUSE)?;
    let out = spore(&[
        "module",
        "check",
        &path.to_string_lossy(),
        "--role",
        "validator",
    ])?;
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("log        at most 64 line(s)"), "{shown}");
    assert!(shown.contains("would take about"), "{shown}");
    assert!(shown.contains("generated #"), "{shown}");
    Ok(())
}

/// `spore init`: a node's key, documented config and genesis in one step; nothing is
/// overwritten, and a refused init writes nothing.
#[test]
fn init_sets_up_a_node_in_one_step_and_never_overwrites() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let node = dir.path().join("a");
    let node_s = node.to_string_lossy().into_owned();
    let out = spore(&[
        "init",
        &node_s,
        "--new-genesis",
        "prod",
        "--listen",
        "127.0.0.1:7000",
        "--metrics-listen",
        "127.0.0.1:9100",
    ])?;
    assert!(out.status.success(), "{}", text(&out));
    let key = spore::node::keyfile::read(&node.join("node.key"))?;
    let mode = std::fs::metadata(node.join("node.key"))?
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let config = spore::node::config::NodeConfig::load(&node.join("node.toml"))?;
    assert_eq!(config.listen, Some("127.0.0.1:7000".parse()?));
    assert_eq!(config.metrics_listen, Some("127.0.0.1:9100".parse()?));
    let genesis = spore::cli::genesis::load(&node.join("genesis.json"))?;
    assert_eq!(genesis.chain_id, "prod");
    assert_eq!(genesis.nodes.first().map(|n| n.id), Some(key.id()));
    assert!(text(&out).contains(&key.id().to_hex()));

    // Again: refused, and the key is the same.
    let before = std::fs::read(node.join("node.key"))?;
    let out = spore(&["init", &node_s])?;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("already holds a node"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(node.join("node.key"))?, before);

    // An unsigned genesis is refused before anything is written.
    let other = dir.path().join("b");
    let other_s = other.to_string_lossy().into_owned();
    let unsigned = node.join("genesis.json");
    let out = spore(&["init", &other_s, "--genesis", &unsigned.to_string_lossy()])?;
    assert!(!out.status.success());
    assert!(text(&out).contains("nothing was written"), "{}", text(&out));
    assert!(!other.join("node.key").exists());

    // A signed genesis that does not name the new key: a joiner, told how to be admitted.
    let mut g = genesis.clone();
    g.sign(&key)?;
    let signed = dir.path().join("signed.json");
    spore::cli::genesis::save(&signed, &g)?;
    let out = spore(&["init", &other_s, "--genesis", &signed.to_string_lossy()])?;
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("not in the genesis") && shown.contains("spore sponsor"),
        "{shown}"
    );
    assert!(other.join("genesis.json").exists());
    Ok(())
}
