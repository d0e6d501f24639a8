//! The replicated state: members, trust, parameters, active modules and the epoch,
//! changed only by applying decided slots in log order.
//!
//! # Design
//! [`ReplicatedState::from_genesis`] builds the state at slot 0 from a verified genesis;
//! [`ReplicatedState::apply_slot`] applies one decided slot: first the epoch boundary (if
//! the slot opens a new epoch), then the slot's [`RoundReport`] (trust earned or lost *in*
//! that slot, under the rules in force during it), then each decided operation of the
//! batch in order. Everything is a pure function of the previous state and the slot's
//! decided data, so every node holds the same state, and the same
//! [`ReplicatedState::state_digest`], after the same slot.
//!
//! # Boundaries
//! Every query (eligible set, layers, quorum rules, snapshot) answers for the *next* slot
//! to be decided: membership, trust, parameter and module changes decided in slot `s`
//! take effect at slot `s + 1`, never in the middle of a slot. Epochs are runs of
//! `timing.slots-per-epoch` slots starting at `epoch_start`; a change of that parameter
//! (Critical, Full BFT) applies to the current epoch, but a boundary it would have passed
//! already opens at the next slot, never several at once.
//!
//! # Layout
//! - `params.rs`: [`Params`] and the parameter keys.
//! - `apply.rs`: the effects of each decided operation.
//! - `change.rs`: [`StateChange`] records.
//! - `snapshot.rs`: the module-facing [`Snapshot`].

mod apply;
mod authority;
mod authorize;
mod change;
pub(crate) mod liveness;
mod params;
mod snapshot;

pub use authority::{
    AUTHORITY_KEY_PREFIX, AUTHORITY_POLICY_PREFIX, Actor, Authority, AuthorityError, AuthorizedKey,
    MAX_AUTHORIZED_KEYS, Permission, Policy, authority_key_param, is_provable,
};
pub use authorize::{AuthError, EpochBudget, MembershipRules};
pub use change::StateChange;
pub use params::{MAX_BATCH_CEILING, MAX_CUSTOM_PARAMS, MAX_KEY_LEN, Params, TimingParams};
pub use snapshot::{Snapshot, SnapshotMember};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::crypto::{canonical_bytes, sha256_parts};
use crate::genesis::{Genesis, GenesisError};
use crate::ops::{AuthorityLevel, Mechanism, Role};
use crate::quorum::QuorumRule;
use crate::trust::{RoundReport, TrustLedger};
use crate::types::{Digest, Epoch, Hierarchy, Layer, NodeId, Slot, TrustBps, View};

/// Domain tag of the state digest.
const STATE_DOMAIN: &[u8] = b"spore/state/v1";

/// Why a slot could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The slot was already applied (slots apply in increasing order).
    #[error("slot {slot} already applied (next is {next})")]
    AlreadyApplied {
        /// The slot offered.
        slot: Slot,
        /// The next slot the state expects.
        next: Slot,
    },
    /// The round report belongs to another slot.
    #[error("round report for slot {report} offered with slot {slot}")]
    ReportSlotMismatch {
        /// The slot applied.
        slot: Slot,
        /// The report's slot.
        report: Slot,
    },
}

/// A member's identity data (trust lives in the ledger).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Hierarchy level.
    pub level: Hierarchy,
    /// Human-readable name.
    pub name: String,
    /// Network address.
    pub address: String,
    /// Slot whose decision admitted it (0 for founders).
    pub joined: Slot,
    /// Whether it is a founding member (named by the genesis).
    pub founder: bool,
}

/// The active policy of a role or domain and the one before it (for rollback).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModuleSlot {
    /// Active content hash.
    pub active: Digest,
    /// Previously active content hash, if any.
    pub previous: Option<Digest>,
    /// First slot at which `active` is used.
    pub since: Slot,
}

/// A deployed service (record of a decided service deployment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Artifact content hash.
    pub artifact: Digest,
    /// Replicas.
    pub replicas: u32,
    /// Slot of the decision.
    pub slot: Slot,
}

