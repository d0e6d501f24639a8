//! The pending signed operations of a node, bounded by count, by bytes and per submitter.
//!
//! # Design
//! Operations are kept in arrival order (the primary proposes from the front) with their
//! ids for duplicate checks, and four budgets: at most `max_ops` operations, at most
//! `max_bytes` of canonical encodings, and at most `max_per_submitter` operations of any
//! one submitter and the same share of the bytes (`max_bytes * max_per_submitter /
//! max_ops`), so one key (a client, or a member gossiping) cannot crowd out the others:
//! by count with small operations, or by bytes with a thousand operations of 64 KiB. Every removal goes through [`Mempool::remove`], which keeps the counters true.
//!
//! A removal costs O(1) whatever the mempool holds (a decided batch is taken out at every
//! slot, and at saturation the mempool holds thousands): the id map gives the entry's
//! sequence number, the entry leaves a hole, holes at the front are dropped at once, and
//! the queue is compacted when holes outnumber the pending operations (amortised O(1)),
//! so holes never hold more than the operations themselves.

use std::collections::{HashMap, VecDeque};

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
    /// The submitter's pending operations hold its share of the bytes.
    #[error("this submitter has its share of {0} bytes of operations pending")]
    SubmitterBytes(usize),
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

/// One pending operation: its id, its encoded length and the operation.
type Pending = (Digest, usize, SignedOperation);

/// Pending operations in arrival order.
#[derive(Debug, Clone)]
pub struct Mempool {
    limits: MempoolLimits,
    /// Arrival order; `None` is a removed operation's hole. Never starts with a hole.
    ops: VecDeque<Option<Pending>>,
    /// Sequence number of `ops[0]`.
    first: u64,
    /// The pending ids and their sequence numbers.
    ids: HashMap<Digest, u64>,
    bytes: usize,
    /// Operations and bytes pending per submitter.
    per_submitter: HashMap<NodeId, (usize, usize)>,
}

impl Mempool {
    /// An empty mempool with `limits`.
    pub fn new(limits: MempoolLimits) -> Self {
        Mempool {
            limits,
            ops: VecDeque::new(),
            first: 0,
            ids: HashMap::new(),
            bytes: 0,
            per_submitter: HashMap::new(),
        }
    }

    /// Number of pending operations.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Bytes of pending operations.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `id` is pending.
    pub fn contains(&self, id: &Digest) -> bool {
        self.ids.contains_key(id)
    }

    /// Whether `op` (of `len` encoded bytes) would fit.
    pub fn check_room(&self, op: &SignedOperation, len: usize) -> Result<(), MempoolFull> {
        let l = self.limits;
        if self.ids.len() >= l.max_ops {
            return Err(MempoolFull::Count(l.max_ops));
        }
        if self.bytes.saturating_add(len) > l.max_bytes {
            return Err(MempoolFull::Bytes(l.max_bytes));
        }
        let (count, bytes) = self
            .per_submitter
            .get(&op.submitter)
            .copied()
            .unwrap_or((0, 0));
        if count >= l.max_per_submitter {
            return Err(MempoolFull::Submitter(l.max_per_submitter));
        }
        let share = self.byte_share();
        if bytes.saturating_add(len) > share {
            return Err(MempoolFull::SubmitterBytes(share));
        }
        Ok(())
    }

    /// One submitter's share of the bytes: the share of the count it may hold
    /// (`max_per_submitter / max_ops`) of `max_bytes`, and never less than one operation of
    /// the largest size (a submitter allowed one operation pending must fit one).
    pub fn byte_share(&self) -> usize {
        let l = self.limits;
        let share = (l.max_bytes as u128).saturating_mul(l.max_per_submitter as u128)
            / (l.max_ops.max(1) as u128);
        usize::try_from(share)
            .unwrap_or(usize::MAX)
            .max(crate::ops::MAX_OPERATION_BYTES)
            .min(l.max_bytes)
    }

    /// Add `op` under `id` (after [`Self::check_room`]); false if it was pending already
    /// or does not fit.
    pub fn push(&mut self, id: Digest, op: SignedOperation) -> bool {
        let len = op.encoded_len();
        if self.ids.contains_key(&id) || self.check_room(&op, len).is_err() {
            return false;
        }
        let seq = self.first + self.ops.len() as u64;
        self.ids.insert(id, seq);
        self.bytes += len;
        let (count, bytes) = self.per_submitter.entry(op.submitter).or_default();
        *count += 1;
        *bytes += len;
        self.ops.push_back(Some((id, len, op)));
        true
    }

