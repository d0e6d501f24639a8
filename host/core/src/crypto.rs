//! Ed25519 keys and domain-separated signatures, SHA-256, and canonical encoding.
//!
//! # Design
//! Every signature covers `len(domain) as u64 LE || domain || message`, so a signature made
//! for one purpose (a commit vote, a genesis, a reveal) can never be replayed as another.
//! Verification uses `verify_strict` (rejects small-order keys and non-canonical
//! signatures), so signature malleability cannot produce two valid encodings of one vote.
//!
//! # Determinism
//! The core draws no randomness: [`Keypair::generate`] takes the caller's RNG, and
//! [`Keypair::from_seed`] builds a key from 32 seed bytes for tests and simulations.
//! The canonical encoding of any value is its postcard encoding ([`canonical_bytes`]).

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::types::{Digest, NodeId, de_array, ser_array};

/// Why a signature or key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The node id is not a valid ed25519 public key.
    #[error("node id {0} is not a valid ed25519 public key")]
    InvalidKey(NodeId),
    /// The signature does not verify under the given key, domain and message.
    #[error("bad signature by {0}")]
    BadSignature(NodeId),
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    Digest(Sha256::digest(bytes).into())
}

/// SHA-256 over several byte strings, each prefixed with its length (u64 LE), so that
/// different splits of the same bytes never collide.
pub fn sha256_parts(parts: &[&[u8]]) -> Digest {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    Digest(h.finalize().into())
}

/// The canonical encoding of `value`: its postcard encoding.
///
/// Postcard writes into a growable buffer and fails only for serde constructs it cannot
/// describe (sequences of unknown length); every type in this crate derives `Serialize`
/// over sized collections, so the call cannot fail for them. Implementors of [`Canonical`]
/// outside this crate must keep that property.
pub fn canonical_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    match postcard::to_stdvec(value) {
        Ok(bytes) => bytes,
        // Unreachable for derive(Serialize) types with sized collections (see above).
        Err(e) => panic!("canonical encoding failed: {e}"),
    }
}

/// Values with a canonical encoding and a digest of it.
pub trait Canonical: Serialize {
    /// The canonical (postcard) encoding.
    fn canonical_bytes(&self) -> Vec<u8> {
        canonical_bytes(self)
    }

    /// SHA-256 of the canonical encoding.
    fn digest(&self) -> Digest {
        sha256(&self.canonical_bytes())
    }
}

/// The bytes an ed25519 signature covers for `domain` and `msg`.
fn signing_input(domain: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + domain.len() + msg.len());
    out.extend_from_slice(&(domain.len() as u64).to_le_bytes());
    out.extend_from_slice(domain);
    out.extend_from_slice(msg);
    out
}

/// A 64-byte ed25519 signature (hex in human-readable formats, raw bytes otherwise).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0[..6]))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ser_array(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        de_array(deserializer).map(Signature)
    }
}

/// A node's ed25519 signing key.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
    id: NodeId,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.id)
    }
}

impl Keypair {
    /// The key whose 32-byte secret is `seed` (deterministic; for tests, simulations and
    /// loading a stored key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let id = NodeId(signing.verifying_key().to_bytes());
        Keypair { signing, id }
    }

    /// A fresh key drawn from the caller's cryptographic RNG.
    pub fn generate<R: rand_core::CryptoRngCore + ?Sized>(rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self::from_seed(seed)
    }

    /// The 32-byte secret (to store the key).
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The node id (public key).
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Sign `msg` under `domain`.
    pub fn sign(&self, domain: &[u8], msg: &[u8]) -> Signature {
        Signature(self.signing.sign(&signing_input(domain, msg)).to_bytes())
    }
}

/// Check that `sig` is `id`'s signature of `msg` under `domain` (strict verification).
pub fn verify(id: &NodeId, domain: &[u8], msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
    let key = VerifyingKey::from_bytes(&id.0).map_err(|_| CryptoError::InvalidKey(*id))?;
    let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
    key.verify_strict(&signing_input(domain, msg), &sig)
        .map_err(|_| CryptoError::BadSignature(*id))
}

/// A payload type that can be wrapped in [`Signed`]: it names its signature domain.
pub trait Signable: Serialize {
    /// The domain tag its signatures are made under (unique per type).
    const DOMAIN: &'static [u8];

