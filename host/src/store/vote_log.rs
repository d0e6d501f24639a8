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
//! A header `SPOREVL2 | salt: 16 random bytes`, then a sequence of frames
//! `len: u32 LE | len_check: 4 bytes | check: 8 bytes | group`, where `len_check` is the
//! first 4 bytes of SHA-256 over the salt, a domain tag, the frame's offset and `len`,
//! `check` the first 8 bytes of SHA-256 over the salt, the frame's offset and the group,
//! and the group is the postcard encoding of a list of [`Record`]s. The length's own check
//! keeps the search for a good frame after damage linear: a candidate offset costs a hash
//! of 30 bytes, and its body is hashed only when that passes (about one in 4 billion).
//! Without it (the `SPOREVL1` format, still read, and rewritten as `SPOREVL2` when
//! opened) every offset of a torn tail whose length field fitted hashed its whole body:
//! quadratic in the tail, whose bytes clients choose (an operation's input inside a
//! certificate record), seconds to minutes at a restart after a crash. The salt never leaves the node: certificate records
//! carry bytes peers and clients chose, and without it a record could embed what reads
//! as a good frame, which would make a torn tail look like damage (below) and keep the
//! node from starting. One group is one frame, written with one positioned write and
//! made durable with one `fdatasync` before [`VoteLog::append`] returns: a group is kept
//! whole or not at all.
//!
//! # Crashes and damage
//! Appends only ever extend the file, and a group is acknowledged only after its sync, so
//! a crash can leave at most a torn last frame: on open, a frame that is incomplete or
//! fails its check, with no good frame anywhere after it, is cut off with a warning.
//! Nothing acknowledged is behind it. A damaged frame *followed* by a good one is not a
//! torn write but damage, and a frame that passes its check but does not decode is not
//! this version's: both refuse to open the log ([`StoreError::Corrupt`]) rather than drop
//! votes the node may have sent. A failed write is cut back at once (or the log refuses
//! every later append), so a later group never follows garbage.
//!
//! # The anti-equivocation guard
//! A vote different from one already recorded under the same key is refused before
//! anything of its group is written ([`StoreError::ConflictingVote`]), across restarts:
//! the records are replayed into memory on open.
//!
//! # Size
//! Pruning (votes of decided slots, asked for by the storage thread only once their
//! decided entries are durable) and superseded certificate records only shrink the set in
//! memory; the file is rewritten with the live set (to a temporary file, synced, renamed
//! over the log, directory synced) once it is both past [`COMPACT_MIN_BYTES`] and four
//! times the live set. A crash during the rewrite leaves either the old log or the new
//! one, both complete. A rewrite that fails is reported and skipped (the group that
//! triggered it is durable already); one that fails after the rename poisons the log.

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

/// The largest frame the log writes or reads back (a group holds a few votes and
/// certificate messages of at most a peer frame, 4 MiB, each): a length past it is a
/// torn or damaged frame.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// Bytes of a frame header: the length, its check and the group's check.
const HEADER: usize = 4 + 4 + 8;

/// Bytes of a frame header of the first format: the length and the group's check.
const HEADER_V1: usize = 4 + 8;

/// The file's first bytes, before its salt.
const MAGIC: &[u8; 8] = b"SPOREVL2";

/// The first format's magic (read, then rewritten in the current one).
const MAGIC_V1: &[u8; 8] = b"SPOREVL1";

/// Bytes of the file header: the magic and the salt.
const FILE_HEADER: usize = 8 + 16;

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
    /// The highest view of any vote pruned so far (written with each prune).
    PrunedView(u64),
}

