//! Absence as a fact: quorum-signed attestations that a member stayed silent, or held back
//! its reveal, in a decided slot (docs/PROTOCOL.md, "Penalties from facts").
//!
//! # Why not read absence from the tally
//! A tally lists the reveals its primary chose to include. A Byzantine primary can leave
//! out an honest member's reveal (or its commit and reveal) and the other members cannot
//! tell an omission from a real absence, so a penalty read from the tally is the
//! primary's word. Presence is provable (a signed message); absence is not, except by
//! many witnesses: an absence penalty needs a quorum of members that each signed "I
//! heard nothing from this member for this slot" after listening long enough.
//!
//! # Design
//! After deciding a slot a node keeps listening to it for `absence_wait` ms: any signed
//! message of the slot from a member (a vote of any phase and view, a late reveal or
//! accept, an attestation) is hearing it. Then it signs one [`Attest`] naming the
//! eligible members it never heard (`silent`) and those whose commitment to the decided
//! batch it holds without their reveal (`unrevealed`); with nothing to name it signs
//! nothing. A quorum of attestations of one slot and decided value naming one member in
//! one list is an [`AbsenceProof`]: primaries carry it into the log, every member checks
//! it against the quorum rule of the slot it is recorded in, and the replicated state
//! penalises each (member, slot) once.
//!
//! The attacker is a Byzantine primary (or any coalition of at most f members). A quorum
//! holds at least f + 1 honest attesters; an honest attester names an honest member only
//! if no signed message of it for the slot reached the attester within `absence_wait`
//! of the attester's decision. An honest member that is alive always sends one (a vote,
//! or a late accept of the decided value, a late reveal if it committed), so on a
//! synchronous network it is never named by an honest attester.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::crypto::{Signable, Signed};
use crate::types::{Digest, NodeId, Slot};

/// Most members one attestation may name in each list, and most attestations per proof
/// (a decoder bound; real clusters are far smaller).
pub const MAX_ATTESTED: usize = 1_024;

/// Slots back from the current one that attestations and absence proofs may be about.
pub const ABSENCE_WINDOW: Slot = 256;

/// "For decided slot `slot` (value `value`), after listening, I heard nothing from
/// `silent`, and I hold the commitments of `unrevealed` to the decided batch but not
/// their reveals."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attest {
    /// The decided slot.
    pub slot: Slot,
    /// Its decided value digest `V`.
    pub value: Digest,
    /// Eligible members with no signed message of the slot (ascending, no repeats).
    pub silent: Vec<NodeId>,
    /// Members that committed to the decided batch and never revealed (ascending).
    pub unrevealed: Vec<NodeId>,
}

impl Signable for Attest {
    const DOMAIN: &'static [u8] = b"spore/consensus/attest/v1";
}

impl Attest {
    /// Whether it names `member` under `kind`.
    pub fn names(&self, member: &NodeId, kind: AbsenceKind) -> bool {
        match kind {
            AbsenceKind::Silent => self.silent.binary_search(member).is_ok(),
            AbsenceKind::Unrevealed => self.unrevealed.binary_search(member).is_ok(),
        }
    }

    /// Structural checks: sorted lists without repeats, bounded, not naming the signer.
    pub fn well_formed(&self, signer: &NodeId) -> bool {
        let ok = |l: &[NodeId]| {
            l.len() <= MAX_ATTESTED && l.windows(2).all(|w| w[0] < w[1]) && !l.contains(signer)
        };
        ok(&self.silent) && ok(&self.unrevealed)
    }
}

/// What an absence proof says the member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AbsenceKind {
    /// Sent no signed message of the slot.
    Silent,
    /// Committed to the decided batch and never revealed.
    Unrevealed,
}

/// A quorum of attestations naming one member under one kind for one decided slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbsenceProof {
    /// Who was absent.
    pub member: NodeId,
    /// How.
    pub kind: AbsenceKind,
    /// The attestations (distinct signers, one slot and value, each naming `member`).
    pub attests: Vec<Signed<Attest>>,
}

/// Why an absence proof does not prove anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbsenceError {
    /// No attestations, or more than [`MAX_ATTESTED`].
    #[error("an absence proof needs between 1 and {MAX_ATTESTED} attestations")]
    Size,
    /// Attestations of different slots or values.
    #[error("the attestations are about different slots or values")]
    Mixed,
    /// An attestation does not name the member under the kind, or is malformed.
    #[error("an attestation does not name the member as {0:?}")]
    NotNamed(AbsenceKind),
    /// One signer twice.
    #[error("one signer attests twice")]
    Duplicate,
    /// The signers do not form a quorum.
    #[error("{0} attesters do not form a quorum")]
    NoQuorum(usize),
    /// A signature does not verify.
    #[error("bad signature: {0}")]
    Signature(#[from] crate::crypto::CryptoError),
}

