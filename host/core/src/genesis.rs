//! The genesis: founding members, parameters and module hashes, signed by every founder.
//!
//! # Design
//! The genesis is the cluster's first replicated state and its identity. Its signing bytes
//! are the canonical (postcard) encoding of everything but the signatures, signed under the
//! domain `spore/genesis/v1`; the SHA-256 of the domain and those bytes is the genesis
//! digest, which names the chain. [`Genesis::verify`] accepts a genesis only if every
//! founding node signed it (the genesis proof), nobody else did, each signature verifies,
//! no node appears twice and every parameter is in range.

use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, Keypair, Signature, canonical_bytes, sha256_parts, verify};
use crate::trust::ParamError;
use crate::types::{Digest, Hierarchy, NodeId, TrustBps};

use crate::state::{Authority, AuthorityError};
pub use crate::state::{Params, TimingParams};

/// Signature domain of a genesis.
pub const GENESIS_DOMAIN: &[u8] = b"spore/genesis/v1";

/// Most founding nodes.
pub const MAX_GENESIS_NODES: usize = 1_000;

/// Longest chain id, node name (bytes); longest address is four times this.
pub const MAX_NAME_LEN: usize = 64;

/// One founding member.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisNode {
    /// Its public key.
    pub id: NodeId,
    /// Its hierarchy level.
    pub level: Hierarchy,
    /// Its initial trust (between the exclusion threshold and `trust.max`).
    pub trust: TrustBps,
    /// Human-readable name.
    pub name: String,
    /// Network address (`host:port`).
    pub address: String,
}

/// The initial module of every role, by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisModules {
    /// The validator module.
    pub validator: Digest,
    /// The admission module.
    pub admission: Digest,
    /// The resolver module.
    pub resolver: Digest,
}

/// A genesis document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Name of the cluster.
    pub chain_id: String,
    /// Founding members.
    pub nodes: Vec<GenesisNode>,
    /// Initial parameters.
    #[serde(default)]
    pub params: Params,
    /// Initial modules.
    pub modules: GenesisModules,
    /// Client and operator keys and the policy of who may submit what.
    #[serde(default)]
    pub authority: Authority,
    /// Founders' signatures, ascending by node id.
    #[serde(default)]
    pub signatures: Vec<(NodeId, Signature)>,
}

/// Why a genesis was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The chain id is empty, too long or not `[a-z0-9._-]`.
    #[error("invalid chain id {0:?}")]
    InvalidChainId(String),
    /// There are no founding nodes, or more than allowed.
    #[error("a genesis needs 1..={MAX_GENESIS_NODES} nodes, got {0}")]
    NodeCount(usize),
    /// A node appears twice.
    #[error("node {0} appears twice")]
    DuplicateNode(NodeId),
    /// A node's name or address is empty or too long.
    #[error("node {0} has an empty or overlong name or address")]
    InvalidNodeField(NodeId),
    /// A node's initial trust is outside `[exclusion threshold, trust.max]`.
    #[error("node {node} starts with trust {trust}, outside [{min}, {max}]")]
    TrustOutOfRange {
        /// The node.
        node: NodeId,
        /// Its trust.
        trust: TrustBps,
        /// Exclusion threshold.
        min: TrustBps,
        /// Maximum trust.
        max: TrustBps,
    },
    /// Fewer high-trust founders than `quorum.min-high-trust`.
    #[error("{have} high-trust founders, quorum.min-high-trust needs {need}")]
    TooFewHighTrust {
        /// Configured minimum.
        need: u32,
        /// Founders at or above the critical threshold.
        have: usize,
    },
    /// A parameter is out of range.
    #[error("invalid parameters: {0}")]
    Params(#[from] ParamError),
    /// A node id is not a valid ed25519 key.
    #[error("node {0} is not a valid ed25519 public key")]
    InvalidKey(NodeId),
    /// A founding node did not sign.
    #[error("missing signature of founding node {0}")]
    MissingSignature(NodeId),
    /// A signature does not verify.
    #[error("bad signature of node {0}")]
    BadSignature(NodeId),
    /// The authority section is invalid.
    #[error("invalid authority: {0}")]
    Authority(#[from] AuthorityError),
    /// The configuration cannot be met, or one crash stalls it.
    #[error("configuration refused: {0}")]
    Liveness(String),
    /// A signature by a node that is not a founder.
    #[error("signature by {0}, which is not a founding node")]
    UnknownSigner(NodeId),
    /// Two signatures by one node.
    #[error("node {0} signed twice")]
    DuplicateSignature(NodeId),
}

/// Everything a founder signs (the genesis minus its signatures).
#[derive(Serialize)]
struct SigningView<'a> {
    chain_id: &'a str,
    nodes: &'a [GenesisNode],
    params: &'a Params,
    modules: &'a GenesisModules,
    authority: &'a Authority,
}

