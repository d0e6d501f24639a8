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
//!
//! # Checking a signature once
//! A signature is checked where it arrives and again wherever it is carried (an operation
//! in a proposal and in the decided entry, a vote in a tally, a certificate, a view change
//! or an absence proof). Verification is a pure function of (key, domain, message,
//! signature), so [`verify`] remembers the ones that passed: a bounded set of digests of
//! those four ([`VERIFIED_CACHE`] entries, oldest forgotten first), consulted before the
//! curve arithmetic, and a bounded map of decompressed public keys ([`KEY_CACHE`]
//! entries). Only successes are remembered, so the cache changes how fast an answer comes,
//! never the answer; an attacker filling it with valid signatures of its own only evicts
//! entries that are then checked again.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, OnceLock};

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
        SIGNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Signature(self.signing.sign(&signing_input(domain, msg)).to_bytes())
    }
}

/// Signatures remembered as verified, at most.
pub const VERIFIED_CACHE: usize = 1 << 16;

/// Decompressed public keys remembered, at most.
pub const KEY_CACHE: usize = 4_096;

/// A bounded set, oldest entries forgotten first.
struct Remembered<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq + Copy, V: Clone> Remembered<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.map.get(key).cloned()
    }

    fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key, value).is_some() {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

struct Caches {
    verified: Mutex<Remembered<[u8; 32], ()>>,
    keys: Mutex<Remembered<[u8; 32], VerifyingKey>>,
}

fn caches() -> &'static Caches {
    static CACHES: OnceLock<Caches> = OnceLock::new();
    CACHES.get_or_init(|| Caches {
        verified: Mutex::new(Remembered::new(VERIFIED_CACHE)),
        keys: Mutex::new(Remembered::new(KEY_CACHE)),
    })
}

/// Signatures made, checked in full, and answered from the cache, by this process.
static SIGNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static CHECKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static CACHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many signatures this process made, checked in full and answered from the cache
/// (for metrics and the bench's CPU breakdown).
pub fn signature_counts() -> SignatureCounts {
    use std::sync::atomic::Ordering::Relaxed;
    SignatureCounts {
        made: SIGNED.load(Relaxed),
        checked: CHECKED.load(Relaxed),
        cached: CACHED.load(Relaxed),
    }
}

/// Signature work of this process so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignatureCounts {
    /// Signatures made.
    pub made: u64,
    /// Signatures checked in full (curve arithmetic).
    pub checked: u64,
    /// Checks answered from the cache of verified signatures.
    pub cached: u64,
}

/// Whether verification caching is on (tests switch it off to show it changes no answer).
static CACHING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Switch the verification caches on or off (process-wide; on by default). Off, every
/// [`verify`] does the full check: the control for the claim that caching changes no
/// answer.
pub fn set_verify_caching(on: bool) {
    CACHING.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a map operation that leaves the cache consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `id`'s public key, decompressed (from the cache when it was seen before).
fn verifying_key(id: &NodeId) -> Result<VerifyingKey, CryptoError> {
    let caching = CACHING.load(std::sync::atomic::Ordering::Relaxed);
    if caching && let Some(key) = lock(&caches().keys).get(&id.0) {
        return Ok(key);
    }
    let key = VerifyingKey::from_bytes(&id.0).map_err(|_| CryptoError::InvalidKey(*id))?;
    if caching {
        lock(&caches().keys).insert(id.0, key);
    }
    Ok(key)
}

/// Check that `sig` is `id`'s signature of `msg` under `domain` (strict verification).
/// A signature that passed before is not checked again (see the module doc).
pub fn verify(id: &NodeId, domain: &[u8], msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
    let caching = CACHING.load(std::sync::atomic::Ordering::Relaxed);
    let seen = caching.then(|| sha256_parts(&[&id.0, domain, msg, &sig.0]).0);
    if let Some(seen) = &seen
        && lock(&caches().verified).get(seen).is_some()
    {
        CACHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let key = verifying_key(id)?;
    let signature = ed25519_dalek::Signature::from_bytes(&sig.0);
    key.verify_strict(&signing_input(domain, msg), &signature)
        .map_err(|_| CryptoError::BadSignature(*id))?;
    if let Some(seen) = seen {
        lock(&caches().verified).insert(seen, ());
    }
    Ok(())
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

    /// A remembered success never vouches for anything else: another message, another
    /// signer, another domain or a changed signature is checked in full and refused.
    #[test]
    fn a_cached_success_vouches_for_nothing_else() {
        let key = Keypair::from_seed([7; 32]);
        let other = Keypair::from_seed([8; 32]);
        let sig = key.sign(b"d", b"msg");
        for _ in 0..2 {
            assert_eq!(verify(&key.id(), b"d", b"msg", &sig), Ok(()));
        }
        assert!(verify(&key.id(), b"d", b"other msg", &sig).is_err());
        assert!(verify(&key.id(), b"e", b"msg", &sig).is_err());
        assert!(verify(&other.id(), b"d", b"msg", &sig).is_err());
        let mut flipped = sig;
        flipped.0[5] ^= 1;
        assert!(verify(&key.id(), b"d", b"msg", &flipped).is_err());
        assert!(verify(&NodeId([0xff; 32]), b"d", b"msg", &sig).is_err());
    }

    #[test]
    fn the_bounded_cache_forgets_the_oldest() {
        let mut r: Remembered<[u8; 32], ()> = Remembered::new(2);
        for n in 0..3u8 {
            r.insert([n; 32], ());
        }
        assert!(r.get(&[0; 32]).is_none());
        assert!(r.get(&[1; 32]).is_some() && r.get(&[2; 32]).is_some());
        assert_eq!(r.order.len(), 2);
    }
}