/// The replicated state of a Spore cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicatedState {
    chain_id: String,
    genesis: Digest,
    params: Params,
    members: BTreeMap<NodeId, MemberInfo>,
    ledger: TrustLedger,
    modules: BTreeMap<Role, ModuleSlot>,
    transport_policy: Option<ModuleSlot>,
    epoch: Epoch,
    epoch_start: Slot,
    next_slot: Slot,
    services: BTreeMap<String, ServiceRecord>,
    /// Decided operations per kind (WIT case name), rejected and failed ones included.
    decided: BTreeMap<String, u64>,
    /// Hash chain over every applied (slot, operation digest, outcome digest).
    history: Digest,
    /// Client and operator keys and the submission policy.
    authority: Authority,
    /// Every misbehaviour already punished, by (offender, slot, kind): a proof is
    /// applied at most once in the whole history.
    proofs: std::collections::BTreeSet<(NodeId, Slot, String)>,
    /// Absences already penalised, by (slot, member), for the slots an absence proof may
    /// still be about (`consensus::absence::ABSENCE_WINDOW`).
    absences: std::collections::BTreeSet<(Slot, NodeId)>,
    /// The view the next slot starts in: that of the last decided tally (not of its
    /// confirms, which may differ between nodes deciding the same value). A slot decided
    /// by a tally of a later view had a view change, in which results may have been
    /// revealed before the deciding round committed: no agreement is rewarded in it.
    slot_view: View,
    /// Governance reconfiguration spent in the current epoch.
    budget: EpochBudget,
    /// The validator swapped in last, while it is on probation.
    probation: Option<Probation>,
    /// Facts computed from the fields above on first use (never stored or compared).
    #[serde(skip)]
    derived: Derived,
}

/// Facts derived from a [`ReplicatedState`]'s fields, computed on first use and
/// forgotten by every method that changes those fields (every `&mut self` method of the
/// state: [`ReplicatedState::apply_slot_judged`], [`ReplicatedState::exclude_culprits`],
/// and the records of an applied entry's view, absences and proofs), so that the
/// consensus core's many `primary` / `seed` queries per input do not sort the eligible
/// set each time, and a status report asked for by any client does not encode and hash
/// the whole state each time. Not serialised (a restored state computes it again) and
/// equal whatever it holds: it is a function of the fields beside it.
#[derive(Debug, Clone, Default)]
struct Derived {
    rotation: std::sync::OnceLock<Vec<NodeId>>,
    digest: std::sync::OnceLock<Digest>,
}

impl Derived {
    fn clear(&mut self) {
        *self = Derived::default();
    }
}

impl PartialEq for Derived {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Derived {}

/// A newly swapped-in validator on probation: if too many of its calls fail within its
/// first `timing.probation-slots` slots, every node rolls it back at the same slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Probation {
    /// The module on probation.
    pub module: Digest,
    /// The module to roll back to (the update's `rollback_to`, else the one it replaced).
    pub rollback_to: Digest,
    /// First slot it runs in.
    pub since: Slot,
    /// Last slot of the probation.
    pub until: Slot,
    /// Calls it decided (with a module outcome a quorum agreed on) and, of those, the
    /// regressed ones (failed where the replaced module did not), by submitter: each submitter is one
    /// voice (at most the authorised keys and the members).
    pub submitters: BTreeMap<NodeId, (u64, u64)>,
}

impl Probation {
    /// Whether the probation judges the calls of `slot`.
    pub fn covers(&self, slot: Slot) -> bool {
        self.since <= slot && slot <= self.until
    }
}

/// Fewest distinct submitters whose operations must have judged a validator on probation
/// before it can be rolled back: one client's operations are one voice.
pub const PROBATION_MIN_SUBMITTERS: u64 = 3;

impl ReplicatedState {
    /// The state at slot 0 of a genesis, which must verify.
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, GenesisError> {
        genesis.verify()?;
        Ok(Self::from_genesis_unverified(genesis))
    }

