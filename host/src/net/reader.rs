//! The receiving side: the accept loop, and one reader task per incoming stream.
//!
//! # Design
//! Every accepted connection has passed the membership verifier; its peer id comes from
//! the verified certificate. Each incoming unidirectional stream gets a task that decodes
//! frames into the node's bounded incoming channel (a full channel stops reading, which
//! QUIC flow control turns into backpressure on the sender). A bad frame stops that
//! stream with [`ERR_BAD_FRAME`] and is counted; the connection and the node go on.
//!
//! # Byte budget
//! Counting messages does not bound memory (4,096 frames of 4 MiB are 16 GiB), so each
//! peer has a byte budget ([`TransportConfig::incoming_bytes_per_peer`]): a reader takes
//! [`charge_of`] its frame's length (its decoded form at the worst expansion) from the
//! peer's budget after the length prefix and before reading the body, and the charge travels with the decoded message until the
//! node takes it ([`Arrival`]). A member sending large frames faster than the node takes
//! them waits for its own budget (QUIC flow control stops it), while other members'
//! frames keep flowing. A reader also lets go of a large read buffer after each frame.
//!
//! [`TransportConfig::incoming_bytes_per_peer`]: super::TransportConfig::incoming_bytes_per_peer

use std::sync::Arc;

use quinn::VarInt;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::{debug, warn};

use super::endpoint::{ERR_NOT_MEMBER, Shared};
use super::frame::{self, ERR_BAD_FRAME, LEN_PREFIX};
use super::identity::node_id_from_certificate;
use super::metrics::NetMetrics;
use crate::core::types::NodeId;

/// The largest budget a peer may have (a semaphore takes at most `u32::MAX` permits at
/// once; a frame is charged at most this).
pub const MAX_BUDGET: usize = u32::MAX as usize;

/// Read buffers larger than this are released after their frame, not kept for the next.
const KEEP_BUFFER: usize = 64 * 1024;

/// How many times its encoded size a decoded message may take in memory, at most: an
/// empty vector or string is one byte on the wire and 24 in memory, an outcome or a
/// parameter two bytes and about 32, so 32 covers every message type, allocator rounding
/// included.
pub const DECODED_EXPANSION: usize = 32;

/// What a frame of `len` body bytes is charged while it is read, decoded and waits for
/// the node: its decoded form at the worst expansion, and a little for the rest. Honest
/// traffic is mostly small frames (an operation, a vote) and rarely more than one large
/// one (a tally, a catch-up response) per peer at a time.
pub fn charge_of(len: usize) -> usize {
    len.saturating_mul(DECODED_EXPANSION).saturating_add(1024)
}

/// A decoded message from a member, with the share of the member's byte budget it holds
/// until the node takes it.
pub(super) struct Arrival<M> {
    pub from: NodeId,
    pub msg: M,
    pub charge: Charge,
}

/// Bytes of a peer's budget held by one frame; given back when dropped.
pub(super) struct Charge {
    _permit: OwnedSemaphorePermit,
    pub bytes: usize,
    metrics: Arc<NetMetrics>,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.metrics.release(self.bytes as u64);
    }
}

/// Take `charge_of(len)` from `budget` (at most [`MAX_BUDGET`]), waiting for room.
async fn charge(budget: &Arc<Semaphore>, len: usize, metrics: &Arc<NetMetrics>) -> Option<Charge> {
    let bytes = charge_of(len).min(MAX_BUDGET);
    let permits = u32::try_from(bytes).ok()?;
    let permit = budget.clone().acquire_many_owned(permits).await.ok()?;
    metrics.hold(bytes as u64);
    Some(Charge {
        _permit: permit,
        bytes,
        metrics: metrics.clone(),
    })
}

/// Accepts incoming connections until shutdown.
pub(super) async fn accept_loop<M>(shared: Arc<Shared>, tx: mpsc::Sender<Arrival<M>>)
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
    tx: mpsc::Sender<Arrival<M>>,
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
    tx: mpsc::Sender<Arrival<M>>,
) where
    M: DeserializeOwned + Send + 'static,
{
    let max = shared.config.max_frame_bytes;
    let budget = shared.incoming_budget(&peer);
    let mut buf = Vec::new();
    loop {
        let body = async {
            let Some(len) = frame::read_prefix(&mut recv, max).await? else {
                return Ok(None);
            };
            let Some(charge) = charge(&budget, len, &shared.metrics).await else {
                return Ok(None);
            };
            let msg = frame::read_body::<_, M>(&mut recv, len, &mut buf).await?;
            Ok(msg.map(|m| (m, charge)))
        };
        let read: Result<Option<(M, Charge)>, frame::FrameError> = body.await;
        let frame_len = buf.len() + LEN_PREFIX;
        if buf.capacity() > KEEP_BUFFER {
            buf = Vec::new();
        }
        match read {
            Ok(Some((msg, charge))) => {
                if !shared.membership.contains(&peer) {
                    shared.metrics.non_member();
                    let _ = recv.stop(VarInt::from_u32(ERR_NOT_MEMBER));
                    return;
                }
                shared.metrics.frame_in(frame_len);
                let arrival = Arrival {
                    from: peer,
                    msg,
                    charge,
                };
                if tx.send(arrival).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                match e.rejection() {
                    Some(why) => {
                        shared.metrics.rejected(why);
                        if let Some(left_out) = shared
                            .metrics
                            .bad_frame_warnings
                            .allow(std::time::Instant::now())
                        {
                            warn!(%peer, error = %e, left_out, "bad frame; closing the stream (one line per 10 s; left_out: bad frames since the last line)");
                        }
                        let _ = recv.stop(VarInt::from_u32(ERR_BAD_FRAME));
                    }
                    None => debug!(%peer, error = %e, "stream ended"),
                }
                return;
            }
        }
    }
}
