//! What the consensus machine needs from the replicated state: membership, roles,
//! quorums, and applying decided entries in slot order.
//!
//! # Design
//! The machine is written against this narrow trait rather than the whole replicated
//! state, so it sees exactly the facts every node agrees on at the current slot (design
//! invariant 6): eligibility, trust weight, `primary(view)` / `seed(view)`, the quorum
//! rules, and `apply`. The replicated state of `state/` implements it; every method
//! must be a deterministic function of the decided log.

use std::collections::BTreeSet;

use super::entry::DecidedEntry;
use super::evidence::Misbehaviour;
use crate::ops::{AuthorityLevel, Mechanism, Operation, Outcome, SignedOperation};
use crate::quorum::QuorumRule;
use crate::state::AuthError;
use crate::state::{ReplicatedState, StateChange};
use crate::types::{Epoch, NodeId, Slot, TrustBps, View};

/// The replicated state as the consensus machine sees it.
pub trait ReplicaState {
    /// The next slot to decide (one past the last applied entry).
    fn next_slot(&self) -> Slot;

    /// The epoch of [`ReplicaState::next_slot`].
    fn epoch(&self) -> Epoch;

    /// The eligible members, ascending by id.
    fn eligible(&self) -> Vec<NodeId>;

    /// Whether `id` is an eligible member.
    fn is_eligible(&self, id: &NodeId) -> bool {
        self.eligible().contains(id)
    }

    /// Whether `id` is a member at all (eligible or not): members may ask for catch-up.
    fn is_member(&self, id: &NodeId) -> bool;

    /// `id`'s trust (its weight in the resolver's confidence figures).
    fn trust(&self, id: &NodeId) -> TrustBps;

    /// The primary spore of `view` (`None` if nobody is eligible).
    fn primary(&self, view: View) -> Option<NodeId>;

    /// The seed spore of `view`: the backup, primary of `view + 1`.
    fn seed(&self, view: View) -> Option<NodeId>;

    /// The critical quorum rule (`None` if nobody is eligible): built once, it tests
    /// many signer sets (a tally's per-operation matches) with one build.
    fn critical_rule(&self) -> Option<QuorumRule>;

    /// The light quorum rule of the latent layer of `view` (authority Low path).
    fn light_rule(&self, view: View) -> Option<QuorumRule>;

    /// Whether `signers` form a quorum under the critical rule (used by every agreement
    /// step and by Full-BFT result matching).
    fn is_quorum(&self, signers: &BTreeSet<NodeId>) -> bool {
        self.critical_rule().is_some_and(|q| q.is_met(signers))
    }

    /// Whether `signers` form the light quorum of the latent layer of `view` (authority
    /// Low path).
    fn is_light_quorum(&self, view: View, signers: &BTreeSet<NodeId>) -> bool {
        self.light_rule(view).is_some_and(|q| q.is_met(signers))
    }

    /// Whether `op` may be ordered at the next slot: signature, chain, expiry, the
    /// submitter's authority and the operation's own rules (sponsors, proofs, budgets).
    fn authorize(&self, op: &SignedOperation) -> Result<(), AuthError>;

    /// The replicated batch limits in force: most operations per batch
    /// (`timing.max-batch`) and the largest module output (`timing.max-output-bytes`).
    fn batch_limits(&self) -> (usize, usize);

    /// Whether an absence of `member` in `slot` was penalised already (each (slot,
    /// member) is penalised at most once).
    fn absence_recorded(&self, _slot: Slot, _member: &NodeId) -> bool {
        false
    }

    /// Whether `id` is excluded for proven misbehaviour: trust 0, no automatic readmission,
    /// so a further proof against it changes nothing.
    fn misbehaved(&self, _id: &NodeId) -> bool {
        false
    }

    /// What applying an entry changed (for logs, metrics and summaries).
    type Change: Clone + std::fmt::Debug;

    /// Apply a decided (and verified) entry for [`ReplicaState::next_slot`]: the round
    /// report, then every non-escalated (operation, outcome) in batch order.
    fn apply(&mut self, entry: &DecidedEntry) -> Vec<Self::Change>;
}

impl ReplicaState for ReplicatedState {
    type Change = StateChange;

    fn next_slot(&self) -> Slot {
        ReplicatedState::next_slot(self)
    }

    fn epoch(&self) -> Epoch {
        self.epoch_at(ReplicatedState::next_slot(self))
    }

