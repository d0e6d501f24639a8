//! Transport counters, updated lock-free and read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use super::frame::Rejection;

/// Atomic counters of a transport. Shared by all its tasks and the TLS verifiers.
#[derive(Debug, Default)]
pub struct NetMetrics {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    rejected_oversized: AtomicU64,
    rejected_truncated: AtomicU64,
    rejected_undecodable: AtomicU64,
    rejected_non_member: AtomicU64,
    handshake_refusals: AtomicU64,
    connections: AtomicU64,
    reconnects: AtomicU64,
    dropped_queue_full: AtomicU64,
    refused_by_peer: AtomicU64,
    connections_reset: AtomicU64,
    /// Bytes charged to frames read and not yet taken by the node (a gauge).
    incoming_held: AtomicU64,
    /// The pace of the "refused a TLS peer" warning (anyone reaching the port).
    pub(crate) refusal_warnings: super::log_pace::LogPace,
    /// The pace of the "bad frame" warning (any member).
    pub(crate) bad_frame_warnings: super::log_pace::LogPace,
    /// The pace of the "peer stopped our stream" warning (any member).
    pub(crate) stopped_warnings: super::log_pace::LogPace,
}

/// A point-in-time copy of [`NetMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetMetricsSnapshot {
    /// Frames received and decoded.
    pub frames_in: u64,
    /// Frames written to a stream.
    pub frames_out: u64,
    /// Frame bytes (prefix included) received and decoded.
    pub bytes_in: u64,
    /// Frame bytes (prefix included) written.
    pub bytes_out: u64,
    /// Frames refused because the length prefix exceeded the bound.
    pub rejected_oversized: u64,
    /// Frames refused because the stream ended inside them.
    pub rejected_truncated: u64,
    /// Frames refused because the body did not decode.
    pub rejected_undecodable: u64,
    /// Decoded frames dropped because their sender left the membership.
    pub rejected_non_member: u64,
    /// TLS handshakes refused by this node's verifiers (non-member, wrong key, not ed25519).
    pub handshake_refusals: u64,
    /// Outgoing connections established (first connections and reconnections).
    pub connections: u64,
    /// Outgoing connections re-established after a loss.
    pub reconnects: u64,
    /// Queued frames dropped because a peer's queue was full (drop-oldest policy).
    pub dropped_queue_full: u64,
    /// Outgoing streams the peer stopped (it refused a frame of ours); the frame being
    /// written is dropped.
    pub refused_by_peer: u64,
    /// Outgoing connections ended by a QUIC stateless reset, i.e. the peer restarted and
    /// its new incarnation disowned the old connection (detected at once, not after the
    /// idle timeout, because the reset key is derived from the node key).
    pub connections_reset: u64,
}

impl NetMetricsSnapshot {
    /// All frames refused for any reason.
    pub fn rejected_frames(&self) -> u64 {
        self.rejected_oversized + self.rejected_truncated + self.rejected_undecodable
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl NetMetrics {
    /// Bytes charged to frames read from peers and not yet taken by the node (each frame
    /// is charged for its body and its decoded form: `reader::charge_of`).
    pub fn incoming_held(&self) -> u64 {
        self.incoming_held.load(Ordering::Relaxed)
    }

    pub(super) fn hold(&self, bytes: u64) {
        bump(&self.incoming_held, bytes);
    }

    pub(super) fn release(&self, bytes: u64) {
        self.incoming_held.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> NetMetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetMetricsSnapshot {
            frames_in: get(&self.frames_in),
            frames_out: get(&self.frames_out),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            rejected_oversized: get(&self.rejected_oversized),
            rejected_truncated: get(&self.rejected_truncated),
            rejected_undecodable: get(&self.rejected_undecodable),
            rejected_non_member: get(&self.rejected_non_member),
            handshake_refusals: get(&self.handshake_refusals),
            connections: get(&self.connections),
            reconnects: get(&self.reconnects),
            dropped_queue_full: get(&self.dropped_queue_full),
            refused_by_peer: get(&self.refused_by_peer),
            connections_reset: get(&self.connections_reset),
        }
    }

    pub(crate) fn frame_in(&self, bytes: usize) {
        bump(&self.frames_in, 1);
        bump(&self.bytes_in, bytes as u64);
    }

    pub(crate) fn frame_out(&self, bytes: usize) {
        bump(&self.frames_out, 1);
        bump(&self.bytes_out, bytes as u64);
    }

    pub(crate) fn rejected(&self, why: Rejection) {
        bump(
            match why {
                Rejection::Oversized => &self.rejected_oversized,
                Rejection::Truncated => &self.rejected_truncated,
                Rejection::Undecodable => &self.rejected_undecodable,
            },
            1,
        );
    }

    pub(crate) fn non_member(&self) {
        bump(&self.rejected_non_member, 1);
    }

    pub(crate) fn handshake_refused(&self) {
        bump(&self.handshake_refusals, 1);
    }

    pub(crate) fn connected(&self, reconnect: bool) {
        bump(&self.connections, 1);
        if reconnect {
            bump(&self.reconnects, 1);
        }
    }

    pub(crate) fn refused_by_peer(&self) {
        bump(&self.refused_by_peer, 1);
    }

    pub(crate) fn connection_reset(&self) {
        bump(&self.connections_reset, 1);
    }

    pub(crate) fn dropped(&self, frames: u64) {
        bump(&self.dropped_queue_full, frames);
    }
}
