//! Network configuration changes: key syntax and namespace, value ranges, and the
//! quorum rules the resulting configuration must still satisfy.

use std::collections::BTreeMap;

use spore_guest::{Host, NetworkConfigChange, RejectionCode};

use crate::encoding::Encoder;
use crate::fields;
use crate::findings::Findings;
use crate::params::{
    DEFAULT_MIN_HIGH_TRUST, MIN_ELIGIBLE, Merged, QUORUM_LIGHT_WEIGHT, QUORUM_MIN_HIGH_TRUST,
    TRUST_DEFAULTS, minimum_impact, namespace,
};

/// Variant index of `network-config-change`.
pub const TAG: u8 = 0;

/// Whether a key is 1..=64 bytes of `[a-z0-9.-]`.
fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
}

/// Longest parameter key: `authority.key.` and 64 hex digits fit (the host's
/// `MAX_KEY_LEN` bounds the free-form keys it stores).
const MAX_KEY_LEN: usize = 96;

/// The permissions an `authority.policy.*` key may name (the host's `Permission`).
const PERMISSIONS: [&str; 12] = [
    "network-config-change",
    "trust-modification",
    "node-admission",
    "node-exclusion",
    "proven-exclusion",
    "security-policy-update",
    "service-deployment",
    "resource-allocation",
    "maintenance-task",
    "performance-optimization",
    "compute",
    "module-upload",
];

/// Range rule for one key: `Some(rule)` if `value` breaks it.
fn range_violation(key: &str, value: i64) -> Option<&'static str> {
    let in_range = |lo: i64, hi: i64| (lo..=hi).contains(&value);
    let ok_rule = |ok: bool, rule| if ok { None } else { Some(rule) };
    if let Some(hex) = key.strip_prefix("authority.key.") {
        let is_hex = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !is_hex {
            return Some("authority.key. must be followed by 64 lowercase hex digits");
        }
        return ok_rule(
            in_range(0, 7),
            "role mask 0..=7 (1 governor, 2 operator, 4 client)",
        );
    }
    if let Some(name) = key.strip_prefix("authority.policy.") {
        if !PERMISSIONS.contains(&name) {
            return Some("not a permission");
        }
        return ok_rule(
            in_range(0, 15),
            "actor mask 0..=15 (1 governor, 2 operator, 4 client, 8 member)",
        );
    }
    if key.starts_with("authority.") {
        return Some("not authority.key.<hex> or authority.policy.<permission>");
    }
    if key.starts_with("trust.") {
        if !TRUST_DEFAULTS.iter().any(|(k, _)| *k == key) {
            return Some("not a trust parameter");
        }
        return ok_rule(in_range(0, 10_000), "0..=10000 bps");
    }
    match key {
        QUORUM_LIGHT_WEIGHT => ok_rule(in_range(5_000, 9_999), "5000..=9999 bps"),
        QUORUM_MIN_HIGH_TRUST => ok_rule(in_range(0, 1_000), "0..=1000"),
        k if k.starts_with("quorum.") => Some("not a quorum parameter"),
        k if k.ends_with("-bps") => ok_rule(in_range(0, 10_000), "0..=10000 bps"),
        k if k.ends_with("-ticks") || k.ends_with("-slots") || k.ends_with("-ms") => {
            ok_rule(value >= 1, ">= 1")
        }
        "membership.min-sponsors" => ok_rule(in_range(1, 1_000), "1..=1000"),
        _ => ok_rule(value >= 0, ">= 0"),
    }
}

