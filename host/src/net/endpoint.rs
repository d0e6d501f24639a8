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
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use super::cid::NodeCids;
use super::config::TransportConfig;
use super::error::NetError;
use super::frame;
use super::identity::NodeIdentity;
use super::membership::Membership;
use super::metrics::NetMetrics;
use super::queue::PeerQueue;
use super::reader::{Arrival, MAX_BUDGET, accept_loop, charge_of};
use super::tls::{self, SERVER_NAME};
use super::transport::Transport;
use super::writer::{PeerLink, run_peer};
use crate::core::types::NodeId;

/// QUIC application error code: closing because the transport shuts down.
pub const ERR_SHUTDOWN: u32 = 0;
/// QUIC application error code: closing because the peer left the membership.
pub const ERR_NOT_MEMBER: u32 = 0x5b02;
/// QUIC application error code: closing an older connection of a peer that opened too many.
pub const ERR_REPLACED: u32 = 0x5b03;

/// Kernel buffer asked for the node's UDP socket, each way. With Linux's default of
/// 208 KiB a frame of a few hundred KiB (a tally, a catch-up response) overflows the
/// receiving socket on loopback: datagrams are dropped (`RcvbufErrors`), QUIC halves its
/// window and retransmits, and 3 MiB took 0.4 s (measured). The kernel caps the request
/// at `net.core.rmem_max` / `wmem_max`; a smaller buffer still works, with more drops.
pub const SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// The node's UDP socket on `listen`, with [`SOCKET_BUFFER_BYTES`] of kernel buffer asked
/// for each way (best effort).
fn udp_socket(listen: SocketAddr) -> Result<std::net::UdpSocket, NetError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .map_err(NetError::Bind)?;
    if let Err(e) = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
        debug!(error = %e, "could not enlarge the UDP receive buffer");
    }
    if let Err(e) = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES) {
        debug!(error = %e, "could not enlarge the UDP send buffer");
    }
    socket.bind(&listen.into()).map_err(NetError::Bind)?;
    Ok(socket.into())
}

/// Accepted connections kept per peer (each peer normally holds exactly one).
pub const MAX_INBOUND_PER_PEER: usize = 4;

/// The outgoing side of one member, as seen by [`QuicTransport::peers`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerStatus {
    /// The member.
    pub id: NodeId,
    /// Where it is dialled.
    pub addr: SocketAddr,
    /// Whether the writer currently holds a connection to it.
    pub connected: bool,
    /// Frames waiting in its queue.
    pub queued: usize,
}

/// A node's QUIC transport for messages of type `M`.
pub struct QuicTransport<M> {
    shared: Arc<Shared>,
    incoming: mpsc::Receiver<Arrival<M>>,
}

/// State shared by the transport handle and its tasks.
pub(super) struct Shared {
    pub(super) identity: NodeIdentity,
    pub(super) config: TransportConfig,
    pub(super) endpoint: quinn::Endpoint,
    pub(super) membership: Membership,
    pub(super) metrics: Arc<NetMetrics>,
    pub(super) runtime: tokio::runtime::Handle,
    peers: Mutex<HashMap<NodeId, Peer>>,
    inbound: Mutex<HashMap<NodeId, Vec<quinn::Connection>>>,
    /// Each member's byte budget for frames read and not yet taken (`reader.rs`).
    incoming_budgets: Mutex<HashMap<NodeId, Arc<Semaphore>>>,
    pub(super) shutdown: watch::Sender<bool>,
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
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
        let mut endpoint_config = quinn::EndpointConfig::new(Arc::new(reset_key));
        let cid_seed = *identity.reset_seed();
        endpoint_config.cid_generator(move || Box::new(NodeCids::new(cid_seed)));
        let socket = udp_socket(listen)?;
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
            incoming_budgets: Mutex::new(HashMap::new()),
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

    /// The outgoing side of every member but this node, ordered by id.
    pub fn peers(&self) -> Vec<PeerStatus> {
        let mut peers: Vec<PeerStatus> = lock(&self.shared.peers)
            .iter()
            .map(|(id, p)| PeerStatus {
                id: *id,
                addr: p.addr,
                connected: p.connected.load(Ordering::Acquire),
                queued: p.queue.len(),
            })
            .collect();
        peers.sort_by_key(|p| p.id);
        peers
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
        let frame = self.encode(msg)?;
        self.send_frame(to, frame)
    }

    /// `msg` as the frame [`Self::send_frame`] and [`Self::broadcast_frame`] take (for a
    /// caller that holds a message before sending it and must know its size).
    pub fn encode(&self, msg: &M) -> Result<Bytes, NetError> {
        Ok(frame::encode(msg, self.shared.config.max_frame_bytes)?)
    }

    /// [`Self::send`] of a frame from [`Self::encode`].
    pub fn send_frame(&self, to: NodeId, frame: Bytes) -> Result<(), NetError> {
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
        let frame = self.encode(msg)?;
        self.broadcast_frame(frame)
    }

