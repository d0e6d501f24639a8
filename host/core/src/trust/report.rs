//! What the consensus machine reports about each decided slot, and what the ledger did.

use serde::{Deserialize, Serialize};

use super::ExclusionCause;
use crate::ops::TrustReason;
use crate::types::{NodeId, Slot, TrustBps};

/// How one eligible member took part in a decided slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Participation {
    /// Revealed the canonical result.
    Agreed,
    /// Revealed a different (well-formed, commitment-opening) result.
    Dissented,
    /// Committed to the decided batch and never revealed (quorum-attested).
    CommittedNoReveal,
    /// Sent no signed message of the slot (quorum-attested).
    Silent,
    /// Provably signed two different votes for the slot (evidence checked).
    Equivocated,
    /// Provably revealed something that does not open its signed commitment.
    BadReveal,
}

impl Participation {
    /// Severity used when a node appears more than once in a report: the worst wins.
    pub fn severity(self) -> u8 {
        match self {
            Participation::Agreed => 0,
            Participation::Silent => 1,
            Participation::Dissented => 2,
            Participation::CommittedNoReveal => 3,
            Participation::BadReveal => 4,
            Participation::Equivocated => 5,
        }
    }

    /// Whether this is provable misbehaviour (maximal penalty plus exclusion).
    pub fn is_misbehaviour(self) -> bool {
        matches!(self, Participation::Equivocated | Participation::BadReveal)
    }
}

/// The consensus machine's account of one decided slot.
///
/// It must be a deterministic function of the slot's certified data (the certificate and
/// verified evidence), so every node feeds the same report to its ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoundReport {
    /// The decided slot.
    pub slot: Slot,
    /// The decider: the primary that proposed the decided batch. It is the source of the
    /// slot's trust events for hierarchy propagation (see `propagation.rs`).
    pub source: NodeId,
    /// Each member's participation. Unknown nodes are ignored; a node listed twice counts
    /// with its most severe entry.
    pub participants: Vec<(NodeId, Participation)>,
    /// Absences of earlier slots proven by a quorum of attestations and recorded with
    /// this slot (`Silent` or `CommittedNoReveal`), each applied on its own after the
    /// participants (a member absent once and agreeing now gets both).
    #[serde(default)]
    pub absences: Vec<(NodeId, Participation)>,
}

/// What caused a trust change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustCause {
    /// Participation in a decided slot.
    Round(Participation),
    /// A decided trust-modification operation.
    Governance(TrustReason),
    /// Recovery at an epoch boundary.
    Recovery,
    /// A decided exclusion operation.
    Exclusion(ExclusionCause),
    /// A decided admission.
    Admission,
    /// Re-evaluation after a trust-parameter change.
    ParamsChanged,
}

/// A change of a node's eligibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusChange {
    /// The node left the eligible set.
    Excluded(ExclusionCause),
    /// The node re-entered the eligible set.
    Readmitted,
}

/// One change the ledger made (for logs, metrics and the devnet summary).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrustChange {
    /// Whose trust changed.
    pub node: NodeId,
    /// Why.
    pub cause: TrustCause,
    /// Trust before.
    pub before: TrustBps,
    /// Trust after.
    pub after: TrustBps,
    /// Eligibility change, if any.
    pub status: Option<StatusChange>,
}

impl TrustChange {
    /// Signed delta in basis points.
    pub fn delta(&self) -> i64 {
        i64::from(self.after) - i64::from(self.before)
    }
}

impl std::fmt::Display for TrustChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} trust {} -> {} ({:+}) by {:?}",
            self.node,
            self.before,
            self.after,
            self.delta(),
            self.cause
        )?;
        match self.status {
            Some(StatusChange::Excluded(c)) => write!(f, ", excluded ({c:?})"),
            Some(StatusChange::Readmitted) => write!(f, ", readmitted"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_changes_print_for_logs() {
        let c = TrustChange {
            node: NodeId([0xab; 32]),
            cause: TrustCause::Round(Participation::Dissented),
            before: 5_000,
            after: 4_640,
            status: Some(StatusChange::Excluded(ExclusionCause::LowTrust)),
        };
        assert_eq!(
            c.to_string(),
            "abababab trust 5000 -> 4640 (-360) by Round(Dissented), excluded (LowTrust)"
        );
    }
}
