//! The operations clients submit in a simulated scenario: every operation kind, every
//! decision mechanism (Full BFT and the three authority levels), mixed by seed.
//!
//! # Design
//! [`workload`] cycles through [`TEMPLATES`] so that any run with at least as many
//! operations as templates covers every kind and mechanism; the seed varies the payloads
//! (names, amounts, inputs) and the order within each cycle. Every operation carries its
//! index, so no two operations of a run share a digest.
//!
//! The payloads are chosen so that decided operations never disturb the scenario itself:
//! trust modifications only grant small gains, and exclusions are ones the validator
//! rejects (unknown node) — their rejection is decided and logged like any other outcome.
//! Admissions (a sponsorship that was never signed) and quorum changes (more high-trust
//! voters than exist) are ones the host refuses before ordering: the runner signs every
//! operation with an authorised key ([`super::clients`]) and requires only those that
//! pass the host's check at genesis to be decided.

use crate::crypto::Signature;
use crate::ops::{
    ComputeTask, ConfigType, DeploymentStrategy, ExclusionReason, ImpactLevel, MaintenanceTask,
    MaintenanceType, NetworkConfigChange, NodeAdmission, NodeExclusion, NodeIdentity, Operation,
    OptimizationType, Param, PerformanceMetric, PerformanceOptimization, PriorityLevel,
    ResourceAllocation, ResourceRequirements, ResourceType, SecurityDomain, SecurityPolicyUpdate,
    ServiceDeployment, SlotWindow, Sponsorship, TrustModification, TrustReason,
};
use crate::sim::rng::SimRng;
use crate::types::{Digest, Hierarchy, NodeId};

/// Number of operation templates a workload cycles through: the 10 kinds, with resource
/// allocation at three priorities and configuration at three impacts.
pub const TEMPLATES: usize = 14;

/// The `kind` of compute task the simulated validator knows: the median of the input read
/// as little-endian `i64` values.
pub const COMPUTE_MEDIAN: &str = "median-i64";

/// Build `count` operations for a cluster of `members`, varied by `rng`.
pub fn workload(count: usize, members: &[NodeId], rng: &mut SimRng) -> Vec<Operation> {
    let mut order: Vec<usize> = (0..TEMPLATES).collect();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        if i % TEMPLATES == 0 {
            rng.shuffle(&mut order);
        }
        out.push(template(order[i % TEMPLATES], i, members, rng));
    }
    out
}

/// Which operations the clients of a scenario submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkloadKind {
    /// Every kind and mechanism, cycling through [`TEMPLATES`] (see [`workload`]).
    #[default]
    Mixed,
    /// Only compute tasks: every operation takes the Full-BFT path, so consecutive
    /// operations can share a batch (used to measure batching).
    Compute,
}

/// Build `count` operations of `kind` (see [`workload`] and [`WorkloadKind::Compute`]).
pub fn build(
    kind: WorkloadKind,
    count: usize,
    members: &[NodeId],
    rng: &mut SimRng,
) -> Vec<Operation> {
    match kind {
        WorkloadKind::Mixed => workload(count, members, rng),
        WorkloadKind::Compute => (0..count).map(|i| template(4, i, members, rng)).collect(),
    }
}

/// An identity that is never a member (for operations the validator must reject).
fn stranger(i: usize) -> NodeId {
    let mut b = [0xEE; 32];
    b[..8].copy_from_slice(&(i as u64).to_le_bytes());
    NodeId(b)
}

