//! Unit tests: one per rule, and the order of reasons.

use super::*;
use spore_guest::testing::{Fixture, call_context, node_id};
use spore_guest::{AdmissionCriteria, NodeIdentity};

fn request(candidate: u8, sponsors: &[u8], criteria: AdmissionCriteria) -> NodeAdmission {
    NodeAdmission {
        candidate: NodeIdentity {
            id: node_id(candidate),
            level: HierarchyLevel::Hyphae,
            name: format!("node-{candidate}"),
            address: format!("10.0.0.{candidate}:4433"),
        },
        criteria,
        sponsors: sponsors.iter().map(|s| node_id(*s)).collect(),
    }
}

fn criteria(min_sponsors: u32, min_trust: u32, level: Option<HierarchyLevel>) -> AdmissionCriteria {
    AdmissionCriteria {
        min_sponsors,
        min_sponsor_trust: min_trust,
        required_sponsor_level: level,
    }
}

fn evaluate(host: &Fixture, req: NodeAdmission) -> Verdict {
    SponsoredAdmission::evaluate(host, req, call_context(3))
}

fn reasons(host: &Fixture, req: NodeAdmission) -> Vec<String> {
    evaluate(host, req).reasons
}

#[test]
fn admits_a_well_sponsored_candidate() {
    let host = Fixture::cluster(4);
    let v = evaluate(
        &host,
        request(
            9,
            &[1, 2],
            criteria(2, 6000, Some(HierarchyLevel::Rhizomorph)),
        ),
    );
    assert_eq!(
        v,
        Verdict {
            admit: true,
            reasons: vec![]
        }
    );
    assert_eq!(host.logs().len(), 1);
}

#[test]
fn too_few_sponsors() {
    let host = Fixture::cluster(4);
    assert_eq!(
        reasons(&host, request(9, &[3], criteria(2, 0, None))),
        vec!["1 qualified sponsor(s), at least 2 required"]
    );
}

#[test]
fn cluster_floor_raises_weak_criteria() {
    let host = Fixture::cluster(4)
        .with_param(PARAM_MIN_SPONSORS, 3)
        .with_param(PARAM_MIN_SPONSOR_TRUST, 7500);
    assert_eq!(
        reasons(&host, request(9, &[1, 2, 3], criteria(0, 0, None))),
        vec![
            "sponsor 0303030303030303 has trust 7000 bps, below the required 7500 bps",
            "2 qualified sponsor(s), at least 3 required",
        ]
    );
    // With no sponsor at all the default floor (1) still applies.
    let bare = Fixture::cluster(4);
    assert!(!evaluate(&bare, request(9, &[], criteria(0, 0, None))).admit);
}

#[test]
fn unknown_and_ineligible_sponsors() {
    let host = Fixture::cluster(4).with_ineligible(4);
    assert_eq!(
        reasons(&host, request(9, &[7, 4, 1], criteria(1, 0, None))),
        vec![
            "sponsor 0707070707070707 is not a member",
            "sponsor 0404040404040404 is not eligible",
        ]
    );
}

#[test]
fn low_trust_sponsor() {
    let host = Fixture::cluster(4).with_trust(3, 5999);
    let v = evaluate(&host, request(9, &[1, 3], criteria(2, 6000, None)));
    assert!(!v.admit);
    assert_eq!(
        v.reasons,
        vec![
            "sponsor 0303030303030303 has trust 5999 bps, below the required 6000 bps",
            "1 qualified sponsor(s), at least 2 required",
        ]
    );
}

#[test]
fn required_level() {
    let host = Fixture::cluster(4);
    // Nodes 3 and 4 are hyphae.
    assert_eq!(
        reasons(
            &host,
            request(9, &[3, 4], criteria(2, 0, Some(HierarchyLevel::Rhizomorph)))
        ),
        vec!["no qualified sponsor at level rhizomorph or above"]
    );
    // Sclerotia counts as "rhizomorph or above".
    assert!(
        evaluate(
            &host,
            request(9, &[1, 4], criteria(2, 0, Some(HierarchyLevel::Rhizomorph)))
        )
        .admit
    );
}

#[test]
fn duplicate_sponsors_count_once() {
    let host = Fixture::cluster(4);
    assert_eq!(
        reasons(&host, request(9, &[3, 3], criteria(2, 0, None))),
        vec![
            "sponsor 0303030303030303 is listed more than once",
            "1 qualified sponsor(s), at least 2 required",
        ]
    );
}

#[test]
fn existing_member_and_self_sponsorship() {
    let host = Fixture::cluster(4);
    assert_eq!(
        reasons(&host, request(2, &[2, 1], criteria(1, 0, None))),
        vec![
            "candidate 0202020202020202 is already a member",
            "candidate 0202020202020202 cannot sponsor itself",
        ]
    );
}

#[test]
fn malformed_identity() {
    let host = Fixture::cluster(4);
    let mut req = request(9, &[1], criteria(1, 0, None));
    req.candidate.id = vec![9; 31];
    req.candidate.name = " ".into();
    req.candidate.address = String::new();
    let f = findings(&host, &req);
    assert_eq!(f.len(), 3);
    assert!(f.iter().all(|f| f.code == RejectionCode::Malformed));
    assert_eq!(f[0].reason, "candidate id is 31 bytes, not 32");
}
