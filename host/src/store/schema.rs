//! The on-disk layout: one redb table per kind of record, and the schema version.
//!
//! # Layout
//! | table             | key                    | value                                   |
//! |-------------------|------------------------|-----------------------------------------|
//! | `meta`            | `&str`                 | bytes (`spore.schema`, `spore.node_id`, caller keys) |
//! | `decided_log`     | slot `u64`             | decided entry with its certificate      |
//! | `own_votes`       | `(slot, view, phase)`  | this node's signed vote                 |
//! | `state_snapshots` | slot `u64`             | trust ledger / replicated state at slot |
//! | `module_blobs`    | SHA-256 `[u8; 32]`     | module bytes                            |
//! | `active_modules`  | role `&str`            | postcard [`ActiveModule`](super::ActiveModule) |
//! | `genesis`         | `()`                   | the genesis document                    |
//!
//! Values are opaque bytes: the layers above choose their encoding (the consensus types
//! have a canonical postcard encoding), so this layer does not depend on them.

use redb::TableDefinition;

/// Version of this layout; bumped on any incompatible change.
///
/// 2: the votes and certificates it holds are signed over the signing bytes of consensus
/// v2 (proposals, reveals, tallies and new-views name their contents by digest), which a
/// version-1 file's are not: its votes would be refused by every peer.
/// 3: the node's votes and certificate records live in the vote log beside the file
/// (`vote_log.rs`); a version-2 file's are moved there when it is opened. A binary of
/// version 2 refuses a version-3 file: it would look for votes in the file, find none,
/// and could sign a second vote for a slot it had voted in.
pub const SCHEMA_VERSION: u32 = 3;

/// The version whose votes are moved into the vote log on open.
pub const SCHEMA_VERSION_BEFORE_VOTE_LOG: u32 = 2;

/// Node metadata.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The decided log.
pub const DECIDED: TableDefinition<u64, &[u8]> = TableDefinition::new("decided_log");
/// This node's own votes.
pub const VOTES: TableDefinition<(u64, u64, u8), &[u8]> = TableDefinition::new("own_votes");
/// Replicated-state snapshots.
pub const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("state_snapshots");
/// Module blobs by content hash.
pub const MODULES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("module_blobs");
/// Active module per role.
pub const ACTIVE: TableDefinition<&str, &[u8]> = TableDefinition::new("active_modules");
/// The genesis document.
pub const GENESIS: TableDefinition<(), &[u8]> = TableDefinition::new("genesis");

/// Metadata key of the schema version (`u32`, big-endian).
pub const META_SCHEMA: &str = "spore.schema";
/// Metadata key of the node id (32 bytes).
pub const META_NODE_ID: &str = "spore.node_id";
/// Prefix of metadata keys reserved for the store.
pub const RESERVED_PREFIX: &str = "spore.";
