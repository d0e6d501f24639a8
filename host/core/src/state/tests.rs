//! Unit tests of the replicated state: construction, every operation's effect, slot and
//! epoch boundaries, rotation, quorum rules, snapshots and digests.

use super::*;
use crate::crypto::Keypair;
use crate::genesis::tests::signed;
use crate::ops::*;
use crate::quorum::QuorumKind;
use crate::trust::{ExclusionCause, Participation, Status, StatusChange};
use crate::types::Hierarchy;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn state(n: u8) -> Result<(ReplicatedState, Vec<NodeId>), GenesisError> {
    let (g, keys) = signed(n);
    Ok((
        ReplicatedState::from_genesis(&g)?,
        keys.iter().map(|k| k.id()).collect(),
    ))
}

fn accepted() -> Outcome {
    Outcome::Accepted(vec![1])
}

/// A valid newcomer key (the host checks that a candidate is an ed25519 key).
fn newcomer_id() -> NodeId {
    Keypair::from_seed([42; 32]).id()
}

/// An admission of `id` sponsored (signed) by the first two founders of the test genesis
/// (trust 8000 and 7000: both qualify under the default rules).
fn admission(s: &ReplicatedState, id: NodeId, level: Hierarchy) -> Operation {
    let candidate = NodeIdentity {
        id,
        level,
        name: "new".into(),
        address: "10.0.0.1:7000".into(),
    };
    let sponsors = crate::genesis::tests::keys(2)
        .iter()
        .map(|k| Sponsorship::sign(&s.genesis_digest(), &candidate, k))
        .collect();
    Operation::NodeAdmission(NodeAdmission {
        candidate,
        sponsors,
    })
}

/// A real equivocation proof against founder `i` of the test genesis (seed `i + 1`) in
/// `slot`, as an exclusion's evidence.
fn equivocation_evidence(i: u8, slot: Slot) -> Result<Evidence, Box<dyn std::error::Error>> {
    use crate::consensus::{Accept, Message, Misbehaviour};
    let key = Keypair::from_seed([i + 1; 32]);
    let vote = |v: u8| {
        Message::Accept(crate::crypto::Signed::new(
            Accept {
                slot,
                view: 0,
                value: Digest([v; 32]),
            },
            &key,
        ))
    };
    let proof = Misbehaviour::conflicting(&vote(1), &vote(2)).ok_or("no conflict")?;
    Ok(Evidence {
        kind: EvidenceKind::ConflictingVotes,
        payload: proof.encode(),
    })
}

fn exclusion(target: NodeId, reason: ExclusionReason) -> Operation {
    Operation::NodeExclusion(NodeExclusion {
        target,
        reason,
        evidence: vec![],
    })
}

fn config(config_type: ConfigType, key: &str, value: i64) -> Operation {
    Operation::NetworkConfigChange(NetworkConfigChange {
        config_type,
        changes: vec![Param {
            key: key.into(),
            value,
        }],
        impact: ImpactLevel::Critical,
    })
}

fn swap(domain: SecurityDomain, to: u8) -> Operation {
    Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
        domain,
        new_policy: Digest([to; 32]),
        rollback_to: Digest([0; 32]),
        description: "swap".into(),
    })
}

/// A four-member state whose validator was swapped to `[9; 32]` at slot 3, on probation
/// from slot 4 (it replaced `[1; 32]`).
fn on_probation() -> Result<ReplicatedState, Box<dyn std::error::Error>> {
    let (mut s, _) = state(4)?;
    s.apply_slot(
        3,
        &[(swap(SecurityDomain::ValidatorModule, 9), accepted())],
        None,
    )?;
    Ok(s)
}

/// Whether `changes` roll a module back.
fn rolled_back(changes: &[StateChange]) -> bool {
    changes
        .iter()
        .any(|c| matches!(c, StateChange::ModuleRolledBack { .. }))
}

#[test]
fn genesis_state_and_rotation_by_hierarchy_then_id() -> TestResult {
    let (s, ids) = state(5)?;
    assert_eq!(s.eligible().len(), 5);
    assert_eq!(s.next_slot(), 0);
    let rot = s.rotation();
    let levels: Vec<_> = rot
        .iter()
        .filter_map(|id| s.member(id).map(|m| m.level))
        .collect();
    assert_eq!(
        levels,
        vec![
            Hierarchy::Sclerotia,
            Hierarchy::Rhizomorph,
            Hierarchy::Rhizomorph,
            Hierarchy::Hyphae,
            Hierarchy::Hyphae
        ]
    );
    assert!(rot[1] < rot[2] && rot[3] < rot[4], "ties broken by id");
    assert_eq!(s.primary(0), Some(ids[0]));
    for v in 0..12 {
        assert_eq!(s.seed(v), s.primary(v + 1), "the seed is the next primary");
        assert_ne!(s.primary(v), s.seed(v));
        assert_eq!(s.latent(v).len(), 3);
    }
    assert_eq!(s.primary(5), s.primary(0));
    assert_eq!(s.layer(&ids[0], 0), Some(Layer::Primary));
    assert_eq!(s.active_module(Role::Validator), Some(Digest([1; 32])));
    Ok(())
}

