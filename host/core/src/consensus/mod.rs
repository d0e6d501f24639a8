//! Sans-IO Sealed PBFT: the commit-reveal BFT state machine that orders operations and
//! agrees on their results (protocol and safety argument: docs/PROTOCOL.md).
//!
//! # Design
//! A [`Node`] never opens a socket, reads a clock or draws randomness. The driver feeds
//! it [`Input`]s (peer messages, `Tick{now}` in virtual milliseconds, submitted
//! operations, module results) through [`Node::handle`], and executes the [`Effect`]s it
//! returns (send, persist, call a module, decided, evidence, set a timer). The node is
//! level-triggered: after every input it re-evaluates what the current slot and view
//! allow (`progress`), so the order in which messages and module results arrive never
//! matters.
//!
//! # Driver contract
//! - Execute the effects of one `handle` call **strictly in order**; a
//!   [`Effect::Persist`] must be durable before any later effect that leaves the node
//!   (a `Send`, a `Broadcast`, the acknowledgement of a `Decided` entry) runs. Every vote
//!   is preceded by its `Persist`, so a vote is never sent before it is stored. A driver
//!   may commit several `Persist`s (and `Decided` entries) together, with one sync, as
//!   long as that commit precedes the first such effect (group commit).
//! - Answer every `CallValidator` / `CallResolver` with `Input::ModuleResult` carrying
//!   the same [`CallId`] (any time later, in any order).
//! - Deliver `Input::Tick` no later than the last `SetTimer{at}` asked for (earlier
//!   ticks are harmless).
//! - Persist `Decided` entries (with their certificates) before acknowledging them.
//! - On restart: rebuild the replicated state from the decided log, create the node with
//!   [`Node::new`], then hand it its persisted votes with [`Node::restore`].
//!
//! # Layout
//! - `message.rs`: every wire message; `input.rs` / `effect.rs`: the machine's API.
//! - `commitment.rs`: the sealed commitment and its salt.
//! - `entry.rs`: decided entries, certificates, round reports.
//! - `gossip.rs`: client submissions forwarded to the other members in bundles.
//! - `evidence.rs`: misbehaviour proofs; `limits.rs`: the byte budgets of messages;
//!   `mempool.rs`: the bounded mempool.
//! - `replica.rs`: what the machine needs from the replicated state.
//! - `rules.rs`: how results become decisions (quorum match, authority, resolver).
//! - `round.rs`: the per-(slot, view) bookkeeping.
//! - `gather.rs`, `agree.rs`, `view_change.rs`, `catch_up.rs`: the phases.

pub mod absence;
mod agree;
mod catch_up;
mod censorship;
pub mod commitment;
pub mod effect;
pub mod entry;
mod error;
pub mod evidence;
pub mod fork;
mod gather;
pub mod gossip;
pub mod input;
pub mod limits;
mod listen;
pub mod mempool;
pub mod message;
pub mod recovery;
pub mod replica;
mod round;
pub mod rules;
mod view_change;

#[cfg(test)]
mod frame_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

pub use effect::{CallContext, CallId, Effect, LayerResult, Persist};
pub use entry::{CertificateError, DecidedEntry, Decision};
pub use error::Reject;
pub use evidence::{EvidenceError, Misbehaviour, SignedVote, VotePhase};
pub use fork::{CertifiedValue, ForkError, ForkProof};
pub use input::{Input, ModuleReply, ResolverVerdict};
pub use message::{
    Accept, Commit, CommitSet, Confirm, Message, NewView, PreparedCert, PreparedClaim, Proposal,
    Reveal, RevealSeal, Tally, ViewChange,
};
pub use recovery::{Checkpoint, CheckpointSignature, RecoveryCert, RecoveryError};
pub use replica::ReplicaState;
pub use view_change::{MAX_PREPARED_TALLIES, MAX_VIEW_CHANGE_VIEWS};

use crate::crypto::{Claim, Keypair, Signed};
use crate::ops::{Outcome, SignedOperation};
use crate::types::{Digest, NodeId, Slot, View};
use round::Round;

/// Tunables of the consensus machine (the protocol parameters that must agree across
/// nodes live in the replicated state; these may differ per node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Most operations per batch.
    pub max_batch: usize,
    /// Base progress timeout (ms); doubled per view the current slot has moved past the
    /// view it started in.
    pub base_timeout: u64,
    /// Cap on the backoff exponent.
    pub max_backoff_exp: u32,
    /// How long the primary waits for the remaining reveals once a quorum is in (ms).
    pub reveal_grace: u64,
    /// How long the primary waits for the deciding layer of an authority batch before it
    /// tallies without it (ms; capped at half of `base_timeout`).
    pub authority_wait: u64,
    /// While a slot is undecided, re-send this node's votes of the current (slot, view)
    /// this often (ms), so that lost messages do not force a view change.
    pub resend_interval: u64,
    /// Most pending operations held in the mempool.
    pub mempool_limit: usize,
    /// Most bytes of pending operations held in the mempool.
    pub mempool_bytes: usize,
    /// Most pending operations of one submitter.
    pub mempool_per_submitter: usize,
    /// Most decided entries kept in memory to serve catch-up.
    pub log_retention: usize,
    /// Most bytes (canonical encoding) of the decided entries kept in memory; the newest
    /// entry is kept whatever its size (it is the next proposal's parent).
    pub log_retention_bytes: usize,
    /// Most entries per catch-up response.
    pub catch_up_batch: usize,
    /// Most messages buffered for future slots or views.
    pub future_buffer: usize,
    /// Slots the oldest pending operation may stay at the front of this node's mempool
    /// (undecided while others are) before the node asks for a view change: a primary
    /// that keeps an operation out is replaced (see `censorship.rs`).
    pub censor_slots: u64,
    /// How long after deciding a slot this node keeps listening for its members before
    /// it attests the absent ones (ms; see `absence.rs`). It must exceed the time an
    /// honest member needs to be heard after the decision (a few message delays).
    pub absence_wait: u64,
    /// Most time between two bundles of forwarded client submissions (ms; `gossip.rs`):
    /// every member, the primary included, gets an operation at most this much later
    /// than if it were forwarded alone.
    pub gossip_hold: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_batch: 64,
            base_timeout: 1_000,
            max_backoff_exp: 6,
            reveal_grace: 200,
            resend_interval: 300,
            authority_wait: 500,
            mempool_limit: 100_000,
            mempool_bytes: 64 * 1024 * 1024,
            mempool_per_submitter: 10_000,
            log_retention: 4_096,
            log_retention_bytes: 64 * 1024 * 1024,
            catch_up_batch: 32,
            future_buffer: 4_096,
            absence_wait: 2_000,
            censor_slots: 16,
            gossip_hold: 10,
        }
    }
}

/// Counters of what the node refused or noticed (for metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages dropped, by reason (`Reject::label`).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Misbehaviour proofs detected or received (verified, new).
    pub evidence: u64,
    /// Slots decided (including by catch-up).
    pub decided: u64,
    /// View changes started.
    pub view_changes: u64,
    /// Times the omission rule weighed a held tally (again only when what it reads moved).
    pub omission_checks: u64,
    /// Times the primary weighed whether its tally is ready (again only when what the
    /// wait reads moved or its next deadline came).
    pub tally_checks: u64,
    /// Reveals withheld because recomputed results (after a restart) did not open this
    /// node's own commitment: it abstained rather than sign a bad reveal.
    pub abstained: u64,
    /// View changes asked for because an operation was kept out too long.
    pub censorship_view_changes: u64,
}