    /// Take `id` out; false if it was not pending. O(1) amortised.
    pub fn remove(&mut self, id: &Digest) -> bool {
        let Some(seq) = self.ids.remove(id) else {
            return false;
        };
        let taken = seq
            .checked_sub(self.first)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.ops.get_mut(i))
            .and_then(Option::take);
        if let Some((_, len, op)) = taken {
            self.bytes = self.bytes.saturating_sub(len);
            if let Some((count, bytes)) = self.per_submitter.get_mut(&op.submitter) {
                *count = count.saturating_sub(1);
                *bytes = bytes.saturating_sub(len);
                if *count == 0 {
                    self.per_submitter.remove(&op.submitter);
                }
            }
        }
        while matches!(self.ops.front(), Some(None)) {
            self.ops.pop_front();
            self.first += 1;
        }
        if self.ops.len() > 2 * self.ids.len() + 64 {
            self.compact();
        }
        true
    }

    /// Drop every hole and renumber (when holes outnumber the pending operations).
    fn compact(&mut self) {
        self.ops.retain(Option::is_some);
        for (i, (id, _, _)) in self.ops.iter().flatten().enumerate() {
            self.ids.insert(*id, self.first + i as u64);
        }
    }

    /// The pending operations, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&Digest, &SignedOperation)> {
        self.ops.iter().flatten().map(|(id, _, op)| (id, op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::ops::{ComputeTask, Operation};
    use crate::sim::rng::SimRng;

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
        assert!(first.is_some_and(|id| m.remove(&id)));
        assert!(m.bytes() < before);
        assert_eq!(m.len(), 3);
        assert!(m.push(fourth.id(), fourth));
    }

    /// One submitter of large operations is held to its share of the bytes while another
    /// still fits: a thousand operations of 64 KiB from one key filled a 64 MiB mempool,
    /// within its count of 10,000. Control: the same key's share of a mempool whose count
    /// share is the whole (`max_per_submitter == max_ops`) takes the operation. A share
    /// below one operation of the largest size is raised to it.
    #[test]
    fn one_submitter_is_held_to_its_share_of_the_bytes() {
        let (a, b) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
        let limits = MempoolLimits {
            max_ops: 100,
            max_bytes: 10_000_000,
            max_per_submitter: 10,
        };
        let mut m = Mempool::new(limits);
        assert_eq!(m.byte_share(), 1_000_000);
        let mut pushed = 0;
        for i in 0..10u8 {
            let o = op(&a, i, 300_000);
            if m.push(o.id(), o) {
                pushed += 1;
            }
        }
        assert_eq!(pushed, 3, "three of about 300 KB fit a share of 1 MB");
        let next = op(&a, 20, 300_000);
        assert_eq!(
            m.check_room(&next, next.encoded_len()),
            Err(MempoolFull::SubmitterBytes(1_000_000))
        );
        let other = op(&b, 0, 300_000);
        assert!(m.push(other.id(), other), "another submitter fits");
        let mut whole = m.clone();
        whole.limits.max_per_submitter = 100;
        assert!(whole.check_room(&next, next.encoded_len()).is_ok());
        // A share below one operation of the largest size is raised to it.
        let one = Mempool::new(MempoolLimits {
            max_ops: 100_000,
            max_bytes: 64 << 20,
            max_per_submitter: 1,
        });
        assert_eq!(one.byte_share(), crate::ops::MAX_OPERATION_BYTES);
    }

    /// Removal in any order keeps arrival order, the budgets and the ids true, against a
    /// plain list doing the same; holes are bounded by the pending operations.
    #[test]
    fn removal_in_any_order_matches_a_plain_list() {
        let keys: Vec<Keypair> = (0..4u8).map(|i| Keypair::from_seed([i + 1; 32])).collect();
        let mut m = Mempool::new(MempoolLimits {
            max_ops: 10_000,
            max_bytes: 1 << 30,
            max_per_submitter: 10_000,
        });
        let mut model: Vec<(Digest, SignedOperation)> = Vec::new();
        let mut rng = SimRng::new(7);
        let mut next = move || rng.index(1 << 30);
        for round in 0..3_000u32 {
            if next() % 3 != 0 || model.is_empty() {
                let key = &keys[next() % keys.len()];
                let o = op(key, (round % 251) as u8, 1 + next() % 40);
                let id = o.id();
                let fresh = !model.iter().any(|(d, _)| *d == id);
                assert_eq!(m.push(id, o.clone()), fresh);
                if fresh {
                    model.push((id, o));
                }
            } else {
                // Mostly from the front (a decided batch), sometimes anywhere.
                let i = if next() % 2 == 0 {
                    0
                } else {
                    next() % model.len()
                };
                let (id, _) = model.remove(i);
                assert!(m.remove(&id));
                assert!(!m.remove(&id));
            }
            let ids: Vec<Digest> = m.iter().map(|(d, _)| *d).collect();
            let want: Vec<Digest> = model.iter().map(|(d, _)| *d).collect();
            assert_eq!(ids, want);
            assert_eq!(m.len(), model.len());
            let bytes: usize = model.iter().map(|(_, o)| o.encoded_len()).sum();
            assert_eq!(m.bytes(), bytes);
            assert!(m.ops.len() <= 2 * m.len() + 65, "holes stay bounded");
            assert!(!matches!(m.ops.front(), Some(None)));
            for key in &keys {
                let per = model
                    .iter()
                    .filter(|(_, o)| o.submitter == key.id())
                    .count();
                let bytes: usize = model
                    .iter()
                    .filter(|(_, o)| o.submitter == key.id())
                    .map(|(_, o)| o.encoded_len())
                    .sum();
                assert_eq!(
                    m.per_submitter.get(&key.id()).copied().unwrap_or((0, 0)),
                    (per, bytes)
                );
            }
        }
    }

    /// An operation kept at the front while everything behind it is removed (a front
    /// that is never proposed, say) leaves holes that compaction bounds: without it the
    /// queue would keep one slot per operation ever pushed.
    #[test]
    fn holes_behind_a_kept_front_are_compacted() {
        let key = Keypair::from_seed([9; 32]);
        let mut m = Mempool::new(MempoolLimits {
            max_ops: 10_000,
            max_bytes: 1 << 30,
            max_per_submitter: 10_000,
        });
        let front = op(&key, 0, 1);
        assert!(m.push(front.id(), front.clone()));
        for i in 1..2_000u32 {
            let o = op(&key, (i % 251) as u8, 2 + i as usize);
            let id = o.id();
            assert!(m.push(id, o));
            assert!(m.remove(&id));
            assert!(m.ops.len() <= 2 * m.len() + 65, "{} slots", m.ops.len());
        }
        let ids: Vec<Digest> = m.iter().map(|(d, _)| *d).collect();
        assert_eq!(ids, vec![front.id()]);
        assert!(m.remove(&front.id()));
        assert!(m.ops.is_empty());
    }
}
