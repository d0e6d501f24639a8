//! Integration tests of the redb store: everything survives reopening, conflicting votes
//! and decisions are refused, SIGKILL mid-write never loses an acknowledged write nor
//! leaves a torn one, and a corrupted module blob is detected.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use spore::core::types::{Digest, NodeId};
use spore::store::{Recorded, Store, StoreError, VoteKey};
use std::hash::{BuildHasher, RandomState};

/// A random number from the OS-seeded keys of std's `RandomState`.
fn random(below: u64) -> u64 {
    RandomState::new().hash_one(0u8) % below
}

fn node(seed: u8) -> NodeId {
    NodeId::from([seed; 32])
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("node.redb")
}

#[test]
fn reopen_after_drop_gives_everything_back() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = db_path(&dir);
    let vote = VoteKey {
        slot: 3,
        view: 1,
        phase: 2,
    };
    let module;
    {
        let store = Store::open(&path, node(1))?;
        store.put_genesis(b"genesis document")?;
        for slot in 0..10u64 {
            store.put_decided(slot, format!("entry {slot} + certificate").as_bytes())?;
        }
        assert_eq!(store.record_vote(vote, b"signed vote")?, Recorded::New);
        store.put_snapshot(9, b"ledger at 9")?;
        module = store.put_module(b"\0asm resolver v1")?;
        store.set_active_module("resolver", module, 0)?;
        store.set_meta("view", &7u64.to_be_bytes())?;
    }
    let store = Store::open(&path, node(1))?;
    assert_eq!(store.node_id(), node(1));
    assert_eq!(
        Store::peek_node_id(&path).ok(),
        None,
        "the open store holds the lock"
    );
    assert_eq!(store.genesis()?.as_deref(), Some(&b"genesis document"[..]));
    assert_eq!(store.last_decided_slot()?, Some(9));
    assert_eq!(store.decided_count()?, 10);
    assert_eq!(
        store.decided(4)?.as_deref(),
        Some(&b"entry 4 + certificate"[..])
    );
    let range = store.decided_range(8, 100)?;
    assert_eq!(
        range.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![8, 9]
    );
    assert_eq!(store.vote(vote)?.as_deref(), Some(&b"signed vote"[..]));
    assert_eq!(store.votes_from(3)?, vec![(vote, b"signed vote".to_vec())]);
    assert!(store.votes_from(4)?.is_empty());
    assert_eq!(store.latest_snapshot()?, Some((9, b"ledger at 9".to_vec())));
    assert_eq!(
        store.module(&module)?.as_deref(),
        Some(&b"\0asm resolver v1"[..])
    );
    let active = store
        .active_module("resolver")?
        .context("active resolver")?;
    assert_eq!(
        (active.hash, active.since_slot, active.previous),
        (module, 0, None)
    );
    assert_eq!(store.meta("view")?, Some(7u64.to_be_bytes().to_vec()));
    drop(store);
    assert_eq!(Store::peek_node_id(&path)?, node(1));
    Ok(())
}

#[test]
fn a_vote_conflicting_with_a_stored_one_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = db_path(&dir);
    let key = VoteKey {
        slot: 5,
        view: 0,
        phase: 1,
    };
    {
        let store = Store::open(&path, node(2))?;
        assert_eq!(store.record_vote(key, b"commit to A")?, Recorded::New);
        assert_eq!(
            store.record_vote(key, b"commit to A")?,
            Recorded::AlreadyPresent
        );
    }
    // After a restart the guard still holds.
    let store = Store::open(&path, node(2))?;
    match store.record_vote(key, b"commit to B") {
        Err(StoreError::ConflictingVote {
            slot: 5,
            view: 0,
            phase: 1,
        }) => {}
        other => bail!("expected a conflicting-vote refusal, got {other:?}"),
    }
    assert_eq!(store.vote(key)?.as_deref(), Some(&b"commit to A"[..]));
    // Another phase, view or slot is a different key.
    store.record_vote(VoteKey { phase: 2, ..key }, b"reveal A")?;
    store.record_vote(VoteKey { view: 1, ..key }, b"commit to B")?;
    // A refused group keeps none of its votes.
    let err = store.record_votes(
        &[
            (
                VoteKey {
                    slot: 6,
                    view: 0,
                    phase: 1,
                },
                b"x".to_vec(),
            ),
            (key, b"commit to C".to_vec()),
        ],
        &[],
    );
    assert!(matches!(err, Err(StoreError::ConflictingVote { .. })));
    assert_eq!(
        store.vote(VoteKey {
            slot: 6,
            view: 0,
            phase: 1
        })?,
        None
    );
    // Pruning decided slots frees the guard only below the given slot.
    assert_eq!(store.prune_votes_below(5)?, 0);
    assert_eq!(store.prune_votes_below(6)?, 3);
    Ok(())
}

