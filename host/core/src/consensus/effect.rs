//! Everything a consensus node asks its driver to do.
//!
//! # Driver contract
//! The driver executes the effects of one [`super::Node::handle`] call **strictly in
//! order**. A [`Effect::Persist`] must be durable before any later effect runs: the
//! machine always emits the `Persist` of a vote before the `Send`/`Broadcast` carrying it,
//! so a vote is never on the wire before it is on disk. `Decided` must be persisted (with
//! its certificate) before the driver acknowledges its operations to clients. Module
//! calls may run asynchronously; their answers come back as
//! [`super::Input::ModuleResult`] with the same [`CallId`].

use serde::{Deserialize, Serialize};

use super::entry::DecidedEntry;
use super::evidence::Misbehaviour;
use super::message::Message;
use crate::ops::{Operation, Outcome};
use crate::types::{Digest, Epoch, Layer, NodeId, Slot};

/// Identifies a module call so its answer can be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CallId(pub u64);

/// Deterministic facts about a module call (WIT `call-context`): the same on every node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallContext {
    /// Log slot being decided.
    pub slot: Slot,
    /// Epoch of that slot.
    pub epoch: Epoch,
    /// SHA-256 of the canonical encoding of the operation.
    pub op_digest: Digest,
    /// Deterministic seed derived from (slot, op digest).
    pub seed: u64,
}

impl CallContext {
    /// The context for operation `op` at `slot` in `epoch`.
    pub fn new(slot: Slot, epoch: Epoch, op: &Operation) -> Self {
        use crate::crypto::Canonical;
        Self::from_digest(slot, epoch, op.digest())
    }

    /// The context of the operation (or input) with digest `op_digest`: the one
    /// derivation of the per-call seed, used by the nodes and by every local tool
    /// (`spore module run`, the samples), so a local call reproduces a cluster call.
    pub fn from_digest(slot: Slot, epoch: Epoch, op_digest: Digest) -> Self {
        let s = crate::crypto::sha256_parts(&[
            b"spore/call-seed/v1",
            &slot.to_le_bytes(),
            op_digest.as_ref(),
        ]);
        let mut first = [0u8; 8];
        first.copy_from_slice(&s.0[..8]);
        CallContext {
            slot,
            epoch,
            op_digest,
            seed: u64::from_le_bytes(first),
        }
    }
}

/// One layer's result as the resolver sees it (WIT `layer-result`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerResult {
    /// The layer.
    pub layer: Layer,
    /// The outcome the layer stands behind; `None` if it revealed nothing.
    pub result: Option<Outcome>,
    /// Share (bps) of the eligible trust weight that revealed this outcome.
    pub confidence: u32,
    /// Share (bps) of this layer's eligible members that revealed it.
    pub agreement: u32,
}

/// What a node persists before acting on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Persist {
    /// A signed message the node must remember across a restart: one of its own votes,
    /// or (before it confirms) the tally and the accepts of others that make up its
    /// prepared certificate. Hand all of them back to [`super::Node::restore`].
    Vote(Message),
}

/// One effect for the driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// Send `msg` to one peer.
    Send {
        /// Recipient.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// Send `msg` to every member except this node.
    Broadcast {
        /// The message.
        msg: Message,
    },
    /// Make `0` durable before executing any later effect.
    Persist(Persist),
    /// Run the active validator module on `op`; answer with `Input::ModuleResult`.
    CallValidator {
        /// Call id to answer with.
        call: CallId,
        /// Slot.
        slot: Slot,
        /// Index of the operation in the batch.
        index: u32,
        /// The operation.
        op: Operation,
        /// Its call context.
        ctx: CallContext,
    },
    /// Run the active resolver module; answer with `Input::ModuleResult`.
    CallResolver {
        /// Call id to answer with.
        call: CallId,
        /// Slot.
        slot: Slot,
        /// Index of the operation in the batch.
        index: u32,
        /// The primary's result.
        primary: LayerResult,
        /// The seed's result.
        seed: LayerResult,
        /// The most frequent latent result.
        latent: LayerResult,
        /// Call context of the operation.
        ctx: CallContext,
    },
    /// A slot is decided: persist the entry with its certificate; the replicated state
    /// has already applied it.
    Decided {
        /// The slot.
        slot: Slot,
        /// The entry and its certificate.
        entry: Box<DecidedEntry>,
    },
    /// Misbehaviour was detected (verified); for logs, metrics and forwarding.
    Evidence(Box<Misbehaviour>),
    /// A fork was detected (verified): the node has stopped ordering. Report it, keep it,
    /// and hand it to the operator (docs/OPERATIONS.md, "Forks").
    Fork(Box<super::fork::ForkProof>),
    /// Deliver `Input::Tick` at virtual time `at` (or later). A later `SetTimer`
    /// replaces an earlier one.
    SetTimer {
        /// Deadline (milliseconds).
        at: u64,
    },
}
