//! `spore e2e` on the shipped manifests (tests/e2e/): real node processes, peer traffic
//! through the fault-injecting relay, perturbations on a schedule, then liveness after
//! healing, identical logs on the honest nodes and the trust outcome. Four manifests
//! run here; `pause-lossy.toml` is run by hand (`spore e2e tests/e2e/pause-lossy.toml`).
//! The relay's own control (a partition that never heals fails the liveness check)
//! was run by hand too: it takes a minute of waiting.

use std::path::Path;
use std::time::Duration;

async fn e2e(manifest: &str, report: Option<&Path>) -> anyhow::Result<()> {
    let _serial = spore_cluster_tests::serial().await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("e2e")
        .join(manifest);
    let dir = tempfile::tempdir()?;
    let mut cmd = tokio::process::Command::new(spore_cluster_tests::spore_binary()?);
    cmd.arg("e2e").arg(&path).arg("--dir").arg(dir.path());
    if let Some(report) = report {
        cmd.arg("--report").arg(report);
    }
    let out = cmd.kill_on_drop(true).output();
    let out = tokio::time::timeout(Duration::from_secs(300), out).await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success() && stdout.contains("verdict: passed"),
        "{manifest} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(stdout.contains("honest nodes agree"), "{stdout}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_and_heal_passes_with_its_report() -> anyhow::Result<()> {
    let report = tempfile::tempdir()?;
    e2e("partition-heal.toml", Some(report.path())).await?;
    let page = std::fs::read_to_string(report.path().join("index.html"))?;
    assert_eq!(page.matches("<svg").count(), 3, "three plots");
    for text in [
        "Trust of every member over slots",
        "Partition n1,n2",
        "Heal",
    ] {
        assert!(page.contains(text), "the report lacks {text}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_restart_passes() -> anyhow::Result<()> {
    e2e("kill-restart.toml", None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_member_under_a_partition_is_excluded() -> anyhow::Result<()> {
    e2e("byzantine-partition.toml", None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_withholds_its_reveals_is_excluded() -> anyhow::Result<()> {
    e2e("withhold-reveal.toml", None).await
}

/// A manifest naming a node that does not exist is refused before anything starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_manifest_is_refused_clearly() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "name = \"bad\"\nnodes = 4\n[[step]]\nat_secs = 1\naction = \"kill\"\nnodes = [\"n9\"]\n",
    )?;
    let out = tokio::process::Command::new(spore_cluster_tests::spore_binary()?)
        .arg("e2e")
        .arg(&path)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(!out.status.success(), "accepted a bad manifest");
    anyhow::ensure!(text.contains("no node `n9`"), "{text}");
    Ok(())
}
