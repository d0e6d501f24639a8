//! Byzantine participant that forges signatures and impersonates other members: it sends
//! votes that claim a peer as signer (signed with its own key), votes under its own name
//! with corrupted signatures, and fabricated equivocation "proofs" framing an honest peer.
//!
//! Every forgery must be rejected on signature checks: an honest node is never framed,
//! and a forged vote never counts.

use super::tamper::conflicting;
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input, Message, Misbehaviour};
use crate::crypto::Signature;
use crate::types::NodeId;

/// Wraps the honest machine and adds forgeries to its traffic.
pub struct Forger {
    node: SimNode,
}

impl Forger {
    /// Forge around `node`.
    pub fn new(node: SimNode) -> Self {
        Forger { node }
    }
}

/// `msg` re-labelled as signed by `victim` (the signature stays the forger's).
fn impersonate(msg: &Message, victim: NodeId) -> Option<Message> {
    let mut m = msg.clone();
    match &mut m {
        Message::Commit(s) => s.signer = victim,
        Message::Reveal(s) => s.signer = victim,
        Message::Accept(s) => s.signer = victim,
        Message::Confirm(s) => s.signer = victim,
        Message::Proposal(s) => s.signer = victim,
        _ => return None,
    }
    Some(m)
}

/// `msg` with one bit of its signature flipped.
fn corrupt(msg: &Message) -> Option<Message> {
    let flip = |s: &mut Signature| s.0[0] ^= 1;
    let mut m = msg.clone();
    match &mut m {
        Message::Commit(s) => flip(&mut s.signature),
        Message::Reveal(s) => flip(&mut s.signature),
        Message::Accept(s) => flip(&mut s.signature),
        Message::Confirm(s) => flip(&mut s.signature),
        Message::Proposal(s) => flip(&mut s.signature),
        _ => return None,
    }
    Some(m)
}

impl Adversary for Forger {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let mut out = self.node.handle(input);
        let peers = ctx.peers();
        if peers.is_empty() {
            return out;
        }
        let votes: Vec<Message> = out
            .iter()
            .filter_map(|e| match e {
                Effect::Broadcast { msg } => Some(msg.clone()),
                _ => None,
            })
            .collect();
        for vote in votes {
            let victim = peers[ctx.rng.index(peers.len())];
            let other = conflicting(&vote, ctx.key);
            if let Some(forged) = other.as_ref().and_then(|o| impersonate(o, victim)) {
                out.push(Effect::Broadcast {
                    msg: forged.clone(),
                });
                if let Some(framed) = impersonate(&vote, victim)
                    && let Some(proof) = Misbehaviour::conflicting(&framed, &forged)
                {
                    out.push(Effect::Broadcast {
                        msg: Message::Evidence(Box::new(proof)),
                    });
                }
            }
            if let Some(bad) = other.as_ref().and_then(corrupt) {
                out.push(Effect::Broadcast { msg: bad });
            }
        }
        out
    }
}
