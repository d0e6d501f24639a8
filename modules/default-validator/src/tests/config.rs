//! Network configuration changes.

use spore_guest::testing::Fixture;
use spore_guest::{ConfigType, ImpactLevel, NetworkConfigChange, Operation, Param, RejectionCode};

use super::{assert_rejected, effect, le32, lp};

fn change(config_type: ConfigType, impact: ImpactLevel, changes: &[(&str, i64)]) -> Operation {
    Operation::NetworkConfigChange(NetworkConfigChange {
        config_type,
        changes: changes
            .iter()
            .map(|(k, v)| Param {
                key: (*k).into(),
                value: *v,
            })
            .collect(),
        impact,
    })
}

#[test]
fn effect_sorts_keys_and_raises_impact() {
    let host = Fixture::cluster(4);
    let e = effect(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Low,
            &[("trust.initial", 3000), ("trust.dissent-penalty", 400)],
        ),
    );
    let mut expected = vec![
        1,
        0,
        ConfigType::Trust as u8,
        ImpactLevel::Low as u8,
        ImpactLevel::Critical as u8,
    ];
    expected.extend(le32(2));
    expected.extend(lp(b"trust.dissent-penalty"));
    expected.extend(400i64.to_le_bytes());
    expected.extend(lp(b"trust.initial"));
    expected.extend(3000i64.to_le_bytes());
    assert_eq!(e, expected);

    // A declared impact above the minimum stays.
    let timing = effect(
        &host,
        change(
            ConfigType::Timing,
            ImpactLevel::High,
            &[("timing.propose-timeout-ticks", 20)],
        ),
    );
    assert_eq!(
        timing[2..5],
        [
            ConfigType::Timing as u8,
            ImpactLevel::High as u8,
            ImpactLevel::High as u8
        ]
    );
}

#[test]
fn empty_and_duplicate_and_bad_keys() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        change(ConfigType::Timing, ImpactLevel::Low, &[]),
        RejectionCode::Malformed,
        "the change list is empty",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Timing,
            ImpactLevel::Low,
            &[("timing.a-ticks", 2), ("timing.a-ticks", 3)],
        ),
        RejectionCode::Malformed,
        "timing.a-ticks is set more than once",
    );
    assert_rejected(
        &host,
        change(ConfigType::Timing, ImpactLevel::Low, &[("Timing.X", 2)]),
        RejectionCode::Malformed,
        "is not 1..=96 bytes of [a-z0-9.-]",
    );
    assert_rejected(
        &host,
        change(ConfigType::Timing, ImpactLevel::Low, &[("", 2)]),
        RejectionCode::Malformed,
        "parameter key \"\"",
    );
}

#[test]
fn keys_must_be_in_the_config_types_namespace() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        change(
            ConfigType::Timing,
            ImpactLevel::Low,
            &[("quorum.min-high-trust", 1)],
        ),
        RejectionCode::PolicyViolation,
        "outside the timing.* namespace",
    );
}

#[test]
fn values_out_of_range() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[("trust.initial", 10_001)],
        ),
        RejectionCode::PolicyViolation,
        "0..=10000 bps",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[("trust.bogus", 1)],
        ),
        RejectionCode::PolicyViolation,
        "not a trust parameter",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Quorum,
            ImpactLevel::Critical,
            &[("quorum.light-weight-bps", 4999)],
        ),
        RejectionCode::PolicyViolation,
        "5000..=9999",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Quorum,
            ImpactLevel::Critical,
            &[("quorum.min-high-trust", -1)],
        ),
        RejectionCode::PolicyViolation,
        "0..=1000",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Quorum,
            ImpactLevel::Critical,
            &[("quorum.size", 3)],
        ),
        RejectionCode::PolicyViolation,
        "not a quorum parameter",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Timing,
            ImpactLevel::Low,
            &[("timing.view-ticks", 0)],
        ),
        RejectionCode::PolicyViolation,
        ">= 1",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Transport,
            ImpactLevel::High,
            &[("transport.max-frame", -5)],
        ),
        RejectionCode::PolicyViolation,
        ">= 0",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Membership,
            ImpactLevel::High,
            &[("membership.min-sponsor-trust-bps", 20_000)],
        ),
        RejectionCode::PolicyViolation,
        "0..=10000 bps",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Membership,
            ImpactLevel::High,
            &[("membership.min-sponsors", 0)],
        ),
        RejectionCode::PolicyViolation,
        "1..=1000",
    );
}