    /// The state at slot 0 without checking signatures (for a genesis already verified,
    /// e.g. loaded from the node's own store). Content rules are still assumed.
    pub fn from_genesis_unverified(genesis: &Genesis) -> Self {
        let params = genesis.params.clone();
        let mut ledger = TrustLedger::new(0);
        let mut members = BTreeMap::new();
        for n in &genesis.nodes {
            ledger.insert_genesis(n.id, n.level, n.trust, &params.trust);
            members.insert(
                n.id,
                MemberInfo {
                    level: n.level,
                    name: n.name.clone(),
                    address: n.address.clone(),
                    joined: 0,
                    founder: true,
                },
            );
        }
        let slot = |d: Digest| ModuleSlot {
            active: d,
            previous: None,
            since: 0,
        };
        let modules = BTreeMap::from([
            (Role::Validator, slot(genesis.modules.validator)),
            (Role::Admission, slot(genesis.modules.admission)),
            (Role::Resolver, slot(genesis.modules.resolver)),
        ]);
        let digest = genesis.digest();
        ReplicatedState {
            chain_id: genesis.chain_id.clone(),
            genesis: digest,
            params,
            members,
            ledger,
            modules,
            transport_policy: None,
            epoch: 0,
            epoch_start: 0,
            next_slot: 0,
            services: BTreeMap::new(),
            decided: BTreeMap::new(),
            history: digest,
            authority: genesis.authority.clone(),
            proofs: std::collections::BTreeSet::new(),
            absences: std::collections::BTreeSet::new(),
            slot_view: 0,
            budget: EpochBudget::default(),
            probation: None,
            derived: Derived::default(),
        }
    }

    /// The validator on probation, if any.
    pub fn probation(&self) -> Option<&Probation> {
        self.probation.as_ref()
    }

    /// The authorised keys and the submission policy.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Governance reconfiguration spent in the current epoch.
    pub fn budget(&self) -> EpochBudget {
        self.budget
    }

