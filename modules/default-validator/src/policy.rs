//! Security policy updates (including module swaps).

use spore_guest::{Rejection, RejectionCode, SecurityPolicyUpdate};

use crate::encoding::Encoder;
use crate::fields;
use crate::findings::Findings;

/// Variant index of `security-policy-update`.
pub const TAG: u8 = 4;

/// Check a security policy update: two well-formed, distinct digests (the new policy
/// cannot be its own rollback) and a description. Its effect on success.
pub fn check(u: &SecurityPolicyUpdate) -> Result<Vec<u8>, Rejection> {
    let mut f = Findings::new();
    fields::id(&mut f, "new policy digest", &u.new_policy);
    fields::id(&mut f, "rollback digest", &u.rollback_to);
    f.require(
        u.new_policy.iter().any(|b| *b != 0),
        RejectionCode::Malformed,
        || "new policy digest is all zeros".into(),
    );
    f.require(
        u.new_policy != u.rollback_to,
        RejectionCode::PolicyViolation,
        || "the rollback target is the new policy itself".into(),
    );
    fields::text(&mut f, "description", &u.description, fields::MAX_TEXT_LEN);
    f.finish(|| {
        Encoder::new(TAG)
            .u8(u.domain as u8)
            .id(&u.new_policy)
            .id(&u.rollback_to)
            .str(&u.description)
            .finish()
    })
}
