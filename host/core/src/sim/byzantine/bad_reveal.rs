//! Byzantine participant whose reveal does not open its commitment: it commits to its
//! honest results, then reveals different ones.
//!
//! The signed commit and the signed reveal together are a self-contained proof; the
//! offender must be slashed and its reveal must never count towards a result.

use super::tamper::sign;
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input, Message};
use crate::sim::modules::wrong_result;
use crate::types::Digest;

/// Wraps the honest machine and alters the outcomes of its sealed reveals.
pub struct BadReveal {
    node: SimNode,
}

impl BadReveal {
    /// Corrupt `node`'s reveals.
    pub fn new(node: SimNode) -> Self {
        BadReveal { node }
    }
}

impl Adversary for BadReveal {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        for effect in self.node.handle(input) {
            match effect {
                // A sealed (Full-BFT) reveal has a non-zero salt; authority reveals open
                // nothing, so altering them would be plain dissent.
                Effect::Broadcast {
                    msg: Message::Reveal(r),
                } if r.payload.salt != Digest([0; 32]) => {
                    let mut p = r.payload.clone();
                    p.outcomes = p.outcomes.iter().map(wrong_result).collect();
                    out.push(Effect::Broadcast {
                        msg: Message::Reveal(sign(p, ctx.key)),
                    });
                }
                other => out.push(other),
            }
        }
        out
    }
}