#[test]
fn unsigned_genesis_is_refused() {
    let (mut g, _) = signed(4);
    g.signatures.pop();
    assert!(matches!(
        ReplicatedState::from_genesis(&g),
        Err(GenesisError::MissingSignature(_))
    ));
}

#[test]
fn admission_adds_a_newcomer_below_critical_from_the_next_slot() -> TestResult {
    let (mut s, _) = state(4)?;
    let newcomer = newcomer_id();
    let before = s.snapshot(0);
    let changes = s.apply_slot(
        0,
        &[(admission(&s, newcomer, Hierarchy::Hyphae), accepted())],
        None,
    )?;
    assert!(changes.contains(&StateChange::MemberAdmitted {
        id: newcomer,
        level: Hierarchy::Hyphae
    }));
    assert_eq!(
        before.members.len(),
        4,
        "the slot's own snapshot is unaffected"
    );
    assert!(s.is_eligible(&newcomer));
    assert_eq!(s.ledger().trust(&newcomer), s.params().trust.initial);
    assert!(
        s.ledger()
            .get(&newcomer)
            .is_some_and(|e| !e.is_high_trust(&s.params().trust))
    );
    assert_eq!(s.member(&newcomer).map(|m| m.joined), Some(0));
    assert_eq!(s.snapshot(0).members.len(), 5);
    // Admitting again is ignored.
    let changes = s.apply_slot(
        1,
        &[(admission(&s, newcomer, Hierarchy::Hyphae), accepted())],
        None,
    )?;
    assert!(matches!(changes.as_slice(), [StateChange::Ignored { .. }]));
    Ok(())
}

#[test]
fn membership_limit_is_respected() -> TestResult {
    let (mut s, _) = state(4)?;
    s.apply_slot(
        0,
        &[(
            config(ConfigType::Membership, "membership.max-members", 4),
            accepted(),
        )],
        None,
    )?;
    let op = admission(&s, newcomer_id(), Hierarchy::Hyphae);
    let changes = s.apply_slot(1, &[(op, accepted())], None)?;
    assert!(
        matches!(changes.as_slice(), [StateChange::Ignored { reason, .. }] if reason.contains("max-members"))
    );
    assert_eq!(s.members().len(), 4);
    Ok(())
}

/// An admission that would make one operation's worst-case tally too large for a frame
/// is ignored (the output cap admits 4 members here, not 5); control: at a cap that
/// admits 5, the same admission applies.
#[test]
fn an_admission_past_what_a_frame_holds_is_ignored() -> TestResult {
    use crate::consensus::limits::one_operation_fits;
    let cap = 650_000;
    assert!(one_operation_fits(4, cap) && !one_operation_fits(5, cap));
    for (cap, admitted) in [(650_000, false), (16 * 1024, true)] {
        let (mut s, _) = state(4)?;
        s.apply_slot(
            0,
            &[(
                config(ConfigType::Timing, "timing.max-output-bytes", cap),
                accepted(),
            )],
            None,
        )?;
        assert_eq!(s.params().timing.max_output_bytes, u64::try_from(cap)?);
        let op = admission(&s, newcomer_id(), Hierarchy::Hyphae);
        let changes = s.apply_slot(1, &[(op, accepted())], None)?;
        let ignored = matches!(changes.as_slice(),
            [StateChange::Ignored { reason, .. }] if reason.contains("would not fit a frame"));
        assert_eq!(ignored, !admitted, "cap {cap}: {changes:?}");
        assert_eq!(s.members().len(), if admitted { 5 } else { 4 });
    }
    Ok(())
}

#[test]
fn exclusion_removes_from_rotation_and_shrinks_the_quorum() -> TestResult {
    let (mut s, ids) = state(5)?;
    let full = s.quorum_rule(Mechanism::FullBft, 0).ok_or("no rule")?;
    assert_eq!(full.min_count(), 4);
    let mut proven = exclusion(ids[4], ExclusionReason::Equivocation);
    if let Operation::NodeExclusion(x) = &mut proven {
        x.evidence.push(equivocation_evidence(4, 0)?);
    }
    // Read before the exclusion, so that the rotation computed then is remembered: the
    // apply must forget it (control: without the `derived.clear()` in
    // `apply_slot_judged` the excluded member stays in the rotation below).
    assert!(s.rotation().contains(&ids[4]));
    assert!(s.layer(&ids[4], 0).is_some());
    let changes = s.apply_slot(0, &[(proven, accepted())], None)?;
    assert!(matches!(
        changes.as_slice(),
        [StateChange::Trust(c)] if c.status == Some(StatusChange::Excluded(ExclusionCause::Misbehaviour)) && c.after == 0
    ));
    assert!(!s.rotation().contains(&ids[4]));
    assert_eq!(s.layer(&ids[4], 0), None);
    let rule = s.quorum_rule(Mechanism::FullBft, 0).ok_or("no rule")?;
    assert_eq!((rule.electorate_len(), rule.min_count()), (4, 3));
    assert!(!rule.counts(&ids[4]));
    // Governance exclusion keeps the score.
    s.apply_slot(
        1,
        &[(exclusion(ids[3], ExclusionReason::Unresponsive), accepted())],
        None,
    )?;
    assert_eq!(
        s.ledger().get(&ids[3]).map(|e| (e.trust, e.status)),
        Some((5_000, Status::Excluded(ExclusionCause::Governance)))
    );
    Ok(())
}