/// Slots back from the current one that gossiped misbehaviour proofs may be about.
pub const EVIDENCE_WINDOW: Slot = 1_024;

/// Most verified proofs waiting to be recorded in a decided entry.
pub const MAX_PENDING_EVIDENCE: usize = 1_024;

/// Most pending proofs against one offender: one convicts it, and a member signing
/// conflicting votes about itself for slot after slot must not fill the pool (whose
/// proofs are re-broadcast every `resend_interval`) or crowd out proofs against others.
pub const MAX_PROOFS_PER_OFFENDER: usize = 4;

/// Views above its own for which a node remembers view changes and new-views for
/// equivocation detection (those it may still act on: the view-change rules keep as many).
pub const SEEN_VIEWS: View = view_change::MAX_VIEW_CHANGE_VIEWS as View;

/// Messages one signer may have buffered for a future slot or view. An honest member has
/// at most one vote per phase there (about a dozen); repeats of one (slot, view, phase)
/// are not buffered twice.
pub const FUTURE_PER_SIGNER: usize = 64;

/// Bytes (canonical encoding) one signer's buffered messages may hold: a proposal, a
/// reveal and a tally of the largest size, with room for the small votes. What a member
/// buffers beyond it evicts only its own older messages.
pub const FUTURE_BYTES_PER_SIGNER: usize = 3 * limits::MAX_MESSAGE_BYTES + 256 * 1024;

/// The sizes of a node's bounded collections ([`Node::footprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Footprint {
    /// Pending operations.
    pub mempool: usize,
    /// Bytes of pending operations.
    pub mempool_bytes: usize,
    /// Messages buffered for a future slot or view.
    pub future: usize,
    /// Bytes (canonical encoding) of the messages buffered for a future slot or view.
    pub future_bytes: usize,
    /// Verified proofs waiting for a decided entry.
    pub evidence: usize,
    /// Target views with view changes kept.
    pub view_change_views: usize,
    /// Tallies of prepared certificates kept for the view changes (one per value).
    pub prepared_tallies: usize,
    /// Votes remembered for equivocation detection (current slot).
    pub seen_votes: usize,
    /// Decided entries retained to serve catch-up.
    pub log: usize,
    /// Their encoded bytes.
    pub log_bytes: usize,
    /// Module calls asked for and not answered.
    pub calls: usize,
}

