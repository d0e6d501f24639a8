//! A fork on real processes, and the recovery from it.
//!
//! The test plays a coalition of two members out of four (more than f = 1) that confirmed
//! two values for one slot: while n4 is down, n1, n2 and n3 decide V at slot S; n2 and n3
//! (the culprits, whose keys the test holds) also confirm another value W for S with n4,
//! which is given W as if it had decided it in a partition. When n4 comes back, it meets
//! the others' history, derives the fork proof from the two certificates, halts and
//! gossips it, and every node halts. The remaining members, n1 and n4, then follow the
//! documented procedure with the CLI (`spore recover status`, `sign`, `combine`,
//! `apply`), restart, and decide again without the culprits, with identical logs.

use std::process::Command;
use std::time::Duration;

use spore::cli::client::submit;
use spore::store::Store;
use spore_cluster_tests::{cluster, eventually, full_log, serial, signed, values};
use spore_core::consensus::entry::DecidedEntry;
use spore_core::consensus::{Confirm, Proposal, Tally};
use spore_core::crypto::{Keypair, Signed, canonical_bytes};
use spore_core::ops::{ComputeTask, Operation};

const DECIDE: Option<Duration> = Some(Duration::from_secs(60));

fn compute(i: u64) -> Operation {
    Operation::Compute(ComputeTask {
        kind: "median-price".to_owned(),
        input: (0..3u64)
            .flat_map(|k| [k.to_le_bytes(), (1_000 + (k + i) as i64).to_le_bytes()].concat())
            .collect(),
    })
}