impl AbsenceProof {
    /// The slot the absence is about.
    pub fn slot(&self) -> Option<Slot> {
        self.attests.first().map(|a| a.payload.slot)
    }

    /// The key a member is penalised once under: (slot, member).
    pub fn key(&self) -> Option<(Slot, NodeId)> {
        self.slot().map(|s| (s, self.member))
    }

    /// Check the proof: one slot and value, distinct signers each naming the member under
    /// the kind, a quorum by `is_quorum`, every signature.
    pub fn verify(
        &self,
        is_quorum: &dyn Fn(&BTreeSet<NodeId>) -> bool,
    ) -> Result<(), AbsenceError> {
        let Some(first) = self.attests.first() else {
            return Err(AbsenceError::Size);
        };
        if self.attests.len() > MAX_ATTESTED {
            return Err(AbsenceError::Size);
        }
        let (slot, value) = (first.payload.slot, first.payload.value);
        let mut signers = BTreeSet::new();
        for a in &self.attests {
            if a.payload.slot != slot || a.payload.value != value {
                return Err(AbsenceError::Mixed);
            }
            if !a.payload.well_formed(&a.signer) || !a.payload.names(&self.member, self.kind) {
                return Err(AbsenceError::NotNamed(self.kind));
            }
            if !signers.insert(a.signer) {
                return Err(AbsenceError::Duplicate);
            }
        }
        if !is_quorum(&signers) {
            return Err(AbsenceError::NoQuorum(signers.len()));
        }
        for a in &self.attests {
            a.verify()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;

    fn attest(k: &Keypair, silent: Vec<NodeId>, unrevealed: Vec<NodeId>) -> Signed<Attest> {
        let a = Attest {
            slot: 5,
            value: Digest([1; 32]),
            silent,
            unrevealed,
        };
        Signed::new(a, k)
    }

    #[test]
    fn a_quorum_of_attestations_proves_absence_and_less_does_not() {
        let keys: Vec<Keypair> = (1..=4u8).map(|i| Keypair::from_seed([i; 32])).collect();
        let victim = keys[3].id();
        let three = |s: &BTreeSet<NodeId>| s.len() >= 3;
        let mut proof = AbsenceProof {
            member: victim,
            kind: AbsenceKind::Silent,
            attests: keys[..3]
                .iter()
                .map(|k| attest(k, vec![victim], vec![]))
                .collect(),
        };
        assert_eq!(proof.verify(&three), Ok(()));
        assert_eq!(proof.key(), Some((5, victim)));
        // Under the other kind it proves nothing.
        proof.kind = AbsenceKind::Unrevealed;
        assert!(matches!(
            proof.verify(&three),
            Err(AbsenceError::NotNamed(_))
        ));
        proof.kind = AbsenceKind::Silent;
        // Two attesters are not a quorum; one attester twice is refused.
        let mut short = proof.clone();
        short.attests.pop();
        assert_eq!(short.verify(&three), Err(AbsenceError::NoQuorum(2)));
        short.attests.push(short.attests[0].clone());
        assert_eq!(short.verify(&three), Err(AbsenceError::Duplicate));
        // A forged signature fails.
        let mut forged = proof.clone();
        forged.attests[2].payload.value = Digest([2; 32]);
        assert_eq!(forged.verify(&three), Err(AbsenceError::Mixed));
        let mut forged = proof.clone();
        forged.attests[2].payload.unrevealed = vec![keys[0].id()];
        assert!(matches!(
            forged.verify(&three),
            Err(AbsenceError::Signature(_))
        ));
        // Nobody may name itself; lists must be sorted.
        let own = attest(&keys[0], vec![keys[0].id()], vec![]);
        assert!(!own.payload.well_formed(&own.signer));
        let mut two = vec![keys[1].id(), keys[2].id()];
        two.sort();
        two.reverse();
        let unsorted = attest(&keys[0], two, vec![]);
        assert!(!unsorted.payload.well_formed(&unsorted.signer));
        assert_eq!(
            AbsenceProof {
                member: victim,
                kind: AbsenceKind::Silent,
                attests: vec![]
            }
            .verify(&three),
            Err(AbsenceError::Size)
        );
    }
}
