//! QUIC connection ids that a restarted node still treats as its own, so it can reset them.
//!
//! # Design
//! quinn's default generator validates incoming connection ids with a random per-process
//! key, so a restarted node silently drops packets addressed to its previous incarnation's
//! connections, and peers notice only after the idle timeout. This generator issues random
//! 8-byte ids and accepts any id (as quinn's `RandomConnectionIdGenerator` does): the new
//! process answers such packets with a stateless reset whose token, keyed by the node key
//! ([`NodeIdentity`](super::NodeIdentity)), the peer accepts, and it redials at once.

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// Length of the connection ids this node issues.
const CID_LEN: usize = 8;

/// Random connection ids, accepted regardless of which incarnation issued them.
pub(crate) struct NodeCids {
    rng: SystemRandom,
    seed: [u8; 32],
    fallback: u64,
}

impl NodeCids {
    /// A generator; `seed` (secret, per node) only serves if the OS has no randomness.
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Self {
            rng: SystemRandom::new(),
            seed,
            fallback: 0,
        }
    }
}

impl quinn::ConnectionIdGenerator for NodeCids {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        let mut bytes = [0u8; CID_LEN];
        if self.rng.fill(&mut bytes).is_err() {
            // No OS randomness: ids stay unpredictable (keyed by a secret) and distinct
            // within this process.
            self.fallback += 1;
            let digest = Sha256::new()
                .chain_update(self.seed)
                .chain_update(self.fallback.to_be_bytes())
                .finalize();
            bytes.copy_from_slice(&digest[..CID_LEN]);
        }
        quinn::ConnectionId::new(&bytes)
    }

    fn cid_len(&self) -> usize {
        CID_LEN
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}
