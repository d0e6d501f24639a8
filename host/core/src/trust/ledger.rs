//! The trust ledger: every member's score and eligibility, changed only by decided entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::propagation::{multiplier_per_mille, scale_gain, scale_penalty};
use super::{Participation, RoundReport, StatusChange, TrustCause, TrustChange, TrustParams};
use crate::ops::TrustReason;
use crate::types::{Epoch, Hierarchy, NodeId, TrustBps};

/// Why a node left the eligible set (ordered by severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionCause {
    /// Its trust fell below the exclusion threshold; it recovers by bounded gains per
    /// epoch and is readmitted at the readmission threshold.
    LowTrust,
    /// A decided node-exclusion operation; no automatic recovery.
    Governance,
    /// Provable equivocation or a bad reveal: trust set to zero; no automatic recovery.
    Misbehaviour,
}

/// A node's eligibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Eligible (trust at or above the exclusion threshold).
    Active,
    /// Not eligible, and why.
    Excluded(ExclusionCause),
}

/// One member's trust record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrustEntry {
    /// Hierarchy level (for propagation multipliers).
    pub level: Hierarchy,
    /// Current score.
    pub trust: TrustBps,
    /// Eligibility.
    pub status: Status,
    /// Trust gained so far in the current epoch (bounded by `epoch_gain_cap`).
    pub gained_this_epoch: TrustBps,
}

impl TrustEntry {
    /// Whether the node is in the eligible set.
    pub fn is_eligible(&self, params: &TrustParams) -> bool {
        self.status == Status::Active && self.trust >= params.exclusion_threshold
    }

    /// Whether the node counts as high-trust (eligible and at or above the critical
    /// threshold).
    pub fn is_high_trust(&self, params: &TrustParams) -> bool {
        self.is_eligible(params) && self.trust >= params.critical_threshold
    }
}

/// The replicated trust ledger. All arithmetic is integer basis points.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrustLedger {
    epoch: Epoch,
    entries: BTreeMap<NodeId, TrustEntry>,
}

/// A change in the making: records `before` and builds the [`TrustChange`] if anything moved.
struct Pending {
    node: NodeId,
    before: TrustBps,
    status_before: Status,
}

impl Pending {
    fn start(node: NodeId, e: &TrustEntry) -> Self {
        Pending {
            node,
            before: e.trust,
            status_before: e.status,
        }
    }

    fn finish(self, e: &TrustEntry, cause: TrustCause) -> Option<TrustChange> {
        let status = match (self.status_before, e.status) {
            (a, b) if a == b => None,
            (_, Status::Excluded(c)) => Some(StatusChange::Excluded(c)),
            (_, Status::Active) => Some(StatusChange::Readmitted),
        };
        (status.is_some() || self.before != e.trust).then_some(TrustChange {
            node: self.node,
            cause,
            before: self.before,
            after: e.trust,
            status,
        })
    }
}

impl TrustLedger {
    /// An empty ledger at `epoch`.
    pub fn new(epoch: Epoch) -> Self {
        TrustLedger {
            epoch,
            entries: BTreeMap::new(),
        }
    }

    /// The epoch the ledger has advanced to.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Every entry, ascending by node id.
    pub fn entries(&self) -> &BTreeMap<NodeId, TrustEntry> {
        &self.entries
    }

    /// One entry.
    pub fn get(&self, id: &NodeId) -> Option<&TrustEntry> {
        self.entries.get(id)
    }

    /// A node's trust (0 for unknown nodes).
    pub fn trust(&self, id: &NodeId) -> TrustBps {
        self.entries.get(id).map_or(0, |e| e.trust)
    }

    /// Whether `id` is an eligible member.
    pub fn is_eligible(&self, id: &NodeId, params: &TrustParams) -> bool {
        self.entries.get(id).is_some_and(|e| e.is_eligible(params))
    }

    /// The eligible members with their trust, ascending by node id.
    pub fn eligible(&self, params: &TrustParams) -> Vec<(NodeId, TrustBps)> {
        self.entries
            .iter()
            .filter(|(_, e)| e.is_eligible(params))
            .map(|(id, e)| (*id, e.trust))
            .collect()
    }

