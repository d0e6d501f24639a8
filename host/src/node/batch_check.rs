//! Signatures checked in batches before the machine sees them.
//!
//! # Design
//! The event loop takes every frame and client call that has already arrived (at most
//! [`MAX_DRAIN`] at a time), collects the signatures they carry ([`Message::claims`],
//! [`SignedOperation::claim`]) and checks them with [`verify_batch`], which remembers the
//! ones that pass in the core's cache of verified signatures. The machine then handles
//! the inputs one by one as before, and its own checks are answered from that cache.
//!
//! The machine's answers do not change: batch and single checks accept exactly the same
//! signatures (the rule in `spore_core::crypto`), a failed batch remembers nothing, and
//! the inputs keep their order. Under light load there is one input at a time and nothing
//! to batch; under load the backlog the loop has not read yet is the batch, so no input
//! waits for one to fill.
//!
//! Only signatures the machine would check are checked ahead: votes of members, and
//! operations whose submitter holds the permission they need (the machine refuses the
//! others before any curve arithmetic, and so does this).
//!
//! The batch coefficients come from a ChaCha20 generator seeded once from the OS: a
//! sender cannot predict them, which is what makes a batch with a bad signature fail.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use spore_core::consensus::{Message, ReplicaState};
use spore_core::crypto::{Claim, verify_batch};
use spore_core::ops::SignedOperation;
use spore_core::state::{Permission, ReplicatedState};

use crate::node::client::ClientCall;
use crate::node::proto::Request;
use crate::node::wire::Wire;
use spore_core::types::NodeId;

/// Most inputs taken from a channel at once.
pub const MAX_DRAIN: usize = 256;

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
    pub fn frames(&mut self, state: &ReplicatedState, frames: &[(NodeId, Wire)]) -> usize {
        if frames.len() < 2 {
            return 0;
        }
        let mut claims = Vec::new();
        for (_, wire) in frames {
            match wire {
                Wire::Consensus(Message::Submit(op)) if may_submit(state, op) => {
                    claims.push(op.claim());
                }
                Wire::Consensus(Message::Submit(_)) => {}
                Wire::Consensus(msg) => {
                    let from = claims.len();
                    msg.claims(&mut claims);
                    // Votes count only from members: checking a stranger's key and
                    // signature ahead would be work the machine never asks for.
                    let mut i = from;
                    while i < claims.len() {
                        if state.is_member(&claims[i].signer) {
                            i += 1;
                        } else {
                            claims.swap_remove(i);
                        }
                    }
                }
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
    use spore_core::consensus::Confirm;
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

    fn vote(key: &Keypair, slot: u64, tag: &[u8]) -> (NodeId, Wire) {
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

    fn submit(key: &Keypair, state: &ReplicatedState, i: usize) -> (NodeId, Wire) {
        let op = SignedOperation::sign(
            crate::cli::devnet::load_op(i * 4),
            state.genesis_digest(),
            5,
            key,
        );
        (key.id(), Wire::Consensus(Message::Submit(Box::new(op))))
    }

    /// Members' votes and permitted submissions are checked ahead; a stranger's votes and
    /// submissions the machine would refuse before looking at the signature are not (the
    /// control: the same frames from a member are).
    #[test]
    fn only_what_the_machine_would_check_is_checked_ahead() {
        let members: Vec<Keypair> = (40..44u8).map(|i| Keypair::from_seed([i; 32])).collect();
        let stranger = Keypair::from_seed([50; 32]);
        let st = state(&members);
        let mut bc = BatchCheck::default();

        let votes: Vec<_> = (0..6)
            .map(|s| vote(&members[s % 4], s as u64, b"v"))
            .collect();
        assert_eq!(bc.frames(&st, &votes), 6);
        let strangers: Vec<_> = (0..6).map(|s| vote(&stranger, s, b"v")).collect();
        assert_eq!(bc.frames(&st, &strangers), 0);

        let refused: Vec<_> = (0..6).map(|i| submit(&stranger, &st, i)).collect();
        assert!(
            st.check_permission(&stranger.id(), Permission::Compute)
                .is_err()
        );
        assert_eq!(bc.frames(&st, &refused), 0);
        let permitted: Vec<_> = (0..6).map(|i| submit(&client(), &st, i)).collect();
        assert!(
            st.check_permission(&client().id(), Permission::Compute)
                .is_ok()
        );
        assert_eq!(bc.frames(&st, &permitted), 6);
    }
}