fn valid_chain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

impl Genesis {
    /// An unsigned genesis.
    pub fn new(
        chain_id: impl Into<String>,
        nodes: Vec<GenesisNode>,
        params: Params,
        modules: GenesisModules,
    ) -> Self {
        Genesis {
            chain_id: chain_id.into(),
            nodes,
            params,
            modules,
            authority: Authority::default(),
            signatures: Vec::new(),
        }
    }

    /// The bytes every founder signs (under [`GENESIS_DOMAIN`]).
    pub fn signing_bytes(&self) -> Vec<u8> {
        canonical_bytes(&SigningView {
            chain_id: &self.chain_id,
            nodes: &self.nodes,
            params: &self.params,
            modules: &self.modules,
            authority: &self.authority,
        })
    }

    /// The genesis digest: SHA-256 over the domain and the signing bytes. It names the
    /// chain and does not depend on the signatures.
    pub fn digest(&self) -> Digest {
        sha256_parts(&[GENESIS_DOMAIN, &self.signing_bytes()])
    }

    /// A founding node by id.
    pub fn node(&self, id: &NodeId) -> Option<&GenesisNode> {
        self.nodes.iter().find(|n| n.id == *id)
    }

    /// Add (or replace) `key`'s signature; `key` must be a founding node.
    pub fn sign(&mut self, key: &Keypair) -> Result<(), GenesisError> {
        let id = key.id();
        if self.node(&id).is_none() {
            return Err(GenesisError::UnknownSigner(id));
        }
        let sig = key.sign(GENESIS_DOMAIN, &self.signing_bytes());
        self.signatures.retain(|(s, _)| *s != id);
        self.signatures.push((id, sig));
        self.signatures.sort_by_key(|s| s.0);
        Ok(())
    }

    /// Check the content alone (everything but the signatures).
    pub fn validate_content(&self) -> Result<(), GenesisError> {
        if !valid_chain_id(&self.chain_id) {
            return Err(GenesisError::InvalidChainId(self.chain_id.clone()));
        }
        if self.nodes.is_empty() || self.nodes.len() > MAX_GENESIS_NODES {
            return Err(GenesisError::NodeCount(self.nodes.len()));
        }
        self.params.validate()?;
        let tp = &self.params.trust;
        let mut seen = std::collections::BTreeSet::new();
        for n in &self.nodes {
            if !seen.insert(n.id) {
                return Err(GenesisError::DuplicateNode(n.id));
            }
            if n.name.is_empty()
                || n.name.len() > MAX_NAME_LEN
                || n.address.is_empty()
                || n.address.len() > 4 * MAX_NAME_LEN
            {
                return Err(GenesisError::InvalidNodeField(n.id));
            }
            if n.trust < tp.exclusion_threshold || n.trust > tp.max {
                return Err(GenesisError::TrustOutOfRange {
                    node: n.id,
                    trust: n.trust,
                    min: tp.exclusion_threshold,
                    max: tp.max,
                });
            }
        }
        let have = self
            .nodes
            .iter()
            .filter(|n| n.trust >= tp.critical_threshold)
            .count();
        let need = self.params.quorum.min_high_trust;
        if have < usize::try_from(need).unwrap_or(usize::MAX) {
            return Err(GenesisError::TooFewHighTrust { need, have });
        }
        let trust: Vec<TrustBps> = self.nodes.iter().map(|n| n.trust).collect();
        crate::state::liveness::check(&self.params, &trust).map_err(GenesisError::Liveness)?;
        // The rule a change of the output cap and every admission are held to: one
        // operation's worst-case tally, inside a new-view, fits a frame.
        let cap = usize::try_from(self.params.timing.max_output_bytes).unwrap_or(usize::MAX);
        if !crate::consensus::limits::one_operation_fits(self.nodes.len(), cap) {
            return Err(GenesisError::Liveness(format!(
                "timing.max-output-bytes {cap} is too large for {} founders: one operation's \
                 tally could exceed a message",
                self.nodes.len()
            )));
        }
        self.authority.validate()?;
        Ok(())
    }

