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
//!
//! # Answers
//! The node's answers reach the stream's task as [`Answer`]s. Each one is written within
//! [`CLIENT_WRITE_TIMEOUT`], and the end of the stream is waited for as long: a client
//! that does not take an answer (it never opens its flow-control window) has its stream
//! reset ([`ERR_ANSWER_NOT_TAKEN`]) and the answer dropped. Log pages, the large answers,
//! hold room in a node-wide [`AnswerBudget`] of [`LOG_ANSWER_BUDGET`] bytes from when the
//! node reads them out of its store until they are written or dropped
//! ([`Answer::room`]); a Log request that finds no room is answered `busy`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tracing::{debug, warn};

use super::client_share::{EVICTION_PACE, Shares, Source};
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
    /// The client did not take an answer in time (the node reset the stream).
    #[error("the client did not take the answer within {0:?}")]
    NotTaken(Duration),
    /// The node answered with an error (or, for [`Client::log`], stayed busy).
    #[error("the node answered: {0}")]
    Node(String),
    /// The node answered something else than the request asks for.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// How long [`Client::log`] asks again while the node answers busy.
pub const BUSY_RETRY: Duration = Duration::from_secs(30);

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

/// The pace of the "client request refused" warning.
static REFUSALS: crate::net::log_pace::LogPace = crate::net::log_pace::LogPace::new();

/// One request stream handed to the node: who asks, the request and where to write answers.
pub struct ClientCall {
    /// The client's key, authenticated by the TLS handshake.
    pub client: NodeId,
    /// The address it connected from, as the listener shares it out.
    pub source: Source,
    /// The request.
    pub request: Request,
    /// Answers (the stream finishes when the sender is dropped).
    pub reply: mpsc::Sender<Answer>,
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

/// One answer on its way to a client, with the room it holds in the [`AnswerBudget`]
/// (released when the answer was written, or dropped unwritten).
#[derive(Debug)]
pub struct Answer {
    /// The answer.
    pub response: Response,
    /// Its bytes in the answer budget, if it is charged there (Log pages).
    pub room: Option<OwnedSemaphorePermit>,
}

impl From<Response> for Answer {
    fn from(response: Response) -> Self {
        Self {
            response,
            room: None,
        }
    }
}

/// Bytes of Log pages all clients together may have on their way (read out of the store
/// and not yet written to the client). With [`CLIENT_WRITE_TIMEOUT`], what clients that
/// never read can make a node hold in answers is bounded by this, not by the number of
/// streams (2,048 streams each holding a 16 MiB page would be 33 GiB).
pub const LOG_ANSWER_BUDGET: usize = 64 * 1024 * 1024;

/// A Log request that finds no room in the [`AnswerBudget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "busy: the node's answer budget is taken by other clients' log pages; try again \
     (or ask for fewer entries)"
)]
pub struct Busy;

/// The node-wide byte budget of Log answers ([`LOG_ANSWER_BUDGET`]). Owned by the event
/// loop, which never waits for it: it takes room at once or answers [`Busy`].
#[derive(Debug, Clone)]
pub struct AnswerBudget {
    pool: Arc<Semaphore>,
}

impl AnswerBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        Self {
            pool: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.pool.available_permits()
    }

    /// How many bytes an answer of at most `cap` bytes may be read up to now (0: none).
    pub fn room(&self, cap: usize) -> usize {
        self.available().min(cap)
    }

    /// Take room for an answer of `bytes`, held until the permit is dropped; [`Busy`]
    /// when the budget has less room free.
    pub fn take(&self, bytes: usize) -> Result<OwnedSemaphorePermit, Busy> {
        let n = u32::try_from(bytes).map_err(|_| Busy)?;
        self.pool
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| Busy)
    }
}

/// Most client connections served at once; further ones are refused at once.
pub const MAX_CLIENT_CONNECTIONS: usize = 256;

/// Most concurrent request streams per client connection (QUIC flow control: the client
/// cannot open more).
pub const MAX_CLIENT_STREAMS: u32 = 8;

/// How long a request may take to arrive once its stream is open.
pub const CLIENT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the client may take to read one answer, and to acknowledge the end of the
/// stream; past it the stream is reset ([`ERR_ANSWER_NOT_TAKEN`]) and the answer dropped.
/// A Log page of up to 16.5 MiB needs about 1.7 MB/s; a client on a slower link asks for
/// fewer entries per page.
pub const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// QUIC application error code of a stream reset because the client did not take its
/// answer within [`CLIENT_WRITE_TIMEOUT`].
pub const ERR_ANSWER_NOT_TAKEN: u32 = 0x5b10;

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

