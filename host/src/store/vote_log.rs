//! This node's votes and the certificate records of slots in flight, in an append-only log
//! beside the database: what must be durable before a vote leaves the node, written with
//! one `fdatasync` per group and none of a B-tree's bookkeeping.
//!
//! # Why not the database
//! Every vote of every phase is persisted before it is sent, several times per slot. A
//! redb transaction per group cost about 0.36 ms of CPU on the storage thread beside its
//! sync (its page allocator and region headers are rewritten on every durable commit):
//! 28% of a node's CPU at light load, measured with `perf`. These records are small, live
//! for a few slots and are read back only when the node starts, which is what a log is
//! for. Decided entries, snapshots and modules stay in redb, which serves range reads.
//!
//! # Format
//! A sequence of frames `len: u32 LE | check: 8 bytes | record`, where `check` is the
//! first 8 bytes of SHA-256 over the record and the record is the postcard encoding of
//! [`Record`]. A group of records is written with one positioned write and made durable
//! with one `fdatasync` before [`VoteLog::append`] returns.
//!
//! # Crashes
//! Appends only ever extend the file, and a group is acknowledged only after its sync, so
//! a crash can leave at most a torn last group: on open, the log is read up to the first
//! frame that is incomplete or fails its check, and cut there. Nothing acknowledged is
//! ever behind that point. A failed write is cut back at once (or the log refuses every
//! later append), so a later group never follows garbage.
//!
//! # The anti-equivocation guard
//! A vote different from one already recorded under the same key is refused before
//! anything of its group is written ([`StoreError::ConflictingVote`]), across restarts:
//! the records are replayed into memory on open.
//!
//! # Size
//! Pruning (votes of decided slots) and superseded certificate records only shrink the
//! set in memory; the file is rewritten with the live set (to a temporary file, synced,
//! renamed over the log, directory synced) once it is both past [`COMPACT_MIN_BYTES`] and
//! four times the live set. A crash during the rewrite leaves either the old log or the
//! new one, both complete.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::StoreError;
use super::records::{Recorded, VoteKey};

/// The log is rewritten with its live records once it is at least this large (and four
/// times the live set).
pub const COMPACT_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// The largest record the log accepts or reads back (a certificate record is at most a
/// peer frame, 4 MiB): a length past it is a torn or corrupt frame.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of a frame header: the length and the check.
const HEADER: usize = 4 + 8;

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Record {
    /// This node's vote under a key (never two different ones per key).
    Vote(VoteKey, Vec<u8>),
    /// Another member's message that is part of a prepared certificate, for its slot:
    /// records of earlier slots are superseded by it.
    Cert(u64, Vec<u8>),
    /// Votes below this slot are forgotten.
    Prune(u64),
}

/// The log file and the live set it holds (see the module doc).
#[derive(Debug)]
pub struct VoteLog {
    path: PathBuf,
    file: File,
    /// Bytes of complete records (where the next group is written).
    len: u64,
    votes: BTreeMap<VoteKey, Vec<u8>>,
    certs: Vec<(u64, Vec<u8>)>,
    /// Votes below this slot were pruned and are not logged again.
    pruned_below: u64,
    /// A prune not yet written (it goes with the next group; losing it loses nothing).
    pending_prune: Option<u64>,
    /// Set when a failed write could not be cut back: every later append is refused.
    poisoned: bool,
}

fn check(record: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(record);
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

fn frame(record: &Record, out: &mut Vec<u8>) -> Result<(), StoreError> {
    let bytes = postcard::to_allocvec(record)?;
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|&l| (l as usize) <= MAX_RECORD_BYTES)
        .ok_or_else(|| StoreError::Corrupt {
            table: "vote log",
            reason: format!("a record of {} bytes is over the limit", bytes.len()),
        })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&check(&bytes));
    out.extend_from_slice(&bytes);
    Ok(())
}

