//! Byzantine primary that shapes the resolver's input. It reports wrong results (as
//! `wrong-result` does) and, so that its tallies hold no quorum of matching results, lets
//! its machine see only as many reveals of others as a tally needs, minus one honest
//! quorum: the tally it makes from them has a quorum of reveals but no quorum of one
//! outcome, and every Full-BFT operation goes to the resolver with the primary's result
//! among the candidates. On the authority paths the same filter hides the deciding
//! layer, so the primary falls back without it.
//!
//! The omission rule defeats it: every honest member holds the honest reveals the tally
//! leaves out, with which the operation would be `Agreed`, and refuses the tally; the
//! next view's primary decides. The invariant "Agreed whenever an honest quorum agrees in
//! time" must hold against it.

use std::collections::{BTreeMap, BTreeSet};

use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input, Message, ModuleReply};
use crate::sim::modules::wrong_result;
use crate::types::{NodeId, Slot, View};

/// Wraps the honest machine: wrong results in, most reveals of others filtered out.
pub struct SteeringPrimary {
    node: SimNode,
    /// Reveals of others let through, per (slot, view).
    seen: BTreeMap<(Slot, View), BTreeSet<NodeId>>,
}

impl SteeringPrimary {
    /// Steer with `node`'s key.
    pub fn new(node: SimNode) -> Self {
        SteeringPrimary {
            node,
            seen: BTreeMap::new(),
        }
    }
}

impl Adversary for SteeringPrimary {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let n = ctx.members.len();
        let quorum = n - (n.saturating_sub(1)) / 3;
        let input = match input {
            Input::ModuleResult {
                call,
                result: ModuleReply::Validator(outcome),
            } => Input::ModuleResult {
                call,
                result: ModuleReply::Validator(wrong_result(&outcome)),
            },
            Input::Message {
                from,
                msg: Message::Reveal(r),
            } if r.signer != ctx.key.id() => {
                let key = (r.payload.slot, r.payload.view);
                let seen = self.seen.entry(key).or_default();
                if !seen.contains(&r.signer) && seen.len() + 1 >= quorum {
                    return Vec::new();
                }
                seen.insert(r.signer);
                self.seen.retain(|k, _| k.0 + 4 >= key.0);
                Input::Message {
                    from,
                    msg: Message::Reveal(r),
                }
            }
            other => other,
        };
        self.node.handle(input)
    }
}
