//! Errors of the storage layer.

use crate::core::types::Digest;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened, read or written (I/O, lock held by another
    /// process, on-disk corruption detected by redb).
    #[error("database error: {0}")]
    Database(#[source] Box<redb::Error>),
    /// A different vote is already recorded for this (slot, view, phase): recording it
    /// would be equivocation.
    #[error(
        "refusing to record a vote conflicting with the one stored for slot {slot}, view {view}, phase {phase}"
    )]
    ConflictingVote {
        /// Slot of the vote.
        slot: u64,
        /// View of the vote.
        view: u64,
        /// Phase of the vote.
        phase: u8,
    },
    /// A different entry is already decided at this slot.
    #[error("refusing to overwrite the decided entry at slot {0} with a different one")]
    ConflictingDecision(u64),
    /// A different genesis is already stored.
    #[error("the stored genesis differs from the one given")]
    GenesisMismatch,
    /// A stored module blob does not hash to its key.
    #[error("module blob {expected} is corrupted (its bytes hash to {actual})")]
    CorruptModule {
        /// Hash the blob is stored under.
        expected: Digest,
        /// Hash of the bytes actually read.
        actual: Digest,
    },
    /// The file was written by an incompatible schema version.
    #[error("database schema version {found} is not supported (expected {expected})")]
    SchemaVersion {
        /// Version found in the file.
        found: u32,
        /// Version this build writes.
        expected: u32,
    },
    /// The file belongs to another node.
    #[error("database belongs to node {found}, not {expected}")]
    WrongNode {
        /// Node id found in the file.
        found: String,
        /// Node id the caller expected.
        expected: String,
    },
    /// The file has no node metadata (not created by [`Store::open`](super::Store::open)).
    #[error("database has no node metadata")]
    NotInitialised,
    /// A stored value could not be decoded.
    #[error("corrupt stored value in {table}: {reason}")]
    Corrupt {
        /// Table holding the value.
        table: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A value could not be encoded or decoded with postcard.
    #[error("cannot (de)serialise a stored value: {0}")]
    Codec(#[from] postcard::Error),
    /// The database's vote log is missing: the node would have forgotten the votes it
    /// sent and could sign different ones. Restore it from the backup made with the file.
    #[error(
        "the vote log {0} of this database is missing: the node could equivocate without it; restore it with the database from the same backup"
    )]
    VoteLogMissing(std::path::PathBuf),
    /// The vote log (`<database>.votes`, or its rewrite beside it) could not be opened,
    /// read, written or synced.
    #[error("vote log {}: {source}", path.display())]
    VoteLog {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A group of records is larger than one vote log frame may be (the group is refused
    /// whole, nothing of it written).
    #[error("a vote log group of {bytes} bytes is over the frame limit of {limit} bytes")]
    GroupTooLarge {
        /// Encoded size of the group.
        bytes: usize,
        /// The frame limit.
        limit: usize,
    },
    /// Metadata keys starting with `spore.` are reserved for the store itself.
    #[error("metadata key {0:?} is reserved")]
    ReservedKey(String),
}

macro_rules! via_redb_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Database(Box::new(e.into()))
            }
        }
    )*};
}

via_redb_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
