//! Listening to decided slots and attesting absence: the node side of `absence.rs`
//! (the argument is there and in docs/PROTOCOL.md, "Penalties from facts").
//!
//! A node hears a member in a slot when a verified signed message of the slot from it
//! arrives (directly, or inside the tally or certificate it decides). After deciding a
//! slot that ordered operations it keeps listening for `absence_wait` ms, then attests
//! the members it never heard and those that committed without revealing. It answers
//! for itself too: if it decided a slot without having signed anything in it (a primary
//! kept the proposal from it), it sends a late accept of the decided value; if it
//! committed to the decided batch and its reveal is not in the tally, it sends the
//! reveal late. Attestations of others are pooled until a quorum names one member, and
//! the proof waits for a primary to record it.

use std::collections::{BTreeMap, BTreeSet};

use super::absence::{ABSENCE_WINDOW, AbsenceKind, AbsenceProof, Attest};
use super::commitment::{opens, salt};
use super::entry::DecidedEntry;
use super::evidence::Misbehaviour;
use super::message::{Accept, Commit, Message, Reveal};
use super::{MAX_PENDING_EVIDENCE, Node, Reject, ReplicaState};
use crate::crypto::Signed;
use crate::ops::SignedOperation;
use crate::types::{Digest, NodeId, Slot, View};

/// What this node heard of one decided slot while it listens.
#[derive(Debug, Clone)]
pub(super) struct Hearing {
    /// The decided value.
    value: Digest,
    /// View of the decided tally (its commits and reveals are of this view).
    view: View,
    /// Its batch digest.
    batch: Digest,
    /// When to attest (virtual ms).
    pub(super) due: u64,
    /// Eligible members at the slot.
    eligible: Vec<NodeId>,
    /// Members heard at all.
    heard: BTreeSet<NodeId>,
    /// Commitments to the decided batch in the tally's view.
    commits: BTreeMap<NodeId, Signed<Commit>>,
    /// Members whose reveal for the decided batch arrived (or is in the tally).
    revealed: BTreeSet<NodeId>,
}

impl<S: ReplicaState> Node<S> {
    /// Note a verified signed message: its signer was heard in its slot.
    pub(super) fn hear(&mut self, msg: &Message) {
        let (Some(signer), Some(slot)) = (msg.signer(), msg.slot()) else {
            return;
        };
        if slot == self.slot() {
            if self.state.is_member(&signer) {
                self.heard_now.insert(signer);
            }
            return;
        }
        let mut proof = None;
        if let Some(h) = self.hearing.get_mut(&slot) {
            h.heard.insert(signer);
            if let Message::Reveal(r) = msg
                && r.payload.view == h.view
                && r.payload.batch == h.batch
            {
                match h.commits.get(&signer) {
                    Some(c) if !opens(&c.payload, &r.payload, &signer) => {
                        proof = Some(Misbehaviour::BadReveal {
                            commit: Box::new(c.clone()),
                            reveal: Box::new(r.sealed()),
                        });
                    }
                    _ => {
                        h.revealed.insert(signer);
                    }
                }
            }
        }
        if let Some(proof) = proof {
            self.add_evidence(proof);
        }
    }

    /// Whether a stale vote of `slot` from `signer` is still worth verifying (the slot is
    /// listened to and the vote could change what this node attests).
    pub(super) fn listening_to(&self, slot: Slot, msg: &Message) -> bool {
        let Some(h) = self.hearing.get(&slot) else {
            return false;
        };
        let Some(signer) = msg.signer() else {
            return false;
        };
        !h.heard.contains(&signer)
            || (matches!(msg, Message::Reveal(_))
                && h.commits.contains_key(&signer)
                && !h.revealed.contains(&signer))
    }