/// Why a submitted operation is not taken into the mempool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The host's authorisation rules refuse it.
    #[error(transparent)]
    Unauthorized(#[from] crate::state::AuthError),
    /// It was decided already.
    #[error("already decided")]
    AlreadyDecided,
    /// It is pending already.
    #[error("already pending")]
    Pending,
    /// The mempool has no room for it (count, bytes, or the submitter's share).
    #[error(transparent)]
    MempoolFull(#[from] mempool::MempoolFull),
}

/// A signed vote kept for a future slot or view ([`Node::buffer`]).
struct Buffered {
    /// Who sent it.
    from: NodeId,
    /// (signer, slot, view, phase).
    key: (NodeId, Slot, View, &'static str),
    /// Its canonical encoding's length (what it is charged against its signer's share).
    bytes: usize,
    msg: Message,
}

/// Whether the node follows the current view or is waiting for a new-view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Taking part in `view`.
    Normal,
    /// Sent a view change to `view`, waiting for its new-view.
    ViewChanging,
}

/// What a module call is for.
#[derive(Debug, Clone)]
enum CallPurpose {
    /// Validator result of an operation at a slot.
    Validator { slot: Slot, op: Digest },
    /// Resolver verdict for the inputs with this digest.
    Resolver { key: Digest },
}

/// One consensus participant.
pub struct Node<S: ReplicaState> {
    config: Config,
    key: Keypair,
    id: NodeId,
    state: S,
    now: u64,
    view: View,
    mode: Mode,
    round: Round,
    /// Highest prepared certificate for the current slot.
    prepared: Option<PreparedCert>,
    /// The view the current slot started in (that of the last decided entry); the
    /// progress timeout of view `v` is `base_timeout << (v - slot_view)` (capped).
    slot_view: View,
    /// Progress deadline (view change when reached).
    deadline: Option<u64>,
    /// When to re-send this node's votes of the current (slot, view).
    resend_at: Option<u64>,
    /// Last timer asked of the driver.
    timer_set: Option<u64>,
    /// The new-view that moved this node into its current view (re-sent to laggards).
    new_view_msg: Option<Signed<NewView>>,
    /// When this node last handed its new-view to a member whose view change showed it
    /// behind, and which view it was: at most once per `resend_interval` per member (one
    /// entry per eligible member at most).
    new_view_handed: HashMap<NodeId, (View, u64)>,
    /// View changes received for the current slot, by target view and signer.
    view_changes: BTreeMap<View, BTreeMap<NodeId, Signed<ViewChange>>>,
    /// The tallies of the prepared certificates those view changes carried, once per
    /// value with the highest certificate view seen for it (the view changes are kept
    /// without them): at most [`view_change::MAX_PREPARED_TALLIES`].
    prepared_tallies: BTreeMap<Digest, (View, Signed<Tally>)>,
    /// First vote seen per (signer, slot, view, phase), for equivocation detection.
    seen: HashMap<(NodeId, Slot, View, &'static str), SignedVote>,
    /// Envelope digests of signed votes already verified (cleared per slot): a vote seen
    /// directly is not verified again inside a tally, certificate or new-view.
    verified: HashSet<Digest>,
    /// This node's own votes per (slot, view, phase): never sign a different one.
    own: HashMap<(Slot, View, &'static str), Message>,
    mempool: mempool::Mempool,
    /// Client submissions waiting to be forwarded to the other members in a bundle.
    outbox: gossip::Outbox,
    /// Ids of decided operations with their expiry slot: kept until the expiry passes,
    /// after which the expiry alone refuses a replay.
    decided_ops: HashMap<Digest, Slot>,
    /// Test-only switch for the simulator's controls: order operations without the
    /// host's authorisation check.
    skip_authorization: bool,
    /// Test-only switch (control of the no-self-incrimination rule): reveal recomputed
    /// results without checking that they open this node's own commitment.
    reveal_unchecked: bool,
    /// A deliberate misbehaviour for devnets and end-to-end runs: commit, never reveal.
    withhold_reveals: bool,
    /// Test-only switch (control of the omission rule): accept a tally whose decisions
    /// follow the rules without checking what it leaves out.
    omission_unchecked: bool,
    /// Test-only switch (control of sealing): no commit set; reveal on any quorum of
    /// commits and count every commit that arrives before the tally.
    commit_set_unchecked: bool,
    /// Verified proofs not yet in a decided entry, by (offender, slot, kind).
    evidence: BTreeMap<(NodeId, Slot, &'static str), Misbehaviour>,
    /// Proofs already recorded in decided entries.
    recorded: HashSet<(NodeId, Slot, &'static str)>,
    /// Recently decided entries with their value digests and encoded sizes, in slot
    /// order, within `log_retention` entries and `log_retention_bytes` ([`Self::retain`]).
    log: VecDeque<(Digest, DecidedEntry, usize)>,
    /// Encoded bytes of the entries in `log`.
    log_bytes: usize,
    /// Members heard (a verified signed message) in the current slot.
    heard_now: BTreeSet<NodeId>,
    /// Decided slots still listened to before attesting absence.
    hearing: BTreeMap<Slot, listen::Hearing>,
    /// Attestations of recent decided slots, first per signer.
    attests: BTreeMap<Slot, BTreeMap<NodeId, Signed<absence::Attest>>>,
    /// Absence proofs waiting to be recorded, by (slot, member).
    absences: BTreeMap<(Slot, NodeId), absence::AbsenceProof>,
    /// The oldest pending operation and the slot since which it has been the oldest.
    front: Option<(Digest, Slot)>,
    /// A verified fork: once set, the node orders nothing more.
    fork: Option<ForkProof>,
    /// The slot and view a recovery certificate resumed at: votes of that slot from
    /// earlier views belong to the abandoned history and yield no prepared certificate.
    resumed_at: Option<(Slot, View)>,
    /// (peer, slot) entries asked for to compare with ours (cleared per decided slot).
    fork_probes: BTreeSet<(NodeId, Slot)>,
    /// The last slot each peer was sent in catch-up, and when (`catch_up::may_serve`);
    /// members only, at most 1,024.
    served: HashMap<NodeId, (Slot, u64)>,
    /// Test-only switch (control of fork detection): never compare or probe.
    fork_blind: bool,
    validator_results: HashMap<(Slot, Digest), Outcome>,
    resolver_results: HashMap<Digest, ResolverVerdict>,
    /// Module calls in flight, with the slot they were made in: forgotten once that slot
    /// is decided (a driver drops a call whose local fault outlived its slot, unanswered).
    calls: HashMap<CallId, (Slot, CallPurpose)>,
    requested: HashSet<Digest>,
    next_call: u64,
    future: VecDeque<Buffered>,
    catch_up_asked: Option<(Slot, u64)>,
    broken_quorum: Option<usize>,
    stats: Stats,
    /// What applying each decided entry changed, until the driver drains it.
    changes: VecDeque<(Slot, Vec<S::Change>)>,
    effects: Vec<Effect>,
}

impl<S: ReplicaState> Node<S> {
    /// A node with key `key` over the replicated state `state` (at its next slot, view 0).
    pub fn new(config: Config, key: Keypair, state: S) -> Self {
        let slot = state.next_slot();
        let limits = mempool::MempoolLimits {
            max_ops: config.mempool_limit,
            max_bytes: config.mempool_bytes,
            max_per_submitter: config.mempool_per_submitter,
        };
        Node {
            config,
            id: key.id(),
            key,
            state,
            now: 0,
            view: 0,
            mode: Mode::Normal,
            round: Round::new(slot, 0),
            prepared: None,
            slot_view: 0,
            deadline: None,
            resend_at: None,
            timer_set: None,
            new_view_msg: None,
            new_view_handed: HashMap::new(),
            view_changes: BTreeMap::new(),
            prepared_tallies: BTreeMap::new(),
            seen: HashMap::new(),
            verified: HashSet::new(),
            own: HashMap::new(),
            mempool: mempool::Mempool::new(limits),
            outbox: gossip::Outbox::default(),
            decided_ops: HashMap::new(),
            skip_authorization: false,
            reveal_unchecked: false,
            withhold_reveals: false,
            omission_unchecked: false,
            commit_set_unchecked: false,
            evidence: BTreeMap::new(),
            recorded: HashSet::new(),
            log: VecDeque::new(),
            log_bytes: 0,
            heard_now: BTreeSet::new(),
            hearing: BTreeMap::new(),
            attests: BTreeMap::new(),
            absences: BTreeMap::new(),
            front: None,
            fork: None,
            resumed_at: None,
            fork_probes: BTreeSet::new(),
            served: HashMap::new(),
            fork_blind: false,
            validator_results: HashMap::new(),
            resolver_results: HashMap::new(),
            calls: HashMap::new(),
            requested: HashSet::new(),
            next_call: 0,
            future: VecDeque::new(),
            catch_up_asked: None,
            broken_quorum: None,
            stats: Stats::default(),
            changes: VecDeque::new(),
            effects: Vec::new(),
        }
    }

    /// DELIBERATELY UNSAFE, for the simulator's self-check: treat any `k` distinct
    /// eligible signers as a quorum (see `QuorumRule::unsafe_fixed`).
    #[cfg(any(test, feature = "broken-quorum"))]
    pub fn with_broken_quorum(mut self, k: usize) -> Self {
        self.broken_quorum = Some(k);
        self
    }

    /// DELIBERATELY UNSAFE, for the simulator's controls: order operations without the
    /// host's authorisation check (signature, role, sponsors, proofs, budgets).
    #[cfg(any(test, feature = "broken-quorum"))]
    pub fn without_authorization(mut self) -> Self {
        self.skip_authorization = true;
        self
    }

    /// DELIBERATELY UNSAFE, for the simulator's controls: never compare certified entries
    /// or probe a differing history (forks go unnoticed).
    #[cfg(any(test, feature = "broken-quorum"))]
    pub fn without_fork_detection(mut self) -> Self {
        self.fork_blind = true;
        self
    }

    /// DELIBERATELY UNSAFE, for the simulator's controls: no commit set (reveal on any
    /// quorum of commits, count every commit that arrives in time: the leak sealing
    /// closes).
    #[cfg(any(test, feature = "broken-quorum"))]
    pub fn without_commit_set(mut self) -> Self {
        self.commit_set_unchecked = true;
        self
    }

    /// DELIBERATELY UNSAFE, for the simulator's controls: accept tallies without the
    /// omission rule (what a tally leaves out is not checked against held reveals).
    #[cfg(any(test, feature = "broken-quorum"))]
    pub fn without_omission_check(mut self) -> Self {
        self.omission_unchecked = true;
        self
    }

    /// A DELIBERATE MISBEHAVIOUR, for devnets and end-to-end runs (node setting
    /// `byzantine = "withhold-reveal"`): the node commits to its results and never reveals
    /// them, late reveals and its own tallies as primary included, so the others attest
    /// it `unrevealed` and slash it. Never set on an honest node.
    pub fn withholding_reveals(mut self) -> Self {
        self.withhold_reveals = true;
        self
    }

    /// DELIBERATELY UNSAFE, the control of a test: reveal without checking that the
    /// results open this node's own commitment.
    #[cfg(test)]
    pub(crate) fn with_unchecked_reveals(mut self) -> Self {
        self.reveal_unchecked = true;
        self
    }

    /// Whether a client's operation would be taken into the mempool now: the host's
    /// authorisation rules, then not already decided or pending, then room in the mempool.
    pub fn check_submission(&self, op: &SignedOperation) -> Result<(), SubmitError> {
        if !self.skip_authorization {
            self.state.authorize(op)?;
        }
        let id = op.id();
        if self.decided_ops.contains_key(&id) {
            return Err(SubmitError::AlreadyDecided);
        }
        if self.mempool.contains(&id) {
            return Err(SubmitError::Pending);
        }
        self.mempool.check_room(op, op.encoded_len())?;
        Ok(())
    }

    /// Handle one input; returns the effects to execute, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Effect> {
        match input {
            Input::Message { from, msg } => {
                if let Err(e) = self.on_message(from, msg) {
                    *self.stats.rejected.entry(e.label()).or_default() += 1;
                }
            }
            Input::Tick { now } => self.on_tick(now),
            Input::Submit(op) => {
                if let Err(e) = self.on_submit(op, true) {
                    *self.stats.rejected.entry(e.label()).or_default() += 1;
                }
            }
            Input::ModuleResult { call, result } => self.on_module_result(call, result),
        }
        self.progress();
        self.arm_timer();
        std::mem::take(&mut self.effects)
    }

    /// Reload this node's persisted vote records after a restart (every
    /// `Persist::Vote` it emitted, in any order): it re-sends its votes of the current
    /// slot, never signs a conflicting vote, and recovers its prepared certificate.
    pub fn restore(&mut self, votes: Vec<Message>) -> Vec<Effect> {
        let slot = self.slot();
        let mut max_view = self.view;
        let mut first_view: Option<View> = None;
        let mut vc_view = None;
        let mut certs: Vec<PreparedCert> = Vec::new();
        let mut tallies: Vec<Signed<Tally>> = Vec::new();
        let mut accepts: Vec<Signed<Accept>> = Vec::new();
        for vote in votes {
            if vote.slot() != Some(slot) {
                continue;
            }
            // Votes of the abandoned history, before a recovery resumed at or below this
            // slot.
            if self
                .resumed_at
                .is_some_and(|(s, v)| slot >= s && vote.view().is_some_and(|w| w < v))
            {
                continue;
            }
            // Records of the prepared certificate (the tally and the accepts of others).
            match &vote {
                Message::Tally(t) => tallies.push((**t).clone()),
                Message::Accept(a) => accepts.push(a.clone()),
                _ => {}
            }
            if vote.signer() != Some(self.id) {
                continue;
            }
            let (Some(view), phase) = (vote.view(), vote.phase()) else {
                continue;
            };
            max_view = max_view.max(view);
            // A view change for `w` was sent from view `w - 1` at the latest.
            let from_view = match &vote {
                Message::ViewChange(_) => view.saturating_sub(1),
                _ => view,
            };
            first_view = Some(first_view.map_or(from_view, |f| f.min(from_view)));
            if let Message::ViewChange(vc) = &vote {
                vc_view = vc_view.max(Some(vc.payload.new_view));
                certs.extend(vc.payload.prepared.as_ref().and_then(|p| p.cert()));
            }
            self.own.insert((slot, view, phase), vote);
        }
        for tally in tallies {
            let value = tally.payload.value();
            let views: BTreeSet<View> = accepts
                .iter()
                .filter(|a| a.payload.value == value)
                .map(|a| a.payload.view)
                .collect();
            for view in views {
                let quorum: Vec<Signed<Accept>> = accepts
                    .iter()
                    .filter(|a| a.payload.value == value && a.payload.view == view)
                    .cloned()
                    .collect();
                let signers: BTreeSet<NodeId> = quorum.iter().map(|a| a.signer).collect();
                if self.is_quorum(&signers) {
                    certs.push(PreparedCert {
                        view,
                        tally: tally.clone(),
                        accepts: quorum,
                    });
                }
            }
        }
        for cert in certs {
            if self.prepared.as_ref().is_none_or(|p| p.view < cert.view) {
                self.prepared = Some(cert);
            }
        }
        if max_view > self.view {
            self.view = max_view;
            self.round = Round::new(slot, max_view);
        }
        // Restore the backoff from the persisted votes (the earliest view this node voted
        // in for the slot), so a restarted node does not run on a shorter clock than the
        // others; without votes it keeps `slot_view` 0, the longest clock.
        if let Some(first) = first_view {
            self.slot_view = self.slot_view.max(first.min(self.view));
        }
        if vc_view == Some(self.view) {
            self.mode = Mode::ViewChanging;
        }
        let mut resend: Vec<Message> = self
            .own
            .iter()
            .filter(|((s, v, _), _)| *s == slot && *v == self.view)
            .map(|(_, m)| m.clone())
            .collect();
        resend.sort_by_key(|m| phase_rank(m.phase()).unwrap_or(u8::MAX));
        for msg in resend {
            self.absorb_own(&msg);
            self.effects.push(Effect::Broadcast { msg });
        }
        self.progress();
        self.arm_timer();
        std::mem::take(&mut self.effects)
    }

    /// The signatures of `msg` this node would check if it handled `msg` now, for a driver
    /// that checks the signatures of several inputs ahead in a batch
    /// ([`crate::crypto::verify_batch`]). Only what the phase logic would check, so a
    /// batch costs no more than handling the messages would: votes of eligible members for
    /// the current slot; a proposal, commit set, tally or new view only from the primary
    /// of its view, and the commits and reveals it carries only of distinct eligible
    /// members, at most one each; view changes of eligible members; attestations the
    /// machine would pool (decided slot within the absence window, well formed, not pooled
    /// yet); for the next slot, which the machine checks on arrival before buffering, the
    /// message's own signature only. A forwarded operation is left to the driver (its
    /// permission is the state's rule).
    pub fn claims_to_check(&self, msg: &Message, out: &mut Vec<Claim>) {
        if !msg.signer().is_some_and(|s| self.state.is_eligible(&s)) {
            return;
        }
        let current = msg.slot() == Some(self.slot());
        // A vote for the next slot (a peer that decided first) is checked on arrival
        // before it is buffered: its own signature only. (Attestations are of decided
        // slots only: below.)
        if msg.slot() == Some(self.slot().saturating_add(1)) && !matches!(msg, Message::Attest(_)) {
            if let Some(claim) = msg.own_claim() {
                out.push(claim);
            }
            return;
        }
        let from_primary = || msg.view().and_then(|v| self.primary(v)) == msg.signer();
        let inner = |votes: &mut dyn Iterator<Item = Claim>, out: &mut Vec<Claim>| {
            let mut seen = BTreeSet::new();
            for c in votes {
                if self.state.is_eligible(&c.signer) && seen.insert(c.signer) {
                    out.push(c);
                }
            }
        };
        match msg {
            Message::Commit(m) if current => out.push(m.claim()),
            Message::Reveal(m) if current => out.push(m.claim()),
            Message::Accept(m) if current => out.push(m.claim()),
            Message::Confirm(m) if current => out.push(m.claim()),
            Message::Proposal(m) if current && from_primary() => out.push(m.claim()),
            Message::CommitSet(m) if current && from_primary() => {
                out.push(m.claim());
                inner(&mut m.payload.commits.iter().map(Signed::claim), out);
            }
            Message::Tally(m) if current && from_primary() => {
                out.push(m.claim());
                inner(&mut m.payload.commits.iter().map(Signed::claim), out);
                inner(&mut m.payload.reveals.iter().map(Signed::claim), out);
            }
            Message::NewView(m) if current && from_primary() => out.push(m.claim()),
            Message::ViewChange(m) if current => out.push(m.claim()),
            Message::Attest(m) if self.attest_needs_check(m) == Ok(true) => out.push(m.claim()),
            _ => {}
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The next slot to decide.
    pub fn slot(&self) -> Slot {
        self.state.next_slot()
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.view
    }

    /// Whether the node is waiting for a new view.
    pub fn is_view_changing(&self) -> bool {
        self.mode == Mode::ViewChanging
    }

    /// The replicated state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Take what applying the decided entries changed since the last call (the most
    /// recent `log_retention` slots are kept if the driver never drains).
    pub fn drain_changes(&mut self) -> Vec<(Slot, Vec<S::Change>)> {
        self.changes.drain(..).collect()
    }

    /// How much this node holds in each of its bounded collections (for status, metrics
    /// and the fuzz targets' memory checks).
    pub fn footprint(&self) -> Footprint {
        Footprint {
            mempool: self.mempool.len(),
            mempool_bytes: self.mempool.bytes(),
            future: self.future.len(),
            future_bytes: self.future.iter().map(|b| b.bytes).sum(),
            evidence: self.evidence.len(),
            view_change_views: self.view_changes.len(),
            prepared_tallies: self.prepared_tallies.len(),
            seen_votes: self.seen.len(),
            log: self.log.len(),
            log_bytes: self.log_bytes,
            calls: self.calls.len(),
        }
    }

    /// Pending operations.
    pub fn pending_ops(&self) -> impl Iterator<Item = &SignedOperation> {
        self.mempool.iter().map(|(_, op)| op)
    }

    /// Number of pending operations.
    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    /// The fork this node detected and halted on, if any.
    pub fn fork(&self) -> Option<&ForkProof> {
        self.fork.as_ref()
    }

    /// A retained decided entry.
    pub fn entry(&self, slot: Slot) -> Option<&DecidedEntry> {
        self.logged(slot).map(|(_, e, _)| e)
    }

    /// The value digest of a retained decided entry (kept with it: hashing an entry costs
    /// as much as its tally's bytes, and messages anyone can send ask for it).
    pub(super) fn entry_value(&self, slot: Slot) -> Option<Digest> {
        self.logged(slot).map(|(v, _, _)| *v)
    }

    fn logged(&self, slot: Slot) -> Option<&(Digest, DecidedEntry, usize)> {
        let first = self.log.front()?.1.slot;
        self.log
            .get(usize::try_from(slot.checked_sub(first)?).ok()?)
    }

    // ---- helpers shared by the phase files ---------------------------------------------

    /// Whether `signers` form a quorum (critical rule, or the test-only broken rule).
    fn is_quorum(&self, signers: &BTreeSet<NodeId>) -> bool {
        match self.broken_quorum {
            Some(k) => signers.iter().filter(|s| self.state.is_eligible(s)).count() >= k,
            None => self.state.is_quorum(signers),
        }
    }

    /// [`Self::is_quorum`] for many signer sets (a tally's per-operation matches), the
    /// rule built once instead of once per set.
    fn quorum_test(&self) -> impl Fn(&BTreeSet<NodeId>) -> bool + '_ {
        let rule = self.state.critical_rule();
        move |s| match self.broken_quorum {
            Some(_) => self.is_quorum(s),
            None => rule.as_ref().is_some_and(|q| q.is_met(s)),
        }
    }

    /// The light quorum test of `view` for many signer sets, the rule built once.
    fn light_test(&self, view: View) -> impl Fn(&BTreeSet<NodeId>) -> bool + use<S> {
        let rule = self.state.light_rule(view);
        move |s| rule.as_ref().is_some_and(|q| q.is_met(s))
    }

    /// `f + 1` among the eligible members.
    fn weak_quorum(&self) -> usize {
        crate::quorum::max_faults(self.state.eligible().len()) + 1
    }

    fn primary(&self, view: View) -> Option<NodeId> {
        self.state.primary(view)
    }

    fn is_primary(&self) -> bool {
        self.primary(self.view) == Some(self.id)
    }

    fn fresh_call(&mut self, purpose: CallPurpose) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        self.calls.insert(id, (self.slot(), purpose));
        id
    }

    /// Verify a signed payload once (cached by envelope digest).
    fn check_sig<T: crate::crypto::Signable>(&mut self, signed: &Signed<T>) -> Result<(), Reject> {
        let key = signed.envelope_digest();
        if self.verified.contains(&key) {
            return Ok(());
        }
        signed.verify()?;
        if self.verified.len() >= 1 << 16 {
            self.verified.clear();
        }
        self.verified.insert(key);
        Ok(())
    }

    /// Verify the signature of a signed vote (cached).
    fn check_vote_signature(&mut self, vote: &Message) -> Result<(), Reject> {
        match vote {
            Message::Proposal(m) => self.check_sig(m),
            Message::Commit(m) => self.check_sig(m),
            Message::CommitSet(m) => self.check_sig(m.as_ref()),
            Message::Reveal(m) => self.check_sig(m),
            Message::Tally(m) => self.check_sig(m.as_ref()),
            Message::Accept(m) => self.check_sig(m),
            Message::Confirm(m) => self.check_sig(m),
            Message::ViewChange(m) => self.check_sig(m.as_ref()),
            Message::NewView(m) => self.check_sig(m.as_ref()),
            Message::Attest(m) => self.check_sig(m.as_ref()),
            Message::Evidence(_)
            | Message::Fork(_)
            | Message::Submit(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => Ok(()),
        }
    }

    /// Sign-and-send discipline: persist, remember, then broadcast. Refuses to sign a
    /// second, different vote for a (slot, view, phase) this node already voted in.
    fn cast(&mut self, msg: Message) -> bool {
        let (Some(slot), Some(view)) = (msg.slot(), msg.view()) else {
            return false;
        };
        let key = (slot, view, msg.phase());
        if let Some(old) = self.own.get(&key)
            && old.payload_digest() != msg.payload_digest()
        {
            return false;
        }
        self.own.insert(key, msg.clone());
        let _ = self.mark_own_verified(&msg);
        if !self.fixed_by_own_commit(&msg) {
            self.effects
                .push(Effect::Persist(Persist::Vote(msg.clone())));
        }
        self.absorb_own(&msg);
        self.effects.push(Effect::Broadcast { msg });
        true
    }

    /// Whether `msg` is a reveal that opens this node's own commit of its (slot, view): such
    /// a reveal needs no record of its own. The commit (persisted before it was sent)
    /// binds the slot, view, batch, every outcome and the salt, and the salt is derived
    /// from the key, slot and view; so the only reveal that opens it is this one, and
    /// ed25519 signs it to the same bytes every time. A node that restarts before its
    /// reveal is durable recomputes its results and reveals only if they open its
    /// persisted commit (else it abstains): the same message, never a conflicting one.
    /// A reveal on the authority path has no commit before it and is recorded as every
    /// other vote (docs/PROTOCOL.md, "Persistence rules").
    fn fixed_by_own_commit(&self, msg: &Message) -> bool {
        let Message::Reveal(r) = msg else {
            return false;
        };
        matches!(
            self.own.get(&(r.payload.slot, r.payload.view, "commit")),
            Some(Message::Commit(c)) if commitment::opens(&c.payload, &r.payload, &self.id)
        )
    }

    /// Record one of our own votes as verified (we signed it).
    fn mark_own_verified(&mut self, msg: &Message) -> Option<()> {
        let key = match msg {
            Message::Proposal(m) => m.envelope_digest(),
            Message::Commit(m) => m.envelope_digest(),
            Message::CommitSet(m) => m.envelope_digest(),
            Message::Reveal(m) => m.envelope_digest(),
            Message::Tally(m) => m.envelope_digest(),
            Message::Accept(m) => m.envelope_digest(),
            Message::Confirm(m) => m.envelope_digest(),
            Message::ViewChange(m) => m.envelope_digest(),
            Message::NewView(m) => m.envelope_digest(),
            _ => return None,
        };
        self.verified.insert(key);
        Some(())
    }

    /// Whether this node already cast a vote for (slot, view, phase), and which.
    fn own_vote(&self, slot: Slot, view: View, phase: &'static str) -> Option<&Message> {
        self.own.get(&(slot, view, phase))
    }

    /// Record `msg` as seen from its signer; a different earlier vote of the same phase
    /// is an equivocation: returns the proof (and keeps the first vote).
    ///
    /// Only the vote's signing bytes and signature are kept ([`SignedVote`]: what a proof
    /// carries), never the message: a view change's tally lies outside its signature, and a
    /// member attaching a frame of junk to each of many view changes made every copy stay
    /// until the slot was decided. View changes and new-views are remembered only for the
    /// views a node still acts on ([`SEEN_VIEWS`] above its own), so a member signing one
    /// for every view costs a bounded number of entries.
    fn check_equivocation(&mut self, msg: &Message) -> Option<Misbehaviour> {
        let (Some(slot), Some(view)) = (msg.slot(), msg.view()) else {
            return None;
        };
        if view < self.view || view > self.view.saturating_add(SEEN_VIEWS) {
            return None;
        }
        let (signer, phase, vote) = SignedVote::from_message(msg)?;
        let key = (signer, slot, view, msg.phase());
        match self.seen.get(&key) {
            None => {
                self.seen.insert(key, vote);
                None
            }
            Some(first) if first.payload == vote.payload => None,
            Some(first) => Some(Misbehaviour::ConflictingVotes {
                signer,
                phase,
                first: first.clone(),
                second: vote,
            }),
        }
    }

    /// Take a verified proof into the pool (once), announce it and gossip it.
    fn add_evidence(&mut self, proof: Misbehaviour) {
        let (Some(offender), Some(slot)) = (proof.offender(), proof.slot()) else {
            return;
        };
        let key = (offender, slot, proof.kind());
        if self.recorded.contains(&key) || self.evidence.contains_key(&key) {
            return;
        }
        if self.evidence_refusal(&proof, offender).is_some() {
            return;
        }
        self.stats.evidence += 1;
        self.evidence.insert(key, proof.clone());
        self.effects.push(Effect::Evidence(Box::new(proof.clone())));
        self.effects.push(Effect::Broadcast {
            msg: Message::Evidence(Box::new(proof)),
        });
    }

    /// Drop the pending proofs about slots before `window_start` and those against a
    /// member excluded for misbehaviour (they change nothing now): after a decided entry
    /// and after a recovery.
    fn drop_pointless_evidence(&mut self, window_start: Slot) {
        let state = &self.state;
        self.evidence
            .retain(|(offender, slot, _), _| *slot >= window_start && !state.misbehaved(offender));
    }

    /// Why a new proof against `offender` is not kept, if it is not: the pool is full, the
    /// proof alone is larger than a proposal may carry of proofs (it could never be
    /// recorded; a bad-reveal proof grows with the batch, so no smaller bound holds for
    /// honest proofs), or [`MAX_PROOFS_PER_OFFENDER`] against the same offender are
    /// pending (a member can only sign proofs against itself: f of them hold at most
    /// f x 4 x 512 KiB).
    fn evidence_refusal(&self, proof: &Misbehaviour, offender: NodeId) -> Option<&'static str> {
        // A proof that can change nothing takes no room, no gossip and no proposal bytes:
        // a member excluded for misbehaviour stays a member and could sign padded
        // conflicting votes for every slot, each re-gossiped and proposed up to the
        // proposal's whole proof budget.
        if self.state.misbehaved(&offender) {
            return Some("the offender is excluded for misbehaviour already");
        }
        if self.evidence.len() >= MAX_PENDING_EVIDENCE {
            return Some("evidence pool full");
        }
        // The proposal's own encoding of its proof lists takes a few bytes besides.
        let room = limits::MAX_PROOF_BYTES_PER_PROPOSAL.saturating_sub(64);
        if crate::crypto::encoded_len(proof) > room {
            return Some("a misbehaviour proof larger than a proposal may carry");
        }
        let against = self
            .evidence
            .keys()
            .filter(|(o, _, _)| *o == offender)
            .count();
        if against >= MAX_PROOFS_PER_OFFENDER {
            return Some("enough proofs against this offender are pending");
        }
        None
    }

    /// `ms` grown like the progress timeout: doubled per view the current slot has moved
    /// past the view it started in (capped). Every gathering wait (reveal grace, authority
    /// wait, patience, the members' omission wait) scales with it, so members slower than
    /// the base waits are waited for in the views that follow a failed one.
    fn scaled(&self, ms: u64) -> u64 {
        let since = self.view.saturating_sub(self.slot_view);
        let cap = u64::from(self.config.max_backoff_exp.min(32));
        let exp = u32::try_from(since.min(cap)).unwrap_or(32);
        ms.saturating_mul(1 << exp)
    }

    /// Progress timeout of the current view: it grows with the number of views the slot
    /// has moved past the view it started in (not with how many view changes this node
    /// happened to time out of), so every honest node in one view runs on one clock.
    fn timeout(&self) -> u64 {
        self.scaled(self.config.base_timeout)
    }

    /// Whether the progress timer may run: always in a view, but while view-changing to
    /// `w` only once a quorum of members asked for `w` or a later view (PBFT's timer rule:
    /// a node never times out of a view change that too few others have joined, so nodes
    /// that drifted apart by a view cannot keep changing views in lockstep).
    fn timer_may_run(&self) -> bool {
        if self.mode == Mode::Normal {
            return true;
        }
        let signers: BTreeSet<NodeId> = self
            .view_changes
            .range(self.view..)
            .flat_map(|(_, by)| by.keys().copied())
            .collect();
        self.is_quorum(&signers)
    }

    /// Whether the node has anything it waits for (so a silent primary is noticed).
    fn has_work(&self) -> bool {
        self.mode == Mode::ViewChanging
            || !self.mempool.is_empty()
            || !self.evidence.is_empty()
            || !self.absences.is_empty()
            || self.round.proposal.is_some()
            || self.round.tally().is_some()
            || self.prepared.is_some()
            || self.confirmed_by_more_than_f().is_some()
    }

    /// Keep the progress deadline armed while there is work, and ask for a timer.
    fn arm_timer(&mut self) {
        if self.fork.is_some() {
            // Halted: only operations taken before the halt still leave.
            if let Some(at) = self.outbox.due()
                && self.timer_set != Some(at)
            {
                self.timer_set = Some(at);
                self.effects.push(Effect::SetTimer { at });
            }
            return;
        }
        if self.has_work() {
            if self.deadline.is_none() && self.timer_may_run() {
                self.deadline = Some(self.now.saturating_add(self.timeout()));
            }
            if self.resend_at.is_none() {
                self.resend_at = Some(self.now.saturating_add(self.config.resend_interval));
            }
        } else {
            self.deadline = None;
            self.resend_at = None;
        }
        // The waits of the round (grace, patience, the omission rule's) are set only
        // ahead of the clock and read as over once passed; one that passed may stay set
        // (the primary waiting for resolver verdicts after its grace), and arming it again
        // made the driver tick in a loop until the verdicts came.
        let ahead = |at: Option<u64>| at.filter(|&at| at > self.now);
        let next = [
            self.deadline,
            ahead(self.round.grace_until),
            ahead(self.round.patience_until),
            ahead(self.round.omission_until),
            self.round.commit_set_due,
            self.resend_at,
            self.next_attest(),
            self.outbox.due(),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(at) = next
            && self.timer_set != Some(at)
        {
            self.timer_set = Some(at);
            self.effects.push(Effect::SetTimer { at });
        }
    }

    fn on_tick(&mut self, now: u64) {
        self.now = self.now.max(now);
        if let Some(bundle) = self.outbox.take_due(self.now) {
            self.timer_set = None;
            self.send_bundle(bundle);
        }
        if self.fork.is_some() {
            return;
        }
        if self.deadline.is_some_and(|d| self.now >= d) {
            self.deadline = None;
            self.timer_set = None;
            self.start_view_change(self.view.saturating_add(1));
        }
        if self.round.grace_until.is_some_and(|g| self.now >= g) {
            self.timer_set = None;
        }
        if self.round.patience_until.is_some_and(|p| self.now >= p) {
            self.timer_set = None;
        }
        if self.round.omission_until.is_some_and(|p| self.now >= p) {
            self.timer_set = None;
        }
        if self.round.commit_set_due.is_some_and(|p| self.now >= p) {
            self.timer_set = None;
        }
        if self.resend_at.is_some_and(|r| self.now >= r) {
            self.resend_at = None;
            self.timer_set = None;
            self.resend_votes();
        }
        if self.next_attest().is_some_and(|a| self.now >= a) {
            self.timer_set = None;
            self.attest_due();
        }
    }

    /// Re-broadcast this node's votes of the current slot and view (identical messages:
    /// receivers ignore duplicates), so message loss does not stall the slot.
    fn resend_votes(&mut self) {
        let (slot, view) = (self.slot(), self.view);
        let mut votes: Vec<Message> = self
            .own
            .iter()
            .filter(|((s, v, _), _)| *s == slot && *v == view)
            .map(|(_, m)| m.clone())
            .collect();
        votes.sort_by_key(|m| phase_rank(m.phase()).unwrap_or(u8::MAX));
        for msg in votes {
            self.effects.push(Effect::Broadcast { msg });
        }
        // Proofs not yet in the log: gossip again, so some primary records them.
        let proofs: Vec<Misbehaviour> = self.evidence.values().cloned().collect();
        for proof in proofs {
            self.effects.push(Effect::Broadcast {
                msg: Message::Evidence(Box::new(proof)),
            });
        }
    }

    fn on_submit(&mut self, op: SignedOperation, gossip: bool) -> Result<(), Reject> {
        let digest = op.id();
        match self.check_submission(&op) {
            Ok(()) => {}
            Err(SubmitError::Unauthorized(e)) => return Err(Reject::Unauthorized(e)),
            Err(_) => return Ok(()),
        }
        self.mempool.push(digest, op.clone());
        if gossip {
            self.forward(op);
        }
        Ok(())
    }

    /// Forward a client's operation to every member in the next bundle (`gossip.rs`).
    fn forward(&mut self, op: SignedOperation) {
        let len = op.encoded_len();
        if let Some(bundle) = self.outbox.push(op, len, self.now, self.config.gossip_hold) {
            self.send_bundle(bundle);
        }
    }

    fn send_bundle(&mut self, bundle: Vec<SignedOperation>) {
        self.effects.push(Effect::Broadcast {
            msg: Message::Submit(bundle),
        });
    }

    /// Whether this node reads a bundle of `len` forwarded submissions from `from`: a
    /// member's, of at most `gossip::MAX_BUNDLE_OPS` (the driver's batch check asks too).
    pub fn reads_bundle(&self, from: &NodeId, len: usize) -> Result<(), Reject> {
        if !self.state.is_member(from) {
            return Err(Reject::NotMember(*from));
        }
        if len > gossip::MAX_BUNDLE_OPS {
            return Err(Reject::Invalid("a bundle of more submissions than allowed"));
        }
        Ok(())
    }

    /// A member's bundle of forwarded submissions: each operation checked and taken as a
    /// client's is, but not forwarded again (the first refusal is reported, after every
    /// operation was looked at).
    fn on_submits(&mut self, from: NodeId, ops: Vec<SignedOperation>) -> Result<(), Reject> {
        self.reads_bundle(&from, ops.len())?;
        let mut first = Ok(());
        for op in ops {
            if let Err(e) = self.on_submit(op, false)
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }

    fn on_module_result(&mut self, call: CallId, result: ModuleReply) {
        let Some((_, purpose)) = self.calls.remove(&call) else {
            return;
        };
        match (purpose, result) {
            (CallPurpose::Validator { slot, .. }, _) if slot < self.slot() => {}
            (CallPurpose::Validator { slot, op }, ModuleReply::Validator(outcome)) => {
                self.validator_results.insert((slot, op), outcome);
            }
            (CallPurpose::Resolver { key }, ModuleReply::Resolver(verdict)) => {
                self.resolver_results.insert(key, verdict);
            }
            // A reply of the wrong kind is the driver's bug; treat it as a failed call.
            (CallPurpose::Validator { slot, op }, ModuleReply::Resolver(_)) => {
                self.validator_results.insert(
                    (slot, op),
                    Outcome::Failed(crate::ops::FailureKind::InvalidOutput),
                );
            }
            (CallPurpose::Resolver { key }, ModuleReply::Validator(_)) => {
                self.resolver_results.insert(
                    key,
                    ResolverVerdict::Failed(crate::ops::FailureKind::InvalidOutput),
                );
            }
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Message) -> Result<(), Reject> {
        if self.fork.is_some() {
            // Halted on a fork: serve what we hold, order nothing.
            return match msg {
                Message::CatchUpRequest { from: slot } => self.on_catch_up_request(from, slot),
                _ => Ok(()),
            };
        }
        match msg {
            Message::Submit(ops) => self.on_submits(from, ops),
            Message::Evidence(proof) => self.on_evidence(*proof),
            Message::Attest(a) => self.on_attest(*a),
            Message::Fork(proof) => self.on_fork(*proof),
            Message::CatchUpRequest { from: slot } => self.on_catch_up_request(from, slot),
            Message::CatchUpResponse { entries } => self.on_catch_up_response(from, entries),
            vote => self.on_vote(from, vote),
        }
    }

    fn on_evidence(&mut self, proof: Misbehaviour) -> Result<(), Reject> {
        // Only recent misbehaviour, and a bounded pool: a member signing conflicting votes
        // for any number of far slots cannot grow the pool or the gossip.
        let current = self.slot();
        let recent = proof.slot().is_some_and(|s| {
            s.saturating_add(EVIDENCE_WINDOW) >= current && s <= current.saturating_add(1)
        });
        if !recent {
            return Err(Reject::Invalid(
                "evidence outside the window of recent slots",
            ));
        }
        // Cheap refusals before any signature is checked: a proof already held, or one the
        // pool would not keep (the offender named is checked by `verify` below).
        let (Some(claimed), Some(slot)) = (proof.offender(), proof.slot()) else {
            return Err(Reject::Invalid("a proof naming no offender or slot"));
        };
        let key = (claimed, slot, proof.kind());
        if self.recorded.contains(&key) || self.evidence.contains_key(&key) {
            return Ok(());
        }
        if let Some(why) = self.evidence_refusal(&proof, claimed) {
            return Err(Reject::Invalid(why));
        }
        let offender = proof.verify()?;
        if !self.state.is_member(&offender) {
            return Err(Reject::NotMember(offender));
        }
        self.add_evidence(proof);
        Ok(())
    }

    /// Common checks of a signed vote, then dispatch by phase.
    fn on_vote(&mut self, from: NodeId, vote: Message) -> Result<(), Reject> {
        let (Some(signer), Some(slot), Some(view)) = (vote.signer(), vote.slot(), vote.view())
        else {
            return Err(Reject::Invalid("not a vote"));
        };
        if !self.state.is_member(&signer) {
            return Err(Reject::NotMember(signer));
        }
        let current = self.slot();
        if slot < current {
            // A lagging peer: help it with the certificates it lacks (a genuine view
            // change of its signer only, paced per peer: see `catch_up::may_serve_unasked`).
            if let Message::ViewChange(vc) = &vote
                && vc.signer == from
                && self.may_serve_unasked(from, slot)
                && self.check_vote_signature(&vote).is_ok()
            {
                self.serve_catch_up(from, slot);
            }
            // A late vote of a slot this node listens to still proves its signer was there.
            if self.listening_to(slot, &vote) && self.check_vote_signature(&vote).is_ok() {
                self.hear(&vote);
            }
            // A member that confirmed another value for a slot we decided: fetch its
            // entry to compare (a fork, if it is certified). The value is kept with the
            // entry, so a stale confirm costs no hashing of it.
            if let Message::Confirm(c) = &vote
                && self.entry_value(slot).is_some_and(|v| v != c.payload.value)
                && self.check_vote_signature(&vote).is_ok()
            {
                self.probe_fork(from, slot);
            }
            return Err(Reject::Stale);
        }
        if !within_batch_ceiling(&vote) {
            return Err(Reject::Invalid(
                "more operations or outcomes than any batch may hold",
            ));
        }
        if slot > current {
            // Only a genuine vote proves that the sender is ahead (no catch-up requests on
            // forged claims); only the next slot's votes are worth keeping, later slots
            // arrive as certified entries.
            self.check_vote_signature(&vote)?;
            self.ask_catch_up(from, current);
            if slot == current.saturating_add(1) {
                self.buffer(from, vote);
            }
            return Ok(());
        }
        let is_view_msg = matches!(vote, Message::ViewChange(_) | Message::NewView(_));
        if !is_view_msg && view < self.view {
            return Err(Reject::Stale);
        }
        if !is_view_msg && (view > self.view || self.mode == Mode::ViewChanging) {
            self.check_vote_signature(&vote)?;
            self.hear(&vote);
            self.buffer(from, vote);
            return Ok(());
        }
        self.check_vote_signature(&vote)?;
        self.hear(&vote);
        if let Some(proof) = self.check_equivocation(&vote) {
            self.add_evidence(proof);
            return Err(Reject::Equivocation(signer));
        }
        match vote {
            Message::Proposal(p) => self.on_proposal(p),
            Message::Commit(c) => self.on_commit(c),
            Message::CommitSet(cs) => self.on_commit_set(*cs),
            Message::Reveal(r) => self.on_reveal(r),
            Message::Tally(t) => self.on_tally(*t),
            Message::Accept(a) => self.on_accept(a),
            Message::Confirm(c) => self.on_confirm(c),
            Message::ViewChange(vc) => self.on_view_change(*vc),
            Message::NewView(nv) => self.on_new_view(*nv),
            Message::Submit(_)
            | Message::Evidence(_)
            | Message::Fork(_)
            | Message::Attest(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => Err(Reject::Invalid("not a vote")),
        }
    }

    /// Keep a signed vote for a future slot or view, within each signer's share
    /// ([`FUTURE_PER_SIGNER`] messages, [`FUTURE_BYTES_PER_SIGNER`] bytes: what exceeds it
    /// evicts that signer's oldest, never another's) and the node-wide count
    /// (`Config::future_buffer`, the oldest goes first). A second message for a (signer,
    /// slot, view, phase) already buffered is dropped: an honest member's re-sends take no
    /// more room, and of an equivocating pair the first is kept (as `seen` keeps it).
    ///
    /// Counting messages alone bounded nothing in bytes: a member's 4,096 signed reveals
    /// of a frame each for the next view held 16 GiB, and evicted every honest vote.
    fn buffer(&mut self, from: NodeId, msg: Message) {
        let (Some(signer), Some(slot), Some(view)) = (msg.signer(), msg.slot(), msg.view()) else {
            return;
        };
        let key = (signer, slot, view, msg.phase());
        if self.future.iter().any(|b| b.key == key) {
            return;
        }
        let bytes = crate::crypto::encoded_len(&msg);
        if bytes > FUTURE_BYTES_PER_SIGNER {
            return;
        }
        loop {
            let (count, held) = self
                .future
                .iter()
                .filter(|b| b.key.0 == signer)
                .fold((0usize, 0usize), |(c, h), b| (c + 1, h + b.bytes));
            if count < FUTURE_PER_SIGNER && held + bytes <= FUTURE_BYTES_PER_SIGNER {
                break;
            }
            let Some(oldest) = self.future.iter().position(|b| b.key.0 == signer) else {
                break;
            };
            self.future.remove(oldest);
        }
        if self.future.len() >= self.config.future_buffer {
            self.future.pop_front();
        }
        self.future.push_back(Buffered {
            from,
            key,
            bytes,
            msg,
        });
    }

    /// Re-handle buffered messages after the slot or view moved.
    fn replay_future(&mut self) {
        let pending = std::mem::take(&mut self.future);
        for Buffered { from, msg, .. } in pending {
            if let Err(e) = self.on_message(from, msg) {
                *self.stats.rejected.entry(e.label()).or_default() += 1;
            }
        }
    }

    /// Everything the current state allows, until nothing changes.
    fn progress(&mut self) {
        if self.fork.is_some() {
            return;
        }
        for _ in 0..16 {
            let before = (self.slot(), self.view, self.mode, self.effects.len());
            match self.mode {
                Mode::ViewChanging => self.try_new_view(),
                Mode::Normal => {
                    self.gather();
                    self.agree();
                }
            }
            if before == (self.slot(), self.view, self.mode, self.effects.len()) {
                break;
            }
        }
    }
}

/// Whether a vote carries at most [`crate::state::MAX_BATCH_CEILING`] operations,
/// outcomes or decisions in each of its lists, as every honest vote of any slot does. Checked
/// before a vote is buffered for a later slot or view, whose own limits are not known yet:
/// the buffer is budgeted in encoded bytes, and an outcome or decision of 2 bytes encoded
/// (`Failed`, an empty escalation) takes about 40 in memory, so a signed tally of two
/// million of them held about 80 MB in a 4 MiB frame.
fn within_batch_ceiling(vote: &Message) -> bool {
    let ceiling = crate::state::MAX_BATCH_CEILING;
    let proposal_ok = |p: &Signed<message::Proposal>| p.payload.batch.len() <= ceiling;
    let tally_ok = |t: &Signed<message::Tally>| {
        proposal_ok(&t.payload.proposal)
            && t.payload.decisions.len() <= ceiling
            && t.payload
                .reveals
                .iter()
                .all(|r| r.payload.outcomes.len() <= ceiling)
    };
    match vote {
        Message::Proposal(p) => proposal_ok(p),
        Message::Reveal(r) => r.payload.outcomes.len() <= ceiling,
        Message::Tally(t) => tally_ok(t),
        Message::ViewChange(vc) => vc
            .payload
            .prepared
            .as_ref()
            .and_then(|c| c.tally.as_ref())
            .is_none_or(tally_ok),
        Message::NewView(nv) => nv.payload.view_changes.iter().all(|vc| {
            vc.payload
                .prepared
                .as_ref()
                .and_then(|c| c.tally.as_ref())
                .is_none_or(tally_ok)
        }),
        _ => true,
    }
}

/// Protocol order of a vote phase ([`Message::phase`]): re-sent votes go out in this
/// order, and a driver may use it as the phase byte of a stored vote. `None` for the
/// messages that are not votes.
pub fn phase_rank(phase: &str) -> Option<u8> {
    match phase {
        "proposal" => Some(0),
        "commit" => Some(1),
        "commit-set" => Some(2),
        "reveal" => Some(3),
        "tally" => Some(4),
        "accept" => Some(5),
        "confirm" => Some(6),
        "view-change" => Some(7),
        "new-view" => Some(8),
        _ => None,
    }
}
