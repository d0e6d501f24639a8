//! Byzantine member that censors one client: it never lets that client's operations into
//! its mempool, so as primary it keeps deciding everyone else's operations and never the
//! victim's, and it does not gossip them. It runs the protocol faithfully otherwise.
//!
//! Rotation and the censorship rule defeat it: the primary's role moves on every
//! `timing.rotation-slots` slots whatever the view, and honest members that hold the
//! victim's operation at the front of their mempool for `censor_slots` decided slots ask
//! for a view change. The liveness invariant (every operation decided after GST) must
//! hold against it.

use super::{Adversary, Ctx, SimNode};
use crate::consensus::{Effect, Input, Message};
use crate::types::NodeId;

/// Wraps the honest machine, hiding one client's operations from it.
pub struct Censor {
    node: SimNode,
    victim: Option<NodeId>,
}

impl Censor {
    /// Censor the first client whose operation reaches `node`.
    pub fn new(node: SimNode) -> Self {
        Censor { node, victim: None }
    }
}

impl Adversary for Censor {
    fn handle(&mut self, _ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        // A bundle: the victim's operations are dropped, the others taken.
        let input = match input {
            Input::Message {
                from,
                msg: Message::Submit(mut ops),
            } => {
                if let Some(first) = ops.first() {
                    let victim = *self.victim.get_or_insert(first.submitter);
                    ops.retain(|op| op.submitter != victim);
                }
                Input::Message {
                    from,
                    msg: Message::Submit(ops),
                }
            }
            other => other,
        };
        let submitter = match &input {
            Input::Submit(op) => Some(op.submitter),
            _ => None,
        };
        if let Some(s) = submitter
            && *self.victim.get_or_insert(s) == s
        {
            return Vec::new();
        }
        self.node.handle(input)
    }
}