    /// Start listening to a slot being decided (call before the state applies it), and
    /// answer for this node if the slot was decided without its voice.
    pub(super) fn start_hearing(&mut self, entry: &DecidedEntry) {
        let heard_now = std::mem::take(&mut self.heard_now);
        if entry.batch().is_empty() {
            // Slots that order nothing (evidence only) are not attested: otherwise a
            // silent member would make every absence proof a new slot to attest.
            return;
        }
        let tally = &entry.tally.payload;
        let (slot, view) = (entry.slot, tally.view());
        let batch = tally.proposal.payload.batch_digest();
        let mut heard = heard_now;
        heard.insert(entry.tally.signer);
        heard.extend(tally.commits.iter().map(|c| c.signer));
        heard.extend(tally.reveals.iter().map(|r| r.signer));
        heard.extend(entry.confirms.iter().map(|c| c.signer));
        // Only the commit set's members were to reveal: a member that committed after the
        // set closed is not expected to (its commit counts for nothing).
        let commits: BTreeMap<NodeId, Signed<Commit>> = tally
            .commits
            .iter()
            .map(|c| (c.signer, c.clone()))
            .collect();
        let mut revealed: BTreeSet<NodeId> = tally.reveals.iter().map(|r| r.signer).collect();
        if self.round.slot == slot && self.round.view == view {
            for r in self.round.reveals.values() {
                if r.payload.batch == batch && r.payload.view == view {
                    revealed.insert(r.signer);
                }
            }
        }
        let eligible = self.state.eligible();
        self.answer_for_self(entry, batch, &revealed);
        self.hearing.insert(
            slot,
            Hearing {
                value: entry.value(),
                view,
                batch,
                due: self.now.saturating_add(self.config.absence_wait),
                eligible,
                heard,
                commits,
                revealed,
            },
        );
    }

    /// If this node signed nothing in the slot, accept the decided value late; if it
    /// committed to the decided batch and the tally lacks its reveal, reveal late. Both
    /// are harmless after the decision and prove it was there.
    fn answer_for_self(
        &mut self,
        entry: &DecidedEntry,
        batch: Digest,
        revealed: &BTreeSet<NodeId>,
    ) {
        if !self.state.is_eligible(&self.id) {
            return;
        }
        let slot = entry.slot;
        let view = entry.tally.payload.view();
        if !self.own.keys().any(|k| k.0 == slot) {
            let a = Accept {
                slot,
                view: entry.view,
                value: entry.value(),
            };
            self.send_late(Message::Accept(Signed::new(a, &self.key)));
            return;
        }
        if revealed.contains(&self.id) {
            return;
        }
        if let Some(own) = self.own_vote(slot, view, "reveal").cloned() {
            // Revealed in the tally's view, and the decided tally lacks it: a primary
            // left it out, and the slot was decided in a later view, whose rounds no
            // longer hold it. Send it again (it is persisted already): otherwise every
            // other node would attest this node `unrevealed`, and a primary could have an
            // honest member penalised each time it leaves its reveal out and withholds
            // its own confirm.
            self.effects.push(super::Effect::Broadcast { msg: own });
            return;
        }
        let Some(Message::Commit(own)) = self.own_vote(slot, view, "commit").cloned() else {
            return;
        };
        let listed = entry
            .tally
            .payload
            .commits
            .iter()
            .any(|c| c.signer == self.id && c.payload == own.payload);
        if own.payload.batch != batch || !listed {
            return;
        }
        let outcomes: Option<Vec<_>> = entry
            .batch()
            .iter()
            .map(|op| {
                self.validator_results
                    .get(&(slot, SignedOperation::id(op)))
                    .cloned()
            })
            .collect();
        let Some(outcomes) = outcomes else {
            return;
        };
        let r = Reveal {
            slot,
            view,
            batch,
            outcomes,
            salt: salt(&self.key, slot, view),
        };
        if opens(&own.payload, &r, &self.id) && !self.withhold_reveals {
            self.send_late(Message::Reveal(Signed::new(r, &self.key)));
        }
    }