    /// Whether the misbehaviour `key` (offender, slot, kind) was punished already.
    pub fn proof_applied(&self, key: &(NodeId, Slot, &'static str)) -> bool {
        self.proofs.contains(&(key.0, key.1, key.2.to_string()))
    }

    /// The view the next slot starts in (that of the last decided tally).
    pub fn slot_view(&self) -> View {
        self.slot_view
    }

    /// Record the view of the entry just applied.
    pub(crate) fn set_slot_view(&mut self, view: View) {
        self.slot_view = view;
        self.derived.clear();
    }

    /// Whether the absence of `member` in `slot` was penalised already.
    pub fn absence_applied(&self, slot: Slot, member: &NodeId) -> bool {
        self.absences.contains(&(slot, *member))
    }

    /// Record a penalised absence, and forget those older than the window.
    pub(crate) fn record_absence(&mut self, slot: Slot, member: NodeId) {
        self.derived.clear();
        self.absences.insert((slot, member));
        let floor = self
            .next_slot
            .saturating_sub(crate::consensus::absence::ABSENCE_WINDOW);
        if self.absences.first().is_some_and(|(s, _)| *s < floor) {
            self.absences = self.absences.split_off(&(floor, NodeId([0; 32])));
        }
    }

    /// Record a punished misbehaviour (see [`Self::proof_applied`]).
    pub(crate) fn record_proof(&mut self, key: (NodeId, Slot, &'static str)) {
        self.derived.clear();
        self.proofs.insert((key.0, key.1, key.2.to_string()));
    }

    /// Whether `id` is established: a founder, or admitted in an earlier epoch. Only
    /// established members make up the established quorum a newcomer cannot replace.
    pub fn is_established(&self, id: &NodeId) -> bool {
        self.members
            .get(id)
            .is_some_and(|m| m.founder || m.joined < self.epoch_start)
    }

    /// The cluster's chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The genesis digest.
    pub fn genesis_digest(&self) -> Digest {
        self.genesis
    }

    /// The parameters in force for the next slot.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The trust ledger.
    pub fn ledger(&self) -> &TrustLedger {
        &self.ledger
    }

    /// Every member (eligible or not), ascending by id.
    pub fn members(&self) -> &BTreeMap<NodeId, MemberInfo> {
        &self.members
    }

    /// One member.
    pub fn member(&self, id: &NodeId) -> Option<&MemberInfo> {
        self.members.get(id)
    }

    /// The next slot to be decided (every query answers for it).
    pub fn next_slot(&self) -> Slot {
        self.next_slot
    }

    /// The epoch of the last applied slot's boundary.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The epoch `slot` belongs to, given the current epoch and its length (for the
    /// modules' call context). Slots before the current epoch's start map to it.
    pub fn epoch_at(&self, slot: Slot) -> Epoch {
        let len = self.params.timing.slots_per_epoch.max(1);
        self.epoch
            .saturating_add(slot.saturating_sub(self.epoch_start) / len)
    }

    /// Deployed services, by name.
    pub fn services(&self) -> &BTreeMap<String, ServiceRecord> {
        &self.services
    }

    /// Decided operations per kind.
    pub fn decided_counts(&self) -> &BTreeMap<String, u64> {
        &self.decided
    }

    /// Hash chain over every applied operation and outcome.
    pub fn history(&self) -> Digest {
        self.history
    }

    /// The active module of `role` and the previous one.
    pub fn module_slot(&self, role: Role) -> Option<&ModuleSlot> {
        self.modules.get(&role)
    }

    /// The content hash of `role`'s active module.
    pub fn active_module(&self, role: Role) -> Option<Digest> {
        self.modules.get(&role).map(|m| m.active)
    }

    /// The module a validator on probation in the next slot would roll back to: a call of
    /// the validator that fails then is run on it too, and counts against the swap only
    /// if it does not fail there ([`crate::ops::Outcome::Regressed`]).
    pub fn probation_fallback(&self) -> Option<Digest> {
        let p = self.probation.as_ref()?;
        let active = self.active_module(Role::Validator)?;
        (active == p.module && p.covers(self.next_slot)).then_some(p.rollback_to)
    }

    /// The transport policy, once one has been set by a security policy update.
    pub fn transport_policy(&self) -> Option<&ModuleSlot> {
        self.transport_policy.as_ref()
    }

    /// Whether `id` is in the eligible set.
    pub fn is_eligible(&self, id: &NodeId) -> bool {
        self.ledger.is_eligible(id, &self.params.trust)
    }

    /// The eligible set with trust, ascending by id.
    pub fn eligible(&self) -> Vec<(NodeId, TrustBps)> {
        self.ledger.eligible(&self.params.trust)
    }

    /// The eligible members in rotation order: by hierarchy (Sclerotia first), then id.
    pub fn rotation(&self) -> &[NodeId] {
        self.derived.rotation.get_or_init(|| {
            let mut v: Vec<(Hierarchy, NodeId)> = self
                .eligible()
                .into_iter()
                .filter_map(|(id, _)| self.members.get(&id).map(|m| (m.level, id)))
                .collect();
            v.sort();
            v.into_iter().map(|(_, id)| id).collect()
        })
    }

    /// How far the rotation has turned at the next slot: one step every
    /// `timing.rotation-slots` slots, whatever the view, so a primary that keeps
    /// deciding (its own filler operations, say) still hands over.
    fn turn(&self) -> u64 {
        self.next_slot / self.params.timing.rotation_slots.max(1)
    }

    /// The primary spore of `view` at the next slot: rotation\[(view + turn) mod n\].
    pub fn primary(&self, view: View) -> Option<NodeId> {
        let r = self.rotation();
        pick(r, view.wrapping_add(self.turn()), 0)
    }

    /// The seed spore of `view` at the next slot: rotation\[(view + turn + 1) mod n\]
    /// (none with fewer than two eligible members): the primary of the next view.
    pub fn seed(&self, view: View) -> Option<NodeId> {
        let r = self.rotation();
        if r.len() < 2 {
            None
        } else {
            pick(r, view.wrapping_add(self.turn()), 1)
        }
    }

    /// `id`'s layer in `view` (none if not eligible).
    pub fn layer(&self, id: &NodeId, view: View) -> Option<Layer> {
        if !self.is_eligible(id) {
            return None;
        }
        Some(if self.primary(view) == Some(*id) {
            Layer::Primary
        } else if self.seed(view) == Some(*id) {
            Layer::Seed
        } else {
            Layer::Latent
        })
    }

    /// The latent spore of `view` (eligible, neither primary nor seed) with trust.
    pub fn latent(&self, view: View) -> Vec<(NodeId, TrustBps)> {
        let (p, s) = (self.primary(view), self.seed(view));
        self.eligible()
            .into_iter()
            .filter(|(id, _)| Some(*id) != p && Some(*id) != s)
            .collect()
    }

    /// The quorum rule for deciding an operation of `mechanism` in `view` (docs/TRUST.md):
    /// Full BFT over the eligible set; High authority: the primary; Medium: the seed (the
    /// primary if there is none); Low: the light rule over the latent layer.
    pub fn quorum_rule(&self, mechanism: Mechanism, view: View) -> Option<QuorumRule> {
        match mechanism {
            Mechanism::FullBft => {
                let eligible = self.eligible();
                let established: Vec<NodeId> = eligible
                    .iter()
                    .map(|(id, _)| *id)
                    .filter(|id| self.is_established(id))
                    .collect();
                Some(
                    QuorumRule::full_bft(&eligible, &self.params.trust, &self.params.quorum)
                        .with_established(&established),
                )
            }
            Mechanism::Authority(AuthorityLevel::High) => {
                self.primary(view).map(QuorumRule::single)
            }
            Mechanism::Authority(AuthorityLevel::Medium) => self
                .seed(view)
                .or_else(|| self.primary(view))
                .map(QuorumRule::single),
            Mechanism::Authority(AuthorityLevel::Low) => Some(QuorumRule::light(
                &self.latent(view),
                self.eligible().len(),
                &self.params.quorum,
            )),
        }
    }

    /// The module-facing snapshot for the next slot in `view`.
    pub fn snapshot(&self, view: View) -> Snapshot {
        let (p, s) = (self.primary(view), self.seed(view));
        let members = self
            .members
            .iter()
            .map(|(id, info)| {
                let eligible = self.is_eligible(id);
                let layer = if !eligible {
                    Layer::Latent
                } else if Some(*id) == p {
                    Layer::Primary
                } else if Some(*id) == s {
                    Layer::Seed
                } else {
                    Layer::Latent
                };
                SnapshotMember {
                    id: *id,
                    level: info.level,
                    trust: self.ledger.trust(id),
                    eligible,
                    layer,
                }
            })
            .collect();
        Snapshot {
            slot: self.next_slot,
            epoch: self.epoch_at(self.next_slot),
            members,
            params: self.params.entries(),
        }
    }

    /// SHA-256 over the canonical encoding of the whole state: equal digests mean equal
    /// ledgers, memberships, parameters, modules and histories.
    pub fn state_digest(&self) -> Digest {
        *self
            .derived
            .digest
            .get_or_init(|| sha256_parts(&[STATE_DOMAIN, &canonical_bytes(self)]))
    }

    /// Apply a slot holding one decided operation (see [`Self::apply_slot`]).
    pub fn apply(
        &mut self,
        slot: Slot,
        op: &crate::ops::Operation,
        outcome: &crate::ops::Outcome,
        report: &RoundReport,
    ) -> Result<Vec<StateChange>, StateError> {
        self.apply_slot(slot, &[(op.clone(), outcome.clone())], Some(report))
    }
}

fn pick(rotation: &[NodeId], view: View, offset: u64) -> Option<NodeId> {
    let n = u64::try_from(rotation.len()).ok().filter(|n| *n > 0)?;
    let i = usize::try_from((view % n + offset) % n).ok()?;
    rotation.get(i).copied()
}

#[cfg(test)]
mod tests;
