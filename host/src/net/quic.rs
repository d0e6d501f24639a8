//! The QUIC endpoint of a node: one socket, a writer task per peer, the accept loop and a
//! reader task per incoming stream.
//!
//! # Design
//! See the [module overview](super). Tasks hold an `Arc<Shared>`; membership updates stop
//! the writers of removed members and close their incoming connections, and start writers
//! for new members. [`QuicTransport::shutdown`] lets writers drain their queues for up to
//! [`TransportConfig::shutdown_grace`], then closes the endpoint. Dropping the transport
//! without `shutdown` stops everything at once.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use quinn::VarInt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::config::TransportConfig;
use super::error::NetError;
use super::frame::{self, ERR_BAD_FRAME, LEN_PREFIX};
use super::identity::{NodeIdentity, node_id_from_certificate};
use super::membership::Membership;
use super::metrics::NetMetrics;
use super::queue::PeerQueue;
use super::tls::{self, SERVER_NAME};
use super::transport::Transport;
use crate::core::types::NodeId;

/// QUIC application error code: closing because the transport shuts down.
pub const ERR_SHUTDOWN: u32 = 0;
/// QUIC application error code: closing because the peer left the membership.
pub const ERR_NOT_MEMBER: u32 = 0x5b02;
/// QUIC application error code: closing an older connection of a peer that opened too many.
pub const ERR_REPLACED: u32 = 0x5b03;

/// Accepted connections kept per peer (each peer normally holds exactly one).
pub const MAX_INBOUND_PER_PEER: usize = 4;

/// A node's QUIC transport for messages of type `M`.
pub struct QuicTransport<M> {
    shared: Arc<Shared>,
    incoming: mpsc::Receiver<(NodeId, M)>,
}

/// State shared by the transport handle and its tasks.
struct Shared {
    identity: NodeIdentity,
    config: TransportConfig,
    endpoint: quinn::Endpoint,
    membership: Membership,
    metrics: Arc<NetMetrics>,
    runtime: tokio::runtime::Handle,
    peers: Mutex<HashMap<NodeId, Peer>>,
    inbound: Mutex<HashMap<NodeId, Vec<quinn::Connection>>>,
    shutdown: watch::Sender<bool>,
}

