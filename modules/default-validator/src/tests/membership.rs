//! Node admission and exclusion.

use spore_guest::testing::{Fixture, node_id};
use spore_guest::{
    AdmissionCriteria, Evidence, EvidenceKind, ExclusionReason, HierarchyLevel, NodeAdmission,
    NodeExclusion, NodeIdentity, Operation, RejectionCode,
};

use super::{assert_rejected, effect, le32, lp};

fn admit(candidate: u8, level: HierarchyLevel, sponsors: &[u8], min_sponsors: u32) -> Operation {
    Operation::NodeAdmission(NodeAdmission {
        candidate: NodeIdentity {
            id: node_id(candidate),
            level,
            name: "edge-9".into(),
            address: "10.0.0.9:4433".into(),
        },
        criteria: AdmissionCriteria {
            min_sponsors,
            min_sponsor_trust: 6000,
            required_sponsor_level: None,
        },
        sponsors: sponsors.iter().map(|s| node_id(*s)).collect(),
    })
}

fn exclude(target: u8, reason: ExclusionReason, evidence: &[(EvidenceKind, &[u8])]) -> Operation {
    Operation::NodeExclusion(NodeExclusion {
        target: node_id(target),
        reason,
        evidence: evidence
            .iter()
            .map(|(kind, payload)| Evidence {
                kind: *kind,
                payload: payload.to_vec(),
            })
            .collect(),
    })
}

#[test]
fn admission_effect_sorts_sponsors() {
    let host = Fixture::cluster(4);
    let e = effect(&host, admit(9, HierarchyLevel::Hyphae, &[3, 1], 2));
    let mut expected = vec![1, 2];
    expected.extend(node_id(9));
    expected.push(HierarchyLevel::Hyphae as u8);
    expected.extend(lp(b"edge-9"));
    expected.extend(lp(b"10.0.0.9:4433"));
    expected.extend(le32(2));
    expected.extend(node_id(1));
    expected.extend(node_id(3));
    assert_eq!(e, expected);
}

#[test]
fn admission_without_enough_sponsors() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        admit(9, HierarchyLevel::Hyphae, &[1], 2),
        RejectionCode::InsufficientSponsors,
        "1 qualified sponsor(s), at least 2 required",
    );
}

#[test]
fn admission_with_unknown_sponsor_or_existing_candidate() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        admit(9, HierarchyLevel::Hyphae, &[1, 8], 1),
        RejectionCode::UnknownNode,
        "sponsor 0808080808080808 is not a member",
    );
    assert_rejected(
        &host,
        admit(3, HierarchyLevel::Hyphae, &[1, 2], 1),
        RejectionCode::PolicyViolation,
        "already a member",
    );
}

#[test]
fn candidate_cannot_outrank_its_sponsors() {
    let host = Fixture::cluster(4);
    // Best sponsor is node 2, a rhizomorph.
    assert_rejected(
        &host,
        admit(9, HierarchyLevel::Sclerotia, &[2, 3], 1),
        RejectionCode::Unauthorized,
        "claims level sclerotia above its best sponsor's (rhizomorph)",
    );
    effect(&host, admit(9, HierarchyLevel::Rhizomorph, &[2, 3], 1));
}

#[test]
fn admission_field_sizes() {
    let host = Fixture::cluster(4);
    let Operation::NodeAdmission(mut a) = admit(9, HierarchyLevel::Hyphae, &[1], 1) else {
        unreachable!()
    };
    a.candidate.name = "n".repeat(65);
    assert_rejected(
        &host,
        Operation::NodeAdmission(a.clone()),
        RejectionCode::Malformed,
        "candidate name is more than 64 bytes",
    );
    a.candidate.name = "ok".into();
    a.candidate.address = "a".repeat(257);
    assert_rejected(
        &host,
        Operation::NodeAdmission(a),
        RejectionCode::Malformed,
        "candidate address is more than 256 bytes",
    );
}

#[test]
fn exclusion_effect() {
    let host = Fixture::cluster(5);
    let e = effect(
        &host,
        exclude(
            4,
            ExclusionReason::Equivocation,
            &[
                (EvidenceKind::Other, b"z"),
                (EvidenceKind::ConflictingVotes, b"votes"),
            ],
        ),
    );
    let mut expected = vec![1, 3];
    expected.extend(node_id(4));
    expected.push(ExclusionReason::Equivocation as u8);
    expected.extend(le32(7000));
    expected.push(1);
    expected.extend(le32(2));
    expected.push(EvidenceKind::ConflictingVotes as u8);
    expected.extend(lp(b"votes"));
    expected.push(EvidenceKind::Other as u8);
    expected.extend(lp(b"z"));
    assert_eq!(e, expected);
}

#[test]
fn exclusion_of_unknown_node() {
    let host = Fixture::cluster(5);
    assert_rejected(
        &host,
        exclude(9, ExclusionReason::GovernanceDecision, &[]),
        RejectionCode::UnknownNode,
        "target 0909090909090909 is not a member",
    );
}

#[test]
fn provable_reasons_need_their_evidence() {
    let host = Fixture::cluster(5);
    assert_rejected(
        &host,
        exclude(
            4,
            ExclusionReason::Equivocation,
            &[(EvidenceKind::BadReveal, b"x")],
        ),
        RejectionCode::PolicyViolation,
        "needs conflicting-votes evidence",
    );
    assert_rejected(
        &host,
        exclude(4, ExclusionReason::InvalidReveal, &[]),
        RejectionCode::PolicyViolation,
        "needs bad-reveal evidence",
    );
    assert_rejected(
        &host,
        exclude(
            4,
            ExclusionReason::InvalidReveal,
            &[(EvidenceKind::BadReveal, b"")],
        ),
        RejectionCode::Malformed,
        "a piece of evidence is empty",
    );
}

#[test]
fn low_trust_exclusion_needs_low_trust() {
    let host = Fixture::cluster(5).with_trust(5, 1500);
    effect(&host, exclude(5, ExclusionReason::LowTrust, &[]));
    assert_rejected(
        &host,
        exclude(4, ExclusionReason::LowTrust, &[]),
        RejectionCode::PolicyViolation,
        "not below the exclusion threshold 2000 bps",
    );
}

#[test]
fn non_provable_exclusion_keeps_four_eligible() {
    let four = Fixture::cluster(4);
    assert_rejected(
        &four,
        exclude(4, ExclusionReason::Unresponsive, &[]),
        RejectionCode::QuorumViolation,
        "would leave 3 eligible member(s), fewer than 4",
    );
    // A provable equivocation is excluded whatever the size.
    effect(
        &four,
        exclude(
            4,
            ExclusionReason::Equivocation,
            &[(EvidenceKind::ConflictingVotes, b"v")],
        ),
    );
    // An ineligible member can always be excluded.
    let with_ineligible = Fixture::cluster(4).with_ineligible(4);
    effect(
        &with_ineligible,
        exclude(4, ExclusionReason::GovernanceDecision, &[]),
    );
}
