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
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
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
        .with_client_cert_verifier(Arc::new(ClientKeyVerifier::any_key(metrics)))
        .with_single_cert(vec![identity.certificate().clone()], identity.private_key())
        .map_err(|e| ClientError::Config(e.to_string()))?;
    tls.alpn_protocols = vec![CLIENT_ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| ClientError::Config(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(client_transport()?));
    Ok(server)
}

/// One request stream handed to the node: who asks, the request and where to write answers.
pub struct ClientCall {
    /// The client's key, authenticated by the TLS handshake.
    pub client: NodeId,
    /// The request.
    pub request: Request,
    /// Answers (the stream finishes when the sender is dropped).
    pub reply: mpsc::Sender<Response>,
    /// The request's bytes in the client byte pools, held until the call is dropped (after
    /// the node handled it): a request waiting for the node counts against the pools as
    /// much as one being read, so clients cannot queue more than the pools hold.
    pub room: Room,
}

/// Bytes of the client byte pools held by one request (see [`ClientCall::room`]).
#[derive(Debug, Default)]
pub struct Room {
    _permits: Vec<OwnedSemaphorePermit>,
}

/// Most client connections served at once; further ones are refused at once.
pub const MAX_CLIENT_CONNECTIONS: usize = 256;

/// Most concurrent request streams per client connection (QUIC flow control: the client
/// cannot open more).
pub const MAX_CLIENT_STREAMS: u32 = 8;

/// How long a request may take to arrive once its stream is open.
pub const CLIENT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of large request bodies (module uploads) all clients together may have in
/// flight: an upload reserves its announced length before it is read, and waits for room
/// (within the read timeout). The memory clients can make a node hold is bounded
/// whatever they announce.
pub const CLIENT_BUFFER_BUDGET: usize = 64 * 1024 * 1024;

/// Requests announcing at most this many bytes (every request but a module upload: an
/// operation is at most 64 KiB) draw on a pool of their own, [`CLIENT_SMALL_BUDGET`], as
/// their bytes arrive, so uploads, stalled or not, can never make a status or submit
/// request wait.
pub const SMALL_REQUEST_BYTES: usize = 256 * 1024;

/// Bytes of small request bodies all clients together may have in flight.
pub const CLIENT_SMALL_BUDGET: usize = 16 * 1024 * 1024;

/// A client connection with no packet for this long is closed by the node.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A [`Client`] pings its node this often while it holds the connection, so an idle
/// client is not cut off by [`CLIENT_IDLE_TIMEOUT`] (a bench or an application that
/// submits once a minute would otherwise find its connection closed).
pub const CLIENT_KEEP_ALIVE: Duration = Duration::from_secs(10);
const _: () = assert!(CLIENT_KEEP_ALIVE.as_secs() * 2 < CLIENT_IDLE_TIMEOUT.as_secs());

/// The QUIC transport limits of the client listener: few bidirectional streams per
/// connection, no unidirectional ones, idle connections closed.
fn client_transport() -> Result<quinn::TransportConfig, ClientError> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(MAX_CLIENT_STREAMS.into())
        .max_concurrent_uni_streams(0u32.into())
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(CLIENT_IDLE_TIMEOUT)
                .map_err(|e| ClientError::Config(e.to_string()))?,
        ));
    Ok(t)
}