/// Operation number `i` built from template `t`.
fn template(t: usize, i: usize, members: &[NodeId], rng: &mut SimRng) -> Operation {
    let tag = format!("sim-{i}");
    let member = if members.is_empty() {
        stranger(i)
    } else {
        members[rng.index(members.len())]
    };
    match t {
        0 => Operation::TrustModification(TrustModification {
            target: member,
            delta_bps: 1 + rng.below(50) as i32,
            reason: TrustReason::RecoveryGrant,
            justification: tag,
        }),
        1 => Operation::NodeAdmission(NodeAdmission {
            candidate: NodeIdentity {
                id: stranger(i),
                level: Hierarchy::Hyphae,
                name: tag,
                address: format!("10.0.{}.{}:7000", rng.below(256), rng.below(256)),
            },
            sponsors: vec![Sponsorship {
                sponsor: member,
                signature: Signature([0; 64]),
            }],
        }),
        2 => Operation::NodeExclusion(NodeExclusion {
            target: stranger(i),
            reason: ExclusionReason::Unresponsive,
            evidence: vec![],
        }),
        3 => Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
            domain: SecurityDomain::TransportPolicy,
            new_policy: Digest(rng_bytes(rng)),
            rollback_to: Digest([0; 32]),
            description: tag,
        }),
        4 => Operation::Compute(ComputeTask {
            kind: COMPUTE_MEDIAN.into(),
            input: (0..1 + rng.below(9))
                .flat_map(|_| (rng.below(1_000_000) as i64 - 500_000).to_le_bytes())
                .collect(),
        }),
        5 => Operation::NetworkConfigChange(NetworkConfigChange {
            config_type: ConfigType::Quorum,
            changes: vec![Param {
                key: "quorum.min-high-trust".into(),
                value: 1_000 + i as i64,
            }],
            impact: ImpactLevel::Critical,
        }),
        6 => Operation::NetworkConfigChange(NetworkConfigChange {
            config_type: ConfigType::Timing,
            changes: vec![Param {
                key: "timing.max-output-bytes".into(),
                value: 1_024 + rng.below(64_512) as i64,
            }],
            impact: ImpactLevel::Medium,
        }),
        7 => Operation::NetworkConfigChange(NetworkConfigChange {
            config_type: ConfigType::Timing,
            changes: vec![Param {
                key: "timing.max-output-bytes".into(),
                value: 1_024 + rng.below(64_512) as i64,
            }],
            impact: ImpactLevel::Low,
        }),
        8 => Operation::ServiceDeployment(ServiceDeployment {
            name: tag,
            artifact: Digest(rng_bytes(rng)),
            replicas: 1 + rng.below(5) as u32,
            strategy: DeploymentStrategy::Rolling,
            resources: ResourceRequirements {
                cpu_millis: 500,
                memory_mib: 256,
                storage_mib: 1_024,
            },
        }),
        9..=11 => Operation::ResourceAllocation(ResourceAllocation {
            resource: ResourceType::Cpu,
            target: tag,
            amount: 1 + rng.below(10_000),
            priority: match t {
                9 => PriorityLevel::High,
                10 => PriorityLevel::Normal,
                _ => PriorityLevel::Low,
            },
        }),
        12 => Operation::MaintenanceTask(MaintenanceTask {
            task: MaintenanceType::Compaction,
            components: vec![tag],
            window: SlotWindow {
                start: 0,
                end: 1_000,
            },
        }),
        _ => Operation::PerformanceOptimization(PerformanceOptimization {
            kind: OptimizationType::Caching,
            targets: vec![PerformanceMetric {
                name: "p99-ms".into(),
                target: rng.below(100) as i64,
            }],
            plan: tag,
        }),
    }
}

/// 32 random bytes.
fn rng_bytes(rng: &mut SimRng) -> [u8; 32] {
    let mut b = [0; 32];
    rng.fill(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::crypto::Canonical;
    use crate::ops::{AuthorityLevel, Mechanism};

    #[test]
    fn one_cycle_covers_every_kind_and_mechanism_with_distinct_digests() {
        let members = [NodeId([1; 32]), NodeId([2; 32])];
        let ops = workload(TEMPLATES, &members, &mut SimRng::new(4));
        let kinds: BTreeSet<&str> = ops.iter().map(Operation::kind_name).collect();
        assert_eq!(kinds.len(), 10, "{kinds:?}");
        let mechs: BTreeSet<String> = ops.iter().map(|o| format!("{:?}", o.mechanism())).collect();
        for m in [
            Mechanism::FullBft,
            Mechanism::Authority(AuthorityLevel::High),
            Mechanism::Authority(AuthorityLevel::Medium),
            Mechanism::Authority(AuthorityLevel::Low),
        ] {
            assert!(
                mechs.contains(&format!("{m:?}")),
                "{m:?} missing from {mechs:?}"
            );
        }
        let more = workload(5 * TEMPLATES, &members, &mut SimRng::new(4));
        let digests: BTreeSet<Digest> = more.iter().map(Canonical::digest).collect();
        assert_eq!(digests.len(), more.len());
    }

    #[test]
    fn compute_workload_is_all_full_bft_and_distinct() {
        let ops = build(WorkloadKind::Compute, 20, &[], &mut SimRng::new(2));
        assert!(ops.iter().all(|o| o.mechanism() == Mechanism::FullBft));
        let digests: BTreeSet<Digest> = ops.iter().map(Canonical::digest).collect();
        assert_eq!(digests.len(), 20);
    }

    #[test]
    fn same_seed_same_workload() {
        let members = [NodeId([1; 32])];
        assert_eq!(
            workload(30, &members, &mut SimRng::new(8)),
            workload(30, &members, &mut SimRng::new(8))
        );
    }
}
