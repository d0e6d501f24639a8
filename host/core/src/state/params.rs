//! The replicated parameters: trust, quorum, timing and module budgets, plus free-form
//! integer parameters that modules read through the `snapshot` interface.
//!
//! # Keys
//! Every parameter has a dotted kebab-case key whose first segment is the namespace of the
//! [`ConfigType`] allowed to change it: `trust.*` ([`TrustParams`]), `quorum.*`
//! ([`QuorumParams`]), `timing.*` ([`TimingParams`], including module fuel budgets: fuel is
//! the deterministic measure of time), and free-form keys under `membership.*` and
//! `transport.*` (stored in [`Params::custom`], e.g. `membership.max-members`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ops::{ConfigType, Param};
use crate::quorum::QuorumParams;
use crate::trust::{ParamError, TrustParams, out_of_range};

/// Most free-form parameters a cluster may hold.
pub const MAX_CUSTOM_PARAMS: usize = 256;

/// Longest parameter key.
pub const MAX_KEY_LEN: usize = 64;

/// Timeouts (in ticks of the node's clock), batching, epochs and module budgets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TimingParams {
    /// Milliseconds per tick; the node driver turns ticks into wall-clock time, the core
    /// only counts ticks (`timing.tick-ms`).
    pub tick_ms: u64,
    /// Ticks a replica waits for the primary's proposal (`timing.propose-timeout`).
    pub propose_timeout: u64,
    /// Ticks a replica waits for a commit or reveal quorum (`timing.phase-timeout`).
    pub phase_timeout: u64,
    /// Ticks a replica waits for a view change to complete (`timing.view-change-timeout`).
    pub view_change_timeout: u64,
    /// Most operations per slot (`timing.max-batch`).
    pub max_batch: u64,
    /// Slots per epoch (`timing.slots-per-epoch`).
    pub slots_per_epoch: u64,
    /// Fuel per validator call (`timing.validator-fuel`).
    pub validator_fuel: u64,
    /// Fuel per admission call (`timing.admission-fuel`).
    pub admission_fuel: u64,
    /// Fuel per resolver call (`timing.resolver-fuel`).
    pub resolver_fuel: u64,
    /// Largest module result in bytes (`timing.max-output-bytes`).
    pub max_output_bytes: u64,
    /// Slots a newly swapped-in validator is on probation (`timing.probation-slots`).
    pub probation_slots: u64,
    /// Share (bps) of failed calls (trap, fuel, output contract) during probation above
    /// which every node rolls the validator back (`timing.rollback-failure-bps`).
    pub rollback_failure_bps: u64,
    /// Slots each primary serves before the rotation moves on, whatever the view
    /// (`timing.rotation-slots`): no member keeps the primary's role by deciding.
    pub rotation_slots: u64,
    /// Largest module component binary in bytes (`timing.max-module-bytes`).
    pub max_module_bytes: u64,
    /// Most core module instances one module's component may create
    /// (`timing.max-core-instances`; a component is its main module plus adapters and shims).
    pub max_core_instances: u64,
    /// Most linear memories one module's instances may define (`timing.max-memories`).
    pub max_memories: u64,
    /// Most tables one module's instances may define (`timing.max-tables`).
    pub max_tables: u64,
    /// Largest linear memory of a module call in bytes (`timing.max-memory-bytes`).
    pub max_memory_bytes: u64,
    /// Most elements of one table of a module call (`timing.max-table-elements`).
    pub max_table_elements: u64,
}

impl Default for TimingParams {
    fn default() -> Self {
        TimingParams {
            tick_ms: 10,
            propose_timeout: 100,
            phase_timeout: 100,
            view_change_timeout: 200,
            max_batch: 64,
            slots_per_epoch: 100,
            validator_fuel: 50_000_000,
            admission_fuel: 50_000_000,
            resolver_fuel: 50_000_000,
            max_output_bytes: 16 * 1024,
            probation_slots: 50,
            rollback_failure_bps: 5_000,
            rotation_slots: 8,
            max_module_bytes: 24 << 20,
            max_core_instances: 64,
            max_memories: 4,
            max_tables: 16,
            max_memory_bytes: 64 << 20,
            max_table_elements: 20_000,
        }
    }
}

