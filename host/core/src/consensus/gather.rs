//! Gathering: the proposal, the sealed commits, the reveals, and the primary's tally
//! (docs/PROTOCOL.md, phases 1-4), plus the checks a member applies to a received tally.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::commitment::{commitment, opens, salt};
use super::effect::{CallContext, Effect};
use super::entry::Decision;
use super::evidence::Misbehaviour;
use super::message::{Commit, CommitSet, Message, Proposal, Reveal, Tally};
use super::round::TallyRead;
use super::rules::{self, Path, Roles};
use super::{CallPurpose, Node, Reject, ReplicaState, limits};
use crate::crypto::{Signed, sha256_parts};
use crate::ops::{AuthorityLevel, Outcome};

/// Mempool entries a primary looks at, at most, to fill one batch (past the first one it
/// takes): operations of other mechanisms are skipped, not scanned without end.
pub const MAX_BATCH_SCAN: usize = 4_096;
use crate::types::{Digest, NodeId, Slot, TrustBps, View};

impl<S: ReplicaState> Node<S> {
    /// Eligible members with their trust.
    pub(super) fn eligible_map(&self) -> BTreeMap<NodeId, TrustBps> {
        self.state
            .eligible()
            .into_iter()
            .map(|id| (id, self.state.trust(&id)))
            .collect()
    }

    /// Whether `id` gathers results (reveals) on `path` in `view`.
    fn reveals_on(&self, id: &NodeId, path: Path, _view: View) -> bool {
        if !self.state.is_eligible(id) {
            return false;
        }
        // Every eligible member reveals on every path: on an authority path the deciding
        // layer's reveal decides, the others' are the fallback when it is silent.
        path != Path::Empty
    }

    /// The value of the previous slot's entry, if retained (all zero otherwise).
    pub(super) fn parent(&self) -> Digest {
        self.log
            .back()
            .filter(|(_, e, _)| e.slot.checked_add(1) == Some(self.slot()))
            .map(|(value, _, _)| *value)
            .unwrap_or_default()
    }

    /// Structural checks of a proposal for the current slot.
    pub(super) fn check_proposal(&mut self, p: &Signed<Proposal>) -> Result<(), Reject> {
        let body = &p.payload;
        if body.slot != self.slot() {
            return Err(Reject::Stale);
        }
        let parent = self.parent();
        if parent != Digest::default() && body.parent != Digest::default() && body.parent != parent
        {
            // The proposer decided another value for the previous slot: fetch its entry,
            // whose comparison with ours is a fork proof (`fork.rs`).
            self.probe_fork(p.signer, body.slot.saturating_sub(1));
            return Err(Reject::Invalid("proposal extends another history"));
        }
        if self.primary(body.view) != Some(p.signer) {
            return Err(Reject::WrongRole(p.signer));
        }
        let (max_ops, max_output) = self.state.batch_limits();
        let members = self.state.eligible().len();
        let bytes = limits::batch_bytes(&body.batch);
        let proof_bytes = limits::proof_bytes(&body.evidence, &body.absences);
        if !limits::batch_fits(
            body.batch.len(),
            bytes,
            proof_bytes,
            max_ops,
            members,
            max_output,
        ) || body.evidence.len() > limits::MAX_EVIDENCE_PER_PROPOSAL
        {
            return Err(Reject::Invalid("oversized proposal"));
        }
        if body.batch.is_empty() && body.evidence.is_empty() && body.absences.is_empty() {
            return Err(Reject::Invalid("empty proposal"));
        }
        if !rules::homogeneous(&body.batch) {
            return Err(Reject::Invalid(
                "batch mixes mechanisms, or an authority change is not alone",
            ));
        }
        let mut ids = BTreeSet::new();
        for op in &body.batch {
            let d = op.id();
            if !ids.insert(d) || self.decided_ops.contains_key(&d) {
                return Err(Reject::Invalid("duplicate or already decided operation"));
            }
            if !self.skip_authorization {
                self.state.authorize(op)?;
            }
        }
        for ev in &body.evidence {
            let offender = ev.verify()?;
            if let Some(why) = self.proof_unfit(ev, offender, body.slot) {
                return Err(Reject::Invalid(why));
            }
        }
        self.check_absences(body.slot, &body.absences)?;
        Ok(())
    }

