//! Spore's default admission policy: a candidate joins when enough trusted members of
//! the right standing sponsor it (the seed's `NodeAdmission` criteria).
//!
//! # Rules
//! Every rule is checked and every failure is reported (the verdict lists them all, in
//! this order; sponsors in the order given):
//! 1. the candidate's id is 32 bytes, its name and address are non-empty;
//! 2. the candidate is not already a member;
//! 3. no sponsor is listed twice, and the candidate does not sponsor itself;
//! 4. every sponsor is a known, eligible member whose trust is at least the minimum
//!    sponsor trust;
//! 5. the number of distinct sponsors passing rule 4 is at least the minimum sponsor
//!    count;
//! 6. if a sponsor level is required, at least one sponsor passing rule 4 is at that
//!    level or above (sclerotia > rhizomorph > hyphae).
//!
//! The request's criteria cannot be weaker than the cluster's floor: the minimum
//! sponsor count is `max(criteria.min-sponsors, membership.min-sponsors)` and the
//! minimum sponsor trust `max(criteria.min-sponsor-trust, membership.min-sponsor-trust-bps)`
//! (parameters default to [`DEFAULT_MIN_SPONSORS`] and [`DEFAULT_MIN_SPONSOR_TRUST_BPS`]).
//!
//! # Determinism
//! Only the request and the snapshot are read; the reasons are built in a fixed order.

use spore_guest::{
    Admission, CallContext, HierarchyLevel, Host, ID_LEN, NodeAdmission, RejectionCode, Verdict,
    short_id,
};

/// Parameter: floor for the number of sponsors.
pub const PARAM_MIN_SPONSORS: &str = "membership.min-sponsors";
/// Parameter: floor for each sponsor's trust, in bps.
pub const PARAM_MIN_SPONSOR_TRUST: &str = "membership.min-sponsor-trust-bps";
/// Default of [`PARAM_MIN_SPONSORS`]: every admission needs at least one sponsor.
pub const DEFAULT_MIN_SPONSORS: i64 = 1;
/// Default of [`PARAM_MIN_SPONSOR_TRUST`].
pub const DEFAULT_MIN_SPONSOR_TRUST_BPS: i64 = 0;

/// One failed rule: a rejection category and a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Category, for validators that turn the findings into a rejection.
    pub code: RejectionCode,
    /// What failed.
    pub reason: String,
}

fn finding(code: RejectionCode, reason: String) -> Finding {
    Finding { code, reason }
}

/// Every rule `request` fails against the snapshot behind `host`; empty = admit.
pub fn findings<H: Host + ?Sized>(host: &H, request: &NodeAdmission) -> Vec<Finding> {
    let mut out = Vec::new();
    let candidate = &request.candidate;
    let cid = short_id(&candidate.id);

    // 1. Identity.
    if candidate.id.len() != ID_LEN {
        out.push(finding(
            RejectionCode::Malformed,
            format!("candidate id is {} bytes, not {ID_LEN}", candidate.id.len()),
        ));
    }
    if candidate.name.trim().is_empty() {
        out.push(finding(
            RejectionCode::Malformed,
            "candidate name is empty".into(),
        ));
    }
    if candidate.address.trim().is_empty() {
        out.push(finding(
            RejectionCode::Malformed,
            "candidate address is empty".into(),
        ));
    }

    // 2. Not already a member.
    if host.is_member(&candidate.id) {
        out.push(finding(
            RejectionCode::PolicyViolation,
            format!("candidate {cid} is already a member"),
        ));
    }

    // 3. Duplicates and self-sponsorship.
    let mut seen: Vec<&[u8]> = Vec::new();
    for sponsor in &request.sponsors {
        if seen.contains(&sponsor.as_slice()) {
            out.push(finding(
                RejectionCode::Malformed,
                format!("sponsor {} is listed more than once", short_id(sponsor)),
            ));
        } else {
            seen.push(sponsor);
        }
    }
    if seen.contains(&candidate.id.as_slice()) {
        out.push(finding(
            RejectionCode::PolicyViolation,
            format!("candidate {cid} cannot sponsor itself"),
        ));
    }

    // 4. Each distinct sponsor.
    let min_trust = i64::from(request.criteria.min_sponsor_trust)
        .max(host.param_or(PARAM_MIN_SPONSOR_TRUST, DEFAULT_MIN_SPONSOR_TRUST_BPS));
    let mut qualified: Vec<HierarchyLevel> = Vec::new();
    for sponsor in seen.iter().filter(|s| **s != candidate.id.as_slice()) {
        let sid = short_id(sponsor);
        match host.member(sponsor) {
            None => out.push(finding(
                RejectionCode::UnknownNode,
                format!("sponsor {sid} is not a member"),
            )),
            Some(m) if !m.eligible => out.push(finding(
                RejectionCode::InsufficientTrust,
                format!("sponsor {sid} is not eligible"),
            )),
            Some(m) if i64::from(m.trust) < min_trust => out.push(finding(
                RejectionCode::InsufficientTrust,
                format!(
                    "sponsor {sid} has trust {} bps, below the required {min_trust} bps",
                    m.trust
                ),
            )),
            Some(m) => qualified.push(m.level),
        }
    }

    // 5. Count.
    let min_sponsors = i64::from(request.criteria.min_sponsors)
        .max(host.param_or(PARAM_MIN_SPONSORS, DEFAULT_MIN_SPONSORS));
    let count = i64::try_from(qualified.len()).unwrap_or(i64::MAX);
    if count < min_sponsors {
        out.push(finding(
            RejectionCode::InsufficientSponsors,
            format!("{count} qualified sponsor(s), at least {min_sponsors} required"),
        ));
    }

    // 6. Level.
    if let Some(required) = request.criteria.required_sponsor_level
        && !qualified.iter().any(|l| l.at_least(required))
    {
        out.push(finding(
            RejectionCode::InsufficientSponsors,
            format!("no qualified sponsor at level {} or above", required.name()),
        ));
    }
    out
}

/// The sponsored admission policy.
pub struct SponsoredAdmission;

impl Admission for SponsoredAdmission {
    fn evaluate<H: Host + ?Sized>(host: &H, request: NodeAdmission, ctx: CallContext) -> Verdict {
        let reasons: Vec<String> = findings(host, &request)
            .into_iter()
            .map(|f| f.reason)
            .collect();
        let verdict = Verdict::from_reasons(reasons);
        host.debug(&format!(
            "slot {}: admission of {} -> {}",
            ctx.slot,
            short_id(&request.candidate.id),
            if verdict.admit { "admit" } else { "refuse" }
        ));
        verdict
    }
}

#[cfg(feature = "export")]
spore_guest::export_admission!(SponsoredAdmission);

#[cfg(test)]
mod tests;
