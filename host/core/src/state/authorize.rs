//! Whether a signed operation may be ordered at the next slot: signature, chain, expiry,
//! the submitter's authority, sponsorship, exclusion proofs and the reconfiguration
//! budget — all decided from the replicated state and signatures alone.
//!
//! # Design
//! [`ReplicatedState::authorize`] is the one check. A member runs it before an operation
//! enters its mempool, the primary before it proposes one, every member on every
//! operation of a proposal it receives (a proposal with an operation that fails is refused
//! like any invalid proposal), and [`ReplicatedState::apply_slot`] enforces the parts that
//! two operations of one batch could jointly break (budgets, proof reuse) again at apply,
//! where a violating operation changes nothing. Modules never decide any of it: a
//! validator module swapped in by governance cannot accept what the host refuses.
//!
//! # Parameters (free-form `membership.*`, with defaults)
//! - `membership.min-sponsors` (2): least number of valid sponsorships;
//! - `membership.min-sponsor-trust-bps` (the critical threshold): least trust of each
//!   counted sponsor;
//! - `membership.sponsor-level` (0 = hyphae): least hierarchy rank of at least one
//!   sponsor (2 = sclerotia, 1 = rhizomorph), and never below the candidate's level;
//! - `membership.max-admissions-per-epoch` (1): admissions per epoch;
//! - `membership.max-removals-per-epoch` (1): members that governance (not a proof) may
//!   remove from the eligible set per epoch, by exclusion or by a trust cut.
//!
//! # Names and sizes (fixed)
//! What a member or an operator names lands in every node's state, status reports, logs
//! and metric labels, whatever the validator module accepts: a candidate's name and a
//! service's name are [`is_name`] (1..=64 bytes of `[A-Za-z0-9._-]`), a candidate's
//! address at most [`MAX_ADDRESS_BYTES`] printable ASCII characters, and the state records
//! at most [`MAX_SERVICES`] services (deploying an existing name again replaces it).

use std::collections::BTreeSet;

use super::authority::{Actor, Permission, is_provable};
use super::{ReplicatedState, liveness};
use crate::consensus::evidence::Misbehaviour;
use crate::ops::{
    ConfigType, EvidenceKind, ExclusionReason, MAX_EXPIRY_WINDOW, MAX_OPERATION_BYTES,
    NodeAdmission, NodeExclusion, Operation, SignedOperation, TrustModification,
};
use crate::types::{Digest, Hierarchy, NodeId, Slot, TrustBps};

/// Why a signed operation may not be ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The operation's canonical encoding is too large.
    #[error("operation encoding of {0} bytes exceeds the limit of {MAX_OPERATION_BYTES}")]
    TooLarge(usize),
    /// Signed for another cluster.
    #[error("signed for chain {got}, this cluster is {expected}")]
    WrongChain {
        /// This cluster's genesis digest.
        expected: Digest,
        /// The chain in the operation.
        got: Digest,
    },
    /// Its expiry slot has passed.
    #[error("expired at slot {expires} (next slot is {slot})")]
    Expired {
        /// The operation's expiry.
        expires: Slot,
        /// The next slot.
        slot: Slot,
    },
    /// Its expiry lies further ahead than [`MAX_EXPIRY_WINDOW`].
    #[error("expiry slot {expires} is more than {MAX_EXPIRY_WINDOW} slots ahead of {slot}")]
    ExpiryTooFar {
        /// The operation's expiry.
        expires: Slot,
        /// The next slot.
        slot: Slot,
    },
    /// The signature does not verify.
    #[error("bad submitter signature by {0}")]
    BadSignature(NodeId),
    /// The submitter holds none of the roles the policy asks for.
    #[error("{submitter} may not submit {permission}: it needs the role {}", roles(.allowed))]
    Unauthorized {
        /// Who signed.
        submitter: NodeId,
        /// What it tried.
        permission: Permission,
        /// The roles that would have been allowed.
        allowed: BTreeSet<Actor>,
    },
    /// The sponsorships do not satisfy the replicated admission rules.
    #[error("sponsorship: {0}")]
    Sponsorship(String),
    /// A provable exclusion without a valid proof against its target.
    #[error("evidence: {0}")]
    Evidence(String),
    /// The epoch's reconfiguration budget is spent.
    #[error("{what}: at most {limit} per epoch, epoch {epoch} has used them (retry next epoch)")]
    Budget {
        /// What was limited.
        what: &'static str,
        /// The limit.
        limit: u32,
        /// The current epoch.
        epoch: u64,
    },
    /// The change would leave a configuration that cannot be met or that one crash stalls.
    #[error("configuration refused: {0}")]
    Configuration(String),
    /// A module update names a rollback target other than the module it replaces.
    #[error(
        "module update refused: its rollback target {target} is not the active {role} module \
         {active} (name it, or leave the target zero)"
    )]
    RollbackTarget {
        /// The role updated.
        role: String,
        /// The rollback target named.
        target: crate::types::Digest,
        /// The role's active module.
        active: crate::types::Digest,
    },
}