/// The outgoing side of one member.
struct Peer {
    addr: SocketAddr,
    queue: Arc<PeerQueue>,
    /// Whether the writer currently holds a connection (it can drain at shutdown).
    connected: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

// Every critical section on these maps is a handful of insertions or removals that cannot
// panic halfway, so a poisoned lock still guards a consistent map.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<M> QuicTransport<M>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    /// Binds `listen` and starts connecting to `members` (this node's own entry, if
    /// present, is kept in the membership but never dialled). Must be called within a
    /// tokio runtime.
    pub fn bind(
        identity: NodeIdentity,
        listen: SocketAddr,
        members: impl IntoIterator<Item = (NodeId, SocketAddr)>,
        config: TransportConfig,
    ) -> Result<Self, NetError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| NetError::Config(format!("no tokio runtime: {e}")))?;
        let membership = Membership::default();
        let metrics = Arc::new(NetMetrics::default());
        let server = tls::server_config(&identity, membership.clone(), metrics.clone(), &config)?;
        let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, identity.reset_seed());
        let endpoint_config = quinn::EndpointConfig::new(Arc::new(reset_key));
        let socket = std::net::UdpSocket::bind(listen).map_err(NetError::Bind)?;
        let quinn_runtime = quinn::default_runtime()
            .ok_or_else(|| NetError::Config("no async runtime for quinn".into()))?;
        let endpoint = quinn::Endpoint::new(endpoint_config, Some(server), socket, quinn_runtime)
            .map_err(NetError::Bind)?;
        let (tx, incoming) = mpsc::channel(config.incoming_capacity.max(1));
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            identity,
            config,
            endpoint,
            membership,
            metrics,
            runtime,
            peers: Mutex::new(HashMap::new()),
            inbound: Mutex::new(HashMap::new()),
            shutdown,
        });
        shared.runtime.spawn(accept_loop::<M>(shared.clone(), tx));
        shared.reconcile(members.into_iter().collect());
        info!(node = %shared.identity.node_id(), addr = ?shared.endpoint.local_addr().ok(), "transport bound");
        Ok(Self { shared, incoming })
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.shared.endpoint.local_addr().map_err(NetError::Bind)
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.shared.identity.node_id()
    }

    /// The transport's counters.
    pub fn metrics(&self) -> Arc<NetMetrics> {
        self.shared.metrics.clone()
    }

    /// The current membership (read-only view; change it with [`Self::update_membership`]).
    pub fn membership(&self) -> &Membership {
        &self.shared.membership
    }

    /// Replaces the membership: removed members are disconnected at once and refused from
    /// the next handshake on; new members are dialled; members whose address changed are
    /// redialled at the new address.
    pub fn update_membership(&self, members: impl IntoIterator<Item = (NodeId, SocketAddr)>) {
        self.shared.reconcile(members.into_iter().collect());
    }

    /// Queues `msg` for `to` without waiting; if `to`'s queue is full, its oldest frame is
    /// dropped (and counted in `dropped_queue_full`).
    pub fn send(&self, to: NodeId, msg: &M) -> Result<(), NetError> {
        let frame = frame::encode(msg, self.shared.config.max_frame_bytes)?;
        let queue = self.shared.queue_of(&to)?;
        self.shared.push(&queue, frame)
    }

    /// Queues `msg` for `to`, waiting while `to`'s queue is full (backpressure). Use for
    /// traffic that must not be dropped; it waits as long as the peer is unreachable.
    pub async fn send_wait(&self, to: NodeId, msg: &M) -> Result<(), NetError> {
        let frame = frame::encode(msg, self.shared.config.max_frame_bytes)?;
        let queue = self.shared.queue_of(&to)?;
        queue.push_wait(frame).await.map_err(|_| NetError::Shutdown)
    }

    /// Queues `msg` for every member but this node (encoded once), dropping the oldest
    /// frame of any full queue.
    pub fn broadcast(&self, msg: &M) -> Result<(), NetError> {
        let frame = frame::encode(msg, self.shared.config.max_frame_bytes)?;
        let queues: Vec<Arc<PeerQueue>> = lock(&self.shared.peers)
            .values()
            .map(|p| p.queue.clone())
            .collect();
        for queue in queues {
            self.shared.push(&queue, frame.clone())?;
        }
        Ok(())
    }

    /// The next message from a member; `None` after shutdown.
    pub async fn recv(&mut self) -> Option<(NodeId, M)> {
        self.incoming.recv().await
    }

    /// Stops accepting, lets each peer's queued frames drain (up to
    /// [`TransportConfig::shutdown_grace`] in total), then closes every connection and
    /// waits (within the same bound) for the peers to acknowledge the close.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        self.incoming.close();
        let peers: Vec<Peer> = lock(&self.shared.peers).drain().map(|(_, p)| p).collect();
        for peer in &peers {
            peer.queue.close();
            // A writer without a connection has nobody to drain to: stop it now rather
            // than dialling a peer that may be gone until the grace period ends.
            if !peer.connected.load(Ordering::Acquire) {
                peer.stop.send_replace(true);
            }
        }
        let deadline = tokio::time::Instant::now() + self.shared.config.shutdown_grace;
        for peer in peers {
            let mut task = peer.task;
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                debug!("a writer did not drain in time");
                task.abort();
            }
        }
        // Refused or failed dials linger in the endpoint until their drain timer ends, so
        // waiting for idle below may use the whole grace period.
        debug!(
            open_connections = self.shared.endpoint.open_connections(),
            "writers drained; closing the endpoint"
        );
        self.shared
            .endpoint
            .close(VarInt::from_u32(ERR_SHUTDOWN), b"shutdown");
        let _ = tokio::time::timeout_at(deadline, self.shared.endpoint.wait_idle()).await;
        info!(node = %self.shared.identity.node_id(), "transport shut down");
    }
}

