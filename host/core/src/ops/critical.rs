//! Payloads of the critical operations (Full BFT), mirroring wit/types.wit one to one.
//!
//! Field names are the WIT names in snake_case; enums serialise in snake_case.

use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, Keypair, Signature, canonical_bytes, verify};
use crate::types::{Digest, Hierarchy, NodeId, TrustBps, hex_bytes};

/// How much a change could hurt the network if it were wrong (`impact-level`).
///
/// Ordered from least to most harmful, so `impact > ImpactLevel::Medium` reads as in the
/// decision matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpactLevel {
    /// Harmless if wrong.
    Low,
    /// Noticeable but recoverable.
    Medium,
    /// Could degrade the cluster.
    High,
    /// Could break safety or trust.
    Critical,
}

/// One entry of the replicated configuration (`param`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Param {
    /// Dotted key, e.g. `quorum.min_high_trust` (see docs/TRUST.md).
    pub key: String,
    /// Integer value.
    pub value: i64,
}

/// Which part of the configuration a change touches (`config-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigType {
    /// Quorum parameters (`quorum.*`).
    Quorum,
    /// Trust parameters (`trust.*`).
    Trust,
    /// Timing parameters (`timing.*`).
    Timing,
    /// Membership parameters (`membership.*`).
    Membership,
    /// Transport parameters (`transport.*`).
    Transport,
    /// Authorised keys and the submission policy (`authority.*`, see
    /// `state::Authority::with_changes`).
    Authority,
}

impl ConfigType {
    /// The key prefix (without the dot) of the parameters this type may set.
    pub fn namespace(self) -> &'static str {
        match self {
            ConfigType::Quorum => "quorum",
            ConfigType::Trust => "trust",
            ConfigType::Timing => "timing",
            ConfigType::Membership => "membership",
            ConfigType::Transport => "transport",
            ConfigType::Authority => "authority",
        }
    }

    /// The least impact a change of this type can have, whatever the proposer declares:
    /// quorum and trust rules and the authority guard safety itself (Critical), membership and transport
    /// decide who may take part (High), timing only affects liveness (Low).
    pub fn minimum_impact(self) -> ImpactLevel {
        match self {
            ConfigType::Quorum | ConfigType::Trust | ConfigType::Authority => ImpactLevel::Critical,
            ConfigType::Membership | ConfigType::Transport => ImpactLevel::High,
            ConfigType::Timing => ImpactLevel::Low,
        }
    }
}

/// Network configuration change: set the given parameters (`network-config-change`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkConfigChange {
    /// Which part of the configuration it touches.
    pub config_type: ConfigType,
    /// The parameters to set.
    pub changes: Vec<Param>,
    /// The impact the proposer declares.
    pub impact: ImpactLevel,
}

/// The least impact a change of `key` can have, above its type's floor: a key whose value
/// scales what trust and membership may do is Critical whatever its type.
/// `timing.slots-per-epoch` sets how often the epoch budgets of removals and admissions
/// refill, how often trust recovers and gains are capped, and when a newcomer counts as
/// established; as a Low timing change one governor could shorten epochs to one slot and
/// readmit an excluded member, or spend a budget every slot.
pub fn key_minimum_impact(key: &str) -> ImpactLevel {
    match key {
        "timing.slots-per-epoch" => ImpactLevel::Critical,
        _ => ImpactLevel::Low,
    }
}

impl NetworkConfigChange {
    /// The impact the decision matrix uses: the largest of the declared impact, the
    /// minimum of the config type and that of each key ([`key_minimum_impact`]), so a
    /// quorum change cannot be declared "low".
    pub fn effective_impact(&self) -> ImpactLevel {
        self.changes
            .iter()
            .map(|p| key_minimum_impact(&p.key))
            .fold(self.impact.max(self.config_type.minimum_impact()), Ord::max)
    }
}

/// Why a trust score is modified by governance (`trust-reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustReason {
    /// An audit found something.
    AuditFinding,
    /// Someone reported misbehaviour.
    MisbehaviourReport,
    /// Governance grants recovery.
    RecoveryGrant,
    /// Any other governance decision.
    GovernanceDecision,
}

/// Trust score modification of one node by a signed delta (`trust-modification`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrustModification {
    /// The node whose trust changes.
    pub target: NodeId,
    /// Signed change in basis points.
    pub delta_bps: i32,
    /// Why.
    pub reason: TrustReason,
    /// Free-text justification (logged).
    pub justification: String,
}

