//! Unit tests for every trust rule and its rounding edges.

use super::*;
use crate::ops::TrustReason;
use crate::types::{Hierarchy, NodeId};

const S: NodeId = NodeId([1; 32]);
const R: NodeId = NodeId([2; 32]);
const H: NodeId = NodeId([3; 32]);
const H2: NodeId = NodeId([4; 32]);
const UNKNOWN: NodeId = NodeId([9; 32]);

fn ledger(params: &TrustParams) -> TrustLedger {
    let mut l = TrustLedger::new(0);
    assert!(l.insert_genesis(S, Hierarchy::Sclerotia, 8000, params));
    assert!(l.insert_genesis(R, Hierarchy::Rhizomorph, 7000, params));
    assert!(l.insert_genesis(H, Hierarchy::Hyphae, 5000, params));
    assert!(l.insert_genesis(H2, Hierarchy::Hyphae, 5000, params));
    l
}

fn report(source: NodeId, participants: &[(NodeId, Participation)]) -> RoundReport {
    RoundReport {
        slot: 1,
        source,
        participants: participants.to_vec(),
        absences: vec![],
    }
}

fn all(p: Participation) -> Vec<(NodeId, Participation)> {
    vec![(S, p), (R, p), (H, p), (H2, p)]
}

#[test]
fn agreement_gains_follow_the_hierarchy_from_the_decider() {
    let params = TrustParams::default();
    let mut l = ledger(&params);
    let changes = l.apply_round(&report(S, &all(Participation::Agreed)), &params);
    assert_eq!(changes.len(), 4);
    assert_eq!(l.trust(&S), 8020, "peer x1.0");
    assert_eq!(l.trust(&R), 7030, "sclerotia -> rhizomorph x1.5");
    assert_eq!(l.trust(&H), 5024, "sclerotia -> hyphae x1.2");

    let mut l = ledger(&params);
    l.apply_round(&report(H, &all(Participation::Agreed)), &params);
    assert_eq!(l.trust(&S), 8016, "upward x0.8");
    assert_eq!(l.trust(&R), 7016, "upward x0.8");
    assert_eq!(l.trust(&H2), 5020, "peer x1.0");

    let mut l = ledger(&params);
    l.apply_round(&report(R, &all(Participation::Agreed)), &params);
    assert_eq!(l.trust(&H), 5022, "rhizomorph -> hyphae x1.1");
}

#[test]
fn unknown_source_propagates_as_peer() {
    let params = TrustParams::default();
    let mut l = ledger(&params);
    l.apply_round(&report(UNKNOWN, &all(Participation::Agreed)), &params);
    assert_eq!(l.trust(&R), 7020);
    assert_eq!(l.trust(&H), 5020);
}

#[test]
fn gains_are_capped_per_epoch_and_at_max() {
    let params = TrustParams::default();
    let mut l = ledger(&params);
    for _ in 0..100 {
        l.apply_round(&report(S, &all(Participation::Agreed)), &params);
    }
    assert_eq!(
        l.trust(&R),
        7000 + params.epoch_gain_cap,
        "epoch cap bounds the climb"
    );
    assert!(
        l.apply_round(&report(S, &[(R, Participation::Agreed)]), &params)
            .is_empty()
    );
    l.advance_epoch(1, &params);
    l.apply_round(&report(S, &[(R, Participation::Agreed)]), &params);
    assert_eq!(l.trust(&R), 7530, "cap resets at the epoch boundary");

    let mut l = TrustLedger::new(0);
    l.insert_genesis(S, Hierarchy::Sclerotia, 9_990, &params);
    l.apply_round(&report(S, &[(S, Participation::Agreed)]), &params);
    assert_eq!(l.trust(&S), params.max);
    // Genesis trust above max is clamped.
    l.insert_genesis(R, Hierarchy::Sclerotia, 60_000, &params);
    assert_eq!(l.trust(&R), params.max);
}

#[test]
fn penalties_scale_round_up_and_no_reveal_costs_more_than_dissent() {
    let params = TrustParams {
        dissent_penalty: 15,
        no_reveal_penalty: 45,
        ..TrustParams::default()
    };
    let mut l = ledger(&params);
    l.apply_round(
        &report(
            R,
            &[
                (H, Participation::Dissented),
                (H2, Participation::CommittedNoReveal),
            ],
        ),
        &params,
    );
    assert_eq!(l.trust(&H), 5000 - 17, "15 * 1.1 = 16.5 rounds up to 17");
    assert_eq!(l.trust(&H2), 5000 - 50, "45 * 1.1 = 49.5 rounds up to 50");

    let params = TrustParams::default();
    let mut l = ledger(&params);
    l.apply_round(
        &report(
            S,
            &[
                (S, Participation::Dissented),
                (R, Participation::CommittedNoReveal),
            ],
        ),
        &params,
    );
    assert_eq!(l.trust(&S), 8000 - 300);
    assert_eq!(l.trust(&R), 7000 - 900, "600 * 1.5");
}

