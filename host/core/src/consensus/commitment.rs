//! The sealed commitment of the commit-reveal round, and its deterministic salt.
//!
//! # Design
//! `c = H("spore/consensus/commitment/v2" || slot || view || d || H(outcome_1) || ... ||
//! salt || node id)` with every part length-prefixed (`sha256_parts`), so it binds the
//! slot, the view, the batch, the results, the salt and the committing node: a
//! commitment cannot be copied by another node (its id differs), nor opened with
//! different results.
//!
//! `salt = H("spore/consensus/salt/v2" || secret key || slot || view)`: a PRF of the
//! node's key, unpredictable to others (so `c` hides the results) and re-derived after a
//! restart without being stored. It binds the view: a reveal in view `v` discloses the
//! salt of `v` only, so a commitment in view `v + 1` (a fresh salt) still hides.

use super::message::{Commit, Reveal, RevealSeal};
use crate::crypto::{Canonical, Keypair, sha256_parts};
use crate::ops::Outcome;
use crate::types::{Digest, NodeId, Slot, View};

/// The salt a node uses for its commitment at `slot`.
pub fn salt(key: &Keypair, slot: Slot, view: View) -> Digest {
    sha256_parts(&[
        b"spore/consensus/salt/v2",
        &key.seed(),
        &slot.to_le_bytes(),
        &view.to_le_bytes(),
    ])
}

/// The commitment to `outcomes` for batch `batch` at `slot` in `view` by `node`.
pub fn commitment(
    slot: Slot,
    view: View,
    batch: &Digest,
    outcomes: &[Outcome],
    salt: &Digest,
    node: &NodeId,
) -> Digest {
    let digests: Vec<Digest> = outcomes.iter().map(Canonical::digest).collect();
    commitment_of_digests(slot, view, batch, &digests, salt, node)
}

/// The commitment to the outcomes with `digests` (see [`commitment`]).
pub fn commitment_of_digests(
    slot: Slot,
    view: View,
    batch: &Digest,
    digests: &[Digest],
    salt: &Digest,
    node: &NodeId,
) -> Digest {
    let slot_bytes = slot.to_le_bytes();
    let view_bytes = view.to_le_bytes();
    let count = (digests.len() as u64).to_le_bytes();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(digests.len() + 6);
    parts.push(b"spore/consensus/commitment/v2");
    parts.push(&slot_bytes);
    parts.push(&view_bytes);
    parts.push(batch.as_ref());
    parts.push(&count);
    parts.extend(digests.iter().map(|d| d.as_ref()));
    parts.push(salt.as_ref());
    parts.push(node.as_ref());
    sha256_parts(&parts)
}

/// Whether the reveal sealed in `seal` (by `signer`) opens `commit`.
pub fn seal_opens(commit: &Commit, seal: &RevealSeal, signer: &NodeId) -> bool {
    commit.slot == seal.slot
        && commit.view == seal.view
        && commit.batch == seal.batch
        && commitment_of_digests(
            seal.slot,
            seal.view,
            &seal.batch,
            &seal.outcomes,
            &seal.salt,
            signer,
        ) == commit.commitment
}

/// Whether `reveal` (by `signer`) opens `commit` (through its seal: the commitment binds
/// the outcomes' digests).
pub fn opens(commit: &Commit, reveal: &Reveal, signer: &NodeId) -> bool {
    seal_opens(commit, &reveal.seal(), signer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::FailureKind;

    #[test]
    fn commitment_binds_every_part() {
        let k = Keypair::from_seed([1; 32]);
        let other = Keypair::from_seed([2; 32]);
        let d = Digest([3; 32]);
        let s = salt(&k, 7, 0);
        let outs = vec![
            Outcome::Accepted(vec![1]),
            Outcome::Failed(FailureKind::Trap),
        ];
        let c = commitment(7, 0, &d, &outs, &s, &k.id());
        assert_eq!(
            c,
            commitment(7, 0, &d, &outs, &salt(&k, 7, 0), &k.id()),
            "salt is re-derivable"
        );
        assert_ne!(c, commitment(8, 0, &d, &outs, &s, &k.id()));
        assert_ne!(
            c,
            commitment(7, 1, &d, &outs, &s, &k.id()),
            "binds the view"
        );
        assert_ne!(c, commitment(7, 0, &Digest([4; 32]), &outs, &s, &k.id()));
        assert_ne!(c, commitment(7, 0, &d, &outs[..1], &s, &k.id()));
        assert_ne!(c, commitment(7, 0, &d, &outs, &salt(&k, 8, 0), &k.id()));
        assert_ne!(
            c,
            commitment(7, 0, &d, &outs, &s, &other.id()),
            "copying a commitment fails"
        );
        assert_ne!(salt(&k, 7, 0), salt(&other, 7, 0));
        assert_ne!(salt(&k, 7, 0), salt(&k, 7, 1), "a fresh salt per view");
    }

    #[test]
    fn opens_only_the_matching_reveal() {
        let k = Keypair::from_seed([1; 32]);
        let d = Digest([3; 32]);
        let s = salt(&k, 1, 0);
        let outs = vec![Outcome::Accepted(vec![9])];
        let commit = Commit {
            slot: 1,
            view: 0,
            batch: d,
            commitment: commitment(1, 0, &d, &outs, &s, &k.id()),
        };
        let good = Reveal {
            slot: 1,
            view: 0,
            batch: d,
            outcomes: outs,
            salt: s,
        };
        assert!(opens(&commit, &good, &k.id()));
        let mut bad = good.clone();
        bad.outcomes = vec![Outcome::Accepted(vec![8])];
        assert!(!opens(&commit, &bad, &k.id()));
        assert!(!opens(&commit, &good, &Keypair::from_seed([5; 32]).id()));
        let mut later = good.clone();
        later.view = 1;
        assert!(!opens(&commit, &later, &k.id()), "a reveal of another view");
    }
}
