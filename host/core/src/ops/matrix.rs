//! The decision matrix: which consensus mechanism decides an operation.
//!
//! # Rules
//! | operation                   | mechanism                                              |
//! |-----------------------------|--------------------------------------------------------|
//! | trust-modification          | Full BFT                                               |
//! | node-admission / -exclusion | Full BFT                                               |
//! | security-policy-update      | Full BFT (module swaps included)                       |
//! | network-config-change       | Full BFT if effective impact > Medium; else authority: |
//! |                             | Medium -> High, Low -> Medium                          |
//! | service-deployment          | authority High                                         |
//! | resource-allocation         | authority by priority: critical/high -> High,          |
//! |                             | normal -> Medium, low -> Low                           |
//! | maintenance-task            | authority Medium                                       |
//! | performance-optimization    | authority Low                                          |
//! | compute                     | Full BFT                                               |
//!
//! The *effective* impact of a configuration change is the larger of the declared impact
//! and the minimum impact of its config type (quorum, trust: Critical; membership,
//! transport: High; timing: Low), so a proposer cannot route a quorum change around Full
//! BFT by declaring it harmless: only timing changes can take the authority path.
//!
//! Compute tasks take Full BFT: their whole value is a result certified by a quorum of
//! independent executions (commit-reveal); any lighter path would let one layer forge it.
//!
//! Authority levels pick the layer that decides (High: the primary spore, Medium: the
//! seed spore, Low: the latent spore under the light quorum of `quorum.rs`). Every branch
//! is a pure function of the operation, so every node routes an operation identically.

use serde::{Deserialize, Serialize};

use super::{ImpactLevel, Operation, PriorityLevel};
use crate::types::Layer;

/// Authority an operation needs on the authority-hierarchy path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityLevel {
    /// Decided by the primary spore.
    High,
    /// Decided by the seed spore.
    Medium,
    /// Decided by the latent spore with a light quorum.
    Low,
}

impl AuthorityLevel {
    /// The spore layer that decides at this level.
    pub fn layer(self) -> Layer {
        match self {
            AuthorityLevel::High => Layer::Primary,
            AuthorityLevel::Medium => Layer::Seed,
            AuthorityLevel::Low => Layer::Latent,
        }
    }
}

/// How an operation is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Every eligible member executes, commits, reveals; a quorum certificate decides.
    FullBft,
    /// One layer decides in one round trip, still signed, ordered and logged.
    Authority(AuthorityLevel),
}

impl Mechanism {
    /// Whether this is Full BFT.
    pub fn is_full_bft(self) -> bool {
        matches!(self, Mechanism::FullBft)
    }
}

impl Operation {
    /// The decision matrix (see the module documentation for the table).
    pub fn mechanism(&self) -> Mechanism {
        use AuthorityLevel::{High, Low, Medium};
        match self {
            Operation::TrustModification(_)
            | Operation::NodeAdmission(_)
            | Operation::NodeExclusion(_)
            | Operation::SecurityPolicyUpdate(_)
            | Operation::Compute(_) => Mechanism::FullBft,
            Operation::NetworkConfigChange(c) => match c.effective_impact() {
                ImpactLevel::High | ImpactLevel::Critical => Mechanism::FullBft,
                ImpactLevel::Medium => Mechanism::Authority(High),
                ImpactLevel::Low => Mechanism::Authority(Medium),
            },
            Operation::ServiceDeployment(_) => Mechanism::Authority(High),
            Operation::ResourceAllocation(r) => Mechanism::Authority(match r.priority {
                PriorityLevel::Critical | PriorityLevel::High => High,
                PriorityLevel::Normal => Medium,
                PriorityLevel::Low => Low,
            }),
            Operation::MaintenanceTask(_) => Mechanism::Authority(Medium),
            Operation::PerformanceOptimization(_) => Mechanism::Authority(Low),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::one_of_each;
    use super::super::*;
    use super::*;

    fn config(config_type: ConfigType, impact: ImpactLevel) -> Operation {
        Operation::NetworkConfigChange(NetworkConfigChange {
            config_type,
            changes: vec![],
            impact,
        })
    }

    #[test]
    fn critical_operations_take_full_bft() {
        let ops = one_of_each();
        for op in &ops[1..5] {
            assert_eq!(op.mechanism(), Mechanism::FullBft, "{}", op.kind_name());
        }
        assert_eq!(ops[9].mechanism(), Mechanism::FullBft, "compute");
    }

    #[test]
    fn the_epoch_length_is_critical_whatever_is_declared() {
        let op = Operation::NetworkConfigChange(NetworkConfigChange {
            config_type: ConfigType::Timing,
            changes: vec![Param {
                key: "timing.slots-per-epoch".into(),
                value: 1,
            }],
            impact: ImpactLevel::Low,
        });
        assert_eq!(op.mechanism(), Mechanism::FullBft);
    }

    #[test]
    fn configuration_is_hybrid_on_effective_impact() {
        use AuthorityLevel::*;
        use ImpactLevel as I;
        assert_eq!(
            config(ConfigType::Timing, I::Low).mechanism(),
            Mechanism::Authority(Medium)
        );
        assert_eq!(
            config(ConfigType::Timing, I::Medium).mechanism(),
            Mechanism::Authority(High)
        );
        assert_eq!(
            config(ConfigType::Timing, I::High).mechanism(),
            Mechanism::FullBft
        );
        assert_eq!(
            config(ConfigType::Timing, I::Critical).mechanism(),
            Mechanism::FullBft
        );
        // The config type's floor overrides a harmless-looking declaration.
        for t in [
            ConfigType::Quorum,
            ConfigType::Trust,
            ConfigType::Membership,
            ConfigType::Transport,
        ] {
            for i in [I::Low, I::Medium] {
                assert_eq!(config(t, i).mechanism(), Mechanism::FullBft, "{t:?} {i:?}");
            }
        }
    }

    #[test]
    fn standard_operations_take_their_authority_level() {
        use AuthorityLevel::*;
        let ops = one_of_each();
        assert_eq!(ops[5].mechanism(), Mechanism::Authority(High));
        assert_eq!(ops[7].mechanism(), Mechanism::Authority(Medium));
        assert_eq!(ops[8].mechanism(), Mechanism::Authority(Low));
        let alloc = |priority| {
            Operation::ResourceAllocation(ResourceAllocation {
                resource: ResourceType::Cpu,
                target: "x".into(),
                amount: 1,
                priority,
            })
            .mechanism()
        };
        assert_eq!(alloc(PriorityLevel::Critical), Mechanism::Authority(High));
        assert_eq!(alloc(PriorityLevel::High), Mechanism::Authority(High));
        assert_eq!(alloc(PriorityLevel::Normal), Mechanism::Authority(Medium));
        assert_eq!(alloc(PriorityLevel::Low), Mechanism::Authority(Low));
        assert_eq!(High.layer(), Layer::Primary);
        assert_eq!(Medium.layer(), Layer::Seed);
        assert_eq!(Low.layer(), Layer::Latent);
    }
}
