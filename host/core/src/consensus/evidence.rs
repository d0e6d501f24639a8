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

use serde::{Deserialize, Serialize};

use super::commitment::opens;
use super::message::{Commit, Message, Reveal};
use crate::crypto::Signed;
use crate::types::{NodeId, Slot};

/// A proof that a member broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Misbehaviour {
    /// Two different votes by one signer for one (slot, view, phase).
    ConflictingVotes {
        /// The first vote.
        first: Box<Message>,
        /// The second, conflicting vote.
        second: Box<Message>,
    },
    /// A reveal that does not open its signer's commitment.
    BadReveal {
        /// The signed commitment.
        commit: Box<Signed<Commit>>,
        /// The signed reveal that does not open it.
        reveal: Box<Signed<Reveal>>,
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
}

impl Misbehaviour {
    /// The member the proof is against.
    pub fn offender(&self) -> Option<NodeId> {
        match self {
            Misbehaviour::ConflictingVotes { first, .. } => first.signer(),
            Misbehaviour::BadReveal { commit, .. } => Some(commit.signer),
        }
    }

    /// The slot the misbehaviour happened in.
    pub fn slot(&self) -> Option<Slot> {
        match self {
            Misbehaviour::ConflictingVotes { first, .. } => first.slot(),
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

    /// Check that the proof proves what it claims.
    pub fn verify(&self) -> Result<NodeId, EvidenceError> {
        match self {
            Misbehaviour::ConflictingVotes { first, second } => {
                let (a, b) = (
                    first.signer().ok_or(EvidenceError::NotAVote)?,
                    second.signer().ok_or(EvidenceError::NotAVote)?,
                );
                if a != b {
                    return Err(EvidenceError::DifferentSigners);
                }
                if first.phase() != second.phase()
                    || first.slot() != second.slot()
                    || first.view() != second.view()
                {
                    return Err(EvidenceError::Unrelated);
                }
                if first.payload_digest() == second.payload_digest() {
                    return Err(EvidenceError::NoConflict);
                }
                first.verify_signature()?;
                second.verify_signature()?;
                Ok(a)
            }
            Misbehaviour::BadReveal { commit, reveal } => {
                if commit.signer != reveal.signer {
                    return Err(EvidenceError::DifferentSigners);
                }
                let (c, r) = (&commit.payload, &reveal.payload);
                if c.slot != r.slot || c.view != r.view || c.batch != r.batch {
                    return Err(EvidenceError::Unrelated);
                }
                if opens(c, r, &commit.signer) {
                    return Err(EvidenceError::RevealOpens);
                }
                commit.verify()?;
                reveal.verify()?;
                Ok(commit.signer)
            }
        }
    }
}
