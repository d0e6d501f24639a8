//! The writer task of one peer: dial with backoff, then copy queued frames onto a stream.
//!
//! # Design
//! One task per member. It dials (exponential backoff without jitter on failure), opens a
//! unidirectional stream and writes frames popped from the peer's queue. A failed write
//! keeps its frame for the next stream or connection; a stream the peer stopped (it refused
//! a frame) is replaced by a fresh one; a connection that dies young counts as a failed
//! attempt so a refused node backs off instead of hammering its peer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::endpoint::Shared;
use super::queue::PeerQueue;
use super::tls;
use crate::core::types::NodeId;

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
pub(super) struct PeerLink {
    pub(super) peer: NodeId,
    pub(super) addr: SocketAddr,
    pub(super) queue: Arc<PeerQueue>,
    pub(super) connected: Arc<AtomicBool>,
}

/// The writer of one peer: dial (with backoff), then copy queued frames onto a stream.
pub(super) async fn run_peer(shared: Arc<Shared>, link: PeerLink, mut stop: watch::Receiver<bool>) {
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
        let reason = conn.close_reason();
        if matches!(reason, Some(quinn::ConnectionError::Reset)) {
            // The peer restarted: its new incarnation reset our stale connection.
            shared.metrics.connection_reset();
        }
        debug!(%peer, ?reason, "connection lost");
        // A connection that stayed up a while was healthy: redial at once. One that died
        // young (e.g. the peer refused our certificate after the handshake) counts as a
        // failed attempt, so a refused node does not hammer its peer.
        if up_since.elapsed() >= shared.config.backoff_max {
            attempt = 0;
        } else {
            let delay = shared.config.backoff(attempt);
            attempt = attempt.saturating_add(1);
            debug!(%peer, ?delay, "connection lost early; backing off");
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
                    if let Some(left_out) = shared.metrics.stopped_warnings.allow(std::time::Instant::now()) {
                        warn!(?code, left_out, "peer stopped our stream; opening a new one (one line per 10 s; left_out: stopped since the last line)");
                    }
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
                if let Some(left_out) = shared
                    .metrics
                    .stopped_warnings
                    .allow(std::time::Instant::now())
                {
                    warn!(error_code = %code, left_out, "peer stopped our stream; dropping the frame (one line per 10 s; left_out: stopped since the last line)");
                }
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
