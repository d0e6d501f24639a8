//! Everything that can happen to a consensus node: a message, a tick, a submitted
//! operation, or the answer to a module call it asked for.

use serde::{Deserialize, Serialize};

use super::effect::CallId;
use super::message::Message;
use crate::ops::{FailureKind, Outcome, SignedOperation};
use crate::types::{Layer, NodeId};

/// One input to [`super::Node::handle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// A message from a peer. `from` is the transport-authenticated sender; signed votes
    /// are checked against their own signer, so a relayed vote is fine.
    Message {
        /// Transport-level sender.
        from: NodeId,
        /// The message.
        msg: Message,
    },
    /// Virtual time advanced to `now` (milliseconds, monotonic).
    Tick {
        /// Current time.
        now: u64,
    },
    /// A client submitted a signed operation to this node (check it first with
    /// [`super::Node::check_submission`] to answer the client; an operation that fails the
    /// check is dropped here).
    Submit(SignedOperation),
    /// The answer to a [`super::Effect::CallValidator`] or [`super::Effect::CallResolver`].
    ModuleResult {
        /// The id the call effect carried.
        call: CallId,
        /// What the module returned.
        result: ModuleReply,
    },
}

/// What a module call returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModuleReply {
    /// The validator's outcome for the operation.
    Validator(Outcome),
    /// The resolver's verdict.
    Resolver(ResolverVerdict),
}

/// The resolver module's verdict (WIT `resolution`), or its deterministic failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResolverVerdict {
    /// Accept the result of this layer.
    Accept(Layer),
    /// No clear authority: escalate, with the reason.
    Escalate(String),
    /// The resolver trapped or ran out of fuel: the operation is escalated.
    Failed(FailureKind),
}