    /// Check content and signatures: every founder signed, nobody else, all valid.
    pub fn verify(&self) -> Result<(), GenesisError> {
        self.validate_content()?;
        let bytes = self.signing_bytes();
        let mut signed = std::collections::BTreeSet::new();
        for (id, sig) in &self.signatures {
            if self.node(id).is_none() {
                return Err(GenesisError::UnknownSigner(*id));
            }
            if !signed.insert(*id) {
                return Err(GenesisError::DuplicateSignature(*id));
            }
            verify(id, GENESIS_DOMAIN, &bytes, sig).map_err(|e| match e {
                CryptoError::InvalidKey(id) => GenesisError::InvalidKey(id),
                CryptoError::BadSignature(id) => GenesisError::BadSignature(id),
            })?;
        }
        match self.nodes.iter().find(|n| !signed.contains(&n.id)) {
            Some(n) => Err(GenesisError::MissingSignature(n.id)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Founders' keys for tests: seeds 1..=n.
    pub(crate) fn keys(n: u8) -> Vec<Keypair> {
        (1..=n).map(|i| Keypair::from_seed([i; 32])).collect()
    }

    /// The test genesis's authorised keys: governor, operator, client (seeds 201..=203).
    pub(crate) fn authority_keys() -> [Keypair; 3] {
        [201, 202, 203].map(|i| Keypair::from_seed([i; 32]))
    }

    /// `op` signed for `chain` by the test key holding the role the default policy asks
    /// for, valid from slot 0 for the whole expiry window.
    pub(crate) fn sign_op(chain: Digest, op: crate::ops::Operation) -> crate::ops::SignedOperation {
        use crate::state::{Actor, Permission};
        let [governor, operator, client] = authority_keys();
        let key = match Permission::of(&op).default_role() {
            Actor::Client => client,
            Actor::Operator => operator,
            Actor::Governor | Actor::Member => governor,
        };
        crate::ops::SignedOperation::sign(op, chain, crate::ops::MAX_EXPIRY_WINDOW, &key)
    }

    /// A signed genesis of `n` nodes: the first is Sclerotia, the next two Rhizomorph, the
    /// rest Hyphae; trust 8000, 7000, 5000.
    pub(crate) fn signed(n: u8) -> (Genesis, Vec<Keypair>) {
        let ks = keys(n);
        let nodes = ks
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let (level, trust) = match i {
                    0 => (Hierarchy::Sclerotia, 8_000),
                    1 | 2 => (Hierarchy::Rhizomorph, 7_000),
                    _ => (Hierarchy::Hyphae, 5_000),
                };
                GenesisNode {
                    id: k.id(),
                    level,
                    trust,
                    name: format!("node-{i}"),
                    address: format!("127.0.0.1:{}", 7000 + i),
                }
            })
            .collect();
        let modules = GenesisModules {
            validator: Digest([1; 32]),
            admission: Digest([2; 32]),
            resolver: Digest([3; 32]),
        };
        let mut g = Genesis::new("spore-test", nodes, Params::default(), modules);
        let [governor, operator, client] = authority_keys();
        let grant =
            |k: &Keypair, name: &str, role: crate::state::Actor| crate::state::AuthorizedKey {
                id: k.id(),
                name: name.into(),
                roles: std::collections::BTreeSet::from([role]),
            };
        g.authority.keys = vec![
            grant(&governor, "governor", crate::state::Actor::Governor),
            grant(&operator, "operator", crate::state::Actor::Operator),
            grant(&client, "client", crate::state::Actor::Client),
        ];
        for k in &ks {
            assert!(g.sign(k).is_ok());
        }
        (g, ks)
    }

    #[test]
    fn a_fully_signed_genesis_verifies_and_round_trips() -> Result<(), Box<dyn std::error::Error>> {
        let (g, _) = signed(4);
        g.verify()?;
        let json = serde_json::to_string_pretty(&g)?;
        let back: Genesis = serde_json::from_str(&json)?;
        back.verify()?;
        assert_eq!(back.digest(), g.digest());
        let toml_text = toml::to_string(&g)?;
        let back: Genesis = toml::from_str(&toml_text)?;
        back.verify()?;
        assert_eq!(back, g);
        Ok(())
    }

    #[test]
    fn missing_bad_unknown_and_duplicate_signatures_are_rejected() {
        let (g, ks) = signed(4);
        let mut missing = g.clone();
        let (removed, _) = missing.signatures.remove(2);
        assert_eq!(
            missing.verify(),
            Err(GenesisError::MissingSignature(removed))
        );

        let mut bad = g.clone();
        bad.signatures[0].1 = Signature([7; 64]);
        assert!(
            matches!(bad.verify(), Err(GenesisError::BadSignature(id)) if id == bad.signatures[0].0)
        );

        let mut tampered = g.clone();
        tampered.params.trust.agreement_gain += 1;
        assert!(matches!(
            tampered.verify(),
            Err(GenesisError::BadSignature(_))
        ));

        let stranger = Keypair::from_seed([99; 32]);
        let mut unknown = g.clone();
        assert_eq!(
            unknown.sign(&stranger),
            Err(GenesisError::UnknownSigner(stranger.id()))
        );
        unknown.signatures.push((
            stranger.id(),
            stranger.sign(GENESIS_DOMAIN, &g.signing_bytes()),
        ));
        assert_eq!(
            unknown.verify(),
            Err(GenesisError::UnknownSigner(stranger.id()))
        );

        let mut dup = g.clone();
        dup.signatures.push(dup.signatures[0]);
        assert!(matches!(
            dup.verify(),
            Err(GenesisError::DuplicateSignature(_))
        ));

        // Re-signing replaces, never duplicates.
        let mut again = g.clone();
        assert!(again.sign(&ks[0]).is_ok());
        assert_eq!(again.signatures.len(), 4);
        assert_eq!(again.verify(), Ok(()));
    }

    #[test]
    fn content_rules_are_enforced() {
        let (g, _) = signed(4);
        let mut dup = g.clone();
        dup.nodes.push(dup.nodes[0].clone());
        assert!(matches!(dup.verify(), Err(GenesisError::DuplicateNode(_))));

        let mut low = g.clone();
        low.nodes[3].trust = low.params.trust.exclusion_threshold - 1;
        assert!(matches!(
            low.verify(),
            Err(GenesisError::TrustOutOfRange { .. })
        ));
        let mut high = g.clone();
        high.nodes[3].trust = 10_001;
        assert!(matches!(
            high.verify(),
            Err(GenesisError::TrustOutOfRange { .. })
        ));

        let mut params = g.clone();
        params.params.trust.initial = params.params.trust.critical_threshold;
        assert!(matches!(params.verify(), Err(GenesisError::Params(_))));

        let mut few_high = g.clone();
        few_high.params.quorum.min_high_trust = 4;
        assert_eq!(
            few_high.verify(),
            Err(GenesisError::TooFewHighTrust { need: 4, have: 3 })
        );

        let mut empty = g.clone();
        empty.nodes.clear();
        assert_eq!(empty.verify(), Err(GenesisError::NodeCount(0)));

        // An output cap whose one-operation tally no frame holds for these founders (the
        // rule admissions and cap changes are held to); control: the default cap passes.
        let mut big_outputs = g.clone();
        big_outputs.params.timing.max_output_bytes = 1 << 20;
        assert!(matches!(
            big_outputs.validate_content(),
            Err(GenesisError::Liveness(m)) if m.contains("max-output-bytes")
        ));
        assert_eq!(g.validate_content(), Ok(()));

        for bad_id in ["", "Spore", "a b", &"x".repeat(65)] {
            let mut c = g.clone();
            c.chain_id = bad_id.to_string();
            assert!(
                matches!(c.verify(), Err(GenesisError::InvalidChainId(_))),
                "{bad_id:?}"
            );
        }

        let mut unnamed = g.clone();
        unnamed.nodes[1].name.clear();
        assert!(matches!(
            unnamed.verify(),
            Err(GenesisError::InvalidNodeField(_))
        ));
    }

    #[test]
    fn invalid_public_keys_are_reported_as_such() {
        let (mut g, _) = signed(1);
        let mut bad = [0u8; 32];
        bad[0] = 2;
        let id = NodeId(bad);
        g.nodes[0].id = id;
        g.signatures = vec![(id, Signature([0; 64]))];
        assert_eq!(g.verify(), Err(GenesisError::InvalidKey(id)));
    }

    #[test]
    fn the_digest_ignores_signatures_but_not_content() {
        let (g, _) = signed(4);
        let mut unsigned = g.clone();
        unsigned.signatures.clear();
        assert_eq!(unsigned.digest(), g.digest());
        let mut other = g.clone();
        other.chain_id = "spore-other".into();
        assert_ne!(other.digest(), g.digest());
    }
}