/// The complete, checked records at the start of `bytes`, and how many bytes they take.
fn parse(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let mut len = [0u8; 4];
        len.copy_from_slice(&header[..4]);
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_RECORD_BYTES {
            break;
        }
        let Some(body) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if header[4..] != check(body) {
            break;
        }
        let Ok(record) = postcard::from_bytes::<Record>(body) else {
            break;
        };
        records.push(record);
        at += HEADER + len;
    }
    (records, at)
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl VoteLog {
    /// Open (creating if needed) the log at `path` and replay it; a torn tail is cut off.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if !existed {
            sync_dir(path)?;
        }
        let bytes = std::fs::read(path)?;
        let (records, good) = parse(&bytes);
        if good < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                kept = good,
                dropped = bytes.len() - good,
                "vote log: cutting a torn or unreadable tail (a write a crash interrupted)"
            );
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        let mut log = VoteLog {
            path: path.to_path_buf(),
            file,
            len: good as u64,
            votes: BTreeMap::new(),
            certs: Vec::new(),
            pruned_below: 0,
            pending_prune: None,
            poisoned: false,
        };
        for record in records {
            log.apply(record);
        }
        Ok(log)
    }

    /// Apply a record to the live set (replay and after a durable append alike).
    fn apply(&mut self, record: Record) {
        match record {
            Record::Vote(key, vote) => {
                if key.slot >= self.pruned_below {
                    self.votes.entry(key).or_insert(vote);
                }
            }
            Record::Cert(slot, msg) => {
                self.certs.retain(|(s, _)| *s >= slot);
                if !self.certs.iter().any(|(_, m)| *m == msg) {
                    self.certs.push((slot, msg));
                }
            }
            Record::Prune(slot) => {
                self.prune_in_memory(slot);
            }
        }
    }

    fn prune_in_memory(&mut self, slot: u64) -> u64 {
        let kept = self.votes.split_off(&VoteKey {
            slot,
            view: 0,
            phase: 0,
        });
        let removed = self.votes.len() as u64;
        self.votes = kept;
        self.pruned_below = self.pruned_below.max(slot);
        removed
    }

    /// Durably record `votes` (this node's) and `certs` (others' certificate messages, by
    /// slot), all or nothing: a vote that conflicts with a recorded one (or with another
    /// of the group) refuses the whole group before anything is written. Returns what
    /// became of each vote.
    pub fn append(
        &mut self,
        votes: &[(VoteKey, Vec<u8>)],
        certs: &[(u64, Vec<u8>)],
    ) -> Result<Vec<Recorded>, StoreError> {
        if self.poisoned {
            return Err(StoreError::Corrupt {
                table: "vote log",
                reason: "an earlier write failed and could not be undone".into(),
            });
        }
        let mut outcome = Vec::with_capacity(votes.len());
        let mut fresh: BTreeMap<VoteKey, &[u8]> = BTreeMap::new();
        for (key, vote) in votes {
            let known = self
                .votes
                .get(key)
                .map(Vec::as_slice)
                .or_else(|| fresh.get(key).copied());
            match known {
                Some(v) if v == vote.as_slice() => outcome.push(Recorded::AlreadyPresent),
                Some(_) => {
                    return Err(StoreError::ConflictingVote {
                        slot: key.slot,
                        view: key.view,
                        phase: key.phase,
                    });
                }
                None => {
                    fresh.insert(*key, vote);
                    outcome.push(Recorded::New);
                }
            }
        }
        let mut records: Vec<Record> = Vec::with_capacity(fresh.len() + certs.len() + 1);
        if let Some(slot) = self.pending_prune.take() {
            records.push(Record::Prune(slot));
        }
        records.extend(
            fresh
                .into_iter()
                .map(|(key, vote)| Record::Vote(key, vote.to_vec())),
        );
        records.extend(certs.iter().map(|(s, m)| Record::Cert(*s, m.clone())));
        if records.is_empty() {
            return Ok(outcome);
        }
        let mut buf = Vec::new();
        for r in &records {
            frame(r, &mut buf)?;
        }
        if let Err(e) = self
            .file
            .write_all_at(&buf, self.len)
            .and_then(|()| self.file.sync_data())
        {
            // Cut the partial group back so that no later group follows it.
            if self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_data())
                .is_err()
            {
                self.poisoned = true;
            }
            return Err(e.into());
        }
        self.len += buf.len() as u64;
        for r in records {
            self.apply(r);
        }
        self.compact_if_worth_it()?;
        Ok(outcome)
    }

    /// Forget the votes below `slot` (their slots are decided and persisted); returns how
    /// many. Written with the next group, or dropped by the next rewrite: a prune lost to
    /// a crash only brings back votes of decided slots, which nothing reads.
    pub fn prune_below(&mut self, slot: u64) -> u64 {
        let removed = self.prune_in_memory(slot);
        if removed > 0 {
            self.pending_prune = Some(slot);
        }
        removed
    }

    /// The vote under `key`.
    pub fn vote(&self, key: VoteKey) -> Option<Vec<u8>> {
        self.votes.get(&key).cloned()
    }

    /// The votes from `slot` on, in key order.
    pub fn votes_from(&self, slot: u64) -> Vec<(VoteKey, Vec<u8>)> {
        self.votes
            .range(
                VoteKey {
                    slot,
                    view: 0,
                    phase: 0,
                }..,
            )
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// The live certificate records (message bytes), oldest first.
    pub fn certs(&self) -> Vec<Vec<u8>> {
        self.certs.iter().map(|(_, m)| m.clone()).collect()
    }

    /// Bytes of the log file's complete records.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    fn live_frames(&self) -> Result<Vec<u8>, StoreError> {
        let mut buf = Vec::new();
        if self.pruned_below > 0 {
            frame(&Record::Prune(self.pruned_below), &mut buf)?;
        }
        for (key, vote) in &self.votes {
            frame(&Record::Vote(*key, vote.clone()), &mut buf)?;
        }
        for (slot, msg) in &self.certs {
            frame(&Record::Cert(*slot, msg.clone()), &mut buf)?;
        }
        Ok(buf)
    }

    /// Rewrite the log with its live set when it has grown well past it.
    fn compact_if_worth_it(&mut self) -> Result<(), StoreError> {
        if self.len < COMPACT_MIN_BYTES {
            return Ok(());
        }
        let live = self.live_frames()?;
        if self.len < (live.len() as u64).saturating_mul(4) {
            return Ok(());
        }
        let mut tmp_path = self.path.clone().into_os_string();
        tmp_path.push(".tmp");
        let tmp_path = PathBuf::from(tmp_path);
        {
            let tmp = File::create(&tmp_path)?;
            tmp.write_all_at(&live, 0)?;
            tmp.sync_all()?;
        }
        std::fs::rename(&tmp_path, &self.path)?;
        sync_dir(&self.path)?;
        self.file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        self.len = live.len() as u64;
        self.pending_prune = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(slot: u64, phase: u8) -> VoteKey {
        VoteKey {
            slot,
            view: 0,
            phase,
        }
    }

    /// Votes and certificate records come back after reopening; a conflicting vote is
    /// refused before any record of its group is written; pruning and superseded
    /// certificates survive a reopen.
    #[test]
    fn records_replay_and_the_guard_holds() -> Result<(), StoreError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("votes");
        {
            let mut log = VoteLog::open(&path)?;
            let got = log.append(
                &[(key(1, 0), b"a".to_vec()), (key(2, 0), b"b".to_vec())],
                &[(1, b"tally 1".to_vec())],
            )?;
            assert_eq!(got, vec![Recorded::New, Recorded::New]);
            let err = log.append(
                &[(key(3, 0), b"c".to_vec()), (key(1, 0), b"other".to_vec())],
                &[],
            );
            assert!(matches!(
                err,
                Err(StoreError::ConflictingVote { slot: 1, .. })
            ));
            // Two different votes for one key within a group: refused too.
            let err = log.append(
                &[(key(4, 0), b"x".to_vec()), (key(4, 0), b"y".to_vec())],
                &[],
            );
            assert!(matches!(
                err,
                Err(StoreError::ConflictingVote { slot: 4, .. })
            ));
            log.append(&[], &[(2, b"tally 2".to_vec())])?;
            assert_eq!(log.prune_below(2), 1);
        }
        let mut log = VoteLog::open(&path)?;
        assert_eq!(log.vote(key(3, 0)), None);
        assert_eq!(log.vote(key(4, 0)), None);
        assert_eq!(
            log.votes_from(0),
            vec![(key(1, 0), b"a".to_vec()), (key(2, 0), b"b".to_vec())],
            "the prune was never written"
        );
        assert_eq!(log.certs(), vec![b"tally 2".to_vec()]);
        assert_eq!(
            log.append(&[(key(2, 0), b"b".to_vec())], &[])?,
            vec![Recorded::AlreadyPresent]
        );
        assert_eq!(log.prune_below(2), 1);
        log.append(&[(key(5, 1), b"e".to_vec())], &[])?;
        drop(log);
        let log = VoteLog::open(&path)?;
        assert_eq!(
            log.votes_from(0),
            vec![(key(2, 0), b"b".to_vec()), (key(5, 1), b"e".to_vec())]
        );
        Ok(())
    }

    /// A torn last group (any prefix of it) is cut off on open and the groups before it
    /// are intact; a flipped byte in the last frame is caught by its check. The control:
    /// without the check, the flipped record would come back as a vote nobody made.
    #[test]
    fn a_torn_tail_is_cut_and_nothing_before_it_is_lost() -> Result<(), StoreError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("votes");
        {
            let mut log = VoteLog::open(&path)?;
            log.append(&[(key(1, 0), b"first".to_vec())], &[])?;
        }
        let first = std::fs::metadata(&path)?.len();
        {
            let mut log = VoteLog::open(&path)?;
            log.append(&[(key(2, 0), b"second vote".to_vec())], &[])?;
        }
        let full = std::fs::read(&path)?;
        for cut in first as usize..full.len() {
            std::fs::write(&path, &full[..cut])?;
            let mut log = VoteLog::open(&path)?;
            assert_eq!(
                log.votes_from(0),
                vec![(key(1, 0), b"first".to_vec())],
                "cut at {cut}"
            );
            assert_eq!(std::fs::metadata(&path)?.len(), first, "cut at {cut}");
            // The next group lands right after the good records.
            log.append(&[(key(3, 0), b"third".to_vec())], &[])?;
            drop(log);
            assert_eq!(VoteLog::open(&path)?.votes_from(0).len(), 2, "cut at {cut}");
        }
        let mut flipped = full.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(&path, &flipped)?;
        let log = VoteLog::open(&path)?;
        assert_eq!(log.vote(key(2, 0)), None);
        // Control: without the check, the flipped frame reads as a vote nobody made.
        let unchecked: Option<Record> =
            postcard::from_bytes(&flipped[first as usize + HEADER..]).ok();
        assert_eq!(
            unchecked,
            Some(Record::Vote(key(2, 0), b"second votd".to_vec()))
        );
        Ok(())
    }

    /// The log is rewritten with its live set once it is large and mostly dead, and the
    /// rewrite keeps every live record.
    #[test]
    fn a_log_of_mostly_dead_records_is_rewritten() -> Result<(), StoreError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("votes");
        let mut log = VoteLog::open(&path)?;
        let big = vec![7u8; 256 * 1024];
        for slot in 0..80u64 {
            log.prune_below(slot.saturating_sub(2));
            log.append(
                &[(key(slot, 0), slot.to_le_bytes().to_vec())],
                &[(slot, [big.as_slice(), &slot.to_le_bytes()].concat())],
            )?;
        }
        // 80 records of 256 KiB went in (20 MiB): without the rewrite the file would hold
        // them all.
        let on_disk = std::fs::metadata(&path)?.len();
        assert_eq!(on_disk, log.file_len());
        assert!(on_disk < COMPACT_MIN_BYTES, "never rewritten: {on_disk}");
        drop(log);
        let log = VoteLog::open(&path)?;
        assert_eq!(
            log.votes_from(0)
                .iter()
                .map(|(k, _)| k.slot)
                .collect::<Vec<_>>(),
            vec![77, 78, 79]
        );
        assert_eq!(log.certs().len(), 1);
        Ok(())
    }
}
