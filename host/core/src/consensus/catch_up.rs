//! Catch-up: fetching decided entries (with their certificates) from peers, and serving
//! them (docs/PROTOCOL.md, "Catch-up").

use std::collections::BTreeSet;

use super::effect::Effect;
use super::entry::DecidedEntry;
use super::message::Message;
use super::{Node, Reject, ReplicaState};
use crate::types::{NodeId, Slot};

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

    /// Send `peer` the retained entries from `from` on (bounded).
    pub(super) fn serve_catch_up(&mut self, peer: NodeId, from: Slot) {
        let mut bytes = 0usize;
        let entries: Vec<DecidedEntry> = (from..self.slot())
            .take(self.config.catch_up_batch)
            .map_while(|s| self.entry(s).cloned())
            .take_while(|e| {
                let first = bytes == 0;
                bytes = bytes.saturating_add(crate::crypto::canonical_bytes(e).len());
                first || bytes <= super::limits::MAX_CATCH_UP_BYTES
            })
            .collect();
        if !entries.is_empty() {
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
                continue;
            }
            if entry.slot > self.slot() {
                break;
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
