//! Recovery from a compromised majority: a checkpoint signed by a quorum of the members
//! outside the culprits, from which the honest members resume without them
//! (docs/PROTOCOL.md, "Recovery").
//!
//! # Design
//! After a fork (two certified entries for one slot, [`super::ForkProof`]) every honest
//! node that saw it has halted. The histories agree up to the slot before the fork. The
//! members that did not confirm both values sign a [`Checkpoint`]: the chain, that last
//! agreed slot, the state digest after it, the culprits (the proof's, or more by the
//! operators' declaration), and the view the forked slot restarts in (above every view an
//! honest signer used in the abandoned slots, so that no vote it signs afterwards
//! conflicts with one it signed before). A [`RecoveryCert`] carries the checkpoint and the
//! signatures; a node accepts it only with the same chain, slot and state digest as its
//! own history, with every signer an eligible non-culprit, and with the signers a quorum
//! of the membership that remains once the culprits are excluded. It then excludes the
//! culprits (as for proven misbehaviour: trust zero, no automatic readmission), forgets
//! the halt, and resumes at the next slot in the checkpoint's view. The node's driver
//! first removes the abandoned entries from its store and keeps the certificate, so a
//! restart replays the same recovery at the same point.
//!
//! # What this does not recover
//! Only the members that remain can sign: the remaining membership must still hold a
//! quorum of honest, reachable members. The checkpoint is no better than its signers: a
//! quorum of the remaining members that is itself dishonest can sign anything, which is a
//! compromise of more than the protocol tolerates, twice.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::round::Round;
use super::{Mode, Node, ReplicaState};
use crate::crypto::{Keypair, Signable, Signature, canonical_bytes, verify};
use crate::state::{ReplicatedState, StateChange};
use crate::types::{Digest, NodeId, Slot, View};

/// Most culprits a checkpoint may name.
pub const MAX_CULPRITS: usize = 256;

/// What the remaining members agree to resume from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The cluster's genesis digest.
    pub chain: Digest,
    /// The first slot the cluster decides again (the forked slot): both sides of the fork
    /// agree on every slot before it.
    pub resume_slot: Slot,
    /// The state digest before `resume_slot` (before the culprits are excluded).
    pub state: Digest,
    /// The members to exclude, ascending.
    pub culprits: Vec<NodeId>,
    /// The view `resume_slot` restarts in.
    pub resume_view: View,
}

impl Signable for Checkpoint {
    const DOMAIN: &'static [u8] = b"spore/recovery/checkpoint/v1";
}

/// One member's signature of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSignature {
    /// The signing member.
    pub signer: NodeId,
    /// Its signature over the checkpoint.
    pub signature: Signature,
}

impl CheckpointSignature {
    /// Sign `checkpoint` with `key`.
    pub fn sign(checkpoint: &Checkpoint, key: &Keypair) -> Self {
        CheckpointSignature {
            signer: key.id(),
            signature: key.sign(Checkpoint::DOMAIN, &canonical_bytes(checkpoint)),
        }
    }
}

/// A checkpoint with the signatures that make it binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCert {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Signatures of remaining members.
    pub signatures: Vec<CheckpointSignature>,
}

/// Why a recovery certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// The checkpoint is for another cluster.
    #[error("the checkpoint is for chain {0}, this node's is {1}")]
    Chain(Digest, Digest),
    /// This history is not at the checkpoint's slot.
    #[error("the checkpoint resumes at slot {resume}, this history is at slot {at}")]
    Slot {
        /// The checkpoint's resume slot.
        resume: Slot,
        /// The state's next slot.
        at: Slot,
    },
    /// This history's state before the slot differs.
    #[error("the state before slot {slot} is {ours} here, the checkpoint says {theirs}")]
    State {
        /// The checkpoint's resume slot.
        slot: Slot,
        /// This node's digest.
        ours: Digest,
        /// The checkpoint's.
        theirs: Digest,
    },
    /// The culprit list is empty, unsorted, too long, or names a non-member.
    #[error("bad culprit list: {0}")]
    Culprits(&'static str),
    /// A signer is a culprit, not an eligible member, or signs twice.
    #[error("signer {0} may not sign the checkpoint (a culprit, not eligible, or twice)")]
    Signer(NodeId),
    /// A signature does not verify.
    #[error("a checkpoint signature does not verify: {0}")]
    Signature(#[from] crate::crypto::CryptoError),
    /// The signers are not a quorum of the remaining membership.
    #[error("{0} signatures are not a quorum of the members that remain")]
    NoQuorum(usize),
    /// Fewer signers than `f + 1` of the members eligible before the exclusion.
    #[error(
        "{signers} signatures, fewer than the {needed} needed (f + 1 of the members eligible before the exclusion)"
    )]
    TooFew {
        /// Distinct signers.
        signers: usize,
        /// `f + 1` of the eligible members before.
        needed: usize,
    },
    /// Excluding the culprits would leave no eligible member.
    #[error("excluding the culprits leaves no eligible member")]
    Empty,
}

