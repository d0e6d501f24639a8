//! The invariants checked after every simulated run, over a record of what the honest nodes
//! decided, slashed and detected.
//!
//! # Design
//! The runner fills a [`RunRecord`] while it drives the nodes; [`check`] turns it into a list
//! of [`Violation`]s. Keeping the checks on plain data (digests, ids, slots) makes them easy
//! to read against the protocol's claims and independent of how the nodes are driven.
//!
//! Checked:
//! - agreement: no two honest nodes decide different entries for one slot;
//! - validity: every decided operation was submitted by a client, and no operation is
//!   decided in two slots;
//! - liveness after healing: every operation of the workload is decided or escalated at
//!   every honest node by the end of the run, which lasts a fixed bound past GST;
//! - accountability: an honest node is never convicted of misbehaviour (under any network:
//!   the proofs are signatures), never penalised at all (dissent, silence, commit without
//!   reveal) when the network is synchronous, whatever the Byzantine members (a primary
//!   included) do, and every node against which an honest node detected misbehaviour is
//!   slashed by a decided entry;
//! - governance (checked by the runner as the honest log is applied): every ordered
//!   operation passes the host's authorisation against the state before its slot, and no
//!   honest member loses trust or eligibility to a governance operation;
//! - results the primary cannot steer (checked by the runner on synchronous runs): every
//!   operation is decided by the honest quorum's agreement, or by its authority, never
//!   resolved or escalated, whatever a Byzantine primary includes in its tally;
//! - sealing (checked by the runner as the honest log is applied): a member that never
//!   computes and only copies revealed results never gains trust for agreement;
//! - determinism (checked by [`super::runner::check_scenario`]): the same seed gives the same
//!   trace hash.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::types::{Digest, NodeId, Slot};