/// The ordering rules between trust parameters (as `spore-core` checks them).
fn trust_consistency<H: Host + ?Sized>(f: &mut Findings, p: &Merged<'_, H>) {
    let t = |k: &str| p.trust(k);
    let rules: [(bool, &str); 8] = [
        (t("trust.max") > 0, "trust.max must be 1..=10000"),
        (
            t("trust.exclusion-threshold") > 0
                && t("trust.exclusion-threshold") < t("trust.critical-threshold"),
            "0 < trust.exclusion-threshold < trust.critical-threshold",
        ),
        (
            t("trust.critical-threshold") <= t("trust.max"),
            "trust.critical-threshold <= trust.max",
        ),
        (
            t("trust.initial") >= t("trust.exclusion-threshold")
                && t("trust.initial") < t("trust.critical-threshold"),
            "trust.exclusion-threshold <= trust.initial < trust.critical-threshold \
             (newcomers start below the critical threshold)",
        ),
        (
            t("trust.readmission-threshold") >= t("trust.exclusion-threshold")
                && t("trust.readmission-threshold") <= t("trust.critical-threshold"),
            "trust.exclusion-threshold <= trust.readmission-threshold <= trust.critical-threshold",
        ),
        (
            t("trust.agreement-gain") <= t("trust.epoch-gain-cap"),
            "trust.agreement-gain <= trust.epoch-gain-cap",
        ),
        (
            t("trust.no-reveal-penalty") >= t("trust.dissent-penalty"),
            "trust.no-reveal-penalty >= trust.dissent-penalty",
        ),
        (
            t("trust.epoch-gain-cap") > 0
                && t("trust.recovery-per-epoch") > 0
                && t("trust.recovery-per-epoch") <= t("trust.epoch-gain-cap"),
            "0 < trust.recovery-per-epoch <= trust.epoch-gain-cap",
        ),
    ];
    for (ok, rule) in rules {
        f.require(ok, RejectionCode::PolicyViolation, || {
            format!("the change breaks the rule {rule}")
        });
    }
}

/// Quorum rules of the configuration after the change, against the current members.
fn quorum_rules<H: Host + ?Sized>(f: &mut Findings, host: &H, p: &Merged<'_, H>) {
    let eligible = host.eligible();
    let exclusion = p.trust("trust.exclusion-threshold");
    let critical = p.trust("trust.critical-threshold");

    let still_eligible = eligible
        .iter()
        .filter(|m| i64::from(m.trust) >= exclusion)
        .count();
    let floor = eligible.len().min(MIN_ELIGIBLE);
    f.require(
        still_eligible >= floor,
        RejectionCode::QuorumViolation,
        || {
            format!(
                "an exclusion threshold of {exclusion} bps leaves {still_eligible} eligible \
             member(s), fewer than {floor}"
            )
        },
    );

    let high_trust = eligible
        .iter()
        .filter(|m| i64::from(m.trust) >= critical)
        .count();
    let min_high = p.get(QUORUM_MIN_HIGH_TRUST, DEFAULT_MIN_HIGH_TRUST);
    f.require(
        i64::try_from(high_trust).unwrap_or(i64::MAX) >= min_high,
        RejectionCode::QuorumViolation,
        || {
            format!(
                "a quorum needs {min_high} high-trust member(s) but only {high_trust} \
                 eligible member(s) have trust >= {critical} bps"
            )
        },
    );
}

/// Check a configuration change; its effect on success.
pub fn check<H: Host + ?Sized>(
    host: &H,
    change: &NetworkConfigChange,
) -> Result<Vec<u8>, spore_guest::Rejection> {
    let mut f = Findings::new();
    let ns = namespace(change.config_type);
    fields::list(&mut f, "the change list", change.changes.len());

    let mut sorted: BTreeMap<&str, i64> = BTreeMap::new();
    for param in &change.changes {
        let key = param.key.as_str();
        if !is_valid_key(key) {
            f.fail(
                RejectionCode::Malformed,
                format!("parameter key {key:?} is not 1..={MAX_KEY_LEN} bytes of [a-z0-9.-]"),
            );
            continue;
        }
        if key.split_once('.').map(|(prefix, _)| prefix) != Some(ns) {
            f.fail(
                RejectionCode::PolicyViolation,
                format!("parameter {key} is outside the {ns}.* namespace of this change"),
            );
        }
        if let Some(rule) = range_violation(key, param.value) {
            f.fail(
                RejectionCode::PolicyViolation,
                format!("parameter {key} = {} is out of range ({rule})", param.value),
            );
        }
        if sorted.insert(key, param.value).is_some() {
            f.fail(
                RejectionCode::Malformed,
                format!("parameter {key} is set more than once"),
            );
        }
    }

    if f.is_clean() {
        let merged = Merged::new(host, sorted.clone());
        trust_consistency(&mut f, &merged);
        quorum_rules(&mut f, host, &merged);
    }

    let floor = minimum_impact(change.config_type);
    let effective = if change.impact.rank() >= floor.rank() {
        change.impact
    } else {
        floor
    };
    f.finish(|| {
        let mut e = Encoder::new(TAG);
        e.u8(change.config_type as u8)
            .u8(change.impact as u8)
            .u8(effective as u8)
            .len(sorted.len());
        for (key, value) in &sorted {
            e.str(key).i64(*value);
        }
        e.finish()
    })
}
