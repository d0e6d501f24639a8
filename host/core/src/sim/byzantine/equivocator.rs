//! Byzantine participant that sends different votes to different peers: one commitment,
//! reveal, accept or confirm to half of its peers and a conflicting one to the other half.
//!
//! Any honest node that sees both versions (directly, relayed, or inside a tally) holds a
//! proof of equivocation; the offender must be slashed and must never split the honest
//! nodes' decisions.

use super::tamper::{conflicting, send_each, split};
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input};

/// Wraps the honest machine and splits its vote broadcasts.
pub struct Equivocator {
    node: SimNode,
}

impl Equivocator {
    /// Equivocate on `node`'s votes.
    pub fn new(node: SimNode) -> Self {
        Equivocator { node }
    }
}

impl Adversary for Equivocator {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        for effect in self.node.handle(input) {
            match effect {
                Effect::Broadcast { msg } => match conflicting(&msg, ctx.key) {
                    Some(other) => {
                        let (a, b) = split(&ctx.peers(), ctx.rng);
                        send_each(&mut out, &a, &msg);
                        send_each(&mut out, &b, &other);
                    }
                    None => out.push(Effect::Broadcast { msg }),
                },
                other => out.push(other),
            }
        }
        out
    }
}