#[test]
fn the_last_eligible_member_cannot_be_excluded() -> TestResult {
    let (mut s, ids) = state(2)?;
    s.apply_slot(
        0,
        &[(
            exclusion(ids[1], ExclusionReason::GovernanceDecision),
            accepted(),
        )],
        None,
    )?;
    let changes = s.apply_slot(
        1,
        &[(
            exclusion(ids[0], ExclusionReason::GovernanceDecision),
            accepted(),
        )],
        None,
    )?;
    assert!(matches!(changes.as_slice(), [StateChange::Ignored { .. }]));
    assert_eq!(s.eligible().len(), 1);
    let unknown = s.apply_slot(
        2,
        &[(
            exclusion(NodeId([77; 32]), ExclusionReason::LowTrust),
            accepted(),
        )],
        None,
    )?;
    assert!(matches!(unknown.as_slice(), [StateChange::Ignored { .. }]));
    Ok(())
}

#[test]
fn trust_modification_applies_to_members_only() -> TestResult {
    let (mut s, ids) = state(4)?;
    let op = |target, delta_bps| {
        Operation::TrustModification(TrustModification {
            target,
            delta_bps,
            reason: TrustReason::AuditFinding,
            justification: "x".into(),
        })
    };
    s.apply_slot(
        0,
        &[
            (op(ids[3], -4_000), accepted()),
            (op(NodeId([77; 32]), 5), accepted()),
        ],
        None,
    )?;
    assert_eq!(s.ledger().trust(&ids[3]), 1_000);
    assert!(!s.is_eligible(&ids[3]));
    assert!(s.ledger().get(&NodeId([77; 32])).is_none());
    Ok(())
}

#[test]
fn configuration_changes_apply_atomically_and_reevaluate_trust() -> TestResult {
    let (mut s, ids) = state(4)?;
    let raise = Operation::NetworkConfigChange(NetworkConfigChange {
        config_type: ConfigType::Trust,
        changes: vec![
            Param {
                key: "trust.exclusion-threshold".into(),
                value: 5_500,
            },
            Param {
                key: "trust.readmission-threshold".into(),
                value: 5_500,
            },
            Param {
                key: "trust.initial".into(),
                value: 5_500,
            },
        ],
        impact: ImpactLevel::Critical,
    });
    // Alone, the exclusion threshold would exceed the readmission threshold: refused.
    let alone = s.apply_slot(
        0,
        &[(
            config(ConfigType::Trust, "trust.exclusion-threshold", 5_500),
            accepted(),
        )],
        None,
    )?;
    assert!(matches!(alone.as_slice(), [StateChange::Ignored { .. }]));
    let changes = s.apply_slot(1, &[(raise, accepted())], None)?;
    assert!(matches!(
        changes.first(),
        Some(StateChange::ParamsChanged { .. })
    ));
    assert_eq!(s.params().trust.exclusion_threshold, 5_500);
    assert!(
        !s.is_eligible(&ids[3]),
        "a hyphae at 5000 falls below the new threshold"
    );
    // Invalid: the namespace does not match the config type; nothing changes.
    let before = s.params().clone();
    let changes = s.apply_slot(
        2,
        &[(config(ConfigType::Timing, "trust.max", 9_000), accepted())],
        None,
    )?;
    assert!(matches!(changes.as_slice(), [StateChange::Ignored { .. }]));
    assert_eq!(s.params(), &before);
    Ok(())
}

#[test]
fn module_swaps_record_the_previous_module_and_roll_back() -> TestResult {
    let (mut s, _) = state(4)?;
    let changes = s.apply_slot(
        3,
        &[(swap(SecurityDomain::ResolverModule, 9), accepted())],
        None,
    )?;
    assert_eq!(
        changes,
        vec![StateChange::ModuleSwapped {
            role: Role::Resolver,
            from: Digest([3; 32]),
            to: Digest([9; 32])
        }]
    );
    assert!(
        changes[0]
            .to_string()
            .starts_with("resolver module swapped")
    );
    let slot = s
        .module_slot(Role::Resolver)
        .cloned()
        .ok_or("no resolver")?;
    assert_eq!(
        (slot.active, slot.previous, slot.since),
        (Digest([9; 32]), Some(Digest([3; 32])), 4)
    );
    // Roll back.
    s.apply_slot(
        4,
        &[(swap(SecurityDomain::ResolverModule, 3), accepted())],
        None,
    )?;
    assert_eq!(s.active_module(Role::Resolver), Some(Digest([3; 32])));
    assert_eq!(
        s.module_slot(Role::Resolver).and_then(|m| m.previous),
        Some(Digest([9; 32]))
    );
    // Same module again: ignored. Other roles untouched.
    let changes = s.apply_slot(
        5,
        &[(swap(SecurityDomain::ResolverModule, 3), accepted())],
        None,
    )?;
    assert!(matches!(changes.as_slice(), [StateChange::Ignored { .. }]));
    assert_eq!(s.active_module(Role::Validator), Some(Digest([1; 32])));
    // Transport policy.
    s.apply_slot(
        6,
        &[(swap(SecurityDomain::TransportPolicy, 5), accepted())],
        None,
    )?;
    assert_eq!(
        s.transport_policy().map(|m| (m.active, m.previous)),
        Some((Digest([5; 32]), None))
    );
    Ok(())
}