    /// Add a genesis member with its configured trust (clamped to `params.max`); a member
    /// below the exclusion threshold starts excluded for low trust. Returns false if the
    /// node already exists.
    pub fn insert_genesis(
        &mut self,
        id: NodeId,
        level: Hierarchy,
        trust: TrustBps,
        params: &TrustParams,
    ) -> bool {
        if self.entries.contains_key(&id) {
            return false;
        }
        let trust = trust.min(params.max);
        let status = if trust >= params.exclusion_threshold {
            Status::Active
        } else {
            Status::Excluded(ExclusionCause::LowTrust)
        };
        self.entries.insert(
            id,
            TrustEntry {
                level,
                trust,
                status,
                gained_this_epoch: 0,
            },
        );
        true
    }

    /// Admit a newcomer at `params.initial` (below the critical threshold). `None` if the
    /// node is already a member.
    pub fn admit(
        &mut self,
        id: NodeId,
        level: Hierarchy,
        params: &TrustParams,
    ) -> Option<TrustChange> {
        if self.entries.contains_key(&id) {
            return None;
        }
        let entry = TrustEntry {
            level,
            trust: params.initial,
            status: Status::Active,
            gained_this_epoch: 0,
        };
        let change = TrustChange {
            node: id,
            cause: TrustCause::Admission,
            before: 0,
            after: entry.trust,
            status: None,
        };
        self.entries.insert(id, entry);
        Some(change)
    }

    /// Apply one decided slot's report (rules in docs/TRUST.md, "Rounds").
    ///
    /// Nodes are processed in ascending id order; unknown nodes are ignored; a node listed
    /// more than once counts with its most severe participation. Only provable
    /// misbehaviour affects nodes that are not eligible.
    pub fn apply_round(&mut self, report: &RoundReport, params: &TrustParams) -> Vec<TrustChange> {
        let mut worst: BTreeMap<NodeId, Participation> = BTreeMap::new();
        for (id, p) in &report.participants {
            let slot = worst.entry(*id).or_insert(*p);
            if p.severity() > slot.severity() {
                *slot = *p;
            }
        }
        // Unknown sources propagate as peers.
        let source_level = self.entries.get(&report.source).map(|e| e.level);
        let mut changes = Vec::new();
        let absences = report
            .absences
            .iter()
            .filter(|(_, p)| matches!(p, Participation::Silent | Participation::CommittedNoReveal));
        for (id, p) in worst.into_iter().chain(absences.copied()) {
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            if !p.is_misbehaviour() && !e.is_eligible(params) {
                continue;
            }
            let m = source_level.map_or(1000, |s| multiplier_per_mille(s, e.level));
            let pending = Pending::start(id, e);
            match p {
                Participation::Agreed => gain(e, scale_gain(params.agreement_gain, m), params),
                Participation::Dissented => {
                    e.trust = e
                        .trust
                        .saturating_sub(scale_penalty(params.dissent_penalty, m))
                }
                Participation::CommittedNoReveal => {
                    e.trust = e
                        .trust
                        .saturating_sub(scale_penalty(params.no_reveal_penalty, m))
                }
                Participation::Silent => {
                    e.trust = e
                        .trust
                        .saturating_sub(scale_penalty(params.silence_penalty, m))
                }
                Participation::Equivocated | Participation::BadReveal => {
                    e.trust = 0;
                    e.status = Status::Excluded(ExclusionCause::Misbehaviour);
                }
            }
            enforce_threshold(e, params);
            changes.extend(pending.finish(e, TrustCause::Round(p)));
        }
        changes
    }

