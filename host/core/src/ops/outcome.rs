//! The agreed result of a module call, and the module roles.
//!
//! # Determinism
//! An [`Outcome`] is what every honest node must compute identically for a slot, so it
//! carries no node-local detail: a failure is only a [`FailureKind`] (never an error
//! message, which could differ between engine builds), and a rejection carries exactly
//! what the module returned.

use serde::{Deserialize, Serialize};

use super::SecurityDomain;
use crate::crypto::Canonical;
use crate::types::hex_bytes;

/// Machine-readable category of a module's rejection (WIT `rejection-code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    /// The operation is malformed.
    Malformed,
    /// It names a node that is not a member.
    UnknownNode,
    /// Too few (qualified) sponsors.
    InsufficientSponsors,
    /// Someone's trust is too low.
    InsufficientTrust,
    /// It would break the quorum rules.
    QuorumViolation,
    /// The proposer may not do this.
    Unauthorized,
    /// The module does not handle this operation.
    Unsupported,
    /// Any other policy violation.
    PolicyViolation,
}

/// Why a module call failed, deterministically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The call exhausted its fuel budget.
    OutOfFuel,
    /// The module trapped (unreachable, bad memory access, host error, ...).
    Trap,
    /// The call overflowed the wasm stack.
    StackOverflow,
    /// The module tried to grow memory or tables past the limit.
    MemoryLimit,
    /// The result exceeded the output size limit.
    OutputTooLarge,
    /// The module returned something the host cannot accept (wrong shape or encoding).
    InvalidOutput,
    /// The active module for the role is not available on this node.
    ModuleUnavailable,
    /// The module needs more than the replicated module limits allow (size, core
    /// instances, memories or tables).
    ResourceLimit,
}

/// The agreed result of a module call for one operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The module accepted the operation; the bytes are the canonical encoding of its
    /// effect as the module computed it.
    Accepted(#[serde(with = "hex_bytes")] Vec<u8>),
    /// The module refused the operation with a reason.
    Rejected {
        /// Category.
        code: RejectionCode,
        /// Explanation (from the module).
        reason: String,
    },
    /// The call failed in a deterministic way.
    Failed(FailureKind),
    /// A validator on probation failed in a deterministic way where the module it
    /// replaced, run on the same input, did not (accepted or rejected): the only failures
    /// that count against a swap ([`crate::state::Probation`]). Otherwise like `Failed`.
    Regressed(FailureKind),
}

impl Canonical for Outcome {}

impl Outcome {
    /// Whether the operation was accepted (only accepted operations change state).
    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted(_))
    }
}

/// A module role: one WIT world, one active module per role in the replicated state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// World `validator`: computes the result of every operation.
    Validator,
    /// World `admission`: judges node admissions.
    Admission,
    /// World `resolver`: resolves slots without a quorum.
    Resolver,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Validator, Role::Admission, Role::Resolver];

    /// The WIT world name.
    pub fn world(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Admission => "admission",
            Role::Resolver => "resolver",
        }
    }

    /// The role whose module a security domain swaps (none for the transport policy).
    pub fn of_domain(domain: SecurityDomain) -> Option<Role> {
        match domain {
            SecurityDomain::ValidatorModule => Some(Role::Validator),
            SecurityDomain::AdmissionModule => Some(Role::Admission),
            SecurityDomain::ResolverModule => Some(Role::Resolver),
            SecurityDomain::TransportPolicy => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.world())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_distinct_stable_digests() -> Result<(), Box<dyn std::error::Error>> {
        let a = Outcome::Accepted(vec![1, 2]);
        let r = Outcome::Rejected {
            code: RejectionCode::Unauthorized,
            reason: "no".into(),
        };
        let f = Outcome::Failed(FailureKind::OutOfFuel);
        assert_ne!(a.digest(), r.digest());
        assert_ne!(r.digest(), f.digest());
        assert_ne!(Outcome::Accepted(vec![1]).digest(), a.digest());
        assert_eq!(a.digest(), Outcome::Accepted(vec![1, 2]).digest());
        assert_eq!(f.canonical_bytes(), vec![2, 0]);
        for o in [a, r, f] {
            let back: Outcome = postcard::from_bytes(&o.canonical_bytes())?;
            assert_eq!(back, o);
            let json = serde_json::to_string(&o)?;
            assert_eq!(serde_json::from_str::<Outcome>(&json)?, o);
        }
        Ok(())
    }

    #[test]
    fn roles_map_from_security_domains() {
        assert_eq!(
            Role::of_domain(SecurityDomain::ValidatorModule),
            Some(Role::Validator)
        );
        assert_eq!(
            Role::of_domain(SecurityDomain::AdmissionModule),
            Some(Role::Admission)
        );
        assert_eq!(
            Role::of_domain(SecurityDomain::ResolverModule),
            Some(Role::Resolver)
        );
        assert_eq!(Role::of_domain(SecurityDomain::TransportPolicy), None);
    }
}