    /// [`Self::broadcast`] of a frame from [`Self::encode`].
    pub fn broadcast_frame(&self, frame: Bytes) -> Result<(), NetError> {
        let queues: Vec<Arc<PeerQueue>> = lock(&self.shared.peers)
            .values()
            .map(|p| p.queue.clone())
            .collect();
        for queue in queues {
            self.shared.push(&queue, frame.clone())?;
        }
        Ok(())
    }

    /// The next message from a member; `None` after shutdown. Taking it gives its bytes
    /// back to the sender's budget.
    pub async fn recv(&mut self) -> Option<(NodeId, M)> {
        self.incoming.recv().await.map(|a| (a.from, a.msg))
    }

    /// A message that has already arrived, if any (never waits), with the bytes it was
    /// charged (so a caller taking several can bound what it holds).
    pub fn try_recv(&mut self) -> Option<(NodeId, M, usize)> {
        self.incoming
            .try_recv()
            .ok()
            .map(|a| (a.from, a.msg, a.charge.bytes))
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
        QuicTransport::recv(self)
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
            let queue = Arc::new(PeerQueue::new(
                self.config.queue_capacity,
                self.config.queue_bytes,
            ));
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
        drop(inbound);
        // A member that left has had its connections closed above; its readers end and
        // release what they hold, so its budget can go (a later return starts afresh).
        lock(&self.incoming_budgets).retain(|id, _| members.contains_key(id));
    }

    /// `peer`'s byte budget for frames read and not yet taken (made on first use; only
    /// members reach the readers, and [`Self::reconcile`] drops the budgets of members that
    /// left, so the map holds the current members and at most the few whose handshake
    /// raced a membership change, until the next one).
    pub(super) fn incoming_budget(&self, peer: &NodeId) -> Arc<Semaphore> {
        let bytes = self
            .config
            .incoming_bytes_per_peer
            .max(charge_of(self.config.max_frame_bytes as usize))
            .min(MAX_BUDGET)
            .min(Semaphore::MAX_PERMITS);
        lock(&self.incoming_budgets)
            .entry(*peer)
            .or_insert_with(|| Arc::new(Semaphore::new(bytes)))
            .clone()
    }

    /// Tracks an accepted connection; beyond [`MAX_INBOUND_PER_PEER`] the oldest ones are
    /// closed (a restarted peer's new connection replaces the stale one).
    pub(super) fn register_inbound(&self, peer: NodeId, conn: quinn::Connection) {
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

    pub(super) fn unregister_inbound(&self, peer: &NodeId, stable_id: usize) {
        let mut inbound = lock(&self.inbound);
        if let Some(conns) = inbound.get_mut(peer) {
            conns.retain(|c| c.stable_id() != stable_id);
            if conns.is_empty() {
                inbound.remove(peer);
            }
        }
    }

    pub(super) async fn dial(
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

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    /// A member that leaves takes its incoming byte budget with it, so members coming and
    /// going cannot grow the map (control: without the prune in `reconcile`, both stay).
    #[tokio::test]
    async fn a_leaving_member_takes_its_byte_budget_with_it() -> Result<(), NetError> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let ids: Vec<NodeId> = (1..=3u8)
            .map(|seed| Ok(NodeIdentity::new(&SigningKey::from_bytes(&[seed; 32]))?.node_id()))
            .collect::<Result<_, NetError>>()?;
        let me = NodeIdentity::new(&SigningKey::from_bytes(&[9; 32]))?;
        let t: QuicTransport<Vec<u8>> = QuicTransport::bind(
            me,
            any,
            ids.iter().map(|id| (*id, any)),
            TransportConfig::default(),
        )?;
        for id in &ids {
            t.shared.incoming_budget(id);
        }
        assert_eq!(lock(&t.shared.incoming_budgets).len(), 3);
        t.update_membership(ids[..1].iter().map(|id| (*id, any)));
        let kept: Vec<NodeId> = lock(&t.shared.incoming_budgets).keys().copied().collect();
        assert_eq!(kept, vec![ids[0]]);
        Ok(())
    }

    /// The socket gets the larger buffer where the kernel allows it (the control is the
    /// kernel's default, 208 KiB on Linux, which a plain bind keeps).
    #[test]
    fn the_udp_socket_asks_for_a_large_buffer() -> Result<(), NetError> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let ours = socket2::SockRef::from(&udp_socket(any)?)
            .recv_buffer_size()
            .map_err(NetError::Bind)?;
        let plain_socket = std::net::UdpSocket::bind(any).map_err(NetError::Bind)?;
        let plain = socket2::SockRef::from(&plain_socket)
            .recv_buffer_size()
            .map_err(NetError::Bind)?;
        if max >= SOCKET_BUFFER_BYTES {
            assert!(ours >= SOCKET_BUFFER_BYTES, "got {ours}");
            assert!(plain < SOCKET_BUFFER_BYTES, "control: {plain}");
        } else {
            assert!(ours >= plain);
        }
        Ok(())
    }
}
