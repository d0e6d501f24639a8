//! Byte budgets of the protocol's messages: every batch, tally and catch-up response is
//! built to fit one peer frame, and members refuse what does not.
//!
//! # Design
//! Counts alone do not bound bytes: 64 operations of 64 KiB, or a tally carrying every
//! member's reveal of a large result per operation, would not fit a frame, and a message
//! that cannot be sent costs a view change and comes back in the next view. So a batch is
//! cut by four budgets, and a member refuses a proposal that breaks any of them (the same
//! deterministic rule on every node: replicated parameters, the eligible count, the
//! proposal's own bytes):
//! - the replicated `timing.max-batch` operations;
//! - [`MAX_BATCH_BYTES`] of operations;
//! - [`MAX_PROOF_BYTES_PER_PROPOSAL`] of misbehaviour and absence proofs;
//! - the largest message that can carry the tally must fit a frame at the worst case:
//!   a new-view ([`new_view_room`]: a view change with a prepared certificate from every
//!   member) carrying the tally ([`tally_bound`]: the proposal with its operations and
//!   proofs, every eligible member's commit and reveal of `timing.max-output-bytes` per
//!   operation, and one decision per operation carrying an outcome as large).
//!
//! A reveal whose outcome is larger than the cap no module can produce is refused.
//! Catch-up responses carry whole entries up to [`MAX_CATCH_UP_BYTES`] (always at least
//! one). An operation larger than [`crate::ops::MAX_OPERATION_BYTES`] is refused at
//! submission, so every valid operation fits some batch.
//!
//! Misbehaviour proofs are small whatever the size of the messages they convict, because
//! they carry signing bytes, which name large contents by digest (`message.rs`, "Signing
//! bytes"). Proofs against commit sets and view changes still grow with the membership
//! (their signing bytes list a vote per member, about 150 bytes each); a proof that alone
//! exceeds the proof budget is left out of proposals (it is never proposed, nothing
//! breaks). A membership past what one operation's worst-case tally allows in a frame
//! ([`one_operation_fits`]: about 98 members at the default output cap of 16 KiB) is
//! refused at admission, as a larger output cap is refused at a parameter change.

use crate::ops::{Outcome, SignedOperation};

/// The largest peer message (the transport's frame bound).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of signed operations one batch may carry.
pub const MAX_BATCH_BYTES: usize = 512 * 1024;

/// Encoded bytes of the misbehaviour proofs and absence proofs one proposal may carry.
pub const MAX_PROOF_BYTES_PER_PROPOSAL: usize = 512 * 1024;

/// Most misbehaviour proofs, and most absence proofs, one proposal carries. A protocol
/// constant, not a node setting: whether a member accepts a proposal must not depend on
/// how its operator configured it (nodes set differently split on an honest proposal).
pub const MAX_EVIDENCE_PER_PROPOSAL: usize = 8;

/// Bytes of decided entries one catch-up response may carry (at least one entry).
pub const MAX_CATCH_UP_BYTES: usize = 3 * 1024 * 1024;

/// Per-member overhead of a tally: a signed commit and the envelope of a reveal.
const PER_MEMBER: usize = 512;

/// Per-outcome overhead in a reveal or a decision beyond its bytes (enum tags, lengths,
/// rejection code, the resolver's layer).
const PER_OUTCOME: usize = 32;

/// Per view change of a new-view, beside its accepts: slot, views, value, signer,
/// signature, envelope.
const PER_VIEW_CHANGE: usize = 256;

/// Per accept of a prepared certificate in a view change: payload, signer, signature.
const PER_ACCEPT: usize = 192;

/// Room for the envelopes around the largest message (the frame's enum tags, the
/// new-view's own signature and fields, the wire wrapper).
const ENVELOPE: usize = 8 * 1024;

/// The worst-case tally size of a batch of `ops` operations with `op_bytes` bytes of
/// operations and proofs in all, with `members` eligible members each revealing up to
/// `max_output` bytes per operation, and a decision carrying as much per operation.
pub fn tally_bound(ops: usize, op_bytes: usize, members: usize, max_output: usize) -> usize {
    let per_op = max_output.saturating_add(PER_OUTCOME);
    let reveal = ops.saturating_mul(per_op).saturating_add(PER_MEMBER);
    op_bytes
        .saturating_add(members.saturating_mul(reveal))
        .saturating_add(ops.saturating_mul(per_op))
        .saturating_add(4 * 1024)
}

