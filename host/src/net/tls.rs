//! Membership-gated certificate verifiers and the rustls / quinn configurations using them.
//!
//! # Design
//! A peer is accepted when (1) its end-entity certificate parses as X.509 with an ed25519
//! SubjectPublicKeyInfo, (2) that key is in the current [`Membership`], (3) when dialling,
//! it is exactly the key of the peer being dialled, and (4) its TLS 1.3 `CertificateVerify`
//! signature over the handshake verifies under that key (rustls'
//! [`verify_tls13_signature`] with the ring provider's algorithms). Only the ed25519
//! signature scheme is offered. Issuer, validity period and names are ignored on purpose:
//! the key is the identity, and the membership is the only authority. Every refusal is
//! counted in [`NetMetrics::snapshot`]`().handshake_refusals`. Session resumption and
//! 0-RTT are disabled on both sides, so every connection runs the verifiers afresh.
//!
//! In TLS 1.3 the client verifies the server before sending its own certificate, so a
//! refused client briefly believes it is connected; the server then closes the
//! connection with a TLS alert and no application data is ever read from it.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme};

use super::config::TransportConfig;
use super::error::NetError;
use super::identity::{CertError, NodeIdentity, node_id_from_certificate};
use super::membership::Membership;
use super::metrics::NetMetrics;
use crate::core::types::NodeId;

/// ALPN protocol id of the Spore peer protocol.
pub const ALPN: &[u8] = b"spore/1";

/// The TLS server name used by every node (identity is checked by key, not by name).
pub const SERVER_NAME: &str = "spore.node";

/// Why a peer was refused at the handshake.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The certificate does not carry a usable ed25519 key.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// The key is not in the current membership.
    #[error("node {0} is not a member")]
    NotMember(String),
    /// The dialled address answered with another member's key.
    #[error("dialled node {expected} but the peer presented key {presented}")]
    WrongPeer {
        /// Key we dialled.
        expected: String,
        /// Key the peer presented.
        presented: String,
    },
    /// The peer sent a certificate chain; nodes present a single self-signed certificate.
    #[error("unexpected certificate chain of {0} intermediates")]
    Chain(usize),
}

fn refuse(metrics: &NetMetrics, why: Refusal) -> rustls::Error {
    metrics.handshake_refused();
    if let Some(left_out) = metrics.refusal_warnings.allow(std::time::Instant::now()) {
        tracing::warn!(error = %why, left_out, "refused a TLS peer (one line per 10 s; left_out: refused since the last line)");
    }
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(OtherError(Arc::new(why))))
}