/// The log file and the live set it holds (see the module doc).
#[derive(Debug)]
pub struct VoteLog {
    path: PathBuf,
    file: File,
    /// Bytes of complete frames (where the next group is written).
    len: u64,
    votes: BTreeMap<VoteKey, Vec<u8>>,
    certs: Vec<(u64, Vec<u8>)>,
    /// Votes below this slot were pruned.
    pruned_below: u64,
    /// The highest view of a pruned vote: a recovery must resume above it, since the
    /// store's guard no longer holds those votes (`node/recovery.rs`).
    pruned_view: u64,
    /// A prune not yet written (it goes with the next group).
    pending_prune: Option<u64>,
    /// Set when a failed write could not be cut back: every later append is refused.
    poisoned: bool,
    /// The file's salt (see the module doc).
    salt: [u8; 16],
}

fn check(salt: &[u8; 16], at: u64, group: &[u8]) -> [u8; 8] {
    #[cfg(test)]
    tests::HASHED.with(|h| h.set(h.get() + group.len() as u64));
    let digest = Sha256::new()
        .chain_update(salt)
        .chain_update(at.to_le_bytes())
        .chain_update(group)
        .finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// The check of a frame's length field at offset `at`.
fn len_check(salt: &[u8; 16], at: u64, len: u32) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(salt)
        .chain_update(b"spore/vote-log/len")
        .chain_update(at.to_le_bytes())
        .chain_update(len.to_le_bytes())
        .finalize();
    let mut out = [0u8; 4];
    out.copy_from_slice(&digest[..4]);
    out
}

/// A new file header with a fresh salt.
fn file_header() -> ([u8; FILE_HEADER], [u8; 16]) {
    use rand_core::RngCore as _;
    let mut salt = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut salt);
    let mut header = [0u8; FILE_HEADER];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&salt);
    (header, salt)
}

/// Append the frame of `records` to `out`, whose first byte lands at `base` in the file.
fn frame(
    salt: &[u8; 16],
    base: u64,
    records: &[Record],
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let bytes = postcard::to_allocvec(records)?;
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|&l| (l as usize) <= MAX_FRAME_BYTES)
        .ok_or(StoreError::GroupTooLarge {
            bytes: bytes.len(),
            limit: MAX_FRAME_BYTES,
        })?;
    let at = base + out.len() as u64;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len_check(salt, at, len));
    out.extend_from_slice(&check(salt, at, &bytes));
    out.extend_from_slice(&bytes);
    Ok(())
}

/// The frame at `at`: its body if it is complete and passes its checks (`v1`: a frame of
/// the first format, without the length's check).
fn frame_at<'b>(salt: &[u8; 16], bytes: &'b [u8], at: usize, v1: bool) -> Option<&'b [u8]> {
    let head = if v1 { HEADER_V1 } else { HEADER };
    let header = bytes.get(at..at.checked_add(head)?)?;
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&header[..4]);
    let len = u32::from_le_bytes(raw) as usize;
    if len > MAX_FRAME_BYTES {
        return None;
    }
    if !v1 && header[4..8] != len_check(salt, at as u64, u32::from_le_bytes(raw)) {
        return None;
    }
    let body = bytes.get(at + head..at + head + len)?;
    (header[head - 8..] == check(salt, at as u64, body)).then_some(body)
}

/// The groups of the good frames at the start of `bytes` and how many bytes they take;
/// an error if the frames stop at damage rather than at a torn tail (module doc).
fn parse(salt: &[u8; 16], bytes: &[u8], v1: bool) -> Result<(Vec<Vec<Record>>, usize), StoreError> {
    let mut groups = Vec::new();
    let mut at = FILE_HEADER;
    let head = if v1 { HEADER_V1 } else { HEADER };
    while at < bytes.len() {
        let Some(body) = frame_at(salt, bytes, at, v1) else {
            // A torn write is the last thing in the file: a good frame after this point
            // means damage in the middle.
            if let Some(later) =
                (at + 1..bytes.len()).find(|&i| frame_at(salt, bytes, i, v1).is_some())
            {
                return Err(StoreError::Corrupt {
                    table: "vote log",
                    reason: format!(
                        "a damaged frame at byte {at}, with good frames after it (byte {later})"
                    ),
                });
            }
            break;
        };
        let group = postcard::from_bytes::<Vec<Record>>(body).map_err(|e| StoreError::Corrupt {
            table: "vote log",
            reason: format!("the frame at byte {at} passes its check but does not decode: {e}"),
        })?;
        groups.push(group);
        at += head + body.len();
    }
    Ok((groups, at))
}

