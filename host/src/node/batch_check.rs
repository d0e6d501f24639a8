//! Signatures checked in batches before the machine sees them.
//!
//! # Design
//! The event loop takes every frame and client call that has already arrived (at most
//! [`MAX_DRAIN`] at a time), collects the signatures the machine would check in them
//! ([`Node::claims_to_check`], [`SignedOperation::claim`]) and checks them with [`verify_batch`], which remembers the
//! ones that pass in the core's cache of verified signatures. The machine then handles
//! the inputs one by one as before, and its own checks are answered from that cache.
//!
//! The machine's answers do not change: batch and single checks accept exactly the same
//! signatures (the rule in `spore_core::crypto`), a failed batch remembers nothing, and
//! the inputs keep their order. Under light load there is one input at a time and nothing
//! to batch; under load the backlog the loop has not read yet is the batch, so no input
//! waits for one to fill.
//!
//! Only signatures the machine would check are checked ahead: current-slot votes of
//! eligible members, what the primary of a view sends and the distinct members' votes
//! it carries, the own signature of an eligible member's next-slot vote
//! ([`Node::claims_to_check`]), and operations whose submitter holds the
//! permission they need (the machine refuses the others before any curve arithmetic,
//! and so does this). A member stuffing a frame with votes it did not get, or sending
//! a tally it has no role to send, costs no curve arithmetic ahead.
//!
//! The batch coefficients come from a ChaCha20 generator seeded once from the OS: a
//! sender cannot predict them, which is what makes a batch with a bad signature fail.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use spore_core::consensus::gossip::MAX_BUNDLE_OPS;
use spore_core::consensus::{Message, Node};
use spore_core::crypto::{Claim, verify_batch};
use spore_core::ops::SignedOperation;
use spore_core::state::{Permission, ReplicatedState};

use crate::node::client::ClientCall;
use crate::node::proto::Request;
use crate::node::wire::Wire;
use spore_core::types::NodeId;

/// Most inputs taken from a channel at once (a bundle of forwarded operations counts
/// each of its operations, [`drain_weight`]).
pub const MAX_DRAIN: usize = 256;

/// What a frame counts against [`MAX_DRAIN`]: the operations of a bundle, else one. A
/// drain's signature checks, which run without a break in the loop, stay bounded by the
/// count of inputs whatever the frames carry.
pub fn drain_weight(wire: &Wire) -> usize {
    match wire {
        Wire::Consensus(Message::Submit(ops)) => ops.len().clamp(1, MAX_BUNDLE_OPS),
        _ => 1,
    }
}

/// Most frame bytes (as the transport charges them) taken at once: frames taken leave
/// their senders' byte budgets, so what the loop holds beyond those budgets is bounded
/// here.
pub const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// The node's batch checker.
pub struct BatchCheck {
    rng: ChaCha20Rng,
}

impl Default for BatchCheck {
    fn default() -> Self {
        Self {
            rng: ChaCha20Rng::from_entropy(),
        }
    }
}

impl BatchCheck {
    /// Check the signatures of peer frames ahead; returns how many passed in batches.
    pub fn frames(&mut self, node: &Node<ReplicatedState>, frames: &[(NodeId, Wire)]) -> usize {
        let bundled = |w: &Wire| matches!(w, Wire::Consensus(Message::Submit(_)));
        if frames.len() < 2 && !frames.iter().any(|(_, w)| bundled(w)) {
            return 0;
        }
        let mut claims = Vec::new();
        for (from, wire) in frames {
            match wire {
                // Only bundles the machine reads.
                Wire::Consensus(Message::Submit(ops))
                    if node.reads_bundle(from, ops.len()).is_ok() =>
                {
                    claims.extend(
                        ops.iter()
                            .filter(|op| may_submit(node.state(), op))
                            .map(SignedOperation::claim),
                    )
                }
                Wire::Consensus(Message::Submit(_)) => {}
                Wire::Consensus(msg) => node.claims_to_check(msg, &mut claims),
                _ => {}
            }
        }
        verify_batch(&claims, &mut self.rng)
    }

    /// Check the signatures of client submissions ahead; returns how many passed.
    pub fn calls(&mut self, state: &ReplicatedState, calls: &[ClientCall]) -> usize {
        let claims: Vec<Claim> = calls
            .iter()
            .filter_map(|c| match &c.request {
                Request::Submit { op, .. } if may_submit(state, op) => Some(op.claim()),
                _ => None,
            })
            .collect();
        verify_batch(&claims, &mut self.rng)
    }
}

