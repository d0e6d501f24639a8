//! The trace hash of a run: SHA-256 over every delivered message and every decision, in
//! the order they happen.
//!
//! # Determinism
//! Two runs of one scenario with one seed must produce the same trace hash; a different
//! hash means something in the run (or in the state machine) depends on more than the
//! seed — a hash-map iteration order, an address, a clock.

use sha2::{Digest as _, Sha256};

use crate::consensus::Message;
use crate::crypto::canonical_bytes;
use crate::sim::network::{Endpoint, Time};
use crate::types::{Digest, NodeId, Slot};

/// An incremental trace hash.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    hasher: Sha256,
    deliveries: u64,
    decisions: u64,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record that `msg` from `from` was delivered to endpoint `to` at `at`.
    pub fn delivered(&mut self, at: Time, to: Endpoint, from: &NodeId, msg: &Message) {
        self.deliveries += 1;
        self.hasher.update(b"D");
        self.hasher.update(at.to_le_bytes());
        self.hasher.update((to as u64).to_le_bytes());
        self.hasher.update(from.as_ref());
        let bytes = canonical_bytes(msg);
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(&bytes);
    }

    /// Record that endpoint `at_endpoint` decided `value` for `slot` at `at`.
    pub fn decided(&mut self, at: Time, at_endpoint: Endpoint, slot: Slot, value: &Digest) {
        self.decisions += 1;
        self.hasher.update(b"C");
        self.hasher.update(at.to_le_bytes());
        self.hasher.update((at_endpoint as u64).to_le_bytes());
        self.hasher.update(slot.to_le_bytes());
        self.hasher.update(value.as_ref());
    }

    /// Messages delivered so far.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// The hash of everything recorded.
    pub fn finish(&self) -> Digest {
        Digest(self.hasher.clone().finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_content_change_the_hash() {
        let v = Digest([1; 32]);
        let mut a = Trace::new();
        a.decided(1, 0, 0, &v);
        a.decided(2, 1, 0, &v);
        let mut b = Trace::new();
        b.decided(2, 1, 0, &v);
        b.decided(1, 0, 0, &v);
        let mut c = Trace::new();
        c.decided(1, 0, 0, &v);
        c.decided(2, 1, 0, &v);
        assert_ne!(a.finish(), b.finish());
        assert_eq!(a.finish(), c.finish());
        assert_ne!(a.finish(), Trace::new().finish());
    }
}
