//! Byzantine participant that tries to exclude honest peers with forged evidence: it
//! submits, under its own member key, node exclusions of a random peer for equivocation or
//! an invalid reveal whose evidence is a one-byte payload, garbage bytes, or a real
//! conflicting-votes proof of two votes it signed itself with the signer relabelled as the
//! victim; as primary, it proposes a batch of them instead of its honest one.
//!
//! The host decodes and verifies every proof against the target: none of these may pass
//! authorisation, enter a mempool or be decided, and no honest member is ever excluded.

use super::inject::{Injector, random_digest, random_peer, sign_op};
use super::tamper::{other_digest, sign};
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Accept, Confirm, Effect, Input, Message, Misbehaviour};
use crate::ops::{
    Evidence, EvidenceKind, ExclusionReason, NodeExclusion, Operation, SignedOperation,
};
use crate::types::NodeId;

/// Wraps the honest machine and adds forged exclusions of honest peers.
pub struct ForgedExclusion {
    node: SimNode,
    inject: Injector,
}

impl ForgedExclusion {
    /// Forge exclusions around `node`.
    pub fn new(node: SimNode) -> Self {
        ForgedExclusion {
            node,
            inject: Injector::new(),
        }
    }
}

impl Adversary for ForgedExclusion {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let effects = self.node.handle(input);
        let node = &self.node;
        self.inject.apply(ctx, effects, |ctx, n| {
            (0..n).filter_map(|_| forge(ctx, node)).collect()
        })
    }
}

/// One forged exclusion of a random peer, signed by the actor.
fn forge(ctx: &mut Ctx<'_>, node: &SimNode) -> Option<SignedOperation> {
    let victim = random_peer(ctx)?;
    let (reason, payload) = match ctx.rng.below(3) {
        0 => (any_reason(ctx), vec![byte(ctx)]),
        1 => {
            let len = 2 + ctx.rng.index(254);
            let mut bytes = vec![0u8; len];
            ctx.rng.fill(&mut bytes);
            (any_reason(ctx), bytes)
        }
        _ => (
            ExclusionReason::Equivocation,
            framed_proof(ctx, node, victim)?,
        ),
    };
    let kind = match reason {
        ExclusionReason::Equivocation => EvidenceKind::ConflictingVotes,
        _ => EvidenceKind::BadReveal,
    };
    let op = Operation::NodeExclusion(NodeExclusion {
        target: victim,
        reason,
        evidence: vec![Evidence { kind, payload }],
    });
    Some(sign_op(node, op, ctx.key))
}

/// Equivocation or invalid reveal, at random.
fn any_reason(ctx: &mut Ctx<'_>) -> ExclusionReason {
    if ctx.rng.chance(500_000) {
        ExclusionReason::Equivocation
    } else {
        ExclusionReason::InvalidReveal
    }
}

/// One random byte.
fn byte(ctx: &mut Ctx<'_>) -> u8 {
    let mut b = [0u8; 1];
    ctx.rng.fill(&mut b);
    b[0]
}

/// An encoded conflicting-votes proof of two accepts (or confirms) the actor signed for
/// the current slot and view, relabelled as signed by `victim`. The votes are never sent.
fn framed_proof(ctx: &mut Ctx<'_>, node: &SimNode, victim: NodeId) -> Option<Vec<u8>> {
    let (slot, view) = (node.slot(), node.view());
    let value = random_digest(ctx.rng);
    let other = other_digest(&value, b"forged-exclusion");
    let (first, second) = if ctx.rng.chance(500_000) {
        let vote = |value| Message::Accept(sign(Accept { slot, view, value }, ctx.key));
        (vote(value), vote(other))
    } else {
        let vote = |value| Message::Confirm(sign(Confirm { slot, view, value }, ctx.key));
        (vote(value), vote(other))
    };
    match Misbehaviour::conflicting(&first, &second)? {
        Misbehaviour::ConflictingVotes {
            phase,
            first,
            second,
            ..
        } => Some(
            Misbehaviour::ConflictingVotes {
                signer: victim,
                phase,
                first,
                second,
            }
            .encode(),
        ),
        Misbehaviour::BadReveal { .. } => None,
    }
}