/// The largest `timing.max-batch` a cluster may choose: no honest batch, reveal or tally
/// of any slot carries more operations or outcomes.
pub const MAX_BATCH_CEILING: usize = 10_000;

impl TimingParams {
    /// Keys with their inclusive ranges, ascending by key.
    /// The upper bounds of the module limits are the ceilings a node's engine is built
    /// for, so that every value a cluster may choose is enforced the same on every node.
    pub const RANGES: [(&'static str, u64, u64); 19] = [
        ("timing.admission-fuel", 100_000, 10_000_000_000),
        ("timing.max-batch", 1, MAX_BATCH_CEILING as u64),
        ("timing.max-core-instances", 1, 64),
        ("timing.max-memories", 1, 8),
        ("timing.max-memory-bytes", 1 << 16, 256 << 20),
        ("timing.max-module-bytes", 1 << 10, 32 << 20),
        ("timing.max-output-bytes", 1_024, 1 << 20),
        ("timing.max-table-elements", 1, 100_000),
        ("timing.max-tables", 1, 32),
        ("timing.phase-timeout", 1, 1_000_000),
        ("timing.probation-slots", 1, 1_000_000),
        ("timing.propose-timeout", 1, 1_000_000),
        ("timing.resolver-fuel", 100_000, 10_000_000_000),
        ("timing.rollback-failure-bps", 1, 10_000),
        ("timing.rotation-slots", 1, 1_000_000),
        ("timing.slots-per-epoch", 10, 1_000_000_000),
        ("timing.tick-ms", 1, 60_000),
        ("timing.validator-fuel", 100_000, 10_000_000_000),
        ("timing.view-change-timeout", 1, 1_000_000),
    ];

    fn field_mut(&mut self, key: &str) -> Option<&mut u64> {
        Some(match key {
            "timing.admission-fuel" => &mut self.admission_fuel,
            "timing.max-batch" => &mut self.max_batch,
            "timing.max-core-instances" => &mut self.max_core_instances,
            "timing.max-memories" => &mut self.max_memories,
            "timing.max-memory-bytes" => &mut self.max_memory_bytes,
            "timing.max-module-bytes" => &mut self.max_module_bytes,
            "timing.max-output-bytes" => &mut self.max_output_bytes,
            "timing.max-table-elements" => &mut self.max_table_elements,
            "timing.max-tables" => &mut self.max_tables,
            "timing.phase-timeout" => &mut self.phase_timeout,
            "timing.probation-slots" => &mut self.probation_slots,
            "timing.propose-timeout" => &mut self.propose_timeout,
            "timing.resolver-fuel" => &mut self.resolver_fuel,
            "timing.rollback-failure-bps" => &mut self.rollback_failure_bps,
            "timing.rotation-slots" => &mut self.rotation_slots,
            "timing.slots-per-epoch" => &mut self.slots_per_epoch,
            "timing.tick-ms" => &mut self.tick_ms,
            "timing.validator-fuel" => &mut self.validator_fuel,
            "timing.view-change-timeout" => &mut self.view_change_timeout,
            _ => return None,
        })
    }

    /// Every parameter as `(key, value)`, ascending by key.
    pub fn entries(&self) -> Vec<(String, i64)> {
        let mut copy = self.clone();
        Self::RANGES
            .iter()
            .filter_map(|(k, _, _)| {
                copy.field_mut(k)
                    .map(|v| (k.to_string(), i64::try_from(*v).unwrap_or(i64::MAX)))
            })
            .collect()
    }

    /// The largest value `key` may take (its range's upper bound), if it is a key.
    pub fn ceiling(key: &str) -> Option<u64> {
        Self::RANGES
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, hi)| *hi)
    }

    /// Set one parameter (range-checked).
    pub fn set(&mut self, key: &str, value: i64) -> Result<(), ParamError> {
        let (_, lo, hi) = Self::RANGES
            .iter()
            .find(|(k, _, _)| *k == key)
            .ok_or_else(|| ParamError::UnknownKey(key.to_string()))?;
        let v = u64::try_from(value)
            .ok()
            .filter(|v| (*lo..=*hi).contains(v))
            .ok_or_else(|| out_of_range(key, value, "see TimingParams::RANGES"))?;
        if let Some(field) = self.field_mut(key) {
            *field = v;
        }
        Ok(())
    }

    /// Check every range.
    pub fn validate(&self) -> Result<(), ParamError> {
        let mut copy = self.clone();
        for (k, v) in self.entries() {
            copy.set(&k, v)?;
        }
        Ok(())
    }
}

