//! Durable writes off the event loop: one storage thread, group commit, and the sends
//! that wait for the commit covering them.
//!
//! # Design
//! The machine's contract (`spore_core::consensus::Effect`) is that a `Persist` is durable
//! before any later effect that leaves the node, and a decided entry before its clients
//! hear of it. The loop used to keep it by committing inline: every sync (about a
//! millisecond) stopped the whole node, its client submissions, signature checks and
//! module results included.
//!
//! Now the loop hands records to a [`Flusher`] and goes on:
//! - at most one commit is in flight, on the storage thread; records asked for while it
//!   runs collect and go together in the next one (group commit: one sync for all);
//! - a send, a broadcast or a client answer made after a record is [`Held`], tagged with
//!   the commit that will carry every record made before it, and leaves when that commit
//!   reports durable; held items leave in the order they were made, and an item made
//!   while others are held waits behind them, so the order of effects is the machine's;
//! - everything else goes on meanwhile: inputs, module calls, timers. The machine already
//!   counts its votes as cast; nothing of them leaves the node before the disk has them.
//!
//! A failed commit is returned to the loop, which stops the node (continuing could lose
//! a vote and equivocate after a restart), as it did when commits were inline.
//!
//! The crash hook ([`CrashAt`]) aborts the process on the storage thread just before or
//! just after the Nth commit, or between a commit's database write and its vote log
//! write: a vote held for that commit is then never sent, which is the point the cluster
//! test kills at.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use spore_core::consensus::{DecidedEntry, Message};
use spore_core::crypto::canonical_bytes;
use spore_core::types::{Digest, NodeId, Slot};
use tokio::sync::mpsc;
use tracing::error;

use super::driver::{CrashAt, CrashWhen};
use crate::store::{Store, StoreError, VoteKey};

/// Durable writes the machine asked for and not yet handed to the storage thread.
#[derive(Default)]
struct Records {
    /// This node's own votes.
    votes: Vec<(VoteKey, Vec<u8>)>,
    /// Others' messages that make up a prepared certificate (tallies, accepts).
    certs: Vec<(Slot, Message)>,
    /// Decided entries with their certificates.
    decided: Vec<(Slot, Vec<u8>)>,
    /// Forget own votes below this slot, once the decided entries before it are durable
    /// (rides with the next commit; not a record that makes anything wait).
    prune: Option<Slot>,
}

impl Records {
    fn is_empty(&self) -> bool {
        self.votes.is_empty() && self.certs.is_empty() && self.decided.is_empty()
    }

    fn len(&self) -> usize {
        self.votes.len() + self.certs.len() + self.decided.len()
    }
}

/// Bytes of point-to-point sends that may wait for a commit at once; a send beyond it is
/// dropped (as the network could drop it). Sends are mostly answers to peers (catch-up
/// responses of up to 3 MiB, a new-view handed to a member behind): a peer replaying
/// cheap requests while a commit is in flight could otherwise make the node hold without
/// bound what the transport's own queues (64 MiB a peer, the oldest dropped) would have
/// bounded. Broadcasts are this node's own votes and gossip, a few per slot: never dropped.
pub const MAX_HELD_SEND_BYTES: usize = 32 * 1024 * 1024;

/// An effect that must not leave the node before the records made before it are durable.
pub enum Held {
    /// Send to one peer.
    Send {
        /// Recipient.
        to: NodeId,
        /// The message.
        msg: Message,
        /// Its frame, encoded when it was held (its size is what the budget counts).
        frame: Bytes,
    },
    /// Send to every member.
    Broadcast {
        /// The message.
        msg: Message,
        /// Its frame.
        frame: Bytes,
    },
    /// A decided entry, to be announced and answered to its clients.
    Decided(Box<DecidedEntry>),
}

/// One commit handed to the storage thread.
struct Job {
    seq: u64,
    records: Records,
}

/// A finished commit: its number and the records it held with the time it took, or why
/// it failed.
pub struct Done {
    seq: u64,
    result: Result<(usize, f64), StoreError>,
}

/// What a finished commit released: the held effects, in order, and the commit's size
/// and duration for the metrics.
pub struct Released {
    /// Effects to execute now, in the order they were made.
    pub held: Vec<Held>,
    /// Records in the commit.
    pub records: usize,
    /// Seconds the commit took on the storage thread.
    pub seconds: f64,
}