#[test]
fn decisions_genesis_and_identity_are_write_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = db_path(&dir);
    {
        let store = Store::open(&path, node(3))?;
        store.put_decided(0, b"d0")?;
        store.put_decided(0, b"d0")?;
        assert!(matches!(
            store.put_decided(0, b"other"),
            Err(StoreError::ConflictingDecision(0))
        ));
        store.put_genesis(b"g")?;
        assert!(matches!(
            store.put_genesis(b"h"),
            Err(StoreError::GenesisMismatch)
        ));
        assert!(matches!(
            store.set_meta("spore.node_id", b"x"),
            Err(StoreError::ReservedKey(_))
        ));
        // Swapping keeps the previous module for rollback.
        let v1 = store.put_module(b"v1")?;
        let v2 = store.put_module(b"v2")?;
        store.set_active_module("validator", v1, 0)?;
        let swapped = store.set_active_module("validator", v2, 12)?;
        assert_eq!(
            (swapped.hash, swapped.since_slot, swapped.previous),
            (v2, 12, Some(v1))
        );
        assert_eq!(store.active_modules()?.len(), 1);
        let mut hashes = store.module_hashes()?;
        hashes.sort();
        let mut expected = vec![v1, v2];
        expected.sort();
        assert_eq!(hashes, expected);
    }
    match Store::open(&path, node(4)) {
        Err(StoreError::WrongNode { .. }) => Ok(()),
        other => bail!("expected a wrong-node refusal, got {other:?}"),
    }
}

#[test]
fn a_corrupted_module_blob_is_detected() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = db_path(&dir);
    let hash = {
        let store = Store::open(&path, node(5))?;
        store.put_module(b"\0asm the real validator")?
    };
    assert_ne!(hash, Digest::from([0; 32]));
    {
        // Bit rot, or someone editing the file: the blob under `hash` changes.
        let db = redb::Database::open(&path)?;
        let txn = db.begin_write()?;
        txn.open_table(spore::store::schema::MODULES)?
            .insert(hash.as_bytes(), b"\0asm a tampered validator".as_slice())?;
        txn.commit()?;
    }
    let store = Store::open(&path, node(5))?;
    assert!(store.has_module(&hash)?);
    match store.module(&hash) {
        Err(StoreError::CorruptModule { expected, actual }) => {
            assert_eq!(expected, hash);
            assert_ne!(actual, hash);
        }
        other => bail!("expected a corrupt-module error, got {other:?}"),
    }
    Ok(())
}

// ----- crash safety: a child process writes in a loop and is killed with SIGKILL -----

const CHILD_ENV: &str = "SPORE_STORE_CRASH_CHILD_DB";
const CHILD_TEST: &str = "crash_child_writer";

/// Entry of `slot`: its length and contents depend on the slot, so a torn or misplaced
/// write is visible.
fn entry(slot: u64) -> Vec<u8> {
    let len = 64 + (slot as usize * 37) % 3000;
    (0..len).map(|i| (slot as usize * 31 + i) as u8).collect()
}

fn vote(slot: u64) -> Vec<u8> {
    format!("vote for slot {slot}").into_bytes()
}

fn vote_key(slot: u64) -> VoteKey {
    VoteKey {
        slot,
        view: 0,
        phase: 1,
    }
}

fn snapshot(slot: u64) -> Vec<u8> {
    format!("ledger at {slot}").repeat(20).into_bytes()
}

fn module(slot: u64) -> Vec<u8> {
    entry(slot).repeat(3)
}

/// Child body: continue the log where it stopped; for each slot, durably record the vote
/// (own transaction), then the decided entry with its snapshot and every 7th slot a
/// module (one transaction), then acknowledge on stdout.
#[test]
#[ignore = "child process of sigkill_mid_write_never_loses_an_acknowledged_write"]
fn crash_child_writer() -> Result<()> {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        // Not spawned by the crash test (e.g. `cargo test -- --ignored`): nothing to do.
        return Ok(());
    };
    let store = Store::open(&path, node(9))?;
    let start = store.last_decided_slot()?.map_or(0, |s| s + 1);
    let mut out = std::io::stdout().lock();
    writeln!(out, "start {start}")?;
    for slot in start.. {
        store.record_vote(vote_key(slot), &vote(slot))?;
        store.write(|w| {
            w.put_decided(slot, &entry(slot))?;
            if slot % 5 == 0 {
                w.put_snapshot(slot, &snapshot(slot))?;
            }
            if slot % 7 == 0 {
                w.put_module(&module(slot))?;
            }
            Ok(())
        })?;
        writeln!(out, "ack {slot}")?;
        out.flush()?;
    }
    Ok(())
}