/// An I/O error of the file at `path`, naming it.
fn io_at(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::VoteLog {
        path: path.to_path_buf(),
        source,
    }
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(dir))?;
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
            .open(path)
            .map_err(io_at(path))?;
        if !existed {
            sync_dir(path)?;
        }
        let mut bytes = std::fs::read(path).map_err(io_at(path))?;
        if bytes.len() < FILE_HEADER {
            // New, or a creation a crash interrupted before its header was synced (no
            // group is ever written before that): start the file.
            let (header, _) = file_header();
            file.set_len(0)
                .and_then(|()| file.write_all_at(&header, 0))
                .and_then(|()| file.sync_all())
                .map_err(io_at(path))?;
            bytes = header.to_vec();
        }
        let v1 = &bytes[..8] == MAGIC_V1;
        if &bytes[..8] != MAGIC && !v1 {
            return Err(StoreError::Corrupt {
                table: "vote log",
                reason: format!("{} is not a vote log (wrong magic)", path.display()),
            });
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[8..FILE_HEADER]);
        let (groups, good) = parse(&salt, &bytes, v1)?;
        if good < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                kept = good,
                dropped = bytes.len() - good,
                "vote log: cutting a torn tail (a write a crash interrupted)"
            );
            file.set_len(good as u64)
                .and_then(|()| file.sync_all())
                .map_err(io_at(path))?;
        }
        let mut log = VoteLog {
            path: path.to_path_buf(),
            file,
            len: good as u64,
            votes: BTreeMap::new(),
            certs: Vec::new(),
            pruned_below: 0,
            pruned_view: 0,
            pending_prune: None,
            poisoned: false,
            salt,
        };
        for record in groups.into_iter().flatten() {
            log.apply(record);
        }
        // A leftover of a rewrite a crash interrupted before its rename.
        let _ = std::fs::remove_file(tmp_path(path));
        if v1 {
            // Groups are appended in the current format only: the file is rewritten in it
            // first (a crash during the rewrite leaves the old file, read again).
            log.rewrite()?;
        }
        Ok(log)
    }

    /// Apply a record to the live set (replay and after a durable append alike).
    fn apply(&mut self, record: Record) {
        match record {
            Record::Vote(key, vote) => {
                self.votes.entry(key).or_insert(vote);
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
            Record::PrunedView(view) => {
                self.pruned_view = self.pruned_view.max(view);
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
        if let Some(view) = self.votes.keys().map(|k| k.view).max() {
            self.pruned_view = self.pruned_view.max(view);
        }
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
        let prune = self.pending_prune;
        if let Some(slot) = prune {
            records.push(Record::Prune(slot));
            records.push(Record::PrunedView(self.pruned_view));
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
        frame(&self.salt, self.len, &records, &mut buf)?;
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
            return Err(io_at(&self.path)(e));
        }
        self.len += buf.len() as u64;
        if prune.is_some() && self.pending_prune == prune {
            self.pending_prune = None;
        }
        for r in records {
            self.apply(r);
        }
        if let Err(e) = self.compact_if_worth_it() {
            // The group is durable; the rewrite is only an economy, tried again later.
            tracing::error!(path = %self.path.display(), error = %e, "vote log: rewriting failed");
        }
        Ok(outcome)
    }

    /// Forget the votes below `slot`; returns how many. Only for slots whose decided
    /// entries are durable: the prune is written with the next group (or by the next
    /// rewrite), and one lost to a crash only brings back votes of decided slots.
    pub fn prune_below(&mut self, slot: u64) -> u64 {
        let removed = self.prune_in_memory(slot);
        if removed > 0 {
            self.pending_prune = Some(slot);
        }
        removed
    }

    /// The highest view of any vote pruned so far (0 if none).
    pub fn pruned_view(&self) -> u64 {
        self.pruned_view
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

    /// Bytes of the live records (their contents; framing adds a few bytes each).
    fn live_bytes(&self) -> u64 {
        let votes: usize = self.votes.values().map(|v| v.len() + 24).sum();
        let certs: usize = self.certs.iter().map(|(_, m)| m.len() + 12).sum();
        (votes + certs) as u64
    }

    /// Rewrite the log with its live set when it has grown well past it.
    fn compact_if_worth_it(&mut self) -> Result<(), StoreError> {
        if self.len < COMPACT_MIN_BYTES || self.len < self.live_bytes().saturating_mul(4) {
            return Ok(());
        }
        self.rewrite()
    }

    /// Rewrite the file with the live set (module doc, "Size").
    fn rewrite(&mut self) -> Result<(), StoreError> {
        let mut live = Vec::with_capacity(self.votes.len() + self.certs.len() + 1);
        if self.pruned_below > 0 {
            live.push(Record::Prune(self.pruned_below));
        }
        if self.pruned_view > 0 {
            live.push(Record::PrunedView(self.pruned_view));
        }
        live.extend(self.votes.iter().map(|(k, v)| Record::Vote(*k, v.clone())));
        live.extend(self.certs.iter().map(|(s, m)| Record::Cert(*s, m.clone())));
        // Several frames if need be: the file is renamed into place whole, never torn.
        let (header, salt) = file_header();
        let mut buf = header.to_vec();
        let mut group: Vec<Record> = Vec::new();
        let mut group_bytes = 0usize;
        for record in live {
            let size = match &record {
                Record::Vote(_, v) | Record::Cert(_, v) => v.len() + 32,
                Record::Prune(_) | Record::PrunedView(_) => 16,
            };
            if !group.is_empty() && group_bytes + size > MAX_FRAME_BYTES / 2 {
                frame(&salt, 0, &group, &mut buf)?;
                group.clear();
                group_bytes = 0;
            }
            group.push(record);
            group_bytes += size;
        }
        if !group.is_empty() {
            frame(&salt, 0, &group, &mut buf)?;
        }
        let tmp = tmp_path(&self.path);
        let written =
            File::create(&tmp).and_then(|f| f.write_all_at(&buf, 0).and_then(|()| f.sync_all()));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_at(&tmp)(e));
        }
        if let Err(e) = std::fs::rename(&tmp, &self.path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_at(&self.path)(e));
        }
        // From here the file at `path` is the new log: this handle is of the old one.
        let reopened = sync_dir(&self.path).and_then(|()| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(io_at(&self.path))
        });
        match reopened {
            Ok(file) => {
                self.file = file;
                self.salt = salt;
                self.len = buf.len() as u64;
                self.pending_prune = None;
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }
}

/// Where a rewrite is written before it is renamed over the log.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Bytes of groups hashed by `check` on this thread.
        pub(super) static HASHED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// A log of the first format holding one vote, then `tail` (bytes of a torn write).
    fn v1_log(path: &Path, tail: &[u8]) -> anyhow::Result<()> {
        let salt = [7u8; 16];
        let mut bytes = MAGIC_V1.to_vec();
        bytes.extend_from_slice(&salt);
        let body = postcard::to_allocvec(&vec![Record::Vote(key(1, 0), b"first".to_vec())])?;
        let at = bytes.len() as u64;
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&check(&salt, at, &body));
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(tail);
        std::fs::write(path, bytes)?;
        Ok(())
    }

    /// Attacker: a client whose operation input repeats a length that fits (here 16 KiB)
    /// inside a certificate record, and a crash that tears that group. On open every
    /// offset of the tail is a candidate frame; without a check of the length field each
    /// candidate hashed its whole body (quadratic in the tail: a 512 KiB batch cost about
    /// 16 GiB of hashing, minutes with larger tails). Now a candidate costs a hash of its
    /// header. The control is the same tail in a log of the first format, read as it was
    /// (and then rewritten in the current one).
    #[test]
    fn a_torn_tail_is_searched_in_linear_time() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let tail: Vec<u8> = [0x00u8, 0x40, 0x00, 0x00].repeat(16 * 1024);
        // The current format.
        let path = dir.path().join("votes");
        let mut log = VoteLog::open(&path)?;
        log.append(&[(key(1, 0), b"first".to_vec())], &[])?;
        drop(log);
        let mut bytes = std::fs::read(&path)?;
        let good = bytes.len();
        bytes.extend_from_slice(&tail);
        std::fs::write(&path, &bytes)?;
        HASHED.with(|h| h.set(0));
        let log = VoteLog::open(&path)?;
        let hashed = HASHED.with(std::cell::Cell::get);
        assert_eq!(log.votes_from(0), vec![(key(1, 0), b"first".to_vec())]);
        assert_eq!(
            std::fs::metadata(&path)?.len(),
            good as u64,
            "the tail is cut"
        );
        assert!(hashed < 4 * bytes.len() as u64, "{hashed} bytes hashed");
        drop(log);
        // Control: the first format hashes every candidate's body.
        let old = dir.path().join("old-votes");
        v1_log(&old, &tail)?;
        HASHED.with(|h| h.set(0));
        let mut log = VoteLog::open(&old)?;
        let hashed_v1 = HASHED.with(std::cell::Cell::get);
        assert!(
            hashed_v1 > 100 * tail.len() as u64,
            "{hashed_v1} bytes hashed"
        );
        // It was read whole and is now of the current format, appended to as such.
        assert_eq!(log.votes_from(0), vec![(key(1, 0), b"first".to_vec())]);
        assert_eq!(&std::fs::read(&old)?[..8], MAGIC);
        log.append(&[(key(2, 0), b"second".to_vec())], &[])?;
        drop(log);
        assert_eq!(VoteLog::open(&old)?.votes_from(0).len(), 2);
        Ok(())
    }

    fn key(slot: u64, phase: u8) -> VoteKey {
        VoteKey {
            slot,
            view: 0,
            phase,
        }
    }

    /// The highest view of a pruned vote survives the prune, a reopen and a rewrite: a
    /// recovery must resume above it (`node/recovery.rs`), since the guard no longer
    /// holds the vote. Attacker: none; an operator choosing a resume view from
    /// `spore recover status`, which without it showed only the views still held, so a
    /// view change the node signed in an abandoned slot and pruned since could be signed
    /// again differently, a conflicting-votes proof against an honest node. (The live
    /// votes, all that status read before, no longer hold the view: checked first.)
    #[test]
    fn the_view_of_a_pruned_vote_is_remembered() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("votes");
        let mut log = VoteLog::open(&path)?;
        let high = VoteKey {
            slot: 1,
            view: 5,
            phase: 7,
        };
        log.append(&[(high, b"view change".to_vec())], &[])?;
        assert_eq!(log.prune_below(3), 1);
        log.append(&[(key(3, 0), b"later".to_vec())], &[])?;
        assert!(log.votes_from(0).iter().all(|(k, _)| k.view < 5));
        assert_eq!(log.pruned_view(), 5);
        drop(log);
        let mut log = VoteLog::open(&path)?;
        assert_eq!(log.pruned_view(), 5, "after a reopen");
        log.rewrite()?;
        drop(log);
        assert_eq!(VoteLog::open(&path)?.pruned_view(), 5, "after a rewrite");
        Ok(())
    }

    /// An I/O error says which file it is about.
    #[test]
    fn an_io_error_names_the_file() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        // A directory where the log should be: it cannot be read as a file.
        let path = dir.path().join("node.redb.votes");
        std::fs::create_dir(&path)?;
        let err = VoteLog::open(&path).err().map(|e| e.to_string());
        let err = err.ok_or_else(|| anyhow::anyhow!("a directory opened as a vote log"))?;
        assert!(
            err.starts_with("vote log ") && err.contains(&path.display().to_string()),
            "{err}"
        );
        Ok(())
    }

    /// Votes and certificate records come back after reopening; a conflicting vote is
    /// refused before any record of its group is written; pruning and superseded
    /// certificates survive a reopen.
    #[test]
    fn records_replay_and_the_guard_holds() -> anyhow::Result<()> {
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

    /// A log at `path` of two groups, each written by its own opening: the vote `first` of
    /// slot 1, then `second_votes` and `second_certs`. Returns the bytes the first group
    /// ends at and the whole file.
    fn two_groups(
        path: &Path,
        second_votes: &[(VoteKey, Vec<u8>)],
        second_certs: &[(u64, Vec<u8>)],
    ) -> anyhow::Result<(usize, Vec<u8>)> {
        VoteLog::open(path)?.append(&[(key(1, 0), b"first".to_vec())], &[])?;
        let first = std::fs::metadata(path)?.len() as usize;
        VoteLog::open(path)?.append(second_votes, second_certs)?;
        Ok((first, std::fs::read(path)?))
    }

    /// A torn last group (any prefix of it) is cut off on open and the groups before it
    /// are intact; a flipped byte in the last frame is caught by its check. The control:
    /// without the check, the flipped record would come back as a vote nobody made.
    #[test]
    fn a_torn_tail_is_cut_and_nothing_before_it_is_lost() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("votes");
        let (first, full) = two_groups(&path, &[(key(2, 0), b"second vote".to_vec())], &[])?;
        for cut in first..full.len() {
            std::fs::write(&path, &full[..cut])?;
            let mut log = VoteLog::open(&path)?;
            assert_eq!(
                log.votes_from(0),
                vec![(key(1, 0), b"first".to_vec())],
                "cut at {cut}"
            );
            assert_eq!(
                std::fs::metadata(&path)?.len(),
                first as u64,
                "cut at {cut}"
            );
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
        let unchecked: Option<Vec<Record>> = postcard::from_bytes(&flipped[first + HEADER..]).ok();
        assert_eq!(
            unchecked,
            Some(vec![Record::Vote(key(2, 0), b"second votd".to_vec())])
        );
        Ok(())
    }

    /// The log is rewritten with its live set once it is large and mostly dead, and the
    /// rewrite keeps every live record.
    #[test]
    fn a_log_of_mostly_dead_records_is_rewritten() -> anyhow::Result<()> {
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

    /// A group is kept whole or not at all: cut anywhere, a group of a vote and a
    /// certificate record leaves neither (one frame per group; with a frame per record,
    /// a cut between them would keep the vote alone).
    #[test]
    fn a_torn_group_leaves_none_of_its_records() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("votes");
        let (first, full) = two_groups(
            &path,
            &[(key(2, 0), b"vote".to_vec())],
            &[(2, b"cert".to_vec())],
        )?;
        for cut in first..full.len() {
            std::fs::write(&path, &full[..cut])?;
            let log = VoteLog::open(&path)?;
            assert_eq!(log.vote(key(2, 0)), None, "cut at {cut}");
            assert!(log.certs().is_empty(), "cut at {cut}");
        }
        std::fs::write(&path, &full)?;
        let log = VoteLog::open(&path)?;
        assert_eq!(log.vote(key(2, 0)), Some(b"vote".to_vec()));
        assert_eq!(log.certs(), vec![b"cert".to_vec()]);
        Ok(())
    }

    /// Damage with good frames after it is not a torn write: the log refuses to open
    /// rather than drop what follows. The control is the same damage at the end, which
    /// is cut.
    #[test]
    fn damage_in_the_middle_is_refused_not_cut() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("votes");
        {
            let mut log = VoteLog::open(&path)?;
            log.append(&[(key(1, 0), b"first".to_vec())], &[])?;
            log.append(&[(key(2, 0), b"second".to_vec())], &[])?;
        }
        let full = std::fs::read(&path)?;
        let mut damaged = full.clone();
        damaged[FILE_HEADER + HEADER + 2] ^= 0x40;
        std::fs::write(&path, &damaged)?;
        assert!(matches!(
            VoteLog::open(&path),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(std::fs::read(&path)?, damaged, "nothing was cut");
        let mut at_end = full.clone();
        let last = at_end.len() - 1;
        at_end[last] ^= 0x40;
        std::fs::write(&path, &at_end)?;
        assert_eq!(VoteLog::open(&path)?.votes_from(0).len(), 1);
        Ok(())
    }

    /// Certificate records: a record of a slot supersedes those of earlier slots, an
    /// identical one is kept once, one of an earlier slot is added beside later ones
    /// (what the flusher did with the records in the database), and a reopen gives the
    /// same list in the same order.
    #[test]
    fn certificate_records_supersede_and_replay_alike() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("votes");
        let mut log = VoteLog::open(&path)?;
        log.append(&[], &[(1, b"a".to_vec()), (1, b"b".to_vec())])?;
        log.append(&[], &[(1, b"a".to_vec())])?;
        assert_eq!(log.certs(), vec![b"a".to_vec(), b"b".to_vec()]);
        log.append(&[], &[(2, b"c".to_vec())])?;
        assert_eq!(log.certs(), vec![b"c".to_vec()]);
        log.append(&[], &[(1, b"d".to_vec())])?;
        assert_eq!(log.certs(), vec![b"c".to_vec(), b"d".to_vec()]);
        let before = log.certs();
        drop(log);
        assert_eq!(VoteLog::open(&path)?.certs(), before);
        Ok(())
    }

    /// A certificate record carries bytes peers chose. One that embeds what reads as a
    /// good frame must not make its own torn group look like damage in the middle (the
    /// node would refuse to start): frames are checked under the file's secret salt and
    /// their offset. The control is the same record built with the real salt, which an
    /// attacker would need: then the torn tail is refused as damage.
    #[test]
    fn bytes_peers_chose_cannot_pose_as_a_frame() -> anyhow::Result<()> {
        for knows_salt in [false, true] {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("votes");
            let mut log = VoteLog::open(&path)?;
            log.append(&[(key(1, 0), b"first".to_vec())], &[])?;
            let base = log.file_len();
            let salt: [u8; 16] = if knows_salt {
                let bytes = std::fs::read(&path)?;
                let mut salt = [0u8; 16];
                salt.copy_from_slice(&bytes[8..FILE_HEADER]);
                salt
            } else {
                [0u8; 16]
            };
            // The cert's bytes start after the frame header and the group's encoding of
            // (one record, variant Cert, slot 2, length of the bytes): 4 bytes.
            let inner_at = base + HEADER as u64 + 4;
            let mut fake = Vec::new();
            frame(
                &salt,
                inner_at,
                &[Record::Vote(key(9, 0), b"forged".to_vec())],
                &mut fake,
            )?;
            let mut cert = fake.clone();
            cert.extend_from_slice(&[0u8; 16]);
            log.append(&[], &[(2, cert)])?;
            drop(log);
            let full = std::fs::read(&path)?;
            // Torn after the embedded frame, inside the padding.
            let cut = (inner_at as usize) + fake.len() + 4;
            assert!(cut < full.len());
            std::fs::write(&path, &full[..cut])?;
            let opened = VoteLog::open(&path);
            if knows_salt {
                assert!(matches!(opened, Err(StoreError::Corrupt { .. })), "control");
            } else {
                let log = opened?;
                assert_eq!(log.votes_from(0), vec![(key(1, 0), b"first".to_vec())]);
                assert!(log.certs().is_empty());
            }
        }
        Ok(())
    }
}
