//! Small record types the store understands: vote keys and active-module pointers.

use serde::{Deserialize, Serialize};

use crate::core::types::Digest;

/// Identifies one vote of this node: at most one vote is ever recorded per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VoteKey {
    /// Log slot voted on.
    pub slot: u64,
    /// Consensus view.
    pub view: u64,
    /// Protocol phase (the consensus layer maps its phase enum to a byte).
    pub phase: u8,
}

impl VoteKey {
    pub(crate) fn from_tuple((slot, view, phase): (u64, u64, u8)) -> Self {
        Self { slot, view, phase }
    }
}

/// What [`record_vote`](super::Store::record_vote) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The vote was new and is now durable.
    New,
    /// The identical vote was already stored (a resend after restart is safe).
    AlreadyPresent,
}

/// The module serving a role, and the one it replaced (kept for rollback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveModule {
    /// Content hash of the active module.
    pub hash: Digest,
    /// Slot of the decision that activated it (0 for genesis modules).
    pub since_slot: u64,
    /// The module active before it, if any.
    pub previous: Option<Digest>,
}
