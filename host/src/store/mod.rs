//! Durable storage of a node: one redb file (decided log, state snapshots, module blobs,
//! active modules, genesis and node metadata) and, beside it, an append-only log of the
//! node's own votes and of the certificate records of slots in flight ([`vote_log`]).
//!
//! # Design
//! - Every database write goes through [`Store::write`], one redb transaction committed with
//!   [`redb::Durability::Immediate`]: when it returns `Ok`, the data is on disk (fsynced)
//!   and survives a crash or `SIGKILL` at any later moment; a crash before that leaves
//!   none of the transaction's writes. Several writes can share a transaction (e.g. a
//!   decided entry and the state snapshot it produces).
//! - [`Store::record_vote`] and [`Store::record_votes`] persist votes *before* the caller
//!   sends them (one `fdatasync` per group, in the vote log) and refuse a different vote
//!   under the same (slot, view, phase): a restarted node can never be made to equivocate
//!   by its own storage. Votes and certificate records of a database written before the
//!   log existed are moved into it on open.
//! - The decided log and the genesis are write-once per key: identical rewrites are
//!   no-ops, different ones are refused.
//! - Module blobs are stored under their SHA-256, which is checked again on every read;
//!   a corrupted blob is reported, never returned.
//! - Values are opaque bytes (see [`schema`]); the layers above keep their own canonical
//!   encoding. [`Store::open`] binds the file to one node id and schema version.
//! - Calls block (each write waits for an fsync): from async code, call them through
//!   `tokio::task::spawn_blocking` or a dedicated storage thread. `Store` is `Send + Sync`;
//!   readers never wait for writers, and writers are serialised by redb.
//!
//! # Layout
//! [`schema`]: tables and version; [`records`]: [`VoteKey`], [`ActiveModule`],
//! [`Recorded`]; [`writer`]: [`Writer`], the write operations; [`vote_log`]: the log of
//! votes and certificate records; [`error`]: [`StoreError`].

pub mod error;
pub mod records;
pub mod schema;
pub mod vote_log;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use redb::{Database, Durability, ReadableTable, ReadableTableMetadata};
use sha2::{Digest as _, Sha256};

pub use error::StoreError;
pub use records::{ActiveModule, Recorded, VoteKey};
pub use vote_log::VoteLog;
pub use writer::Writer;

use crate::core::types::{Digest, NodeId};
use schema::{
    ACTIVE, DECIDED, GENESIS, META, META_NODE_ID, META_SCHEMA, MODULES, RESERVED_PREFIX,
    SCHEMA_VERSION, SCHEMA_VERSION_BEFORE_VOTE_LOG, SNAPSHOTS, VOTES,
};

/// Metadata key under which certificate records were kept before the vote log (read
/// once, on open, to move them into the log).
pub const LEGACY_CERT_RECORDS: &str = "node.cert-records";

/// A node's database and vote log.
pub struct Store {
    db: Database,
    node_id: NodeId,
    path: PathBuf,
    votes: Mutex<VoteLog>,
}

/// The vote log's path for the database at `db`: the same name with `.votes` appended.
pub fn vote_log_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".votes");
    PathBuf::from(name)
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("node_id", &self.node_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

pub(crate) fn decode_active(bytes: &[u8]) -> Result<ActiveModule, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        table: "active_modules",
        reason: e.to_string(),
    })
}

