//! Bookkeeping of one (slot, view): the proposal, the gathered commits and reveals, the
//! value being agreed on, and the agreement votes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::message::{Accept, Commit, CommitSet, Confirm, Proposal, Reveal, Tally};
use crate::crypto::Signed;
use crate::types::{Digest, NodeId, Slot, View};

/// State of the current (slot, view).
#[derive(Debug, Clone)]
pub(super) struct Round {
    /// The slot.
    pub slot: Slot,
    /// The view.
    pub view: View,
    /// The primary's proposal, once seen (shared: the phase logic reads it on every
    /// input, and a batch is too large to copy each time).
    pub proposal: Option<Arc<Signed<Proposal>>>,
    /// When the proposal entered the round (virtual ms).
    pub started: u64,
    /// Digests of the proposal's operations (computed once).
    pub op_digests: Vec<Digest>,
    /// Whether the validator calls of the proposal's operations were asked for (each is
    /// asked for once; later passes only look for the results).
    pub calls_asked: bool,
    /// Its batch digest `d`.
    pub digest: Option<Digest>,
    /// First commit per signer (any digest; only those for `d` count).
    pub commits: BTreeMap<NodeId, Signed<Commit>>,
    /// The primary's commit set for `d` (first received; a second is an equivocation).
    pub commit_set: Option<Signed<CommitSet>>,
    /// Primary only: when it closes the commit set once a quorum has committed.
    pub commit_set_due: Option<u64>,
    /// First reveal per signer.
    pub reveals: BTreeMap<NodeId, Signed<Reveal>>,
    /// Signers whose reveal was checked to open their commit (first commit and reveal
    /// per signer never change, so the check is done once).
    pub opened: BTreeSet<NodeId>,
    /// Primary only: when it stops waiting for the remaining reveals.
    pub grace_until: Option<u64>,
    /// Primary only: past the grace, some operation still lacks a matching quorum while
    /// reveals are outstanding; it waits for them until then before the resolver.
    pub patience_until: Option<u64>,
    /// The value this view votes on: the primary's tally, or the one a new-view fixed,
    /// with its value digest (computed once: hashing a tally of a large batch is the
    /// costliest part of a pass). Private: set only through [`Round::set_tally`], so the
    /// digest always belongs to the tally.
    tally: Option<(Signed<Tally>, Digest)>,
    /// Whether `tally` was fixed by a new-view certificate (locking rule).
    pub fixed: bool,
    /// A received tally whose decisions are being checked (waiting for resolver verdicts,
    /// or held by the omission rule).
    pub pending_tally: Option<Signed<Tally>>,
    /// Until when the omission rule holds the pending tally (virtual ms).
    pub omission_until: Option<u64>,
    /// Whether the pending tally's decisions were recomputed and matched (once per tally:
    /// they depend on its own proposal and reveals only).
    pub pending_decided: bool,
    /// What the omission rule last read when it held the pending tally ([`HeldBy`]): it
    /// is weighed again only when one of those moved or its patience ended, not on every
    /// input.
    pub omission_read: Option<HeldBy>,
    /// Primary only: what its wait for reveals last read when it found the tally not
    /// ready ([`TallyRead`]): it is weighed again only when one of those moved or the
    /// clock reached the wait's next deadline, not on every input.
    pub tally_read: Option<TallyRead>,
    /// When the pending tally arrived (virtual ms): the omission rule's patience runs at
    /// least a reveal grace past it, so a primary cannot send its tally only when the
    /// members' patience is over.
    pub pending_since: u64,
    /// Signers of commits to `d` in this view this node held directly when the commit set
    /// arrived (its own included): a set leaving one of them out left out a member that
    /// was in time, as far as this node can tell.
    pub before_set: BTreeSet<NodeId>,
    /// Whether this node sent the commit set on to the members of it whose reveals it
    /// lacks (once per round, while it holds an unsettled tally).
    pub set_relayed: bool,
    /// First accept per signer.
    pub accepts: BTreeMap<NodeId, Signed<Accept>>,
    /// First confirm per signer.
    pub confirms: BTreeMap<NodeId, Signed<Confirm>>,
    /// Members we sent our proposal to because they committed to another batch.
    pub echoed: BTreeSet<NodeId>,
    /// Batches this node abstained from revealing (its recomputed results did not open
    /// its own commitment), counted once.
    pub abstained: BTreeSet<Digest>,
}

impl Round {
    /// A fresh round.
    pub fn new(slot: Slot, view: View) -> Self {
        Round {
            slot,
            view,
            proposal: None,
            calls_asked: false,
            started: 0,
            op_digests: Vec::new(),
            digest: None,
            commits: BTreeMap::new(),
            commit_set: None,
            commit_set_due: None,
            reveals: BTreeMap::new(),
            opened: BTreeSet::new(),
            grace_until: None,
            patience_until: None,
            tally: None,
            fixed: false,
            pending_tally: None,
            omission_until: None,
            pending_decided: false,
            omission_read: None,
            tally_read: None,
            pending_since: 0,
            before_set: BTreeSet::new(),
            set_relayed: false,
            accepts: BTreeMap::new(),
            confirms: BTreeMap::new(),
            echoed: BTreeSet::new(),
            abstained: BTreeSet::new(),
        }
    }

    /// The tally this view votes on, if any.
    pub fn tally(&self) -> Option<&Signed<Tally>> {
        self.tally.as_ref().map(|(t, _)| t)
    }

    /// Its value digest ([`Tally::value`]).
    pub fn tally_value(&self) -> Option<Digest> {
        self.tally.as_ref().map(|(_, v)| *v)
    }

    /// Set the tally this view votes on.
    pub fn set_tally(&mut self, tally: Signed<Tally>) {
        let value = tally.payload.value();
        self.tally = Some((tally, value));
    }
}

/// What the omission rule reads beside the pending tally itself and the clock: the count
/// of reveals held (first per signer, so the count moves whenever one is added), of the
/// commits held before the set, and whether the set is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldBy {
    /// Reveals held.
    pub reveals: usize,
    /// Commits held when the set arrived.
    pub before_set: usize,
    /// Whether the commit set is held.
    pub commit_set: bool,
}

/// What the primary's wait for reveals (`try_tally`) reads beside its own proposal and
/// the clock: the reveals and commits held (first per signer, so each count moves
/// whenever one is added), whether the commit set is held, and the resolver verdicts
/// held (asked for once per key in a slot); and the next deadline of the wait (grace or
/// patience) still ahead when it last found the tally not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TallyRead {
    /// Reveals held.
    pub reveals: usize,
    /// Commits held.
    pub commits: usize,
    /// Whether the commit set is held.
    pub commit_set: bool,
    /// Resolver verdicts held.
    pub verdicts: usize,
    /// The earliest deadline of the wait after the last weighing (virtual ms), if any.
    pub wake: Option<u64>,
}