/// Checks that the store at `path` holds exactly a consistent prefix covering `acked`.
fn check_consistent(path: &Path, acked: Option<u64>) -> Result<u64> {
    let store = Store::open(path, node(9))?;
    let last = store.last_decided_slot()?;
    if let Some(acked) = acked {
        ensure!(
            last >= Some(acked),
            "acknowledged slot {acked} lost (last {last:?})"
        );
    }
    let Some(last) = last else { return Ok(0) };
    ensure!(store.decided_count()? == last + 1, "gap in the decided log");
    for (slot, bytes) in store.decided_range(0, usize::MAX)? {
        ensure!(bytes == entry(slot), "decided entry {slot} is torn");
        ensure!(
            store.vote(vote_key(slot))?.as_deref() == Some(vote(slot).as_slice()),
            "vote {slot} missing"
        );
        if slot % 5 == 0 {
            ensure!(
                store.snapshot(slot)? == Some(snapshot(slot)),
                "snapshot {slot} missing"
            );
        }
        if slot % 7 == 0 {
            let hash = Digest::from(<[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(
                module(slot),
            )));
            ensure!(
                store.module(&hash)? == Some(module(slot)),
                "module of slot {slot} missing"
            );
        }
    }
    // At most one vote beyond the log: the child may die between the two transactions.
    let votes = store.votes_from(0)?;
    ensure!(
        votes.len() as u64 == last + 1 || votes.len() as u64 == last + 2,
        "stray votes"
    );
    // A restarted node cannot be made to vote differently for a slot it voted on.
    ensure!(matches!(
        store.record_vote(vote_key(last), b"a different vote"),
        Err(StoreError::ConflictingVote { .. })
    ));
    Ok(last)
}

#[test]
fn sigkill_mid_write_never_loses_an_acknowledged_write() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = db_path(&dir);
    let exe = std::env::current_exe()?;
    let mut acked_total = None;
    for round in 0..12 {
        let mut child = Command::new(&exe)
            .args([
                CHILD_TEST,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // Kill after a random number of acknowledgements, plus a random delay, so the
        // signal lands anywhere in the write path.
        let target = 1 + random(40);
        let mut acks = 0;
        let mut acked = acked_total;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(slot) = line.strip_prefix("ack ") {
                acked = Some(slot.trim().parse::<u64>()?);
                acks += 1;
                if acks == target {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_micros(random(3000)));
        child.kill()?; // SIGKILL on Unix
        let status = child.wait()?;
        // Acknowledgements already in the pipe count too: they were durable when printed.
        for line in lines.map_while(|l| l.ok()) {
            if let Some(slot) = line.strip_prefix("ack ") {
                acked = Some(slot.trim().parse::<u64>()?);
            }
        }
        ensure!(!status.success(), "child ended by itself: {status:?}");
        let last = check_consistent(&path, acked)?;
        println!("round {round}: killed after ack {acked:?}, log reopens with last slot {last}");
        acked_total = acked;
    }
    ensure!(
        acked_total.is_some(),
        "the child never acknowledged a write"
    );
    Ok(())
}

/// Not a performance assertion: prints the rate of durable (fsynced) vote records, the
/// per-vote cost the consensus pays before sending, and of batched decisions.
#[test]
fn durable_write_rate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(db_path(&dir), node(8))?;
    const N: u64 = 200;
    let started = std::time::Instant::now();
    for slot in 0..N {
        store.record_vote(vote_key(slot), &vote(slot))?;
    }
    let single = started.elapsed();
    let started = std::time::Instant::now();
    for chunk in 0..N / 10 {
        store.write(|w| {
            for slot in chunk * 10..chunk * 10 + 10 {
                w.put_decided(slot, &entry(slot))?;
            }
            Ok(())
        })?;
    }
    let batched = started.elapsed();
    println!(
        "store: {N} durable record_vote in {:.3} s = {:.0}/s ({:.2} ms each); \
         {N} decided entries in batches of 10: {:.0}/s",
        single.as_secs_f64(),
        N as f64 / single.as_secs_f64(),
        single.as_secs_f64() * 1e3 / N as f64,
        N as f64 / batched.as_secs_f64()
    );
    assert_eq!(store.votes_from(0)?.len() as u64, N);
    assert_eq!(store.decided_count()?, N);
    Ok(())
}