    /// Persist, then broadcast, a vote of a slot already decided (the discipline of every
    /// vote, though no vote of a decided slot is ever needed again).
    fn send_late(&mut self, msg: Message) {
        self.effects
            .push(super::Effect::Persist(super::Persist::Vote(msg.clone())));
        self.effects.push(super::Effect::Broadcast { msg });
    }

    /// Attest every listened slot whose time is up.
    pub(super) fn attest_due(&mut self) {
        let due: Vec<Slot> = self
            .hearing
            .iter()
            .filter(|(_, h)| h.due <= self.now)
            .map(|(s, _)| *s)
            .collect();
        for slot in due {
            let Some(h) = self.hearing.remove(&slot) else {
                continue;
            };
            let silent: Vec<NodeId> = h
                .eligible
                .iter()
                .filter(|id| **id != self.id && !h.heard.contains(id))
                .copied()
                .collect();
            let unrevealed: Vec<NodeId> = h
                .commits
                .keys()
                .filter(|id| **id != self.id && !h.revealed.contains(id))
                .copied()
                .collect();
            if (silent.is_empty() && unrevealed.is_empty()) || !self.state.is_eligible(&self.id) {
                continue;
            }
            let a = Signed::new(
                Attest {
                    slot,
                    value: h.value,
                    silent,
                    unrevealed,
                },
                &self.key,
            );
            self.store_attest(a.clone());
            self.effects.push(super::Effect::Broadcast {
                msg: Message::Attest(Box::new(a)),
            });
        }
    }

    /// The earliest attestation due (for the timer).
    pub(super) fn next_attest(&self) -> Option<u64> {
        self.hearing.values().map(|h| h.due).min()
    }

    /// What [`Self::on_attest`] makes of `a` before its signature: refused (why), pooled
    /// already (`Ok(false)`), or to be checked (`Ok(true)`): an eligible member's
    /// well-formed attestation of a decided slot within the absence window. One home for
    /// the rule, shared with the checks made ahead in batches (`claims_to_check`).
    pub(super) fn attest_needs_check(&self, a: &Signed<Attest>) -> Result<bool, Reject> {
        let slot = a.payload.slot;
        let current = self.slot();
        if slot >= current || slot.saturating_add(ABSENCE_WINDOW) < current {
            return Err(Reject::Stale);
        }
        if !self.state.is_eligible(&a.signer) {
            return Err(Reject::NotMember(a.signer));
        }
        if !a.payload.well_formed(&a.signer) {
            return Err(Reject::Invalid("malformed attestation"));
        }
        // Only members can be absent: an attestation padded with names of no one (up to
        // 1,024 per list) made every absence proof holding it larger than a proposal
        // may carry, so the absence it proved was never punished.
        let named = a.payload.silent.iter().chain(&a.payload.unrevealed);
        if named.into_iter().any(|m| !self.state.is_member(m)) {
            return Err(Reject::Invalid("an attestation naming a non-member"));
        }
        Ok(!self
            .attests
            .get(&slot)
            .is_some_and(|by| by.contains_key(&a.signer)))
    }

    /// A received attestation.
    pub(super) fn on_attest(&mut self, a: Signed<Attest>) -> Result<(), Reject> {
        if !self.attest_needs_check(&a)? {
            // Pooled already.
            return Ok(());
        }
        self.check_sig(&a)?;
        self.hear(&Message::Attest(Box::new(a.clone())));
        self.store_attest(a);
        Ok(())
    }

