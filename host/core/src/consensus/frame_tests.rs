//! Worst-case messages built for real and measured: what `limits.rs` admits fits a frame
//! inside the largest message that carries a tally (a new-view), and a misbehaviour proof
//! stays small whatever the size of the messages it convicts (`message.rs`, "Signing
//! bytes").
//!
//! The attack these guard against: a member that equivocates with large messages (two
//! reveals of 16 KiB results per operation, two tallies of 3 MiB) made a proof larger
//! than its messages, and every honest primary put that proof into its proposal, whose
//! tally then exceeded a frame: no proposal could be sent, view after view. And with few
//! eligible members the decisions, which the old bound left out, could push a tally past
//! the frame on their own.

use super::entry::Decision;
use super::evidence::Misbehaviour;
use super::limits::{self, MAX_MESSAGE_BYTES};
use super::message::{
    Accept, Commit, Message, NewView, PreparedClaim, Proposal, Reveal, Tally, ViewChange,
};
use crate::crypto::{Keypair, Signed, canonical_bytes};
use crate::ops::{ComputeTask, Operation, Outcome, SignedOperation};
use crate::types::{Digest, Layer};

/// The most operations per batch the replicated parameters allow.
const MAX_OPS: usize = 10_000;

fn keys(members: usize) -> Vec<Keypair> {
    (0..members)
        .map(|i| Keypair::from_seed([u8::try_from(i + 1).unwrap_or(255); 32]))
        .collect()
}

/// `k` small, distinct operations (small ones make the largest batches).
fn ops(k: usize, key: &Keypair) -> Vec<SignedOperation> {
    (0..k)
        .map(|i| {
            let op = Operation::Compute(ComputeTask {
                kind: "k".into(),
                input: (i as u32).to_le_bytes().to_vec(),
            });
            SignedOperation::sign(op, Digest([0; 32]), 10, key)
        })
        .collect()
}

/// The largest batch `fits` admits for `members` and `max_output`.
fn largest_batch(
    members: usize,
    max_output: usize,
    op_len: usize,
    fits: impl Fn(usize, usize, usize, usize) -> bool,
) -> usize {
    (1..=MAX_OPS)
        .take_while(|k| fits(*k, k * op_len, members, max_output))
        .last()
        .unwrap_or(1)
}

/// The worst-case tally of `k` operations: every member reveals `max_output` bytes per
/// operation and every decision carries as much.
fn worst_tally(keys: &[Keypair], k: usize, max_output: usize, mark: u8) -> Signed<Tally> {
    let proposal = Signed::new(
        Proposal {
            slot: 1,
            view: 0,
            batch: ops(k, &keys[0]),
            parent: Digest::default(),
            evidence: Vec::new(),
            absences: Vec::new(),
        },
        &keys[0],
    );
    let d = proposal.payload.batch_digest();
    let outcome = Outcome::Accepted(vec![mark; max_output]);
    let commits = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let commitment = Digest([u8::try_from(i).unwrap_or(0); 32]);
            let c = Commit {
                slot: 1,
                view: 0,
                batch: d,
                commitment,
            };
            Signed::new(c, key)
        })
        .collect();
    let reveals = keys
        .iter()
        .map(|key| {
            let r = Reveal {
                slot: 1,
                view: 0,
                batch: d,
                outcomes: vec![outcome.clone(); k],
                salt: Digest([7; 32]),
            };
            Signed::new(r, key)
        })
        .collect();
    let decisions = vec![
        Decision::Resolved {
            layer: Layer::Latent,
            outcome,
        };
        k
    ];
    let tally = Tally {
        proposal,
        commits,
        reveals,
        decisions,
    };
    Signed::new(tally, &keys[0])
}

/// The worst-case new-view: a view change from every member, each with a prepared
/// certificate of an accept from every member, one of them carrying the tally.
fn worst_new_view(keys: &[Keypair], tally: Signed<Tally>) -> Message {
    let value = tally.payload.value();
    let accepts: Vec<Signed<Accept>> = keys
        .iter()
        .map(|key| {
            let a = Accept {
                slot: 1,
                view: 0,
                value,
            };
            Signed::new(a, key)
        })
        .collect();
    let view_changes = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let vc = ViewChange {
                slot: 1,
                new_view: 1,
                prepared: Some(PreparedClaim {
                    view: 0,
                    value,
                    accepts: accepts.clone(),
                    tally: (i == 0).then(|| tally.clone()),
                }),
            };
            Signed::new(vc, key)
        })
        .collect();
    let nv = NewView {
        slot: 1,
        view: 1,
        view_changes,
    };
    Message::NewView(Box::new(Signed::new(nv, &keys[keys.len() - 1])))
}