    /// The bytes a signature covers: the canonical encoding, unless a type leaves out a
    /// part that authenticates itself (a view change's prepared tally, whose digest the
    /// signed part names).
    fn signing_bytes(&self) -> Vec<u8> {
        canonical_bytes(self)
    }
}

/// A payload, its signer and the signer's signature over the payload's signing bytes
/// ([`Signable::signing_bytes`]) under `T::DOMAIN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// The signed value.
    pub payload: T,
    /// Who signed it.
    pub signer: NodeId,
    /// The signature.
    pub signature: Signature,
}

impl<T: Signable> Signed<T> {
    /// Sign `payload` with `key`.
    pub fn new(payload: T, key: &Keypair) -> Self {
        let signature = key.sign(T::DOMAIN, &payload.signing_bytes());
        Signed {
            payload,
            signer: key.id(),
            signature,
        }
    }

    /// Check the signature.
    pub fn verify(&self) -> Result<(), CryptoError> {
        verify(
            &self.signer,
            T::DOMAIN,
            &self.payload.signing_bytes(),
            &self.signature,
        )
    }

    /// Digest of the whole signed envelope (payload, signer and signature).
    pub fn envelope_digest(&self) -> Digest
    where
        T: Serialize,
    {
        sha256(&canonical_bytes(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Vote {
        slot: u64,
    }
    impl Signable for Vote {
        const DOMAIN: &'static [u8] = b"spore/test/vote";
    }

    #[test]
    fn sign_and_verify_with_domain_separation() {
        let k = Keypair::from_seed([1; 32]);
        let sig = k.sign(b"a", b"msg");
        assert_eq!(verify(&k.id(), b"a", b"msg", &sig), Ok(()));
        assert_eq!(
            verify(&k.id(), b"b", b"msg", &sig),
            Err(CryptoError::BadSignature(k.id()))
        );
        assert_eq!(
            verify(&k.id(), b"a", b"msh", &sig),
            Err(CryptoError::BadSignature(k.id()))
        );
        // Moving a byte between domain and message must not keep the signature valid.
        assert!(verify(&k.id(), b"am", b"sg", &sig).is_err());
        let other = Keypair::from_seed([2; 32]);
        assert!(verify(&other.id(), b"a", b"msg", &sig).is_err());
    }

    #[test]
    fn from_seed_is_deterministic_and_seed_round_trips() {
        let a = Keypair::from_seed([9; 32]);
        let b = Keypair::from_seed(a.seed());
        assert_eq!(a.id(), b.id());
        assert_eq!(a.sign(b"d", b"m"), b.sign(b"d", b"m"));
    }

    #[test]
    fn generate_uses_the_callers_rng() {
        let a = Keypair::generate(&mut rand_core::OsRng);
        let b = Keypair::generate(&mut rand_core::OsRng);
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn invalid_key_is_rejected_not_panicking() {
        // y = 2 is not on the curve: decompression fails.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        let id = NodeId(bad);
        let sig = Signature([0; 64]);
        assert_eq!(
            verify(&id, b"d", b"m", &sig),
            Err(CryptoError::InvalidKey(id))
        );
    }

    #[test]
    fn signed_envelope_detects_tampering() -> Result<(), Box<dyn std::error::Error>> {
        let k = Keypair::from_seed([3; 32]);
        let s = Signed::new(Vote { slot: 5 }, &k);
        s.verify()?;
        let mut t = s.clone();
        t.payload.slot = 6;
        assert!(t.verify().is_err());
        let mut u = s.clone();
        u.signer = Keypair::from_seed([4; 32]).id();
        assert!(u.verify().is_err());
        let bytes = postcard::to_stdvec(&s)?;
        let back: Signed<Vote> = postcard::from_bytes(&bytes)?;
        back.verify()?;
        let json = serde_json::to_string(&s)?;
        let back: Signed<Vote> = serde_json::from_str(&json)?;
        assert_eq!(back, s);
        Ok(())
    }

    #[test]
    fn sha256_known_vector_and_parts_are_unambiguous() {
        assert_eq!(
            sha256(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(sha256_parts(&[b"ab", b"c"]), sha256_parts(&[b"a", b"bc"]));
    }
}
