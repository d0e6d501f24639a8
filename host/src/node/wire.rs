//! What nodes send each other: consensus messages and module blobs.
//!
//! # Design
//! Consensus traffic is the sans-IO machine's [`Message`]. Module blobs travel beside
//! it: a node that must activate a module it lacks asks its peers by hash, and accepts a
//! blob under its own SHA-256 (so it cannot be substituted) and activates it only when
//! a decided operation names that hash. A client upload is offered to every peer at
//! once, so the swap usually finds the bytes already there.

use serde::{Deserialize, Serialize};
use spore_core::consensus::Message;
use spore_core::types::Digest;

/// One frame between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wire {
    /// A consensus message.
    Consensus(Message),
    /// Ask for the module blob with this content hash.
    ModuleRequest(Digest),
    /// A module blob (its hash is recomputed on receipt).
    ModuleBlob(Vec<u8>),
}
