//! View change: leaving a faulty or silent primary for the seed spore, carrying prepared
//! certificates so that no decided value is lost (docs/PROTOCOL.md, "View change").

use std::collections::BTreeSet;

use super::message::{Message, NewView, PreparedClaim, ViewChange};
use super::round::Round;
use super::{Mode, Node, Reject, ReplicaState};
use crate::crypto::Signed;
use crate::types::{NodeId, View};

/// Most distinct target views whose view changes a node keeps for the current slot.
pub const MAX_VIEW_CHANGE_VIEWS: usize = 64;

/// Most tallies of prepared certificates a node keeps for the view changes of the current
/// slot (one per value, those of the highest certificate views). A value is prepared only
/// by a quorum of accepts in some view, so a slot has as many as it had views in which a
/// quorum accepted; the bound is there for totality, not for an attacker.
pub const MAX_PREPARED_TALLIES: usize = 16;

impl<S: ReplicaState> Node<S> {
    /// Leave the current view for `target` (> current view), with the highest prepared
    /// certificate this node holds for the slot.
    pub(super) fn start_view_change(&mut self, target: View) {
        if target <= self.view {
            return;
        }
        let slot = self.slot();
        self.view = target;
        self.mode = Mode::ViewChanging;
        self.round = Round::new(slot, target);
        self.stats.view_changes += 1;
        // The timer for the next view starts once a quorum asked for this one or a later
        // one (`arm_timer` / `timer_may_run`), not now.
        self.deadline = None;
        let msg = match self.own_vote(slot, target, "view-change") {
            // Restarted mid-view-change: re-send what we sent, never a different one.
            Some(old) => old.clone(),
            None => {
                let vc = ViewChange {
                    slot,
                    new_view: target,
                    prepared: self.prepared.as_ref().map(|p| p.claim()),
                };
                Message::ViewChange(Box::new(Signed::new(vc, &self.key)))
            }
        };
        if !self.cast(msg.clone()) {
            self.effects.push(super::Effect::Broadcast { msg });
        }
    }

    /// Check a prepared certificate for the current slot: its accepts always, its tally
    /// when carried; `need_tally` refuses one without (a view change sent to the new
    /// primary must carry it, a new-view only for the certificate it re-proposes).
    fn check_prepared(&mut self, cert: &PreparedClaim, need_tally: bool) -> Result<(), Reject> {
        let value = cert.value;
        match &cert.tally {
            Some(tally) => {
                if tally.payload.slot() != self.slot() {
                    return Err(Reject::Invalid("prepared certificate for another slot"));
                }
                if self.primary(tally.payload.view()) != Some(tally.signer)
                    || tally.payload.view() > cert.view
                {
                    return Err(Reject::WrongRole(tally.signer));
                }
                if tally.payload.value() != value {
                    return Err(Reject::Invalid(
                        "prepared certificate tally does not have its value",
                    ));
                }
            }
            None if need_tally => {
                return Err(Reject::Invalid("prepared certificate without its tally"));
            }
            None => {}
        }
        let mut signers = BTreeSet::new();
        for a in &cert.accepts {
            let b = &a.payload;
            if b.slot != self.slot()
                || b.view != cert.view
                || b.value != value
                || !self.state.is_eligible(&a.signer)
            {
                return Err(Reject::Invalid(
                    "prepared certificate accept does not match",
                ));
            }
            // Before any signature is checked: a member can sign one accept many ways, and
            // a certificate padded with its copies would cost a check each.
            if !signers.insert(a.signer) {
                return Err(Reject::Invalid(
                    "prepared certificate holds an accept twice",
                ));
            }
        }
        if !self.is_quorum(&signers) {
            return Err(Reject::Invalid("prepared certificate without a quorum"));
        }
        if let Some(tally) = &cert.tally {
            self.check_sig(tally)?;
        }
        for a in &cert.accepts {
            self.check_sig(a)?;
        }
        Ok(())
    }