#[test]
fn rejected_and_failed_outcomes_change_only_the_history() -> TestResult {
    let (mut s, _) = state(4)?;
    let op = admission(&s, newcomer_id(), Hierarchy::Hyphae);
    let rejected = Outcome::Rejected {
        code: RejectionCode::InsufficientSponsors,
        reason: "no".into(),
    };
    let before = s.clone();
    let changes = s.apply_slot(
        0,
        &[
            (op.clone(), rejected),
            (op, Outcome::Failed(FailureKind::OutOfFuel)),
        ],
        None,
    )?;
    assert!(
        changes
            .iter()
            .all(|c| matches!(c, StateChange::NotApplied { .. }))
    );
    assert_eq!(s.members(), before.members());
    assert_eq!(s.ledger(), before.ledger());
    assert_ne!(s.history(), before.history());
    assert_eq!(s.decided_counts().get("node-admission"), Some(&2));
    Ok(())
}

#[test]
fn authority_operations_are_recorded() -> TestResult {
    let (mut s, _) = state(4)?;
    let ops = crate::ops::tests::one_of_each();
    let batch: Vec<_> = ops[5..].iter().map(|o| (o.clone(), accepted())).collect();
    let changes = s.apply_slot(0, &batch, None)?;
    assert_eq!(changes.len(), 5);
    assert!(
        changes
            .iter()
            .all(|c| matches!(c, StateChange::Recorded { .. }))
    );
    assert_eq!(s.services().get("api").map(|r| r.replicas), Some(3));
    Ok(())
}

#[test]
fn round_reports_update_trust_and_must_match_the_slot() -> TestResult {
    let (mut s, ids) = state(4)?;
    let report = RoundReport {
        slot: 0,
        source: ids[0],
        participants: vec![
            (ids[1], Participation::Agreed),
            (ids[3], Participation::Dissented),
        ],
        absences: vec![],
    };
    let changes = s.apply_slot(0, &[], Some(&report))?;
    assert_eq!(changes.len(), 2);
    assert_eq!(
        s.ledger().trust(&ids[1]),
        7_030,
        "sclerotia decider -> rhizomorph x1.5"
    );
    assert_eq!(
        s.ledger().trust(&ids[3]),
        5_000 - 360,
        "sclerotia decider -> hyphae x1.2"
    );
    assert_eq!(
        s.apply_slot(0, &[], None),
        Err(StateError::AlreadyApplied { slot: 0, next: 1 })
    );
    assert_eq!(
        s.apply_slot(2, &[], Some(&report)),
        Err(StateError::ReportSlotMismatch { slot: 2, report: 0 })
    );
    Ok(())
}

/// Four members, the fourth cut to 1,900 (below the threshold) at slot 5.
fn with_a_member_cut() -> Result<(ReplicatedState, Vec<NodeId>), Box<dyn std::error::Error>> {
    let (mut s, ids) = state(4)?;
    let cut = Operation::TrustModification(TrustModification {
        target: ids[3],
        delta_bps: -3_100,
        reason: TrustReason::MisbehaviourReport,
        justification: "x".into(),
    });
    s.apply_slot(5, &[(cut, accepted())], None)?;
    assert_eq!(s.ledger().trust(&ids[3]), 1_900);
    Ok((s, ids))
}

