//! Applying decided slots: the deterministic effect of each decided operation.
//!
//! # Rules
//! Only `Accepted` outcomes change membership, trust, parameters or modules; every
//! outcome (rejected and failed included) enters the history chain and the per-kind
//! counters. Accepted operations whose effect is impossible (an unknown target, an
//! existing member, a configuration that does not validate, the exclusion of the last
//! eligible member) change nothing and yield [`StateChange::Ignored`].

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::{MemberInfo, ModuleSlot, ReplicatedState, ServiceRecord, StateChange, StateError};
use crate::crypto::{Canonical, sha256_parts};
use crate::ops::{ConfigType, ExclusionReason, Operation, Outcome, Role};
use crate::trust::{ExclusionCause, RoundReport};
use crate::types::{NodeId, Slot};

impl ReplicatedState {
    /// Exclude the culprits of a recovery (`consensus::recovery`): as for proven
    /// misbehaviour, trust zero and no automatic readmission; outside any epoch budget (a
    /// quorum of the remaining members signed for it).
    pub fn exclude_culprits(&mut self, culprits: &[NodeId]) -> Vec<StateChange> {
        let tp = self.params.trust.clone();
        let changes = culprits
            .iter()
            .filter_map(|c| {
                self.ledger
                    .exclude(c, ExclusionCause::Misbehaviour, &tp)
                    .map(StateChange::Trust)
            })
            .collect();
        self.derived.clear();
        changes
    }

    /// Apply decided slot `slot`: the epoch boundary, then `report`, then every
    /// `(operation, outcome)` of its batch in order. Slots must increase; gaps are
    /// allowed (a slot that decided nothing need not be applied).
    ///
    /// Every outcome counts towards a validator's probation as a quorum's, all of one
    /// submitter (the zero id): see [`Self::apply_slot_judged`] for real entries.
    pub fn apply_slot(
        &mut self,
        slot: Slot,
        batch: &[(Operation, Outcome)],
        report: Option<&RoundReport>,
    ) -> Result<Vec<StateChange>, StateError> {
        self.apply_slot_judged(slot, batch, report, &|_| Some(NodeId::default()))
    }

    /// [`Self::apply_slot`], where `judge(i)` names the submitter of outcome `i` when a
    /// quorum agreed on it, and only those outcomes count towards a validator's
    /// probation, by submitter. An outcome one layer decided alone (the primary on the
    /// High path, the seed on Medium, or a resolver's pick) may be a Byzantine member's:
    /// three `Failed` reveals of a primary would otherwise roll back every node's
    /// validator. And a submitter is one voice however many operations it sends: one
    /// client that feeds the module inputs it fails on (out of fuel on large ones) would
    /// otherwise roll back a swap the governors decided.
    pub fn apply_slot_judged(
        &mut self,
        slot: Slot,
        batch: &[(Operation, Outcome)],
        report: Option<&RoundReport>,
        judge: &dyn Fn(usize) -> Option<NodeId>,
    ) -> Result<Vec<StateChange>, StateError> {
        if slot < self.next_slot {
            return Err(StateError::AlreadyApplied {
                slot,
                next: self.next_slot,
            });
        }
        if let Some(r) = report.filter(|r| r.slot != slot) {
            return Err(StateError::ReportSlotMismatch {
                slot,
                report: r.slot,
            });
        }
        // Forgotten before the first change and again once the slot is applied: nothing
        // below reads the rotation today, and a read added later would then compute a
        // half-applied one only for its own use, never keep it.
        self.derived.clear();
        let mut changes = Vec::new();
        self.advance_to(slot, &mut changes);
        if let Some(r) = report {
            changes.extend(
                self.ledger
                    .apply_round(r, &self.params.trust)
                    .into_iter()
                    .map(StateChange::Trust),
            );
        }
        self.observe_probation(slot, batch, judge, &mut changes);
        for (op, outcome) in batch {
            self.apply_operation(slot, op, outcome, &mut changes);
        }
        self.next_slot = slot.saturating_add(1);
        self.derived.clear();
        Ok(changes)
    }