    pub(super) fn on_view_change(&mut self, vc: Signed<ViewChange>) -> Result<(), Reject> {
        if !self.state.is_eligible(&vc.signer) {
            return Err(Reject::NotMember(vc.signer));
        }
        let target = vc.payload.new_view;
        if target < self.view || (target == self.view && self.mode == Mode::Normal) {
            // The signer missed the new-view that moved us on: hand it over, at most once
            // per `resend_interval` to a member for one view. The view change may be an old
            // one replayed by anyone (its signature is cached), and a new-view is up to a
            // frame of 4 MiB: unpaced, each replay of a 150-byte message made this node
            // encode and queue one to the signer.
            let (now, gap) = (self.now, self.config.resend_interval);
            let due = |view: View| {
                self.new_view_handed
                    .get(&vc.signer)
                    .is_none_or(|&(sent, at)| sent < view || now >= at.saturating_add(gap))
            };
            if let Some(nv) = self
                .new_view_msg
                .as_ref()
                .filter(|nv| nv.payload.view >= target && due(nv.payload.view))
                .cloned()
            {
                if self.new_view_handed.len() >= 1_024 {
                    self.new_view_handed.clear();
                }
                self.new_view_handed
                    .insert(vc.signer, (nv.payload.view, now));
                let msg = Message::NewView(Box::new(nv));
                self.effects
                    .push(super::Effect::Send { to: vc.signer, msg });
            }
            return Err(Reject::Stale);
        }
        if let Some(cert) = &vc.payload.prepared {
            self.check_prepared(cert, true)?;
        }
        self.store_view_change(vc);
        // Bounded: the lowest MAX_VIEW_CHANGE_VIEWS target views are kept (the join and
        // new-view rules only ever need the views just above the current one), so a member
        // signing view changes for a million views costs nothing.
        let current = self.view;
        self.view_changes.retain(|v, _| *v >= current);
        while self.view_changes.len() > MAX_VIEW_CHANGE_VIEWS {
            self.view_changes.pop_last();
        }
        // Join rule: f+1 members want a higher view, so at least one honest node timed
        // out; move to the smallest such view.
        let mut wanting: BTreeSet<NodeId> = BTreeSet::new();
        let mut smallest: Option<View> = None;
        for (view, by) in self.view_changes.range(self.view.saturating_add(1)..) {
            wanting.extend(by.keys().copied());
            smallest = smallest.or(Some(*view));
        }
        if let (true, Some(v)) = (wanting.len() >= self.weak_quorum(), smallest) {
            self.start_view_change(v);
        }
        Ok(())
    }

    /// Keep a checked view change (a received one or this node's own) for its target view,
    /// without its tally: the tally goes to `prepared_tallies`, once per value. A tally is
    /// up to a frame (4 MiB), and the same certificate may ride on a member's view change
    /// for each of [`MAX_VIEW_CHANGE_VIEWS`] views: kept with each, a member re-sending one
    /// real, large prepared certificate on 64 view changes made a node hold 64 copies of
    /// its tally (256 MiB per member). The view change's signature does not cover the
    /// tally (its signing bytes name the certificate by value), so nothing is lost.
    pub(super) fn store_view_change(&mut self, mut vc: Signed<ViewChange>) {
        if let Some(cert) = vc.payload.prepared.as_mut()
            && let Some(tally) = cert.tally.take()
        {
            let (view, value) = (cert.view, cert.value);
            match self.prepared_tallies.get_mut(&value) {
                Some(kept) => kept.0 = kept.0.max(view),
                None => {
                    self.prepared_tallies.insert(value, (view, tally));
                    while self.prepared_tallies.len() > MAX_PREPARED_TALLIES {
                        let lowest = self
                            .prepared_tallies
                            .iter()
                            .min_by_key(|(value, (view, _))| (*view, **value))
                            .map(|(value, _)| *value);
                        if let Some(lowest) = lowest {
                            self.prepared_tallies.remove(&lowest);
                        }
                    }
                }
            }
        }
        self.view_changes
            .entry(vc.payload.new_view)
            .or_default()
            .insert(vc.signer, vc);
    }