/// Every replicated parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Trust rules.
    #[serde(default)]
    pub trust: TrustParams,
    /// Quorum rules.
    #[serde(default)]
    pub quorum: QuorumParams,
    /// Timeouts, batching, epochs and module budgets.
    #[serde(default)]
    pub timing: TimingParams,
    /// Free-form parameters under `membership.*` and `transport.*`.
    #[serde(default)]
    pub custom: BTreeMap<String, i64>,
}

/// Whether `key` is well-formed: `namespace.rest`, lowercase ASCII letters, digits, `-`
/// and `.`, at most [`MAX_KEY_LEN`] bytes.
fn well_formed(key: &str) -> bool {
    key.len() <= MAX_KEY_LEN
        && key
            .split_once('.')
            .is_some_and(|(ns, rest)| !ns.is_empty() && !rest.is_empty())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl Params {
    /// Every parameter, ascending by key (what modules see through `snapshot.params`).
    pub fn entries(&self) -> Vec<(String, i64)> {
        let mut all: BTreeMap<String, i64> = BTreeMap::new();
        all.extend(self.trust.entries());
        all.extend(self.quorum.entries());
        all.extend(self.timing.entries());
        all.extend(self.custom.iter().map(|(k, v)| (k.clone(), *v)));
        all.into_iter().collect()
    }

    /// One parameter by key.
    pub fn get(&self, key: &str) -> Option<i64> {
        self.entries()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Set one parameter (range-checked on its own; see [`Self::validate`]).
    pub fn set(&mut self, key: &str, value: i64) -> Result<(), ParamError> {
        match key.split_once('.').map(|(ns, _)| ns) {
            Some("trust") => self.trust.set(key, value),
            Some("quorum") => self.quorum.set(key, value),
            Some("timing") => self.timing.set(key, value),
            Some("membership" | "transport") if well_formed(key) => {
                if !self.custom.contains_key(key) && self.custom.len() >= MAX_CUSTOM_PARAMS {
                    return Err(out_of_range(key, value, "at most 256 free-form parameters"));
                }
                self.custom.insert(key.to_string(), value);
                Ok(())
            }
            _ => Err(ParamError::UnknownKey(key.to_string())),
        }
    }

    /// Check every range and ordering rule, and every free-form key.
    pub fn validate(&self) -> Result<(), ParamError> {
        self.trust.validate()?;
        self.quorum.validate()?;
        self.timing.validate()?;
        if self.custom.len() > MAX_CUSTOM_PARAMS {
            return Err(ParamError::OutOfRange {
                key: "custom".into(),
                value: i64::try_from(self.custom.len()).unwrap_or(i64::MAX),
                rule: "at most 256 free-form parameters",
            });
        }
        for key in self.custom.keys() {
            let ns_ok = key.starts_with("membership.") || key.starts_with("transport.");
            if !ns_ok || !well_formed(key) {
                return Err(ParamError::UnknownKey(key.clone()));
            }
        }
        Ok(())
    }

    /// The parameters after a decided configuration change: every key must lie in the
    /// change's namespace, and the result must validate as a whole. All or nothing.
    pub fn with_changes(
        &self,
        config_type: ConfigType,
        changes: &[Param],
    ) -> Result<Params, ParamError> {
        let mut next = self.clone();
        let ns = config_type.namespace();
        for c in changes {
            if c.key.split_once('.').map(|(n, _)| n) != Some(ns) {
                return Err(ParamError::WrongNamespace {
                    key: c.key.clone(),
                    namespace: ns.to_string(),
                });
            }
            next.set(&c.key, c.value)?;
        }
        next.validate()?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: &str, value: i64) -> Param {
        Param {
            key: key.into(),
            value,
        }
    }

    #[test]
    fn defaults_validate_and_entries_are_sorted_and_complete() {
        let params = Params::default();
        assert_eq!(params.validate(), Ok(()));
        let e = params.entries();
        assert!(e.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            e.len(),
            TrustParams::KEYS.len() + QuorumParams::KEYS.len() + TimingParams::RANGES.len()
        );
        assert_eq!(params.get("quorum.min-high-trust"), Some(1));
        assert_eq!(params.get("timing.slots-per-epoch"), Some(100));
        assert_eq!(params.get("nope.nope"), None);
    }

    #[test]
    fn changes_are_namespaced_validated_and_atomic() -> Result<(), ParamError> {
        let params = Params::default();
        let next = params.with_changes(ConfigType::Quorum, &[p("quorum.min-high-trust", 3)])?;
        assert_eq!(next.quorum.min_high_trust, 3);
        let next =
            params.with_changes(ConfigType::Membership, &[p("membership.max-members", 50)])?;
        assert_eq!(next.get("membership.max-members"), Some(50));
        assert!(matches!(
            params.with_changes(ConfigType::Timing, &[p("quorum.min-high-trust", 3)]),
            Err(ParamError::WrongNamespace { .. })
        ));
        // Each value is fine alone, but initial >= critical breaks an ordering rule.
        assert!(
            params
                .with_changes(
                    ConfigType::Trust,
                    &[p("trust.agreement-gain", 10), p("trust.initial", 7_000)]
                )
                .is_err()
        );
        assert!(
            params
                .with_changes(ConfigType::Timing, &[p("timing.max-batch", 0)])
                .is_err()
        );
        assert!(
            params
                .with_changes(ConfigType::Timing, &[p("timing.validator-fuel", 10)])
                .is_err()
        );
        assert!(
            params
                .with_changes(ConfigType::Transport, &[p("transport.Bad_Key", 1)])
                .is_err()
        );
        assert!(
            params
                .with_changes(ConfigType::Transport, &[p("transport.", 1)])
                .is_err()
        );
        assert_eq!(params.validate(), Ok(()), "the original is untouched");
        Ok(())
    }

    #[test]
    fn free_form_parameters_are_bounded() -> Result<(), ParamError> {
        let mut params = Params::default();
        for i in 0..MAX_CUSTOM_PARAMS {
            params.set(&format!("membership.k{i}"), 1)?;
        }
        assert!(params.set("membership.one-more", 1).is_err());
        params.set("membership.k0", 2)?;
        let mut bad = Params::default();
        bad.custom.insert("other.key".into(), 1);
        assert!(bad.validate().is_err());
        Ok(())
    }

    #[test]
    fn toml_with_partial_sections_uses_defaults() -> Result<(), Box<dyn std::error::Error>> {
        let params: Params = toml::from_str(
            "[trust]\ninitial = 4000\nexclusion-threshold = 2000\nreadmission-threshold = 2500\n\
             critical-threshold = 6000\nmax = 10000\nagreement-gain = 20\ndissent-penalty = 300\n\
             no-reveal-penalty = 600\nsilence-penalty = 0\nepoch-gain-cap = 500\nrecovery-per-epoch = 100\n\
             [custom]\n\"membership.max-members\" = 12\n",
        )?;
        assert_eq!(params.timing, TimingParams::default());
        assert_eq!(params.get("membership.max-members"), Some(12));
        let round: Params = toml::from_str(&toml::to_string(&params)?)?;
        assert_eq!(round, params);
        assert!(toml::from_str::<Params>("[timing]\nbogus = 1\n").is_err());
        Ok(())
    }
}
