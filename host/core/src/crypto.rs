//! Ed25519 keys and domain-separated signatures, SHA-256, and canonical encoding.
//!
//! # Design
//! Every signature covers `len(domain) as u64 LE || domain || message`, so a signature made
//! for one purpose (a commit vote, a genesis, a reveal) can never be replayed as another.
//! # Which signatures are valid
//! Every node must give the same answer for every signature, whether it checks it alone
//! or inside a batch, or nodes split on whether an operation or a vote counts. The rule is
//! ZIP-215 (the cofactored equation `[8](s·B − R − k·A) = 0`, `S` canonical, `R` and `A`
//! any encoding that decompresses), checked by `ed25519-zebra` (on curve25519-dalek 4, whose
//! AVX2 code is chosen at run time where the CPU has it), whose batch check
//! accepts exactly what its single check accepts (up to the 2^-128 chance that a batch
//! with a bad signature passes its random coefficients). On top of it, a key must be the
//! canonical encoding of a point of the prime-order subgroup other than the identity
//! ([`check_key`]), as every generated key is: a small-order key would let anyone sign as
//! it, and a second encoding of a key, or the key plus a torsion point, would be a second
//! identity for one secret. Signatures `verify_strict` accepted under keys that pass the
//! key rule are all still accepted (cofactorless validity implies cofactored validity);
//! keys with a torsion component or a non-canonical encoding, which `verify_strict`
//! took, are refused now, so nodes of the two rules must not share a chain (there is no
//! activation slot: every node of a cluster runs one binary). Nobody but the key's holder can
//! make a second valid signature of a message: `S` must be canonical, and `R`'s bytes are
//! hashed into `k`, so re-encoding `R` needs a new `S`. Identities never hash signatures
//! (an operation's id leaves its signature out; see [`crate::ops::SignedOperation::id`]).
//! Nodes checked with `ed25519-consensus` before, which implements the same rule: a test
//! holds the two to the same answers, alone and in batches, on ZIP-215's edge cases and
//! on altered signatures (`both_zip215_implementations_give_the_same_answers`).
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
//!
//! # Checking many at once
//! [`verify_batch`] checks a set of signatures in one multiscalar multiplication (about a
//! third of the cost per signature at 32) and, when the whole batch passes, remembers
//! each as verified, so that the [`verify`] calls that follow are answered from the cache.
//! A batch that fails remembers nothing: it is split in halves that are checked again,
//! down to [`MIN_BATCH`] and within a budget of twice the signatures given, and the single
//! checks of [`verify`] find the bad ones. A sender of bad signatures so costs the node at
//! most about twice the batch work of its signatures on top of checking them alone, never
//! a wrong answer. The random coefficients come from the caller (the node's OS
//! generator): the core itself stays free of randomness and only calls [`verify`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, OnceLock};

use ed25519_dalek::{Signer, SigningKey};
use ed25519_zebra::VerificationKey;
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
    // Room for a vote or an operation up front: growing from empty reallocated five
    // times for each (measured: ~1.5% of a node's CPU under load).
    match postcard::to_extend(value, Vec::with_capacity(256)) {
        Ok(bytes) => bytes,
        // Unreachable for derive(Serialize) types with sized collections (see above).
        Err(e) => panic!("canonical encoding failed: {e}"),
    }
}