#[test]
fn silence_costs_nothing_by_default_and_the_configured_penalty_otherwise() {
    let params = TrustParams::default();
    let mut l = ledger(&params);
    assert!(
        l.apply_round(&report(S, &all(Participation::Silent)), &params)
            .is_empty()
    );
    let params = TrustParams {
        silence_penalty: 10,
        ..TrustParams::default()
    };
    let mut l = ledger(&params);
    l.apply_round(&report(S, &[(H, Participation::Silent)]), &params);
    assert_eq!(l.trust(&H), 4988, "10 * 1.2");
}

#[test]
fn equivocation_and_bad_reveal_zero_trust_and_exclude() {
    let params = TrustParams::default();
    for p in [Participation::Equivocated, Participation::BadReveal] {
        let mut l = ledger(&params);
        let changes = l.apply_round(&report(H, &[(S, p)]), &params);
        assert_eq!(l.trust(&S), 0);
        assert!(!l.is_eligible(&S, &params));
        assert_eq!(
            changes[0].status,
            Some(StatusChange::Excluded(ExclusionCause::Misbehaviour))
        );
        assert_eq!(changes[0].delta(), -8000);
    }
}

#[test]
fn falling_below_the_threshold_excludes_and_ineligible_nodes_gain_nothing() {
    let params = TrustParams::default();
    let mut l = TrustLedger::new(0);
    l.insert_genesis(H, Hierarchy::Hyphae, 2_100, &params);
    let changes = l.apply_round(&report(H, &[(H, Participation::Dissented)]), &params);
    assert_eq!(l.trust(&H), 1_800);
    assert_eq!(
        changes[0].status,
        Some(StatusChange::Excluded(ExclusionCause::LowTrust))
    );
    assert!(l.eligible(&params).is_empty());
    assert!(
        l.apply_round(&report(H, &[(H, Participation::Agreed)]), &params)
            .is_empty()
    );
    assert!(
        l.apply_round(&report(H, &[(H, Participation::Dissented)]), &params)
            .is_empty()
    );
    // Provable misbehaviour still counts while excluded.
    let c = l.apply_round(&report(H, &[(H, Participation::Equivocated)]), &params);
    assert_eq!(
        c[0].status,
        Some(StatusChange::Excluded(ExclusionCause::Misbehaviour))
    );
    assert_eq!(l.trust(&H), 0);
}

#[test]
fn exactly_at_the_threshold_is_eligible() {
    let params = TrustParams::default();
    let mut l = TrustLedger::new(0);
    l.insert_genesis(H, Hierarchy::Hyphae, params.exclusion_threshold, &params);
    assert!(l.is_eligible(&H, &params));
    l.insert_genesis(
        H2,
        Hierarchy::Hyphae,
        params.exclusion_threshold - 1,
        &params,
    );
    assert!(!l.is_eligible(&H2, &params));
}

#[test]
fn recovery_is_bounded_per_epoch_and_readmits_at_the_readmission_threshold() {
    let params = TrustParams::default();
    let mut l = TrustLedger::new(0);
    l.insert_genesis(H, Hierarchy::Hyphae, 1_900, &params);
    assert!(!l.is_eligible(&H, &params));
    let c = l.advance_epoch(1, &params);
    assert_eq!(
        (c[0].after, c[0].status),
        (2_000, None),
        "above exclusion but below readmission"
    );
    assert!(!l.is_eligible(&H, &params));
    let c = l.advance_epoch(6, &params);
    assert_eq!(l.trust(&H), 2_500);
    assert_eq!(c[0].status, Some(StatusChange::Readmitted));
    assert!(l.is_eligible(&H, &params));
    // The recovery counts against the new epoch's gain cap.
    assert_eq!(
        l.get(&H).map(|e| e.gained_this_epoch),
        Some(params.recovery_per_epoch)
    );
    // Going backwards or standing still does nothing.
    assert!(l.advance_epoch(6, &params).is_empty());
    assert!(l.advance_epoch(2, &params).is_empty());
    assert_eq!(l.epoch(), 6);
}

#[test]
fn misbehaving_and_governance_excluded_nodes_do_not_recover_alone() {
    let params = TrustParams::default();
    let mut l = ledger(&params);
    l.exclude(&S, ExclusionCause::Misbehaviour, &params);
    l.exclude(&R, ExclusionCause::Governance, &params);
    assert_eq!(l.trust(&R), 7000, "governance exclusion keeps the score");
    assert!(l.advance_epoch(100, &params).is_empty());
    assert!(!l.is_eligible(&S, &params) && !l.is_eligible(&R, &params));
    // A milder cause never overwrites a more severe one.
    l.exclude(&S, ExclusionCause::LowTrust, &params);
    assert_eq!(
        l.get(&S).map(|e| e.status),
        Some(Status::Excluded(ExclusionCause::Misbehaviour))
    );
}

