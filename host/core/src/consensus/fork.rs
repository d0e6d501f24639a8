//! Accountable safety: two certified entries for one slot are a fork, and a fork names
//! its culprits (docs/PROTOCOL.md, "Forks").
//!
//! # Design
//! Safety holds while at most f eligible members are Byzantine. Beyond that, two
//! quorums may confirm different values for one slot. Each honest node that sees both
//! certificates holds a [`ForkProof`]: the two values, each with its quorum of signed
//! confirms ([`CertifiedValue`]; the tallies are left out, so a proof fits a frame). Two quorums of one membership intersect in at least f + 1 members, and every
//! member of the intersection signed a confirm for each value: in one view that is two
//! different votes of one (slot, view, phase), an equivocation no honest node commits;
//! across views the culprits are those same signers (an honest member confirms a second
//! value in a later view only after a new-view certificate that its own locked
//! certificate forbids; the transcript that shows which of them lied is the view
//! changes, which the proof does not carry, a documented limit).
//!
//! Where a node meets a fork:
//! - every proposal names its parent, the value of the previous slot: a member whose own
//!   previous value differs asks the proposer for that entry (catch-up);
//! - catch-up compares every entry with the one it holds for the slot, never skips it;
//! - a received proof is verified and adopted.
//!
//! A node that holds a proof stops ordering (it votes, proposes and applies nothing
//! more), keeps serving catch-up, gossips the proof and reports it (`Effect::Fork`, the
//! node status). Recovery is an operator's decision from there.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::entry::{CertificateError, DecidedEntry};
use super::message::Confirm;
use super::replica::ReplicaState;
use crate::crypto::Signed;
use crate::types::{Digest, NodeId, Slot, View};

/// One side of a fork: a slot's value with the quorum of confirms that certify it.
///
/// The tally is left out: the confirms sign its value, and they alone name the culprits.
/// So a proof is a few KiB whatever the size of the entries (two entries of up to a frame
/// each made a proof no frame could carry, and it could not be gossiped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifiedValue {
    /// The slot.
    pub slot: Slot,
    /// The view of the confirms.
    pub view: View,
    /// The value digest `V` they confirm.
    pub value: Digest,
    /// The confirms, one per signer.
    pub confirms: Vec<Signed<Confirm>>,
}

impl CertifiedValue {
    /// The certified value of a decided entry.
    pub fn of(entry: &DecidedEntry) -> Self {
        CertifiedValue {
            slot: entry.slot,
            view: entry.view,
            value: entry.value(),
            confirms: entry.confirms.clone(),
        }
    }
}

/// Two certified values for one slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkProof {
    /// One side.
    pub first: CertifiedValue,
    /// The conflicting side.
    pub second: CertifiedValue,
}

/// Why a fork proof proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForkError {
    /// The entries are for different slots.
    #[error("the entries are for slots {0} and {1}")]
    Slots(Slot, Slot),
    /// The entries carry one value.
    #[error("the entries carry the same value")]
    SameValue,
    /// A certificate does not verify.
    #[error("a certificate does not verify: {0}")]
    Certificate(#[from] CertificateError),
    /// No member signed both (the certificates are of memberships that do not meet).
    #[error("no member confirmed both values")]
    NoCulprit,
}

impl ForkProof {
    /// The forked slot.
    pub fn slot(&self) -> Slot {
        self.first.slot
    }

    /// The members whose signed confirms appear in both certificates, ascending.
    pub fn culprits(&self) -> Vec<NodeId> {
        let a: BTreeSet<NodeId> = self.first.confirms.iter().map(|c| c.signer).collect();
        let b: BTreeSet<NodeId> = self.second.confirms.iter().map(|c| c.signer).collect();
        a.intersection(&b).copied().collect()
    }

    /// Check that both entries are certified and conflict; returns the culprits.
    ///
    /// Each side must be confirms for its (slot, view, value) signed by distinct members
    /// of `state` that form a `quorum` by the verifier's current rule (its eligible
    /// members, trust and established members). Only that rule puts more than `f` of
    /// today's eligible members among the culprits; a count over every member ever
    /// admitted (the earlier rule) let keys that no longer count for anything (members
    /// excluded or readmitted since) forge both sides. The price: a fork found after the
    /// eligible set changed enough may not verify at a node, which then goes on with its
    /// own side (docs/PROTOCOL.md, "Forks").
    pub fn verify<S: ReplicaState + ?Sized>(
        &self,
        state: &S,
        quorum: &dyn Fn(&BTreeSet<NodeId>) -> bool,
    ) -> Result<Vec<NodeId>, ForkError> {
        if self.first.slot != self.second.slot {
            return Err(ForkError::Slots(self.first.slot, self.second.slot));
        }
        if self.first.value == self.second.value {
            return Err(ForkError::SameValue);
        }
        // Every count and membership check of both sides before any signature, and the
        // first side's signatures before the second's: a node comparing a peer's entry
        // with its own puts the peer's first, so a bogus one costs no check of its own
        // certificate (which it verified when it decided).
        for side in [&self.first, &self.second] {
            shaped(side, state, quorum)?;
        }
        let culprits = self.culprits();
        if culprits.is_empty() {
            return Err(ForkError::NoCulprit);
        }
        for side in [&self.first, &self.second] {
            for c in &side.confirms {
                c.verify().map_err(CertificateError::from)?;
            }
        }
        Ok(culprits)
    }
}

/// Whether `side` has the shape of a certificate of `state`'s membership: confirms of
/// its (slot, view, value) by distinct members, a quorum of them (see
/// [`ForkProof::verify`]); the signatures are checked by the caller.
fn shaped<S: ReplicaState + ?Sized>(
    side: &CertifiedValue,
    state: &S,
    quorum: &dyn Fn(&BTreeSet<NodeId>) -> bool,
) -> Result<(), CertificateError> {
    let mut signers = BTreeSet::new();
    for c in &side.confirms {
        if c.payload.slot != side.slot
            || c.payload.view != side.view
            || c.payload.value != side.value
        {
            return Err(CertificateError::ConfirmMismatch);
        }
        if !state.is_member(&c.signer) {
            return Err(CertificateError::NotEligible(c.signer));
        }
        // Before any signature is checked (a member can sign one confirm many ways).
        if !signers.insert(c.signer) {
            return Err(CertificateError::DuplicateSigner(c.signer));
        }
    }
    // A quorum by the verifier's own rule, over the members eligible now: the rule every
    // agreement step uses, so the two sides share more than `f` of today's eligible
    // members, which the threat model says are not all faulty. Members no longer
    // eligible sign nothing that counts: their keys are free for anyone who held them
    // (excluded, removed or readmitted later), and a count over every member ever
    // admitted let enough of them forge a proof that halts the cluster.
    if !quorum(&signers) {
        return Err(CertificateError::NoQuorum(signers.len()));
    }
    Ok(())
}