/// The worst-case bytes a new-view adds to the tally it carries: a view change from each
/// of `members`, each with a prepared certificate of an accept from each.
pub fn new_view_room(members: usize) -> usize {
    members.saturating_mul(PER_VIEW_CHANGE.saturating_add(members.saturating_mul(PER_ACCEPT)))
}

/// Whether the worst-case new-view carrying the tally of such a batch fits a frame.
pub fn tally_fits_frame(ops: usize, op_bytes: usize, members: usize, max_output: usize) -> bool {
    tally_bound(ops, op_bytes, members, max_output)
        .saturating_add(new_view_room(members))
        .saturating_add(ENVELOPE)
        <= MAX_MESSAGE_BYTES
}

/// Whether a batch fits the budgets: at most `max_ops` operations, [`MAX_BATCH_BYTES`] of
/// them, `proof_bytes` (the proposal's encoded misbehaviour and absence proofs) within
/// [`MAX_PROOF_BYTES_PER_PROPOSAL`], and a worst-case tally that fits a frame inside a
/// new-view (a single operation is always allowed, so every valid operation can be
/// ordered: the parameter rules keep one operation's tally within a frame).
pub fn batch_fits(
    ops: usize,
    op_bytes: usize,
    proof_bytes: usize,
    max_ops: usize,
    members: usize,
    max_output: usize,
) -> bool {
    if ops > max_ops.max(1) || proof_bytes > MAX_PROOF_BYTES_PER_PROPOSAL {
        return false;
    }
    if ops <= 1 {
        return op_bytes <= MAX_BATCH_BYTES;
    }
    op_bytes <= MAX_BATCH_BYTES
        && tally_fits_frame(
            ops,
            op_bytes.saturating_add(proof_bytes),
            members,
            max_output,
        )
}

/// Whether one operation of the largest size, with a full proof budget, leads to a tally
/// that fits a frame inside a new-view (the parameter rule for `timing.max-output-bytes`).
pub fn one_operation_fits(members: usize, max_output: usize) -> bool {
    tally_fits_frame(
        1,
        crate::ops::MAX_OPERATION_BYTES.saturating_add(MAX_PROOF_BYTES_PER_PROPOSAL),
        members,
        max_output,
    )
}

/// Encoded bytes of a proposal's misbehaviour and absence proofs (what
/// [`MAX_PROOF_BYTES_PER_PROPOSAL`] bounds).
pub fn proof_bytes(
    evidence: &[crate::consensus::evidence::Misbehaviour],
    absences: &[crate::consensus::absence::AbsenceProof],
) -> usize {
    crate::crypto::canonical_bytes(&(evidence, absences)).len()
}

/// The payload bytes of one outcome (what the module's output cap bounds).
pub fn outcome_bytes(o: &Outcome) -> usize {
    match o {
        Outcome::Accepted(bytes) => bytes.len(),
        Outcome::Rejected { reason, .. } => reason.len(),
        Outcome::Failed(_) | Outcome::Regressed(_) => 0,
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
        // 40 small operations at the default output cap of 16 KiB for 4 members fit.
        assert!(batch_fits(40, 40 * 200, 0, 64, 4, 16 * 1024));
        // The count cap holds.
        assert!(!batch_fits(65, 65 * 200, 0, 64, 4, 16 * 1024));
        // Too many bytes of operations.
        assert!(!batch_fits(10, MAX_BATCH_BYTES + 1, 0, 64, 4, 1024));
        // Too many bytes of proofs.
        assert!(!batch_fits(
            1,
            200,
            MAX_PROOF_BYTES_PER_PROPOSAL + 1,
            64,
            4,
            1024
        ));
        // A large output cap and many members shrink the batch.
        assert!(!batch_fits(40, 40 * 200, 0, 64, 100, 16 * 1024));
        // Proofs take room from the batch.
        assert!(batch_fits(48, 48 * 200, 0, 64, 4, 16 * 1024));
        assert!(!batch_fits(
            48,
            48 * 200,
            MAX_PROOF_BYTES_PER_PROPOSAL,
            64,
            4,
            16 * 1024
        ));
        // One operation always fits (within the operation bytes).
        assert!(batch_fits(1, 60 * 1024, 0, 64, 100, 1 << 20));
    }

    /// The decisions count: with few eligible members the decisions are a large part of
    /// a tally (with one member, half of it).
    #[test]
    fn decisions_are_counted_in_the_tally() {
        let with_one = tally_bound(10, 0, 1, 1000);
        let reveals_only = 10 * (1000 + PER_OUTCOME) + PER_MEMBER + 4 * 1024;
        assert!(with_one >= reveals_only + 10 * 1000);
    }
}