/// Most services the state records (about 110 bytes each in every node's state).
pub const MAX_SERVICES: usize = 1024;

/// Longest candidate address, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 256;

/// Whether `name` is 1..=64 bytes of `[A-Za-z0-9._-]`: a member's or a service's name,
/// which status reports, logs and metric labels show as it is.
pub fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn roles(allowed: &BTreeSet<Actor>) -> String {
    if allowed.is_empty() {
        return "(none: the policy grants it to nobody)".into();
    }
    allowed
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The admission and reconfiguration rules in force (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipRules {
    /// `membership.min-sponsors`.
    pub min_sponsors: u32,
    /// `membership.min-sponsor-trust-bps`.
    pub min_sponsor_trust: TrustBps,
    /// `membership.sponsor-level` as a level.
    pub sponsor_level: Hierarchy,
    /// `membership.max-admissions-per-epoch`.
    pub max_admissions: u32,
    /// `membership.max-removals-per-epoch`.
    pub max_removals: u32,
}

/// Per-epoch counters of governance reconfiguration.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct EpochBudget {
    /// Admissions applied in the current epoch.
    pub admissions: u32,
    /// Governance removals from the eligible set applied in the current epoch.
    pub removals: u32,
}

fn level_of_rank(rank: i64) -> Hierarchy {
    match rank {
        i64::MIN..=0 => Hierarchy::Hyphae,
        1 => Hierarchy::Rhizomorph,
        _ => Hierarchy::Sclerotia,
    }
}

impl MembershipRules {
    /// The rules from a parameter lookup (the replicated parameters, or the snapshot a
    /// module call sees), with the documented defaults for keys that are not set.
    pub fn from_params(get: impl Fn(&str) -> Option<i64>) -> MembershipRules {
        let get = |k: &str, d: i64| get(k).unwrap_or(d);
        let clamp_u32 = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        let critical = get("trust.critical-threshold", 6_000);
        MembershipRules {
            min_sponsors: clamp_u32(get("membership.min-sponsors", 2)).max(1),
            min_sponsor_trust: clamp_u32(get("membership.min-sponsor-trust-bps", critical)),
            sponsor_level: level_of_rank(get("membership.sponsor-level", 0)),
            max_admissions: clamp_u32(get("membership.max-admissions-per-epoch", 1)),
            max_removals: clamp_u32(get("membership.max-removals-per-epoch", 1)),
        }
    }
}

impl ReplicatedState {
    /// The admission and reconfiguration rules of the current parameters.
    pub fn membership_rules(&self) -> MembershipRules {
        MembershipRules::from_params(|k| self.params().get(k))
    }

    /// Whether `op` may be ordered at the next slot (see the module documentation).
    pub fn authorize(&self, op: &SignedOperation) -> Result<(), AuthError> {
        let len = op.encoded_len();
        if len > MAX_OPERATION_BYTES {
            return Err(AuthError::TooLarge(len));
        }
        if op.chain != self.genesis_digest() {
            return Err(AuthError::WrongChain {
                expected: self.genesis_digest(),
                got: op.chain,
            });
        }
        let slot = self.next_slot();
        if op.expires < slot {
            return Err(AuthError::Expired {
                expires: op.expires,
                slot,
            });
        }
        if op.expires > slot.saturating_add(MAX_EXPIRY_WINDOW) {
            return Err(AuthError::ExpiryTooFar {
                expires: op.expires,
                slot,
            });
        }
        let permission = Permission::of(&op.op);
        self.check_permission(&op.submitter, permission)?;
        op.verify_signature()
            .map_err(|_| AuthError::BadSignature(op.submitter))?;
        self.check_effect(&op.op)
    }

    /// Every key that may use `permission` now: the authority's keys holding a role the
    /// policy grants it to, and the eligible members if it is granted to members (what
    /// [`Self::check_permission`] allows, listed: no other key passes it).
    pub fn keys_with(&self, permission: Permission) -> BTreeSet<NodeId> {
        self.authority()
            .keys
            .iter()
            .map(|k| k.id)
            .chain(self.members().keys().copied())
            .filter(|id| self.check_permission(id, permission).is_ok())
            .collect()
    }

    /// Whether `who` holds a role the policy grants `permission` to.
    pub fn check_permission(&self, who: &NodeId, permission: Permission) -> Result<(), AuthError> {
        self.authority()
            .check(who, self.is_eligible(who), permission)
            .map_err(|allowed| AuthError::Unauthorized {
                submitter: *who,
                permission,
                allowed,
            })
    }

    /// The operation-specific rules: sponsorship, proofs, budgets, configurations.
    pub(super) fn check_effect(&self, op: &Operation) -> Result<(), AuthError> {
        match op {
            Operation::NodeAdmission(a) => {
                self.check_sponsorship(a)?;
                self.check_budget_admission()
            }
            Operation::NodeExclusion(x) if is_provable(x.reason) => self.check_proof(x).map(|_| ()),
            Operation::NodeExclusion(x) => {
                if self.is_eligible(&x.target) {
                    self.check_budget_removal()?;
                }
                Ok(())
            }
            Operation::TrustModification(t) if self.removes(t) => self.check_budget_removal(),
            Operation::NetworkConfigChange(c) if c.config_type == ConfigType::Authority => self
                .authority()
                .with_changes(&c.changes)
                .map(|_| ())
                .map_err(|e| AuthError::Configuration(e.to_string())),
            Operation::NetworkConfigChange(c) => {
                let next = self
                    .params()
                    .with_changes(c.config_type, &c.changes)
                    .map_err(|e| AuthError::Configuration(e.to_string()))?;
                // Judge the configuration the change leaves: trust parameters can move
                // members out of the eligible set, and such a move is a governance
                // removal like any other, within the epoch's budget.
                let after = self.ledger().eligible(&next.trust);
                let leaving = self
                    .eligible()
                    .iter()
                    .filter(|(id, _)| !after.iter().any(|(a, _)| a == id))
                    .count();
                if leaving > 0 {
                    let limit = self.membership_rules().max_removals;
                    let left = limit.saturating_sub(self.budget().removals);
                    if u32::try_from(leaving).unwrap_or(u32::MAX) > left {
                        return Err(AuthError::Budget {
                            what: "governance removals from the eligible set",
                            limit,
                            epoch: self.epoch(),
                        });
                    }
                }
                let trust: Vec<TrustBps> = after.into_iter().map(|(_, t)| t).collect();
                liveness::check(&next, &trust).map_err(AuthError::Configuration)?;
                // Even a batch of one operation must lead to a tally that fits a frame:
                // every member revealing the output cap.
                let members = self.members().len().max(trust.len());
                let cap = usize::try_from(next.timing.max_output_bytes).unwrap_or(usize::MAX);
                if !crate::consensus::limits::one_operation_fits(members, cap) {
                    return Err(AuthError::Configuration(format!(
                        "timing.max-output-bytes {cap} is too large for {members} members: \
                         one operation's tally could exceed a message"
                    )));
                }
                Ok(())
            }
            Operation::SecurityPolicyUpdate(u) => self.check_rollback_target(u),
            Operation::ServiceDeployment(d) => {
                if !is_name(&d.name) {
                    return Err(AuthError::Configuration(format!(
                        "a service name of {} bytes is not 1..=64 bytes of [A-Za-z0-9._-]",
                        d.name.len()
                    )));
                }
                if !self.services().contains_key(&d.name) && self.services().len() >= MAX_SERVICES {
                    return Err(AuthError::Configuration(format!(
                        "the cluster records at most {MAX_SERVICES} services: deploy under an \
                         existing name to replace one"
                    )));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A validator update's rollback target must be the module it replaces (or zero, which
    /// means that module): probation rolls back to it without any trial, so a target the
    /// update may choose is a swap that no host ever judged — a hash no node holds (every
    /// call a local fault, the role down everywhere) or a module that never ends. Checked
    /// at admission and again when applied (`check_effect`: the active module may change in
    /// between).
    fn check_rollback_target(&self, u: &crate::ops::SecurityPolicyUpdate) -> Result<(), AuthError> {
        let Some(role) = crate::ops::Role::of_domain(u.domain) else {
            return Ok(());
        };
        if role != crate::ops::Role::Validator || u.rollback_to == crate::types::Digest::default() {
            return Ok(());
        }
        let active = self.active_module(role).unwrap_or_default();
        if u.rollback_to == active {
            return Ok(());
        }
        Err(AuthError::RollbackTarget {
            role: role.world().to_string(),
            target: u.rollback_to,
            active,
        })
    }

    /// Whether a trust modification takes an eligible member below the exclusion threshold.
    pub(super) fn removes(&self, t: &TrustModification) -> bool {
        t.delta_bps < 0
            && self.is_eligible(&t.target)
            && self
                .ledger()
                .trust(&t.target)
                .saturating_sub(t.delta_bps.unsigned_abs())
                < self.params().trust.exclusion_threshold
    }

    fn check_budget_admission(&self) -> Result<(), AuthError> {
        let limit = self.membership_rules().max_admissions;
        if self.budget().admissions >= limit {
            return Err(AuthError::Budget {
                what: "admissions",
                limit,
                epoch: self.epoch(),
            });
        }
        Ok(())
    }

    fn check_budget_removal(&self) -> Result<(), AuthError> {
        let limit = self.membership_rules().max_removals;
        if self.budget().removals >= limit {
            return Err(AuthError::Budget {
                what: "governance removals from the eligible set",
                limit,
                epoch: self.epoch(),
            });
        }
        Ok(())
    }

    /// The sponsorship rules of the replicated parameters (never the submitter's).
    pub(super) fn check_sponsorship(&self, a: &NodeAdmission) -> Result<(), AuthError> {
        let rules = self.membership_rules();
        let c = &a.candidate;
        if self.member(&c.id).is_some() {
            return Err(AuthError::Sponsorship(format!(
                "{} is already a member",
                c.id
            )));
        }
        if crate::crypto::check_key(&c.id).is_err() {
            return Err(AuthError::Sponsorship(format!(
                "candidate {} is not a usable ed25519 key (canonical, not of small order)",
                c.id
            )));
        }
        if !is_name(&c.name) {
            return Err(AuthError::Sponsorship(format!(
                "a candidate name of {} bytes is not 1..=64 bytes of [A-Za-z0-9._-]",
                c.name.len()
            )));
        }
        if c.address.len() > MAX_ADDRESS_BYTES || !c.address.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AuthError::Sponsorship(format!(
                "candidate address is not at most {MAX_ADDRESS_BYTES} printable ASCII characters"
            )));
        }
        if a.sponsors.len() > 64 {
            return Err(AuthError::Sponsorship("more than 64 sponsorships".into()));
        }
        let chain = self.genesis_digest();
        let mut counted = BTreeSet::new();
        let mut best: Option<Hierarchy> = None;
        for s in &a.sponsors {
            if !counted.insert(s.sponsor) {
                return Err(AuthError::Sponsorship(format!(
                    "{} sponsors twice",
                    s.sponsor
                )));
            }
            if s.verify(&chain, c).is_err() {
                return Err(AuthError::Sponsorship(format!(
                    "{}'s sponsorship signature does not verify for this candidate",
                    s.sponsor
                )));
            }
            let Some(info) = self.member(&s.sponsor) else {
                return Err(AuthError::Sponsorship(format!(
                    "sponsor {} is not a member",
                    s.sponsor
                )));
            };
            let trust = self.ledger().trust(&s.sponsor);
            if !self.is_eligible(&s.sponsor) || trust < rules.min_sponsor_trust {
                return Err(AuthError::Sponsorship(format!(
                    "sponsor {} has trust {trust}, the rules need an eligible sponsor with {}",
                    s.sponsor, rules.min_sponsor_trust
                )));
            }
            if best.is_none_or(|b| info.level.is_above(b)) {
                best = Some(info.level);
            }
        }
        if counted.len() < rules.min_sponsors as usize {
            return Err(AuthError::Sponsorship(format!(
                "{} valid sponsorships, membership.min-sponsors is {}",
                counted.len(),
                rules.min_sponsors
            )));
        }
        let need = if c.level.is_above(rules.sponsor_level) {
            c.level
        } else {
            rules.sponsor_level
        };
        match best {
            Some(b) if !need.is_above(b) => Ok(()),
            _ => Err(AuthError::Sponsorship(format!(
                "no sponsor at level {need} or above (the candidate asks for {})",
                c.level
            ))),
        }
    }

    /// A provable exclusion: a proof of the evidence kind its reason names, decoded and
    /// verified by the host, against the target, about a slot since the target joined, and
    /// not applied before. Returns the proof's identity.
    pub(super) fn check_proof(
        &self,
        x: &NodeExclusion,
    ) -> Result<(NodeId, Slot, &'static str), AuthError> {
        let kind = match x.reason {
            ExclusionReason::Equivocation => EvidenceKind::ConflictingVotes,
            _ => EvidenceKind::BadReveal,
        };
        let Some(info) = self.member(&x.target) else {
            return Err(AuthError::Evidence(format!("{} is not a member", x.target)));
        };
        let mut last = format!("no {kind:?} evidence");
        for ev in x.evidence.iter().filter(|e| e.kind == kind) {
            let proof = match Misbehaviour::decode(&ev.payload) {
                Ok(p) => p,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let expected = matches!(
                (&proof, kind),
                (
                    Misbehaviour::ConflictingVotes { .. },
                    EvidenceKind::ConflictingVotes
                ) | (Misbehaviour::BadReveal { .. }, EvidenceKind::BadReveal)
            );
            if !expected {
                last = "the proof is of another kind than the reason".into();
                continue;
            }
            match proof.verify() {
                Ok(offender) if offender == x.target => {}
                Ok(offender) => {
                    last = format!("the proof is against {offender}, not {}", x.target);
                    continue;
                }
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            }
            let Some(key) = proof.key() else {
                last = "the proof names no slot".into();
                continue;
            };
            // Not about a slot still to come: votes for a far slot can be signed ahead,
            // and a proof recorded early would shield the equivocation it describes
            // later (`proofs` applies each (offender, slot, kind) once).
            // (At most one past the next slot, as proofs in proposals: `proof_unfit`.)
            if key.1 > self.next_slot().saturating_add(1) {
                last = format!(
                    "the proof is about slot {}, more than one after the next slot {}",
                    key.1,
                    self.next_slot()
                );
                continue;
            }
            if key.1 < info.joined {
                last = format!(
                    "the proof is about slot {}, before {} joined at slot {}",
                    key.1, x.target, info.joined
                );
                continue;
            }
            if self.proof_applied(&key) {
                last = format!("the proof of slot {} was applied already", key.1);
                continue;
            }
            return Ok(key);
        }
        Err(AuthError::Evidence(last))
    }
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
