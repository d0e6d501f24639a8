//! Decided log entries: the batch, the decision of every operation, and the certificate.
//!
//! # Design
//! A [`DecidedEntry`] is the primary-signed [`Tally`] (batch, evidence, sealed commits,
//! reveals, decisions) and a quorum of [`Confirm`] votes for its value digest `V` in one
//! view. Its identity is `V` ([`DecidedEntry::value`]): two honest nodes may hold
//! different confirm quorums for the same slot, never different values.
//!
//! Everything the trust ledger needs ([`DecidedEntry::round_report`]) is a deterministic
//! function of the tally, so every node derives the same round report.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::absence::{AbsenceKind, AbsenceProof};
use super::evidence::Misbehaviour;
use super::message::{Confirm, Tally};
use super::replica::ReplicaState;
use crate::crypto::Signed;
use crate::ops::{Mechanism, Outcome, SignedOperation};
use crate::trust::{Participation, RoundReport};
use crate::types::{Digest, Layer, NodeId, Slot, View};

/// How one operation of a batch was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A quorum (Full BFT) or light quorum of latent members (authority Low) revealed
    /// this outcome.
    Agreed(Outcome),
    /// The authority layer (primary for High, seed for Medium) decided this outcome.
    Authority {
        /// The deciding layer.
        layer: Layer,
        /// Its outcome.
        outcome: Outcome,
    },
    /// No quorum; the resolver module accepted this layer's outcome.
    Resolved {
        /// The layer the resolver chose.
        layer: Layer,
        /// That layer's outcome.
        outcome: Outcome,
    },
    /// No quorum and no resolvable authority: recorded as escalated, changes no state.
    Escalated {
        /// Why (from the resolver, or the host's reason).
        reason: String,
    },
}

impl Decision {
    /// The canonical outcome, if the operation was not escalated.
    pub fn outcome(&self) -> Option<&Outcome> {
        match self {
            Decision::Agreed(o) => Some(o),
            Decision::Authority { outcome, .. } | Decision::Resolved { outcome, .. } => {
                Some(outcome)
            }
            Decision::Escalated { .. } => None,
        }
    }

    /// Whether the operation was escalated.
    pub fn is_escalated(&self) -> bool {
        matches!(self, Decision::Escalated { .. })
    }
}

/// A decided slot with its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedEntry {
    /// The slot.
    pub slot: Slot,
    /// The view of the confirms.
    pub view: View,
    /// The decided value.
    pub tally: Signed<Tally>,
    /// A quorum of confirms for `(slot, view, tally.value())`.
    pub confirms: Vec<Signed<Confirm>>,
}