fn spore(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(spore_cluster_tests::spore_binary()?)
        .args(args)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "spore {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// The entry `v` with an empty batch instead: another value for the same slot and view,
/// proposed and tallied by `primary`, confirmed by `confirmers`.
fn conflicting(v: &DecidedEntry, primary: &Keypair, confirmers: &[&Keypair]) -> DecidedEntry {
    let proposal = Proposal {
        batch: Vec::new(),
        ..v.tally.payload.proposal.payload.clone()
    };
    let tally = Tally {
        proposal: Signed::new(proposal, primary),
        commits: Vec::new(),
        reveals: Vec::new(),
        decisions: Vec::new(),
    };
    let tally = Signed::new(tally, primary);
    let value = tally.payload.value();
    DecidedEntry {
        slot: v.slot,
        view: v.view,
        confirms: confirmers
            .iter()
            .map(|k| {
                Signed::new(
                    Confirm {
                        slot: v.slot,
                        view: v.view,
                        value,
                    },
                    k,
                )
            })
            .collect(),
        tally,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_cluster_halts_and_its_honest_members_recover() -> anyhow::Result<()> {
    let _serial = serial().await;
    let (_dir, mut c) = cluster(4, &[]).await?;
    let (honest, late, culprits) = (0usize, 3usize, [1usize, 2]);
    let client = c.client(honest).await?;
    submit(&client, signed(&c, compute(1)), DECIDE).await?;
    c.kill(late)?;
    // V at slot S, then one more slot on top of it.
    let (_, d) = submit(&client, signed(&c, compute(2)), DECIDE).await?;
    let s = d.ok_or_else(|| anyhow::anyhow!("V not decided"))?.slot;
    submit(&client, signed(&c, compute(3)), DECIDE).await?;
    client.close().await;
    let v = full_log(&c, honest)
        .await?
        .into_iter()
        .find(|e| e.slot == s)
        .ok_or_else(|| anyhow::anyhow!("no entry at slot {s}"))?;
    let signers: Vec<_> = v.confirms.iter().map(|c| c.signer).collect();
    let keys = [c.key(culprits[0])?, c.key(culprits[1])?, c.key(late)?];
    for k in &keys[..2] {
        assert!(signers.contains(&k.id()), "a culprit did not confirm V");
    }
    // n4 holds W at slot S, confirmed by the culprits and by itself.
    let w = conflicting(&v, &keys[0], &[&keys[0], &keys[1], &keys[2]]);
    assert_ne!(w.value(), v.value());
    {
        let store = Store::open(
            c.nodes[late].dir.join("data").join("node.redb"),
            keys[2].id(),
        )?;
        store.put_decided(s, &canonical_bytes(&w))?;
    }
    c.start(late)?;
    c.wait_ready(late, Duration::from_secs(120)).await?;
    // Every node finds the fork and halts, naming exactly the culprits.
    let mut want: Vec<_> = culprits.iter().map(|i| c.nodes[*i].id).collect();
    want.sort();
    for i in 0..4 {
        let row = eventually(Duration::from_secs(60), "the fork is detected", || async {
            Ok(c.status(i).await?.fork)
        })
        .await?;
        assert_eq!(row.slot, s, "node {i}");
        let mut named = row.culprits.clone();
        named.sort();
        assert_eq!(named, want, "node {i} names other culprits");
    }

    // The procedure, on the remaining members, stopped.
    for i in 0..4 {
        c.kill(i)?;
    }
    let config = |i: usize| c.nodes[i].dir.join("node.toml");
    let mut highest = 0u64;
    for i in [honest, late] {
        let status = spore(&[
            "recover",
            "status",
            "--config",
            &config(i).to_string_lossy(),
        ])?;
        assert!(
            status.contains(&format!("fork          at slot {s}")),
            "{status}"
        );
        let view: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("highest view  "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no highest view in {status}"))?;
        highest = highest.max(view);
    }
    // A resume view at or below a view a member used in the abandoned slots is refused:
    // the member could then sign a vote conflicting with one it signed there.
    let low = spore(&[
        "recover",
        "sign",
        "--config",
        &config(honest).to_string_lossy(),
        "--resume-slot",
        &s.to_string(),
        "--culprit",
        &want[0].to_hex(),
        "--resume-view",
        "0",
        "--out",
        &c.nodes[honest].dir.join("low.json").to_string_lossy(),
    ]);
    assert!(
        low.as_ref()
            .is_err_and(|e| format!("{e:#}").contains("must be above")),
        "{low:?}"
    );
    let resume = (highest + 1).to_string();
    let slot = s.to_string();
    let mut signed_files = Vec::new();
    for i in [honest, late] {
        let out = c.nodes[i].dir.join("checkpoint.json");
        let mut args = vec![
            "recover".to_owned(),
            "sign".to_owned(),
            "--config".to_owned(),
            config(i).to_string_lossy().into_owned(),
            "--resume-slot".to_owned(),
            slot.clone(),
            "--resume-view".to_owned(),
            resume.clone(),
            "--out".to_owned(),
            out.to_string_lossy().into_owned(),
        ];
        for id in &want {
            args.extend(["--culprit".to_owned(), id.to_hex()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        spore(&args)?;
        signed_files.push(out.to_string_lossy().into_owned());
    }
    let cert = c.nodes[honest].dir.join("recovery.json");
    let cert_path = cert.to_string_lossy().into_owned();
    let mut args = vec!["recover", "combine"];
    args.extend(signed_files.iter().map(String::as_str));
    args.extend(["--out", &cert_path]);
    spore(&args)?;
    // One member's signature alone is refused: fewer than f + 1 (2) of the members
    // eligible before the exclusion (and not a quorum of the two that remain either).
    let one = c.nodes[honest].dir.join("one.json");
    let one_path = one.to_string_lossy().into_owned();
    spore(&["recover", "combine", &signed_files[0], "--out", &one_path])?;
    let refused = spore(&[
        "recover",
        "apply",
        "--config",
        &config(late).to_string_lossy(),
        "--certificate",
        &one_path,
    ]);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| format!("{e:#}").contains("fewer than the 2")),
        "{refused:?}"
    );
    for i in [honest, late] {
        let out = spore(&[
            "recover",
            "apply",
            "--config",
            &config(i).to_string_lossy(),
            "--certificate",
            &cert_path,
        ])?;
        assert!(out.contains("installed"), "{out}");
    }

    // The remaining members resume and decide again, without the culprits.
    for i in [honest, late] {
        c.start(i)?;
    }
    for i in [honest, late] {
        c.wait_ready(i, Duration::from_secs(120)).await?;
    }
    let client = c.client(honest).await?;
    let (_, d) = submit(&client, signed(&c, compute(4)), DECIDE).await?;
    let d = d.ok_or_else(|| anyhow::anyhow!("nothing decided after the recovery"))?;
    assert_eq!(
        d.slot, s,
        "the recovered cluster resumes at the forked slot"
    );
    submit(&client, signed(&c, compute(5)), DECIDE).await?;
    client.close().await;
    let target = c.status(honest).await?.slot;
    eventually(Duration::from_secs(60), "both at one slot", || async {
        Ok((c.status(late).await?.slot >= target).then_some(()))
    })
    .await?;
    let a = values(&full_log(&c, honest).await?);
    let b = values(&full_log(&c, late).await?);
    let n = target as usize;
    assert_eq!(a[..n], b[..n], "the recovered logs differ");
    assert_ne!(a[s as usize].1, v.value(), "slot S still holds V");
    let status = c.status(honest).await?;
    assert!(status.fork.is_none(), "still halted");
    for id in &want {
        let row = status
            .members
            .iter()
            .find(|m| m.id == *id)
            .ok_or_else(|| anyhow::anyhow!("culprit not listed"))?;
        assert!(!row.eligible, "culprit {id} still eligible: {row:?}");
    }
    Ok(())
}