    /// Apply a decided trust modification: negative deltas apply in full (down to 0);
    /// positive ones are bounded by the target's remaining epoch gain and `params.max`.
    /// A `RecoveryGrant` also turns a misbehaviour or governance exclusion into a
    /// low-trust exclusion, so the node can recover (readmission still only at an epoch
    /// boundary, see [`Self::advance_epoch`]).
    pub fn modify(
        &mut self,
        target: &NodeId,
        delta_bps: i32,
        reason: TrustReason,
        params: &TrustParams,
    ) -> Option<TrustChange> {
        let e = self.entries.get_mut(target)?;
        let pending = Pending::start(*target, e);
        let magnitude = delta_bps.unsigned_abs();
        if delta_bps < 0 {
            e.trust = e.trust.saturating_sub(magnitude);
        } else {
            gain(e, magnitude, params);
        }
        if reason == TrustReason::RecoveryGrant
            && matches!(e.status, Status::Excluded(c) if c != ExclusionCause::LowTrust)
        {
            e.status = Status::Excluded(ExclusionCause::LowTrust);
        }
        enforce_threshold(e, params);
        pending.finish(e, TrustCause::Governance(reason))
    }

    /// Exclude a node by a decided exclusion operation. `Misbehaviour` also sets its trust
    /// to zero. An already excluded node keeps the more severe cause.
    pub fn exclude(
        &mut self,
        target: &NodeId,
        cause: ExclusionCause,
        params: &TrustParams,
    ) -> Option<TrustChange> {
        let e = self.entries.get_mut(target)?;
        let pending = Pending::start(*target, e);
        if cause == ExclusionCause::Misbehaviour {
            e.trust = 0;
        }
        e.status = match e.status {
            Status::Excluded(old) if old > cause => Status::Excluded(old),
            _ => Status::Excluded(cause),
        };
        enforce_threshold(e, params);
        pending.finish(e, TrustCause::Exclusion(cause))
    }

    /// Move to `epoch` (no-op unless it is later): reset every node's epoch gain, give
    /// each low-trust-excluded node `recovery_per_epoch` per elapsed epoch, and readmit
    /// those that reach the readmission threshold. Nodes excluded for misbehaviour or by
    /// governance do not recover on their own.
    pub fn advance_epoch(&mut self, epoch: Epoch, params: &TrustParams) -> Vec<TrustChange> {
        if epoch <= self.epoch {
            return Vec::new();
        }
        let elapsed = epoch - self.epoch;
        self.epoch = epoch;
        let mut changes = Vec::new();
        for (id, e) in &mut self.entries {
            e.gained_this_epoch = 0;
            if e.status != Status::Excluded(ExclusionCause::LowTrust) {
                continue;
            }
            let pending = Pending::start(*id, e);
            let total = u64::from(params.recovery_per_epoch).saturating_mul(elapsed);
            let room = params.max.saturating_sub(e.trust);
            let add = u32::try_from(total.min(u64::from(room))).unwrap_or(room);
            e.trust += add;
            // Only the newest epoch's share counts against its cap.
            e.gained_this_epoch = add.min(params.recovery_per_epoch);
            if e.trust >= params.readmission_threshold && e.trust >= params.exclusion_threshold {
                e.status = Status::Active;
            }
            changes.extend(pending.finish(e, TrustCause::Recovery));
        }
        changes
    }

    /// Re-apply the bounds after a trust-parameter change: clamp to the new maximum and
    /// exclude eligible nodes now below the exclusion threshold.
    pub fn reevaluate(&mut self, params: &TrustParams) -> Vec<TrustChange> {
        let mut changes = Vec::new();
        for (id, e) in &mut self.entries {
            let pending = Pending::start(*id, e);
            e.trust = e.trust.min(params.max);
            enforce_threshold(e, params);
            changes.extend(pending.finish(e, TrustCause::ParamsChanged));
        }
        changes
    }
}

/// Add up to `amount`, bounded by the epoch cap and the maximum.
fn gain(e: &mut TrustEntry, amount: TrustBps, params: &TrustParams) {
    let room_epoch = params.epoch_gain_cap.saturating_sub(e.gained_this_epoch);
    let room_max = params.max.saturating_sub(e.trust);
    let add = amount.min(room_epoch).min(room_max);
    e.trust += add;
    e.gained_this_epoch += add;
}

/// Exclude an eligible node that fell below the threshold.
fn enforce_threshold(e: &mut TrustEntry, params: &TrustParams) {
    if e.status == Status::Active && e.trust < params.exclusion_threshold {
        e.status = Status::Excluded(ExclusionCause::LowTrust);
    }
}
