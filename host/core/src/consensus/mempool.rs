//! The pending signed operations of a node, bounded by count, by bytes and per submitter.
//!
//! # Design
//! Operations are kept in arrival order (the primary proposes from the front) with their
//! ids for duplicate checks, and three budgets: at most `max_ops` operations, at most
//! `max_bytes` of canonical encodings, and at most `max_per_submitter` operations of any
//! one submitter, so one key (a client, or a member gossiping) cannot crowd out the
//! others. Every removal goes through [`Mempool::retain`], which keeps the counters true.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::ops::SignedOperation;
use crate::types::{Digest, NodeId};

/// Why the mempool refuses an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MempoolFull {
    /// It holds `max_ops` operations.
    #[error("the mempool holds its maximum of {0} operations")]
    Count(usize),
    /// It holds `max_bytes` of operations.
    #[error("the mempool holds its maximum of {0} bytes")]
    Bytes(usize),
    /// The submitter has `max_per_submitter` operations pending.
    #[error("this submitter has its maximum of {0} operations pending")]
    Submitter(usize),
}

/// Budgets of a [`Mempool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Most operations.
    pub max_ops: usize,
    /// Most bytes of canonical encodings.
    pub max_bytes: usize,
    /// Most operations of one submitter.
    pub max_per_submitter: usize,
}

/// Pending operations in arrival order.
#[derive(Debug, Clone)]
pub struct Mempool {
    limits: MempoolLimits,
    ops: VecDeque<(Digest, usize, SignedOperation)>,
    ids: HashSet<Digest>,
    bytes: usize,
    per_submitter: HashMap<NodeId, usize>,
}

impl Mempool {
    /// An empty mempool with `limits`.
    pub fn new(limits: MempoolLimits) -> Self {
        Mempool {
            limits,
            ops: VecDeque::new(),
            ids: HashSet::new(),
            bytes: 0,
            per_submitter: HashMap::new(),
        }
    }

    /// Number of pending operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of pending operations.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `id` is pending.
    pub fn contains(&self, id: &Digest) -> bool {
        self.ids.contains(id)
    }

    /// Whether `op` (of `len` encoded bytes) would fit.
    pub fn check_room(&self, op: &SignedOperation, len: usize) -> Result<(), MempoolFull> {
        let l = self.limits;
        if self.ops.len() >= l.max_ops {
            return Err(MempoolFull::Count(l.max_ops));
        }
        if self.bytes.saturating_add(len) > l.max_bytes {
            return Err(MempoolFull::Bytes(l.max_bytes));
        }
        if self.per_submitter.get(&op.submitter).copied().unwrap_or(0) >= l.max_per_submitter {
            return Err(MempoolFull::Submitter(l.max_per_submitter));
        }
        Ok(())
    }

    /// Add `op` under `id` (after [`Self::check_room`]); false if it was pending already
    /// or does not fit.
    pub fn push(&mut self, id: Digest, op: SignedOperation) -> bool {
        let len = op.encoded_len();
        if self.ids.contains(&id) || self.check_room(&op, len).is_err() {
            return false;
        }
        self.ids.insert(id);
        self.bytes += len;
        *self.per_submitter.entry(op.submitter).or_default() += 1;
        self.ops.push_back((id, len, op));
        true
    }

    /// Keep only the operations for which `keep(id, op)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&Digest, &SignedOperation) -> bool) {
        let (ids, per, bytes) = (&mut self.ids, &mut self.per_submitter, &mut self.bytes);
        self.ops.retain(|(id, len, op)| {
            if keep(id, op) {
                return true;
            }
            ids.remove(id);
            *bytes = bytes.saturating_sub(*len);
            if let Some(n) = per.get_mut(&op.submitter) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per.remove(&op.submitter);
                }
            }
            false
        });
    }

    /// The pending operations, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&Digest, &SignedOperation)> {
        self.ops.iter().map(|(id, _, op)| (id, op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::ops::{ComputeTask, Operation};

    fn op(key: &Keypair, i: u8, size: usize) -> SignedOperation {
        let op = Operation::Compute(ComputeTask {
            kind: "k".into(),
            input: vec![i; size],
        });
        SignedOperation::sign(op, Digest([0; 32]), 10, key)
    }

    #[test]
    fn budgets_hold_and_removal_frees_them() {
        let (a, b) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
        let mut m = Mempool::new(MempoolLimits {
            max_ops: 10,
            max_bytes: 2_000,
            max_per_submitter: 3,
        });
        for i in 0..3 {
            let o = op(&a, i, 10);
            assert!(m.push(o.id(), o));
        }
        let fourth = op(&a, 3, 10);
        assert_eq!(
            m.check_room(&fourth, fourth.encoded_len()),
            Err(MempoolFull::Submitter(3))
        );
        assert!(!m.push(fourth.id(), fourth.clone()));
        // Another submitter still fits; a large operation does not.
        let other = op(&b, 0, 10);
        assert!(m.push(other.id(), other));
        let big = op(&b, 1, 1_900);
        assert!(matches!(
            m.check_room(&big, big.encoded_len()),
            Err(MempoolFull::Bytes(2_000))
        ));
        // Removing one of a's frees a's slot and the bytes.
        let before = m.bytes();
        let first = m.iter().next().map(|(id, _)| *id);
        m.retain(|id, _| Some(*id) != first);
        assert!(m.bytes() < before);
        assert_eq!(m.len(), 3);
        assert!(m.push(fourth.id(), fourth));
    }
}