/// Everything the invariants look at, gathered by the runner during one run.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    /// Identities of the honest nodes.
    pub honest: BTreeSet<NodeId>,
    /// Per honest node: the digest of the entry it decided at each slot.
    pub decided: BTreeMap<NodeId, BTreeMap<Slot, Digest>>,
    /// Per honest node: the slots at which it decided each operation (by digest).
    pub op_slots: BTreeMap<NodeId, BTreeMap<Digest, BTreeSet<Slot>>>,
    /// Per honest node: operations it recorded as escalated.
    pub escalated: BTreeMap<NodeId, BTreeSet<Digest>>,
    /// Digests of every operation a client submitted.
    pub submitted: BTreeSet<Digest>,
    /// Digests of the operations that must be decided or escalated by the end (the workload;
    /// later client traffic is submitted but not required).
    pub required: BTreeSet<Digest>,
    /// Whether every node of the run is honest.
    pub all_honest: bool,
    /// Whether the network was synchronous for the whole run.
    pub synchronous: bool,
    /// Whether the run lasted long enough past GST for liveness to be required.
    pub liveness_required: bool,
    /// Per honest node: nodes slashed for provable misbehaviour by its decided entries.
    pub slashed: BTreeMap<NodeId, BTreeMap<NodeId, String>>,
    /// Per honest node: nodes penalised (dissent, silence, commit without reveal) by its
    /// decided entries.
    pub penalised: BTreeMap<NodeId, BTreeMap<NodeId, String>>,
    /// Violations the runner found while driving the run (e.g. a node deciding one slot
    /// twice with different values).
    pub found: Vec<Violation>,
    /// Nodes against which some honest node produced misbehaviour evidence.
    pub detected: BTreeMap<NodeId, String>,
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two honest nodes decided different entries for one slot (safety).
    Agreement {
        /// The slot.
        slot: Slot,
        /// One node and its entry digest.
        a: (NodeId, Digest),
        /// Another node and its different entry digest.
        b: (NodeId, Digest),
    },
    /// Two honest nodes hold different replicated states after applying the same slots
    /// (safety: trust, membership and so f would drift apart).
    StateDiverged {
        /// The next slot both states would apply.
        next_slot: Slot,
        /// One node and its state digest.
        a: (NodeId, Digest),
        /// Another node and its different state digest.
        b: (NodeId, Digest),
    },
    /// An honest node decided an operation no client submitted (safety).
    Validity {
        /// The node.
        node: NodeId,
        /// The slot.
        slot: Slot,
        /// The unknown operation's digest.
        op: Digest,
    },
    /// An honest node decided one operation in more than one slot (safety).
    DecidedTwice {
        /// The node.
        node: NodeId,
        /// The operation.
        op: Digest,
        /// The slots it was decided in.
        slots: Vec<Slot>,
    },
    /// A submitted operation was neither decided nor escalated in time (liveness).
    Liveness {
        /// The node that is missing it.
        node: NodeId,
        /// How many operations are missing.
        missing: usize,
        /// One of them.
        example: Digest,
    },
    /// After a fork every honest node detected, an honest node did not decide again from
    /// the recovery checkpoint (forker runs).
    NotRecovered {
        /// The node.
        node: NodeId,
        /// Why.
        reason: String,
    },
    /// An honest node was slashed for misbehaviour, or penalised although the network was
    /// synchronous.
    HonestSlashed {
        /// The honest node that was slashed.
        victim: NodeId,
        /// The honest node whose log slashed it.
        by: NodeId,
        /// Why.
        reason: String,
    },
    /// Misbehaviour was detected but the offender was not slashed by an honest ledger.
    Unpunished {
        /// The offender.
        offender: NodeId,
        /// What was detected.
        what: String,
    },
    /// Two runs of the same seed produced different traces.
    Nondeterministic {
        /// Trace hash of the first run.
        first: Digest,
        /// Trace hash of the second run.
        second: Digest,
    },
    /// An honest node produced a misbehaviour proof against an honest node.
    HonestAccused {
        /// The accused honest node.
        victim: NodeId,
        /// What it was accused of.
        what: String,
    },
    /// An honest node's log ordered an operation that the host's authorisation refuses
    /// against the state before its slot (unsigned, unauthorised, bad sponsors or proof,
    /// budget spent).
    Unauthorized {
        /// The slot.
        slot: Slot,
        /// The operation's id.
        op: Digest,
        /// What the check says.
        error: String,
    },
    /// An honest member lost trust or its eligibility to a governance operation (the
    /// simulated governor never cuts an honest member; misbehaviour proofs are checked by
    /// `HonestSlashed`).
    HonestRemoved {
        /// The honest member.
        victim: NodeId,
        /// The slot that applied it.
        slot: Slot,
        /// The state change.
        change: String,
    },
    /// On a synchronous network, where the honest members (deterministic modules) form a
    /// quorum and agree, an operation was not decided by them: resolved or escalated
    /// (Full BFT, Low), or neither by its authority nor by a quorum (Medium, High).
    NotAgreed {
        /// The honest node whose log holds it.
        node: NodeId,
        /// The slot.
        slot: Slot,
        /// The decision it holds.
        decision: String,
    },
    /// A member that never computes (it copies revealed results) gained trust for
    /// agreement.
    CopyRewarded {
        /// The copier.
        copier: NodeId,
        /// The slot that rewarded it.
        slot: Slot,
    },
    /// The runner itself could not drive the scenario (e.g. the event budget ran out).
    Setup {
        /// What went wrong.
        error: String,
    },
}

impl Violation {
    /// Whether this breaks safety (agreement or validity).
    pub fn is_safety(&self) -> bool {
        matches!(
            self,
            Violation::Agreement { .. }
                | Violation::StateDiverged { .. }
                | Violation::Validity { .. }
                | Violation::DecidedTwice { .. }
                | Violation::Unauthorized { .. }
        )
    }

