//! Operations a Spore cluster decides, the decision matrix that picks how, and the agreed
//! outcome of a module call.
//!
//! # Layout
//! - `critical.rs`: payloads of the Full-BFT operations (configuration, trust, membership,
//!   security policy).
//! - `standard.rs`: payloads of the authority-hierarchy operations and compute tasks.
//! - `matrix.rs`: [`Mechanism`], [`AuthorityLevel`] and [`Operation::mechanism`].
//! - `outcome.rs`: [`Outcome`], [`FailureKind`], [`RejectionCode`], [`Role`].
//!
//! # Encoding
//! [`Operation`] mirrors the WIT variant `operation` case for case and field for field.
//! Its canonical encoding is postcard ([`Canonical`]); its digest is the SHA-256 of that
//! encoding and is the `op-digest` modules see in their `call-context`.

mod critical;
mod matrix;
mod outcome;
mod signed;
mod standard;
#[cfg(test)]
mod wit_mirror;

pub use critical::*;
pub use matrix::{AuthorityLevel, Mechanism};
pub use outcome::{FailureKind, Outcome, RejectionCode, Role};
pub use signed::{MAX_EXPIRY_WINDOW, OPERATION_DOMAIN, SignedOperation};
pub use standard::*;

use serde::{Deserialize, Serialize};

use crate::crypto::Canonical;

/// Largest accepted canonical encoding of one operation, in bytes.
pub const MAX_OPERATION_BYTES: usize = 64 * 1024;

/// Every operation a Spore cluster can decide (WIT `operation`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Set configuration parameters (Full BFT when the effective impact is above Medium).
    NetworkConfigChange(NetworkConfigChange),
    /// Change one node's trust (Full BFT).
    TrustModification(TrustModification),
    /// Admit a node (Full BFT).
    NodeAdmission(NodeAdmission),
    /// Exclude a node (Full BFT).
    NodeExclusion(NodeExclusion),
    /// Swap a policy or module (Full BFT).
    SecurityPolicyUpdate(SecurityPolicyUpdate),
    /// Deploy a service (authority: High).
    ServiceDeployment(ServiceDeployment),
    /// Allocate a resource (authority by priority).
    ResourceAllocation(ResourceAllocation),
    /// Routine maintenance (authority: Medium).
    MaintenanceTask(MaintenanceTask),
    /// Performance optimisation (authority: Low).
    PerformanceOptimization(PerformanceOptimization),
    /// Generic redundant computation (Full BFT).
    Compute(ComputeTask),
}

impl Canonical for Operation {}

/// Why bytes could not be decoded into an [`Operation`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input exceeds [`MAX_OPERATION_BYTES`].
    #[error("operation encoding of {0} bytes exceeds the limit of {MAX_OPERATION_BYTES}")]
    TooLarge(usize),
    /// The input is not a canonical postcard encoding of an operation.
    #[error("malformed operation: {0}")]
    Malformed(String),
}

