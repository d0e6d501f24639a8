//! Built-in sample inputs for every role: a four-member snapshot, one operation of every
//! kind, an admission request and resolver inputs. Used by `spore module check` (the
//! determinism self-test), `spore demo`, the benches and the tests.
//!
//! Everything here is a pure function of constants: the same samples on every machine.

use std::sync::Arc;

use spore_core::crypto::{Canonical, Keypair};
use spore_core::ops::{
    ComputeTask, ConfigType, DeploymentStrategy, Evidence, EvidenceKind, ExclusionReason,
    ImpactLevel, MaintenanceTask, MaintenanceType, NetworkConfigChange, NodeAdmission,
    NodeExclusion, NodeIdentity, Operation, OptimizationType, Param, PerformanceMetric,
    PerformanceOptimization, PriorityLevel, ResourceAllocation, ResourceRequirements, ResourceType,
    SecurityDomain, SecurityPolicyUpdate, ServiceDeployment, SlotWindow, Sponsorship,
    TrustModification, TrustReason,
};
use spore_core::types::{Digest, Hierarchy, Layer, NodeId};

use super::convert::{CallContext, LayerResult, ResolverInput, member_view};
use super::snapshot::{MemberView, SnapshotView};

/// The node id of sample member `i` (an ed25519 key derived from a fixed seed).
pub fn member_id(i: u8) -> NodeId {
    Keypair::from_seed([i.wrapping_add(1); 32]).id()
}

/// A node id that is not a member of the sample snapshot.
pub fn outsider_id() -> NodeId {
    Keypair::from_seed([0xee; 32]).id()
}

/// The sample snapshot: a Sclerotia primary (9000 bps), a Rhizomorph seed (8000), two
/// Hyphae latents (7000, 6500), plus a few configuration parameters.
pub fn snapshot() -> Arc<SnapshotView> {
    SnapshotView::new(members(), params()).shared()
}

/// The sample snapshot's members.
pub fn members() -> [MemberView; 4] {
    [
        (0, Hierarchy::Sclerotia, 9000, Layer::Primary),
        (1, Hierarchy::Rhizomorph, 8000, Layer::Seed),
        (2, Hierarchy::Hyphae, 7000, Layer::Latent),
        (3, Hierarchy::Hyphae, 6500, Layer::Latent),
    ]
    .map(|(i, level, trust, layer)| member_view(member_id(i), level, trust, true, layer))
}

/// The sample snapshot's parameters.
pub fn params() -> [(String, i64); 4] {
    [
        ("quorum.min-high-trust", 1),
        ("trust.exclusion-threshold", 2000),
        ("trust.critical-threshold", 6000),
        ("timing.propose-timeout", 20),
    ]
    .map(|(k, v)| (k.to_owned(), v))
}

/// Price reports for the median-price compute example: `(reporter index, price)`,
/// 16 bytes each (u64 LE, i64 LE). The last one is an outlier.
pub fn price_reports() -> Vec<u8> {
    let reports: [(u64, i64); 7] = [
        (0, 101_250),
        (1, 100_900),
        (2, 101_100),
        (3, 100_750),
        (4, 101_400),
        (5, 100_980),
        (6, 250_000),
    ];
    let mut out = Vec::with_capacity(reports.len() * 16);
    for (reporter, price) in reports {
        out.extend_from_slice(&reporter.to_le_bytes());
        out.extend_from_slice(&price.to_le_bytes());
    }
    out
}

/// The sample compute operation (median-price over [`price_reports`]).
pub fn compute_op() -> Operation {
    Operation::Compute(ComputeTask {
        kind: "median-price".to_owned(),
        input: price_reports(),
    })
}

/// A sponsorship of `id` whose signature is a placeholder (see [`admission_request`]).
fn unsigned_sponsor(id: NodeId) -> Sponsorship {
    Sponsorship {
        sponsor: id,
        signature: spore_core::crypto::Signature([0; 64]),
    }
}

/// The sample admission request: a Hyphae candidate sponsored by the Sclerotia and the
/// Rhizomorph member.
pub fn admission_request() -> NodeAdmission {
    NodeAdmission {
        candidate: NodeIdentity {
            id: outsider_id(),
            level: Hierarchy::Hyphae,
            name: "edge-5".to_owned(),
            address: "127.0.0.1:7105".to_owned(),
        },
        // Module inputs: the host verifies sponsorship signatures before a module sees an
        // admission, so the samples carry placeholders (submitting this one as is, the
        // host refuses it for its unsigned sponsorships).
        sponsors: vec![
            unsigned_sponsor(member_id(0)),
            unsigned_sponsor(member_id(1)),
        ],
    }
}

