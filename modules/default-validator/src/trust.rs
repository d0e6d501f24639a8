//! Trust score modifications by governance.

use spore_guest::{Host, MAX_TRUST_BPS, Rejection, RejectionCode, TrustModification, TrustReason};

use crate::encoding::Encoder;
use crate::fields;
use crate::findings::Findings;
use crate::params::Merged;

/// Variant index of `trust-modification`.
pub const TAG: u8 = 1;

/// Check a trust modification; its effect on success.
pub fn check<H: Host + ?Sized>(host: &H, m: &TrustModification) -> Result<Vec<u8>, Rejection> {
    let mut f = Findings::new();
    fields::id(&mut f, "target", &m.target);
    fields::known(&mut f, host, "target", &m.target);
    fields::text(
        &mut f,
        "justification",
        &m.justification,
        fields::MAX_TEXT_LEN,
    );

    let delta = m.delta_bps;
    if delta == 0 {
        f.fail(
            RejectionCode::Malformed,
            "a trust delta of 0 changes nothing",
        );
    } else if delta.unsigned_abs() > MAX_TRUST_BPS {
        f.fail(
            RejectionCode::PolicyViolation,
            format!("trust delta {delta} bps is outside -{MAX_TRUST_BPS}..={MAX_TRUST_BPS}"),
        );
    }
    match m.reason {
        TrustReason::RecoveryGrant if delta < 0 => f.fail(
            RejectionCode::PolicyViolation,
            format!("a recovery grant cannot lower trust (delta {delta})"),
        ),
        TrustReason::AuditFinding | TrustReason::MisbehaviourReport if delta > 0 => f.fail(
            RejectionCode::PolicyViolation,
            format!("an audit finding or misbehaviour report cannot raise trust (delta {delta})"),
        ),
        _ => {}
    }

    let before = host.trust_of(&m.target).unwrap_or(0);
    let max = Merged::current(host)
        .trust("trust.max")
        .clamp(0, i64::from(MAX_TRUST_BPS));
    let after = (i64::from(before) + i64::from(delta)).clamp(0, max);
    f.finish(|| {
        Encoder::new(TAG)
            .id(&m.target)
            .u8(m.reason as u8)
            .i32(delta)
            .u32(before)
            .u32(u32::try_from(after).unwrap_or(0))
            .finish()
    })
}