    /// Pool an attestation (first per signer and slot) and form the proofs it completes.
    fn store_attest(&mut self, a: Signed<Attest>) {
        let slot = a.payload.slot;
        let by = self.attests.entry(slot).or_default();
        if by.contains_key(&a.signer) {
            return;
        }
        by.insert(a.signer, a.clone());
        let named = a
            .payload
            .silent
            .iter()
            .map(|m| (*m, AbsenceKind::Silent))
            .chain(
                a.payload
                    .unrevealed
                    .iter()
                    .map(|m| (*m, AbsenceKind::Unrevealed)),
            );
        let mut proofs = Vec::new();
        for (member, kind) in named {
            // Only members can be proven absent: a name that is none costs a look-up, not
            // a scan (an attestation may name 2,048 arbitrary ids).
            if !self.state.is_member(&member)
                || self.absences.contains_key(&(slot, member))
                || self.state.absence_recorded(slot, &member)
            {
                continue;
            }
            let Some(by) = self.attests.get(&slot) else {
                continue;
            };
            let agrees = |x: &Signed<Attest>| {
                x.payload.value == a.payload.value && x.payload.names(&member, kind)
            };
            // Who names the member first; the attestations are copied only for a quorum
            // (copying them for every name cost 2,048 copies of a 64 KiB attestation).
            let signers: BTreeSet<NodeId> = by
                .values()
                .filter(|x| agrees(x))
                .map(|x| x.signer)
                .collect();
            if self.is_quorum(&signers) {
                let naming: Vec<Signed<Attest>> =
                    by.values().filter(|x| agrees(x)).cloned().collect();
                proofs.push(AbsenceProof {
                    member,
                    kind,
                    attests: naming,
                });
            }
        }
        for p in proofs {
            if self.absences.len() >= MAX_PENDING_EVIDENCE {
                break;
            }
            if let Some(key) = p.key() {
                self.absences.entry(key).or_insert(p);
            }
        }
    }

    /// Checks of the absence proofs a proposal for `slot` carries.
    pub(super) fn check_absences(&self, slot: Slot, proofs: &[AbsenceProof]) -> Result<(), Reject> {
        if proofs.len() > super::limits::MAX_EVIDENCE_PER_PROPOSAL {
            return Err(Reject::Invalid("oversized proposal"));
        }
        let mut keys = BTreeSet::new();
        for p in proofs {
            if !p.key().is_some_and(|k| keys.insert(k)) {
                return Err(Reject::Invalid("absence proof empty or twice"));
            }
            self.check_absence(slot, p)?;
        }
        Ok(())
    }

    /// Whether one absence proof may be recorded at `slot`: in the window, not recorded
    /// yet, about a member, and a quorum by the rule in force now (membership and trust
    /// move: a proof formed earlier may no longer be one, and is then dropped).
    fn check_absence(&self, slot: Slot, p: &AbsenceProof) -> Result<(), Reject> {
        let Some((s, member)) = p.key() else {
            return Err(Reject::Invalid("empty absence proof"));
        };
        if s >= slot || s.saturating_add(ABSENCE_WINDOW) < slot {
            return Err(Reject::Invalid("absence proof outside the window"));
        }
        if self.state.absence_recorded(s, &member) {
            return Err(Reject::Invalid("absence recorded already"));
        }
        if !self.state.is_member(&member) {
            return Err(Reject::NotMember(member));
        }
        p.verify(&|signers| self.is_quorum(signers))
            .map_err(|_| Reject::Invalid("absence proof does not verify"))
    }

    /// The pending proofs a proposal carries (those still valid at this slot).
    pub(super) fn absences_to_propose(&self) -> Vec<AbsenceProof> {
        let slot = self.round.slot;
        self.absences
            .values()
            .filter(|p| self.check_absence(slot, p).is_ok())
            .take(super::limits::MAX_EVIDENCE_PER_PROPOSAL)
            .cloned()
            .collect()
    }

    /// After a decision: forget what is out of the window or recorded.
    pub(super) fn prune_absences(&mut self) {
        let next = self.slot();
        let floor = next.saturating_sub(ABSENCE_WINDOW);
        self.attests.retain(|s, _| *s >= floor);
        self.hearing.retain(|s, _| *s >= floor);
        let stale: Vec<(Slot, NodeId)> = self
            .absences
            .iter()
            .filter(|(_, p)| self.check_absence(next, p).is_err())
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.absences.remove(&k);
        }
    }
}
