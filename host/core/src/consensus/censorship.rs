//! Censorship: an operation kept out of the log forces a view change (docs/PROTOCOL.md,
//! "Rotation and fairness").
//!
//! The primary proposes the oldest valid operation of its mempool with the operations of
//! the same mechanism that follow it (oldest first, others skipped), so under an honest
//! primary the oldest pending operation is in the next batch.
//! A node watches the front of its own mempool: when the same operation has been the
//! oldest for more than `censor_slots` decided slots, the primaries of those slots kept
//! it out, and the node asks for the next view (its primary is the next member of the
//! rotation). Every honest member received the operation by gossip, so they all ask
//! within a few slots of each other and the view change gathers its quorum; a Byzantine
//! member cannot trigger one this way, since it needs the honest members' own mempools.
//! Operations that no longer pass the host's rules are dropped from the front first, so
//! an operation nobody may decide never triggers anything.
//!
//! Together with the rotation by slot (`timing.rotation-slots`), this bounds how long a
//! valid operation waits after GST: at most `censor_slots` slots under any primary, and
//! the rotation reaches an honest primary within `f + 1` turns.

use super::{Mode, Node, ReplicaState};

impl<S: ReplicaState> Node<S> {
    /// After a decision: track the oldest pending operation, and ask for a view change if
    /// it has been kept out too long.
    pub(super) fn watch_censorship(&mut self) {
        let front = loop {
            let Some((id, op)) = self.mempool.iter().next() else {
                self.front = None;
                return;
            };
            let id = *id;
            if !self.skip_authorization && self.state.authorize(op).is_err() {
                self.mempool.remove(&id);
                continue;
            }
            break id;
        };
        let slot = self.slot();
        match self.front {
            Some((d, since)) if d == front => {
                if slot.saturating_sub(since) > self.config.censor_slots
                    && self.mode == Mode::Normal
                {
                    self.front = Some((front, slot));
                    self.stats.censorship_view_changes += 1;
                    self.start_view_change(self.view.saturating_add(1));
                }
            }
            _ => self.front = Some((front, slot)),
        }
    }
}
