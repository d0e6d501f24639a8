//! When this node's own votes of a slot leave it, and when it decides the slot, measured
//! from the moment it first saw the slot's proposal (received, or sent as primary): the
//! phase latencies behind the `spore_phase_seconds` histogram.
//!
//! An observer of the driver, not a fact of the protocol: it reads the messages the node
//! sends and receives and never changes them. Peers choose which proposals arrive, so
//! the clock opens only slots within [`WINDOW`] of the node's next slot and holds at most
//! [`MAX_OPEN`] of them; a decision closes its slot and every one before it. A received
//! proposal opens its slot before the machine checks it, so a hostile member can make
//! the figures larger by sending a proposal early (forged or not): a diagnostic, never
//! an input to anything the node decides.

use std::collections::BTreeMap;
use std::time::Instant;

use spore_core::consensus::Message;
use spore_core::types::Slot;

/// How far ahead of the node's next slot a proposal may open a slot.
pub const WINDOW: Slot = 8;
/// Most slots open at once.
pub const MAX_OPEN: usize = 64;

/// The phases measured, in the order a sealed slot goes through them (bit `i` of a slot's
/// mask: phase `i` already measured).
pub const PHASES: [&str; 6] = ["commit", "reveal", "tally", "accept", "confirm", "decided"];

/// Open slots: when each was first seen, and which phases were already measured.
#[derive(Debug, Default)]
pub struct PhaseClock {
    open: BTreeMap<Slot, (Instant, u8)>,
}

impl PhaseClock {
    /// The proposal of `slot` was seen at `now` (the node's next slot is `next`).
    pub fn proposal(&mut self, slot: Slot, next: Slot, now: Instant) {
        if slot < next || slot > next.saturating_add(WINDOW) || self.open.len() >= MAX_OPEN {
            return;
        }
        self.open.entry(slot).or_insert((now, 0));
    }

    /// `msg`, sent or received at `now`, opens its slot if it is a proposal; whether it
    /// was one.
    pub fn saw(&mut self, msg: &Message, next: Slot, now: Instant) -> bool {
        let (Message::Proposal(_), Some(slot)) = (msg, msg.slot()) else {
            return false;
        };
        self.proposal(slot, next, now);
        true
    }

    /// This node sent `msg` at `now`: the seconds since its slot opened, if this is the
    /// first of its phase in an open slot.
    pub fn sent(&mut self, msg: &Message, now: Instant) -> Option<(&'static str, f64)> {
        let phase = msg.phase();
        let slot = msg.slot()?;
        self.mark(slot, phase, now)
    }

    /// `slot` was decided at `now`: the seconds since it opened, if it was open. Closes it
    /// and every slot before it.
    pub fn decided(&mut self, slot: Slot, now: Instant) -> Option<f64> {
        let secs = self.mark(slot, "decided", now).map(|(_, s)| s);
        self.open = self.open.split_off(&slot.saturating_add(1));
        secs
    }

    /// Slots open now.
    pub fn open(&self) -> usize {
        self.open.len()
    }

    fn mark(&mut self, slot: Slot, phase: &str, now: Instant) -> Option<(&'static str, f64)> {
        let i = PHASES.iter().position(|p| *p == phase)?;
        let (opened, mask) = self.open.get_mut(&slot)?;
        let bit = 1u8 << i;
        if *mask & bit != 0 {
            return None;
        }
        *mask |= bit;
        Some((PHASES[i], now.duration_since(*opened).as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_phase_is_measured_once_from_the_proposal() {
        let mut c = PhaseClock::default();
        let t0 = Instant::now();
        c.proposal(5, 5, t0);
        c.proposal(5, 5, t0 + Duration::from_millis(9)); // a re-sent proposal: no restart
        let later = t0 + Duration::from_millis(3);
        assert_eq!(c.mark(5, "commit", later), Some(("commit", 0.003)));
        assert_eq!(
            c.mark(5, "commit", later),
            None,
            "a re-sent vote is not measured"
        );
        assert_eq!(c.mark(5, "proposal", later), None, "not a measured phase");
        assert_eq!(c.mark(6, "commit", later), None, "slot 6 never opened");
        let decided = c.decided(5, t0 + Duration::from_millis(7));
        assert_eq!(decided, Some(0.007));
        assert_eq!(c.open(), 0);
    }

    /// Proposals for slots behind or far ahead open nothing, and the open slots are
    /// bounded (control: without the window, slot 1,000 would open).
    #[test]
    fn peers_cannot_grow_the_clock() {
        let mut c = PhaseClock::default();
        let t = Instant::now();
        c.proposal(3, 10, t);
        c.proposal(1_000, 10, t);
        assert_eq!(c.open(), 0);
        for slot in 10..=10 + WINDOW {
            c.proposal(slot, 10, t);
        }
        assert_eq!(c.open(), usize::try_from(WINDOW).unwrap_or(0) + 1);
        assert!(c.open() <= MAX_OPEN);
        // A decision closes its slot and every one before it.
        c.decided(12, t);
        assert_eq!(c.open(), usize::try_from(WINDOW).unwrap_or(0) - 2);
    }
}