    /// The new primary announces the view once a quorum moved to it.
    pub(super) fn try_new_view(&mut self) {
        if self.mode != Mode::ViewChanging || !self.is_primary() {
            return;
        }
        let (slot, view) = (self.slot(), self.view);
        let Some(vcs) = self.view_changes.get(&view) else {
            return;
        };
        let signers: BTreeSet<NodeId> = vcs.keys().copied().collect();
        if !self.is_quorum(&signers) {
            return;
        }
        let mut nv = NewView {
            slot,
            view,
            view_changes: vcs.values().cloned().collect(),
        };
        // Only the tally the locking rule re-proposes travels (the view changes are kept
        // without theirs): every other view change keeps its signed value and accepts, so
        // the new-view is about one tally in size.
        let best = nv.highest_prepared().map(|p| (p.view, p.value));
        if let Some((view, value)) = best {
            let Some((_, tally)) = self.prepared_tallies.get(&value) else {
                // Not kept (more prepared values than MAX_PREPARED_TALLIES in one slot,
                // which takes a quorum accepting in that many views): no valid new-view.
                return;
            };
            let tally = tally.clone();
            if let Some(cert) = nv
                .view_changes
                .iter_mut()
                .filter_map(|vc| vc.payload.prepared.as_mut())
                .find(|p| (p.view, p.value) == (view, value))
            {
                cert.tally = Some(tally);
            }
        }
        let signed = Signed::new(nv, &self.key);
        if self.cast(Message::NewView(Box::new(signed.clone()))) {
            self.enter_view(signed);
        }
    }

    pub(super) fn on_new_view(&mut self, nv: Signed<NewView>) -> Result<(), Reject> {
        let body = &nv.payload;
        if self.primary(body.view) != Some(nv.signer) {
            return Err(Reject::WrongRole(nv.signer));
        }
        if body.view < self.view || (body.view == self.view && self.mode == Mode::Normal) {
            return Err(Reject::Stale);
        }
        let mut signers = BTreeSet::new();
        for vc in &body.view_changes {
            if vc.payload.slot != self.slot()
                || vc.payload.new_view != body.view
                || !self.state.is_eligible(&vc.signer)
            {
                return Err(Reject::Invalid(
                    "new-view carries a view change for another slot or view",
                ));
            }
            if !signers.insert(vc.signer) {
                return Err(Reject::Invalid(
                    "new-view carries two view changes of one member",
                ));
            }
        }
        if !self.is_quorum(&signers) {
            return Err(Reject::Invalid("new-view without a quorum of view changes"));
        }
        for vc in &body.view_changes {
            self.check_sig(vc)?;
            if let Some(cert) = &vc.payload.prepared {
                self.check_prepared(cert, false)?;
            }
        }
        if body.highest_prepared().is_some_and(|p| p.tally.is_none()) {
            return Err(Reject::Invalid(
                "new-view without the tally of its highest prepared certificate",
            ));
        }
        self.enter_view(nv);
        Ok(())
    }

    /// Enter the view of a verified new-view; the locking rule fixes its value if any
    /// view change carried a prepared certificate.
    fn enter_view(&mut self, signed: Signed<NewView>) {
        let slot = self.slot();
        let nv = &signed.payload;
        self.view = nv.view;
        self.mode = Mode::Normal;
        self.round = Round::new(slot, nv.view);
        // Checked on receipt (and built so by the primary): the highest certificate carries
        // its tally.
        if let Some(tally) = nv.highest_prepared().and_then(|p| p.tally.clone()) {
            self.round.digest = Some(tally.payload.proposal.payload.batch_digest());
            self.round.proposal = Some(std::sync::Arc::new(tally.payload.proposal.clone()));
            self.round.set_tally(tally);
            self.round.fixed = true;
        }
        self.view_changes.retain(|v, _| *v > nv.view);
        self.deadline = Some(self.now.saturating_add(self.timeout()));
        self.new_view_msg = Some(signed);
        self.replay_future();
    }
}