/// Why a certificate does not certify its entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// A signature does not verify.
    #[error("bad signature: {0}")]
    Signature(#[from] crate::crypto::CryptoError),
    /// The tally is not for the entry's slot.
    #[error("tally is for slot {got}, entry for slot {expected}")]
    WrongSlot {
        /// The entry's slot.
        expected: Slot,
        /// The tally's slot.
        got: Slot,
    },
    /// The tally is not signed by the primary of its view.
    #[error("tally not signed by the primary of view {0}")]
    NotPrimary(View),
    /// A confirm is for another slot, view or value.
    #[error("a confirm does not match the entry")]
    ConfirmMismatch,
    /// A confirm signer is not an eligible member.
    #[error("confirm by non-eligible node {0}")]
    NotEligible(NodeId),
    /// The confirm signers do not form a quorum.
    #[error("{0} confirms do not form a quorum")]
    NoQuorum(usize),
    /// A member's confirm appears twice (refused before any signature is checked: a
    /// member can sign one message many ways, and a certificate padded with its copies
    /// would cost a check each).
    #[error("two confirms by {0}")]
    DuplicateSigner(NodeId),
    /// The tally is malformed (decision count differs from the batch size).
    #[error("malformed tally: {0}")]
    Malformed(&'static str),
}

impl DecidedEntry {
    /// The batch.
    pub fn batch(&self) -> &[SignedOperation] {
        &self.tally.payload.proposal.payload.batch
    }

    /// One decision per operation of the batch.
    pub fn decisions(&self) -> &[Decision] {
        &self.tally.payload.decisions
    }

    /// Misbehaviour proofs recorded with this slot.
    pub fn evidence(&self) -> &[Misbehaviour] {
        &self.tally.payload.proposal.payload.evidence
    }

    /// Quorum-attested absences (of earlier slots) recorded with this slot.
    pub fn absences(&self) -> &[AbsenceProof] {
        &self.tally.payload.proposal.payload.absences
    }

    /// The value digest `V`: the identity of the decision.
    pub fn value(&self) -> Digest {
        self.tally.payload.value()
    }

    /// The mechanism of the batch (`None` for an empty batch).
    pub fn mechanism(&self) -> Option<Mechanism> {
        self.batch().first().map(SignedOperation::mechanism)
    }

    /// The operations recorded as escalated, with their index and reason.
    pub fn escalations(&self) -> impl Iterator<Item = (usize, &SignedOperation, &str)> {
        self.batch()
            .iter()
            .zip(self.decisions())
            .enumerate()
            .filter_map(|(i, (op, d))| match d {
                Decision::Escalated { reason } => Some((i, op, reason.as_str())),
                _ => None,
            })
    }

    /// Check the certificate against the membership at the slot (`state` must be the
    /// replicated state just before `self.slot`).
    pub fn verify<S: ReplicaState + ?Sized>(
        &self,
        state: &S,
        quorum: &dyn Fn(&BTreeSet<NodeId>) -> bool,
    ) -> Result<(), CertificateError> {
        let tally = &self.tally.payload;
        if state.primary(tally.view()) != Some(self.tally.signer) {
            return Err(CertificateError::NotPrimary(tally.view()));
        }
        self.verify_certificate(state, quorum)
    }

    /// [`Self::verify`] without the check that the tally's signer was the primary of its
    /// view (which needs the state at the slot): what a fork proof about an older slot
    /// can be checked against, since the conflict is in the confirms.
    pub fn verify_certificate<S: ReplicaState + ?Sized>(
        &self,
        state: &S,
        quorum: &dyn Fn(&BTreeSet<NodeId>) -> bool,
    ) -> Result<(), CertificateError> {
        let tally = &self.tally.payload;
        if tally.slot() != self.slot {
            return Err(CertificateError::WrongSlot {
                expected: self.slot,
                got: tally.slot(),
            });
        }
        if tally.decisions.len() != tally.proposal.payload.batch.len() {
            return Err(CertificateError::Malformed(
                "decision count differs from batch size",
            ));
        }
        if tally.proposal.signer != self.tally.signer {
            return Err(CertificateError::NotPrimary(tally.view()));
        }
        let value = tally.value();
        let mut signers = BTreeSet::new();
        for c in &self.confirms {
            if c.payload.slot != self.slot
                || c.payload.view != self.view
                || c.payload.value != value
            {
                return Err(CertificateError::ConfirmMismatch);
            }
            if !state.is_eligible(&c.signer) {
                return Err(CertificateError::NotEligible(c.signer));
            }
            if !signers.insert(c.signer) {
                return Err(CertificateError::DuplicateSigner(c.signer));
            }
        }
        if !quorum(&signers) {
            return Err(CertificateError::NoQuorum(signers.len()));
        }
        self.tally.verify()?;
        for c in &self.confirms {
            c.verify()?;
        }
        Ok(())
    }

    /// The round report for the trust ledger, derived from the certified entry only (so
    /// every node derives the same report).
    ///
    /// The revealers in the tally are reported from their signed reveals (facts): agreed
    /// when every revealed result matches the decided one on the sealed (Full BFT) path,
    /// dissented when one contradicts an `Agreed` result; otherwise not at all. A member missing from the
    /// tally is *not* reported: the primary chose what to include, so a missing reveal is
    /// its word, not a fact (docs/PROTOCOL.md, "Penalties from facts"). Absence is
    /// penalised only from the quorum-attested [`AbsenceProof`]s the entry records, in
    /// [`RoundReport::absences`]. Recorded evidence marks its offender as equivocated or
    /// bad reveal, whether or not it is still eligible.
    pub fn round_report(&self, eligible: &[NodeId]) -> RoundReport {
        self.round_report_counting(eligible, |_| true, |_| true, self.tally.payload.view())
    }

    /// [`Self::round_report`], marking only the offenders of the proofs that `counts`
    /// accepts and the absences `absence_counts` accepts (the replicated state passes
    /// those it has not punished yet). `slot_view` is the view the slot started in: a
    /// tally of a later view rewards no agreement (a view change came first, and results
    /// revealed in it could be copied into the deciding round).
    pub fn round_report_counting(
        &self,
        eligible: &[NodeId],
        counts: impl Fn(&Misbehaviour) -> bool,
        absence_counts: impl Fn(&AbsenceProof) -> bool,
        slot_view: View,
    ) -> RoundReport {
        let tally = &self.tally.payload;
        let mut out: BTreeMap<NodeId, Participation> = BTreeMap::new();
        let eligible_set: BTreeSet<&NodeId> = eligible.iter().collect();
        // Agreement is rewarded only where it was sealed (Full BFT: nobody could copy);
        // dissent is penalised only against an `Agreed` result, which a quorum (or a light
        // quorum, holding an honest member) revealed: never against an authority's or the
        // resolver's choice, which an honest member may rightly contradict.
        let sealed =
            self.mechanism().is_none_or(Mechanism::is_full_bft) && tally.view() <= slot_view;
        for r in &tally.reveals {
            if !eligible_set.contains(&r.signer)
                || r.payload.outcomes.len() != tally.decisions.len()
            {
                continue;
            }
            let (mut agrees, mut dissents) = (true, false);
            for (o, d) in r.payload.outcomes.iter().zip(&tally.decisions) {
                match d {
                    Decision::Agreed(canon) if canon != o => dissents = true,
                    Decision::Authority { outcome, .. } | Decision::Resolved { outcome, .. }
                        if outcome != o =>
                    {
                        agrees = false;
                    }
                    _ => {}
                }
            }
            if dissents {
                out.insert(r.signer, Participation::Dissented);
            } else if agrees && sealed {
                out.insert(r.signer, Participation::Agreed);
            }
        }
        for ev in self.evidence().iter().filter(|ev| counts(ev)) {
            if let Some(offender) = ev.offender() {
                let p = match ev {
                    Misbehaviour::ConflictingVotes { .. } => Participation::Equivocated,
                    Misbehaviour::BadReveal { .. } => Participation::BadReveal,
                };
                let worse = out
                    .get(&offender)
                    .is_none_or(|old| old.severity() < p.severity());
                if worse {
                    out.insert(offender, p);
                }
            }
        }
        let mut absences = BTreeMap::new();
        for p in self.absences().iter().filter(|p| absence_counts(p)) {
            let how = match p.kind {
                AbsenceKind::Silent => Participation::Silent,
                AbsenceKind::Unrevealed => Participation::CommittedNoReveal,
            };
            if let Some((slot, member)) = p.key() {
                absences.insert((slot, member), how);
            }
        }
        RoundReport {
            slot: self.slot,
            source: self.tally.signer,
            participants: out.into_iter().collect(),
            absences: absences
                .into_iter()
                .map(|((_, member), how)| (member, how))
                .collect(),
        }
    }
}
