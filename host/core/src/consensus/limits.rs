//! Byte budgets of the protocol's messages: every batch, tally and catch-up response is
//! built to fit one peer frame, and members refuse what does not.
//!
//! # Design
//! Counts alone do not bound bytes: 64 operations of 64 KiB, or a tally carrying every
//! member's reveal of a large result per operation, would not fit a frame, and a message
//! that cannot be sent costs a view change and comes back in the next view. So a batch is
//! cut by three budgets — the replicated `timing.max-batch` operations, [`MAX_BATCH_BYTES`]
//! of operations, and the worst-case size of the tally it leads to (every eligible member
//! revealing `timing.max-output-bytes` per operation) within [`MAX_TALLY_BYTES`] — and a
//! member refuses a proposal that breaks any of them (the same deterministic rule on every
//! node: replicated parameters, the eligible count). A reveal whose outcome is larger than
//! the cap no module can produce is refused. Catch-up responses carry whole entries up to
//! [`MAX_CATCH_UP_BYTES`] (always at least one). An operation larger than
//! [`crate::ops::MAX_OPERATION_BYTES`] is refused at submission, so every valid operation
//! fits some batch.

use crate::ops::{Outcome, SignedOperation};

/// The largest peer message (the transport's frame bound).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of signed operations one batch may carry.
pub const MAX_BATCH_BYTES: usize = 512 * 1024;

/// Worst-case bytes of a tally (proposal, commits, reveals), leaving room in a frame.
pub const MAX_TALLY_BYTES: usize = 3 * 1024 * 1024;

/// Bytes of decided entries one catch-up response may carry (at least one entry).
pub const MAX_CATCH_UP_BYTES: usize = 3 * 1024 * 1024;

/// Per-member overhead of a tally: a signed commit and the envelope of a reveal.
const PER_MEMBER: usize = 512;

/// Per-outcome overhead in a reveal beyond its bytes (enum tag, lengths, rejection code).
const PER_OUTCOME: usize = 16;

/// The worst-case tally size of a batch of `ops` operations of `op_bytes` bytes in all,
/// with `members` eligible members each revealing up to `max_output` bytes per operation.
pub fn tally_bound(ops: usize, op_bytes: usize, members: usize, max_output: usize) -> usize {
    let reveal = ops
        .saturating_mul(max_output.saturating_add(PER_OUTCOME))
        .saturating_add(PER_MEMBER);
    op_bytes
        .saturating_add(members.saturating_mul(reveal))
        .saturating_add(4 * 1024)
}

/// Whether a batch fits the budgets: at most `max_ops` operations, [`MAX_BATCH_BYTES`] of
/// them, and a worst-case tally within [`MAX_TALLY_BYTES`] (a single operation is always
/// allowed, so every valid operation can be ordered).
pub fn batch_fits(
    ops: usize,
    op_bytes: usize,
    max_ops: usize,
    members: usize,
    max_output: usize,
) -> bool {
    if ops > max_ops.max(1) {
        return false;
    }
    if ops <= 1 {
        return op_bytes <= MAX_BATCH_BYTES;
    }
    op_bytes <= MAX_BATCH_BYTES
        && tally_bound(ops, op_bytes, members, max_output) <= MAX_TALLY_BYTES
}

/// The payload bytes of one outcome (what the module's output cap bounds).
pub fn outcome_bytes(o: &Outcome) -> usize {
    match o {
        Outcome::Accepted(bytes) => bytes.len(),
        Outcome::Rejected { reason, .. } => reason.len(),
        Outcome::Failed(_) => 0,
    }
}

/// Bytes of a batch's operations.
pub fn batch_bytes(batch: &[SignedOperation]) -> usize {
    batch.iter().map(SignedOperation::encoded_len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_cut_by_bytes_and_worst_case_tally() {
        // 64 small operations at the default output cap of 16 KiB for 4 members fit.
        assert!(batch_fits(40, 40 * 200, 64, 4, 16 * 1024));
        // The count cap holds.
        assert!(!batch_fits(65, 65 * 200, 64, 4, 16 * 1024));
        // Too many bytes of operations.
        assert!(!batch_fits(10, MAX_BATCH_BYTES + 1, 64, 4, 1024));
        // A large output cap and many members shrink the batch.
        assert!(!batch_fits(40, 40 * 200, 64, 100, 16 * 1024));
        // One operation always fits (within the operation bytes).
        assert!(batch_fits(1, 60 * 1024, 64, 100, 1 << 20));
    }
}
