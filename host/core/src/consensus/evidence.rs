//! Misbehaviour proofs: self-contained, signed, checkable by anyone who knows the membership.
//!
//! # Design
//! Two kinds (docs/PROTOCOL.md, "Misbehaviour proofs"):
//! - [`Misbehaviour::ConflictingVotes`]: two votes signed by one member for one slot, view
//!   and phase with different payloads (equivocation; two proposals of one primary are the
//!   conflicting-proposals case);
//! - [`Misbehaviour::BadReveal`]: a signed commit and a signed reveal of one member for one
//!   slot, view and batch where the reveal does not open the commitment.
//!
//! [`Misbehaviour::verify`] needs nothing but the proof itself; whether the offender is a
//! member is the verifier's business.
//!
//! # No recursion on the wire
//! A conflicting-votes proof holds the two *signed payload bytes* ([`SignedVote`]), never
//! two messages: a message may be a proposal that carries proofs, which could again hold
//! proposals, and a decoder of such a type recurses as deep as an attacker nests it. The
//! payload bytes are checked as they are (the signature covers exactly them) and only
//! their header, the leading `(slot, view)` that every vote payload starts with, is
//! decoded. So every type reachable from a [`Message`] decodes in bounded depth.

use serde::{Deserialize, Serialize};

use super::commitment::seal_opens;
use super::message::{
    Accept, Commit, CommitSet, Confirm, Message, NewView, Proposal, Reveal, RevealSeal, Tally,
    ViewChange,
};
use crate::crypto::{Signable, Signature, Signed, verify};
use crate::types::{NodeId, Slot, View, hex_bytes};

/// Largest encoded proof accepted inside an operation (an exclusion's evidence payload).
pub const MAX_PROOF_BYTES: usize = 48 * 1024;

/// The phase of a signed vote: names its signature domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VotePhase {
    /// [`Proposal`].
    Proposal,
    /// [`Commit`].
    Commit,
    /// [`CommitSet`].
    CommitSet,
    /// [`Reveal`].
    Reveal,
    /// [`Tally`].
    Tally,
    /// [`Accept`].
    Accept,
    /// [`Confirm`].
    Confirm,
    /// [`ViewChange`].
    ViewChange,
    /// [`NewView`].
    NewView,
}

impl VotePhase {
    /// The signature domain of votes of this phase.
    pub fn domain(self) -> &'static [u8] {
        match self {
            VotePhase::Proposal => Proposal::DOMAIN,
            VotePhase::Commit => Commit::DOMAIN,
            VotePhase::CommitSet => CommitSet::DOMAIN,
            VotePhase::Reveal => Reveal::DOMAIN,
            VotePhase::Tally => Tally::DOMAIN,
            VotePhase::Accept => Accept::DOMAIN,
            VotePhase::Confirm => Confirm::DOMAIN,
            VotePhase::ViewChange => ViewChange::DOMAIN,
            VotePhase::NewView => NewView::DOMAIN,
        }
    }

    /// The phase of a message's name ([`Message::phase`]).
    pub fn of_name(name: &str) -> Option<VotePhase> {
        Some(match name {
            "proposal" => VotePhase::Proposal,
            "commit" => VotePhase::Commit,
            "commit-set" => VotePhase::CommitSet,
            "reveal" => VotePhase::Reveal,
            "tally" => VotePhase::Tally,
            "accept" => VotePhase::Accept,
            "confirm" => VotePhase::Confirm,
            "view-change" => VotePhase::ViewChange,
            "new-view" => VotePhase::NewView,
            _ => return None,
        })
    }
}

/// One signed vote as bytes: the signing bytes of its payload ([`Signable::signing_bytes`]:
/// for a proposal, reveal, tally or new-view a few fields and a digest of the rest, for a
/// view change its certificate without the tally, for the other votes the canonical
/// encoding) and the signature over them (under the phase's domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedVote {
    /// The signing bytes of the vote's payload.
    #[serde(with = "hex_bytes")]
    pub payload: Vec<u8>,
    /// The signer's signature over `payload`.
    pub signature: Signature,
}

impl SignedVote {
    /// The `(slot, view)` every vote payload starts with (a tally's are its proposal's;
    /// a view change's view is the view it moves to).
    pub fn header(&self) -> Option<(Slot, View)> {
        postcard::take_from_bytes::<(Slot, View)>(&self.payload)
            .ok()
            .map(|(h, _)| h)
    }

    fn of<T: Signable>(s: &Signed<T>) -> SignedVote {
        SignedVote {
            payload: s.payload.signing_bytes(),
            signature: s.signature,
        }
    }