/// How long [`Client::close`] waits for the connection to drain.
pub const CLIENT_CLOSE_WAIT: Duration = Duration::from_secs(1);

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
///
/// `uploaders` are the keys that may upload modules now (the event loop keeps it current):
/// a request too large to be anything but an upload ([`SMALL_REQUEST_BYTES`]) from another
/// key is refused before it takes room in the upload pool or a byte of it is read.
pub async fn serve(
    endpoint: quinn::Endpoint,
    calls: mpsc::Sender<ClientCall>,
    uploaders: Uploaders,
) {
    serve_with(
        endpoint,
        calls,
        uploaders,
        Limits {
            write_timeout: CLIENT_WRITE_TIMEOUT,
            max_connections: MAX_CLIENT_CONNECTIONS,
            eviction_pace: EVICTION_PACE,
        },
    )
    .await;
}

/// The keys that may upload modules, as the event loop last saw them.
pub type Uploaders = watch::Receiver<Arc<BTreeSet<NodeId>>>;

/// The listener's limits that tests change.
struct Limits {
    /// Answers are written within this.
    write_timeout: Duration,
    /// Connections held at once.
    max_connections: usize,
    /// At most one connection closed to make room per this.
    eviction_pace: Duration,
}

/// [`serve`] with other [`Limits`] (tests shorten or lengthen them).
async fn serve_with(
    endpoint: quinn::Endpoint,
    calls: mpsc::Sender<ClientCall>,
    uploaders: Uploaders,
    limits: Limits,
) {
    let Limits {
        write_timeout,
        max_connections,
        eviction_pace,
    } = limits;
    // Connections and small request bytes are shared out by the address clients come
    // from (`client_share.rs`): keys are free, addresses are not.
    let shares = Shares::new(max_connections, eviction_pace);
    let budget = Arc::new(Budgets {
        large: Arc::new(Semaphore::new(CLIENT_BUFFER_BUDGET)),
        small: Arc::new(Semaphore::new(CLIENT_SMALL_BUDGET)),
    });
    while let Some(incoming) = endpoint.accept().await {
        let source = Source::from(incoming.remote_address().ip());
        // A full listener makes room for a newcomer only once it has proved it holds its
        // address (a QUIC retry: one round trip): a spoofed source closes nobody's
        // connection.
        if shares.is_full() && !incoming.remote_address_validated() {
            if let Err(e) = incoming.retry() {
                e.into_incoming().refuse();
            }
            continue;
        }
        let Some(seat) = shares.admit(source) else {
            debug!(?source, "client connection refused: too many connections");
            incoming.refuse();
            continue;
        };
        let calls = calls.clone();
        let budget = budget.clone();
        let uploaders = uploaders.clone();
        tokio::spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, "client handshake failed");
                    return;
                }
            };
            seat.attach(&conn);
            let Some(client) = client_key(&conn) else {
                conn.close(1u32.into(), b"no client key");
                return;
            };
            while let Ok((send, recv)) = conn.accept_bi().await {
                let may_upload = uploaders.borrow().contains(&client);
                let pools = Pools {
                    all: budget.clone(),
                    source_small: seat.small_pool(),
                };
                tokio::spawn(handle_stream(
                    (client, source),
                    (send, recv),
                    calls.clone(),
                    (pools, may_upload),
                    write_timeout,
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

/// The pools one request draws on: the node-wide ones, and its source's share of the
/// small one ([`SOURCE_SMALL_SHARE`](super::client_share::SOURCE_SMALL_SHARE)).
struct Pools {
    all: Arc<Budgets>,
    source_small: Arc<Semaphore>,
}

/// Read one request within the byte budget and the read timeout; the room it took in the
/// pools comes with it.
async fn read_request(
    recv: &mut quinn::RecvStream,
    pools: &Pools,
    may_upload: bool,
) -> Result<Option<(Request, Room)>, String> {
    let budget = &pools.all;
    let read = async {
        let Some(len) = frame::read_prefix(recv, MAX_CLIENT_FRAME)
            .await
            .map_err(|e| format!("malformed request: {e}"))?
        else {
            return Ok(None);
        };
        let small = len <= SMALL_REQUEST_BYTES;
        if !small && !may_upload {
            // Only a module upload is this large: a key without the permission would be
            // refused it after the read, so it is refused before it holds the pool.
            return Err(format!(
                "refused: a request of {len} bytes is a module upload, and this key does \
                 not hold the module-upload permission"
            ));
        }
        // Small requests take room for the bytes that arrived, chunk by chunk, so many
        // stalled ones hold only what they sent. An upload takes room for its whole
        // announced length before a byte is read (uploads that each held part of the pool
        // while waiting for the rest could wait for each other until they time out);
        // stalled uploads can hold the upload pool, never the small one.
        // A small request first reserves its whole announced length (at most 256 KiB of
        // 2 MiB) in its source's share, so no request waits for the source's share while
        // holding room in the node's pool: requests of one source cannot hold each other
        // up.
        let first = if small {
            &pools.source_small
        } else {
            &budget.large
        };
        let mut room = vec![take(first, len).await?];
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
                room.push(take(&budget.small, n).await?);
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

/// `bytes` of room in `pool`, waiting for it (the caller bounds the wait).
async fn take(pool: &Arc<Semaphore>, bytes: usize) -> Result<OwnedSemaphorePermit, String> {
    pool.clone()
        .acquire_many_owned(u32::try_from(bytes).unwrap_or(u32::MAX))
        .await
        .map_err(|_| "the node is shutting down".to_string())
}

/// Serve one request stream: read the request, hand it to the node, write its answers
/// (each within `write_timeout`, the stream reset when one is not taken), finish.
async fn handle_stream(
    (client, source): (NodeId, Source),
    (mut send, mut recv): (quinn::SendStream, quinn::RecvStream),
    calls: mpsc::Sender<ClientCall>,
    (pools, may_upload): (Pools, bool),
    write_timeout: Duration,
) {
    let (request, room) = match read_request(&mut recv, &pools, may_upload).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            // Any client can cause this as often as it likes: one line per interval.
            if let Some(left_out) = REFUSALS.allow(std::time::Instant::now()) {
                warn!(client = %client, error = %e, left_out, "client request refused (one line per 10 s; left_out: refused since the last line)");
            }
            let _ = recv.stop(frame::ERR_BAD_FRAME.into());
            if answer(&mut send, Response::Error(e).into(), write_timeout)
                .await
                .is_ok()
            {
                finish(&mut send, write_timeout).await;
            }
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel(16);
    let call = ClientCall {
        client,
        source,
        request,
        reply: tx,
        room,
    };
    if calls.send(call).await.is_err() {
        let shutting_down = Response::Error("node is shutting down".into()).into();
        if answer(&mut send, shutting_down, write_timeout)
            .await
            .is_err()
        {
            return;
        }
    }
    loop {
        // A follower waits for its operation's decision for as long as it takes, so the
        // wait also ends when the client goes away (it stops the stream, or the
        // connection closes or times out): the receiver is dropped with this task, and
        // the node drops the waiter it held (`Sender::is_closed`) instead of keeping a
        // task, a channel and a stream per follower that left.
        let next = tokio::select! {
            next = rx.recv() => next,
            gone = send.stopped() => {
                debug!(client = %client, ?gone, "client stopped the stream or left");
                return;
            }
        };
        let Some(next) = next else { break };
        if let Err(e) = answer(&mut send, next, write_timeout).await {
            debug!(client = %client, error = %e, "answer not written: stream reset");
            return;
        }
    }
    finish(&mut send, write_timeout).await;
}

/// Write one answer within `timeout`; on any failure the stream is reset (so QUIC drops
/// what it still buffers for it). The answer's room in the [`AnswerBudget`] is released
/// when this returns, written or not.
async fn answer(
    send: &mut quinn::SendStream,
    answer: Answer,
    timeout: Duration,
) -> Result<(), ClientError> {
    let Answer { response, room } = answer;
    let written = async {
        let bytes = frame::encode(&response, MAX_CLIENT_FRAME)?;
        // Only the encoding is held while the client reads.
        drop(response);
        match tokio::time::timeout(timeout, send.write_all(&bytes)).await {
            Ok(done) => done.map_err(|e| ClientError::Stream(e.to_string())),
            Err(_) => Err(ClientError::NotTaken(timeout)),
        }
    }
    .await;
    if written.is_err() {
        let _ = send.reset(ERR_ANSWER_NOT_TAKEN.into());
    }
    drop(room);
    written
}

/// Finish the stream and let the client read its end, for at most `timeout` (then reset).
async fn finish(send: &mut quinn::SendStream, timeout: Duration) {
    let _ = send.finish();
    if tokio::time::timeout(timeout, send.stopped()).await.is_err() {
        let _ = send.reset(ERR_ANSWER_NOT_TAKEN.into());
    }
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
        Self::connect_from(None, addr, node, key).await
    }

    /// [`Client::connect`] from the local address `source` (any, if `None`).
    async fn connect_from(
        source: Option<std::net::IpAddr>,
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
        let bind: SocketAddr = match source {
            Some(ip) => SocketAddr::new(ip, 0),
            None if addr.is_ipv4() => SocketAddr::from(([0, 0, 0, 0], 0)),
            None => SocketAddr::from(([0u16; 8], 0)),
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

    /// Send `request` and return its first answer with the stream of the rest, the
    /// request sent again every 250 ms while the first answer is busy (the node's answer
    /// budget or its pace of reads for clients, [`super::client_reads`]), for at most
    /// [`BUSY_RETRY`]. For requests that may be repeated: reads, and submissions (a
    /// signed operation is taken once whatever the number of times it is sent).
    pub async fn call_patient(
        &self,
        request: &Request,
    ) -> Result<(Response, Answers), ClientError> {
        let start = std::time::Instant::now();
        loop {
            let mut answers = self.call(request).await?;
            let first = answers.next().await?.ok_or_else(|| {
                ClientError::Stream("the node closed the stream without answering".into())
            })?;
            match first {
                Response::Error(e) if e.starts_with("busy") && start.elapsed() < BUSY_RETRY => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                first => return Ok((first, answers)),
            }
        }
    }

    /// One page of the decided log from slot `from` (at most `limit` entries; empty past
    /// the end), asked again while the node answers busy ([`Client::call_patient`]).
    pub async fn log(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<crate::core::consensus::DecidedEntry>, ClientError> {
        match self.call_patient(&Request::Log { from, limit }).await?.0 {
            Response::Log(entries) => Ok(entries),
            Response::Error(e) => Err(ClientError::Node(e)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Close the connection: the close is sent at once, and its retransmission waited
    /// for at most [`CLIENT_CLOSE_WAIT`] (QUIC drains for three probe timeouts, which
    /// after a slow handshake came to 9 s here; a close that is lost leaves the node to
    /// time the connection out).
    pub async fn close(self) {
        self.conn.close(0u32.into(), b"bye");
        let _ = tokio::time::timeout(CLIENT_CLOSE_WAIT, self.endpoint.wait_idle()).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// No key may upload.
    fn nobody() -> Uploaders {
        watch::channel(Arc::new(BTreeSet::new())).1
    }

    /// An answer larger than the QUIC stream window (about 1.2 MB by default), so a
    /// client that does not read stalls its write.
    const PAGE: usize = 4 * 1024 * 1024;

    /// A client listener on localhost whose "node" answers every request with one
    /// [`PAGE`]-byte answer charged to `budget`, writing within `write_timeout`.
    async fn listener(
        budget: AnswerBudget,
        write_timeout: Duration,
    ) -> Result<(SocketAddr, NodeId), Box<dyn std::error::Error>> {
        let key = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
        let identity = NodeIdentity::new(&key)?;
        let node = identity.node_id();
        let config = server_config(&identity, Arc::new(NetMetrics::default()))?;
        let endpoint = quinn::Endpoint::server(config, SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = endpoint.local_addr()?;
        let (calls_tx, mut calls) = mpsc::channel::<ClientCall>(16);
        tokio::spawn(serve_with(
            endpoint,
            calls_tx,
            nobody(),
            Limits {
                write_timeout,
                max_connections: MAX_CLIENT_CONNECTIONS,
                eviction_pace: EVICTION_PACE,
            },
        ));
        tokio::spawn(async move {
            while let Some(call) = calls.recv().await {
                let answer = match budget.take(PAGE) {
                    Ok(room) => Answer {
                        response: Response::Error("x".repeat(PAGE)),
                        room: Some(room),
                    },
                    Err(busy) => Response::Error(busy.to_string()).into(),
                };
                let _ = call.reply.try_send(answer);
            }
        });
        Ok((addr, node))
    }

    /// Wait (at most `limit`) until the budget is whole again; how long it took.
    async fn until_whole(budget: &AnswerBudget, whole: usize, limit: Duration) -> Option<Duration> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if budget.available() == whole {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// A client that never reads its answer (its flow-control window never opens) has its
    /// stream reset within the write timeout, and the answer's room returns to the budget.
    /// Without the timeout the write would wait forever and the room never return (the
    /// test fails); the control, `a_client_that_reads_gets_the_whole_answer`, shows that a
    /// reading client gets the same answer whole, so the reset is the stall's doing.
    #[tokio::test]
    async fn an_answer_never_read_is_reset_and_its_room_returned()
    -> Result<(), Box<dyn std::error::Error>> {
        let whole = 2 * PAGE;
        let budget = AnswerBudget::new(whole);
        let timeout = Duration::from_millis(500);
        let (addr, node) = listener(budget.clone(), timeout).await?;
        let client = Client::connect(addr, node, &Keypair::from_seed([12; 32])).await?;
        let mut answers = client.call(&Request::Status).await?;
        // The page is taken and stays taken while the client does not read.
        tokio::time::sleep(timeout / 2).await;
        assert_eq!(
            budget.available(),
            whole - PAGE,
            "the stalled answer holds its room"
        );
        let took = until_whole(&budget, whole, timeout * 10)
            .await
            .ok_or("the room never returned")?;
        assert!(took + timeout / 2 >= timeout, "released before the timeout");
        // What the client buffered ends in the reset (with its code), not in an answer.
        match answers.next().await {
            Err(ClientError::Frame(frame::FrameError::Io(e))) => assert!(
                e.to_string()
                    .contains(&format!("reset by peer: error {ERR_ANSWER_NOT_TAKEN}")),
                "{e}"
            ),
            other => return Err(format!("not reset: {other:?}").into()),
        }
        // The connection still serves: another request is answered (and not read).
        let _again = client.call(&Request::Status).await?;
        client.close().await;
        Ok(())
    }

    /// Control of the test above: the same answer to a client that reads arrives whole,
    /// and its room returns as well.
    #[tokio::test]
    async fn a_client_that_reads_gets_the_whole_answer() -> Result<(), Box<dyn std::error::Error>> {
        let budget = AnswerBudget::new(PAGE);
        let (addr, node) = listener(budget.clone(), Duration::from_millis(500)).await?;
        let client = Client::connect(addr, node, &Keypair::from_seed([12; 32])).await?;
        let mut answers = client.call(&Request::Status).await?;
        match answers.next().await? {
            Some(Response::Error(page)) => assert_eq!(page.len(), PAGE),
            other => return Err(format!("unexpected answer {other:?}").into()),
        }
        assert!(answers.next().await?.is_none(), "the stream finishes");
        until_whole(&budget, PAGE, Duration::from_secs(5))
            .await
            .ok_or("the room never returned")?;
        client.close().await;
        Ok(())
    }

    /// A client that follows a request whose answers never come (an operation that is
    /// never decided) and then leaves frees what the node held for it: the node's end of
    /// the answer channel reports closed. Control: a client that stays connected keeps
    /// its follower's channel open (so the closing is the leaving's doing). Before the
    /// stream task watched for the client leaving, the channel stayed open for good.
    #[tokio::test]
    async fn a_follower_that_leaves_frees_its_waiter() -> Result<(), Box<dyn std::error::Error>> {
        let (addr, node, mut calls) = silent_listener(nobody(), MAX_CLIENT_CONNECTIONS).await?;
        // The "node" keeps the reply channel of every call, as the driver keeps a
        // follower's, and answers nothing.
        let staying = Client::connect(addr, node, &Keypair::from_seed([12; 32])).await?;
        let leaving = Client::connect(addr, node, &Keypair::from_seed([13; 32])).await?;
        let mut held = Vec::new();
        let mut streams = Vec::new();
        for client in [&staying, &leaving] {
            streams.push(client.call(&Request::Status).await?);
            let call = tokio::time::timeout(Duration::from_secs(5), calls.recv())
                .await?
                .ok_or("no call")?;
            held.push(call);
        }
        let (kept, held) = (&held[0], &held[1]);
        leaving.close().await;
        let start = std::time::Instant::now();
        while !held.reply.is_closed() {
            if start.elapsed() > Duration::from_secs(5) {
                return Err("the leaving follower's channel is still open after 5 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !kept.reply.is_closed(),
            "the follower that stays still has its channel"
        );
        staying.close().await;
        Ok(())
    }

    /// A request announcing more than a small request's bytes (only a module upload is
    /// that large) from a key without the upload permission is refused at once, before it
    /// holds room in the upload pool; a key with it is read (here it stalls, so it waits).
    /// Control: the same announcement from the uploader gets no answer within a second.
    /// Before, two such prefixes from any key held the 64 MiB pool for 10 s.
    #[tokio::test]
    async fn an_upload_from_a_key_without_the_permission_is_refused_unread()
    -> Result<(), Box<dyn std::error::Error>> {
        let uploader = Keypair::from_seed([12; 32]);
        let (_keep, uploaders) = watch::channel(Arc::new(BTreeSet::from([uploader.id()])));
        let (addr, node, _calls) = silent_listener(uploaders, MAX_CLIENT_CONNECTIONS).await?;
        let announce = (32u32 << 20).to_be_bytes();
        let stranger = Client::connect(addr, node, &Keypair::from_seed([13; 32])).await?;
        let (mut send, mut answers) = stranger.open_raw().await?;
        send.write_all(&announce).await?;
        let answer = tokio::time::timeout(Duration::from_secs(5), answers.next()).await??;
        match answer {
            Some(Response::Error(e)) => assert!(e.contains("module-upload permission"), "{e}"),
            other => return Err(format!("not refused: {other:?}").into()),
        }
        let allowed = Client::connect(addr, node, &uploader).await?;
        let (mut send, mut answers) = allowed.open_raw().await?;
        send.write_all(&announce).await?;
        let waited = tokio::time::timeout(Duration::from_secs(1), answers.next()).await;
        assert!(
            waited.is_err(),
            "the uploader's stalled upload was answered: {waited:?}"
        );
        stranger.close().await;
        allowed.close().await;
        Ok(())
    }

    /// The budget: room taken, `busy` when full, released when the permit is dropped
    /// (control: after the release the same take succeeds).
    #[test]
    fn the_answer_budget_refuses_when_full_and_refills_on_release() {
        let budget = AnswerBudget::new(100);
        assert_eq!(budget.room(1_000), 100);
        assert_eq!(budget.room(40), 40);
        let a = budget.take(60).expect("room for 60");
        assert_eq!(budget.room(1_000), 40);
        assert_eq!(budget.take(41).err(), Some(Busy));
        let b = budget.take(40).expect("room for 40");
        assert_eq!(budget.room(1_000), 0);
        drop(a);
        drop(b);
        assert_eq!(budget.available(), 100);
        assert!(budget.take(100).is_ok());
        assert!(Busy.to_string().starts_with("busy:"));
    }

    /// A client listener on localhost with at most `max` connections and `uploaders`,
    /// writing within 5 s, whose "node" takes every call and answers nothing (the calls
    /// are returned to the test).
    async fn silent_listener(
        uploaders: Uploaders,
        max: usize,
    ) -> Result<(SocketAddr, NodeId, mpsc::Receiver<ClientCall>), Box<dyn std::error::Error>> {
        silent_listener_paced(uploaders, max, EVICTION_PACE).await
    }

    /// [`silent_listener`] closing at most one connection per `pace` to make room.
    async fn silent_listener_paced(
        uploaders: Uploaders,
        max: usize,
        pace: Duration,
    ) -> Result<(SocketAddr, NodeId, mpsc::Receiver<ClientCall>), Box<dyn std::error::Error>> {
        let key = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
        let identity = NodeIdentity::new(&key)?;
        let node = identity.node_id();
        let config = server_config(&identity, Arc::new(NetMetrics::default()))?;
        let endpoint = quinn::Endpoint::server(config, SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = endpoint.local_addr()?;
        let (calls_tx, calls) = mpsc::channel::<ClientCall>(1024);
        tokio::spawn(serve_with(
            endpoint,
            calls_tx,
            uploaders,
            Limits {
                write_timeout: Duration::from_secs(5),
                max_connections: max,
                eviction_pace: pace,
            },
        ));
        Ok((addr, node, calls))
    }

    fn loopback(last: u8) -> std::net::IpAddr {
        std::net::IpAddr::from([127, 0, 0, last])
    }

    /// One address holding every connection cannot keep a client from another address
    /// out: while the listener is full, the newcomer takes the largest holder's oldest
    /// connection, until both hold half; then both are refused further ones. Control:
    /// with the full listener refusing every newcomer (before), the second address's
    /// first connection is refused.
    #[tokio::test]
    async fn a_full_listener_makes_room_for_another_address()
    -> Result<(), Box<dyn std::error::Error>> {
        let (addr, node, _calls) = silent_listener(nobody(), 8).await?;
        let key = Keypair::from_seed([12; 32]);
        let mut hog = Vec::new();
        for _ in 0..8 {
            hog.push(Client::connect_from(Some(loopback(2)), addr, node, &key).await?);
        }
        let refused = Client::connect_from(Some(loopback(2)), addr, node, &key).await;
        assert!(refused.is_err(), "a ninth connection from the holder");
        let mut other = Vec::new();
        for i in 0..4 {
            // Evictions are paced: one per EVICTION_PACE.
            tokio::time::sleep(EVICTION_PACE).await;
            let c = Client::connect_from(Some(loopback(3)), addr, node, &key)
                .await
                .map_err(|e| format!("the other address's connection {i} refused: {e}"))?;
            // Served: a stream opens and its request is taken.
            other.push(c);
        }
        tokio::time::sleep(EVICTION_PACE).await;
        let fifth = Client::connect_from(Some(loopback(3)), addr, node, &key).await;
        assert!(fifth.is_err(), "both hold half: a fifth is refused");
        // Exactly four of the holder's connections were closed, as evicted.
        let start = std::time::Instant::now();
        let evicted = loop {
            let evicted = hog
                .iter()
                .filter(|c| {
                    matches!(c.conn.close_reason(),
                        Some(quinn::ConnectionError::ApplicationClosed(a))
                            if a.error_code == super::super::client_share::ERR_EVICTED.into())
                })
                .count();
            if evicted == 4 || start.elapsed() > Duration::from_secs(5) {
                break evicted;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(evicted, 4, "connections of the holder closed to make room");
        assert!(
            hog.iter()
                .filter(|c| c.conn.close_reason().is_none())
                .count()
                == 4
        );
        Ok(())
    }

    /// A source that connects and leaves in a loop cannot close another's connections
    /// faster than one per pace: a second newcomer right after an eviction is refused
    /// although the holder still has more than its share, and gets in once the pace has
    /// passed. Control: with no pace (zero), the second newcomer closes a second
    /// connection at once.
    #[tokio::test]
    async fn evictions_are_paced() -> Result<(), Box<dyn std::error::Error>> {
        let pace = Duration::from_secs(3);
        let (addr, node, _calls) = silent_listener_paced(nobody(), 8, pace).await?;
        let key = Keypair::from_seed([12; 32]);
        let mut hog = Vec::new();
        for _ in 0..8 {
            hog.push(Client::connect_from(Some(loopback(2)), addr, node, &key).await?);
        }
        let start = std::time::Instant::now();
        let _first = Client::connect_from(Some(loopback(3)), addr, node, &key).await?;
        // The listener made room before the connection could be established.
        let evicted_by = std::time::Instant::now();
        let second = Client::connect_from(Some(loopback(3)), addr, node, &key).await;
        if start.elapsed() < pace {
            assert!(second.is_err(), "a second eviction within the pace");
        }
        tokio::time::sleep(
            (evicted_by + pace).saturating_duration_since(std::time::Instant::now()),
        )
        .await;
        let third = Client::connect_from(Some(loopback(3)), addr, node, &key).await;
        assert!(third.is_ok(), "room made again once the pace has passed");
        Ok(())
    }

    /// One address sending small requests and stalling them cannot hold the whole pool of
    /// small request bytes: it holds its share, and a request from another address is
    /// read at once. Control: with a source's share as large as the pool (before), the
    /// staller's 80 requests of 250 KiB fill the 16 MiB pool (all but about 2 KiB) and
    /// the other request of 64 KiB waits.
    #[tokio::test]
    async fn one_address_holds_at_most_its_share_of_small_request_bytes()
    -> Result<(), Box<dyn std::error::Error>> {
        let (addr, node, _calls) = silent_listener(nobody(), MAX_CLIENT_CONNECTIONS).await?;
        let key = Keypair::from_seed([12; 32]);
        let mut stallers = Vec::new();
        for _ in 0..10 {
            let c = Arc::new(Client::connect_from(Some(loopback(2)), addr, node, &key).await?);
            for _ in 0..MAX_CLIENT_STREAMS {
                let c = Arc::clone(&c);
                stallers.push(tokio::spawn(async move {
                    let Ok((mut send, answers)) = c.open_raw().await else {
                        return;
                    };
                    // Announce a small request's largest size, send all but a little.
                    let _ = send
                        .write_all(
                            &u32::try_from(SMALL_REQUEST_BYTES)
                                .unwrap_or(0)
                                .to_be_bytes(),
                        )
                        .await;
                    let _ = send.write_all(&vec![0u8; 250 * 1024]).await;
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    drop(answers);
                }));
            }
        }
        // Let the stallers' bytes arrive.
        tokio::time::sleep(Duration::from_secs(5)).await;
        // 64 KiB from another address (not a request: it is answered as malformed once
        // its bytes were read, which needs room for them).
        let other = Client::connect_from(Some(loopback(3)), addr, node, &key).await?;
        let (mut send, mut answers) = other.open_raw().await?;
        send.write_all(&(64u32 * 1024).to_be_bytes()).await?;
        send.write_all(&[0xff; 64 * 1024]).await?;
        let taken = tokio::time::timeout(Duration::from_secs(3), answers.next()).await;
        for s in stallers {
            s.abort();
        }
        match taken {
            Ok(Ok(Some(Response::Error(e)))) => assert!(e.contains("malformed"), "{e}"),
            other => {
                return Err(format!(
                    "the other address's request was not read while one address stalled: \
                     {other:?}"
                )
                .into());
            }
        }
        Ok(())
    }

    /// Requests of one source, sent together and adding up to twice its share of small
    /// request bytes, are all read: each reserves its whole length in the share before
    /// reading, so the ones that got room finish and give it back to the others. Control:
    /// with room taken from the share chunk by chunk (before), the 16 requests each hold
    /// part of the share, none finishes, and all wait until the read timeout.
    #[tokio::test]
    async fn requests_of_one_source_do_not_hold_each_other_up()
    -> Result<(), Box<dyn std::error::Error>> {
        let (addr, node, _calls) = silent_listener(nobody(), 8).await?;
        let key = Keypair::from_seed([12; 32]);
        let len = 250 * 1024;
        let count = 2 * super::super::client_share::SOURCE_SMALL_SHARE / len + 1;
        let mut conns = Vec::new();
        let mut requests = Vec::new();
        for i in 0..count {
            if i % MAX_CLIENT_STREAMS as usize == 0 {
                conns.push(Arc::new(
                    Client::connect_from(Some(loopback(2)), addr, node, &key).await?,
                ));
            }
            let c = Arc::clone(conns.last().ok_or("no connection")?);
            requests.push(tokio::spawn(async move {
                // Not a request: answered as malformed once all its bytes were read.
                let (mut send, mut answers) = c.open_raw().await.map_err(|e| e.to_string())?;
                send.write_all(&u32::try_from(len).unwrap_or(0).to_be_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                send.write_all(&vec![0xff; len])
                    .await
                    .map_err(|e| e.to_string())?;
                match answers.next().await {
                    Ok(Some(Response::Error(e))) if e.contains("malformed") => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }));
        }
        let all = async {
            let mut answered = Vec::new();
            for r in requests {
                answered.push(r.await);
            }
            answered
        };
        let answered = tokio::time::timeout(CLIENT_READ_TIMEOUT / 2, all)
            .await
            .map_err(|_| "requests of one source held each other up")?;
        for a in answered {
            a?.map_err(|e| format!("a request was not read: {e}"))?;
        }
        Ok(())
    }

    /// `call_patient` sends the request again while the node answers busy, and hands
    /// back the first answer that is not busy; any other error is not asked again.
    /// Control: a plain `call` returns the first busy answer.
    #[tokio::test]
    async fn a_patient_call_asks_again_while_the_node_is_busy()
    -> Result<(), Box<dyn std::error::Error>> {
        let (addr, node, mut calls) = silent_listener(nobody(), 8).await?;
        // The "node": busy twice, then an answer; then an error that is not busy.
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&asked);
        tokio::spawn(async move {
            while let Some(call) = calls.recv().await {
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let response = match n {
                    0 | 1 | 3 => Response::Error("busy: the node reads too much".into()),
                    2 => Response::Log(Vec::new()),
                    _ => Response::Error("refused".into()),
                };
                let _ = call.reply.send(response.into()).await;
            }
        });
        let client = Client::connect(addr, node, &Keypair::from_seed([12; 32])).await?;
        let entries = client.log(0, 10).await?;
        assert!(entries.is_empty());
        assert_eq!(
            asked.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "asked three times"
        );
        // The control: a plain call takes the busy answer as it comes.
        let mut answers = client.call(&Request::Status).await?;
        let first = answers.next().await?;
        assert!(matches!(first, Some(Response::Error(e)) if e.starts_with("busy")));
        // Not busy: answered at once, not asked again.
        let (first, _) = client.call_patient(&Request::Status).await?;
        assert!(matches!(first, Response::Error(e) if e == "refused"));
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 5);
        Ok(())
    }
}
