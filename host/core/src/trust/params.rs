//! Trust parameters: every threshold, gain and penalty of the ledger, in basis points.

use serde::{Deserialize, Serialize};

use crate::types::{MAX_BPS, TrustBps};

/// Why a parameter set or a parameter change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// The key is not a known parameter of its namespace.
    #[error("unknown parameter {0:?}")]
    UnknownKey(String),
    /// The key does not belong to the namespace of the change's config type.
    #[error("parameter {key:?} is outside namespace {namespace:?}")]
    WrongNamespace {
        /// The offending key.
        key: String,
        /// The namespace the change may touch.
        namespace: String,
    },
    /// A value is outside its allowed range.
    #[error("parameter {key:?} = {value} is out of range ({rule})")]
    OutOfRange {
        /// The parameter.
        key: String,
        /// Its value.
        value: i64,
        /// The rule it breaks.
        rule: &'static str,
    },
}

/// Helper: an out-of-range error for `key`.
pub(crate) fn out_of_range(key: &str, value: i64, rule: &'static str) -> ParamError {
    ParamError::OutOfRange {
        key: key.to_string(),
        value,
        rule,
    }
}

/// Convert a configuration value to a bps field, refusing negatives and overflow.
pub(crate) fn to_bps(key: &str, value: i64) -> Result<TrustBps, ParamError> {
    u32::try_from(value)
        .ok()
        .filter(|v| *v <= MAX_BPS)
        .ok_or_else(|| out_of_range(key, value, "0..=10000 bps"))
}

/// The trust rules' parameters (all basis points). See docs/TRUST.md.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrustParams {
    /// Trust a newly admitted node starts with (`trust.initial`); strictly below
    /// `critical_threshold` (Sybil resistance) and at or above `exclusion_threshold`.
    pub initial: TrustBps,
    /// Below this a node is excluded (`trust.exclusion-threshold`).
    pub exclusion_threshold: TrustBps,
    /// A node excluded for low trust is readmitted at an epoch boundary once its trust is
    /// at least this (`trust.readmission-threshold`, >= exclusion threshold: hysteresis).
    pub readmission_threshold: TrustBps,
    /// At or above this a node counts as high-trust (`trust.critical-threshold`).
    pub critical_threshold: TrustBps,
    /// Upper bound of every score (`trust.max`).
    pub max: TrustBps,
    /// Base gain for agreeing with the canonical result (`trust.agreement-gain`).
    pub agreement_gain: TrustBps,
    /// Base penalty for revealing a different result (`trust.dissent-penalty`).
    pub dissent_penalty: TrustBps,
    /// Base penalty for committing and never revealing (`trust.no-reveal-penalty`);
    /// at least the dissent penalty.
    pub no_reveal_penalty: TrustBps,
    /// Base penalty for staying silent in a decided slot (`trust.silence-penalty`); 0 by
    /// default so that slow honest nodes are never slashed.
    pub silence_penalty: TrustBps,
    /// Most trust any node may gain within one epoch, all sources together
    /// (`trust.epoch-gain-cap`).
    pub epoch_gain_cap: TrustBps,
    /// Trust an excluded-for-low-trust node regains at each epoch boundary
    /// (`trust.recovery-per-epoch`, at most the epoch gain cap).
    pub recovery_per_epoch: TrustBps,
}

impl Default for TrustParams {
    fn default() -> Self {
        TrustParams {
            initial: 4_000,
            exclusion_threshold: 2_000,
            readmission_threshold: 2_500,
            critical_threshold: 6_000,
            max: MAX_BPS,
            agreement_gain: 20,
            dissent_penalty: 300,
            no_reveal_penalty: 600,
            silence_penalty: 0,
            epoch_gain_cap: 500,
            recovery_per_epoch: 100,
        }
    }
}

impl TrustParams {
    /// The parameter keys, in ascending order.
    pub const KEYS: [&'static str; 11] = [
        "trust.agreement-gain",
        "trust.critical-threshold",
        "trust.dissent-penalty",
        "trust.epoch-gain-cap",
        "trust.exclusion-threshold",
        "trust.initial",
        "trust.max",
        "trust.no-reveal-penalty",
        "trust.readmission-threshold",
        "trust.recovery-per-epoch",
        "trust.silence-penalty",
    ];

    fn field_mut(&mut self, key: &str) -> Option<&mut TrustBps> {
        Some(match key {
            "trust.agreement-gain" => &mut self.agreement_gain,
            "trust.critical-threshold" => &mut self.critical_threshold,
            "trust.dissent-penalty" => &mut self.dissent_penalty,
            "trust.epoch-gain-cap" => &mut self.epoch_gain_cap,
            "trust.exclusion-threshold" => &mut self.exclusion_threshold,
            "trust.initial" => &mut self.initial,
            "trust.max" => &mut self.max,
            "trust.no-reveal-penalty" => &mut self.no_reveal_penalty,
            "trust.readmission-threshold" => &mut self.readmission_threshold,
            "trust.recovery-per-epoch" => &mut self.recovery_per_epoch,
            "trust.silence-penalty" => &mut self.silence_penalty,
            _ => return None,
        })
    }