fn op_len() -> usize {
    ops(1, &Keypair::from_seed([9; 32]))[0].encoded_len()
}

/// The rule: for few and many members and small and large output caps, the largest
/// batch the budgets admit leads to a new-view within a frame.
#[test]
fn the_largest_admitted_batch_fits_a_frame_in_a_new_view() {
    let op_len = op_len();
    for (members, max_output) in [
        (1, 16 * 1024),
        (3, 16 * 1024),
        (4, 16 * 1024),
        (7, 16 * 1024),
        (16, 4 * 1024),
        (4, 64 * 1024),
    ] {
        let k = largest_batch(members, max_output, op_len, |k, b, m, o| {
            limits::batch_fits(k, b, 0, MAX_OPS, m, o)
        });
        let keys = keys(members);
        let msg = worst_new_view(&keys, worst_tally(&keys, k, max_output, 1));
        let len = canonical_bytes(&msg).len();
        assert!(
            len <= MAX_MESSAGE_BYTES,
            "{members} members, cap {max_output}: {k} operations make a {len}-byte new-view"
        );
    }
}

/// Control: the old rule (reveals only, within 3 MiB; no decisions, no new-view) admits
/// a batch whose new-view is larger than a frame when one member is eligible.
#[test]
fn control_the_old_bound_admits_a_tally_no_frame_holds() {
    let old_fits = |k: usize, b: usize, m: usize, o: usize| {
        let reveal = k * (o + 16) + 512;
        b + m * reveal + 4 * 1024 <= 3 * 1024 * 1024
    };
    let k = largest_batch(1, 16 * 1024, op_len(), old_fits);
    let keys = keys(1);
    let msg = worst_new_view(&keys, worst_tally(&keys, k, 16 * 1024, 1));
    assert!(canonical_bytes(&msg).len() > MAX_MESSAGE_BYTES);
}

/// A proof of two conflicting tallies, reveals, proposals or new-views of megabytes, and
/// of a reveal that does not open its commitment, is a few hundred bytes to a few KiB:
/// its size follows the operation count, never the messages' bytes.
#[test]
fn misbehaviour_proofs_are_small_whatever_they_convict() {
    let keys = keys(4);
    let k = 48;
    let a = worst_tally(&keys, k, 16 * 1024, 1);
    let b = worst_tally(&keys, k, 16 * 1024, 2);
    let big = canonical_bytes(&a).len();
    assert!(big > 3_000_000, "the tallies are large ({big} bytes)");
    let pairs = [
        (
            Message::Tally(Box::new(a.clone())),
            Message::Tally(Box::new(b.clone())),
        ),
        (
            Message::Reveal(a.payload.reveals[1].clone()),
            Message::Reveal(b.payload.reveals[1].clone()),
        ),
        (
            Message::Proposal(a.payload.proposal.clone()),
            Message::Proposal(worst_tally(&keys, k + 1, 1, 1).payload.proposal),
        ),
        (
            worst_new_view(&keys, a.clone()),
            worst_new_view(&keys, b.clone()),
        ),
    ];
    for (first, second) in &pairs {
        let proof = Misbehaviour::conflicting(first, second).expect("a conflict");
        assert!(proof.verify().is_ok());
        let len = proof.encode().len();
        assert!(len <= 2 * (k + 1) * 40 + 1024, "a {len}-byte proof");
    }
    // A reveal that does not open its signer's commitment (the commitments above are
    // junk): the proof carries the commit and the reveal's seal.
    let proof = Misbehaviour::BadReveal {
        commit: Box::new(a.payload.commits[2].clone()),
        reveal: Box::new(a.payload.reveals[2].sealed()),
    };
    assert_eq!(proof.verify(), Ok(keys[2].id()));
    assert!(proof.encode().len() <= k * 40 + 1024);
    // The seal's signature still binds every outcome byte: a reveal altered after
    // signing does not verify.
    let mut altered = a.payload.reveals[3].clone();
    altered.payload.outcomes[0] = Outcome::Accepted(vec![9; 16 * 1024]);
    assert!(altered.verify().is_err());
    assert!(a.payload.reveals[3].verify().is_ok());
}