    fn eligible(&self) -> Vec<NodeId> {
        ReplicatedState::eligible(self)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    fn is_eligible(&self, id: &NodeId) -> bool {
        ReplicatedState::is_eligible(self, id)
    }

    fn is_member(&self, id: &NodeId) -> bool {
        self.member(id).is_some()
    }

    fn trust(&self, id: &NodeId) -> TrustBps {
        self.ledger().trust(id)
    }

    fn primary(&self, view: View) -> Option<NodeId> {
        ReplicatedState::primary(self, view)
    }

    fn seed(&self, view: View) -> Option<NodeId> {
        ReplicatedState::seed(self, view)
    }

    fn authorize(&self, op: &SignedOperation) -> Result<(), AuthError> {
        ReplicatedState::authorize(self, op)
    }

    fn batch_limits(&self) -> (usize, usize) {
        let t = &self.params().timing;
        (
            usize::try_from(t.max_batch).unwrap_or(usize::MAX),
            usize::try_from(t.max_output_bytes).unwrap_or(usize::MAX),
        )
    }

    fn absence_recorded(&self, slot: Slot, member: &NodeId) -> bool {
        self.absence_applied(slot, member)
    }

    fn misbehaved(&self, id: &NodeId) -> bool {
        self.ledger().get(id).is_some_and(|e| {
            e.status == crate::trust::Status::Excluded(crate::trust::ExclusionCause::Misbehaviour)
        })
    }

    fn critical_rule(&self) -> Option<QuorumRule> {
        self.quorum_rule(Mechanism::FullBft, 0)
    }

    fn light_rule(&self, view: View) -> Option<QuorumRule> {
        self.quorum_rule(Mechanism::Authority(AuthorityLevel::Low), view)
    }

    fn apply(&mut self, entry: &DecidedEntry) -> Vec<StateChange> {
        // The node applies verified entries in slot order; an entry for a slot already
        // applied changes nothing (checked first, before any record below is written).
        if entry.slot < self.next_slot() {
            return Vec::new();
        }
        let eligible = ReplicaState::eligible(self);
        // A misbehaviour is punished once in the whole history, and only if it happened
        // while the offender was the member it is now (not before a readmission).
        let fresh: BTreeSet<(NodeId, Slot, &'static str)> = entry
            .evidence()
            .iter()
            .filter_map(Misbehaviour::key)
            .filter(|k| {
                !self.proof_applied(k) && self.member(&k.0).is_some_and(|m| k.1 >= m.joined)
            })
            .collect();
        // An absence is penalised once, and only of a member that was one at the slot.
        let fresh_absences: BTreeSet<(Slot, NodeId)> = entry
            .absences()
            .iter()
            .filter_map(|p| p.key())
            .filter(|(s, m)| {
                !self.absence_applied(*s, m) && self.member(m).is_some_and(|i| *s >= i.joined)
            })
            .collect();
        let report = entry.round_report_counting(
            &eligible,
            |ev| ev.key().is_some_and(|k| fresh.contains(&k)),
            |p| p.key().is_some_and(|k| fresh_absences.contains(&k)),
            self.slot_view(),
        );
        // The view of the decided *tally*, which the value binds: the same on every node
        // that decides it. The entry's own view is that of the confirms it holds, and one
        // value can be confirmed in view v on one node and, locked and confirmed again
        // after a view change, in v + 1 on another: the replicated state (its digest, and
        // whether the next slot's agreement is rewarded) would differ between them.
        self.set_slot_view(entry.tally.payload.view());
        let (batch, agreed): (Vec<(Operation, Outcome)>, Vec<Option<NodeId>>) = entry
            .batch()
            .iter()
            .zip(entry.decisions())
            .filter_map(|(op, d)| {
                let agreed = matches!(d, super::Decision::Agreed(_)).then_some(op.submitter);
                d.outcome().map(|o| ((op.op.clone(), o.clone()), agreed))
            })
            .unzip();
        // The slot is checked above, and the report is built for it, so this cannot
        // fail. Only what a quorum agreed on judges a validator on probation, by
        // submitter.
        let judge = |i: usize| agreed.get(i).copied().flatten();
        let changes = self
            .apply_slot_judged(entry.slot, &batch, Some(&report), &judge)
            .unwrap_or_default();
        for key in fresh {
            self.record_proof(key);
        }
        for (slot, member) in fresh_absences {
            self.record_absence(slot, member);
        }
        changes
    }
}