/// Checks a presented certificate against the membership (and the expected key).
fn check_peer(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    membership: Option<&Membership>,
    expected: Option<&NodeId>,
) -> Result<NodeId, Refusal> {
    if !intermediates.is_empty() {
        return Err(Refusal::Chain(intermediates.len()));
    }
    let id = node_id_from_certificate(end_entity)?;
    if let Some(expected) = expected
        && *expected != id
    {
        return Err(Refusal::WrongPeer {
            expected: expected.to_string(),
            presented: id.to_string(),
        });
    }
    if membership.is_some_and(|m| !m.contains(&id)) {
        return Err(Refusal::NotMember(id.to_string()));
    }
    Ok(id)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verifies the server's certificate when dialling one specific member.
#[derive(Debug)]
pub struct PeerVerifier {
    expected: NodeId,
    membership: Membership,
    metrics: Arc<NetMetrics>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    /// A verifier accepting only `expected`, and only while it is in `membership`.
    pub fn new(expected: NodeId, membership: Membership, metrics: Arc<NetMetrics>) -> Self {
        Self {
            expected,
            membership,
            metrics,
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        check_peer(
            end_entity,
            intermediates,
            Some(&self.membership),
            Some(&self.expected),
        )
        .map_err(|why| refuse(&self.metrics, why))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms).inspect_err(|_| {
            self.metrics.handshake_refused();
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// Verifies a connecting client's certificate: any current member is accepted on the peer
/// port ([`MemberVerifier::new`]); on the client port ([`MemberVerifier::any_key`]) any
/// key is, and the key is the client's identity for the connection: the node checks what
/// it may do (submit a module, say) against the replicated authority, and every operation
/// carries the submitter's own signature besides.
#[derive(Debug)]
pub struct MemberVerifier {
    membership: Option<Membership>,
    metrics: Arc<NetMetrics>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The client port's verifier (see [`MemberVerifier::any_key`]).
pub type ClientKeyVerifier = MemberVerifier;

impl MemberVerifier {
    /// A verifier accepting any certificate bound to an ed25519 key (the client port),
    /// still checking the binding and the handshake signature.
    pub fn any_key(metrics: Arc<NetMetrics>) -> Self {
        Self {
            membership: None,
            metrics,
            algorithms: provider().signature_verification_algorithms,
        }
    }

    /// A verifier accepting the members of `membership` as it is at each handshake.
    pub fn new(membership: Membership, metrics: Arc<NetMetrics>) -> Self {
        Self {
            membership: Some(membership),
            metrics,
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for MemberVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check_peer(end_entity, intermediates, self.membership.as_ref(), None)
            .map_err(|why| refuse(&self.metrics, why))?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms).inspect_err(|_| {
            self.metrics.handshake_refused();
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The largest UDP payload path MTU discovery searches for (the most IPv6 allows).
pub const MTU_UPPER_BOUND: u16 = 65_527;

/// QUIC transport parameters shared by both sides; `incoming_uni` is how many
/// unidirectional streams the peer may open towards us.
fn quic_transport(
    cfg: &TransportConfig,
    incoming_uni: u32,
) -> Result<quinn::TransportConfig, NetError> {
    let mut t = quinn::TransportConfig::default();
    // Path MTU discovery searches up to the largest UDP payload instead of quinn's
    // Ethernet-sized default (1,452 bytes): where the path allows larger datagrams
    // (loopback, jumbo frames), a frame of votes or a batch travels in far fewer packets,
    // each costing a system call, a header protection and an AEAD seal. Safe whatever
    // the path: probes that are too large are lost and the search settles below them.
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(MTU_UPPER_BOUND);
    t.mtu_discovery_config(Some(mtu));
    t.max_concurrent_bidi_streams(0u32.into())
        .max_concurrent_uni_streams(incoming_uni.into())
        .keep_alive_interval(Some(cfg.keep_alive))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(cfg.idle_timeout)
                .map_err(|e| NetError::Config(format!("idle timeout: {e}")))?,
        ));
    Ok(t)
}

/// The server side: presents `identity`, requires a member's client certificate.
pub fn server_config(
    identity: &NodeIdentity,
    membership: Membership,
    metrics: Arc<NetMetrics>,
    cfg: &TransportConfig,
) -> Result<quinn::ServerConfig, NetError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(MemberVerifier::new(membership, metrics)))
        .with_single_cert(vec![identity.certificate().clone()], identity.private_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // No session resumption (and so no 0-RTT): a resumed session skips the verifiers,
    // which would let a removed member back in on an old ticket.
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| NetError::Config(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(quic_transport(cfg, cfg.max_incoming_streams)?));
    Ok(server)
}

/// The client side for dialling `expected`: presents `identity`, accepts only that key.
/// Connections we dial carry our traffic only, so the peer may open no streams on them.
pub fn client_config(
    identity: &NodeIdentity,
    expected: NodeId,
    membership: Membership,
    metrics: Arc<NetMetrics>,
    cfg: &TransportConfig,
) -> Result<quinn::ClientConfig, NetError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous() // rustls' name for "custom verifier"; ours verifies fully, see above.
        .with_custom_certificate_verifier(Arc::new(PeerVerifier::new(
            expected, membership, metrics,
        )))
        .with_client_auth_cert(vec![identity.certificate().clone()], identity.private_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.resumption = rustls::client::Resumption::disabled();
    tls.enable_early_data = false;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| NetError::Config(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    client.transport_config(Arc::new(quic_transport(cfg, 0)?));
    Ok(client)
}
