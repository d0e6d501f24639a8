//! Client submissions forwarded to the other members in bundles.
//!
//! # Design
//! Every member must hold every pending operation: the primary proposes from its mempool,
//! and every member watches its own mempool's front for censorship (`censorship.rs`).
//! Forwarding each submission as its own message cost a frame per operation and peer,
//! most of what a node received under load (about 70% of its peer frames at 1,400
//! operations/s), each with its share of QUIC, task wake-ups and decoding.
//!
//! So the node that takes a client's operation forwards it to every member in a
//! [`Message::Submit`](super::message::Message::Submit) bundle with the others it takes
//! meanwhile. A bundle leaves at once if none left in the last `hold` milliseconds (at
//! light load an operation waits for nothing), else when the hold since the last one
//! ends, or as soon as it reaches [`MAX_BUNDLE_OPS`] operations or [`MAX_BUNDLE_BYTES`].
//! An operation thus reaches the primary and the other members at most `hold` (10 ms by
//! default) later than alone, and only when this node forwarded another one within the
//! hold: under a load at which a slot takes longer than that anyway, and well inside the
//! `censor_slots` slots the censorship watch allows. Sending each one at once to the
//! primary as well was tried and dropped: the primary, the busiest member, then received
//! every operation twice.
//!
//! Receivers refuse a bundle of more than [`MAX_BUNDLE_OPS`] operations unread (an honest
//! member never sends one) and treat each operation as a forwarded submission: the same
//! checks and the same mempool budgets as one sent alone.

use crate::ops::SignedOperation;

/// Most operations in one bundle (sent at this count; a longer one is refused).
pub const MAX_BUNDLE_OPS: usize = 256;

/// Bytes (canonical encodings) at which a bundle is sent: with one operation of at most
/// `MAX_OPERATION_BYTES` (64 KiB) beyond it, a bundle stays far below a peer frame.
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024;

/// Operations waiting to be forwarded, and when the last bundle left.
#[derive(Debug, Clone, Default)]
pub(super) struct Outbox {
    ops: Vec<SignedOperation>,
    bytes: usize,
    /// When the held operations must leave (set while some are held).
    due: Option<u64>,
    /// When the last bundle left.
    last: Option<u64>,
}

impl Outbox {
    /// Take `op` (of `len` encoded bytes) at time `now`; returns the bundle to send now,
    /// if one is due.
    pub(super) fn push(
        &mut self,
        op: SignedOperation,
        len: usize,
        now: u64,
        hold: u64,
    ) -> Option<Vec<SignedOperation>> {
        self.ops.push(op);
        self.bytes = self.bytes.saturating_add(len);
        let quiet = self.last.is_none_or(|l| now >= l.saturating_add(hold));
        if quiet || self.ops.len() >= MAX_BUNDLE_OPS || self.bytes >= MAX_BUNDLE_BYTES {
            return Some(self.take(now));
        }
        if self.due.is_none() {
            self.due = self.last.map(|l| l.saturating_add(hold));
        }
        None
    }

    /// When the held operations must leave.
    pub(super) fn due(&self) -> Option<u64> {
        self.due
    }

    /// The held bundle, if it is due at `now`.
    pub(super) fn take_due(&mut self, now: u64) -> Option<Vec<SignedOperation>> {
        if self.due.is_some_and(|d| now >= d) && !self.ops.is_empty() {
            Some(self.take(now))
        } else {
            None
        }
    }

    fn take(&mut self, now: u64) -> Vec<SignedOperation> {
        self.bytes = 0;
        self.due = None;
        self.last = Some(now);
        std::mem::take(&mut self.ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::ops::{ComputeTask, Operation, SignedOperation};
    use crate::types::Digest;

    fn op(i: u64) -> SignedOperation {
        let key = Keypair::from_seed([7; 32]);
        let task = ComputeTask {
            kind: "f".into(),
            input: i.to_le_bytes().to_vec(),
        };
        SignedOperation::sign(Operation::Compute(task), Digest([0; 32]), i, &key)
    }

    #[test]
    fn the_first_operation_after_a_quiet_hold_leaves_at_once() {
        let mut o = Outbox::default();
        assert_eq!(o.push(op(1), 100, 0, 10).map(|b| b.len()), Some(1));
        assert_eq!(o.push(op(2), 100, 25, 10).map(|b| b.len()), Some(1));
        assert_eq!(o.due(), None);
    }

    #[test]
    fn operations_within_the_hold_leave_together_when_it_ends() {
        let mut o = Outbox::default();
        assert!(o.push(op(1), 100, 100, 10).is_some());
        assert!(o.push(op(2), 100, 101, 10).is_none());
        assert!(o.push(op(3), 100, 105, 10).is_none());
        assert_eq!(o.due(), Some(110));
        assert!(o.take_due(109).is_none());
        let bundle = o.take_due(110).map(|b| b.len());
        assert_eq!(bundle, Some(2));
        assert_eq!(o.due(), None);
        // The next one waits for the hold since that bundle.
        assert!(o.push(op(4), 100, 111, 10).is_none());
        assert_eq!(o.due(), Some(120));
    }

    #[test]
    fn with_no_hold_every_operation_leaves_alone() {
        // The control of the bundling: the same pushes as above, without a hold.
        let mut o = Outbox::default();
        for (i, now) in [100, 101, 105].into_iter().enumerate() {
            assert_eq!(o.push(op(i as u64), 100, now, 0).map(|b| b.len()), Some(1));
        }
        assert_eq!(o.due(), None);
    }

    #[test]
    fn a_full_bundle_leaves_at_once() {
        let mut o = Outbox::default();
        assert!(o.push(op(0), 10, 0, 1_000).is_some());
        for i in 1..MAX_BUNDLE_OPS as u64 {
            assert!(o.push(op(i), 10, 1, 1_000).is_none());
        }
        assert_eq!(
            o.push(op(9_999), 10, 1, 1_000).map(|b| b.len()),
            Some(MAX_BUNDLE_OPS)
        );
        assert!(o.push(op(10_000), 10, 2, 1_000).is_none());
        assert_eq!(
            o.push(op(10_001), MAX_BUNDLE_BYTES, 2, 1_000)
                .map(|b| b.len()),
            Some(2)
        );
    }
}