impl RecoveryCert {
    /// Check the certificate against `state`, this node's replicated state before
    /// `checkpoint.resume_slot`; returns the state the cluster resumes from (the culprits
    /// excluded) and what the exclusion changed.
    pub fn verify(
        &self,
        state: &ReplicatedState,
    ) -> Result<(ReplicatedState, Vec<StateChange>), RecoveryError> {
        let cp = &self.checkpoint;
        if cp.chain != state.genesis_digest() {
            return Err(RecoveryError::Chain(cp.chain, state.genesis_digest()));
        }
        if cp.resume_slot != state.next_slot() {
            return Err(RecoveryError::Slot {
                resume: cp.resume_slot,
                at: state.next_slot(),
            });
        }
        let ours = state.state_digest();
        if ours != cp.state {
            return Err(RecoveryError::State {
                slot: cp.resume_slot,
                ours,
                theirs: cp.state,
            });
        }
        if cp.culprits.is_empty() || cp.culprits.len() > MAX_CULPRITS {
            return Err(RecoveryError::Culprits("between 1 and 256 culprits"));
        }
        if !cp.culprits.windows(2).all(|w| w[0] < w[1]) {
            return Err(RecoveryError::Culprits("ascending, without repeats"));
        }
        if cp.culprits.iter().any(|c| !state.is_member(c)) {
            return Err(RecoveryError::Culprits("a culprit is not a member"));
        }
        let culprits: BTreeSet<NodeId> = cp.culprits.iter().copied().collect();
        let bytes = canonical_bytes(cp);
        let mut signers = BTreeSet::new();
        for s in &self.signatures {
            if culprits.contains(&s.signer)
                || !state.is_eligible(&s.signer)
                || !signers.insert(s.signer)
            {
                return Err(RecoveryError::Signer(s.signer));
            }
            verify(&s.signer, Checkpoint::DOMAIN, &bytes, &s.signature)?;
        }
        // More than `f` of the members eligible before the exclusion: judged only on what
        // remains, a lone member naming every other one a culprit was a quorum of itself.
        // Within the threat model (at most `f` faulty) an honest member is among them;
        // beyond it, the case a fork is, the culprits can sign any checkpoint anyway
        // (docs/PROTOCOL.md, "Recovery from a compromised majority").
        let before = crate::quorum::max_faults(state.eligible().len()) + 1;
        if signers.len() < before {
            return Err(RecoveryError::TooFew {
                signers: signers.len(),
                needed: before,
            });
        }
        let mut after = state.clone();
        let changes = after.exclude_culprits(&cp.culprits);
        if after.eligible().is_empty() {
            return Err(RecoveryError::Empty);
        }
        if !after.is_quorum(&signers) {
            return Err(RecoveryError::NoQuorum(signers.len()));
        }
        Ok((after, changes))
    }
}