    /// The signer, phase and bytes of a signed vote (`None` for messages that are not votes).
    pub fn from_message(msg: &Message) -> Option<(NodeId, VotePhase, SignedVote)> {
        let (signer, phase, vote) = match msg {
            Message::Proposal(m) => (m.signer, VotePhase::Proposal, Self::of(m)),
            Message::Commit(m) => (m.signer, VotePhase::Commit, Self::of(m)),
            Message::CommitSet(m) => (m.signer, VotePhase::CommitSet, Self::of(m.as_ref())),
            Message::Reveal(m) => (m.signer, VotePhase::Reveal, Self::of(m)),
            Message::Tally(m) => (m.signer, VotePhase::Tally, Self::of(m.as_ref())),
            Message::Accept(m) => (m.signer, VotePhase::Accept, Self::of(m)),
            Message::Confirm(m) => (m.signer, VotePhase::Confirm, Self::of(m)),
            Message::ViewChange(m) => (m.signer, VotePhase::ViewChange, Self::of(m.as_ref())),
            Message::NewView(m) => (m.signer, VotePhase::NewView, Self::of(m.as_ref())),
            Message::Evidence(_)
            | Message::Attest(_)
            | Message::Fork(_)
            | Message::Submit(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => return None,
        };
        Some((signer, phase, vote))
    }
}

/// A proof that a member broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Misbehaviour {
    /// Two different votes by one signer for one (slot, view, phase).
    ConflictingVotes {
        /// Who signed both.
        signer: NodeId,
        /// Their phase.
        phase: VotePhase,
        /// The first vote.
        first: SignedVote,
        /// The second, conflicting vote.
        second: SignedVote,
    },
    /// A reveal that does not open its signer's commitment.
    BadReveal {
        /// The signed commitment.
        commit: Box<Signed<Commit>>,
        /// The sealed reveal that does not open it (the reveal's signature covers its
        /// seal: outcome digests, not outcomes, so the proof stays small).
        reveal: Box<Signed<RevealSeal>>,
    },
}

/// Why a misbehaviour proof does not prove anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// A signature in the proof does not verify.
    #[error("bad signature in evidence: {0}")]
    Signature(#[from] crate::crypto::CryptoError),
    /// The two parts are signed by different members.
    #[error("evidence parts are signed by different members")]
    DifferentSigners,
    /// The two parts are not about the same slot, view and phase (or batch).
    #[error("evidence parts are not about the same slot, view and phase")]
    Unrelated,
    /// The two votes are identical: no conflict.
    #[error("the votes do not conflict")]
    NoConflict,
    /// The reveal does open the commitment.
    #[error("the reveal opens the commitment")]
    RevealOpens,
    /// A part is not a signed vote.
    #[error("evidence part is not a signed vote")]
    NotAVote,
    /// The bytes are not an encoded proof (or are too large).
    #[error("malformed proof: {0}")]
    Malformed(String),
}

impl Misbehaviour {
    /// The proof that `first` and `second` (two votes of one signer for one slot, view and
    /// phase) conflict, if they do.
    pub fn conflicting(first: &Message, second: &Message) -> Option<Misbehaviour> {
        let (a, phase_a, first) = SignedVote::from_message(first)?;
        let (b, phase_b, second) = SignedVote::from_message(second)?;
        if a != b || phase_a != phase_b || first.payload == second.payload {
            return None;
        }
        Some(Misbehaviour::ConflictingVotes {
            signer: a,
            phase: phase_a,
            first,
            second,
        })
    }