/// The loop's side of the storage thread (see the module doc).
pub struct Flusher {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    done: mpsc::UnboundedReceiver<Done>,
    thread: Option<JoinHandle<()>>,
    records: Records,
    /// The last commit handed to the storage thread (commits are numbered from 1).
    submitted: u64,
    /// The last commit reported durable.
    durable: u64,
    /// Effects waiting for a commit: the commit each needs, and the effect.
    held: VecDeque<(u64, Held)>,
    /// Frame bytes of the held point-to-point sends.
    held_send_bytes: usize,
    /// Sends dropped because the held ones were at [`MAX_HELD_SEND_BYTES`].
    dropped: u64,
}

/// What became of an effect handed to [`Flusher::hold`] (a return value, never stored:
/// boxing its large variant would cost an allocation per send).
#[allow(clippy::large_enum_variant)]
pub enum Hold {
    /// It may leave now.
    Now(Held),
    /// It waits for a commit.
    Held,
    /// A send over the budget of held sends: dropped, as the network could drop it.
    Dropped,
}

impl Flusher {
    /// Start the storage thread for `store`.
    pub fn start(store: Arc<Store>, crash_at: Option<CrashAt>) -> std::io::Result<Self> {
        let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("spore-store".into())
            .spawn(move || {
                while let Ok(job) = jobs_rx.recv() {
                    let seq = job.seq;
                    let result = commit(&store, crash_at, job);
                    if done_tx.send(Done { seq, result }).is_err() {
                        return; // the loop stopped
                    }
                }
            })?;
        Ok(Flusher {
            jobs: Some(jobs_tx),
            done: done_rx,
            thread: Some(thread),
            records: Records::default(),
            submitted: 0,
            durable: 0,
            held: VecDeque::new(),
            held_send_bytes: 0,
            dropped: 0,
        })
    }

    /// Record one of this node's own votes.
    pub fn vote(&mut self, key: VoteKey, msg: &Message) {
        self.records.votes.push((key, canonical_bytes(msg)));
    }

    /// Record another member's message that is part of a prepared certificate.
    pub fn cert(&mut self, slot: Slot, msg: Message) {
        self.records.certs.push((slot, msg));
    }

    /// Record a decided entry.
    pub fn decided(&mut self, slot: Slot, entry: &DecidedEntry) {
        self.records.decided.push((slot, canonical_bytes(entry)));
    }

    /// Forget this node's votes below `slot` once every decided entry recorded so far is
    /// durable: the prune goes with the next commit, after its decided entries (a vote
    /// forgotten before its slot's entry is on disk could be signed differently after a
    /// crash).
    pub fn prune(&mut self, slot: Slot) {
        self.records.prune = Some(self.records.prune.map_or(slot, |p| p.max(slot)));
    }

    /// `item` if it may leave now (every record made before it is durable and nothing
    /// made before it is still held); otherwise it is held, in order, and `None`.
    pub fn hold(&mut self, item: Held) -> Hold {
        let needs = if self.records.is_empty() {
            self.submitted
        } else {
            self.submitted + 1
        };
        if self.held.is_empty() && needs <= self.durable {
            return Hold::Now(item);
        }
        if let Held::Send { frame, .. } = &item {
            if self.held_send_bytes + frame.len() > MAX_HELD_SEND_BYTES {
                self.dropped += 1;
                return Hold::Dropped;
            }
            self.held_send_bytes += frame.len();
        }
        self.held.push_back((needs, item));
        Hold::Held
    }

    /// Hand the records made so far to the storage thread unless a commit is in flight
    /// (they then go with the next one, when it reports).
    pub fn kick(&mut self) {
        if self.submitted != self.durable || self.records.is_empty() {
            return;
        }
        let Some(jobs) = &self.jobs else {
            return;
        };
        self.submitted += 1;
        let job = Job {
            seq: self.submitted,
            records: std::mem::take(&mut self.records),
        };
        if jobs.send(job).is_err() {
            // The thread is gone (it only stops with the loop or a crash hook); nothing
            // held will be released, which keeps the rule.
            error!("the storage thread has stopped");
        }
    }

    /// The next finished commit (for the loop's `select!`); `None` once the storage
    /// thread is gone (it panicked), which the loop must treat as fatal.
    pub async fn finished(&mut self) -> Option<Done> {
        self.done.recv().await
    }

