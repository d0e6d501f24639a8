//! The client interface over QUIC: the node's listener and the client used by the CLI.
//!
//! # Design
//! Clients need not be members, but every client has a key. Both sides present a
//! self-signed certificate bound to their ed25519 key: the node its node key (checked by
//! [`PeerVerifier`](crate::net::tls::PeerVerifier) against the node id the client
//! expects), the client its client key (any key; [`ClientKeyVerifier`] checks the binding
//! and the handshake signature). The client's key is its identity on the connection: every
//! request the node hands on carries it ([`ClientCall::client`]), and what the key may do
//! (upload a module, say) is checked against the replicated authority. Operations carry
//! their submitter's signature besides, so a relayed operation is judged by its signer.
//! Each request is one bidirectional stream (see [`super::proto`]); a malformed request
//! frame gets an `Error` answer and closes only that stream.

use std::net::SocketAddr;
use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::proto::{CLIENT_ALPN, MAX_CLIENT_FRAME, Request, Response};
use crate::core::crypto::Keypair;
use crate::core::types::NodeId;
use crate::net::frame;
use crate::net::identity::node_id_from_certificate;
use crate::net::tls::{ClientKeyVerifier, PeerVerifier, SERVER_NAME};
use crate::net::{Membership, NetMetrics, NodeIdentity};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TLS or QUIC configuration failed.
    #[error("client configuration: {0}")]
    Config(String),
    /// Connecting failed (unreachable, wrong node key, refused).
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The node's address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The stream failed.
    #[error("stream: {0}")]
    Stream(String),
    /// A frame could not be encoded or decoded.
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server configuration of the client listener: presents `identity` and requires a
/// certificate bound to the client's ed25519 key (refusals counted in `metrics`).
pub fn server_config(
    identity: &NodeIdentity,
    metrics: Arc<NetMetrics>,
) -> Result<quinn::ServerConfig, ClientError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ClientError::Config(e.to_string()))?
        .with_client_cert_verifier(Arc::new(ClientKeyVerifier::new(metrics)))
        .with_single_cert(vec![identity.certificate().clone()], identity.private_key())
        .map_err(|e| ClientError::Config(e.to_string()))?;
    tls.alpn_protocols = vec![CLIENT_ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| ClientError::Config(e.to_string()))?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(crypto)))
}

/// One request stream handed to the node: who asks, the request and where to write answers.
pub struct ClientCall {
    /// The client's key, authenticated by the TLS handshake.
    pub client: NodeId,
    /// The request.
    pub request: Request,
    /// Answers (the stream finishes when the sender is dropped).
    pub reply: mpsc::Sender<Response>,
}

/// Accept client connections on `endpoint` and hand every request to `calls`.
pub async fn serve(endpoint: quinn::Endpoint, calls: mpsc::Sender<ClientCall>) {
    while let Some(incoming) = endpoint.accept().await {
        let calls = calls.clone();
        tokio::spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, "client handshake failed");
                    return;
                }
            };
            let Some(client) = client_key(&conn) else {
                conn.close(1u32.into(), b"no client key");
                return;
            };
            while let Ok((send, recv)) = conn.accept_bi().await {
                tokio::spawn(handle_stream(client, send, recv, calls.clone()));
            }
        });
    }
}

/// The key the client's verified certificate is bound to.
fn client_key(conn: &quinn::Connection) -> Option<NodeId> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    node_id_from_certificate(certs.first()?).ok()
}

async fn handle_stream(
    client: NodeId,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    calls: mpsc::Sender<ClientCall>,
) {
    let mut buf = Vec::new();
    let request = match frame::read_frame::<_, Request>(&mut recv, MAX_CLIENT_FRAME, &mut buf).await
    {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, "malformed client request");
            let _ = write(
                &mut send,
                &Response::Error(format!("malformed request: {e}")),
            )
            .await;
            let _ = send.finish();
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel(16);
    let call = ClientCall {
        client,
        request,
        reply: tx,
    };
    if calls.send(call).await.is_err() {
        let _ = write(&mut send, &Response::Error("node is shutting down".into())).await;
    }
    while let Some(resp) = rx.recv().await {
        if write(&mut send, &resp).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
    // Let the peer read the end of the stream before the task drops it.
    let _ = send.stopped().await;
}

async fn write(send: &mut quinn::SendStream, resp: &Response) -> Result<(), ClientError> {
    let bytes = frame::encode(resp, MAX_CLIENT_FRAME)?;
    send.write_all(&bytes)
        .await
        .map_err(|e| ClientError::Stream(e.to_string()))
}

/// A connection from a client to one node.
pub struct Client {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
}

impl Client {
    /// Connect to the node `node` at `addr` as the holder of `key`, refusing any other
    /// node key.
    pub async fn connect(
        addr: SocketAddr,
        node: NodeId,
        key: &Keypair,
    ) -> Result<Self, ClientError> {
        let metrics = Arc::new(NetMetrics::default());
        let verifier = PeerVerifier::new(node, Membership::new([(node, addr)]), metrics);
        let signing = ed25519_dalek::SigningKey::from_bytes(&key.seed());
        let me = NodeIdentity::new(&signing).map_err(|e| ClientError::Config(e.to_string()))?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| ClientError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(vec![me.certificate().clone()], me.private_key())
            .map_err(|e| ClientError::Config(e.to_string()))?;
        tls.alpn_protocols = vec![CLIENT_ALPN.to_vec()];
        let crypto =
            QuicClientConfig::try_from(tls).map_err(|e| ClientError::Config(e.to_string()))?;
        let bind: SocketAddr = if addr.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let connect_err = |reason: String| ClientError::Connect { addr, reason };
        let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| connect_err(e.to_string()))?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let conn = endpoint
            .connect(addr, SERVER_NAME)
            .map_err(|e| connect_err(e.to_string()))?
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        Ok(Client { endpoint, conn })
    }

    /// Send `request` and return the stream of answers.
    pub async fn call(&self, request: &Request) -> Result<Answers, ClientError> {
        let (mut send, recv) = self
            .conn
            .open_bi()
            .await
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        let bytes = frame::encode(request, MAX_CLIENT_FRAME)?;
        send.write_all(&bytes)
            .await
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        send.finish()
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        Ok(Answers {
            recv,
            buf: Vec::new(),
        })
    }

    /// Send raw bytes as a request (tests of the node's handling of garbage).
    pub async fn call_raw(&self, bytes: &[u8]) -> Result<Answers, ClientError> {
        let (mut send, recv) = self
            .conn
            .open_bi()
            .await
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        send.write_all(bytes)
            .await
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        send.finish()
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        Ok(Answers {
            recv,
            buf: Vec::new(),
        })
    }

    /// Send `request` and return its first answer.
    pub async fn call_one(&self, request: &Request) -> Result<Response, ClientError> {
        let mut answers = self.call(request).await?;
        answers.next().await?.ok_or_else(|| {
            ClientError::Stream("the node closed the stream without answering".into())
        })
    }

    /// Close the connection.
    pub async fn close(self) {
        self.conn.close(0u32.into(), b"bye");
        self.endpoint.wait_idle().await;
    }
}

/// The answers to one request.
pub struct Answers {
    recv: quinn::RecvStream,
    buf: Vec<u8>,
}

impl Answers {
    /// The next answer; `None` when the node finished the stream.
    pub async fn next(&mut self) -> Result<Option<Response>, ClientError> {
        Ok(frame::read_frame(&mut self.recv, MAX_CLIENT_FRAME, &mut self.buf).await?)
    }
}