impl Node<ReplicatedState> {
    /// Resume from a recovery certificate (see the module documentation): the node's
    /// history must stand right before the checkpoint's resume slot. On success the culprits are
    /// excluded, the fork halt is lifted and the next slot restarts in the checkpoint's
    /// view; the changes are reported like an applied entry's.
    pub fn recover(&mut self, cert: &RecoveryCert) -> Result<Vec<StateChange>, RecoveryError> {
        let (after, changes) = cert.verify(&self.state)?;
        let cp = &cert.checkpoint;
        self.state = after;
        self.changes.push_back((cp.resume_slot, changes.clone()));
        while self.changes.len() > self.config.log_retention {
            self.changes.pop_front();
        }
        self.fork = None;
        self.fork_probes.clear();
        // Proofs against the culprits, now excluded for misbehaviour, change nothing.
        self.drop_pointless_evidence(0);
        self.prepared = None;
        self.view_changes.clear();
        self.prepared_tallies.clear();
        self.new_view_msg = None;
        self.mode = Mode::Normal;
        let next = self.state.next_slot();
        self.view = cp.resume_view;
        self.slot_view = cp.resume_view;
        self.round = Round::new(next, cp.resume_view);
        self.resumed_at = Some((next, cp.resume_view));
        self.deadline = Some(self.now.saturating_add(self.timeout()));
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Config;
    use crate::genesis::tests::signed;

    fn setup() -> (ReplicatedState, Vec<Keypair>) {
        let (g, keys) = signed(4);
        (ReplicatedState::from_genesis_unverified(&g), keys)
    }

    fn checkpoint(state: &ReplicatedState, culprits: &[&Keypair]) -> Checkpoint {
        let mut culprits: Vec<NodeId> = culprits.iter().map(|k| k.id()).collect();
        culprits.sort();
        Checkpoint {
            chain: state.genesis_digest(),
            resume_slot: state.next_slot(),
            state: state.state_digest(),
            culprits,
            resume_view: 7,
        }
    }

    fn cert(cp: &Checkpoint, signers: &[&Keypair]) -> RecoveryCert {
        RecoveryCert {
            checkpoint: cp.clone(),
            signatures: signers
                .iter()
                .map(|k| CheckpointSignature::sign(cp, k))
                .collect(),
        }
    }

    #[test]
    fn a_quorum_of_the_remaining_members_resumes_without_the_culprits() {
        let (mut state, k) = setup();
        // The history stands after slot 0.
        assert!(state.apply_slot(0, &[], None).is_ok());
        let cp = checkpoint(&state, &[&k[2], &k[3]]);
        let good = cert(&cp, &[&k[0], &k[1]]);
        let (after, changes) = good.verify(&state).expect("a valid certificate");
        assert_eq!(changes.len(), 2);
        assert!(!after.is_eligible(&k[2].id()) && !after.is_eligible(&k[3].id()));
        // Refused: too few signers, a culprit signing, a forged signature, another state,
        // another slot, another chain, no culprit.
        let refusals = [
            cert(&cp, &[&k[0]]),
            cert(&cp, &[&k[0], &k[2]]),
            {
                let mut c = good.clone();
                c.signatures[1].signature.0[0] ^= 1;
                c
            },
            cert(
                &Checkpoint {
                    state: Digest([1; 32]),
                    ..cp.clone()
                },
                &[&k[0], &k[1]],
            ),
            cert(
                &Checkpoint {
                    resume_slot: cp.resume_slot + 1,
                    ..cp.clone()
                },
                &[&k[0], &k[1]],
            ),
            cert(
                &Checkpoint {
                    chain: Digest([2; 32]),
                    ..cp.clone()
                },
                &[&k[0], &k[1]],
            ),
            cert(
                &Checkpoint {
                    culprits: vec![],
                    ..cp.clone()
                },
                &[&k[0], &k[1]],
            ),
        ];
        for (i, bad) in refusals.iter().enumerate() {
            assert!(bad.verify(&state).is_err(), "refusal {i} was accepted");
        }
        // A node resumes: culprits excluded, next slot in the checkpoint's view.
        let mut behind = Node::new(Config::default(), k[1].clone(), setup().0);
        assert!(matches!(
            behind.recover(&good),
            Err(RecoveryError::Slot { .. })
        ));
        let mut node = Node::new(Config::default(), k[0].clone(), state);
        assert!(node.recover(&good).is_ok());
        assert_eq!(node.view(), 7);
        assert_eq!(node.slot(), 1);
        assert!(!node.state().is_eligible(&k[3].id()));
        assert!(node.fork().is_none());
    }

    /// Attacker: one member (f = 1 of four) signs a checkpoint naming the three others
    /// culprits. What remains is itself, and one signature was a quorum of that; an
    /// operator applying the certificate rewrote its node's membership. A certificate
    /// needs more than `f` signers of the membership before the exclusion.
    #[test]
    fn a_single_member_cannot_exclude_the_rest() {
        let (state, k) = setup();
        let cp = checkpoint(&state, &[&k[1], &k[2], &k[3]]);
        assert_eq!(
            cert(&cp, &[&k[0]]).verify(&state).err(),
            Some(RecoveryError::TooFew {
                signers: 1,
                needed: 2
            })
        );
    }
}
