//! Byzantine participant that makes itself provably guilty once and then replays the
//! proof: it signs a second, conflicting accept or confirm the first time it votes in one
//! of those phases and broadcasts both, then keeps re-gossiping the proof (and the same
//! proof with its two votes swapped) and submitting exclusions of itself for equivocation
//! carrying it — and as primary proposes a batch of them instead of its honest one.
//!
//! One act is punished once: however many times and in whatever form the proof comes
//! back, the host applies a proof (offender, slot, kind) at most once.

use super::inject::{Injector, sign_op};
use super::tamper::conflicting;
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input, Message, Misbehaviour};
use crate::ops::{
    Evidence, EvidenceKind, ExclusionReason, NodeExclusion, Operation, SignedOperation,
};

/// Chance (parts per million) per input of re-gossiping the proof.
const REGOSSIP_PPM: u32 = 50_000;

/// Wraps the honest machine, equivocates once and replays the proof.
pub struct EvidenceReplayer {
    node: SimNode,
    inject: Injector,
    /// The proof of its own equivocation and the same votes in the other order, once made.
    guilt: Option<[Misbehaviour; 2]>,
}

impl EvidenceReplayer {
    /// Equivocate once around `node`, then replay the proof.
    pub fn new(node: SimNode) -> Self {
        EvidenceReplayer {
            node,
            inject: Injector::new(),
            guilt: None,
        }
    }

    /// After the first accept or confirm among `effects`, add a conflicting one signed by
    /// the actor, and keep the proof.
    fn confess(&mut self, ctx: &mut Ctx<'_>, effects: &mut Vec<Effect>) {
        let found = effects.iter().enumerate().find_map(|(i, e)| match e {
            Effect::Broadcast {
                msg: vote @ (Message::Accept(_) | Message::Confirm(_)),
            } => {
                let other = conflicting(vote, ctx.key)?;
                let proof = Misbehaviour::conflicting(vote, &other)?;
                Some((i, other, proof))
            }
            _ => None,
        });
        let Some((i, other, proof)) = found else {
            return;
        };
        effects.insert(i + 1, Effect::Broadcast { msg: other });
        let swapped = match &proof {
            Misbehaviour::ConflictingVotes {
                signer,
                phase,
                first,
                second,
            } => Misbehaviour::ConflictingVotes {
                signer: *signer,
                phase: *phase,
                first: second.clone(),
                second: first.clone(),
            },
            Misbehaviour::BadReveal { .. } => proof.clone(),
        };
        self.guilt = Some([proof, swapped]);
    }
}

impl Adversary for EvidenceReplayer {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let mut effects = self.node.handle(input);
        if self.guilt.is_none() {
            self.confess(ctx, &mut effects);
        }
        let node = &self.node;
        let Some(guilt) = &self.guilt else {
            return self.inject.apply(ctx, effects, |_, _| Vec::new());
        };
        if ctx.rng.chance(REGOSSIP_PPM) {
            let proof = guilt[ctx.rng.index(guilt.len())].clone();
            effects.push(Effect::Broadcast {
                msg: Message::Evidence(Box::new(proof)),
            });
        }
        self.inject
            .apply(ctx, effects, |ctx, n| self_exclusions(ctx, node, guilt, n))
    }
}

/// Up to `n` (at most 3) distinct exclusions of the actor itself for equivocation,
/// carrying the proof, the swapped proof, or both.
fn self_exclusions(
    ctx: &mut Ctx<'_>,
    node: &SimNode,
    guilt: &[Misbehaviour; 2],
    n: usize,
) -> Vec<SignedOperation> {
    let evidence = |proof: &Misbehaviour| Evidence {
        kind: EvidenceKind::ConflictingVotes,
        payload: proof.encode(),
    };
    let variants = [
        vec![evidence(&guilt[0])],
        vec![evidence(&guilt[1])],
        vec![evidence(&guilt[0]), evidence(&guilt[1])],
    ];
    let start = ctx.rng.index(variants.len());
    (0..n.min(variants.len()))
        .map(|i| {
            let op = Operation::NodeExclusion(NodeExclusion {
                target: ctx.key.id(),
                reason: ExclusionReason::Equivocation,
                evidence: variants[(start + i) % variants.len()].clone(),
            });
            sign_op(node, op, ctx.key)
        })
        .collect()
}