/// The length of `value`'s canonical encoding, computed without encoding it.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        // As `canonical_bytes`: unreachable for the types encoded here.
        .unwrap_or(usize::MAX)
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
    keys: Mutex<Remembered<[u8; 32], VerificationKey>>,
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
static BATCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static BATCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many signatures this process made, checked in full and answered from the cache
/// (for metrics and the bench's CPU breakdown).
pub fn signature_counts() -> SignatureCounts {
    use std::sync::atomic::Ordering::Relaxed;
    SignatureCounts {
        made: SIGNED.load(Relaxed),
        checked: CHECKED.load(Relaxed),
        cached: CACHED.load(Relaxed),
        batched: BATCHED.load(Relaxed),
        batches: BATCHES.load(Relaxed),
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
    /// Signatures confirmed inside a batch that passed ([`verify_batch`]).
    pub batched: u64,
    /// Batch checks run (passed or not).
    pub batches: u64,
}

/// Whether verification caching is on (tests switch it off to show it changes no answer).
static CACHING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Switch the cache of verified signatures on or off (process-wide; on by default). Off,
/// every [`verify`] does the full check and [`verify_batch`] does nothing: the control
/// for the claim that caching changes no answer. (Checked keys are remembered either
/// way: a key's check does not depend on what it signs.)
pub fn set_verify_caching(on: bool) {
    CACHING.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a map operation that leaves the cache consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `id` is a key signatures may be made under: the canonical encoding of a curve
/// point of the prime-order subgroup other than the identity, as every key made by
/// ed25519 key generation is (see the module doc). Admission and the authority
/// use it for the keys they accept, [`verify`] for every signer.
pub fn check_key(id: &NodeId) -> Result<(), CryptoError> {
    let invalid = || CryptoError::InvalidKey(*id);
    let compressed = curve25519_dalek::edwards::CompressedEdwardsY(id.0);
    let point = compressed.decompress().ok_or_else(invalid)?;
    if point.compress() != compressed || point.is_small_order() || !point.is_torsion_free() {
        return Err(invalid());
    }
    Ok(())
}

/// `id`'s public key, checked and decompressed (from the cache when it was seen before).
fn verifying_key(id: &NodeId) -> Result<VerificationKey, CryptoError> {
    if let Some(key) = lock(&caches().keys).get(&id.0) {
        return Ok(key);
    }
    check_key(id)?;
    let key = VerificationKey::try_from(id.0).map_err(|_| CryptoError::InvalidKey(*id))?;
    lock(&caches().keys).insert(id.0, key);
    Ok(key)
}

/// What the verified-signature cache files a check under.
fn seen_digest(id: &NodeId, domain: &[u8], msg: &[u8], sig: &Signature) -> [u8; 32] {
    sha256_parts(&[&id.0, domain, msg, &sig.0]).0
}

/// Check that `sig` is `id`'s signature of `msg` under `domain` (the rule in the module
/// doc). A signature that passed before, alone or in a batch, is not checked again.
pub fn verify(id: &NodeId, domain: &[u8], msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
    let caching = CACHING.load(std::sync::atomic::Ordering::Relaxed);
    let seen = caching.then(|| seen_digest(id, domain, msg, sig));
    if let Some(seen) = &seen
        && lock(&caches().verified).get(seen).is_some()
    {
        CACHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    verify_uncached(id, domain, msg, sig)?;
    if let Some(seen) = seen {
        lock(&caches().verified).insert(seen, ());
    }
    Ok(())
}

/// The single check itself, without the cache.
fn verify_uncached(
    id: &NodeId,
    domain: &[u8],
    msg: &[u8],
    sig: &Signature,
) -> Result<(), CryptoError> {
    let key = verifying_key(id)?;
    key.verify(
        &ed25519_zebra::Signature::from(sig.0),
        &signing_input(domain, msg),
    )
    .map_err(|_| CryptoError::BadSignature(*id))
}

/// A signature to check: its signer, domain, signed bytes and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Who signed.
    pub signer: NodeId,
    /// The domain it was signed under.
    pub domain: &'static [u8],
    /// The signed bytes (without the domain).
    pub msg: Vec<u8>,
    /// The signature.
    pub signature: Signature,
}

/// Batches smaller than this are not worth a multiscalar multiplication: their
/// signatures are left to the single checks of [`verify`]. Measured on the 2-core
/// machine (release, signatures of distinct keys, three runs): alone 35-45 us per
/// signature; in a batch of 2, 33-39 (no gain beyond noise); of 3, 29-31; of 4, 26-29;
/// of 8, 22-25. At light load a member's three peers' votes of one phase often arrive
/// together: three is the smallest batch that pays.
pub const MIN_BATCH: usize = 3;

/// Most signatures one batch check takes; longer lists are checked in parts.
pub const MAX_BATCH: usize = 256;

/// Check `claims` in batches and remember every signature of a batch that passes, so that
/// the [`verify`] calls that follow are answered from the cache (see the module doc).
/// Signatures already remembered, repeated, under invalid keys or in batches that fail
/// are left for [`verify`] to decide alone: this call never rejects anything. Returns how
/// many it confirmed. With caching off it does nothing (there is nowhere to keep the
/// answer).
pub fn verify_batch<R: rand_core::RngCore + rand_core::CryptoRng>(
    claims: &[Claim],
    rng: &mut R,
) -> usize {
    if !CACHING.load(std::sync::atomic::Ordering::Relaxed) || claims.len() < MIN_BATCH {
        return 0;
    }
    // Hashed before the cache is locked (messages may be large; other threads check too).
    let digests: Vec<[u8; 32]> = claims
        .iter()
        .map(|c| seen_digest(&c.signer, c.domain, &c.msg, &c.signature))
        .collect();
    let mut fresh: Vec<([u8; 32], &Claim)> = Vec::with_capacity(claims.len());
    {
        let verified = lock(&caches().verified);
        let mut seen_now = std::collections::HashSet::with_capacity(claims.len());
        for (seen, c) in digests.into_iter().zip(claims) {
            if verified.get(&seen).is_none() && seen_now.insert(seen) {
                fresh.push((seen, c));
            }
        }
    }
    fresh.retain(|(_, c)| verifying_key(&c.signer).is_ok());
    // Splitting failed batches may check each signature again at every level; the work
    // is capped at twice the list, so a sender of bad signatures costs a node at most
    // about as much as checking everything alone.
    let mut budget = fresh.len().saturating_mul(2);
    // Breadth first, so that the halves of every failed batch are tried before anyone's
    // quarters: a bad signature costs the good ones beside it as little as it can.
    let mut parts: VecDeque<&[([u8; 32], &Claim)]> = fresh.chunks(MAX_BATCH).collect();
    let mut confirmed = 0;
    while let Some(part) = parts.pop_front() {
        if part.len() < MIN_BATCH || budget < part.len() {
            continue;
        }
        budget -= part.len();
        if confirm_batch(part, rng) {
            confirmed += part.len();
        } else {
            let (a, b) = part.split_at(part.len() / 2);
            parts.extend([a, b]);
        }
    }
    confirmed
}

/// Check one part as a batch and remember its signatures if it passes.
fn confirm_batch<R: rand_core::RngCore + rand_core::CryptoRng>(
    part: &[([u8; 32], &Claim)],
    rng: &mut R,
) -> bool {
    BATCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let inputs: Vec<Vec<u8>> = part
        .iter()
        .map(|(_, c)| signing_input(c.domain, &c.msg))
        .collect();
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for ((_, c), input) in part.iter().zip(&inputs) {
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(c.signer.0),
            ed25519_zebra::Signature::from(c.signature.0),
            input.as_slice(),
        ));
    }
    if batch.verify(&mut *rng).is_err() {
        return false;
    }
    BATCHED.fetch_add(part.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let mut verified = lock(&caches().verified);
    for (seen, _) in part {
        verified.insert(*seen, ());
    }
    true
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

    /// The signature as a [`Claim`], for [`verify_batch`].
    pub fn claim(&self) -> Claim {
        Claim {
            signer: self.signer,
            domain: T::DOMAIN,
            msg: self.payload.signing_bytes(),
            signature: self.signature,
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

    mod batch {
        //! The batch check and the single check accept the same signatures, including the
        //! crafted ones on which Ed25519 verifiers are known to disagree.
        use super::*;
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        use curve25519_dalek::edwards::EdwardsPoint;
        use curve25519_dalek::scalar::Scalar;
        use curve25519_dalek::traits::Identity;
        use sha2::Sha512;

        fn scalar(tag: &[u8]) -> Scalar {
            Scalar::from_bytes_mod_order_wide(&Sha512::digest(tag).into())
        }

        /// A signature of `msg` under `domain` by the secret `a`, with the key published
        /// as `a·B + key_torsion` and the nonce point as `r·B + r_torsion`; `s` is
        /// `r + k·a` plus `s_extra` (to make it non-canonical).
        fn crafted(
            tag: &[u8],
            key_torsion: EdwardsPoint,
            r_torsion: EdwardsPoint,
            non_canonical_s: bool,
            msg: &[u8],
        ) -> Claim {
            let a = scalar(&[tag, b"/a"].concat());
            let r = scalar(&[tag, b"/r"].concat());
            let key = (a * ED25519_BASEPOINT_POINT + key_torsion)
                .compress()
                .to_bytes();
            let big_r = (r * ED25519_BASEPOINT_POINT + r_torsion)
                .compress()
                .to_bytes();
            let input = signing_input(b"spore/test/batch", msg);
            let k = Scalar::from_bytes_mod_order_wide(
                &Sha512::new()
                    .chain_update(big_r)
                    .chain_update(key)
                    .chain_update(&input)
                    .finalize()
                    .into(),
            );
            let mut s_bytes = (r + k * a).to_bytes();
            if non_canonical_s {
                // s + l, still below 2^256: the same scalar, a second encoding.
                // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
                let mut l = [0u8; 32];
                l[..16].copy_from_slice(&[
                    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde,
                    0xf9, 0xde, 0x14,
                ]);
                l[31] = 0x10;
                let mut carry = 0u16;
                for (x, y) in s_bytes.iter_mut().zip(l) {
                    let sum = u16::from(*x) + u16::from(y) + carry;
                    *x = sum as u8;
                    carry = sum >> 8;
                }
            }
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&big_r);
            sig[32..].copy_from_slice(&s_bytes);
            Claim {
                signer: NodeId(key),
                domain: b"spore/test/batch",
                msg: msg.to_vec(),
                signature: Signature(sig),
            }
        }

        fn honest(tag: &[u8], msg: &[u8]) -> Claim {
            let key = Keypair::from_seed(Sha256::digest(tag).into());
            Claim {
                signer: key.id(),
                domain: b"spore/test/batch",
                msg: msg.to_vec(),
                signature: key.sign(b"spore/test/batch", msg),
            }
        }

        fn single(c: &Claim) -> bool {
            verify_uncached(&c.signer, c.domain, &c.msg, &c.signature).is_ok()
        }

        /// Whether a batch of `c` and three fresh good signatures confirms `c` (checked
        /// through the cache the batch fills, then cleared by using fresh messages).
        fn batched(c: &Claim, tag: &str) -> bool {
            let mut claims = vec![c.clone()];
            claims.extend((0..3).map(|i| honest(format!("{tag}/{i}").as_bytes(), b"m")));
            let mut rng = rand_core::OsRng;
            let confirmed = verify_batch(&claims, &mut rng);
            let seen = seen_digest(&c.signer, c.domain, &c.msg, &c.signature);
            let cached = lock(&caches().verified).get(&seen).is_some();
            assert!(confirmed == 0 || confirmed == 4 || !cached);
            cached
        }

        #[test]
        fn batch_and_single_checks_agree_on_crafted_signatures() {
            let id = EdwardsPoint::identity();
            let t8 = EIGHT_TORSION[1];
            let cases: Vec<(&str, Claim, bool)> = vec![
                ("honest", crafted(b"c1", id, id, false, b"x"), true),
                // R with an order-8 component: valid by the cofactored equation only.
                ("torsion in R", crafted(b"c2", id, t8, false, b"x"), true),
                // A key with a torsion component: refused as a key.
                ("torsion in A", crafted(b"c3", t8, id, false, b"x"), false),
                ("non-canonical S", crafted(b"c4", id, id, true, b"x"), false),
                (
                    "wrong message",
                    {
                        let mut c = crafted(b"c5", id, id, false, b"x");
                        c.msg = b"y".to_vec();
                        c
                    },
                    false,
                ),
            ];
            for (name, claim, valid) in &cases {
                assert_eq!(single(claim), *valid, "{name}: single check");
                assert_eq!(batched(claim, name), *valid, "{name}: batch check");
            }
            // The control: the strict cofactorless check this rule replaced refuses the
            // torsion-in-R signature that a batch (cofactored) accepts; a node checking
            // alone by it and one checking in batches would split on it.
            let (_, torsion_r, _) = &cases[1];
            let strict = ed25519_dalek::VerifyingKey::from_bytes(&torsion_r.signer.0)
                .expect("a valid key")
                .verify_strict(
                    &signing_input(torsion_r.domain, &torsion_r.msg),
                    &ed25519_dalek::Signature::from_bytes(&torsion_r.signature.0),
                );
            assert!(strict.is_err());
        }

        /// Keys of small order would let anyone sign; non-canonical encodings and torsion
        /// components would give one secret several identities. All are refused.
        #[test]
        fn unusable_keys_are_refused() {
            for t in EIGHT_TORSION {
                assert!(check_key(&NodeId(t.compress().to_bytes())).is_err());
            }
            // A forgery under the identity key: any s with R = s·B satisfies the equation.
            let s = scalar(b"forge");
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&(s * ED25519_BASEPOINT_POINT).compress().to_bytes());
            sig[32..].copy_from_slice(&s.to_bytes());
            let identity = NodeId(EdwardsPoint::identity().compress().to_bytes());
            let forged = Claim {
                signer: identity,
                domain: b"spore/test/batch",
                msg: b"anything".to_vec(),
                signature: Signature(sig),
            };
            assert!(!single(&forged));
            assert!(!batched(&forged, "forged"));
            assert_eq!(
                verify(&identity, forged.domain, &forged.msg, &forged.signature),
                Err(CryptoError::InvalidKey(identity))
            );
            // y = 1 + p: a non-canonical encoding of the identity's y coordinate.
            let mut non_canonical = [0xffu8; 32];
            non_canonical[0] = 0xee;
            non_canonical[31] = 0x7f;
            assert!(check_key(&NodeId(non_canonical)).is_err());
            assert!(check_key(&Keypair::from_seed([9; 32]).id()).is_ok());
        }

        /// Every encoding of a small-order point (canonical, with the sign bit flipped,
        /// and the non-canonical `y + p` of `y` = 0 and 1), as ZIP-215's test vectors
        /// enumerate them.
        fn small_order_encodings() -> Vec<[u8; 32]> {
            let mut out: Vec<[u8; 32]> = Vec::new();
            for t in EIGHT_TORSION {
                let c = t.compress().to_bytes();
                let mut flipped = c;
                flipped[31] ^= 0x80;
                out.extend([c, flipped]);
            }
            for y in [0u8, 1] {
                // p + y = 2^255 - 19 + y, little-endian; and with the sign bit set.
                let mut e = [0xffu8; 32];
                e[0] = 0xed + y;
                e[31] = 0x7f;
                let mut signed = e;
                signed[31] |= 0x80;
                out.extend([e, signed]);
            }
            out.sort_unstable();
            out.dedup();
            out
        }

        /// What each ZIP-215 implementation answers for (key, signature, message): alone,
        /// and inside a batch with three good signatures.
        fn both_answers(key: [u8; 32], sig: [u8; 64], msg: &[u8]) -> [(bool, bool); 2] {
            let good: Vec<Claim> = (0..3)
                .map(|i| honest(format!("diff/{i}").as_bytes(), b"m"))
                .collect();
            let inputs: Vec<Vec<u8>> = good
                .iter()
                .map(|c| signing_input(c.domain, &c.msg))
                .collect();
            let zebra_single = ed25519_zebra::VerificationKey::try_from(key)
                .is_ok_and(|k| k.verify(&ed25519_zebra::Signature::from(sig), msg).is_ok());
            let mut zebra_batch = ed25519_zebra::batch::Verifier::new();
            zebra_batch.queue((
                ed25519_zebra::VerificationKeyBytes::from(key),
                ed25519_zebra::Signature::from(sig),
                msg,
            ));
            let consensus_single =
                ed25519_consensus::VerificationKey::try_from(key).is_ok_and(|k| {
                    k.verify(&ed25519_consensus::Signature::from(sig), msg)
                        .is_ok()
                });
            let mut consensus_batch = ed25519_consensus::batch::Verifier::new();
            consensus_batch.queue((
                ed25519_consensus::VerificationKeyBytes::from(key),
                ed25519_consensus::Signature::from(sig),
                msg,
            ));
            for (c, input) in good.iter().zip(&inputs) {
                zebra_batch.queue((
                    ed25519_zebra::VerificationKeyBytes::from(c.signer.0),
                    ed25519_zebra::Signature::from(c.signature.0),
                    input.as_slice(),
                ));
                consensus_batch.queue((
                    ed25519_consensus::VerificationKeyBytes::from(c.signer.0),
                    ed25519_consensus::Signature::from(c.signature.0),
                    input.as_slice(),
                ));
            }
            let rng = rand_core::OsRng;
            [
                (zebra_single, zebra_batch.verify(rng).is_ok()),
                (consensus_single, consensus_batch.verify(rng).is_ok()),
            ]
        }

        /// The rule's two implementations (`ed25519-zebra`, which the node checks with,
        /// and `ed25519-consensus`, which it checked with before) accept and refuse the
        /// same signatures, alone and in batches: every small-order key against every
        /// small-order `R` (ZIP-215's edge cases, with `S` = 0 and `S` = 1), the crafted
        /// torsion and non-canonical cases, and honest signatures with random bytes
        /// changed in the key, `R`, `S` or the message. A node of either would answer
        /// alike, so swapping them splits no cluster.
        ///
        /// The control is in the cases themselves: each answer is also held to the one
        /// expected where it is known (honest: accepted; a byte of `S` or the message
        /// changed: refused; small-order key with `S` = 0 and small-order `R`: accepted,
        /// the cofactored equation's hallmark), so two libraries that agreed by both
        /// accepting everything or refusing everything would fail.
        #[test]
        fn both_zip215_implementations_give_the_same_answers() {
            let encodings = small_order_encodings();
            assert!(encodings.len() >= 14, "{} encodings", encodings.len());
            let mut accepted_edge = 0;
            for key in &encodings {
                for r in &encodings {
                    for s in [0u8, 1] {
                        let mut sig = [0u8; 64];
                        sig[..32].copy_from_slice(r);
                        sig[32] = s;
                        let [zebra, consensus] = both_answers(*key, sig, b"zip215");
                        assert_eq!(zebra, consensus, "key {key:02x?} R {r:02x?} S {s}");
                        assert_eq!(zebra.0, zebra.1, "single and batch differ");
                        accepted_edge += usize::from(zebra.0 && s == 0);
                    }
                }
            }
            // With S = 0 and small-order A and R the cofactored equation holds whatever k is.
            assert_eq!(accepted_edge, encodings.len() * encodings.len());

            let id = EdwardsPoint::identity();
            let t8 = EIGHT_TORSION[1];
            for (claim, expected) in [
                (crafted(b"d1", id, id, false, b"x"), Some(true)),
                (crafted(b"d2", id, t8, false, b"x"), Some(true)),
                (crafted(b"d3", t8, id, false, b"x"), None),
                (crafted(b"d4", id, id, true, b"x"), Some(false)),
            ] {
                let input = signing_input(claim.domain, &claim.msg);
                let [zebra, consensus] = both_answers(claim.signer.0, claim.signature.0, &input);
                assert_eq!(zebra, consensus, "crafted {claim:?}");
                assert_eq!(zebra.0, zebra.1);
                if let Some(expected) = expected {
                    assert_eq!(zebra.0, expected, "crafted {claim:?}");
                }
            }

            // Honest signatures with bytes changed (a fixed-seed generator: the same cases
            // on every run).
            let mut state = 0x5eed_u64;
            let mut next = move || {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 33) as usize
            };
            for i in 0..400 {
                let c = honest(format!("mut/{i}").as_bytes(), b"payload");
                let mut key = c.signer.0;
                let mut sig = c.signature.0;
                let mut input = signing_input(c.domain, &c.msg);
                let expected = match i % 5 {
                    0 => Some(true),
                    1 => {
                        key[next() % 32] ^= 1 << (next() % 8);
                        None
                    }
                    2 => {
                        sig[next() % 32] ^= 1 << (next() % 8);
                        None
                    }
                    3 => {
                        sig[32 + next() % 32] ^= 1 << (next() % 8);
                        Some(false)
                    }
                    _ => {
                        let at = next() % input.len();
                        input[at] ^= 1 << (next() % 8);
                        Some(false)
                    }
                };
                let [zebra, consensus] = both_answers(key, sig, &input);
                assert_eq!(zebra, consensus, "case {i}");
                assert_eq!(zebra.0, zebra.1, "case {i}: single and batch differ");
                if let Some(expected) = expected {
                    assert_eq!(zebra.0, expected, "case {i}");
                }
            }
        }

        /// One bad signature among good ones: the good ones that share no batch with it
        /// are confirmed, the bad one is not, and the single checks still refuse it.
        #[test]
        fn a_bad_signature_spoils_only_its_batch() {
            let mut claims: Vec<Claim> = (0..16)
                .map(|i| honest(format!("mix/{i}").as_bytes(), b"op"))
                .collect();
            claims[5].signature.0[40] ^= 1;
            let confirmed = verify_batch(&claims, &mut rand_core::OsRng);
            assert!((8..16).contains(&confirmed), "confirmed {confirmed}");
            for (i, c) in claims.iter().enumerate() {
                let answer = verify(&c.signer, c.domain, &c.msg, &c.signature);
                assert_eq!(answer.is_ok(), i != 5, "claim {i}");
            }
            // Nothing to do the second time: the good ones are remembered, the bad one is
            // alone (below a batch).
            assert_eq!(verify_batch(&claims, &mut rand_core::OsRng), 0);
        }
    }
}