/// Accept client connections on `endpoint` and hand every request to `calls`, within the
/// connection, stream, byte and time limits above.
pub async fn serve(endpoint: quinn::Endpoint, calls: mpsc::Sender<ClientCall>) {
    let connections = Arc::new(Semaphore::new(MAX_CLIENT_CONNECTIONS));
    let budget = Arc::new(Budgets {
        large: Arc::new(Semaphore::new(CLIENT_BUFFER_BUDGET)),
        small: Arc::new(Semaphore::new(CLIENT_SMALL_BUDGET)),
    });
    while let Some(incoming) = endpoint.accept().await {
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            debug!("client connection refused: too many connections");
            incoming.refuse();
            continue;
        };
        let calls = calls.clone();
        let budget = budget.clone();
        tokio::spawn(async move {
            let _permit = permit;
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
                tokio::spawn(handle_stream(
                    client,
                    send,
                    recv,
                    calls.clone(),
                    budget.clone(),
                ));
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

/// The byte pools request bodies are read into (see [`CLIENT_BUFFER_BUDGET`]).
struct Budgets {
    large: Arc<Semaphore>,
    small: Arc<Semaphore>,
}

/// Read one request within the byte budget and the read timeout; the room it took in the
/// pools comes with it.
async fn read_request(
    recv: &mut quinn::RecvStream,
    budget: &Budgets,
) -> Result<Option<(Request, Room)>, String> {
    let read = async {
        let Some(len) = frame::read_prefix(recv, MAX_CLIENT_FRAME)
            .await
            .map_err(|e| format!("malformed request: {e}"))?
        else {
            return Ok(None);
        };
        let small = len <= SMALL_REQUEST_BYTES;
        // Small requests take room for the bytes that arrived, chunk by chunk, so many
        // stalled ones hold only what they sent. An upload takes room for its whole
        // announced length before a byte is read (uploads that each held part of the pool
        // while waiting for the rest could wait for each other until they time out);
        // stalled uploads can hold the upload pool, never the small one.
        let mut room = Vec::new();
        if !small {
            room.push(
                budget
                    .large
                    .clone()
                    .acquire_many_owned(u32::try_from(len).unwrap_or(u32::MAX))
                    .await
                    .map_err(|_| "the node is shutting down".to_string())?,
            );
        }
        let mut buf = Vec::with_capacity(if small { 0 } else { len });
        let mut chunk = vec![0u8; 16 * 1024];
        while buf.len() < len {
            let want = (len - buf.len()).min(chunk.len());
            let n = recv
                .read(&mut chunk[..want])
                .await
                .map_err(|e| format!("malformed request: {e}"))?
                .unwrap_or(0);
            if n == 0 {
                return Err(format!(
                    "malformed request: the stream ended after {} of {len} bytes",
                    buf.len()
                ));
            }
            if small {
                room.push(
                    budget
                        .small
                        .clone()
                        .acquire_many_owned(u32::try_from(n).unwrap_or(u32::MAX))
                        .await
                        .map_err(|_| "the node is shutting down".to_string())?,
                );
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        frame::decode_body(&buf)
            .map(|request| Some((request, Room { _permits: room })))
            .map_err(|e| format!("malformed request: {e}"))
    };
    tokio::time::timeout(CLIENT_READ_TIMEOUT, read)
        .await
        .map_err(|_| {
            format!(
                "request not received within {} s",
                CLIENT_READ_TIMEOUT.as_secs()
            )
        })?
}

async fn handle_stream(
    client: NodeId,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    calls: mpsc::Sender<ClientCall>,
    budget: Arc<Budgets>,
) {
    let (request, room) = match read_request(&mut recv, &budget).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            warn!(client = %client, error = %e, "client request refused");
            let _ = recv.stop(frame::ERR_BAD_FRAME.into());
            let _ = write(&mut send, &Response::Error(e)).await;
            let _ = send.finish();
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel(16);
    let call = ClientCall {
        client,
        request,
        reply: tx,
        room,
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
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(CLIENT_KEEP_ALIVE));
        config.transport_config(Arc::new(transport));
        endpoint.set_default_client_config(config);
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

    /// Open a request stream and return it unwritten, with its answers (tests of the
    /// node's limits: a request written slowly, in part, or never finished).
    pub async fn open_raw(&self) -> Result<(quinn::SendStream, Answers), ClientError> {
        let (send, recv) = self
            .conn
            .open_bi()
            .await
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        Ok((
            send,
            Answers {
                recv,
                buf: Vec::new(),
            },
        ))
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