    /// Every parameter as `(key, value)`, ascending by key.
    pub fn entries(&self) -> Vec<(String, i64)> {
        let mut copy = self.clone();
        Self::KEYS
            .iter()
            .filter_map(|k| copy.field_mut(k).map(|v| (k.to_string(), i64::from(*v))))
            .collect()
    }

    /// Set one parameter (not validated against the others: call [`Self::validate`]).
    pub fn set(&mut self, key: &str, value: i64) -> Result<(), ParamError> {
        let bps = to_bps(key, value)?;
        let field = self
            .field_mut(key)
            .ok_or_else(|| ParamError::UnknownKey(key.to_string()))?;
        *field = bps;
        Ok(())
    }

    /// Check every range and ordering rule (docs/TRUST.md, "Parameters").
    pub fn validate(&self) -> Result<(), ParamError> {
        let check = |ok: bool, key: &str, value: TrustBps, rule: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(out_of_range(key, i64::from(value), rule))
            }
        };
        let p = self;
        check(
            p.max <= MAX_BPS && p.max > 0,
            "trust.max",
            p.max,
            "1..=10000",
        )?;
        check(
            p.exclusion_threshold > 0 && p.exclusion_threshold < p.critical_threshold,
            "trust.exclusion-threshold",
            p.exclusion_threshold,
            "0 < exclusion < critical",
        )?;
        check(
            p.critical_threshold <= p.max,
            "trust.critical-threshold",
            p.critical_threshold,
            "critical <= max",
        )?;
        check(
            p.initial >= p.exclusion_threshold && p.initial < p.critical_threshold,
            "trust.initial",
            p.initial,
            "exclusion <= initial < critical",
        )?;
        check(
            p.readmission_threshold >= p.exclusion_threshold
                && p.readmission_threshold <= p.critical_threshold,
            "trust.readmission-threshold",
            p.readmission_threshold,
            "exclusion <= readmission <= critical",
        )?;
        check(
            p.agreement_gain <= p.epoch_gain_cap,
            "trust.agreement-gain",
            p.agreement_gain,
            "gain <= epoch_gain_cap",
        )?;
        check(
            p.no_reveal_penalty >= p.dissent_penalty,
            "trust.no-reveal-penalty",
            p.no_reveal_penalty,
            "no_reveal_penalty >= dissent_penalty",
        )?;
        check(
            p.epoch_gain_cap > 0,
            "trust.epoch-gain-cap",
            p.epoch_gain_cap,
            "> 0",
        )?;
        check(
            p.recovery_per_epoch > 0 && p.recovery_per_epoch <= p.epoch_gain_cap,
            "trust.recovery-per-epoch",
            p.recovery_per_epoch,
            "0 < recovery <= epoch_gain_cap",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_newcomers_start_below_critical() {
        let p = TrustParams::default();
        assert_eq!(p.validate(), Ok(()));
        assert!(p.initial < p.critical_threshold);
        assert!(p.no_reveal_penalty > p.dissent_penalty);
    }

    #[test]
    fn keys_round_trip_and_are_sorted() -> Result<(), ParamError> {
        let mut p = TrustParams::default();
        let entries = p.entries();
        assert_eq!(entries.len(), TrustParams::KEYS.len());
        assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        p.set("trust.agreement-gain", 30)?;
        assert_eq!(p.agreement_gain, 30);
        assert!(matches!(
            p.set("trust.bogus", 1),
            Err(ParamError::UnknownKey(_))
        ));
        assert!(matches!(
            p.set("trust.max", -1),
            Err(ParamError::OutOfRange { .. })
        ));
        assert!(matches!(
            p.set("trust.max", 10_001),
            Err(ParamError::OutOfRange { .. })
        ));
        assert!(matches!(
            p.set("trust.max", i64::MAX),
            Err(ParamError::OutOfRange { .. })
        ));
        Ok(())
    }

    #[test]
    fn validation_rejects_every_broken_ordering() {
        let breakers: Vec<fn(&mut TrustParams)> = vec![
            |p| p.initial = p.critical_threshold,
            |p| p.initial = p.exclusion_threshold - 1,
            |p| p.exclusion_threshold = 0,
            |p| p.exclusion_threshold = p.critical_threshold,
            |p| p.critical_threshold = p.max + 1,
            |p| p.max = 0,
            |p| p.readmission_threshold = p.exclusion_threshold - 1,
            |p| p.readmission_threshold = p.critical_threshold + 1,
            |p| p.no_reveal_penalty = p.dissent_penalty - 1,
            |p| p.agreement_gain = p.epoch_gain_cap + 1,
            |p| p.recovery_per_epoch = 0,
            |p| p.recovery_per_epoch = p.epoch_gain_cap + 1,
        ];
        for (i, brk) in breakers.into_iter().enumerate() {
            let mut p = TrustParams::default();
            brk(&mut p);
            assert!(p.validate().is_err(), "breaker {i} accepted");
        }
    }
}
