//! Byzantine participant that floods the cluster with Sybil admissions: node admissions of
//! fresh made-up keys (some asking for the top level, Sclerotia) sponsored only by itself,
//! by itself plus peers listed with signatures it made with its own key (never by them), or
//! by nobody; submitted under its own key or the candidate's, and as primary proposed
//! instead of its honest batch.
//!
//! The host checks the submitter's role and every sponsorship against the replicated
//! rules: no Sybil may pass authorisation, and the membership never changes through them.

use super::inject::{Injector, fresh_key, random_peer, sign_op};
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input};
use crate::ops::{NodeAdmission, NodeIdentity, Operation, SignedOperation, Sponsorship};
use crate::types::Hierarchy;

/// Most peers listed as (forged) sponsors of one Sybil.
const MAX_LISTED: usize = 3;

/// Wraps the honest machine and adds Sybil admissions.
pub struct SybilFlood {
    node: SimNode,
    inject: Injector,
}

impl SybilFlood {
    /// Flood Sybils around `node`.
    pub fn new(node: SimNode) -> Self {
        SybilFlood {
            node,
            inject: Injector::new(),
        }
    }
}

impl Adversary for SybilFlood {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let effects = self.node.handle(input);
        let node = &self.node;
        self.inject.apply(ctx, effects, |ctx, n| {
            (0..n).map(|_| forge(ctx, node)).collect()
        })
    }
}

/// One admission of a fresh made-up key.
fn forge(ctx: &mut Ctx<'_>, node: &SimNode) -> SignedOperation {
    let sybil = fresh_key(ctx.rng);
    let level = match ctx.rng.below(3) {
        0 => Hierarchy::Sclerotia,
        1 => Hierarchy::Rhizomorph,
        _ => Hierarchy::Hyphae,
    };
    let tag = ctx.rng.below(1 << 16);
    let candidate = NodeIdentity {
        id: sybil.id(),
        level,
        name: format!("sybil-{tag:04x}"),
        address: format!("10.66.{}.{}:7000", tag >> 8, tag & 0xff),
    };
    let chain = node.state().genesis_digest();
    let mine = Sponsorship::sign(&chain, &candidate, ctx.key);
    let sponsors = match ctx.rng.below(3) {
        0 => vec![mine],
        1 => {
            let mut listed = vec![mine.clone()];
            for _ in 0..1 + ctx.rng.index(MAX_LISTED) {
                if let Some(peer) = random_peer(ctx)
                    && listed.iter().all(|s| s.sponsor != peer)
                {
                    listed.push(Sponsorship {
                        sponsor: peer,
                        signature: mine.signature,
                    });
                }
            }
            listed
        }
        _ => Vec::new(),
    };
    let op = Operation::NodeAdmission(NodeAdmission {
        candidate,
        sponsors,
    });
    if ctx.rng.chance(250_000) {
        sign_op(node, op, &sybil)
    } else {
        sign_op(node, op, ctx.key)
    }
}