    /// Decode a proof carried as bytes (an exclusion's evidence payload): bounded in size,
    /// no trailing bytes. Decoding is not verification: call [`Misbehaviour::verify`].
    pub fn decode(bytes: &[u8]) -> Result<Misbehaviour, EvidenceError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(EvidenceError::Malformed(format!(
                "{} bytes exceed {MAX_PROOF_BYTES}",
                bytes.len()
            )));
        }
        let (proof, rest): (Misbehaviour, &[u8]) = postcard::take_from_bytes(bytes)
            .map_err(|e| EvidenceError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(EvidenceError::Malformed(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        Ok(proof)
    }

    /// The canonical encoding (what [`Misbehaviour::decode`] reads).
    pub fn encode(&self) -> Vec<u8> {
        crate::crypto::canonical_bytes(self)
    }

    /// The member the proof is against.
    pub fn offender(&self) -> Option<NodeId> {
        match self {
            Misbehaviour::ConflictingVotes { signer, .. } => Some(*signer),
            Misbehaviour::BadReveal { commit, .. } => Some(commit.signer),
        }
    }

    /// The slot the misbehaviour happened in.
    pub fn slot(&self) -> Option<Slot> {
        match self {
            Misbehaviour::ConflictingVotes { first, .. } => first.header().map(|(s, _)| s),
            Misbehaviour::BadReveal { commit, .. } => Some(commit.payload.slot),
        }
    }

    /// Short name of the kind (for logs and the trust ledger).
    pub fn kind(&self) -> &'static str {
        match self {
            Misbehaviour::ConflictingVotes { .. } => "conflicting-votes",
            Misbehaviour::BadReveal { .. } => "bad-reveal",
        }
    }

    /// The identity of the misbehaviour: (offender, slot, kind). One act is punished once,
    /// however many different proofs of it exist.
    pub fn key(&self) -> Option<(NodeId, Slot, &'static str)> {
        Some((self.offender()?, self.slot()?, self.kind()))
    }

    /// Check that the proof proves what it claims; returns the offender.
    pub fn verify(&self) -> Result<NodeId, EvidenceError> {
        match self {
            Misbehaviour::ConflictingVotes {
                signer,
                phase,
                first,
                second,
            } => {
                let (Some(a), Some(b)) = (first.header(), second.header()) else {
                    return Err(EvidenceError::NotAVote);
                };
                if a != b {
                    return Err(EvidenceError::Unrelated);
                }
                if first.payload == second.payload {
                    return Err(EvidenceError::NoConflict);
                }
                verify(signer, phase.domain(), &first.payload, &first.signature)?;
                verify(signer, phase.domain(), &second.payload, &second.signature)?;
                Ok(*signer)
            }
            Misbehaviour::BadReveal { commit, reveal } => {
                if commit.signer != reveal.signer {
                    return Err(EvidenceError::DifferentSigners);
                }
                let (c, r) = (&commit.payload, &reveal.payload);
                if c.slot != r.slot || c.view != r.view || c.batch != r.batch {
                    return Err(EvidenceError::Unrelated);
                }
                if seal_opens(c, r, &commit.signer) {
                    return Err(EvidenceError::RevealOpens);
                }
                commit.verify()?;
                reveal.verify()?;
                Ok(commit.signer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::types::Digest;

    fn accept(key: &Keypair, value: u8) -> Message {
        Message::Accept(Signed::new(
            Accept {
                slot: 7,
                view: 2,
                value: Digest([value; 32]),
            },
            key,
        ))
    }

    #[test]
    fn conflicting_votes_verify_and_name_their_slot() -> Result<(), EvidenceError> {
        let k = Keypair::from_seed([1; 32]);
        let proof = Misbehaviour::conflicting(&accept(&k, 1), &accept(&k, 2))
            .ok_or(EvidenceError::NoConflict)?;
        assert_eq!(proof.verify()?, k.id());
        assert_eq!(proof.slot(), Some(7));
        assert_eq!(Misbehaviour::decode(&proof.encode())?, proof);
        // Identical votes are no proof; a vote of another signer is no proof.
        assert!(Misbehaviour::conflicting(&accept(&k, 1), &accept(&k, 1)).is_none());
        let other = Keypair::from_seed([2; 32]);
        assert!(Misbehaviour::conflicting(&accept(&k, 1), &accept(&other, 2)).is_none());
        Ok(())
    }

    #[test]
    fn a_proof_naming_someone_else_fails() -> Result<(), EvidenceError> {
        let k = Keypair::from_seed([1; 32]);
        let victim = Keypair::from_seed([2; 32]).id();
        let Some(Misbehaviour::ConflictingVotes {
            phase,
            first,
            second,
            ..
        }) = Misbehaviour::conflicting(&accept(&k, 1), &accept(&k, 2))
        else {
            return Err(EvidenceError::NoConflict);
        };
        let framed = Misbehaviour::ConflictingVotes {
            signer: victim,
            phase,
            first,
            second,
        };
        assert!(matches!(framed.verify(), Err(EvidenceError::Signature(_))));
        Ok(())
    }

    #[test]
    fn decoding_is_total_and_bounded() {
        assert!(Misbehaviour::decode(&[]).is_err());
        assert!(Misbehaviour::decode(&[9]).is_err());
        assert!(Misbehaviour::decode(&vec![0; MAX_PROOF_BYTES + 1]).is_err());
        let mut x = 0x1234_5678_u32;
        for len in 0..512 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = Misbehaviour::decode(&bytes);
        }
    }
}
