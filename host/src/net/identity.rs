//! A node's TLS identity: a self-signed certificate carrying the node's ed25519 key itself.
//!
//! # Design
//! The certificate's SubjectPublicKeyInfo *is* the node key, so a completed handshake
//! (whose signature rustls checks against that key) proves the peer holds the node's
//! secret key. The certificate is otherwise unremarkable: nobody trusts its issuer,
//! validity period or names; membership is the only authority.

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use x509_parser::oid_registry::OID_SIG_ED25519;

use super::error::NetError;
use super::tls::SERVER_NAME;
use crate::core::types::NodeId;

/// The node's key material in the forms TLS and QUIC need.
pub struct NodeIdentity {
    node_id: NodeId,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    reset_seed: [u8; 32],
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node_id", &self.node_id.to_hex())
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// Builds the identity of the node whose secret key is `key`: PKCS#8 encoding, then an
    /// rcgen self-signed ed25519 certificate.
    pub fn new(key: &SigningKey) -> Result<Self, NetError> {
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| NetError::KeyEncoding(e.to_string()))?;
        let der = PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec());
        let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)?;
        let public = key.verifying_key().to_bytes();
        let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])?;
        let mut name = rcgen::DistinguishedName::new();
        name.push(
            rcgen::DnType::CommonName,
            format!("spore node {}", hex::encode(public)),
        );
        params.distinguished_name = name;
        let cert = params.self_signed(&key_pair)?;
        let reset_seed: [u8; 32] = Sha256::new()
            .chain_update(b"spore/quic-stateless-reset/v1")
            .chain_update(key.to_bytes())
            .finalize()
            .into();
        Ok(Self {
            node_id: node_id_from_bytes(public),
            cert: cert.der().clone(),
            key: der,
            reset_seed,
        })
    }

    /// The node's id (its ed25519 public key).
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The node's self-signed certificate (DER).
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The node's private key (PKCS#8 DER) for rustls.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }

    /// A secret, stable per node key, for QUIC stateless-reset tokens: a restarted node
    /// derives the same key and can reset connections of its previous incarnation.
    pub(crate) fn reset_seed(&self) -> &[u8; 32] {
        &self.reset_seed
    }
}

/// Why a certificate does not identify a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Not a parseable X.509 certificate (or trailing bytes after it).
    #[error("not an X.509 certificate: {0}")]
    Parse(String),
    /// The subject key is not an ed25519 key.
    #[error("certificate key is not ed25519 (algorithm {0})")]
    NotEd25519(String),
    /// The ed25519 key does not have 32 bytes.
    #[error("ed25519 key has {0} bytes, expected 32")]
    KeyLength(usize),
}

/// Extracts the node id from a DER certificate's SubjectPublicKeyInfo, accepting only an
/// ed25519 key.
pub fn node_id_from_certificate(der: &[u8]) -> Result<NodeId, CertError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| CertError::Parse(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::Parse(format!(
            "{} trailing bytes after the certificate",
            rest.len()
        )));
    }
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_SIG_ED25519 {
        return Err(CertError::NotEd25519(
            spki.algorithm.algorithm.to_id_string(),
        ));
    }
    let key = &spki.subject_public_key.data;
    let bytes: [u8; 32] = key
        .as_ref()
        .try_into()
        .map_err(|_| CertError::KeyLength(key.len()))?;
    Ok(node_id_from_bytes(bytes))
}

/// Converts raw ed25519 public key bytes into a node id.
pub fn node_id_from_bytes(bytes: [u8; 32]) -> NodeId {
    NodeId::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_carries_the_node_key() -> anyhow::Result<()> {
        let key = SigningKey::from_bytes(&[7; 32]);
        let id = NodeIdentity::new(&key)?;
        let expected = key.verifying_key().to_bytes();
        assert_eq!(id.node_id().as_bytes(), &expected);
        assert_eq!(node_id_from_certificate(id.certificate())?, id.node_id());
        // Same key, same identity (certificates are regenerated but carry the same key).
        assert_eq!(NodeIdentity::new(&key)?.reset_seed(), id.reset_seed());
        Ok(())
    }

    #[test]
    fn refuses_non_ed25519_and_garbage() -> anyhow::Result<()> {
        let ecdsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = rcgen::CertificateParams::new(vec!["x".into()])?.self_signed(&ecdsa)?;
        assert!(matches!(
            node_id_from_certificate(cert.der()),
            Err(CertError::NotEd25519(_))
        ));
        assert!(matches!(
            node_id_from_certificate(b"not a certificate"),
            Err(CertError::Parse(_))
        ));
        Ok(())
    }
}