#[test]
fn epochs_advance_at_boundaries_and_drive_recovery() -> TestResult {
    let (mut s, ids) = with_a_member_cut()?;
    assert_eq!(s.epoch_at(99), 0);
    assert_eq!(s.epoch_at(100), 1);
    assert_eq!(s.epoch_at(250), 2);
    let changes = s.apply_slot(250, &[], None)?;
    assert_eq!(
        changes.first(),
        Some(&StateChange::EpochStarted {
            epoch: 2,
            first_slot: 200
        })
    );
    assert_eq!(s.ledger().trust(&ids[3]), 2_100, "two epochs of recovery");
    assert!(!s.is_eligible(&ids[3]));
    s.apply_slot(650, &[], None)?;
    assert!(s.is_eligible(&ids[3]), "readmitted at 2500");
    assert_eq!(s.epoch(), 6);
    // A shorter epoch length applies to the current epoch, whose start (600) it passed
    // long ago: the next epoch opens at the next slot, one epoch, not five.
    s.apply_slot(
        651,
        &[(
            config(ConfigType::Timing, "timing.slots-per-epoch", 10),
            accepted(),
        )],
        None,
    )?;
    assert_eq!(s.epoch_at(651), 6);
    assert_eq!(s.epoch_at(652), 7);
    let changes = s.apply_slot(652, &[], None)?;
    assert_eq!(
        changes.first(),
        Some(&StateChange::EpochStarted {
            epoch: 7,
            first_slot: 652
        })
    );
    assert_eq!(s.epoch_at(662), 8);
    // A longer one stretches the current epoch.
    s.apply_slot(
        653,
        &[(
            config(ConfigType::Timing, "timing.slots-per-epoch", 100),
            accepted(),
        )],
        None,
    )?;
    assert_eq!(s.epoch_at(751), 7);
    assert_eq!(s.epoch_at(752), 8);
    Ok(())
}

/// Attacker: one governor key. Member X was excluded for low trust; the governor shortens
/// epochs (to one slot, then) as a Low timing change (Authority Medium: the seed alone
/// decides), and every boundary the new length had passed opened at once, each a round of
/// recovery: X came back at full trust, eligible, able to sponsor. The key is Critical now
/// (Full BFT), the length at least 10, and no change opens more than one epoch.
#[test]
fn a_shorter_epoch_opens_one_epoch_not_many() -> TestResult {
    let (mut s, ids) = with_a_member_cut()?;
    assert!(!s.is_eligible(&ids[3]));
    let shorten = config(ConfigType::Timing, "timing.slots-per-epoch", 10);
    assert_eq!(shorten.mechanism(), Mechanism::FullBft);
    s.apply_slot(99, &[(shorten, accepted())], None)?;
    s.apply_slot(100, &[], None)?;
    assert_eq!(s.epoch(), 1, "one boundary, at slot 100");
    assert_eq!(s.ledger().trust(&ids[3]), 2_000, "one epoch of recovery");
    Ok(())
}

#[test]
fn quorum_rules_per_mechanism() -> TestResult {
    let (s, _) = state(7)?;
    let rule = |m| s.quorum_rule(m, 2).ok_or("no rule");
    assert_eq!(rule(Mechanism::FullBft)?.kind(), QuorumKind::FullBft);
    assert_eq!(rule(Mechanism::FullBft)?.min_count(), 5);
    let p = s.primary(2).ok_or("no primary")?;
    let sd = s.seed(2).ok_or("no seed")?;
    assert!(rule(Mechanism::Authority(AuthorityLevel::High))?.is_met(&[p]));
    assert!(!rule(Mechanism::Authority(AuthorityLevel::High))?.is_met(&[sd]));
    assert!(rule(Mechanism::Authority(AuthorityLevel::Medium))?.is_met(&[sd]));
    let light = rule(Mechanism::Authority(AuthorityLevel::Low))?;
    assert_eq!(
        (light.kind(), light.electorate_len(), light.min_count()),
        (QuorumKind::Light, 5, 3)
    );
    assert!(!light.counts(&p) && !light.counts(&sd));
    Ok(())
}

#[test]
fn snapshot_lists_members_layers_and_params_in_order() -> TestResult {
    let (mut s, ids) = state(4)?;
    s.apply_slot(
        0,
        &[(
            exclusion(ids[3], ExclusionReason::GovernanceDecision),
            accepted(),
        )],
        None,
    )?;
    let snap = s.snapshot(1);
    assert_eq!(snap.slot, 1);
    assert!(snap.members.windows(2).all(|w| w[0].id < w[1].id));
    assert!(snap.params.windows(2).all(|w| w[0].0 < w[1].0));
    let primary = s.primary(1).ok_or("no primary")?;
    assert_eq!(snap.member(&primary).map(|m| m.layer), Some(Layer::Primary));
    assert_eq!(
        snap.member(&ids[3]).map(|m| (m.eligible, m.layer)),
        Some((false, Layer::Latent))
    );
    assert_eq!(
        snap.members
            .iter()
            .filter(|m| m.layer == Layer::Seed)
            .count(),
        1
    );
    assert_eq!(snap.param("quorum.min-high-trust"), Some(1));
    assert_eq!(snap.param("nope"), None);
    Ok(())
}