    /// Whether this is a liveness failure.
    pub fn is_liveness(&self) -> bool {
        matches!(
            self,
            Violation::Liveness { .. } | Violation::NotRecovered { .. }
        )
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Agreement { slot, a, b } => write!(
                f,
                "agreement: slot {slot}: node {} decided {:?} but node {} decided {:?}",
                a.0, a.1, b.0, b.1
            ),
            Violation::StateDiverged { next_slot, a, b } => write!(
                f,
                "state: before slot {next_slot}: node {} holds state {:?} but node {} holds {:?}",
                a.0, a.1, b.0, b.1
            ),
            Violation::Validity { node, slot, op } => {
                write!(
                    f,
                    "validity: node {node} decided unsubmitted operation {op:?} at slot {slot}"
                )
            }
            Violation::DecidedTwice { node, op, slots } => {
                write!(
                    f,
                    "validity: node {node} decided operation {op:?} in slots {slots:?}"
                )
            }
            Violation::NotRecovered { node, reason } => {
                write!(
                    f,
                    "recovery: node {node} did not resume after the fork: {reason}"
                )
            }
            Violation::Liveness {
                node,
                missing,
                example,
            } => write!(
                f,
                "liveness: node {node} has {missing} submitted operation(s) neither decided nor escalated after GST (e.g. {example:?})"
            ),
            Violation::HonestSlashed { victim, by, reason } => {
                write!(
                    f,
                    "accountability: honest node {victim} slashed in the log of {by} ({reason})"
                )
            }
            Violation::HonestAccused { victim, what } => {
                write!(f, "accountability: honest node {victim} accused of {what}")
            }
            Violation::Unpunished { offender, what } => {
                write!(
                    f,
                    "accountability: node {offender} was caught ({what}) but never slashed"
                )
            }
            Violation::Nondeterministic { first, second } => {
                write!(
                    f,
                    "determinism: same seed gave trace {first:?} then {second:?}"
                )
            }
            Violation::Unauthorized { slot, op, error } => write!(
                f,
                "governance: slot {slot} ordered operation {op:?} the host refuses: {error}"
            ),
            Violation::HonestRemoved {
                victim,
                slot,
                change,
            } => write!(
                f,
                "governance: honest member {victim} cut at slot {slot} by governance: {change}"
            ),
            Violation::NotAgreed {
                node,
                slot,
                decision,
            } => write!(
                f,
                "results: node {node} slot {slot}: the honest quorum agreed, yet {decision}"
            ),
            Violation::CopyRewarded { copier, slot } => write!(
                f,
                "sealing: copier {copier} gained trust for agreement at slot {slot}"
            ),
            Violation::Setup { error } => write!(f, "setup: {error}"),
        }
    }
}

/// Check every invariant of one run.
pub fn check(rec: &RunRecord) -> Vec<Violation> {
    let mut out = rec.found.clone();
    agreement(rec, &mut out);
    validity(rec, &mut out);
    liveness(rec, &mut out);
    accountability(rec, &mut out);
    out
}

/// No two honest nodes decide different entries for one slot.
fn agreement(rec: &RunRecord, out: &mut Vec<Violation>) {
    let mut first: BTreeMap<Slot, (NodeId, Digest)> = BTreeMap::new();
    for (node, slots) in &rec.decided {
        for (slot, digest) in slots {
            match first.get(slot) {
                None => {
                    first.insert(*slot, (*node, *digest));
                }
                Some((other, d)) if d != digest => out.push(Violation::Agreement {
                    slot: *slot,
                    a: (*other, *d),
                    b: (*node, *digest),
                }),
                Some(_) => {}
            }
        }
    }
}

/// Decided operations were submitted, and each is decided at most once.
fn validity(rec: &RunRecord, out: &mut Vec<Violation>) {
    for (node, ops) in &rec.op_slots {
        for (op, slots) in ops {
            if !rec.submitted.contains(op) {
                let slot = slots.iter().next().copied().unwrap_or_default();
                out.push(Violation::Validity {
                    node: *node,
                    slot,
                    op: *op,
                });
            }
            if slots.len() > 1 {
                out.push(Violation::DecidedTwice {
                    node: *node,
                    op: *op,
                    slots: slots.iter().copied().collect(),
                });
            }
        }
    }
}

/// Every required operation is decided or escalated at every honest node.
fn liveness(rec: &RunRecord, out: &mut Vec<Violation>) {
    if !rec.liveness_required {
        return;
    }
    let empty_ops = BTreeMap::new();
    let empty_esc = BTreeSet::new();
    for node in &rec.honest {
        let decided = rec.op_slots.get(node).unwrap_or(&empty_ops);
        let escalated = rec.escalated.get(node).unwrap_or(&empty_esc);
        let missing: Vec<&Digest> = rec
            .required
            .iter()
            .filter(|op| !decided.contains_key(*op) && !escalated.contains(*op))
            .collect();
        if let Some(example) = missing.first() {
            out.push(Violation::Liveness {
                node: *node,
                missing: missing.len(),
                example: **example,
            });
        }
    }
}

