//! Byzantine member that never computes: it waits for another member's reveal, then
//! commits to a copy of those results under its own salt (so the commitment opens) and
//! reveals at once. It also carries what it saw into later views of the slot: when a new
//! view proposes the same batch, it commits to the results revealed in the earlier view
//! before anyone reveals in the new one.
//!
//! Sealing defeats it. In one view its commitment comes after the primary closed the
//! commit set (honest members reveal only once it is closed), so its reveal is never
//! counted; in a later view the copy is in time, but no agreement is rewarded in a slot
//! decided after a view change (earlier reveals may have been seen). The invariant "no
//! copied result ever gains trust" must hold against it.

use std::collections::BTreeMap;

use super::tamper::sign;
use super::{Adversary, Ctx, SimNode};
use crate::consensus::commitment::{commitment, salt};
use crate::consensus::{Commit, Effect, Input, Message, ModuleReply, Proposal, Reveal};
use crate::crypto::Signed;
use crate::ops::Outcome;
use crate::types::{Digest, Slot, View};

/// Wraps the honest machine, replacing its commits and reveals with copies.
pub struct LateCopycat {
    node: SimNode,
    /// Results seen revealed, by (slot, batch).
    seen: BTreeMap<(Slot, Digest), Vec<Outcome>>,
    /// The views of each slot it already committed in.
    committed: BTreeMap<(Slot, View), Digest>,
}

impl LateCopycat {
    /// Copy instead of letting `node` compute.
    pub fn new(node: SimNode) -> Self {
        LateCopycat {
            node,
            seen: BTreeMap::new(),
            committed: BTreeMap::new(),
        }
    }

    /// Commit to `outcomes` for (slot, view, batch) and reveal them.
    fn copy(
        &mut self,
        ctx: &Ctx<'_>,
        out: &mut Vec<Effect>,
        (slot, view, batch): (Slot, View, Digest),
        outcomes: Vec<Outcome>,
    ) {
        if self.committed.contains_key(&(slot, view)) {
            return;
        }
        self.committed.insert((slot, view), batch);
        let me = ctx.key.id();
        let s = salt(ctx.key, slot, view);
        let c = Commit {
            slot,
            view,
            batch,
            commitment: commitment(slot, view, &batch, &outcomes, &s, &me),
        };
        let r = Reveal {
            slot,
            view,
            batch,
            outcomes,
            salt: s,
        };
        out.push(Effect::Broadcast {
            msg: Message::Commit(sign(c, ctx.key)),
        });
        out.push(Effect::Broadcast {
            msg: Message::Reveal(sign(r, ctx.key)),
        });
        self.committed.retain(|k, _| k.0 + 4 >= slot);
        self.seen.retain(|k, _| k.0 + 4 >= slot);
    }
}

impl Adversary for LateCopycat {
    fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match &input {
            // It never computes: the validator's answers never reach its machine.
            Input::ModuleResult {
                result: ModuleReply::Validator(_),
                ..
            } => return out,
            Input::Message {
                msg: Message::Reveal(r),
                ..
            } if r.signer != ctx.key.id() && r.payload.salt != Digest([0; 32]) => {
                let b = &r.payload;
                self.seen
                    .entry((b.slot, b.batch))
                    .or_insert_with(|| b.outcomes.clone());
                let outcomes = b.outcomes.clone();
                self.copy(ctx, &mut out, (b.slot, b.view, b.batch), outcomes);
            }
            // A proposal of a batch whose results it saw in an earlier view: commit to
            // them before anyone reveals in this one.
            Input::Message {
                msg: Message::Proposal(p),
                ..
            } => self.copy_earlier(ctx, &mut out, p),
            _ => {}
        }
        for effect in self.node.handle(input) {
            if let Effect::Broadcast {
                msg: Message::Proposal(p),
            } = &effect
            {
                self.copy_earlier(ctx, &mut out, p);
            }
            out.push(effect);
        }
        out
    }
}

impl LateCopycat {
    /// Commit to results seen in an earlier view of `p`'s slot for the same batch.
    fn copy_earlier(&mut self, ctx: &Ctx<'_>, out: &mut Vec<Effect>, p: &Signed<Proposal>) {
        let (slot, view, batch) = (p.payload.slot, p.payload.view, p.payload.batch_digest());
        if let Some(outcomes) = self.seen.get(&(slot, batch)).cloned() {
            self.copy(ctx, out, (slot, view, batch), outcomes);
        }
    }
}