#[test]
fn same_decisions_same_digest_and_state_survives_encoding() -> TestResult {
    let (mut a, ids) = state(4)?;
    let (mut b, _) = state(4)?;
    assert_eq!(a.state_digest(), b.state_digest());
    let ops = crate::ops::tests::one_of_each();
    let batch: Vec<_> = ops.iter().map(|o| (o.clone(), accepted())).collect();
    let report = RoundReport {
        slot: 3,
        source: ids[1],
        participants: vec![(ids[2], Participation::CommittedNoReveal)],
        absences: vec![],
    };
    a.apply_slot(3, &batch, Some(&report))?;
    b.apply_slot(3, &batch, Some(&report))?;
    assert_eq!(a.state_digest(), b.state_digest());
    let bytes = postcard::to_stdvec(&a)?;
    let back: ReplicatedState = postcard::from_bytes(&bytes)?;
    assert_eq!(back.state_digest(), a.state_digest());
    let json = serde_json::to_string(&a)?;
    let back: ReplicatedState = serde_json::from_str(&json)?;
    assert_eq!(back, a);
    // One different outcome, different digest.
    let (mut c, _) = state(4)?;
    let mut other = batch.clone();
    other[9].1 = Outcome::Accepted(vec![2]);
    c.apply_slot(3, &other, Some(&report))?;
    assert_ne!(c.state_digest(), a.state_digest());
    Ok(())
}

/// Sybil resistance end to end: a newcomer that agrees in every slot still needs
/// `(critical - initial) / epoch-gain-cap` epochs to become high-trust.
#[test]
fn a_flawless_newcomer_needs_four_epochs_to_become_high_trust() -> TestResult {
    let (mut s, ids) = state(4)?;
    let newcomer = newcomer_id();
    let op = admission(&s, newcomer, Hierarchy::Hyphae);
    s.apply_slot(0, &[(op, accepted())], None)?;
    let mut first_high = None;
    for slot in 1..500 {
        let mut participants: Vec<_> = ids.iter().map(|id| (*id, Participation::Agreed)).collect();
        participants.push((newcomer, Participation::Agreed));
        let report = RoundReport {
            slot,
            source: ids[0],
            participants,
            absences: vec![],
        };
        s.apply_slot(slot, &[], Some(&report))?;
        let high = s
            .ledger()
            .get(&newcomer)
            .is_some_and(|e| e.is_high_trust(&s.params().trust));
        if high && first_high.is_none() {
            first_high = Some(slot);
        }
    }
    let first_high = first_high.ok_or("never became high-trust")?;
    assert!(
        (300..400).contains(&first_high),
        "high-trust first at slot {first_high}"
    );
    assert_eq!(
        s.ledger().trust(&newcomer),
        4_000 + 5 * 500,
        "five epochs at the cap"
    );
    Ok(())
}

/// A validator that fails on more than the configured share of its calls during its
/// probation is rolled back, at one slot, by the replicated state itself (so on every
/// node); one that behaves, or fails only after its probation, stays. The control is the
/// healthy module: same slots, no rollback.
#[test]
fn a_validator_failing_on_probation_is_rolled_back_at_one_slot() -> TestResult {
    let failed = || Outcome::Regressed(FailureKind::Trap);
    let work = || config(ConfigType::Timing, "timing.propose-timeout", 30);
    for (label, outcome, expect_rollback) in [
        ("failing", failed as fn() -> Outcome, true),
        ("healthy", accepted as fn() -> Outcome, false),
    ] {
        let mut s = on_probation()?;
        assert_eq!(s.active_module(Role::Validator), Some(Digest([9; 32])));
        assert!(s.probation().is_some());
        let mut rolled_at = None;
        for slot in 4..10 {
            // One submitter per slot: each is one voice.
            let by = |_| Some(NodeId::from([slot as u8; 32]));
            let changes = s.apply_slot_judged(slot, &[(work(), outcome())], None, &by)?;
            if rolled_back(&changes) {
                rolled_at = Some(slot);
            }
        }
        if expect_rollback {
            // Three submitters, all failed: rolled back at the third (slot 6), effective
            // at 7.
            assert_eq!(rolled_at, Some(6), "{label}");
            let m = s.module_slot(Role::Validator).ok_or("no validator")?;
            assert_eq!((m.active, m.since), (Digest([1; 32]), 7), "{label}");
            assert!(s.probation().is_none());
        } else {
            assert_eq!(rolled_at, None, "{label}");
            assert_eq!(s.active_module(Role::Validator), Some(Digest([9; 32])));
        }
    }
    // Failures after the probation window change nothing.
    let mut s = on_probation()?;
    let end = 4 + s.params().timing.probation_slots;
    s.apply_slot(end, &[], None)?;
    for slot in end + 1..end + 6 {
        let by = |_| Some(NodeId::from([slot as u8; 32]));
        let changes = s.apply_slot_judged(slot, &[(work(), failed())], None, &by)?;
        assert!(!rolled_back(&changes));
    }
    Ok(())
}

/// Failures one layer decided alone (a Byzantine primary's reveals on the High path, a
/// seed's on Medium) do not judge a validator on probation: only what a quorum agreed on
/// does. The control is the same failures agreed by a quorum: rolled back.
#[test]
fn failures_no_quorum_agreed_on_do_not_roll_a_validator_back() -> TestResult {
    let failed = || Outcome::Regressed(FailureKind::Trap);
    let work = || config(ConfigType::Timing, "timing.propose-timeout", 30);
    for (by_quorum, expect_rollback) in [(false, false), (true, true)] {
        let mut s = on_probation()?;
        let mut rolled = false;
        for slot in 4..10 {
            let by = |_| by_quorum.then_some(NodeId::from([slot as u8; 32]));
            let changes = s.apply_slot_judged(slot, &[(work(), failed())], None, &by)?;
            rolled |= rolled_back(&changes);
        }
        assert_eq!(rolled, expect_rollback, "by quorum: {by_quorum}");
    }
    Ok(())
}