#[test]
fn recovery_grant_reopens_the_recovery_path_but_not_the_door() {
    let params = TrustParams::default();
    let mut l = ledger(&params);
    l.exclude(&S, ExclusionCause::Misbehaviour, &params);
    let c = l.modify(&S, 10_000, TrustReason::RecoveryGrant, &params);
    assert_eq!(
        c.map(|c| c.after),
        Some(params.epoch_gain_cap),
        "positive deltas obey the epoch cap"
    );
    assert_eq!(
        l.get(&S).map(|e| e.status),
        Some(Status::Excluded(ExclusionCause::LowTrust))
    );
    assert!(
        !l.is_eligible(&S, &params),
        "no readmission before an epoch boundary"
    );
    // 500 -> needs 2000 more at 100 per epoch = 20 epochs.
    l.advance_epoch(19, &params);
    assert!(!l.is_eligible(&S, &params));
    l.advance_epoch(20, &params);
    assert!(l.is_eligible(&S, &params));
    assert_eq!(l.trust(&S), 2_500);
}

#[test]
fn governance_deltas_saturate_and_exclude() {
    let params = TrustParams::default();
    let mut l = ledger(&params);
    let c = l.modify(&H, -100_000, TrustReason::AuditFinding, &params);
    assert_eq!(
        c.map(|c| (c.after, c.status)),
        Some((0, Some(StatusChange::Excluded(ExclusionCause::LowTrust))))
    );
    let c = l.modify(&R, i32::MIN, TrustReason::GovernanceDecision, &params);
    assert_eq!(c.map(|c| c.after), Some(0));
    assert_eq!(
        l.modify(&UNKNOWN, 5, TrustReason::GovernanceDecision, &params),
        None
    );
    assert_eq!(
        l.modify(&S, 0, TrustReason::GovernanceDecision, &params),
        None,
        "no-op is not a change"
    );
    let c = l.modify(&S, i32::MAX, TrustReason::GovernanceDecision, &params);
    assert_eq!(c.map(|c| c.after), Some(8_500));
}

#[test]
fn duplicates_count_once_with_the_worst_entry_and_unknown_nodes_are_ignored() {
    let params = TrustParams::default();
    let mut l = ledger(&params);
    let changes = l.apply_round(
        &report(
            S,
            &[
                (S, Participation::Agreed),
                (S, Participation::Dissented),
                (S, Participation::Agreed),
                (UNKNOWN, Participation::Agreed),
            ],
        ),
        &params,
    );
    assert_eq!(changes.len(), 1);
    assert_eq!(l.trust(&S), 7_700);
    assert!(l.get(&UNKNOWN).is_none());
}

#[test]
fn report_order_does_not_matter() {
    let params = TrustParams::default();
    let parts = vec![
        (H, Participation::Dissented),
        (S, Participation::Agreed),
        (H2, Participation::CommittedNoReveal),
        (R, Participation::Agreed),
    ];
    let mut a = ledger(&params);
    a.apply_round(&report(R, &parts), &params);
    let mut rev = parts.clone();
    rev.reverse();
    let mut b = ledger(&params);
    b.apply_round(&report(R, &rev), &params);
    assert_eq!(a, b);
}

#[test]
fn newcomers_start_below_critical_and_admission_is_idempotent() {
    let params = TrustParams::default();
    let mut l = ledger(&params);
    let n = NodeId([7; 32]);
    let c = l.admit(n, Hierarchy::Sclerotia, &params);
    assert_eq!(c.map(|c| c.after), Some(params.initial));
    let e = l.get(&n).cloned();
    assert!(
        e.as_ref()
            .is_some_and(|e| e.is_eligible(&params) && !e.is_high_trust(&params))
    );
    assert_eq!(l.admit(n, Hierarchy::Hyphae, &params), None);
    assert_eq!(l.admit(S, Hierarchy::Hyphae, &params), None);
}

#[test]
fn raising_the_threshold_excludes_and_lowering_max_clamps() {
    let mut params = TrustParams::default();
    let mut l = ledger(&params);
    params.exclusion_threshold = 5_500;
    params.max = 7_500;
    let changes = l.reevaluate(&params);
    assert_eq!(l.trust(&S), 7_500);
    assert!(!l.is_eligible(&H, &params) && !l.is_eligible(&H2, &params));
    assert_eq!(changes.len(), 3);
}

#[test]
fn huge_epoch_jumps_do_not_overflow() {
    let params = TrustParams::default();
    let mut l = TrustLedger::new(0);
    l.insert_genesis(H, Hierarchy::Hyphae, 0, &params);
    l.advance_epoch(u64::MAX, &params);
    assert_eq!(l.trust(&H), params.max);
    assert!(l.is_eligible(&H, &params));
}