impl<M> Drop for QuicTransport<M> {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        for (_, peer) in lock(&self.shared.peers).drain() {
            peer.stop.send_replace(true);
            peer.queue.close();
        }
        self.shared
            .endpoint
            .close(VarInt::from_u32(ERR_SHUTDOWN), b"shutdown");
    }
}

impl<M> Transport<M> for QuicTransport<M>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    type Error = NetError;

    fn local_id(&self) -> NodeId {
        self.node_id()
    }

    fn send(&self, to: NodeId, msg: &M) -> Result<(), NetError> {
        QuicTransport::send(self, to, msg)
    }

    fn broadcast(&self, msg: &M) -> Result<(), NetError> {
        QuicTransport::broadcast(self, msg)
    }

    fn recv(&mut self) -> impl Future<Output = Option<(NodeId, M)>> + Send {
        self.incoming.recv()
    }
}

impl Shared {
    fn queue_of(&self, to: &NodeId) -> Result<Arc<PeerQueue>, NetError> {
        if *self.shutdown.borrow() {
            return Err(NetError::Shutdown);
        }
        lock(&self.peers)
            .get(to)
            .map(|p| p.queue.clone())
            .ok_or_else(|| NetError::UnknownPeer(to.to_string()))
    }

    fn push(&self, queue: &PeerQueue, frame: Bytes) -> Result<(), NetError> {
        let dropped = queue
            .push_drop_oldest(frame)
            .map_err(|_| NetError::Shutdown)?;
        if dropped > 0 {
            self.metrics.dropped(dropped);
        }
        Ok(())
    }

    /// Makes the writers and connections match `members`.
    fn reconcile(self: &Arc<Self>, members: BTreeMap<NodeId, SocketAddr>) {
        if *self.shutdown.borrow() {
            return;
        }
        let me = self.identity.node_id();
        self.membership.replace(members.clone());
        let mut peers = lock(&self.peers);
        peers.retain(|id, peer| {
            let keep = members.get(id) == Some(&peer.addr);
            if !keep {
                info!(peer = %id, "peer removed; stopping its writer");
                peer.stop.send_replace(true);
                peer.queue.close();
                self.metrics.dropped(peer.queue.clear() as u64);
            }
            keep
        });
        for (id, addr) in &members {
            if *id == me || peers.contains_key(id) {
                continue;
            }
            let queue = Arc::new(PeerQueue::new(self.config.queue_capacity));
            let (stop, stop_rx) = watch::channel(false);
            let connected = Arc::new(AtomicBool::new(false));
            let task = self.runtime.spawn(run_peer(
                self.clone(),
                PeerLink {
                    peer: *id,
                    addr: *addr,
                    queue: queue.clone(),
                    connected: connected.clone(),
                },
                stop_rx,
            ));
            peers.insert(
                *id,
                Peer {
                    addr: *addr,
                    queue,
                    connected,
                    stop,
                    task,
                },
            );
        }
        drop(peers);
        let mut inbound = lock(&self.inbound);
        inbound.retain(|id, conns| {
            let keep = members.contains_key(id);
            if !keep {
                for conn in conns.iter() {
                    conn.close(VarInt::from_u32(ERR_NOT_MEMBER), b"not a member");
                }
            }
            keep
        });
    }

    /// Tracks an accepted connection; beyond [`MAX_INBOUND_PER_PEER`] the oldest ones are
    /// closed (a restarted peer's new connection replaces the stale one).
    fn register_inbound(&self, peer: NodeId, conn: quinn::Connection) {
        let mut inbound = lock(&self.inbound);
        let conns = inbound.entry(peer).or_default();
        conns.push(conn);
        while conns.len() > MAX_INBOUND_PER_PEER {
            let oldest = conns.remove(0);
            oldest.close(
                VarInt::from_u32(ERR_REPLACED),
                b"replaced by a newer connection",
            );
        }
    }

    fn unregister_inbound(&self, peer: &NodeId, stable_id: usize) {
        let mut inbound = lock(&self.inbound);
        if let Some(conns) = inbound.get_mut(peer) {
            conns.retain(|c| c.stable_id() != stable_id);
            if conns.is_empty() {
                inbound.remove(peer);
            }
        }
    }

