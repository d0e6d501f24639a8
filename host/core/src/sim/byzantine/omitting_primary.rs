//! Byzantine primary that frames an honest member as absent. It picks one victim per run
//! and, slot by slot, leaves the victim's reveal out of its tallies (keeping the commit:
//! "committed without reveal"), leaves out its commit and reveal ("silent"), or keeps
//! the proposal and the tally from it altogether; it votes for its edited tally.
//!
//! When penalties were read from the tally, the other members accepted such a tally (it
//! still held a quorum of reveals) and every node slashed the victim. Absence is now
//! penalised only on a quorum of attestations, and the victim was heard by every honest
//! member (its own votes, or a late accept), so the invariant "no honest member is
//! penalised on a synchronous network" must hold against this actor.

use std::collections::BTreeMap;

use super::tamper::{send_each, sign};
use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Confirm, Effect, Input, Message};
use crate::types::{Digest, NodeId};

/// Wraps the honest machine, editing what it sends as primary.
pub struct OmittingPrimary {
    node: SimNode,
    victim: Option<NodeId>,
    /// Value of an honest tally -> value of the edited one this actor votes for instead.
    edited: BTreeMap<Digest, Digest>,
}

impl OmittingPrimary {
    /// Frame a member chosen at the first input.
    pub fn new(node: SimNode) -> Self {
        OmittingPrimary {
            node,
            victim: None,
            edited: BTreeMap::new(),
        }
    }
}

impl Adversary for OmittingPrimary {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let peers = ctx.peers();
        if self.victim.is_none() && !peers.is_empty() {
            self.victim = peers.get(ctx.rng.index(peers.len())).copied();
        }
        let Some(victim) = self.victim else {
            return self.node.handle(input);
        };
        let others: Vec<NodeId> = peers.iter().copied().filter(|p| *p != victim).collect();
        let mut out = Vec::new();
        for effect in self.node.handle(input) {
            match effect {
                Effect::Broadcast {
                    msg: Message::Proposal(p),
                } if p.payload.slot % 3 == 2 => {
                    send_each(&mut out, &others, &Message::Proposal(p));
                }
                Effect::Broadcast {
                    msg: Message::Tally(t),
                } => {
                    let mut tally = t.payload.clone();
                    tally.reveals.retain(|r| r.signer != victim);
                    if tally.slot() % 3 == 1 {
                        tally.commits.retain(|c| c.signer != victim);
                    }
                    if tally == t.payload {
                        if t.payload.slot() % 3 == 2 {
                            send_each(&mut out, &others, &Message::Tally(t));
                        } else {
                            out.push(Effect::Broadcast {
                                msg: Message::Tally(t),
                            });
                        }
                        continue;
                    }
                    self.edited.insert(t.payload.value(), tally.value());
                    let msg = Message::Tally(Box::new(sign(tally, ctx.key)));
                    if t.payload.slot() % 3 == 2 {
                        send_each(&mut out, &others, &msg);
                    } else {
                        out.push(Effect::Broadcast { msg });
                    }
                }
                Effect::Broadcast {
                    msg: Message::Accept(a),
                } if self.edited.contains_key(&a.payload.value) => {
                    // Vote for the edited value, and confirm it at once (the wrapped
                    // machine never sees a quorum for the value it made).
                    let mut a = a.payload.clone();
                    a.value = self.edited.get(&a.value).copied().unwrap_or(a.value);
                    let c = Confirm {
                        slot: a.slot,
                        view: a.view,
                        value: a.value,
                    };
                    out.push(Effect::Broadcast {
                        msg: Message::Accept(sign(a, ctx.key)),
                    });
                    out.push(Effect::Broadcast {
                        msg: Message::Confirm(sign(c, ctx.key)),
                    });
                }
                Effect::Broadcast {
                    msg: Message::Confirm(c),
                } if self.edited.contains_key(&c.payload.value) => {}
                other => out.push(other),
            }
        }
        out
    }
}
