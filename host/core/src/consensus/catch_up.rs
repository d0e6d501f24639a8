//! Catch-up: fetching decided entries (with their certificates) from peers, and serving
//! them (docs/PROTOCOL.md, "Catch-up").

use std::collections::BTreeSet;

use super::effect::Effect;
use super::entry::DecidedEntry;
use super::fork::{CertifiedValue, ForkProof};
use super::message::Message;
use super::{Node, Reject, ReplicaState};
use crate::types::{Digest, NodeId, Slot, View};

impl<S: ReplicaState> Node<S> {
    /// Ask `peer` for the entries from `from` on, unless a request is already in flight
    /// (requests are retried after a progress timeout).
    pub(super) fn ask_catch_up(&mut self, peer: NodeId, from: Slot) {
        if peer == self.id {
            return;
        }
        let fresh = match self.catch_up_asked {
            None => true,
            Some((slot, at)) => slot < from || self.now >= at.saturating_add(self.timeout()),
        };
        if fresh {
            self.catch_up_asked = Some((from, self.now));
            self.effects.push(Effect::Send {
                to: peer,
                msg: Message::CatchUpRequest { from },
            });
        }
    }

    /// Send `peer` the retained entries from `from` on (bounded), paced
    /// ([`Self::may_serve`]); remembers the last slot sent.
    pub(super) fn serve_catch_up(&mut self, peer: NodeId, from: Slot) {
        if !self.may_serve(peer, from) {
            return;
        }
        let mut bytes = 0usize;
        let entries: Vec<DecidedEntry> = (from..self.slot())
            .take(self.config.catch_up_batch)
            .map_while(|s| self.entry(s).cloned())
            .take_while(|e| {
                let first = bytes == 0;
                bytes = bytes.saturating_add(crate::crypto::encoded_len(e));
                first || bytes <= super::limits::MAX_CATCH_UP_BYTES
            })
            .collect();
        if let Some(last) = entries.last() {
            if self.served.len() >= 1_024 {
                let (now, gap) = (self.now, self.config.resend_interval);
                self.served
                    .retain(|_, &mut (_, at)| now < at.saturating_add(gap));
            }
            self.served.insert(peer, (last.slot, self.now));
            self.effects.push(Effect::Send {
                to: peer,
                msg: Message::CatchUpResponse { entries },
            });
        }
    }

    pub(super) fn on_catch_up_request(&mut self, peer: NodeId, from: Slot) -> Result<(), Reject> {
        if !self.state.is_member(&peer) {
            return Err(Reject::NotMember(peer));
        }
        self.serve_catch_up(peer, from);
        Ok(())
    }

    /// Whether to serve `peer` entries from `from` now: at once when it asks past the
    /// last slot it was sent (an honest node catching up moves forward with every
    /// response), otherwise once per `resend_interval` (it lost a response, or it repeats
    /// the request, or walks back over slots it was sent, to make this node read and send
    /// megabytes for a few bytes). Never for a slot this node has not decided.
    pub(super) fn may_serve(&self, peer: NodeId, from: Slot) -> bool {
        if from >= self.slot() {
            return false;
        }
        let gap = self.config.resend_interval;
        self.served
            .get(&peer)
            .is_none_or(|&(sent, at)| from > sent || self.now >= at.saturating_add(gap))
    }

    /// Whether to serve `peer` entries from `from` because it sent a view change for a
    /// slot this node decided (it lags, and may not know it): at most one response per
    /// `resend_interval` to a peer, whatever the slot. The step forward that
    /// [`Self::may_serve`] serves at once is for catch-up requests, which an honest
    /// node sends once per response; view changes a member signs for slot after slot
    /// would otherwise walk it through the whole retained log, several MiB a step,
    /// again every `resend_interval`. An honest laggard needs one response: it then
    /// asks for the rest with catch-up requests.
    pub(super) fn may_serve_unasked(&self, peer: NodeId, from: Slot) -> bool {
        let gap = self.config.resend_interval;
        self.may_serve(peer, from)
            && self
                .served
                .get(&peer)
                .is_none_or(|&(_, at)| self.now >= at.saturating_add(gap))
    }

    /// Compare a certified entry for a slot this node decided with its own; a different
    /// value with a valid certificate is a fork.
    pub(super) fn compare(&mut self, entry: DecidedEntry) {
        if self.fork_blind {
            return;
        }
        let Some(mine) = self.entry_value(entry.slot) else {
            return;
        };
        let theirs = CertifiedValue::of(&entry);
        if theirs.value == mine {
            return;
        }
        let Some(mine) = self.entry(entry.slot) else {
            return;
        };
        // The peer's side first: `ForkProof::verify` checks both sides' shape, then the
        // first side's signatures, so a bogus entry costs no check of our own.
        let proof = ForkProof {
            first: theirs,
            second: CertifiedValue::of(mine),
        };
        let quorum = |s: &BTreeSet<NodeId>| self.is_quorum(s);
        if proof.verify(&self.state, &quorum).is_ok() {
            self.halt_on(proof);
        }
    }

