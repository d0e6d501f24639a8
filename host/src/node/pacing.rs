//! Per-peer pacing of what a node serves on request: module parts ([`super::fetch`]) and
//! catch-up responses from the store ([`super::driver`]).
//!
//! # Design
//! A request of a few bytes can make a node read, decode, encode and send megabytes on
//! its event loop (a catch-up request from slot 0 costs up to 3 MiB; a module part 1 MiB).
//! A [`Pacer`] gives each peer a window of one second in which it may be served at most
//! [`Pace::per_second`] answers and [`Pace::bytes_per_second`] bytes, whichever comes
//! first; a request past either is refused, and the caller drops it (the requester asks
//! again: honest requesters ask once per answer, and retry on a timer). The byte count
//! is charged after the answer is built ([`Pacer::charge`]); [`Pacer::admit`] says how
//! many bytes are left, so the caller can build an answer within them (at least one
//! item, so a window may overshoot by one item).
//!
//! The state is a plain map over `now` in milliseconds, bounded: at most
//! [`MAX_PACED_PEERS`] peers are tracked; past that, windows that ended are forgotten,
//! and a new peer is refused while every tracked window is still open (peers are
//! authenticated members, far fewer than the bound).

use std::collections::HashMap;
use std::hash::Hash;

use spore_core::types::NodeId;

/// Most peers whose windows are kept.
pub const MAX_PACED_PEERS: usize = 1_024;

/// Length of a pacing window (ms).
const WINDOW_MS: u64 = 1_000;

/// What one peer may be served per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Answers per second.
    pub per_second: u32,
    /// Bytes per second (`u64::MAX`: counted answers only).
    pub bytes_per_second: u64,
}

/// One peer's current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: u64,
    count: u32,
    bytes: u64,
}

impl Window {
    fn open(&self, now: u64) -> bool {
        now.saturating_sub(self.start) < WINDOW_MS
    }
}

/// The pacing of one kind of answer, per peer (see the module doc); peers are member
/// keys, or whatever else `K` names (client keys, client addresses).
#[derive(Debug)]
pub struct Pacer<K = NodeId> {
    pace: Pace,
    peers: HashMap<K, Window>,
}

impl<K: Hash + Eq + Copy> Pacer<K> {
    /// A pacer allowing `pace` to every peer.
    pub fn new(pace: Pace) -> Self {
        Self {
            pace,
            peers: HashMap::new(),
        }
    }

    /// Whether `peer` may be served one more answer at `now` (ms): `Some(bytes)` it may
    /// still be sent in its window (the answer is counted), `None` when it used its
    /// answers or bytes of the current second (nothing is counted).
    pub fn admit(&mut self, peer: K, now: u64) -> Option<u64> {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PACED_PEERS {
            self.peers.retain(|_, w| w.open(now));
            if self.peers.len() >= MAX_PACED_PEERS {
                return None;
            }
        }
        let w = self.peers.entry(peer).or_insert(Window {
            start: now,
            count: 0,
            bytes: 0,
        });
        if !w.open(now) {
            *w = Window {
                start: now,
                count: 0,
                bytes: 0,
            };
        }
        if w.count >= self.pace.per_second || w.bytes >= self.pace.bytes_per_second {
            return None;
        }
        w.count += 1;
        Some(self.pace.bytes_per_second - w.bytes)
    }

    /// Charge `bytes` sent to `peer` to its current window (after [`Self::admit`]).
    pub fn charge(&mut self, peer: K, bytes: u64) {
        if let Some(w) = self.peers.get_mut(&peer) {
            w.bytes = w.bytes.saturating_add(bytes);
        }
    }

    /// Peers whose windows are kept (at most [`MAX_PACED_PEERS`]).
    pub fn tracked(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u16) -> NodeId {
        let mut id = [0u8; 32];
        id[..2].copy_from_slice(&n.to_be_bytes());
        NodeId(id)
    }

    const PACE: Pace = Pace {
        per_second: 8,
        bytes_per_second: 1_000,
    };

    #[test]
    fn the_answer_past_the_count_of_a_second_is_refused_until_the_next() {
        let mut p = Pacer::new(PACE);
        let served = (0..20).filter(|_| p.admit(node(1), 10).is_some()).count();
        assert_eq!(served, 8);
        // Control: another peer, and the same peer a second later, are served; so the
        // refusal above is the count, not a pacer that refuses everything.
        assert!(
            p.admit(node(2), 10).is_some(),
            "another peer has its own window"
        );
        assert!(p.admit(node(1), 1_009).is_none(), "still the same second");
        assert!(p.admit(node(1), 1_010).is_some(), "the window reopens");
    }

    #[test]
    fn the_byte_budget_refuses_before_the_count() {
        let mut p = Pacer::new(PACE);
        assert_eq!(p.admit(node(1), 0), Some(1_000));
        p.charge(node(1), 600);
        assert_eq!(p.admit(node(1), 0), Some(400), "what is left of the bytes");
        p.charge(node(1), 400);
        // Two answers served, six left by count: refused by bytes. Control: the same two
        // answers charged nothing would be admitted (the count alone allows eight).
        assert_eq!(p.admit(node(1), 0), None);
        let mut control = Pacer::new(PACE);
        assert!((0..3).all(|_| control.admit(node(1), 0).is_some()));
        assert_eq!(p.admit(node(1), 1_000), Some(1_000), "the next second");
    }

    #[test]
    fn the_map_stays_bounded_for_many_peers() {
        let mut p = Pacer::new(PACE);
        for n in 0..(MAX_PACED_PEERS as u16 + 500) {
            p.admit(node(n), 0);
        }
        assert_eq!(p.tracked(), MAX_PACED_PEERS);
        // Every window is open: a new peer is refused rather than tracked; known peers
        // are still served (control: the refusal is the bound, not the pace).
        assert!(p.admit(node(u16::MAX), 0).is_none());
        assert!(p.admit(node(0), 0).is_some());
        // Once the windows ended, the old ones make room.
        assert!(p.admit(node(u16::MAX), 1_000).is_some());
        assert!(p.tracked() <= MAX_PACED_PEERS);
    }
}
