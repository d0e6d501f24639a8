//! Agreement: accept (prepare), confirm (commit) and decide (docs/PROTOCOL.md, phases 5-6),
//! and applying a decided entry.

use std::collections::{BTreeMap, BTreeSet};

use super::commitment::opens;
use super::effect::{Effect, Persist};
use super::entry::DecidedEntry;
use super::message::{Accept, Confirm, Message, PreparedCert};
use super::round::Round;
use super::rules::Path;
use super::{Mode, Node, Reject, ReplicaState};
use crate::crypto::Signed;
use crate::ops::AuthorityLevel;
use crate::types::{Digest, NodeId, Slot};

impl<S: ReplicaState> Node<S> {
    pub(super) fn on_accept(&mut self, a: Signed<Accept>) -> Result<(), Reject> {
        if !self.state.is_eligible(&a.signer) {
            return Err(Reject::NotMember(a.signer));
        }
        self.round.accepts.entry(a.signer).or_insert(a);
        Ok(())
    }

    pub(super) fn on_confirm(&mut self, c: Signed<Confirm>) -> Result<(), Reject> {
        if !self.state.is_eligible(&c.signer) {
            return Err(Reject::NotMember(c.signer));
        }
        self.round.confirms.entry(c.signer).or_insert(c);
        Ok(())
    }

    /// Check a pending tally's decisions against the rules (once resolver verdicts are in).
    fn check_pending_tally(&mut self) {
        // Taken out for the checks (no copy of the tally, its batch and reveals on every
        // pass) and put back while it still waits.
        let Some(t) = self.round.pending_tally.take() else {
            return;
        };
        // Each check is made again only when what it reads moved: this runs after every
        // input, and a member sending cheap frames while this node holds a tally made it
        // recompute the batch's decisions and weigh the omission rule (hashing the batch
        // and every reveal) per frame.
        if !self.round.pending_decided {
            let view = t.payload.view();
            let Some(decisions) = self.decisions_for(&t.payload.proposal, &t.payload.reveals, view)
            else {
                self.round.pending_tally = Some(t);
                return;
            };
            if decisions != t.payload.decisions {
                *self.stats.rejected.entry("wrong_decisions").or_default() += 1;
                return;
            }
            self.round.pending_decided = true;
        }
        let read = super::round::HeldBy {
            reveals: self.round.reveals.len(),
            before_set: self.round.before_set.len(),
            commit_set: self.round.commit_set.is_some(),
        };
        if self.round.omission_read == Some(read)
            && self
                .round
                .omission_until
                .is_some_and(|until| self.now < until)
            && !self.omission_unchecked
        {
            self.round.pending_tally = Some(t);
            return;
        }
        self.stats.omission_checks += 1;
        match self.omission(&t) {
            Omission::Refuse => {
                self.round.omission_until = None;
                *self.stats.rejected.entry("omits_reveals").or_default() += 1;
            }
            Omission::Wait(until) => {
                self.round.omission_until = Some(until);
                self.round.omission_read = Some(read);
                self.relay_commit_set(&t);
                self.round.pending_tally = Some(t);
            }
            Omission::Accept => {
                self.round.omission_until = None;
                self.round.set_tally(t);
            }
        }
    }

