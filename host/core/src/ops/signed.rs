//! Signed operations: what a client submits and what a batch carries.
//!
//! # Design
//! A [`SignedOperation`] is an [`Operation`], the submitter's public key, the chain it is
//! meant for (the genesis digest, so a signature made for one cluster is worthless on
//! another), the last slot at which it may be decided, and an ed25519 signature over all
//! of them under [`OPERATION_DOMAIN`]. Its identity ([`SignedOperation::id`]) is the digest
//! of the signed fields without the signature, so a submitter who signs the same
//! operation twice (ed25519 admits many signatures of one message) gets one operation,
//! not two.
//!
//! # Replay
//! An operation can be decided only at a slot `<= expires`, and no further ahead than
//! [`MAX_EXPIRY_WINDOW`] slots from the slot that checks it. Decided ids need to be
//! remembered only until their expiry passes: after that the expiry alone refuses them.

use serde::{Deserialize, Serialize};

use super::Operation;
use crate::crypto::{
    Claim, CryptoError, Keypair, Signature, canonical_bytes, sha256_parts, verify,
};
use crate::types::{Digest, NodeId, Slot};

/// Signature domain of a submitted operation.
pub const OPERATION_DOMAIN: &[u8] = b"spore/operation/v1";

/// Most slots an operation's expiry may lie beyond the slot that checks it.
pub const MAX_EXPIRY_WINDOW: Slot = 10_000;

/// An operation signed by its submitter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedOperation {
    /// The operation.
    pub op: Operation,
    /// The submitter's public key (a client key or a member's node key).
    pub submitter: NodeId,
    /// The genesis digest of the cluster it is meant for.
    pub chain: Digest,
    /// The last slot at which it may be decided.
    pub expires: Slot,
    /// The submitter's signature over the fields above.
    pub signature: Signature,
}

/// Everything the submitter signs.
#[derive(Serialize)]
struct SigningView<'a> {
    op: &'a Operation,
    submitter: &'a NodeId,
    chain: &'a Digest,
    expires: Slot,
}

impl SignedOperation {
    /// Sign `op` for the chain `chain`, to be decided no later than `expires`.
    pub fn sign(op: Operation, chain: Digest, expires: Slot, key: &Keypair) -> Self {
        let submitter = key.id();
        let bytes = signing_bytes(&op, &submitter, &chain, expires);
        let signature = key.sign(OPERATION_DOMAIN, &bytes);
        SignedOperation {
            op,
            submitter,
            chain,
            expires,
            signature,
        }
    }

    /// The operation's identity: digest of the signed fields (not of the signature).
    pub fn id(&self) -> Digest {
        sha256_parts(&[
            OPERATION_DOMAIN,
            &signing_bytes(&self.op, &self.submitter, &self.chain, self.expires),
        ])
    }

    /// The submitter's signature as a [`Claim`], for [`crate::crypto::verify_batch`].
    pub fn claim(&self) -> Claim {
        Claim {
            signer: self.submitter,
            domain: OPERATION_DOMAIN,
            msg: signing_bytes(&self.op, &self.submitter, &self.chain, self.expires),
            signature: self.signature,
        }
    }

    /// Check the submitter's signature.
    pub fn verify_signature(&self) -> Result<(), CryptoError> {
        let bytes = signing_bytes(&self.op, &self.submitter, &self.chain, self.expires);
        verify(&self.submitter, OPERATION_DOMAIN, &bytes, &self.signature)
    }

    /// Size of the canonical encoding (what a batch spends on it).
    pub fn encoded_len(&self) -> usize {
        crate::crypto::encoded_len(self)
    }

    /// The mechanism that decides it.
    pub fn mechanism(&self) -> super::Mechanism {
        self.op.mechanism()
    }
}

fn signing_bytes(op: &Operation, submitter: &NodeId, chain: &Digest, expires: Slot) -> Vec<u8> {
    canonical_bytes(&SigningView {
        op,
        submitter,
        chain,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::ComputeTask;

    fn op() -> Operation {
        Operation::Compute(ComputeTask {
            kind: "median-price".into(),
            input: vec![1, 2, 3],
        })
    }

    #[test]
    fn signature_covers_every_field() {
        let k = Keypair::from_seed([5; 32]);
        let s = SignedOperation::sign(op(), Digest([1; 32]), 40, &k);
        assert_eq!(s.verify_signature(), Ok(()));
        let mut t = s.clone();
        t.expires = 41;
        assert!(t.verify_signature().is_err());
        let mut t = s.clone();
        t.chain = Digest([2; 32]);
        assert!(t.verify_signature().is_err());
        let mut t = s.clone();
        t.submitter = Keypair::from_seed([6; 32]).id();
        assert!(t.verify_signature().is_err());
        let mut t = s.clone();
        t.op = Operation::Compute(ComputeTask {
            kind: "median-price".into(),
            input: vec![9],
        });
        assert!(t.verify_signature().is_err());
        assert_ne!(t.id(), s.id());
    }

    #[test]
    fn id_ignores_the_signature_bytes() {
        let k = Keypair::from_seed([5; 32]);
        let s = SignedOperation::sign(op(), Digest([1; 32]), 40, &k);
        let mut t = s.clone();
        t.signature = Signature([0; 64]);
        assert_eq!(s.id(), t.id());
        assert!(t.verify_signature().is_err());
    }
}