    /// Count the outcomes of a validator on probation (decided in `slot`, so computed by
    /// it) by submitter, and roll it back, at this slot on every node, once at least
    /// [`super::PROBATION_MIN_SUBMITTERS`] submitters were judged and more than
    /// `timing.rollback-failure-bps` of them saw most of their calls regress (fail where the replaced module does not). The probation
    /// ends after `timing.probation-slots` slots.
    fn observe_probation(
        &mut self,
        slot: Slot,
        batch: &[(Operation, Outcome)],
        judge: &dyn Fn(usize) -> Option<NodeId>,
        changes: &mut Vec<StateChange>,
    ) {
        let Some(p) = self.probation.as_mut() else {
            return;
        };
        if slot > p.until {
            self.probation = None;
            return;
        }
        if !p.covers(slot) {
            return;
        }
        for (submitter, outcome) in batch
            .iter()
            .enumerate()
            .filter_map(|(i, (_, o))| judge(i).map(|s| (s, o)))
        {
            // Only a failure the replaced module did not have counts: inputs that fail
            // every module (a submitter's own oversized or pathological operations) say
            // nothing about the swap.
            let failed = u64::from(matches!(outcome, Outcome::Regressed(_)));
            let seen = p.submitters.entry(submitter).or_insert((0, 0));
            seen.0 += 1;
            seen.1 += failed;
        }
        let share = self.params.timing.rollback_failure_bps;
        let judged = p.submitters.len() as u64;
        let failing = p
            .submitters
            .values()
            .filter(|(calls, failures)| failures.saturating_mul(2) > *calls)
            .count() as u64;
        if judged >= super::PROBATION_MIN_SUBMITTERS
            && failing.saturating_mul(10_000) > judged.saturating_mul(share)
        {
            let (from, to) = (p.module, p.rollback_to);
            let (calls, failures) = p
                .submitters
                .values()
                .fold((0u64, 0u64), |(c, f), (sc, sf)| (c + sc, f + sf));
            let reason = format!(
                "{failing} of {judged} submitters saw most of their calls regress during its \
                 probation ({failures} of {calls} calls; limit {share} bps of submitters)"
            );
            self.probation = None;
            if let Some(m) = self.modules.get_mut(&Role::Validator)
                && m.active == from
            {
                *m = ModuleSlot {
                    active: to,
                    previous: Some(from),
                    since: slot.saturating_add(1),
                };
                changes.push(StateChange::ModuleRolledBack {
                    role: Role::Validator,
                    from,
                    to,
                    reason,
                });
            }
        }
    }

    /// After `timing.slots-per-epoch` changed in `slot`: the current epoch goes on under
    /// the new length, but a boundary the new length would have passed already is not
    /// opened after the fact; the next epoch starts at the next slot instead. (Counted
    /// from the epoch's start, a shorter length opened many epochs at once: each a
    /// refill of the removal and admission budgets and a round of trust recovery.) Until
    /// that boundary `epoch_start` is an anchor, not the epoch's first slot; the boundary
    /// makes it one again.
    fn reanchor_epoch(&mut self, slot: Slot, old_len: u64) {
        let len = self.params.timing.slots_per_epoch.max(1);
        if len != old_len && self.epoch_start.saturating_add(len) <= slot {
            self.epoch_start = slot.saturating_add(1).saturating_sub(len);
        }
    }

    /// Open every epoch boundary up to `slot`.
    fn advance_to(&mut self, slot: Slot, changes: &mut Vec<StateChange>) {
        let epoch = self.epoch_at(slot);
        if epoch == self.epoch {
            return;
        }
        let len = self.params.timing.slots_per_epoch.max(1);
        let elapsed = epoch - self.epoch;
        self.epoch_start = self.epoch_start.saturating_add(elapsed.saturating_mul(len));
        self.epoch = epoch;
        self.budget = super::EpochBudget::default();
        changes.push(StateChange::EpochStarted {
            epoch,
            first_slot: self.epoch_start,
        });
        changes.extend(
            self.ledger
                .advance_epoch(epoch, &self.params.trust)
                .into_iter()
                .map(StateChange::Trust),
        );
    }