#[test]
fn trust_ordering_rules() {
    let host = Fixture::cluster(4);
    // Newcomers must start below the critical threshold.
    assert_rejected(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[("trust.initial", 6000)],
        ),
        RejectionCode::PolicyViolation,
        "trust.initial < trust.critical-threshold",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[("trust.no-reveal-penalty", 100)],
        ),
        RejectionCode::PolicyViolation,
        "no-reveal-penalty >= trust.dissent-penalty",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[("trust.recovery-per-epoch", 0)],
        ),
        RejectionCode::PolicyViolation,
        "0 < trust.recovery-per-epoch",
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[("trust.critical-threshold", 1000)],
        ),
        RejectionCode::PolicyViolation,
        "exclusion-threshold < trust.critical-threshold",
    );
    // The snapshot's own values count: a cluster that already set a high initial trust
    // cannot lower the critical threshold under it.
    let tuned = Fixture::cluster(4).with_param("trust.initial", 5000);
    assert_rejected(
        &tuned,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[("trust.critical-threshold", 5000)],
        ),
        RejectionCode::PolicyViolation,
        "trust.initial < trust.critical-threshold",
    );
}

#[test]
fn exclusion_threshold_cannot_shrink_the_eligible_set_below_four() {
    // Trusts: 9000, 8000, 7000, 7000, 3000 (five eligible).
    let host = Fixture::cluster(5).with_trust(5, 3000);
    // 5000 leaves four: fine.
    effect(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[
                ("trust.exclusion-threshold", 5000),
                ("trust.initial", 5000),
                ("trust.readmission-threshold", 5000),
            ],
        ),
    );
    // 7500 leaves two.
    assert_rejected(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[
                ("trust.exclusion-threshold", 7500),
                ("trust.critical-threshold", 9500),
                ("trust.initial", 7500),
                ("trust.readmission-threshold", 7500),
            ],
        ),
        RejectionCode::QuorumViolation,
        "leaves 2 eligible member(s), fewer than 4",
    );
}

#[test]
fn min_high_trust_must_be_reachable() {
    // Only nodes 1 and 2 (9000, 8000) are at or above the default critical threshold.
    let host = Fixture::cluster(4).with_trust(3, 5000).with_trust(4, 5000);
    effect(
        &host,
        change(
            ConfigType::Quorum,
            ImpactLevel::Critical,
            &[("quorum.min-high-trust", 2)],
        ),
    );
    assert_rejected(
        &host,
        change(
            ConfigType::Quorum,
            ImpactLevel::Critical,
            &[("quorum.min-high-trust", 3)],
        ),
        RejectionCode::QuorumViolation,
        "needs 3 high-trust member(s) but only 2",
    );
    // Raising the critical threshold above the members is caught the same way.
    let strict = Fixture::cluster(4).with_param("quorum.min-high-trust", 2);
    assert_rejected(
        &strict,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[("trust.critical-threshold", 8500)],
        ),
        RejectionCode::QuorumViolation,
        "only 1 eligible member(s) have trust >= 8500 bps",
    );
}

#[test]
fn authority_changes_name_a_key_or_a_permission_with_a_mask_in_range() {
    let host = Fixture::cluster(4);
    let key = format!("authority.key.{}", "ab".repeat(32));
    let e = effect(
        &host,
        change(
            ConfigType::Authority,
            ImpactLevel::Low,
            &[(key.as_str(), 3), ("authority.policy.compute", 12)],
        ),
    );
    // Whatever is declared, an authority change is Critical.
    assert_eq!(
        e[2..5],
        [
            ConfigType::Authority as u8,
            ImpactLevel::Low as u8,
            ImpactLevel::Critical as u8
        ]
    );
    let short = format!("authority.key.{}", "ab".repeat(31));
    for (k, v, why) in [
        (short.as_str(), 1, "64 lowercase hex digits"),
        (key.as_str(), 8, "role mask 0..=7"),
        (key.as_str(), -1, "role mask 0..=7"),
        ("authority.policy.compute", 16, "actor mask 0..=15"),
        ("authority.policy.everything", 1, "not a permission"),
        ("authority.other", 1, "not authority.key"),
    ] {
        assert_rejected(
            &host,
            change(ConfigType::Authority, ImpactLevel::Critical, &[(k, v)]),
            RejectionCode::PolicyViolation,
            why,
        );
    }
    assert_rejected(
        &host,
        change(
            ConfigType::Trust,
            ImpactLevel::Critical,
            &[(key.as_str(), 1)],
        ),
        RejectionCode::PolicyViolation,
        "outside the trust.* namespace",
    );
}