/// Whether the submitter holds the permission the operation needs: the check the machine
/// makes before it looks at the signature, so a submission it would refuse unread costs
/// no curve arithmetic here either.
fn may_submit(state: &ReplicatedState, op: &SignedOperation) -> bool {
    state
        .check_permission(&op.submitter, Permission::of(&op.op))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spore_core::consensus::{Commit, Config, Confirm, Proposal, Tally};
    use spore_core::crypto::{Keypair, Signed, sha256};
    use spore_core::genesis::{Genesis, GenesisModules, GenesisNode, Params};
    use spore_core::types::{Digest, Hierarchy};

    fn state(keys: &[Keypair]) -> ReplicatedState {
        let nodes = keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisNode {
                id: k.id(),
                level: Hierarchy::Rhizomorph,
                trust: 8_000,
                name: format!("n{i}"),
                address: format!("127.0.0.1:{}", 7000 + i),
            })
            .collect();
        let modules = GenesisModules {
            validator: Digest([1; 32]),
            admission: Digest([2; 32]),
            resolver: Digest([3; 32]),
        };
        let mut genesis = Genesis::new("bc", nodes, Params::default(), modules);
        let grant = |id: &NodeId, actor: spore_core::state::Actor| spore_core::ops::Param {
            key: spore_core::state::authority_key_param(id),
            value: actor.bit(),
        };
        let governor = Keypair::from_seed([46; 32]).id();
        genesis.authority = genesis
            .authority
            .with_changes(&[
                grant(&client().id(), spore_core::state::Actor::Client),
                grant(&governor, spore_core::state::Actor::Governor),
            ])
            .expect("a client grant");
        ReplicatedState::from_genesis_unverified(&genesis)
    }

    fn client() -> Keypair {
        Keypair::from_seed([45; 32])
    }

    fn confirm(key: &Keypair, slot: u64, tag: &[u8]) -> (NodeId, Wire) {
        let confirm = Confirm {
            slot,
            view: 0,
            value: sha256(tag),
        };
        (
            key.id(),
            Wire::Consensus(Message::Confirm(Signed::new(confirm, key))),
        )
    }

    fn op(key: &Keypair, state: &ReplicatedState, i: usize) -> SignedOperation {
        SignedOperation::sign(
            crate::cli::devnet::load_op(i * 4),
            state.genesis_digest(),
            5,
            key,
        )
    }

    /// A member's forwarded bundle of one operation signed by `key`.
    fn submit(key: &Keypair, state: &ReplicatedState, i: usize) -> (NodeId, Wire) {
        let member = Keypair::from_seed([41; 32]);
        (
            member.id(),
            Wire::Consensus(Message::Submit(vec![op(key, state, i)])),
        )
    }

    /// A tally of the current slot signed by `by`, carrying `commits` (junk digests).
    fn tally(by: &Keypair, slot: u64, commits: &[&Keypair]) -> (NodeId, Wire) {
        let proposal = Proposal {
            slot,
            view: 0,
            batch: vec![],
            parent: Digest::default(),
            evidence: vec![],
            absences: vec![],
        };
        let commits = commits
            .iter()
            .map(|k| {
                let c = Commit {
                    slot,
                    view: 0,
                    batch: Digest([9; 32]),
                    commitment: sha256(k.id().0.as_slice()),
                };
                Signed::new(c, k)
            })
            .collect();
        let t = Tally {
            proposal: Signed::new(proposal, by),
            commits,
            reveals: vec![],
            decisions: vec![],
        };
        (
            by.id(),
            Wire::Consensus(Message::Tally(Box::new(Signed::new(t, by)))),
        )
    }

    /// Only what the machine would check is checked ahead: current-slot votes of members
    /// (not a stranger's, not a later slot's), the own signatures of next-slot votes
    /// (not the votes a next-slot tally carries), no attestation of a slot not decided,
    /// permitted submissions (not refused ones),
    /// and a tally only from the primary, with one vote per member it carries (a member
    /// stuffing a tally it has no role to send with votes costs nothing ahead). Each has
    /// its control: the same kind of input from the right signer is checked.
    #[test]
    fn only_what_the_machine_would_check_is_checked_ahead() {
        let members: Vec<Keypair> = (40..44u8).map(|i| Keypair::from_seed([i; 32])).collect();
        let stranger = Keypair::from_seed([50; 32]);
        let st = state(&members);
        let slot = st.next_slot();
        let node = Node::new(Config::default(), members[0].clone(), st.clone());
        let mut bc = BatchCheck::default();

        let votes: Vec<_> = (0..8)
            .map(|i| confirm(&members[i % 4], slot, &[i as u8]))
            .collect();
        assert_eq!(bc.frames(&node, &votes), 8);
        // The next slot's votes: checked on arrival by the machine, so ahead too, but only
        // their own signatures (a next-slot tally stuffed with votes costs one check).
        let next: Vec<_> = (0..8)
            .map(|i| confirm(&members[i % 4], slot + 1, &[i as u8]))
            .collect();
        assert_eq!(bc.frames(&node, &next), 8);
        let stuffed: Vec<&Keypair> = members.iter().cycle().take(12).collect();
        let next_tally = vec![
            tally(&members[1], slot + 1, &stuffed),
            confirm(&members[1], slot + 1, b"n"),
            confirm(&members[2], slot + 1, b"n"),
            confirm(&members[3], slot + 1, b"n"),
        ];
        assert_eq!(bc.frames(&node, &next_tally), 1 + 3, "envelope, 3 votes");
        let later: Vec<_> = (0..8)
            .map(|i| confirm(&members[i % 4], slot + 2, &[i as u8]))
            .collect();
        assert_eq!(bc.frames(&node, &later), 0);
        // Attestations only of decided slots: of the current and the next slot the machine
        // refuses them unchecked, so nothing is checked ahead.
        let attest = |by: &Keypair, slot: u64| {
            let a = spore_core::consensus::absence::Attest {
                slot,
                value: Digest([7; 32]),
                silent: vec![],
                unrevealed: vec![],
            };
            (
                by.id(),
                Wire::Consensus(Message::Attest(Box::new(Signed::new(a, by)))),
            )
        };
        let undecided: Vec<_> = (0..8)
            .map(|i| attest(&members[i % 4], slot + (i as u64) % 2))
            .collect();
        assert_eq!(bc.frames(&node, &undecided), 0);
        let strangers: Vec<_> = (0..8)
            .map(|i| confirm(&stranger, slot, &[i as u8 + 20]))
            .collect();
        assert_eq!(bc.frames(&node, &strangers), 0);

        let refused: Vec<_> = (0..6).map(|i| submit(&stranger, &st, i)).collect();
        assert!(
            st.check_permission(&stranger.id(), Permission::Compute)
                .is_err()
        );
        assert_eq!(bc.frames(&node, &refused), 0);
        let permitted: Vec<_> = (0..6).map(|i| submit(&client(), &st, i)).collect();
        assert!(
            st.check_permission(&client().id(), Permission::Compute)
                .is_ok()
        );
        assert_eq!(bc.frames(&node, &permitted), 6);
        // One frame with a member's bundle is checked as a batch; the same bundle from a
        // stranger, or a bundle longer than the machine reads, costs nothing ahead.
        let ops: Vec<_> = (10..16).map(|i| op(&client(), &st, i)).collect();
        let bundle = |from: &Keypair, ops: Vec<SignedOperation>| {
            vec![(from.id(), Wire::Consensus(Message::Submit(ops)))]
        };
        assert_eq!(bc.frames(&node, &bundle(&stranger, ops.clone())), 0);
        assert_eq!(bc.frames(&node, &bundle(&members[2], ops)), 6);
        let long: Vec<_> = (100..100 + MAX_BUNDLE_OPS + 1)
            .map(|i| op(&client(), &st, i))
            .collect();
        assert_eq!(bc.frames(&node, &bundle(&members[2], long.clone())), 0);
        assert_eq!(
            bc.frames(&node, &bundle(&members[2], long[..MAX_BUNDLE_OPS].to_vec())),
            MAX_BUNDLE_OPS
        );
        assert_eq!(
            drain_weight(&bundle(&members[2], long)[0].1),
            MAX_BUNDLE_OPS
        );

        let primary = st.primary(0).expect("a primary");
        let by_primary = members
            .iter()
            .find(|k| k.id() == primary)
            .expect("a member");
        let other = members
            .iter()
            .find(|k| k.id() != primary)
            .expect("a member");
        // Every member's commit, each listed three times (`stuffed`).
        let not_primary = vec![tally(other, slot, &stuffed), confirm(other, slot, b"x")];
        assert_eq!(
            bc.frames(&node, &not_primary),
            0,
            "only the lone vote, below a batch"
        );
        let from_primary = vec![
            tally(by_primary, slot, &stuffed),
            confirm(other, slot, b"y"),
        ];
        assert_eq!(
            bc.frames(&node, &from_primary),
            1 + 4 + 1,
            "envelope, 4 distinct, vote"
        );
    }
}