    async fn dial(
        &self,
        client: &quinn::ClientConfig,
        addr: SocketAddr,
    ) -> Result<quinn::Connection, String> {
        let connecting = self
            .endpoint
            .connect_with(client.clone(), addr, SERVER_NAME)
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(self.config.connect_timeout, connecting).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connect timed out".into()),
        }
    }
}

/// Where the writer goes after a stream ends.
enum Next {
    /// Open a new stream on the same connection.
    Reopen,
    /// The connection is gone: dial again.
    Redial,
    /// The peer was removed or the queue drained at shutdown.
    Exit,
}

/// What a writer task needs to know about its peer.
struct PeerLink {
    peer: NodeId,
    addr: SocketAddr,
    queue: Arc<PeerQueue>,
    connected: Arc<AtomicBool>,
}

/// The writer of one peer: dial (with backoff), then copy queued frames onto a stream.
async fn run_peer(shared: Arc<Shared>, link: PeerLink, mut stop: watch::Receiver<bool>) {
    let PeerLink {
        peer,
        addr,
        queue,
        connected,
    } = link;
    let client = match tls::client_config(
        &shared.identity,
        peer,
        shared.membership.clone(),
        shared.metrics.clone(),
        &shared.config,
    ) {
        Ok(c) => c,
        Err(e) => {
            warn!(%peer, error = %e, "cannot build the client TLS configuration");
            return;
        }
    };
    let mut attempt = 0u32;
    let mut connected_before = false;
    let mut pending: Option<Bytes> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let dialled = tokio::select! {
            r = shared.dial(&client, addr) => r,
            _ = stop.changed() => return,
        };
        let conn = match dialled {
            Ok(conn) => conn,
            Err(error) => {
                let delay = shared.config.backoff(attempt);
                attempt = attempt.saturating_add(1);
                debug!(%peer, %addr, %error, ?delay, "dial failed; backing off");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        shared.metrics.connected(connected_before);
        debug!(%peer, %addr, reconnect = connected_before, "connected");
        connected_before = true;
        connected.store(true, Ordering::Release);
        let up_since = tokio::time::Instant::now();
        loop {
            match write_stream(&shared, &conn, &queue, &mut stop, &mut pending).await {
                Next::Reopen => continue,
                Next::Redial => break,
                Next::Exit => return,
            }
        }
        connected.store(false, Ordering::Release);
        // A connection that stayed up a while was healthy: redial at once. One that died
        // young (e.g. the peer refused our certificate after the handshake) counts as a
        // failed attempt, so a refused node does not hammer its peer.
        if up_since.elapsed() >= shared.config.backoff_max {
            attempt = 0;
        } else {
            let delay = shared.config.backoff(attempt);
            attempt = attempt.saturating_add(1);
            debug!(%peer, reason = ?conn.close_reason(), ?delay, "connection lost early; backing off");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// Opens one stream on `conn` and writes frames until it fails, the connection closes,
/// the writer is stopped, or the queue is closed and drained.
async fn write_stream(
    shared: &Shared,
    conn: &quinn::Connection,
    queue: &PeerQueue,
    stop: &mut watch::Receiver<bool>,
    pending: &mut Option<Bytes>,
) -> Next {
    let mut stream = match conn.open_uni().await {
        Ok(s) => s,
        Err(_) => return Next::Redial,
    };
    // Resolves if the peer stops the stream (it refused one of our frames), so an idle
    // writer moves to a fresh stream before the next frame instead of losing it.
    let stopped = stream.stopped();
    tokio::pin!(stopped);
    loop {
        let frame = match pending.take() {
            Some(f) => f,
            None => tokio::select! {
                biased;
                _ = stop.changed() => return Next::Exit,
                f = queue.pop() => match f {
                    Some(f) => f,
                    None => {
                        // Shutdown: everything queued was written; wait for the peer's
                        // acknowledgement (bounded by the shutdown deadline).
                        if stream.finish().is_ok() {
                            let _ = stream.stopped().await;
                        }
                        return Next::Exit;
                    }
                },
                _ = conn.closed() => return Next::Redial,
                code = &mut stopped => {
                    warn!(?code, "peer stopped our stream; opening a new one");
                    shared.metrics.refused_by_peer();
                    return Next::Reopen;
                }
            },
        };
        let written = tokio::select! {
            r = stream.write_all(&frame) => r,
            _ = stop.changed() => return Next::Exit,
        };
        match written {
            Ok(()) => shared.metrics.frame_out(frame.len()),
            Err(quinn::WriteError::Stopped(code)) => {
                // The peer refused this stream (e.g. it could not decode a frame): retrying
                // the same bytes would loop, so the frame is dropped and counted.
                warn!(error_code = %code, "peer stopped our stream; dropping the frame");
                shared.metrics.refused_by_peer();
                return Next::Reopen;
            }
            Err(e) => {
                debug!(error = %e, "stream write failed; will retry the frame");
                *pending = Some(frame);
                return if conn.close_reason().is_some() {
                    Next::Redial
                } else {
                    Next::Reopen
                };
            }
        }
    }
}

/// Accepts incoming connections until shutdown.
async fn accept_loop<M>(shared: Arc<Shared>, tx: mpsc::Sender<(NodeId, M)>)
where
    M: DeserializeOwned + Send + 'static,
{
    let mut stop = shared.shutdown.subscribe();
    loop {
        let incoming = tokio::select! {
            i = shared.endpoint.accept() => i,
            _ = stop.changed() => return,
        };
        let Some(incoming) = incoming else { return };
        shared
            .runtime
            .spawn(serve_connection(shared.clone(), incoming, tx.clone()));
    }
}

/// The member behind an established connection, from its verified certificate.
fn peer_of(conn: &quinn::Connection) -> Option<NodeId> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    node_id_from_certificate(certs.first()?).ok()
}

/// Completes the handshake of an incoming connection and reads every stream it opens.
async fn serve_connection<M>(
    shared: Arc<Shared>,
    incoming: quinn::Incoming,
    tx: mpsc::Sender<(NodeId, M)>,
) where
    M: DeserializeOwned + Send + 'static,
{
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => {
            // Refusals by our verifier are counted there; this is only logged.
            debug!(error = %e, "incoming handshake failed");
            return;
        }
    };
    let Some(peer) = peer_of(&conn) else {
        conn.close(VarInt::from_u32(ERR_NOT_MEMBER), b"no identity");
        return;
    };
    shared.register_inbound(peer, conn.clone());
    debug!(%peer, "accepted connection");
    while let Ok(recv) = conn.accept_uni().await {
        shared
            .runtime
            .spawn(read_stream(shared.clone(), peer, recv, tx.clone()));
    }
    shared.unregister_inbound(&peer, conn.stable_id());
}

/// Reads frames from one stream until it ends or carries a bad frame.
async fn read_stream<M>(
    shared: Arc<Shared>,
    peer: NodeId,
    mut recv: quinn::RecvStream,
    tx: mpsc::Sender<(NodeId, M)>,
) where
    M: DeserializeOwned + Send + 'static,
{
    let max = shared.config.max_frame_bytes;
    let mut buf = Vec::new();
    loop {
        match frame::read_frame::<_, M>(&mut recv, max, &mut buf).await {
            Ok(Some(msg)) => {
                if !shared.membership.contains(&peer) {
                    shared.metrics.non_member();
                    let _ = recv.stop(VarInt::from_u32(ERR_NOT_MEMBER));
                    return;
                }
                shared.metrics.frame_in(buf.len() + LEN_PREFIX);
                if tx.send((peer, msg)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                match e.rejection() {
                    Some(why) => {
                        shared.metrics.rejected(why);
                        warn!(%peer, error = %e, "bad frame; closing the stream");
                        let _ = recv.stop(VarInt::from_u32(ERR_BAD_FRAME));
                    }
                    None => debug!(%peer, error = %e, "stream ended"),
                }
                return;
            }
        }
    }
}