    /// The omission rule (docs/PROTOCOL.md, "Results the primary cannot steer"): refuse a
    /// tally if the valid reveals this member holds and the tally leaves out would give
    /// some operation a decision without the resolver that differs from the tally's (a
    /// quorum or light quorum where the tally has none, or the deciding layer's reveal
    /// where the tally fell back). A tally whose every decision is already settled by
    /// its own reveals (and, on an authority path, includes the deciding layer) is
    /// accepted at once: added reveals cannot change a unique quorum match. Any other is
    /// held until this member's patience ends (half its progress timeout after the
    /// proposal), so honest reveals have arrived on a synchronous network.
    ///
    /// A Byzantine member cannot use it to stall an honest primary: the honest primary
    /// waits for every honest reveal up to the same patience, so its tally already holds
    /// the honest quorum whenever one agrees; a reveal that a Byzantine member sends to
    /// this member only can add to a quorum of one outcome, never create a second one.
    fn omission(&self, t: &Signed<super::message::Tally>) -> Omission {
        if self.omission_unchecked {
            return Omission::Accept;
        }
        let tally = &t.payload;
        let proposal = &tally.proposal;
        let path = Path::of(&proposal.payload.batch);
        let view = tally.view();
        let n = proposal.payload.batch.len();
        let d = proposal.payload.batch_digest();
        let in_tally: BTreeSet<NodeId> = tally.reveals.iter().map(|r| r.signer).collect();
        let commits: BTreeMap<NodeId, &Signed<super::message::Commit>> =
            tally.commits.iter().map(|c| (c.signer, c)).collect();
        let extra: Vec<Signed<super::message::Reveal>> = self
            .round
            .reveals
            .values()
            .filter(|r| {
                !in_tally.contains(&r.signer)
                    && r.payload.batch == d
                    && r.payload.view == view
                    && r.payload.outcomes.len() == n
                    && self.state.is_eligible(&r.signer)
                    && (!path.sealed()
                        || commits
                            .get(&r.signer)
                            .is_some_and(|c| opens(&c.payload, &r.payload, &r.signer)))
            })
            .cloned()
            .collect();
        let before = self.strong_of(proposal, &tally.reveals, view);
        if !extra.is_empty() {
            let mut all = tally.reveals.clone();
            all.extend(extra);
            let after = self.strong_of(proposal, &all, view);
            if before
                .iter()
                .zip(&after)
                .any(|(b, a)| a.is_some() && a != b)
            {
                return Omission::Refuse;
            }
        }
        let decider = match path {
            Path::Authority(AuthorityLevel::High) => self.primary(view),
            Path::Authority(AuthorityLevel::Medium) => self.state.seed(view),
            _ => None,
        };
        let settled =
            before.iter().all(Option::is_some) && decider.is_none_or(|x| in_tally.contains(&x));
        let everyone = self.state.eligible().iter().all(|id| in_tally.contains(id));
        if settled || everyone {
            return Omission::Accept;
        }
        // A tally that sends an operation to the resolver (some operation without a
        // quorum or light-quorum match): a commit set leaving out a member whose commit
        // this node held before the set arrived left out a member that was in time. (An
        // authority path whose decider is missing but whose fallback decides everything
        // is not refused for it: the fallback is what the rule is for.) A Byzantine
        // primary that closes the set without an honest member (or with its own wrong
        // result and just a quorum) would otherwise send the operation to the resolver,
        // which may escalate it: a veto on any operation of its slot.
        if path.sealed()
            && before.iter().any(Option::is_none)
            && self
                .round
                .before_set
                .iter()
                .any(|id| !commits.contains_key(id) && self.state.is_eligible(id))
        {
            return Omission::Refuse;
        }
        // Patience: half the progress timeout after the proposal, and at least a reveal
        // grace after the tally arrived (time for the commit set this node relays to the
        // members whose reveals it lacks, and for their reveals).
        let until = self.round.started.saturating_add(self.timeout() / 2).max(
            self.round
                .pending_since
                .saturating_add(self.scaled(self.config.reveal_grace)),
        );
        if self.now >= until {
            Omission::Accept
        } else {
            Omission::Wait(until)
        }
    }

    /// While an unsettled tally is held: send the commit set on, once, to the members of
    /// it whose reveals this node lacks. A primary that delivers its set to some members
    /// late or never keeps them from revealing; relayed, they reveal, and the omission
    /// rule weighs their reveals.
    fn relay_commit_set(&mut self, t: &Signed<super::message::Tally>) {
        if self.round.set_relayed {
            return;
        }
        let Some(cs) = self.round.commit_set.clone() else {
            return;
        };
        self.round.set_relayed = true;
        let revealed: BTreeSet<NodeId> = t.payload.reveals.iter().map(|r| r.signer).collect();
        for c in &cs.payload.commits {
            let id = c.signer;
            if id == self.id
                || id == cs.signer
                || revealed.contains(&id)
                || self.round.reveals.contains_key(&id)
            {
                continue;
            }
            self.effects.push(Effect::Send {
                to: id,
                msg: Message::CommitSet(Box::new(cs.clone())),
            });
        }
    }