/// One operation of every kind, each valid against [`snapshot`], in WIT order.
pub fn operations() -> Vec<Operation> {
    vec![
        Operation::NetworkConfigChange(NetworkConfigChange {
            config_type: ConfigType::Timing,
            changes: vec![Param {
                key: "timing.propose-timeout".to_owned(),
                value: 30,
            }],
            impact: ImpactLevel::Low,
        }),
        Operation::TrustModification(TrustModification {
            target: member_id(3),
            delta_bps: -500,
            reason: TrustReason::AuditFinding,
            justification: "missed three reveals in epoch 4".to_owned(),
        }),
        Operation::NodeAdmission(admission_request()),
        Operation::NodeExclusion(NodeExclusion {
            target: member_id(3),
            reason: ExclusionReason::Equivocation,
            evidence: vec![Evidence {
                kind: EvidenceKind::ConflictingVotes,
                payload: vec![0x01, 0x02, 0x03, 0x04],
            }],
        }),
        Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
            domain: SecurityDomain::ResolverModule,
            new_policy: Digest([0x5a; 32]),
            rollback_to: Digest([0xa5; 32]),
            description: "strict resolver for the audit period".to_owned(),
        }),
        Operation::ServiceDeployment(ServiceDeployment {
            name: "price-feed".to_owned(),
            artifact: Digest([0x11; 32]),
            replicas: 3,
            strategy: DeploymentStrategy::Rolling,
            resources: ResourceRequirements {
                cpu_millis: 500,
                memory_mib: 256,
                storage_mib: 1024,
            },
        }),
        Operation::ResourceAllocation(ResourceAllocation {
            resource: ResourceType::Bandwidth,
            target: "price-feed".to_owned(),
            amount: 100,
            priority: PriorityLevel::High,
        }),
        Operation::MaintenanceTask(MaintenanceTask {
            task: MaintenanceType::Compaction,
            components: vec!["store".to_owned()],
            window: SlotWindow {
                start: 1000,
                end: 1100,
            },
        }),
        Operation::PerformanceOptimization(PerformanceOptimization {
            kind: OptimizationType::Batching,
            targets: vec![PerformanceMetric {
                name: "p99_latency_ms".to_owned(),
                target: 250,
            }],
            plan: "batch up to 64 operations per slot".to_owned(),
        }),
        compute_op(),
    ]
}

/// Operations the default validator must reject: a trust modification of an unknown node,
/// and an admission with too few sponsors.
pub fn invalid_operations() -> Vec<Operation> {
    let mut lonely = admission_request();
    lonely.sponsors.truncate(1);
    vec![
        Operation::TrustModification(TrustModification {
            target: outsider_id(),
            delta_bps: 100,
            reason: TrustReason::GovernanceDecision,
            justification: "unknown node".to_owned(),
        }),
        Operation::NodeAdmission(lonely),
    ]
}

/// The context of `op` at sample slot 42, epoch 1.
pub fn context(op: &Operation) -> CallContext {
    CallContext::new(42, 1, op.digest())
}

/// The context for calls not tied to one operation (admission, resolver samples).
pub fn context_for(bytes: &[u8]) -> CallContext {
    CallContext::new(42, 1, spore_core::crypto::sha256(bytes))
}

fn layer(layer: Layer, result: &[u8], confidence: u32, agreement: u32) -> LayerResult {
    LayerResult {
        layer,
        result: Some(result.to_vec()),
        confidence,
        agreement,
    }
}

/// Resolver sample where every layer revealed the same result (any resolver accepts).
pub fn resolver_unanimous() -> ResolverInput {
    ResolverInput {
        primary: layer(Layer::Primary, b"A", 4000, 10_000),
        seed: layer(Layer::Seed, b"A", 3000, 10_000),
        latent: layer(Layer::Latent, b"A", 3000, 10_000),
    }
}

/// Resolver sample with a split: the primary stands behind "A" with high confidence, the
/// seed and the latent layer behind "B" (an authority resolver picks the primary; a strict
/// resolver escalates).
pub fn resolver_split() -> ResolverInput {
    ResolverInput {
        primary: layer(Layer::Primary, b"A", 9000, 10_000),
        seed: layer(Layer::Seed, b"B", 3000, 10_000),
        latent: layer(Layer::Latent, b"B", 2000, 6000),
    }
}

/// Resolver sample where nobody has authority: escalation for every sensible resolver.
pub fn resolver_contested() -> ResolverInput {
    ResolverInput {
        primary: layer(Layer::Primary, b"A", 1000, 5000),
        seed: LayerResult {
            layer: Layer::Seed,
            result: None,
            confidence: 0,
            agreement: 0,
        },
        latent: layer(Layer::Latent, b"C", 1500, 4000),
    }
}
