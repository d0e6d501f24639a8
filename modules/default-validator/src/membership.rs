//! Node admission and node exclusion.

use spore_guest::{
    EvidenceKind, ExclusionReason, Host, NodeAdmission, NodeExclusion, Rejection, RejectionCode,
    short_id,
};

use crate::encoding::Encoder;
use crate::fields;
use crate::findings::Findings;
use crate::params::{MIN_ELIGIBLE, Merged};

/// Variant index of `node-admission`.
pub const ADMISSION_TAG: u8 = 2;
/// Variant index of `node-exclusion`.
pub const EXCLUSION_TAG: u8 = 3;

/// Check an admission: the candidate's identity, the sponsored-admission rules, and that
/// the candidate claims no level above its best sponsor's. Its effect on success.
pub fn check_admission<H: Host + ?Sized>(
    host: &H,
    a: &NodeAdmission,
) -> Result<Vec<u8>, Rejection> {
    let mut f = Findings::new();
    let c = &a.candidate;
    if c.name.len() > fields::MAX_NAME_LEN {
        f.fail(
            RejectionCode::Malformed,
            format!("candidate name is more than {} bytes", fields::MAX_NAME_LEN),
        );
    }
    if c.address.len() > fields::MAX_ADDRESS_LEN {
        f.fail(
            RejectionCode::Malformed,
            format!(
                "candidate address is more than {} bytes",
                fields::MAX_ADDRESS_LEN
            ),
        );
    }
    if a.sponsors.len() > fields::MAX_LIST_LEN {
        f.fail(
            RejectionCode::Malformed,
            format!("more than {} sponsors", fields::MAX_LIST_LEN),
        );
    }
    for finding in sponsored_admission::findings(host, a) {
        f.fail(finding.code, finding.reason);
    }
    let best_sponsor = a
        .sponsors
        .iter()
        .filter_map(|s| host.level_of(s))
        .max_by_key(|l| l.rank());
    if let Some(best) = best_sponsor {
        f.require(best.at_least(c.level), RejectionCode::Unauthorized, || {
            format!(
                "candidate claims level {} above its best sponsor's ({})",
                c.level.name(),
                best.name()
            )
        });
    }

    let mut sponsors = a.sponsors.clone();
    sponsors.sort();
    f.finish(|| {
        let mut e = Encoder::new(ADMISSION_TAG);
        e.id(&c.id)
            .u8(c.level as u8)
            .str(&c.name)
            .str(&c.address)
            .len(sponsors.len());
        for s in &sponsors {
            e.id(s);
        }
        e.finish()
    })
}

/// Check an exclusion: the target is a member, the reason is backed by the evidence or
/// the snapshot, and a non-provable exclusion leaves enough eligible members. Its
/// effect on success.
pub fn check_exclusion<H: Host + ?Sized>(
    host: &H,
    x: &NodeExclusion,
) -> Result<Vec<u8>, Rejection> {
    let mut f = Findings::new();
    fields::id(&mut f, "target", &x.target);
    let target = host.member(&x.target);
    fields::known(&mut f, host, "target", &x.target);
    if x.evidence.len() > fields::MAX_LIST_LEN {
        f.fail(
            RejectionCode::Malformed,
            format!("more than {} pieces of evidence", fields::MAX_LIST_LEN),
        );
    }
    if x.evidence.iter().any(|e| e.payload.is_empty()) {
        f.fail(RejectionCode::Malformed, "a piece of evidence is empty");
    }
    let has = |kind: EvidenceKind| x.evidence.iter().any(|e| e.kind == kind);
    let provable = match x.reason {
        ExclusionReason::Equivocation => {
            f.require(
                has(EvidenceKind::ConflictingVotes),
                RejectionCode::PolicyViolation,
                || "an equivocation exclusion needs conflicting-votes evidence".into(),
            );
            true
        }
        ExclusionReason::InvalidReveal => {
            f.require(
                has(EvidenceKind::BadReveal),
                RejectionCode::PolicyViolation,
                || "an invalid-reveal exclusion needs bad-reveal evidence".into(),
            );
            true
        }
        ExclusionReason::LowTrust => {
            let threshold = Merged::current(host).trust("trust.exclusion-threshold");
            if let Some(m) = &target {
                f.require(
                    i64::from(m.trust) < threshold,
                    RejectionCode::PolicyViolation,
                    || {
                        format!(
                            "target {} has trust {} bps, not below the exclusion threshold \
                             {threshold} bps",
                            short_id(&x.target),
                            m.trust
                        )
                    },
                );
            }
            false
        }
        ExclusionReason::Unresponsive | ExclusionReason::GovernanceDecision => false,
    };
    if !provable && target.as_ref().is_some_and(|m| m.eligible) {
        let eligible = host.eligible_count();
        let floor = eligible.min(MIN_ELIGIBLE);
        f.require(
            eligible.saturating_sub(1) >= floor,
            RejectionCode::QuorumViolation,
            || {
                format!(
                    "excluding {} would leave {} eligible member(s), fewer than {floor}",
                    short_id(&x.target),
                    eligible.saturating_sub(1)
                )
            },
        );
    }

    let mut evidence: Vec<(u8, &[u8])> = x
        .evidence
        .iter()
        .map(|e| (e.kind as u8, e.payload.as_slice()))
        .collect();
    evidence.sort();
    f.finish(|| {
        let mut e = Encoder::new(EXCLUSION_TAG);
        e.id(&x.target)
            .u8(x.reason as u8)
            .u32(target.as_ref().map_or(0, |m| m.trust))
            .u8(u8::from(target.as_ref().is_some_and(|m| m.eligible)))
            .len(evidence.len());
        for (kind, payload) in &evidence {
            e.u8(*kind).bytes(payload);
        }
        e.finish()
    })
}