    /// Why a proposal for `slot` may not carry `proof` against `offender` (its signature
    /// is the caller's business), if it may not: one home for the primary choosing and
    /// the members checking. The offender must be a member a proof still changes (not
    /// excluded for misbehaviour already), and the proof about a slot within
    /// `EVIDENCE_WINDOW` of `slot` and at most one past it (as a peer's proof is taken
    /// into the pool: `on_evidence`).
    pub(super) fn proof_unfit(
        &self,
        proof: &Misbehaviour,
        offender: NodeId,
        slot: Slot,
    ) -> Option<&'static str> {
        let Some(about) = proof.slot() else {
            return Some("a proof naming no slot");
        };
        if !self.state.is_member(&offender) || self.state.misbehaved(&offender) {
            return Some("a proof against a non-member or a member excluded for misbehaviour");
        }
        if about > slot.saturating_add(1) || about.saturating_add(super::EVIDENCE_WINDOW) < slot {
            return Some("a proof outside the window of recent slots");
        }
        None
    }

    pub(super) fn on_proposal(&mut self, p: Signed<Proposal>) -> Result<(), Reject> {
        self.check_proposal(&p)?;
        if self.round.fixed {
            return Err(Reject::Invalid("the new view fixed the value of this view"));
        }
        if self.round.proposal.is_none() {
            self.round.digest = Some(p.payload.batch_digest());
            self.round.proposal = Some(Arc::new(p));
            self.round.started = self.now;
        }
        Ok(())
    }

    pub(super) fn on_commit(&mut self, c: Signed<Commit>) -> Result<(), Reject> {
        if !self.state.is_eligible(&c.signer) {
            return Err(Reject::NotMember(c.signer));
        }
        if let Some(r) = self.round.reveals.get(&c.signer)
            && !opens(&c.payload, &r.payload, &c.signer)
            && c.payload.batch == r.payload.batch
        {
            let proof = Misbehaviour::BadReveal {
                commit: Box::new(c.clone()),
                reveal: Box::new(r.sealed()),
            };
            self.round.reveals.remove(&c.signer);
            self.add_evidence(proof);
        }
        self.round.commits.entry(c.signer).or_insert(c);
        Ok(())
    }

    /// The primary's commit set: checked (signer, batch, a quorum of distinct eligible
    /// signers' commits to the batch, every signature) and kept; its commits join the
    /// round's. A second, different set of the same primary is caught as an equivocation
    /// before this is called.
    pub(super) fn on_commit_set(&mut self, cs: Signed<CommitSet>) -> Result<(), Reject> {
        let body = &cs.payload;
        if self.primary(body.view) != Some(cs.signer) {
            return Err(Reject::WrongRole(cs.signer));
        }
        if self.round.commit_set.is_some() {
            return Ok(());
        }
        if self.round.digest.is_some_and(|d| d != body.batch) {
            return Err(Reject::Invalid("commit set for another batch"));
        }
        let mut signers = BTreeSet::new();
        for c in &body.commits {
            let b = &c.payload;
            if b.slot != body.slot || b.view != body.view || b.batch != body.batch {
                return Err(Reject::Invalid(
                    "commit set holds a commit of another round",
                ));
            }
            if !self.state.is_eligible(&c.signer) || !signers.insert(c.signer) {
                return Err(Reject::Invalid("commit set signer not eligible, or twice"));
            }
        }
        if !self.is_quorum(&signers) {
            return Err(Reject::Invalid("commit set is not a quorum"));
        }
        for c in &body.commits {
            self.check_sig(c)?;
        }
        // The commits this node held before the set arrived (see `Round::before_set`).
        self.round.before_set = self
            .round
            .commits
            .values()
            .filter(|c| c.payload.batch == body.batch && c.payload.view == body.view)
            .map(|c| c.signer)
            .collect();
        for c in &body.commits {
            if let Some(proof) = self.check_equivocation(&Message::Commit(c.clone())) {
                self.add_evidence(proof);
            }
            self.round
                .commits
                .entry(c.signer)
                .or_insert_with(|| c.clone());
        }
        self.round.commit_set = Some(cs);
        Ok(())
    }

    /// The signers of the round's commit set for batch `d` (empty without one).
    fn commit_set_signers(&self, d: Digest) -> BTreeSet<NodeId> {
        self.round
            .commit_set
            .as_ref()
            .filter(|cs| cs.payload.batch == d)
            .map(|cs| cs.payload.commits.iter().map(|c| c.signer).collect())
            .unwrap_or_default()
    }

    /// The commit of `signer` in the round's commit set for `d`.
    fn set_commit(&self, d: Digest, signer: &NodeId) -> Option<&Signed<Commit>> {
        self.round
            .commit_set
            .as_ref()
            .filter(|cs| cs.payload.batch == d)
            .and_then(|cs| cs.payload.commits.iter().find(|c| c.signer == *signer))
    }

    /// Primary, Full BFT: close the commit phase once a quorum committed to `d`, after
    /// waiting the reveal grace for the rest (or at once when every member is in).
    fn close_commits(&mut self, d: Digest) {
        let (slot, view) = (self.round.slot, self.round.view);
        if self.round.commit_set.is_some() || self.own_vote(slot, view, "commit-set").is_some() {
            return;
        }
        let mut commits: Vec<Signed<Commit>> = self
            .round
            .commits
            .values()
            .filter(|c| c.payload.batch == d && c.payload.view == view)
            .filter(|c| self.state.is_eligible(&c.signer))
            .cloned()
            .collect();
        let signers: BTreeSet<NodeId> = commits.iter().map(|c| c.signer).collect();
        if !self.is_quorum(&signers) {
            return;
        }
        let everyone = self.state.eligible().iter().all(|id| signers.contains(id));
        let grace = self.scaled(self.config.reveal_grace);
        let due = *self
            .round
            .commit_set_due
            .get_or_insert(self.now.saturating_add(grace));
        if !everyone && self.now < due {
            return;
        }
        commits.sort_by_key(|c| c.signer);
        let cs = CommitSet {
            slot,
            view,
            batch: d,
            commits,
        };
        self.round.commit_set_due = None;
        self.cast(Message::CommitSet(Box::new(Signed::new(cs, &self.key))));
    }

    pub(super) fn on_reveal(&mut self, r: Signed<Reveal>) -> Result<(), Reject> {
        if !self.state.is_eligible(&r.signer) {
            return Err(Reject::NotMember(r.signer));
        }
        // No module output can exceed the replicated cap: a larger outcome is not a result.
        let (_, max_output) = self.state.batch_limits();
        if r.payload
            .outcomes
            .iter()
            .any(|o| limits::outcome_bytes(o) > max_output)
        {
            return Err(Reject::Invalid("reveal outcome above the output cap"));
        }
        if let Some(c) = self.round.commits.get(&r.signer)
            && c.payload.batch == r.payload.batch
            && !opens(&c.payload, &r.payload, &r.signer)
        {
            let proof = Misbehaviour::BadReveal {
                commit: Box::new(c.clone()),
                reveal: Box::new(r.sealed()),
            };
            self.add_evidence(proof);
            return Err(Reject::Invalid("reveal does not open its commitment"));
        }
        self.round.reveals.entry(r.signer).or_insert(r);
        Ok(())
    }

    /// Put one of this node's own votes into the round, as if received.
    pub(super) fn absorb_own(&mut self, msg: &Message) {
        let _ = self.check_equivocation(msg);
        match msg {
            Message::Proposal(p) => {
                if self.round.proposal.is_none() && p.payload.view == self.round.view {
                    self.round.digest = Some(p.payload.batch_digest());
                    self.round.proposal = Some(Arc::new(p.clone()));
                    self.round.started = self.now;
                }
            }
            Message::Commit(c) => {
                self.round
                    .commits
                    .entry(c.signer)
                    .or_insert_with(|| c.clone());
            }
            Message::CommitSet(cs) => {
                if self.round.commit_set.is_none() && cs.payload.view == self.round.view {
                    self.round.commit_set = Some((**cs).clone());
                }
            }
            Message::Reveal(r) => {
                self.round
                    .reveals
                    .entry(r.signer)
                    .or_insert_with(|| r.clone());
            }
            Message::Tally(t) => {
                if self.round.tally().is_none() && !self.round.fixed {
                    self.round.set_tally((**t).clone());
                }
            }
            Message::Accept(a) => {
                self.round
                    .accepts
                    .entry(a.signer)
                    .or_insert_with(|| a.clone());
            }
            Message::Confirm(c) => {
                self.round
                    .confirms
                    .entry(c.signer)
                    .or_insert_with(|| c.clone());
            }
            Message::ViewChange(vc) => self.store_view_change((**vc).clone()),
            Message::NewView(_)
            | Message::Attest(_)
            | Message::Fork(_)
            | Message::Evidence(_)
            | Message::Submit(_)
            | Message::CatchUpRequest { .. }
            | Message::CatchUpResponse { .. } => {}
        }
    }

    /// Phases 1-4 as far as the current state allows.
    pub(super) fn gather(&mut self) {
        if self.round.fixed {
            // The new view re-proposes a prepared value: nothing to gather.
            return;
        }
        if self.is_primary()
            && self.round.proposal.is_none()
            && !self.round.fixed
            && self.round.tally().is_none()
        {
            self.propose();
        }
        let (Some(path), Some(d)) = (
            self.round
                .proposal
                .as_ref()
                .map(|p| Path::of(&p.payload.batch)),
            self.round.digest,
        ) else {
            return;
        };
        let (slot, view) = (self.round.slot, self.round.view);
        self.echo_proposal(d);
        if path.sealed() && self.is_primary() && !self.commit_set_unchecked {
            self.close_commits(d);
        }
        let must_reveal =
            self.reveals_on(&self.id, path, view) && self.own_vote(slot, view, "reveal").is_none();
        let must_tally = self.is_primary() && self.round.tally().is_none();
        if !must_reveal && !must_tally {
            return;
        }
        let Some(proposal) = self.round.proposal.clone() else {
            return;
        };
        if must_reveal && let Some(outcomes) = self.my_outcomes(&proposal) {
            if path.sealed() {
                if self.own_vote(slot, view, "commit").is_none() {
                    let s = salt(&self.key, slot, view);
                    let c = commitment(slot, view, &d, &outcomes, &s, &self.id);
                    let msg = Commit {
                        slot,
                        view,
                        batch: d,
                        commitment: c,
                    };
                    self.cast(Message::Commit(Signed::new(msg, &self.key)));
                }
                // Reveal only once the commit phase is closed with this node's own
                // commit in the primary's set: nobody can commit after seeing a result
                // and be counted (docs/PROTOCOL.md, "Sealing"). (The test-only control
                // reveals on any quorum of commits, as before the set existed.)
                let may_reveal = if self.commit_set_unchecked {
                    let committed: BTreeSet<NodeId> = self
                        .round
                        .commits
                        .values()
                        .filter(|c| c.payload.batch == d)
                        .map(|c| c.signer)
                        .collect();
                    self.is_quorum(&committed)
                } else {
                    let own = self.own_vote(slot, view, "commit").cloned();
                    matches!((own, self.set_commit(d, &self.id)),
                        (Some(Message::Commit(mine)), Some(listed)) if mine == *listed)
                };
                if may_reveal {
                    let msg = Reveal {
                        slot,
                        view,
                        batch: d,
                        outcomes,
                        salt: salt(&self.key, slot, view),
                    };
                    // No self-incrimination: after a restart between commit and reveal the
                    // results are recomputed; reveal them only if they open the commitment
                    // this node signed (persisted before it was sent), else abstain — a
                    // reveal that does not open it would be signed proof of a bad reveal.
                    let opens_own = match self.own_vote(slot, view, "commit") {
                        Some(Message::Commit(c)) if !self.reveal_unchecked => {
                            opens(&c.payload, &msg, &self.id)
                        }
                        _ => true,
                    };
                    if self.withhold_reveals {
                        // The misbehaviour: committed, and silent from here on.
                    } else if opens_own {
                        self.cast(Message::Reveal(Signed::new(msg, &self.key)));
                    } else if self.round.abstained.insert(d) {
                        self.stats.abstained += 1;
                    }
                }
            } else {
                let msg = Reveal {
                    slot,
                    view,
                    batch: d,
                    outcomes,
                    salt: Digest::default(),
                };
                if !self.withhold_reveals {
                    self.cast(Message::Reveal(Signed::new(msg, &self.key)));
                }
            }
        }
        if must_tally {
            self.try_tally(&proposal, d, path);
        }
    }

    /// A member that committed to another batch of this (slot, view) got a different
    /// proposal: send it ours (once), so it holds both signed proposals — the proof that
    /// the primary equivocated.
    fn echo_proposal(&mut self, d: Digest) {
        let others: Vec<NodeId> = self
            .round
            .commits
            .values()
            .filter(|c| {
                c.payload.batch != d
                    && c.signer != self.id
                    && !self.round.echoed.contains(&c.signer)
            })
            .map(|c| c.signer)
            .collect();
        if others.is_empty() {
            return;
        }
        let Some(proposal) = self.round.proposal.clone() else {
            return;
        };
        for to in others {
            self.round.echoed.insert(to);
            self.effects.push(Effect::Send {
                to,
                msg: Message::Proposal((*proposal).clone()),
            });
        }
    }

    /// The primary proposes the oldest valid operation of its mempool and the later
    /// operations of the same mechanism (one lane per mechanism).
    fn propose(&mut self) {
        if self
            .own_vote(self.round.slot, self.round.view, "proposal")
            .is_some()
        {
            return;
        }
        // Cut by count (this node's and the replicated cap) and by bytes (the batch's own
        // and the worst-case tally it leads to): what members check in `check_proposal`.
        // Operations met on the way that no longer pass the host's rules (expired, budget
        // spent, sponsor gone) leave the mempool: members would refuse a proposal carrying
        // them. Only the operations looked at are checked, never the whole mempool.
        let (max_ops, max_output) = self.state.batch_limits();
        let max_ops = max_ops.min(self.config.max_batch);
        let members = self.state.eligible().len();
        // Proofs first, within their byte budget (each is small: it carries signing
        // bytes), so that the batch is cut with their bytes counted.
        let mut evidence: Vec<Misbehaviour> = Vec::new();
        let mut absences = Vec::new();
        // The pair's encoding is its two counts and the proofs' own encodings; 4 bytes
        // cover the counts' growth past one byte each, so the sum bounds the exact size.
        let mut proof_bytes = limits::proof_bytes(&[], &[]) + 4;
        let slot = self.round.slot;
        for proof in self.evidence.values() {
            // Count the proofs taken, not those looked at: one that does not fit must not
            // keep the next ones out.
            if evidence.len() >= limits::MAX_EVIDENCE_PER_PROPOSAL {
                break;
            }
            // What members would refuse is left out (the pool is pruned when an entry is
            // decided, not when a recovery excludes an offender).
            if proof
                .offender()
                .is_none_or(|o| self.proof_unfit(proof, o, slot).is_some())
            {
                continue;
            }
            let len = proof.encode().len();
            if proof_bytes + len <= limits::MAX_PROOF_BYTES_PER_PROPOSAL {
                proof_bytes += len;
                evidence.push(proof.clone());
            }
        }
        for absence in self.absences_to_propose() {
            let len = crate::crypto::canonical_bytes(&absence).len();
            if proof_bytes + len <= limits::MAX_PROOF_BYTES_PER_PROPOSAL {
                proof_bytes += len;
                absences.push(absence);
            }
        }
        let mut batch = Vec::new();
        let mut stale: std::collections::HashSet<Digest> = std::collections::HashSet::new();
        let mut bytes = 0usize;
        let mut mechanism = None;
        // The batch takes the mechanism of the oldest valid operation and then every
        // operation of that mechanism, oldest first, skipping the others (they lead a later
        // batch): one lane per mechanism, so a mixed mempool still fills batches. The
        // oldest pending operation is always in the batch (what `censorship.rs` watches).
        // The scan is bounded, so a mempool of other mechanisms costs at most
        // `MAX_BATCH_SCAN` look-ups.
        for (looked, (id, op)) in self.mempool.iter().enumerate() {
            if looked >= MAX_BATCH_SCAN && !batch.is_empty() {
                break;
            }
            let m = op.mechanism();
            if mechanism.is_some_and(|x| x != m) {
                continue;
            }
            if !self.skip_authorization && self.state.authorize(op).is_err() {
                stale.insert(*id);
                continue;
            }
            let len = op.encoded_len();
            let fits = limits::batch_fits(
                batch.len() + 1,
                bytes + len,
                proof_bytes,
                max_ops,
                members,
                max_output,
            );
            let alone =
                rules::changes_authority(op) || batch.first().is_some_and(rules::changes_authority);
            if !fits || (alone && !batch.is_empty()) {
                break;
            }
            mechanism = Some(m);
            bytes += len;
            batch.push(op.clone());
        }
        for id in &stale {
            self.mempool.remove(id);
        }
        if batch.is_empty() && evidence.is_empty() && absences.is_empty() {
            return;
        }
        let p = Proposal {
            slot: self.round.slot,
            view: self.round.view,
            parent: self.parent(),
            batch,
            evidence,
            absences,
        };
        self.cast(Message::Proposal(Signed::new(p, &self.key)));
    }

    /// This node's validator results for the batch, asking for the missing ones.
    fn my_outcomes(&mut self, proposal: &Signed<Proposal>) -> Option<Vec<Outcome>> {
        let slot = proposal.payload.slot;
        if self.round.op_digests.len() != proposal.payload.batch.len() {
            self.round.op_digests = proposal
                .payload
                .batch
                .iter()
                .map(crate::ops::SignedOperation::id)
                .collect();
        }
        let result = |i: usize| {
            let d = self.round.op_digests.get(i).copied().unwrap_or_default();
            self.validator_results.get(&(slot, d))
        };
        // Most passes find results still missing (one arrives per input): look first,
        // copy only when the batch is complete.
        let count = proposal.payload.batch.len();
        if (0..count).all(|i| result(i).is_some()) {
            return (0..count).map(|i| result(i).cloned()).collect();
        }
        if self.round.calls_asked {
            return None;
        }
        self.round.calls_asked = true;
        for (i, op) in proposal.payload.batch.iter().enumerate() {
            let d = self.round.op_digests.get(i).copied().unwrap_or_default();
            match self.validator_results.get(&(slot, d)) {
                Some(_) => {}
                None => {
                    let key = sha256_parts(&[b"validator", &slot.to_le_bytes(), d.as_ref()]);
                    if self.requested.insert(key) {
                        let call = self.fresh_call(CallPurpose::Validator { slot, op: d });
                        let ctx = CallContext::new(slot, self.state.epoch(), &op.op);
                        let index = u32::try_from(i).unwrap_or(u32::MAX);
                        self.effects.push(Effect::CallValidator {
                            call,
                            slot,
                            index,
                            op: op.op.clone(),
                            ctx,
                        });
                    }
                }
            }
        }
        None
    }

    /// Reveals of the round that count for batch `d` on `path`.
    fn valid_reveals(
        &mut self,
        d: Digest,
        n: usize,
        path: Path,
        view: View,
    ) -> Vec<Signed<Reveal>> {
        let mut out = Vec::new();
        let signers: Vec<NodeId> = self.round.reveals.keys().copied().collect();
        for signer in signers {
            let Some(r) = self.round.reveals.get(&signer) else {
                continue;
            };
            if r.payload.batch != d
                || r.payload.outcomes.len() != n
                || !self.reveals_on(&signer, path, view)
            {
                continue;
            }
            if path.sealed() && !self.round.opened.contains(&signer) {
                // Checked once per signer: recomputing commitments is the hot path. Only
                // the commit set's members count.
                let commit = if self.commit_set_unchecked {
                    self.round.commits.get(&signer)
                } else {
                    self.set_commit(d, &signer)
                };
                let ok = commit.is_some_and(|c| opens(&c.payload, &r.payload, &signer));
                if !ok {
                    continue;
                }
                self.round.opened.insert(signer);
            }
            out.push(r.clone());
        }
        out
    }

    /// Decisions for `reveals`, or `None` while resolver verdicts are outstanding (the
    /// calls are issued).
    pub(super) fn decisions_for(
        &mut self,
        proposal: &Signed<Proposal>,
        reveals: &[Signed<Reveal>],
        view: View,
    ) -> Option<Vec<Decision>> {
        let batch = &proposal.payload.batch;
        let slot = proposal.payload.slot;
        let path = Path::of(batch);
        let result = {
            let eligible = self.eligible_map();
            let quorum = self.quorum_test();
            let light = self.light_test(view);
            let roles = Roles {
                slot,
                primary: self.state.primary(view),
                seed: self.state.seed(view),
                eligible: &eligible,
                quorum: &quorum,
                light: &light,
            };
            let verdicts = |k: &Digest| self.resolver_results.get(k).cloned();
            let pairs: Vec<(NodeId, &[Outcome])> = reveals
                .iter()
                .map(|r| (r.signer, r.payload.outcomes.as_slice()))
                .collect();
            rules::decide(path, batch.len(), &pairs, &roles, &verdicts)
        };
        match result {
            Ok(decisions) => Some(decisions),
            Err(missing) => {
                for req in missing {
                    if self.requested.insert(req.key) {
                        let call = self.fresh_call(CallPurpose::Resolver { key: req.key });
                        let Some(op) = batch.get(req.index as usize) else {
                            continue;
                        };
                        let ctx = CallContext::new(slot, self.state.epoch(), &op.op);
                        self.effects.push(Effect::CallResolver {
                            call,
                            slot,
                            index: req.index,
                            primary: req.primary,
                            seed: req.seed,
                            latent: req.latent,
                            ctx,
                        });
                    }
                }
                None
            }
        }
    }

    /// The primary's tally, once enough results are in (see PROTOCOL.md, phase 4).
    fn try_tally(&mut self, proposal: &Signed<Proposal>, d: Digest, path: Path) {
        let (slot, view) = (self.round.slot, self.round.view);
        if self.own_vote(slot, view, "tally").is_some() {
            return;
        }
        // Weighed again only when what it reads moved (a reveal, a commit, the set, a
        // verdict) or the clock reached the wait's next deadline: this runs after every
        // input, and a member sending cheap frames while the primary waits made it check
        // and copy every reveal per frame.
        let read = TallyRead {
            reveals: self.round.reveals.len(),
            commits: self.round.commits.len(),
            commit_set: self.round.commit_set.is_some(),
            verdicts: self.resolver_results.len(),
            wake: None,
        };
        if let Some(last) = self.round.tally_read
            && (TallyRead { wake: None, ..last }) == read
            && last.wake.is_none_or(|wake| self.now < wake)
        {
            return;
        }
        self.stats.tally_checks += 1;
        self.round.tally_read = None;
        let n = proposal.payload.batch.len();
        let valid = self.valid_reveals(d, n, path, view);
        let signers: BTreeSet<NodeId> = valid.iter().map(|r| r.signer).collect();
        let ready = match path {
            Path::Empty => true,
            Path::Full => self.full_ready(proposal, &valid, &signers, d, view),
            Path::Authority(level) => self.authority_ready(proposal, &valid, &signers, level, view),
        };
        let now = self.now;
        let wake = [self.round.grace_until, self.round.patience_until]
            .into_iter()
            .flatten()
            .filter(|&at| at > now)
            .min();
        if !ready {
            self.round.tally_read = Some(TallyRead { wake, ..read });
            return;
        }
        let Some(decisions) = self.decisions_for(proposal, &valid, view) else {
            // Waiting for resolver verdicts (asked for once): only they move it on.
            self.round.tally_read = Some(TallyRead { wake: None, ..read });
            return;
        };
        let commits = match (&self.round.commit_set, path.sealed()) {
            (_, false) => Vec::new(),
            (Some(cs), true) if !self.commit_set_unchecked => cs.payload.commits.clone(),
            (_, true) => self
                .round
                .commits
                .values()
                .filter(|c| c.payload.batch == d && self.state.is_eligible(&c.signer))
                .cloned()
                .collect(),
        };
        let tally = Tally {
            proposal: proposal.clone(),
            commits,
            reveals: valid,
            decisions,
        };
        self.round.grace_until = None;
        self.round.patience_until = None;
        self.cast(Message::Tally(Box::new(Signed::new(tally, &self.key))));
    }

    /// When the primary's patience ends: half the progress timeout of the view after the
    /// proposal, leaving the other half for the agreement phases. Like every gathering
    /// wait it grows with the view (`scaled`), so slow honest members are waited for
    /// longer in every view that follows a failed one.
    fn patience_at(&self) -> u64 {
        self.round.started.saturating_add(self.timeout() / 2)
    }

    /// Whether every operation has a decision without the resolver among `valid`.
    fn all_strong(
        &self,
        proposal: &Signed<Proposal>,
        valid: &[Signed<Reveal>],
        view: View,
    ) -> bool {
        self.strong_of(proposal, valid, view)
            .iter()
            .all(Option::is_some)
    }

    /// Full BFT: a quorum of reveals, then the grace for the committed members, then
    /// patience while some operation lacks a matching quorum.
    fn full_ready(
        &mut self,
        proposal: &Signed<Proposal>,
        valid: &[Signed<Reveal>],
        signers: &BTreeSet<NodeId>,
        d: Digest,
        view: View,
    ) -> bool {
        if !self.is_quorum(signers) {
            return false;
        }
        let committed: BTreeSet<NodeId> = if self.commit_set_unchecked {
            self.round
                .commits
                .values()
                .filter(|c| c.payload.batch == d)
                .map(|c| c.signer)
                .collect()
        } else {
            self.commit_set_signers(d)
        };
        // Everyone who could still reveal: the commit set's members (with the control,
        // every eligible member: a slow one may not even have committed yet).
        let everyone_in = if self.commit_set_unchecked {
            self.state
                .eligible()
                .into_iter()
                .all(|id| signers.contains(&id))
        } else {
            committed.is_subset(signers)
        };
        if everyone_in {
            return true;
        }
        let strong = self.all_strong(proposal, valid, view);
        if let Some(patience) = self.round.patience_until {
            return strong || self.now >= patience;
        }
        let grace = self
            .now
            .saturating_add(self.scaled(self.config.reveal_grace));
        let grace = *self
            .round
            .grace_until
            .insert(self.round.grace_until.map_or(grace, |g| g.min(grace)));
        if !committed.is_subset(signers) && self.now < grace {
            return false;
        }
        if strong {
            return true;
        }
        // Some operation has no matching quorum among the reveals in, and members have
        // still to reveal (or even commit): a late honest result would decide it, so wait
        // for them until patience ends before the resolver.
        let patience = self.patience_at();
        if self.now >= patience {
            return true;
        }
        self.round.grace_until = None;
        self.round.patience_until = Some(patience);
        false
    }

    /// Authority paths: the deciding layer's reveal decides at once; without it, after
    /// `authority_wait` (Medium, High), the fallback rules of `rules::strong_decisions`
    /// (light quorum, then quorum) decide once they match; the resolver only when
    /// patience ends without a match.
    fn authority_ready(
        &mut self,
        proposal: &Signed<Proposal>,
        valid: &[Signed<Reveal>],
        signers: &BTreeSet<NodeId>,
        level: AuthorityLevel,
        view: View,
    ) -> bool {
        let decider = match level {
            AuthorityLevel::High => self.primary(view),
            AuthorityLevel::Medium => self.state.seed(view),
            AuthorityLevel::Low => None,
        };
        if decider.is_some_and(|x| signers.contains(&x)) {
            return true;
        }
        let everyone_in = self
            .state
            .eligible()
            .into_iter()
            .all(|id| signers.contains(&id));
        if everyone_in {
            return true;
        }
        let wait = self
            .scaled(self.config.authority_wait)
            .min(self.timeout() / 2);
        let waited_at = if level == AuthorityLevel::Low {
            self.round.started
        } else {
            self.round.started.saturating_add(wait)
        };
        if self.now < waited_at {
            self.round.grace_until = Some(waited_at);
            return false;
        }
        if self.all_strong(proposal, valid, view) {
            return true;
        }
        let patience = self.patience_at();
        if self.now >= patience {
            return true;
        }
        self.round.grace_until = None;
        self.round.patience_until = Some(patience);
        false
    }

    /// The resolver-free decisions of `proposal`'s batch from `reveals`.
    pub(super) fn strong_of(
        &self,
        proposal: &Signed<Proposal>,
        reveals: &[Signed<Reveal>],
        view: View,
    ) -> Vec<Option<Decision>> {
        let batch = &proposal.payload.batch;
        let eligible = self.eligible_map();
        let quorum = self.quorum_test();
        let light = self.light_test(view);
        let roles = Roles {
            slot: proposal.payload.slot,
            primary: self.state.primary(view),
            seed: self.state.seed(view),
            eligible: &eligible,
            quorum: &quorum,
            light: &light,
        };
        let pairs: Vec<(NodeId, &[Outcome])> = reveals
            .iter()
            .map(|r| (r.signer, r.payload.outcomes.as_slice()))
            .collect();
        rules::strong_decisions(Path::of(batch), batch.len(), &pairs, &roles)
    }

    /// Structural checks of a received tally; on success it waits in `pending_tally`
    /// until its decisions are checked (`agree.rs`).
    pub(super) fn on_tally(&mut self, t: Signed<Tally>) -> Result<(), Reject> {
        let tally = &t.payload;
        let view = tally.view();
        if self.primary(view) != Some(t.signer) || tally.proposal.signer != t.signer {
            return Err(Reject::WrongRole(t.signer));
        }
        if self.round.fixed {
            return Err(Reject::Invalid("the new view fixed the value of this view"));
        }
        if self.round.tally().is_some() || self.round.pending_tally.is_some() {
            return Ok(());
        }
        self.check_sig(&tally.proposal)?;
        self.check_proposal(&tally.proposal)?;
        if let Some(proof) = self.check_equivocation(&Message::Proposal(tally.proposal.clone())) {
            self.add_evidence(proof);
            return Err(Reject::Equivocation(t.signer));
        }
        let d = tally.proposal.payload.batch_digest();
        let path = Path::of(&tally.proposal.payload.batch);
        let n = tally.proposal.payload.batch.len();
        let slot = self.round.slot;
        if tally.decisions.len() != n {
            return Err(Reject::Invalid("decision count differs from batch size"));
        }
        if !path.sealed() && !tally.commits.is_empty() {
            return Err(Reject::Invalid("commits on an unsealed path"));
        }
        let mut committed = BTreeMap::new();
        for c in &tally.commits {
            let b = &c.payload;
            if b.slot != slot
                || b.view != view
                || b.batch != d
                || !self.state.is_eligible(&c.signer)
            {
                return Err(Reject::Invalid(
                    "tally commit for another slot, view or batch",
                ));
            }
            if committed.insert(c.signer, c).is_some() {
                return Err(Reject::Invalid("duplicate commit in tally"));
            }
        }
        if path.sealed()
            && !self.commit_set_unchecked
            && let Some(cs) = &self.round.commit_set
            && (cs.payload.batch != d || !cs.payload.holds_exactly(&tally.commits))
        {
            // Its reveals were made against the set this member holds: a tally counting
            // other commits counts a commit made after results were visible.
            return Err(Reject::Invalid("tally commits differ from the commit set"));
        }
        let mut revealed = BTreeSet::new();
        let (_, max_output) = self.state.batch_limits();
        for r in &tally.reveals {
            let b = &r.payload;
            if b.slot != slot || b.view != view || b.batch != d || b.outcomes.len() != n {
                return Err(Reject::Invalid(
                    "tally reveal for another slot, view or batch",
                ));
            }
            // The cap a reveal met when it arrived alone holds inside a tally too: the
            // primary's own reveal reaches members only here, and one outcome near a frame
            // would make every new-view carrying this tally unsendable.
            if b.outcomes
                .iter()
                .any(|o| limits::outcome_bytes(o) > max_output)
            {
                return Err(Reject::Invalid("tally reveal outcome above the output cap"));
            }
            if !self.reveals_on(&r.signer, path, view) || !revealed.insert(r.signer) {
                return Err(Reject::Invalid(
                    "tally reveal by a member not asked, or twice",
                ));
            }
            if path.sealed()
                && !committed
                    .get(&r.signer)
                    .is_some_and(|c| opens(&c.payload, b, &r.signer))
            {
                return Err(Reject::Invalid(
                    "tally reveal does not open a listed commit",
                ));
            }
        }
        let enough = match path {
            Path::Empty => tally.reveals.is_empty(),
            Path::Full => self.is_quorum(&revealed),
            // The deciding layer may have stayed silent: the rules fall back, and what a
            // tally leaves out is checked against the reveals this member holds before it
            // accepts (`agree.rs`, the omission rule).
            Path::Authority(_) => true,
        };
        if !enough {
            return Err(Reject::Invalid("tally lacks the reveals its path needs"));
        }
        let omitted_ours = path.sealed()
            && self.own_vote(slot, view, "reveal").is_some()
            && !revealed.contains(&self.id)
            && committed.contains_key(&self.id);
        if omitted_ours {
            return Err(Reject::Invalid("tally leaves out the reveal we sent"));
        }
        for c in &tally.commits {
            self.check_sig(c)?;
        }
        for r in &tally.reveals {
            self.check_sig(r)?;
        }
        // Compare with what we received directly: a difference is an equivocation.
        let votes: Vec<Message> = tally
            .commits
            .iter()
            .cloned()
            .map(Message::Commit)
            .chain(tally.reveals.iter().cloned().map(Message::Reveal))
            .collect();
        for vote in &votes {
            if let Some(proof) = self.check_equivocation(vote) {
                self.add_evidence(proof);
            }
        }
        if self.round.proposal.is_none() {
            self.round.digest = Some(d);
            self.round.proposal = Some(Arc::new(tally.proposal.clone()));
            self.round.started = self.now;
        }
        self.round.pending_since = self.now;
        self.round.pending_tally = Some(t);
        Ok(())
    }
}
