//! Payloads of the standard operations (authority hierarchy) and of generic compute tasks,
//! mirroring wit/types.wit one to one.

use serde::{Deserialize, Serialize};

use crate::types::{Digest, Slot, hex_bytes};

/// How a service rolls out (`deployment-strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStrategy {
    /// Replace replicas one at a time.
    Rolling,
    /// Start a full new set, then switch.
    BlueGreen,
    /// Start a few new replicas first.
    Canary,
}

/// Resources a deployment asks for (`resource-requirements`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceRequirements {
    /// CPU in thousandths of a core.
    pub cpu_millis: u32,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// Storage in MiB.
    pub storage_mib: u32,
}

/// Service deployment (`service-deployment`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceDeployment {
    /// Service name.
    pub name: String,
    /// Content hash of the artifact.
    pub artifact: Digest,
    /// Number of replicas.
    pub replicas: u32,
    /// Rollout strategy.
    pub strategy: DeploymentStrategy,
    /// Resources per replica.
    pub resources: ResourceRequirements,
}

/// Kinds of allocatable resources (`resource-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    /// CPU.
    Cpu,
    /// Memory.
    Memory,
    /// Storage.
    Storage,
    /// Network bandwidth.
    Bandwidth,
}

/// Priority of a request (`priority-level`); it also picks the deciding authority layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityLevel {
    /// Background.
    Low,
    /// Default.
    Normal,
    /// Urgent.
    High,
    /// Most urgent.
    Critical,
}

/// Resource allocation (`resource-allocation`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceAllocation {
    /// Which resource.
    pub resource: ResourceType,
    /// Who receives it.
    pub target: String,
    /// How much (unit depends on the resource).
    pub amount: u64,
    /// Priority.
    pub priority: PriorityLevel,
}

/// Kinds of maintenance (`maintenance-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceType {
    /// Software upgrade.
    Upgrade,
    /// Restart.
    Restart,
    /// Storage compaction.
    Compaction,
    /// Backup.
    Backup,
    /// Certificate rotation.
    CertificateRotation,
}

/// A window of log slots, inclusive start, exclusive end (`slot-window`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotWindow {
    /// First slot of the window.
    pub start: Slot,
    /// First slot after the window.
    pub end: Slot,
}

/// Routine maintenance (`maintenance-task`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MaintenanceTask {
    /// What kind.
    pub task: MaintenanceType,
    /// Affected components.
    pub components: Vec<String>,
    /// When.
    pub window: SlotWindow,
}

/// Kinds of performance optimisation (`optimization-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizationType {
    /// Batch more operations per slot.
    Batching,
    /// Cache results.
    Caching,
    /// Change message routing.
    Routing,
    /// Tune quorum sizes (a plan only: quorum parameters change via configuration).
    QuorumTuning,
}

/// A metric and its target value (`performance-metric`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PerformanceMetric {
    /// Metric name.
    pub name: String,
    /// Target value.
    pub target: i64,
}

/// Performance optimisation (`performance-optimization`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PerformanceOptimization {
    /// What kind.
    pub kind: OptimizationType,
    /// Metrics to reach.
    pub targets: Vec<PerformanceMetric>,
    /// How.
    pub plan: String,
}

/// A user computation the cluster executes redundantly (`compute-task`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ComputeTask {
    /// Names the computation, e.g. `median-price`.
    pub kind: String,
    /// Opaque input.
    #[serde(with = "hex_bytes")]
    pub input: Vec<u8>,
}
