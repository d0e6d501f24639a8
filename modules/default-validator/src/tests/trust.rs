//! Trust modifications.

use spore_guest::testing::{Fixture, node_id};
use spore_guest::{Operation, RejectionCode, TrustModification, TrustReason};

use super::{assert_rejected, effect, le32};

fn modify(target: Vec<u8>, delta: i32, reason: TrustReason) -> Operation {
    Operation::TrustModification(TrustModification {
        target,
        delta_bps: delta,
        reason,
        justification: "audit 2026-11".into(),
    })
}

#[test]
fn effect_has_before_and_clamped_after() {
    let host = Fixture::cluster(4);
    let e = effect(&host, modify(node_id(3), 5000, TrustReason::RecoveryGrant));
    let mut expected = vec![1, 1];
    expected.extend(node_id(3));
    expected.push(TrustReason::RecoveryGrant as u8);
    expected.extend(5000i32.to_le_bytes());
    expected.extend(le32(7000));
    expected.extend(le32(10_000));
    assert_eq!(e, expected);

    let down = effect(&host, modify(node_id(3), -9000, TrustReason::AuditFinding));
    assert_eq!(down[down.len() - 4..], le32(0));
}

#[test]
fn trust_max_parameter_caps_the_result() {
    let host = Fixture::cluster(4).with_param("trust.max", 8000);
    let e = effect(
        &host,
        modify(node_id(3), 2000, TrustReason::GovernanceDecision),
    );
    assert_eq!(e[e.len() - 4..], le32(8000));
}

#[test]
fn unknown_target() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        modify(node_id(9), 10, TrustReason::GovernanceDecision),
        RejectionCode::UnknownNode,
        "target 0909090909090909 is not a member",
    );
}

#[test]
fn malformed_target_id() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        modify(vec![3; 31], 10, TrustReason::GovernanceDecision),
        RejectionCode::Malformed,
        "target is 31 bytes, not 32",
    );
}

#[test]
fn delta_out_of_bounds_or_zero() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        modify(node_id(3), 10_001, TrustReason::GovernanceDecision),
        RejectionCode::PolicyViolation,
        "outside -10000..=10000",
    );
    assert_rejected(
        &host,
        modify(node_id(3), i32::MIN, TrustReason::GovernanceDecision),
        RejectionCode::PolicyViolation,
        "outside",
    );
    assert_rejected(
        &host,
        modify(node_id(3), 0, TrustReason::GovernanceDecision),
        RejectionCode::Malformed,
        "changes nothing",
    );
}

#[test]
fn reason_must_match_direction() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        modify(node_id(3), -1, TrustReason::RecoveryGrant),
        RejectionCode::PolicyViolation,
        "cannot lower",
    );
    assert_rejected(
        &host,
        modify(node_id(3), 1, TrustReason::MisbehaviourReport),
        RejectionCode::PolicyViolation,
        "cannot raise",
    );
    assert_rejected(
        &host,
        modify(node_id(3), 1, TrustReason::AuditFinding),
        RejectionCode::PolicyViolation,
        "cannot raise",
    );
}

#[test]
fn empty_justification_and_every_reason_reported() {
    let host = Fixture::cluster(4);
    let op = Operation::TrustModification(TrustModification {
        target: node_id(9),
        delta_bps: 0,
        reason: TrustReason::GovernanceDecision,
        justification: "  ".into(),
    });
    let r = super::rejection(&host, op);
    assert_eq!(r.code, RejectionCode::UnknownNode);
    assert_eq!(
        r.reason,
        "target 0909090909090909 is not a member; justification is empty; \
         a trust delta of 0 changes nothing"
    );
}