    /// Ask `peer` for its entry of `slot` (ours differs from what it builds on), once per
    /// peer and slot: the response is compared, never applied.
    pub(super) fn probe_fork(&mut self, peer: NodeId, slot: Slot) {
        if peer == self.id || self.fork_blind || self.fork_probes.len() >= 1_024 {
            return;
        }
        if self.fork_probes.insert((peer, slot)) {
            self.effects.push(Effect::Send {
                to: peer,
                msg: Message::CatchUpRequest { from: slot },
            });
        }
    }

    /// A gossiped fork proof: verify it and halt on it.
    pub(super) fn on_fork(&mut self, proof: ForkProof) -> Result<(), Reject> {
        if proof.slot() >= self.slot() {
            // About a slot we have not decided: we cannot tell which side we are on yet;
            // its certificates still show the culprits, so verify and halt all the same.
        }
        let quorum = |s: &BTreeSet<NodeId>| self.is_quorum(s);
        proof
            .verify(&self.state, &quorum)
            .map_err(|_| Reject::Invalid("fork proof does not verify"))?;
        self.halt_on(proof);
        Ok(())
    }

    /// Halt on a proof kept from before a restart (the driver persists every
    /// `Effect::Fork`): a halted node stays halted. The proof is verified again.
    pub fn adopt_fork(&mut self, proof: ForkProof) -> Result<Vec<Effect>, super::ForkError> {
        let quorum = |s: &BTreeSet<NodeId>| self.is_quorum(s);
        proof.verify(&self.state, &quorum)?;
        self.halt_on(proof);
        Ok(std::mem::take(&mut self.effects))
    }

    /// Whether `entry` belongs to a history a recovery abandoned: from the resumed slot
    /// on, in a view below the one the checkpoint resumed in (the new history's views never
    /// go below it). Such an entry is never applied and never a fork.
    pub(super) fn abandoned(&self, entry: &DecidedEntry) -> bool {
        self.abandoned_at(entry.slot, entry.view)
    }

    /// [`Self::abandoned`] for a certified value of `slot` in `view`.
    fn abandoned_at(&self, slot: Slot, view: View) -> bool {
        self.resumed_at
            .is_some_and(|(from, resumed)| slot >= from && view < resumed)
    }

    /// Stop ordering: keep the proof, report it and gossip it.
    fn halt_on(&mut self, proof: ForkProof) {
        if self.fork.is_some() {
            return;
        }
        // After a recovery, entries of the abandoned history conflict with the new history
        // by design: they are not a fork of it.
        if self.abandoned_at(proof.first.slot, proof.first.view)
            || self.abandoned_at(proof.second.slot, proof.second.view)
        {
            return;
        }
        self.fork = Some(proof.clone());
        self.deadline = None;
        self.resend_at = None;
        self.effects.push(Effect::Fork(Box::new(proof.clone())));
        self.effects.push(Effect::Broadcast {
            msg: Message::Fork(Box::new(proof)),
        });
    }

    /// Verify and apply entries, in slot order, as far as they connect to our log.
    pub(super) fn on_catch_up_response(
        &mut self,
        from: NodeId,
        mut entries: Vec<DecidedEntry>,
    ) -> Result<(), Reject> {
        // Responses are cut by bytes as well as count: whenever one moved this node
        // forward, the peer may have more, so keep pulling (state sync for a node far
        // behind); a peer with nothing more sends nothing.
        let before = self.slot();
        entries.sort_by_key(|e| e.slot);
        entries.truncate(self.config.catch_up_batch);
        for entry in entries {
            if entry.slot < self.slot() {
                // Never skip: an entry for a slot we decided must carry our value.
                self.compare(entry);
                if self.fork.is_some() {
                    return Ok(());
                }
                continue;
            }
            if entry.slot > self.slot() {
                break;
            }
            // An entry that builds on another value of our last slot is from another
            // history: fetch that slot's entry to compare, never apply it on ours.
            let (theirs, ours) = (entry.tally.payload.proposal.payload.parent, self.parent());
            if theirs != ours && theirs != Digest::default() && ours != Digest::default() {
                self.probe_fork(from, entry.slot.saturating_sub(1));
                return Err(Reject::Invalid("entry extends another history"));
            }
            if self.abandoned(&entry) {
                return Err(Reject::Invalid(
                    "entry of a history abandoned by a recovery",
                ));
            }
            let quorum = |s: &BTreeSet<NodeId>| self.is_quorum(s);
            entry.verify(&self.state, &quorum)?;
            self.apply_entry(entry);
        }
        if self.slot() > before {
            self.catch_up_asked = None;
            self.ask_catch_up(from, self.slot());
        }
        Ok(())
    }
}
