//! Configuration parameters the validator reads or checks, their defaults and ranges.
//!
//! The trust and quorum keys, defaults and rules mirror the host's `spore-core`
//! (`trust::params`, `quorum`), which enforces them again when it applies a decided
//! change; the validator rejects a bad change before it is ever decided.

use std::collections::BTreeMap;

use spore_guest::{ConfigType, Host, ImpactLevel};

/// Trust parameters: key and default, ascending by key. All are basis points.
pub const TRUST_DEFAULTS: [(&str, i64); 11] = [
    ("trust.agreement-gain", 20),
    ("trust.critical-threshold", 6_000),
    ("trust.dissent-penalty", 300),
    ("trust.epoch-gain-cap", 500),
    ("trust.exclusion-threshold", 2_000),
    ("trust.initial", 4_000),
    ("trust.max", 10_000),
    ("trust.no-reveal-penalty", 600),
    ("trust.readmission-threshold", 2_500),
    ("trust.recovery-per-epoch", 100),
    ("trust.silence-penalty", 0),
];

/// Quorum: least number of high-trust voters in a Full-BFT quorum (0..=1000).
pub const QUORUM_MIN_HIGH_TRUST: &str = "quorum.min-high-trust";
/// Quorum: share of the latent layer's trust a light quorum must exceed (5000..=9999).
pub const QUORUM_LIGHT_WEIGHT: &str = "quorum.light-weight-bps";
/// Default of [`QUORUM_MIN_HIGH_TRUST`].
pub const DEFAULT_MIN_HIGH_TRUST: i64 = 1;

/// Smallest eligible set a non-provable exclusion or a threshold change may leave
/// (3f + 1 with f = 1), unless the set is already smaller (then it may not shrink).
pub const MIN_ELIGIBLE: usize = 4;

/// The key namespace a change of `config_type` may touch (`quorum`, `trust`, ...).
pub fn namespace(config_type: ConfigType) -> &'static str {
    match config_type {
        ConfigType::Quorum => "quorum",
        ConfigType::Trust => "trust",
        ConfigType::Timing => "timing",
        ConfigType::Membership => "membership",
        ConfigType::Transport => "transport",
        ConfigType::Authority => "authority",
    }
}

/// The least impact a change of `config_type` has, whatever its proposer declares:
/// quorum and trust rules guard safety (critical), membership and transport decide who
/// takes part (high), timing affects only liveness (low).
pub fn minimum_impact(config_type: ConfigType) -> ImpactLevel {
    match config_type {
        ConfigType::Quorum | ConfigType::Trust | ConfigType::Authority => ImpactLevel::Critical,
        ConfigType::Membership | ConfigType::Transport => ImpactLevel::High,
        ConfigType::Timing => ImpactLevel::Low,
    }
}

/// The parameters as they would be after a change: the change's values over the
/// snapshot's, over the defaults.
pub struct Merged<'a, H: Host + ?Sized> {
    host: &'a H,
    changes: BTreeMap<&'a str, i64>,
}

impl<'a, H: Host + ?Sized> Merged<'a, H> {
    /// The snapshot's parameters with `changes` applied.
    pub fn new(host: &'a H, changes: BTreeMap<&'a str, i64>) -> Self {
        Self { host, changes }
    }

    /// The snapshot's parameters as they are.
    pub fn current(host: &'a H) -> Self {
        Self::new(host, BTreeMap::new())
    }

    /// The value of `key`, or `default`.
    pub fn get(&self, key: &str, default: i64) -> i64 {
        match self.changes.get(key) {
            Some(v) => *v,
            None => self.host.param_or(key, default),
        }
    }

    /// A trust parameter (default from [`TRUST_DEFAULTS`]; 0 for an unknown key).
    pub fn trust(&self, key: &str) -> i64 {
        let default = TRUST_DEFAULTS
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(0, |(_, v)| *v);
        self.get(key, default)
    }
}
