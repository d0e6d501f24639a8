//! What applying a decided slot changed (for logs, metrics and the devnet summary).

use serde::{Deserialize, Serialize};

use crate::ops::{ConfigType, Outcome, Param, Role, SecurityDomain};
use crate::trust::TrustChange;
use crate::types::{Digest, Epoch, Hierarchy, NodeId, Slot};

/// One effect of a decided slot on the replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateChange {
    /// A new epoch began with this slot.
    EpochStarted {
        /// The new epoch.
        epoch: Epoch,
        /// Its first slot.
        first_slot: Slot,
    },
    /// A trust score or eligibility changed.
    Trust(TrustChange),
    /// A node joined (eligible from the next slot).
    MemberAdmitted {
        /// The newcomer.
        id: NodeId,
        /// Its level.
        level: Hierarchy,
    },
    /// Parameters changed (in force from the next slot).
    ParamsChanged {
        /// The part of the configuration.
        config_type: ConfigType,
        /// The values set.
        changes: Vec<Param>,
    },
    /// The active module of a role changed (used from the next slot).
    ModuleSwapped {
        /// The role.
        role: Role,
        /// The module that was active (kept for rollback).
        from: Digest,
        /// The module now active.
        to: Digest,
    },
    /// A module on probation failed too often: every node rolled it back at this slot.
    ModuleRolledBack {
        /// The role.
        role: Role,
        /// The module rolled back (it failed on probation).
        from: Digest,
        /// The module active again.
        to: Digest,
        /// Why (failed calls of all calls during the probation).
        reason: String,
    },
    /// A non-module security policy changed.
    PolicySwapped {
        /// The domain.
        domain: SecurityDomain,
        /// The policy now active.
        to: Digest,
    },
    /// An authority or compute operation was recorded (no membership/trust effect).
    Recorded {
        /// The operation kind (WIT case name).
        kind: String,
        /// The operation digest.
        op: Digest,
    },
    /// An accepted operation had no effect, and why (e.g. admitting an existing member).
    Ignored {
        /// The operation kind.
        kind: String,
        /// Why.
        reason: String,
    },
    /// The operation was rejected or failed; nothing changed.
    NotApplied {
        /// The operation kind.
        kind: String,
        /// The agreed outcome.
        outcome: Outcome,
    },
}

impl std::fmt::Display for StateChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateChange::EpochStarted { epoch, first_slot } => {
                write!(f, "epoch {epoch} started at slot {first_slot}")
            }
            StateChange::Trust(c) => write!(f, "{c}"),
            StateChange::MemberAdmitted { id, level } => write!(f, "{id} admitted as {level}"),
            StateChange::ParamsChanged {
                config_type,
                changes,
            } => {
                write!(f, "{config_type:?} parameters changed:")?;
                for p in changes {
                    write!(f, " {}={}", p.key, p.value)?;
                }
                Ok(())
            }
            StateChange::ModuleSwapped { role, from, to } => {
                write!(f, "{role} module swapped {:?} -> {:?}", from, to)
            }
            StateChange::ModuleRolledBack {
                role,
                from,
                to,
                reason,
            } => write!(f, "{role} module rolled back {from:?} -> {to:?}: {reason}"),
            StateChange::PolicySwapped { domain, to } => write!(f, "{domain:?} policy now {to:?}"),
            StateChange::Recorded { kind, op } => write!(f, "{kind} recorded ({op:?})"),
            StateChange::Ignored { kind, reason } => {
                write!(f, "{kind} accepted but ignored: {reason}")
            }
            StateChange::NotApplied { kind, outcome } => match outcome {
                Outcome::Rejected { code, reason } => {
                    write!(f, "{kind} rejected ({code:?}): {reason}")
                }
                Outcome::Failed(kind_) => write!(f, "{kind} failed: {kind_:?}"),
                Outcome::Regressed(kind_) => {
                    write!(
                        f,
                        "{kind} failed where the module it replaced did not: {kind_:?}"
                    )
                }
                Outcome::Accepted(_) => write!(f, "{kind} not applied"),
            },
        }
    }
}