    /// Phases 5-6 as far as the current state allows.
    pub(super) fn agree(&mut self) {
        self.check_pending_tally();
        let (slot, view) = (self.round.slot, self.round.view);
        // The tally and the votes are cloned only when a certificate or an entry is made:
        // a pass that changes nothing costs no copy and no hash of the tally.
        let Some(value) = self.round.tally_value() else {
            self.fetch_confirmed(slot);
            return;
        };
        let voter = self.state.is_eligible(&self.id);
        if voter && self.own_vote(slot, view, "accept").is_none() {
            let a = Accept { slot, view, value };
            self.cast(Message::Accept(Signed::new(a, &self.key)));
        }
        let signers: BTreeSet<NodeId> = self
            .round
            .accepts
            .values()
            .filter(|a| a.payload.value == value)
            .map(|a| a.signer)
            .collect();
        if !self.is_quorum(&signers) {
            return;
        }
        if self.prepared.as_ref().is_none_or(|p| p.view < view)
            && let Some(tally) = self.round.tally().cloned()
        {
            let accepts: Vec<Signed<Accept>> = self
                .round
                .accepts
                .values()
                .filter(|a| a.payload.value == value)
                .cloned()
                .collect();
            // Persist the certificate before confirming: a restarted node must still
            // report it in a view change (the locking rule depends on it).
            self.effects
                .push(Effect::Persist(Persist::Vote(Message::Tally(Box::new(
                    tally.clone(),
                )))));
            for a in accepts.iter().filter(|a| a.signer != self.id) {
                self.effects
                    .push(Effect::Persist(Persist::Vote(Message::Accept(a.clone()))));
            }
            self.prepared = Some(PreparedCert {
                view,
                tally,
                accepts,
            });
        }
        if voter && self.own_vote(slot, view, "confirm").is_none() {
            let c = Confirm { slot, view, value };
            self.cast(Message::Confirm(Signed::new(c, &self.key)));
        }
        let signers: BTreeSet<NodeId> = self
            .round
            .confirms
            .values()
            .filter(|c| c.payload.value == value)
            .map(|c| c.signer)
            .collect();
        if self.is_quorum(&signers)
            && let Some(tally) = self.round.tally().cloned()
        {
            let confirms: Vec<Signed<Confirm>> = self
                .round
                .confirms
                .values()
                .filter(|c| c.payload.value == value)
                .cloned()
                .collect();
            // Members that confirmed another value for this slot: once decided, ask them
            // for their entry to compare (a fork, if it is certified).
            let others: Vec<NodeId> = self
                .round
                .confirms
                .values()
                .filter(|c| c.payload.value != value)
                .map(|c| c.signer)
                .collect();
            self.apply_entry(DecidedEntry {
                slot,
                view,
                tally,
                confirms,
            });
            for peer in others {
                self.probe_fork(peer, slot);
            }
        }
    }

    /// Ask for the entry of `slot` when more than `f` members (so an honest one) confirmed
    /// a value we lack: at a quorum, one signer, as the paced catch-up request; below it,
    /// each signer once per slot, outside that pacing (a signer asked before it decided
    /// answers nothing, and must not hold up the request made once the quorum is in).
    fn fetch_confirmed(&mut self, slot: Slot) {
        let Some(signers) = self.confirmed_by_more_than_f() else {
            return;
        };
        if self.is_quorum(&signers) {
            if let Some(peer) = signers.into_iter().find(|id| *id != self.id) {
                self.ask_catch_up(peer, slot);
            }
            return;
        }
        for peer in signers.into_iter().filter(|id| *id != self.id) {
            // The set of (peer, slot) asked once, cleared at every decision (as probes).
            if self.fork_probes.len() < 1_024 && self.fork_probes.insert((peer, slot)) {
                self.effects.push(Effect::Send {
                    to: peer,
                    msg: Message::CatchUpRequest { from: slot },
                });
            }
        }
    }

    /// The signers of the confirms of one value of this round, when they are more than
    /// `f` members (or a quorum): at least one honest member confirmed it, so a decision
    /// is at hand. Waiting for a quorum let a primary that kept its proposal and its own
    /// confirm from one idle member (empty mempool, so no timer) leave it without the
    /// decision until the driver's next catch-up probe (3 s), after the others' absence
    /// wait (2 s): attested silent.
    pub(super) fn confirmed_by_more_than_f(&self) -> Option<BTreeSet<NodeId>> {
        if self.round.confirms.is_empty() {
            return None;
        }
        let mut by_value: BTreeMap<Digest, BTreeSet<NodeId>> = BTreeMap::new();
        for c in self.round.confirms.values() {
            by_value
                .entry(c.payload.value)
                .or_default()
                .insert(c.signer);
        }
        let weak = self.weak_quorum();
        by_value
            .into_values()
            .find(|s| s.len() >= weak || self.is_quorum(s))
    }

    /// Rebuild this node, after a restart, from its own stored decided log (entries in
    /// slot order from the state's next slot or earlier; a gap ends the replay). An
    /// entry at the state's next slot is applied to the state without effects (it was
    /// verified when first decided); earlier ones are taken as already applied. Either
    /// way the node keeps what the replicated state does not hold (docs/PROTOCOL.md,
    /// "Persistence rules"): the digests of every decided operation, so that none is
    /// ordered twice; the misbehaviour already recorded; the retained tail of the log, to
    /// serve catch-up; and the view the next slot starts in (the view its predecessor was
    /// decided in, as after a live decision). It may be called several times with
    /// consecutive chunks; call it right after [`Node::new`], before [`Node::restore`].
    pub fn restore_log(&mut self, entries: impl IntoIterator<Item = DecidedEntry>) {
        for entry in entries {
            let next = self.state.next_slot();
            if entry.slot > next {
                break;
            }
            if entry.slot == next {
                self.state.apply(&entry);
            }
            self.decided_ops
                .extend(entry.batch().iter().map(|op| (op.id(), op.expires)));
            for ev in entry.evidence() {
                if let (Some(offender), Some(slot)) = (ev.offender(), ev.slot()) {
                    self.recorded.insert((offender, slot, ev.kind()));
                }
            }
            if self
                .log
                .back()
                .is_some_and(|(_, b, _)| b.slot.checked_add(1) != Some(entry.slot))
            {
                self.log.clear();
                self.log_bytes = 0;
            }
            self.retain(entry);
        }
        let next = self.state.next_slot();
        let view = self
            .log
            .back()
            .filter(|(_, last, _)| last.slot.checked_add(1) == Some(next))
            .map_or(self.view, |(_, last, _)| last.view.max(self.view));
        if self.round.slot != next || view != self.view {
            self.view = view;
            self.slot_view = view;
            self.round = Round::new(next, view);
        }
    }

