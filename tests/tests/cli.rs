//! The operator CLI as an operator runs it: `spore keygen` (owner-only, no silent
//! overwrite), `spore genesis new|add-node|sign|verify` (verify fails on a missing or
//! forged signature), and governance through `spore submit` against a running cluster
//! (refused without the governor's key, naming the missing role; decided with it).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use spore_cluster_tests::{cluster, eventually, serial, spore_binary};

fn spore(args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(spore_binary()?).args(args).output()?)
}

fn keygen(path: &Path) -> anyhow::Result<String> {
    let out = spore(&["keygen", "--out", path.to_str().unwrap_or_default()])?;
    anyhow::ensure!(out.status.success(), "keygen failed: {out:?}");
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

#[test]
fn keygen_writes_an_owner_only_key_and_refuses_to_overwrite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("a.key");
    let id = keygen(&key)?;
    assert_eq!(id.len(), 64, "{id}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);
    }
    let again = spore(&["keygen", "--out", key.to_str().unwrap_or_default()])?;
    assert!(!again.status.success());
    assert!(std::fs::read_to_string(&key)?.contains(&id));
    let forced = spore(&[
        "keygen",
        "--force",
        "--out",
        key.to_str().unwrap_or_default(),
    ])?;
    assert!(forced.status.success());
    assert!(!std::fs::read_to_string(&key)?.contains(&id));
    Ok(())
}

#[test]
fn genesis_is_built_step_by_step_and_verify_catches_missing_and_forged_signatures()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let g = dir.path().join("genesis.json");
    let g = g.to_str().unwrap_or_default();
    assert!(
        spore(&["genesis", "new", "--chain-id", "t1", "--out", g])?
            .status
            .success()
    );
    let mut keys = Vec::new();
    for i in 0..3 {
        let k = dir.path().join(format!("k{i}"));
        let id = keygen(&k)?;
        let addr = format!("127.0.0.1:{}", 7000 + i);
        let name = format!("n{i}");
        let out = spore(&[
            "genesis",
            "add-node",
            "--file",
            g,
            "--id",
            &id,
            "--name",
            &name,
            "--address",
            &addr,
        ])?;
        assert!(out.status.success(), "{out:?}");
        keys.push(k);
    }
    // Two of three signatures: not valid.
    for k in &keys[..2] {
        let out = spore(&[
            "genesis",
            "sign",
            "--file",
            g,
            "--key",
            k.to_str().unwrap_or_default(),
        ])?;
        assert!(out.status.success(), "{out:?}");
    }
    let out = spore(&["genesis", "verify", "--file", g])?;
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stdout)?.contains("INVALID"));
    let out = spore(&[
        "genesis",
        "sign",
        "--file",
        g,
        "--key",
        keys[2].to_str().unwrap_or_default(),
    ])?;
    assert!(out.status.success());
    let out = spore(&["genesis", "verify", "--file", g])?;
    assert!(out.status.success(), "{out:?}");
    // Change the content after signing (another chain id): every signature is now forged.
    let text = std::fs::read_to_string(g)?;
    std::fs::write(g, text.replace("\"t1\"", "\"t2\""))?;
    let out = spore(&["genesis", "verify", "--file", g])?;
    assert!(!out.status.success(), "a tampered genesis verified");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_needs_the_governor_key_for_a_trust_change() -> anyhow::Result<()> {
    let _serial = serial().await;
    let (_dir, c) = cluster(4, &[]).await?;
    let config = c.nodes[0].dir.join("node.toml");
    let config = config.to_str().unwrap_or_default();
    let target = c.nodes[1].id.to_hex();
    let (addr, id) = (c.nodes[0].client_addr.to_string(), c.nodes[0].id.to_hex());
    let governor = c.dir.join("governor.key");
    let governor = governor.to_str().unwrap_or_default();
    let trust_change = ["submit", "--trust-of", &target, "--delta", "-100"];

    // Without --key, --config's node key signs: a member, not a governor. Refused, and
    // the message names the role that is missing.
    let out = spore(&[&trust_change[..], &["--config", config]].concat())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a member's key changed trust: {out:?}"
    );
    assert!(
        stderr.contains("refused:")
            && stderr.contains("may not submit trust-modification")
            && stderr.contains("needs the role governor"),
        "{stderr}"
    );
    // With no key at all (only the node's address and id) there is nothing to sign with.
    let out = spore(&[&trust_change[..], &["--node", &addr, "--node-id", &id]].concat())?;
    assert!(
        !out.status.success(),
        "an unsigned trust change went through: {out:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("signing key"),
        "{out:?}"
    );

    // The governor's key file (written by the cluster, named by its genesis) does it.
    let out = spore(
        &[
            &trust_change[..],
            &["--node", &addr, "--node-id", &id, "--key", governor],
        ]
        .concat(),
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("accepted"), "{stdout}");
    // Applied once: n1's status shows the governance cut of n2's trust.
    let event = format!("{} trust", c.nodes[1].id);
    let cuts = |s: &spore::node::proto::StatusReport| {
        s.events
            .iter()
            .filter(|(_, e)| e.contains(&event) && e.contains("(-100) by Governance"))
            .count()
    };
    eventually(Duration::from_secs(10), "the trust cut applied", || async {
        Ok((cuts(&c.status(0).await?) > 0).then_some(()))
    })
    .await?;
    let s = c.status(0).await?;
    assert_eq!(cuts(&s), 1, "{:?}", s.events);
    // And anyone may read the trust ledger, with no key (a throw-away one).
    let out = spore(&["trust", "--node", &addr, "--node-id", &id])?;
    assert!(out.status.success(), "{out:?}");
    let ledger = String::from_utf8_lossy(&out.stdout);
    assert!(c.nodes.iter().all(|n| ledger.contains(&n.name)), "{ledger}");
    Ok(())
}