    fn apply_operation(
        &mut self,
        slot: Slot,
        op: &Operation,
        outcome: &Outcome,
        changes: &mut Vec<StateChange>,
    ) {
        let op_digest = op.digest();
        let slot_bytes = slot.to_le_bytes();
        self.history = sha256_parts(&[
            &self.history.0,
            &slot_bytes,
            &op_digest.0,
            &outcome.digest().0,
        ]);
        *self.decided.entry(op.kind_name().to_string()).or_insert(0) += 1;
        let kind = op.kind_name().to_string();
        if !outcome.is_accepted() {
            changes.push(StateChange::NotApplied {
                kind,
                outcome: outcome.clone(),
            });
            return;
        }
        let ignored = |reason: &str| StateChange::Ignored {
            kind: op.kind_name().to_string(),
            reason: reason.to_string(),
        };
        // The host's rules hold whatever the validator module said, and hold for the batch
        // as applied: an earlier operation of the same slot may have spent the budget,
        // used the proof or removed a sponsor.
        if let Err(e) = self.check_effect(op) {
            changes.push(ignored(&e.to_string()));
            return;
        }
        let tp = self.params.trust.clone();
        match op {
            Operation::NetworkConfigChange(c) if c.config_type == ConfigType::Authority => {
                match self.authority.with_changes(&c.changes) {
                    Ok(next) => {
                        self.authority = next;
                        changes.push(StateChange::ParamsChanged {
                            config_type: c.config_type,
                            changes: c.changes.clone(),
                        });
                    }
                    Err(e) => changes.push(ignored(&e.to_string())),
                }
            }
            Operation::NetworkConfigChange(c) => {
                match self.params.with_changes(c.config_type, &c.changes) {
                    Ok(next) => {
                        let before = self.eligible().len();
                        let after = self.ledger.eligible(&next.trust).len();
                        let removed = u32::try_from(before.saturating_sub(after)).unwrap_or(0);
                        self.budget.removals = self.budget.removals.saturating_add(removed);
                        let old_len = self.params.timing.slots_per_epoch;
                        self.params = next;
                        self.reanchor_epoch(slot, old_len);
                        changes.push(StateChange::ParamsChanged {
                            config_type: c.config_type,
                            changes: c.changes.clone(),
                        });
                        let tp = self.params.trust.clone();
                        changes.extend(
                            self.ledger
                                .reevaluate(&tp)
                                .into_iter()
                                .map(StateChange::Trust),
                        );
                    }
                    Err(e) => changes.push(ignored(&e.to_string())),
                }
            }
            Operation::TrustModification(t) => {
                if !self.members.contains_key(&t.target) {
                    changes.push(ignored("unknown node"));
                } else {
                    if self.removes(t) {
                        self.budget.removals = self.budget.removals.saturating_add(1);
                    }
                    if let Some(c) = self.ledger.modify(&t.target, t.delta_bps, t.reason, &tp) {
                        changes.push(StateChange::Trust(c));
                    }
                }
            }
            Operation::NodeAdmission(a) => {
                let id = a.candidate.id;
                let full = self
                    .params
                    .get("membership.max-members")
                    .is_some_and(|max| {
                        i64::try_from(self.members.len()).unwrap_or(i64::MAX) >= max
                    });
                // Every member's reveal rides in a tally, and every member's view change in
                // a new-view: past this size one operation's worst-case tally would not fit
                // a frame (about 98 members at the default output cap of 16 KiB).
                let cap =
                    usize::try_from(self.params.timing.max_output_bytes).unwrap_or(usize::MAX);
                let too_many =
                    !crate::consensus::limits::one_operation_fits(self.members.len() + 1, cap);
                match self.members.entry(id) {
                    Entry::Occupied(_) => changes.push(ignored("already a member")),
                    Entry::Vacant(_) if full => {
                        changes.push(ignored("membership.max-members reached"))
                    }
                    Entry::Vacant(_) if too_many => changes.push(ignored(
                        "one more member and one operation's worst-case tally would not fit a \
                         frame at timing.max-output-bytes",
                    )),
                    Entry::Vacant(v) => {
                        let c = a.candidate.clone();
                        v.insert(MemberInfo {
                            level: c.level,
                            name: c.name,
                            address: c.address,
                            joined: slot,
                            founder: false,
                        });
                        self.budget.admissions = self.budget.admissions.saturating_add(1);
                        changes.push(StateChange::MemberAdmitted { id, level: c.level });
                        changes.extend(self.ledger.admit(id, c.level, &tp).map(StateChange::Trust));
                    }
                }
            }
            Operation::NodeExclusion(x) => {
                let cause = match x.reason {
                    ExclusionReason::Equivocation | ExclusionReason::InvalidReveal => {
                        ExclusionCause::Misbehaviour
                    }
                    ExclusionReason::LowTrust
                    | ExclusionReason::Unresponsive
                    | ExclusionReason::GovernanceDecision => ExclusionCause::Governance,
                };
                let eligible = self.is_eligible(&x.target);
                let last = eligible && self.eligible().len() <= 1;
                if !self.members.contains_key(&x.target) {
                    changes.push(ignored("unknown node"));
                } else if last {
                    changes.push(ignored("would leave no eligible member"));
                } else {
                    if super::is_provable(x.reason) {
                        if let Ok(key) = self.check_proof(x) {
                            self.proofs.insert((key.0, key.1, key.2.to_string()));
                        }
                    } else if eligible {
                        self.budget.removals = self.budget.removals.saturating_add(1);
                    }
                    if let Some(c) = self.ledger.exclude(&x.target, cause, &tp) {
                        changes.push(StateChange::Trust(c));
                    }
                }
            }
            Operation::SecurityPolicyUpdate(u) => {
                let since = slot.saturating_add(1);
                match Role::of_domain(u.domain) {
                    Some(role) => match self.modules.get_mut(&role) {
                        Some(m) if m.active == u.new_policy => {
                            changes.push(ignored("module already active"))
                        }
                        Some(m) => {
                            let from = m.active;
                            *m = ModuleSlot {
                                active: u.new_policy,
                                previous: Some(from),
                                since,
                            };
                            if role == Role::Validator {
                                let rollback_to =
                                    if u.rollback_to == crate::types::Digest::default() {
                                        from
                                    } else {
                                        u.rollback_to
                                    };
                                self.probation = Some(super::Probation {
                                    module: u.new_policy,
                                    rollback_to,
                                    since,
                                    until: since
                                        .saturating_add(self.params.timing.probation_slots)
                                        .saturating_sub(1),
                                    submitters: BTreeMap::new(),
                                });
                            }
                            changes.push(StateChange::ModuleSwapped {
                                role,
                                from,
                                to: u.new_policy,
                            });
                        }
                        None => changes.push(ignored("no module for role")),
                    },
                    None => {
                        let previous = self.transport_policy.as_ref().map(|m| m.active);
                        if previous == Some(u.new_policy) {
                            changes.push(ignored("policy already active"));
                        } else {
                            self.transport_policy = Some(ModuleSlot {
                                active: u.new_policy,
                                previous,
                                since,
                            });
                            changes.push(StateChange::PolicySwapped {
                                domain: u.domain,
                                to: u.new_policy,
                            });
                        }
                    }
                }
            }
            Operation::ServiceDeployment(d) => {
                self.services.insert(
                    d.name.clone(),
                    ServiceRecord {
                        artifact: d.artifact,
                        replicas: d.replicas,
                        slot,
                    },
                );
                changes.push(StateChange::Recorded {
                    kind,
                    op: op_digest,
                });
            }
            Operation::ResourceAllocation(_)
            | Operation::MaintenanceTask(_)
            | Operation::PerformanceOptimization(_)
            | Operation::Compute(_) => changes.push(StateChange::Recorded {
                kind,
                op: op_digest,
            }),
        }
    }
}