    /// A commit finished: what it released, or its error (the node must stop).
    pub fn complete(&mut self, done: Done) -> Result<Released, StoreError> {
        let (records, seconds) = done.result?;
        self.durable = done.seq;
        let mut held = Vec::new();
        while self
            .held
            .front()
            .is_some_and(|(needs, _)| *needs <= self.durable)
        {
            if let Some((_, item)) = self.held.pop_front() {
                if let Held::Send { frame, .. } = &item {
                    self.held_send_bytes -= frame.len();
                }
                held.push(item);
            }
        }
        self.kick();
        Ok(Released {
            held,
            records,
            seconds,
        })
    }

    /// Whether a held (decided, not yet durable) entry holds the operation `digest`.
    pub fn holds_decision(&self, digest: &Digest) -> bool {
        self.held.iter().any(|(_, item)| match item {
            Held::Decided(entry) => entry.batch().iter().any(|op| op.id() == *digest),
            _ => false,
        })
    }

    /// Commits handed to the storage thread by this process.
    pub fn commits(&self) -> u64 {
        self.submitted
    }

    /// Effects waiting for a commit.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Sends dropped over the budget of held sends, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Drop for Flusher {
    /// Let the commit in flight finish (the store stays consistent and can be reopened by
    /// this process), then stop the thread. What was never handed over is dropped, as a
    /// crash would drop it: none of it was sent.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One durable commit of `job` (on the storage thread).
fn commit(store: &Store, crash_at: Option<CrashAt>, job: Job) -> Result<(usize, f64), StoreError> {
    let crash = crash_at.filter(|c| c.commit == job.seq);
    if crash.is_some_and(|c| c.when == CrashWhen::Before) {
        error!(
            commit = job.seq,
            "test hook: aborting before a durable commit"
        );
        std::process::abort();
    }
    let started = Instant::now();
    let w = job.records;
    let records = w.len();
    // Decided entries go to the database first, then votes and certificate records to
    // the vote log (one append and sync); the held effects wait for both. In this order a
    // crash between the two leaves only records to spare: a certificate record of a later
    // slot supersedes those of earlier ones, which must not be dropped before the entry
    // they certify is on disk, and the same holds for the prune of votes.
    if !w.decided.is_empty() {
        store.write(|tx| {
            for (slot, entry) in &w.decided {
                tx.put_decided(*slot, entry)?;
            }
            Ok(())
        })?;
    }
    let logged = !w.votes.is_empty() || !w.certs.is_empty();
    if let Some(c) = crash_at
        && c.when == CrashWhen::Between
        && job.seq >= c.commit
        && !w.decided.is_empty()
        && logged
    {
        error!(
            commit = job.seq,
            "test hook: aborting between the database write and the vote log write"
        );
        std::process::abort();
    }
    if let Some(slot) = w.prune {
        store.prune_votes_below(slot)?;
    }
    if logged {
        let certs: Vec<(Slot, Vec<u8>)> = w
            .certs
            .iter()
            .map(|(slot, msg)| (*slot, canonical_bytes(msg)))
            .collect();
        store.record_votes(&w.votes, &certs)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    if crash.is_some_and(|c| c.when == CrashWhen::After) {
        error!(
            commit = job.seq,
            "test hook: aborting after a durable commit"
        );
        std::process::abort();
    }
    Ok((records, seconds))
}

#[cfg(test)]
mod tests {
    use spore_core::consensus::{Accept, Message};
    use spore_core::crypto::{Keypair, Signed};
    use spore_core::types::Digest;

    use super::*;

    fn accept(key: &Keypair, slot: Slot) -> Message {
        Message::Accept(Signed::new(
            Accept {
                slot,
                view: 0,
                value: Digest([7; 32]),
            },
            key,
        ))
    }

    fn key_of(slot: Slot) -> VoteKey {
        VoteKey {
            slot,
            view: 0,
            phase: 5,
        }
    }

    fn sent(item: Held) -> Slot {
        match item {
            Held::Send { msg, .. } | Held::Broadcast { msg, .. } => msg.slot().unwrap_or(u64::MAX),
            Held::Decided(e) => e.slot,
        }
    }

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![0; len])
    }

    fn broadcast(msg: Message) -> Held {
        Held::Broadcast {
            msg,
            frame: frame(100),
        }
    }

    fn send(key: &Keypair, slot: Slot, len: usize) -> Held {
        Held::Send {
            to: key.id(),
            msg: accept(key, slot),
            frame: frame(len),
        }
    }

    fn is_now(h: Hold) -> bool {
        matches!(h, Hold::Now(_))
    }

    fn is_held(h: Hold) -> bool {
        matches!(h, Hold::Held)
    }

