//! Byzantine primary that proposes different batches to different nodes: half of its
//! peers get its real proposal, the other half a different batch for the same slot and
//! view, both signed by it.
//!
//! The two signed proposals are a proof of equivocation; whatever the halves do, no two
//! honest nodes may decide different batches for the slot.

use super::tamper::{send_each, sign, split};
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input, Message, Proposal};
use crate::ops::SignedOperation;
use crate::types::Digest;

/// Most client operations remembered as material for alternative batches.
const KNOWN: usize = 256;

/// Wraps the honest machine and splits its proposals.
pub struct ConflictingProposer {
    node: SimNode,
    /// Client operations seen (submitted or gossiped) with their ids, oldest first.
    known: Vec<(Digest, SignedOperation)>,
}

impl ConflictingProposer {
    /// Split `node`'s proposals.
    pub fn new(node: SimNode) -> Self {
        ConflictingProposer {
            node,
            known: Vec::new(),
        }
    }

    fn learn(&mut self, op: &SignedOperation) {
        if self.known.len() >= KNOWN {
            return;
        }
        let id = op.id();
        if !self.known.iter().any(|(k, _)| *k == id) {
            self.known.push((id, op.clone()));
        }
    }

    /// A different batch of client operations of the same mechanism as `p`'s, if any.
    fn alternative(&self, p: &Proposal) -> Option<Vec<SignedOperation>> {
        let mechanism = p.batch.first()?.mechanism();
        let taken: Vec<Digest> = p.batch.iter().map(SignedOperation::id).collect();
        let mut alt: Vec<SignedOperation> = self
            .known
            .iter()
            .filter(|(id, o)| o.mechanism() == mechanism && !taken.contains(id))
            .take(p.batch.len())
            .map(|(_, o)| o.clone())
            .collect();
        if alt.is_empty() && p.batch.len() > 1 {
            alt = p.batch.iter().rev().cloned().collect();
        }
        (!alt.is_empty()).then_some(alt)
    }
}

impl Adversary for ConflictingProposer {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        match &input {
            Input::Submit(op) => self.learn(op),
            Input::Message {
                msg: Message::Submit(ops),
                ..
            } => ops.iter().for_each(|op| self.learn(op)),
            _ => {}
        }
        let mut out = Vec::new();
        for effect in self.node.handle(input) {
            match effect {
                Effect::Broadcast {
                    msg: Message::Proposal(p),
                } => match self.alternative(&p.payload) {
                    Some(batch) => {
                        let alt = Proposal {
                            batch,
                            ..p.payload.clone()
                        };
                        let (a, b) = split(&ctx.peers(), ctx.rng);
                        send_each(&mut out, &a, &Message::Proposal(p));
                        send_each(&mut out, &b, &Message::Proposal(sign(alt, ctx.key)));
                    }
                    None => out.push(Effect::Broadcast {
                        msg: Message::Proposal(p),
                    }),
                },
                other => out.push(other),
            }
        }
        out
    }
}
