//! Byzantine participant that copies another member's result instead of computing its
//! own: it withholds its own commitment, re-signs the first commitment it sees from a peer
//! for the same batch, and later re-signs that peer's reveal.
//!
//! Sealing defeats it: a commitment binds the committer's node id, so the copied reveal
//! does not open the copied commitment under the copycat's id — a provable bad reveal.

use std::collections::BTreeMap;

use super::tamper::sign;
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input, Message};
use crate::types::{Digest, NodeId, Slot, View};

/// Wraps the honest machine, replacing its commits and reveals with copies.
pub struct Copycat {
    node: SimNode,
    /// Batches the wrapped node committed to (commit withheld), by (slot, view).
    own: BTreeMap<(Slot, View), Digest>,
    /// Whose commitment was copied, by (slot, view).
    victim: BTreeMap<(Slot, View), NodeId>,
    /// The first peer commitment seen per (slot, view), kept in case it arrives before
    /// the wrapped node has computed (and would have committed) its own result.
    seen: BTreeMap<(Slot, View), crate::crypto::Signed<crate::consensus::Commit>>,
}

impl Copycat {
    /// Copy other members instead of letting `node` speak for itself.
    pub fn new(node: SimNode) -> Self {
        Copycat {
            node,
            own: BTreeMap::new(),
            victim: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }
}

impl Adversary for Copycat {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Input::Message { msg, .. } = &input {
            match msg {
                Message::Commit(c) if c.signer != ctx.key.id() => {
                    let key = (c.payload.slot, c.payload.view);
                    self.seen.entry(key).or_insert_with(|| c.clone());
                    if self.own.get(&key) == Some(&c.payload.batch)
                        && !self.victim.contains_key(&key)
                    {
                        self.victim.insert(key, c.signer);
                        out.push(Effect::Broadcast {
                            msg: Message::Commit(sign(c.payload.clone(), ctx.key)),
                        });
                    }
                }
                Message::Reveal(r) => {
                    let key = (r.payload.slot, r.payload.view);
                    if self.victim.get(&key) == Some(&r.signer) {
                        out.push(Effect::Broadcast {
                            msg: Message::Reveal(sign(r.payload.clone(), ctx.key)),
                        });
                    }
                }
                _ => {}
            }
        }
        for effect in self.node.handle(input) {
            match effect {
                Effect::Broadcast {
                    msg: Message::Commit(c),
                } => {
                    let key = (c.payload.slot, c.payload.view);
                    self.own.insert(key, c.payload.batch);
                    // A peer committed before this node computed: copy that one now.
                    if let Some(first) = self.seen.get(&key)
                        && first.payload.batch == c.payload.batch
                        && !self.victim.contains_key(&key)
                    {
                        self.victim.insert(key, first.signer);
                        out.push(Effect::Broadcast {
                            msg: Message::Commit(sign(first.payload.clone(), ctx.key)),
                        });
                    }
                    self.seen.retain(|k, _| k.0 >= key.0);
                }
                Effect::Broadcast {
                    msg: Message::Reveal(r),
                } if r.payload.salt != Digest([0; 32]) => {}
                other => out.push(other),
            }
        }
        out
    }
}