/// Identity a candidate presents when it asks to join (`node-identity`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// Its public key.
    pub id: NodeId,
    /// The hierarchy level it asks for.
    pub level: Hierarchy,
    /// Human-readable name.
    pub name: String,
    /// Network address (`host:port`).
    pub address: String,
}

/// What a candidate's sponsors must satisfy (`admission-criteria`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AdmissionCriteria {
    /// Least number of sponsors.
    pub min_sponsors: u32,
    /// Least trust of each counted sponsor.
    pub min_sponsor_trust: TrustBps,
    /// If set, at least one sponsor must be at this level or above.
    pub required_sponsor_level: Option<Hierarchy>,
}

/// Signature domain of a sponsorship.
pub const SPONSORSHIP_DOMAIN: &[u8] = b"spore/sponsorship/v1";

/// A member's signed statement "I sponsor this candidate on this chain".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sponsorship {
    /// The sponsoring member's node id.
    pub sponsor: NodeId,
    /// Its signature over the chain and the candidate's identity
    /// ([`Sponsorship::signing_bytes`]).
    pub signature: Signature,
}

impl Sponsorship {
    /// The bytes a sponsor signs: the chain (genesis digest) and the whole candidate
    /// identity, so a sponsorship cannot be moved to another candidate, level, address
    /// or cluster.
    pub fn signing_bytes(chain: &Digest, candidate: &NodeIdentity) -> Vec<u8> {
        canonical_bytes(&(chain, candidate))
    }

    /// `key` sponsors `candidate` on `chain`.
    pub fn sign(chain: &Digest, candidate: &NodeIdentity, key: &Keypair) -> Self {
        Sponsorship {
            sponsor: key.id(),
            signature: key.sign(SPONSORSHIP_DOMAIN, &Self::signing_bytes(chain, candidate)),
        }
    }

    /// Check the signature.
    pub fn verify(&self, chain: &Digest, candidate: &NodeIdentity) -> Result<(), CryptoError> {
        verify(
            &self.sponsor,
            SPONSORSHIP_DOMAIN,
            &Self::signing_bytes(chain, candidate),
            &self.signature,
        )
    }
}

/// Node admission (`node-admission`). The criteria its sponsors are judged by are not
/// the submitter's to choose: they come from the replicated parameters
/// (`membership.min-sponsors`, `membership.min-sponsor-trust`,
/// `membership.sponsor-level`), and the host hands them to the modules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeAdmission {
    /// Who asks to join.
    pub candidate: NodeIdentity,
    /// Its sponsors' signed sponsorships.
    pub sponsors: Vec<Sponsorship>,
}

impl NodeAdmission {
    /// The sponsors' ids, in the order given.
    pub fn sponsor_ids(&self) -> Vec<NodeId> {
        self.sponsors.iter().map(|s| s.sponsor).collect()
    }
}

/// Why a node is excluded (`exclusion-reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    /// It signed two different votes for one slot and phase.
    Equivocation,
    /// Its reveal did not open its commitment.
    InvalidReveal,
    /// Its trust fell below the threshold.
    LowTrust,
    /// It stopped answering.
    Unresponsive,
    /// Governance decided so.
    GovernanceDecision,
}

/// Kind of a piece of misbehaviour evidence (`evidence-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// Two signed votes by one node for one slot and phase.
    ConflictingVotes,
    /// A signed reveal that does not open the node's signed commitment.
    BadReveal,
    /// Anything else the host could verify.
    Other,
}

/// One piece of evidence (`evidence`); the payload is the encoded proof.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Evidence {
    /// What it proves.
    pub kind: EvidenceKind,
    /// The encoded proof.
    #[serde(with = "hex_bytes")]
    pub payload: Vec<u8>,
}

/// Node exclusion (`node-exclusion`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeExclusion {
    /// The node to exclude.
    pub target: NodeId,
    /// Why.
    pub reason: ExclusionReason,
    /// Supporting evidence.
    pub evidence: Vec<Evidence>,
}

/// Which policy a security policy update replaces (`security-domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityDomain {
    /// The validator module.
    ValidatorModule,
    /// The admission module.
    AdmissionModule,
    /// The resolver module.
    ResolverModule,
    /// The transport policy.
    TransportPolicy,
}

/// Security policy update (`security-policy-update`): activate `new_policy` (for module
/// domains, the module's content hash) and name the policy to roll back to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecurityPolicyUpdate {
    /// Which policy.
    pub domain: SecurityDomain,
    /// The new policy's digest.
    pub new_policy: Digest,
    /// The policy to roll back to.
    pub rollback_to: Digest,
    /// Free-text description (logged).
    pub description: String,
}
