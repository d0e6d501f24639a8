//! Why a message was refused. Refusals are counted, never fatal (design invariant 7).

use crate::types::NodeId;

/// Why the node dropped a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// A signature does not verify.
    #[error("bad signature: {0}")]
    Signature(#[from] crate::crypto::CryptoError),
    /// The signer (or sender) is not a member, or not eligible to vote.
    #[error("{0} is not an eligible member")]
    NotMember(NodeId),
    /// The message is for a slot or view the node has moved past.
    #[error("stale message")]
    Stale,
    /// The message claims a role its signer does not hold (e.g. a proposal by a
    /// non-primary).
    #[error("{0} does not hold the role it claims")]
    WrongRole(NodeId),
    /// The signer sent two different votes for one slot, view and phase.
    #[error("equivocation by {0}")]
    Equivocation(NodeId),
    /// The message is well-signed but breaks a protocol rule.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// A certificate in the message does not verify.
    #[error("bad certificate: {0}")]
    Certificate(#[from] super::entry::CertificateError),
    /// A misbehaviour proof does not prove anything.
    #[error("bad evidence: {0}")]
    Evidence(#[from] super::evidence::EvidenceError),
    /// An operation is unsigned, unauthorised or breaks the host's governance rules.
    #[error("unauthorised operation: {0}")]
    Unauthorized(#[from] crate::state::AuthError),
}

impl Reject {
    /// A short stable label (metrics key).
    pub fn label(&self) -> &'static str {
        match self {
            Reject::Signature(_) => "bad_signature",
            Reject::NotMember(_) => "not_member",
            Reject::Stale => "stale",
            Reject::WrongRole(_) => "wrong_role",
            Reject::Equivocation(_) => "equivocation",
            Reject::Invalid(_) => "invalid",
            Reject::Certificate(_) => "bad_certificate",
            Reject::Evidence(_) => "bad_evidence",
            Reject::Unauthorized(_) => "unauthorized",
        }
    }
}