impl Store {
    /// Opens (creating if needed) the database at `path` for node `node_id`. A new file is
    /// stamped with the node id and [`SCHEMA_VERSION`]; an existing one must carry the same
    /// ones. redb repairs a file left by a crash before this returns.
    pub fn open(path: impl AsRef<Path>, node_id: NodeId) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = Database::create(&path)?;
        let log_path = vote_log_path(&path);
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        let found = {
            // Create every table so readers never meet a missing one.
            txn.open_table(DECIDED)?;
            txn.open_table(VOTES)?;
            txn.open_table(SNAPSHOTS)?;
            txn.open_table(MODULES)?;
            txn.open_table(ACTIVE)?;
            txn.open_table(GENESIS)?;
            let mut meta = txn.open_table(META)?;
            let found = meta.get(META_SCHEMA)?.map(|v| v.value().to_vec());
            match &found {
                None => {
                    meta.insert(META_SCHEMA, SCHEMA_VERSION.to_be_bytes().as_slice())?;
                    meta.insert(META_NODE_ID, node_id.as_bytes().as_slice())?;
                    None
                }
                Some(version) => {
                    let version = <[u8; 4]>::try_from(version.as_slice())
                        .map(u32::from_be_bytes)
                        .map_err(|_| StoreError::Corrupt {
                            table: "meta",
                            reason: "schema version is not 4 bytes".into(),
                        })?;
                    if version != SCHEMA_VERSION && version != SCHEMA_VERSION_BEFORE_VOTE_LOG {
                        return Err(StoreError::SchemaVersion {
                            found: version,
                            expected: SCHEMA_VERSION,
                        });
                    }
                    let stored = meta
                        .get(META_NODE_ID)?
                        .ok_or(StoreError::NotInitialised)?
                        .value()
                        .to_vec();
                    if stored.as_slice() != node_id.as_bytes().as_slice() {
                        return Err(StoreError::WrongNode {
                            found: hex::encode(&stored),
                            expected: node_id.to_hex(),
                        });
                    }
                    Some(version)
                }
            }
        };
        // A file of this version always has its vote log: without it the node would have
        // forgotten the votes it sent, and could sign different ones.
        if found == Some(SCHEMA_VERSION) && !log_path.exists() {
            return Err(StoreError::VoteLogMissing(log_path));
        }
        // The vote log exists (created and synced) before a new file's version stamp is
        // committed: a crash between the two left a stamped file without a log, which
        // every later start refused as `VoteLogMissing` although no vote was ever signed.
        let votes = Mutex::new(VoteLog::open(&log_path)?);
        txn.commit()?;
        let store = Self {
            db,
            node_id,
            path,
            votes,
        };
        if found == Some(SCHEMA_VERSION_BEFORE_VOTE_LOG) {
            store.move_legacy_votes()?;
        }
        Ok(store)
    }

    /// Votes and certificate records a database written before the vote log holds: moved
    /// into the log (durably), then removed from the database.
    fn move_legacy_votes(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read()?;
        let votes: Vec<(VoteKey, Vec<u8>)> = txn
            .open_table(VOTES)?
            .range::<(u64, u64, u8)>(..)?
            .map(|item| {
                let (k, v) = item?;
                Ok((VoteKey::from_tuple(k.value()), v.value().to_vec()))
            })
            .collect::<Result<_, StoreError>>()?;
        let certs = txn
            .open_table(META)?
            .get(LEGACY_CERT_RECORDS)?
            .map(|v| v.value().to_vec());
        drop(txn);
        let certs: Vec<(u64, Vec<u8>)> = certs
            .and_then(|bytes| {
                postcard::from_bytes::<Vec<crate::core::consensus::Message>>(&bytes)
                    .inspect_err(|e| {
                        tracing::warn!(error = %e, "certificate records of the database undecodable; not moved")
                    })
                    .ok()
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|m| Some((m.slot()?, crate::core::crypto::canonical_bytes(m))))
            .collect();
        // Durable in the log before they leave the file, and the version raised in the
        // same transaction that removes them: a crash at any point moves them again
        // (identical votes are no-ops) or finds them moved.
        self.vote_log().append(&votes, &certs)?;
        self.write(|w| {
            w.txn.open_table(VOTES)?.retain(|_, _| false)?;
            let mut meta = w.txn.open_table(META)?;
            meta.remove(LEGACY_CERT_RECORDS)?;
            meta.insert(META_SCHEMA, SCHEMA_VERSION.to_be_bytes().as_slice())?;
            Ok(())
        })
    }

    fn vote_log(&self) -> MutexGuard<'_, VoteLog> {
        // A panic while the log was held left it consistent: every change to its state
        // follows a completed write (see `VoteLog::append`).
        self.votes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node id stamped in an existing database, without opening it for a node.
    pub fn peek_node_id(path: impl AsRef<Path>) -> Result<NodeId, StoreError> {
        let db = Database::open(path.as_ref())?;
        let txn = db.begin_read()?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Err(StoreError::NotInitialised),
            Err(e) => return Err(e.into()),
        };
        let bytes = meta
            .get(META_NODE_ID)?
            .ok_or(StoreError::NotInitialised)?
            .value()
            .to_vec();
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(NodeId::from)
            .map_err(|_| StoreError::Corrupt {
                table: "meta",
                reason: "node id is not 32 bytes".into(),
            })
    }

    /// The node this database belongs to.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction and commits it durably (fsync) before returning.
    /// If `f` fails, nothing it wrote is kept.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        let out = f(&mut Writer { txn: &txn })?;
        txn.commit()?;
        Ok(out)
    }

    // ----- votes -----

    /// Durably records this node's vote before it is sent. Refuses (with
    /// [`StoreError::ConflictingVote`]) a vote different from one already recorded under
    /// the same key: that is the anti-equivocation guard. Re-recording the identical vote
    /// is a no-op ([`Recorded::AlreadyPresent`]).
    pub fn record_vote(&self, key: VoteKey, vote: &[u8]) -> Result<Recorded, StoreError> {
        let mut got = self.vote_log().append(&[(key, vote.to_vec())], &[])?;
        Ok(got.pop().unwrap_or(Recorded::AlreadyPresent))
    }

    /// Durably records a group of this node's votes and of others' certificate messages
    /// (by slot; a record of a later slot supersedes those of earlier ones) with one sync,
    /// all or nothing: one conflicting vote refuses the group before anything is written.
    pub fn record_votes(
        &self,
        votes: &[(VoteKey, Vec<u8>)],
        certs: &[(u64, Vec<u8>)],
    ) -> Result<Vec<Recorded>, StoreError> {
        self.vote_log().append(votes, certs)
    }

    /// This node's vote under `key`, if any.
    pub fn vote(&self, key: VoteKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.vote_log().vote(key))
    }

    /// This node's votes from `slot` on (every view and phase), in key order: what a
    /// restarted node reloads to keep its promises.
    pub fn votes_from(&self, slot: u64) -> Result<Vec<(VoteKey, Vec<u8>)>, StoreError> {
        Ok(self.vote_log().votes_from(slot))
    }

    /// The highest view of any of this node's votes pruned so far (0 if none).
    pub fn pruned_vote_view(&self) -> u64 {
        self.vote_log().pruned_view()
    }

    /// The certificate records in force (others' messages, encoded), oldest first.
    pub fn cert_records(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.vote_log().certs())
    }

    /// Forgets this node's votes for slots below `slot` (only safe once those slots are
    /// decided and persisted); returns how many were removed. Written with the next group
    /// of votes: a prune lost to a crash brings back only votes nothing reads.
    pub fn prune_votes_below(&self, slot: u64) -> Result<u64, StoreError> {
        Ok(self.vote_log().prune_below(slot))
    }

    // ----- decided log -----

    /// Durably appends a decided entry; see [`Writer::put_decided`].
    pub fn put_decided(&self, slot: u64, entry: &[u8]) -> Result<(), StoreError> {
        self.write(|w| w.put_decided(slot, entry))
    }

    /// The decided entry at `slot`.
    pub fn decided(&self, slot: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DECIDED)?;
        Ok(table.get(slot)?.map(|v| v.value().to_vec()))
    }

    /// Up to `limit` decided entries from `from` on, in slot order (replay, recovery).
    pub fn decided_range(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.decided_range_within(from, limit, usize::MAX)
    }

    /// Up to `limit` decided entries from `from` on, in slot order, whose bytes together
    /// stay within `max_bytes`, but always the first entry if there is one (an entry
    /// larger than the budget is still served, alone). A row is measured before it is
    /// copied, so no more than the answer is ever read out of the file: what peers and
    /// clients ask for (catch-up, log pages) copies at most their budget.
    pub fn decided_range_within(
        &self,
        from: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DECIDED)?;
        let mut rows = Vec::new();
        let mut bytes = 0usize;
        for item in table.range(from..)?.take(limit) {
            let (k, v) = item?;
            let value = v.value();
            let total = bytes.saturating_add(value.len());
            if !rows.is_empty() && total > max_bytes {
                break;
            }
            bytes = total;
            rows.push((k.value(), value.to_vec()));
        }
        Ok(rows)
    }

    /// The highest decided slot.
    pub fn last_decided_slot(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DECIDED)?;
        Ok(table.last()?.map(|(k, _)| k.value()))
    }

    /// Number of decided entries.
    pub fn decided_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(DECIDED)?.len()?)
    }

    // ----- snapshots -----

    /// Durably stores a snapshot; see [`Writer::put_snapshot`].
    pub fn put_snapshot(&self, slot: u64, state: &[u8]) -> Result<(), StoreError> {
        self.write(|w| w.put_snapshot(slot, state))
    }

    /// The snapshot taken at exactly `slot`.
    pub fn snapshot(&self, slot: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SNAPSHOTS)?;
        Ok(table.get(slot)?.map(|v| v.value().to_vec()))
    }

    /// The most recent snapshot and its slot.
    pub fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SNAPSHOTS)?;
        Ok(table.last()?.map(|(k, v)| (k.value(), v.value().to_vec())))
    }

    // ----- modules -----

    /// Durably stores a module blob; see [`Writer::put_module`].
    pub fn put_module(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        self.write(|w| w.put_module(bytes))
    }

    /// The module blob stored under `hash`, verified: bytes that do not hash to `hash`
    /// are reported as [`StoreError::CorruptModule`].
    pub fn module(&self, hash: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MODULES)?;
        let Some(blob) = table.get(hash.as_bytes())? else {
            return Ok(None);
        };
        let bytes = blob.value().to_vec();
        let actual = Digest::from(<[u8; 32]>::from(Sha256::digest(&bytes)));
        if actual != *hash {
            return Err(StoreError::CorruptModule {
                expected: *hash,
                actual,
            });
        }
        Ok(Some(bytes))
    }

    /// Whether a blob is stored under `hash` (not verified; [`Self::module`] verifies).
    pub fn has_module(&self, hash: &Digest) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MODULES)?;
        Ok(table.get(hash.as_bytes())?.is_some())
    }

    /// Every stored module blob's hash and size in bytes.
    pub fn module_sizes(&self) -> Result<Vec<(Digest, u64)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MODULES)?;
        table
            .iter()?
            .map(|item| {
                let (k, v) = item?;
                Ok((Digest::from(*k.value()), v.value().len() as u64))
            })
            .collect()
    }

    /// Durably deletes the module blobs `hashes`; returns how many were stored.
    pub fn delete_modules(&self, hashes: &[Digest]) -> Result<u64, StoreError> {
        self.write(|w| {
            let mut n = 0;
            for h in hashes {
                n += u64::from(w.delete_module(h)?);
            }
            Ok(n)
        })
    }

    /// Hashes of every stored module blob.
    pub fn module_hashes(&self) -> Result<Vec<Digest>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MODULES)?;
        table
            .iter()?
            .map(|item| Ok(Digest::from(*item?.0.value())))
            .collect()
    }

    /// Durably sets the active module of a role; see [`Writer::set_active_module`].
    pub fn set_active_module(
        &self,
        role: &str,
        hash: Digest,
        since_slot: u64,
    ) -> Result<ActiveModule, StoreError> {
        self.write(|w| w.set_active_module(role, hash, since_slot))
    }

    /// The active module of `role`.
    pub fn active_module(&self, role: &str) -> Result<Option<ActiveModule>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACTIVE)?;
        table
            .get(role)?
            .map(|v| decode_active(v.value()))
            .transpose()
    }

    /// Every role's active module, by role name.
    pub fn active_modules(&self) -> Result<Vec<(String, ActiveModule)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACTIVE)?;
        table
            .iter()?
            .map(|item| {
                let (k, v) = item?;
                Ok((k.value().to_string(), decode_active(v.value())?))
            })
            .collect()
    }

    // ----- genesis and metadata -----

    /// Durably stores the genesis; see [`Writer::put_genesis`].
    pub fn put_genesis(&self, genesis: &[u8]) -> Result<(), StoreError> {
        self.write(|w| w.put_genesis(genesis))
    }

    /// The stored genesis document.
    pub fn genesis(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(GENESIS)?;
        Ok(table.get(())?.map(|v| v.value().to_vec()))
    }

    /// Durably sets a caller-defined metadata value; see [`Writer::set_meta`].
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write(|w| w.set_meta(key, value))
    }

    /// A caller-defined metadata value (reserved `spore.` keys are not readable here).
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if key.starts_with(RESERVED_PREFIX) {
            return Err(StoreError::ReservedKey(key.to_string()));
        }
        let txn = self.db.begin_read()?;
        let table = txn.open_table(META)?;
        Ok(table.get(key)?.map(|v| v.value().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(rows: &[(u64, usize)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("db"), NodeId::from([7u8; 32])).expect("open");
        for (slot, len) in rows {
            store.put_decided(*slot, &vec![1u8; *len]).expect("put");
        }
        (dir, store)
    }

    #[test]
    fn a_range_read_stops_at_its_byte_budget_with_one_row_at_least() {
        let (_dir, store) = store_with(&[(0, 100), (1, 100), (2, 100), (3, 500)]);
        let slots = |rows: Vec<(u64, Vec<u8>)>| rows.into_iter().map(|r| r.0).collect::<Vec<_>>();
        // Control: with no byte budget the count alone cuts, as before.
        assert_eq!(
            slots(store.decided_range(0, 10).expect("read")),
            [0, 1, 2, 3]
        );
        assert_eq!(
            slots(store.decided_range_within(0, 10, 250).expect("read")),
            [0, 1]
        );
        assert_eq!(
            slots(store.decided_range_within(0, 10, 300).expect("read")),
            [0, 1, 2]
        );
        assert_eq!(
            slots(store.decided_range_within(0, 2, 1_000).expect("read")),
            [0, 1]
        );
        // One row larger than the budget is still read, alone.
        assert_eq!(
            slots(store.decided_range_within(3, 10, 10).expect("read")),
            [3]
        );
        assert!(
            store
                .decided_range_within(4, 10, 10)
                .expect("read")
                .is_empty()
        );
    }

    /// A crash during a node's very first start, after the database is created but
    /// before its vote log is (here: the log cannot be created), leaves a database that
    /// the next start opens. Control: with the version stamped before the log exists (the
    /// order before), the next start is refused as `VoteLogMissing` although no vote
    /// was ever signed.
    #[test]
    fn a_first_start_cut_short_before_the_vote_log_starts_again() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("db");
        let log = vote_log_path(&path);
        std::fs::create_dir(&log)?;
        assert!(Store::open(&path, NodeId::from([7u8; 32])).is_err());
        std::fs::remove_dir(&log)?;
        let store = Store::open(&path, NodeId::from([7u8; 32]))?;
        assert_eq!(store.votes_from(0)?.len(), 0);
        Ok(())
    }

    /// A database written before the vote log (votes in its table, certificate records in
    /// its metadata) keeps them: they are moved into the log on open, and the guard holds
    /// across the move. The control is the moved vote itself: were the move skipped, the
    /// conflicting vote below would be recorded.
    #[test]
    fn votes_of_a_database_before_the_log_are_moved_into_it() -> anyhow::Result<()> {
        use crate::core::consensus::{Accept, Message};
        use crate::core::crypto::{Keypair, Signed, canonical_bytes};
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("db");
        let key = VoteKey {
            slot: 4,
            view: 1,
            phase: 2,
        };
        let signer = Keypair::from_seed([3; 32]);
        let accept = Message::Accept(Signed::new(
            Accept {
                slot: 4,
                view: 1,
                value: Digest::from([5; 32]),
            },
            &signer,
        ));
        {
            let store = Store::open(&path, NodeId::from([7u8; 32]))?;
            store.write(|w| {
                w.txn
                    .open_table(VOTES)?
                    .insert((4, 1, 2), b"old vote".as_slice())?;
                let records = canonical_bytes(&vec![accept.clone()]);
                let mut meta = w.txn.open_table(META)?;
                meta.insert(LEGACY_CERT_RECORDS, records.as_slice())?;
                // What a version-2 file looks like: no vote log beside it.
                meta.insert(
                    META_SCHEMA,
                    SCHEMA_VERSION_BEFORE_VOTE_LOG.to_be_bytes().as_slice(),
                )?;
                Ok(())
            })?;
        }
        std::fs::remove_file(vote_log_path(&path))?;
        let store = Store::open(&path, NodeId::from([7u8; 32]))?;
        assert_eq!(store.vote(key)?.as_deref(), Some(&b"old vote"[..]));
        assert_eq!(store.cert_records()?, vec![canonical_bytes(&accept)]);
        assert!(matches!(
            store.record_vote(key, b"another"),
            Err(StoreError::ConflictingVote { .. })
        ));
        assert_eq!(store.meta(LEGACY_CERT_RECORDS)?, None);
        drop(store);
        // Moved once: the database no longer holds them, the log does.
        let store = Store::open(&path, NodeId::from([7u8; 32]))?;
        assert_eq!(store.votes_from(0)?.len(), 1);
        assert_eq!(store.cert_records()?.len(), 1);
        drop(store);
        // A file of this version without its log is refused, never opened empty.
        std::fs::remove_file(vote_log_path(&path))?;
        assert!(matches!(
            Store::open(&path, NodeId::from([7u8; 32])),
            Err(StoreError::VoteLogMissing(_))
        ));
        Ok(())
    }
}