/// Honest nodes are never convicted, never penalised under synchrony (whatever the
/// Byzantine members do); detected offenders are slashed.
fn accountability(rec: &RunRecord, out: &mut Vec<Violation>) {
    for (by, slashed) in &rec.slashed {
        for (victim, reason) in slashed {
            if rec.honest.contains(victim) {
                out.push(Violation::HonestSlashed {
                    victim: *victim,
                    by: *by,
                    reason: reason.clone(),
                });
            }
        }
    }
    if rec.synchronous {
        for (by, penalised) in &rec.penalised {
            for (victim, reason) in penalised.iter().filter(|(v, _)| rec.honest.contains(v)) {
                out.push(Violation::HonestSlashed {
                    victim: *victim,
                    by: *by,
                    reason: reason.clone(),
                });
            }
        }
    }
    for (offender, what) in &rec.detected {
        if rec.honest.contains(offender) {
            out.push(Violation::HonestAccused {
                victim: *offender,
                what: what.clone(),
            });
            continue;
        }
        if !rec.liveness_required {
            continue;
        }
        let punished = rec.slashed.values().any(|s| s.contains_key(offender));
        if !punished {
            out.push(Violation::Unpunished {
                offender: *offender,
                what: what.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> NodeId {
        NodeId([b; 32])
    }

    fn dg(b: u8) -> Digest {
        Digest([b; 32])
    }

    fn base() -> RunRecord {
        let mut rec = RunRecord {
            honest: [id(1), id(2)].into_iter().collect(),
            submitted: [dg(10), dg(11)].into_iter().collect(),
            required: [dg(10), dg(11)].into_iter().collect(),
            synchronous: true,
            all_honest: true,
            liveness_required: true,
            ..RunRecord::default()
        };
        for n in [id(1), id(2)] {
            rec.decided.entry(n).or_default().insert(0, dg(100));
            let ops = rec.op_slots.entry(n).or_default();
            ops.entry(dg(10)).or_default().insert(0);
            ops.entry(dg(11)).or_default().insert(0);
        }
        rec
    }

    #[test]
    fn a_clean_run_passes() {
        assert_eq!(check(&base()), vec![]);
    }

    #[test]
    fn disagreement_is_found() {
        let mut rec = base();
        rec.decided.entry(id(2)).or_default().insert(0, dg(101));
        let v = check(&rec);
        assert!(
            matches!(v.as_slice(), [Violation::Agreement { slot: 0, .. }]),
            "{v:?}"
        );
        assert!(v[0].is_safety());
    }

    #[test]
    fn unsubmitted_and_duplicate_decisions_are_found() {
        let mut rec = base();
        rec.op_slots
            .entry(id(1))
            .or_default()
            .entry(dg(12))
            .or_default()
            .insert(1);
        rec.op_slots
            .entry(id(2))
            .or_default()
            .entry(dg(10))
            .or_default()
            .insert(3);
        let v = check(&rec);
        assert!(
            v.iter().any(|x| matches!(x, Violation::Validity { .. })),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|x| matches!(x, Violation::DecidedTwice { .. })),
            "{v:?}"
        );
    }

    #[test]
    fn missing_operations_fail_liveness_unless_escalated_or_not_required() {
        let mut rec = base();
        rec.submitted.insert(dg(13));
        rec.required.insert(dg(13));
        assert_eq!(check(&rec).iter().filter(|v| v.is_liveness()).count(), 2);
        for n in [id(1), id(2)] {
            rec.escalated.entry(n).or_default().insert(dg(13));
        }
        assert_eq!(check(&rec), vec![]);
        rec.required.insert(dg(14));
        rec.liveness_required = false;
        assert_eq!(check(&rec), vec![]);
    }

    #[test]
    fn slashing_rules() {
        let mut rec = base();
        rec.penalised
            .entry(id(1))
            .or_default()
            .insert(id(2), "dissent".into());
        assert!(matches!(
            check(&rec).as_slice(),
            [Violation::HonestSlashed { .. }]
        ));
        rec.synchronous = false;
        assert_eq!(check(&rec), vec![]);
        rec.slashed
            .entry(id(1))
            .or_default()
            .insert(id(2), "equivocation".into());
        assert!(matches!(
            check(&rec).as_slice(),
            [Violation::HonestSlashed { .. }]
        ));
        rec.slashed.clear();
        rec.detected.insert(id(2), "equivocation".into());
        assert!(matches!(
            check(&rec).as_slice(),
            [Violation::HonestAccused { .. }]
        ));
        rec.detected.clear();
        rec.detected.insert(id(9), "equivocation".into());
        assert!(matches!(
            check(&rec).as_slice(),
            [Violation::Unpunished { .. }]
        ));
        rec.slashed
            .entry(id(2))
            .or_default()
            .insert(id(9), "equivocation".into());
        assert_eq!(check(&rec), vec![]);
    }
}