/// Attacker: a key with the compute permission that sends the validator on probation
/// operations it fails on (an interpreted module out of fuel on large inputs: agreed by a
/// quorum, deterministic). Counted by calls, three of them rolled back a swap the
/// governors decided; counted by submitter they are one voice. The control is the same
/// failures from three submitters: rolled back.
#[test]
fn one_submitter_cannot_roll_a_validator_back() -> TestResult {
    let failed = || Outcome::Regressed(FailureKind::OutOfFuel);
    let work = || config(ConfigType::Timing, "timing.propose-timeout", 30);
    for (submitters, expect_rollback) in [(1u8, false), (3, true)] {
        let mut s = on_probation()?;
        let mut rolled = false;
        for slot in 4..20u64 {
            let by = |_| Some(NodeId::from([(slot as u8) % submitters; 32]));
            let batch = [(work(), failed()), (work(), failed())];
            let changes = s.apply_slot_judged(slot, &batch, None, &by)?;
            rolled |= rolled_back(&changes);
        }
        assert_eq!(rolled, expect_rollback, "{submitters} submitter(s)");
    }
    Ok(())
}

/// Attacker: three keys with the compute permission that send the validator on probation
/// inputs every module fails on (operations too large for the fuel budget of any
/// validator). Counted as failures, they rolled back a swap the governors decided; only a
/// failure the replaced module did not have (`Outcome::Regressed`, which every node
/// computes by running the replaced module on the failed input) counts now. The control
/// is the same three submitters with regressions: rolled back.
#[test]
fn failures_the_replaced_module_shares_do_not_roll_a_validator_back() -> TestResult {
    let work = || config(ConfigType::Timing, "timing.propose-timeout", 30);
    for (outcome, expect_rollback) in [
        (Outcome::Failed(FailureKind::OutOfFuel), false),
        (Outcome::Regressed(FailureKind::OutOfFuel), true),
    ] {
        let mut s = on_probation()?;
        assert_eq!(s.probation_fallback(), Some(Digest([1; 32])));
        let mut rolled = false;
        for slot in 4..20u64 {
            let by = |_| Some(NodeId::from([(slot as u8) % 3; 32]));
            let changes = s.apply_slot_judged(slot, &[(work(), outcome.clone())], None, &by)?;
            rolled |= rolled_back(&changes);
        }
        assert_eq!(rolled, expect_rollback, "{outcome:?}");
        if !rolled {
            assert_eq!(s.active_module(Role::Validator), Some(Digest([9; 32])));
        }
    }
    // Past its probation a validator has no fallback.
    let mut s = on_probation()?;
    let end = 4 + s.params().timing.probation_slots;
    s.apply_slot(end, &[], None)?;
    assert_eq!(s.probation_fallback(), None);
    Ok(())
}

/// A validator update may roll back only to the module it replaces: probation rolls back
/// without a trial, so any other target is a swap no host judged (a hash nobody holds, a
/// module that never ends). Refused at admission and when applied; the control is the
/// same update naming the active module, and one leaving the target zero.
#[test]
fn a_validator_update_rolls_back_only_to_the_module_it_replaces() -> TestResult {
    let failed = || Outcome::Regressed(FailureKind::Trap);
    let work = || config(ConfigType::Timing, "timing.propose-timeout", 30);
    let update = |target: Digest| {
        Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
            domain: SecurityDomain::ValidatorModule,
            new_policy: Digest([9; 32]),
            rollback_to: target,
            description: "swap".into(),
        })
    };
    let (mut s, _) = state(4)?;
    let active = s.active_module(Role::Validator).ok_or("no validator")?;
    let elsewhere = Digest([0x66; 32]);
    let err = s.check_effect(&update(elsewhere));
    assert!(
        matches!(err, Err(AuthError::RollbackTarget { .. })),
        "{err:?}"
    );
    let changes = s.apply_slot(3, &[(update(elsewhere), accepted())], None)?;
    assert!(
        matches!(changes.as_slice(), [StateChange::Ignored { reason, .. }] if reason.contains("rollback target")),
        "{changes:?}"
    );
    assert_eq!(s.active_module(Role::Validator), Some(active));
    // Controls: the active module named, or zero, are taken; a failing probation rolls
    // back to it.
    assert!(s.check_effect(&update(Digest::default())).is_ok());
    s.apply_slot(4, &[(update(active), accepted())], None)?;
    assert_eq!(s.active_module(Role::Validator), Some(Digest([9; 32])));
    for slot in 5..8u64 {
        let by = |_| Some(NodeId::from([slot as u8; 32]));
        s.apply_slot_judged(slot, &[(work(), failed())], None, &by)?;
    }
    assert_eq!(s.active_module(Role::Validator), Some(active));
    Ok(())
}