    fn flusher(seed: u8) -> (tempfile::TempDir, Keypair, Arc<Store>, Flusher) {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = Keypair::from_seed([seed; 32]);
        let store = Arc::new(Store::open(dir.path().join("s.redb"), key.id()).expect("open"));
        let f = Flusher::start(store.clone(), None).expect("start");
        (dir, key, store, f)
    }

    /// A vote leaves only after the commit that holds it reports, and it is then on disk;
    /// effects leave in the order they were made, also one made with nothing to wait
    /// for behind one still held; records made during a commit go in the next one.
    /// Control: with nothing recorded, an effect leaves at once.
    #[tokio::test]
    async fn a_send_waits_for_the_commit_that_covers_it_and_order_is_kept() {
        let (_dir, key, store, mut f) = flusher(3);
        assert!(
            is_now(f.hold(broadcast(accept(&key, 1)))),
            "nothing to wait for"
        );

        // A vote, then its broadcast: held until the commit reports.
        f.vote(key_of(2), &accept(&key, 2));
        assert!(is_held(f.hold(broadcast(accept(&key, 2)))));
        f.kick();
        // Made with no record of its own, but behind a held one: waits too.
        assert!(is_held(f.hold(send(&key, 3, 100))));
        // Recorded while the first commit is in flight: goes with the next one.
        f.vote(key_of(4), &accept(&key, 4));
        assert!(is_held(f.hold(broadcast(accept(&key, 4)))));
        f.kick(); // a commit is in flight: nothing handed over
        assert_eq!(f.commits(), 1);

        let done = f.finished().await.expect("first commit");
        let first = f.complete(done).expect("durable");
        assert_eq!(first.records, 1);
        assert!(
            store.vote(key_of(2)).expect("read").is_some(),
            "on disk when released"
        );
        let order: Vec<Slot> = first.held.into_iter().map(sent).collect();
        assert_eq!(
            order,
            vec![2, 3],
            "released in order, the later vote still held"
        );
        assert_eq!(f.held(), 1);
        assert_eq!(
            f.commits(),
            2,
            "the waiting record went out when the first reported"
        );

        let done = f.finished().await.expect("second commit");
        let second = f.complete(done).expect("durable");
        assert!(store.vote(key_of(4)).expect("read").is_some());
        assert_eq!(
            second.held.into_iter().map(sent).collect::<Vec<_>>(),
            vec![4]
        );
        assert_eq!(f.held(), 0);
    }

    /// Sends waiting for a commit are bounded in bytes: past the budget a send is dropped
    /// (counted), a broadcast (this node's own vote) never is; the budget is given back
    /// when they leave. Control: within the budget, the same send is held.
    #[tokio::test]
    async fn held_sends_are_bounded_in_bytes() {
        let (_dir, key, _store, mut f) = flusher(5);
        f.vote(key_of(1), &accept(&key, 1));
        f.kick();
        let half = MAX_HELD_SEND_BYTES / 2;
        assert!(is_held(f.hold(send(&key, 2, half))));
        assert!(
            is_held(f.hold(send(&key, 3, half))),
            "control: within the budget"
        );
        assert!(matches!(f.hold(send(&key, 4, half)), Hold::Dropped));
        assert_eq!(f.dropped(), 1);
        assert!(is_held(f.hold(broadcast(accept(&key, 5)))), "never dropped");
        let done = f.finished().await.expect("commit");
        let released = f.complete(done).expect("durable");
        assert_eq!(released.held.len(), 3);
        // The budget is free again: with a commit in flight, a full one is held.
        f.vote(key_of(6), &accept(&key, 6));
        f.kick();
        assert!(is_held(f.hold(send(&key, 7, MAX_HELD_SEND_BYTES))));
    }

    /// A commit the store refuses (a conflicting vote: equivocation) is an error for the
    /// loop and releases nothing.
    #[tokio::test]
    async fn a_refused_commit_releases_nothing() {
        let (_dir, key, store, mut f) = flusher(4);
        store
            .record_vote(key_of(9), b"another vote")
            .expect("first vote");
        f.vote(key_of(9), &accept(&key, 9));
        assert!(is_held(f.hold(broadcast(accept(&key, 9)))));
        f.kick();
        let done = f.finished().await.expect("commit");
        assert!(matches!(
            f.complete(done),
            Err(StoreError::ConflictingVote { slot: 9, .. })
        ));
        assert_eq!(f.held(), 1, "the conflicting vote never leaves");
    }
}