    /// Keep `entry` in the retained log, then drop the oldest entries past
    /// `log_retention` entries or `log_retention_bytes`; the newest always stays (it is
    /// the parent of the next proposal). Entries of several MiB (a full batch, its proofs
    /// and every member's reveals) made 4,096 of them several GiB before the byte bound.
    pub(super) fn retain(&mut self, entry: DecidedEntry) {
        let bytes = crate::crypto::encoded_len(&entry);
        self.log_bytes = self.log_bytes.saturating_add(bytes);
        self.log.push_back((entry.value(), entry, bytes));
        while self.log.len() > 1
            && (self.log.len() > self.config.log_retention
                || self.log_bytes > self.config.log_retention_bytes)
        {
            if let Some((_, _, gone)) = self.log.pop_front() {
                self.log_bytes = self.log_bytes.saturating_sub(gone);
            }
        }
    }

    /// Apply a decided (verified) entry: replicated state, mempool, evidence, log, effects,
    /// then move to the next slot in the entry's view.
    pub(super) fn apply_entry(&mut self, entry: DecidedEntry) {
        self.start_hearing(&entry);
        let changes = self.state.apply(&entry);
        self.changes.push_back((entry.slot, changes));
        while self.changes.len() > self.config.log_retention {
            self.changes.pop_front();
        }
        for op in entry.batch() {
            let id = op.id();
            self.decided_ops.insert(id, op.expires);
            self.mempool.remove(&id);
        }
        for ev in entry.evidence() {
            if let (Some(offender), Some(slot)) = (ev.offender(), ev.slot()) {
                let key = (offender, slot, ev.kind());
                self.evidence.remove(&key);
                self.recorded.insert(key);
            }
        }
        // Pending proofs of slots past the window are dropped, as a peer's would be
        // refused: one that can never be proposed (its offender left) does not stay, and
        // does not keep an idle cluster changing views for work it cannot do.
        let window_start = entry
            .slot
            .saturating_add(1)
            .saturating_sub(super::EVIDENCE_WINDOW);
        // And proofs against a member this entry excluded for misbehaviour.
        self.drop_pointless_evidence(window_start);
        self.retain(entry.clone());
        self.stats.decided += 1;
        let (slot, view) = (entry.slot, entry.view);
        self.effects.push(Effect::Decided {
            slot,
            entry: Box::new(entry),
        });

        let next = self.state.next_slot();
        // Calls of decided slots are answered by no one that matters any more.
        self.calls.retain(|_, (slot, _)| *slot >= next);
        // Expired ids can go: the expiry refuses their replay from now on.
        if next.is_multiple_of(64) {
            self.decided_ops.retain(|_, expires| *expires >= next);
        }
        self.view = view;
        self.mode = Mode::Normal;
        self.round = Round::new(next, view);
        self.prepared = None;
        self.view_changes.clear();
        self.prepared_tallies.clear();
        self.new_view_msg = None;
        self.slot_view = view;
        self.deadline = None;
        self.resend_at = None;
        self.seen.retain(|k, _| k.1 >= next);
        self.verified.clear();
        self.own.retain(|k, _| k.0 >= next);
        self.validator_results.retain(|k, _| k.0 >= next);
        self.resolver_results.clear();
        self.requested.clear();
        if self.catch_up_asked.is_some_and(|(s, _)| s < next) {
            self.catch_up_asked = None;
        }
        self.prune_absences();
        self.fork_probes.clear();
        self.replay_future();
        self.watch_censorship();
    }
}

/// What the omission rule says of a tally whose decisions follow the rules.
enum Omission {
    /// Reveals this member holds would change a decision: refuse it.
    Refuse,
    /// Unsettled: hold it until then, re-checking as reveals arrive.
    Wait(u64),
    /// Accept it.
    Accept,
}