impl Operation {
    /// Decode a canonical encoding; rejects oversized input, trailing bytes and anything
    /// that does not re-encode to the same bytes.
    pub fn decode(bytes: &[u8]) -> Result<Operation, DecodeError> {
        if bytes.len() > MAX_OPERATION_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let (op, rest): (Operation, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(DecodeError::Malformed(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        if op.canonical_bytes() != bytes {
            return Err(DecodeError::Malformed("non-canonical encoding".into()));
        }
        Ok(op)
    }

    /// The WIT case name, e.g. `node-admission` (for logs and metrics labels).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Operation::NetworkConfigChange(_) => "network-config-change",
            Operation::TrustModification(_) => "trust-modification",
            Operation::NodeAdmission(_) => "node-admission",
            Operation::NodeExclusion(_) => "node-exclusion",
            Operation::SecurityPolicyUpdate(_) => "security-policy-update",
            Operation::ServiceDeployment(_) => "service-deployment",
            Operation::ResourceAllocation(_) => "resource-allocation",
            Operation::MaintenanceTask(_) => "maintenance-task",
            Operation::PerformanceOptimization(_) => "performance-optimization",
            Operation::Compute(_) => "compute",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::types::{Digest, Hierarchy, NodeId};

    /// One operation of every kind (shared with other test modules).
    pub(crate) fn one_of_each() -> Vec<Operation> {
        vec![
            Operation::NetworkConfigChange(NetworkConfigChange {
                config_type: ConfigType::Timing,
                changes: vec![Param {
                    key: "timing.propose-timeout".into(),
                    value: 40,
                }],
                impact: ImpactLevel::Low,
            }),
            Operation::TrustModification(TrustModification {
                target: NodeId([1; 32]),
                delta_bps: -250,
                reason: TrustReason::AuditFinding,
                justification: "late reveals".into(),
            }),
            Operation::NodeAdmission(NodeAdmission {
                candidate: NodeIdentity {
                    id: NodeId([2; 32]),
                    level: Hierarchy::Hyphae,
                    name: "edge-1".into(),
                    address: "10.0.0.9:7000".into(),
                },
                sponsors: vec![Sponsorship {
                    sponsor: NodeId([3; 32]),
                    signature: crate::crypto::Signature([4; 64]),
                }],
            }),
            Operation::NodeExclusion(NodeExclusion {
                target: NodeId([5; 32]),
                reason: ExclusionReason::Equivocation,
                evidence: vec![Evidence {
                    kind: EvidenceKind::ConflictingVotes,
                    payload: vec![9, 9],
                }],
            }),
            Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
                domain: SecurityDomain::ResolverModule,
                new_policy: Digest([6; 32]),
                rollback_to: Digest([7; 32]),
                description: "resolver v2".into(),
            }),
            Operation::ServiceDeployment(ServiceDeployment {
                name: "api".into(),
                artifact: Digest([8; 32]),
                replicas: 3,
                strategy: DeploymentStrategy::Canary,
                resources: ResourceRequirements {
                    cpu_millis: 500,
                    memory_mib: 256,
                    storage_mib: 1024,
                },
            }),
            Operation::ResourceAllocation(ResourceAllocation {
                resource: ResourceType::Bandwidth,
                target: "api".into(),
                amount: 100,
                priority: PriorityLevel::Normal,
            }),
            Operation::MaintenanceTask(MaintenanceTask {
                task: MaintenanceType::CertificateRotation,
                components: vec!["transport".into()],
                window: SlotWindow {
                    start: 100,
                    end: 200,
                },
            }),
            Operation::PerformanceOptimization(PerformanceOptimization {
                kind: OptimizationType::Batching,
                targets: vec![PerformanceMetric {
                    name: "ops_per_slot".into(),
                    target: 64,
                }],
                plan: "raise batch size".into(),
            }),
            Operation::Compute(ComputeTask {
                kind: "median-price".into(),
                input: vec![1, 2, 3],
            }),
        ]
    }

    #[test]
    fn canonical_round_trip_for_every_kind() -> Result<(), Box<dyn std::error::Error>> {
        let ops = one_of_each();
        let mut digests = std::collections::BTreeSet::new();
        for op in &ops {
            let bytes = op.canonical_bytes();
            assert_eq!(&Operation::decode(&bytes)?, op);
            assert!(
                digests.insert(op.digest()),
                "{} digest collides",
                op.kind_name()
            );
            let json = serde_json::to_string(op)?;
            assert_eq!(&serde_json::from_str::<Operation>(&json)?, op);
        }
        Ok(())
    }

    #[test]
    fn json_uses_hex_for_ids_digests_and_bytes() -> Result<(), Box<dyn std::error::Error>> {
        let ops = one_of_each();
        let json = serde_json::to_value(&ops[3])?;
        assert_eq!(json["node_exclusion"]["target"], "05".repeat(32));
        assert_eq!(json["node_exclusion"]["evidence"][0]["payload"], "0909");
        assert_eq!(json["node_exclusion"]["reason"], "equivocation");
        Ok(())
    }

    #[test]
    fn decode_rejects_garbage_trailing_and_oversized() {
        let bytes = one_of_each()[9].canonical_bytes();
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Operation::decode(&trailing),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Operation::decode(&[250, 1, 2]),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Operation::decode(&[]),
            Err(DecodeError::Malformed(_))
        ));
        let big = vec![0u8; MAX_OPERATION_BYTES + 1];
        assert_eq!(
            Operation::decode(&big),
            Err(DecodeError::TooLarge(MAX_OPERATION_BYTES + 1))
        );
        // Every truncation of a valid encoding is rejected without panicking.
        for cut in 0..bytes.len() {
            assert!(Operation::decode(&bytes[..cut]).is_err());
        }
    }

    /// Deterministic mutation fuzzing: random bytes and bit flips of valid encodings never
    /// panic, and whatever decodes is canonical.
    #[test]
    fn decode_survives_mutations() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let valid: Vec<Vec<u8>> = one_of_each().iter().map(|o| o.canonical_bytes()).collect();
        let mut decoded = 0;
        for round in 0..20_000u64 {
            let mut bytes = if round % 2 == 0 {
                valid[(next() % valid.len() as u64) as usize].clone()
            } else {
                (0..next() % 96).map(|_| next() as u8).collect()
            };
            for _ in 0..=(next() % 3) {
                if !bytes.is_empty() {
                    let i = (next() % bytes.len() as u64) as usize;
                    bytes[i] ^= 1 << (next() % 8);
                }
            }
            if let Ok(op) = Operation::decode(&bytes) {
                decoded += 1;
                assert_eq!(op.canonical_bytes(), bytes);
            }
        }
        assert!(
            decoded > 0,
            "some mutations (e.g. in string bytes) stay valid"
        );
    }
}