/// A recovery's culprits leave the rotation at once, though it was computed (and
/// remembered) before; a state restored from its encoding computes the same rotation.
#[test]
fn excluded_culprits_leave_a_remembered_rotation() -> TestResult {
    let (mut s, ids) = state(5)?;
    assert!(s.rotation().contains(&ids[2]));
    s.exclude_culprits(&[ids[2]]);
    assert!(!s.rotation().contains(&ids[2]), "{:?}", s.rotation());
    assert_eq!(s.rotation().len(), 4);
    let restored: ReplicatedState = postcard::from_bytes(&postcard::to_stdvec(&s)?)?;
    assert_eq!(restored.rotation(), s.rotation());
    assert_eq!(restored, s);
    Ok(())
}

/// The state digest is kept once computed (a status report asked for by any client would
/// otherwise encode and hash the whole state) and forgotten by every change: after each
/// kind of change the kept digest equals one computed afresh. Control: without the
/// `derived.clear()` in any one of the changes, its step keeps the old digest.
#[test]
fn the_kept_state_digest_follows_every_change() -> TestResult {
    let (mut s, ids) = state(5)?;
    let fresh = |s: &ReplicatedState| sha256_parts(&[STATE_DOMAIN, &canonical_bytes(s)]);
    let mut seen = vec![s.state_digest()];
    let mut step = |s: &ReplicatedState, what: &str| -> TestResult {
        let kept = s.state_digest();
        if kept != fresh(s) {
            return Err(format!("{what}: the kept digest is stale").into());
        }
        if seen.contains(&kept) {
            return Err(format!("{what}: the change left the digest as it was").into());
        }
        seen.push(kept);
        Ok(())
    };
    s.apply_slot(
        0,
        &[(exclusion(ids[3], ExclusionReason::Unresponsive), accepted())],
        None,
    )?;
    step(&s, "apply")?;
    s.set_slot_view(7);
    step(&s, "slot view")?;
    s.record_absence(0, ids[1]);
    step(&s, "absence")?;
    s.record_proof((ids[2], 0, "equivocation"));
    step(&s, "proof")?;
    s.exclude_culprits(&[ids[4]]);
    step(&s, "culprits")?;
    Ok(())
}

/// What a member or an operator names reaches every node's state, logs, status reports
/// and metric labels, whatever the validator module accepted: a candidate named with a
/// quote and a newline (a forged metric line), or with an address holding a space, is
/// refused, and services stop at `MAX_SERVICES` new names (an existing name may still be
/// deployed again). Control: without the rules, the candidate is admitted and the state
/// records a service past the cap.
#[test]
fn names_and_the_number_of_services_are_the_hosts_to_bound() -> TestResult {
    use super::authorize::{MAX_SERVICES, is_name};
    let (mut s, _) = state(4)?;
    let named = |s: &ReplicatedState, name: &str, address: &str| {
        let mut op = admission(s, newcomer_id(), Hierarchy::Hyphae);
        if let Operation::NodeAdmission(a) = &mut op {
            a.candidate.name = name.into();
            a.candidate.address = address.into();
            a.sponsors = crate::genesis::tests::keys(2)
                .iter()
                .map(|k| Sponsorship::sign(&s.genesis_digest(), &a.candidate, k))
                .collect();
        }
        op
    };
    let forged = "x\"} 1\nspore_fork_halted 0\n#";
    assert!(s.check_effect(&named(&s, forged, "10.0.0.1:7000")).is_err());
    assert!(
        s.check_effect(&named(&s, "edge", "10.0.0.1 :7000"))
            .is_err()
    );
    assert!(
        s.check_effect(&named(&s, "edge", &"1".repeat(300)))
            .is_err()
    );
    assert!(s.check_effect(&named(&s, "edge-9", "[::1]:7000")).is_ok());
    assert!(is_name("a.b_c-9") && !is_name("") && !is_name(&"a".repeat(65)));

    let deploy = |name: String| {
        Operation::ServiceDeployment(ServiceDeployment {
            name,
            artifact: crate::types::Digest([7; 32]),
            replicas: 1,
            strategy: DeploymentStrategy::Rolling,
            resources: ResourceRequirements {
                cpu_millis: 100,
                memory_mib: 64,
                storage_mib: 0,
            },
        })
    };
    let batch: Vec<_> = (0..=MAX_SERVICES)
        .map(|i| (deploy(format!("svc-{i}")), accepted()))
        .collect();
    let changes = s.apply_slot(0, &batch, None)?;
    assert_eq!(s.services().len(), MAX_SERVICES);
    assert!(matches!(changes.last(), Some(StateChange::Ignored { .. })));
    assert!(
        s.check_effect(&deploy("svc-0".into())).is_ok(),
        "a name again"
    );
    assert!(s.check_effect(&deploy("a\nb".into())).is_err());
    Ok(())
}
