//! Transport tunables with documented defaults.

use std::time::Duration;

/// Tunables of a [`QuicTransport`](super::QuicTransport). `Default` gives values suited to a
/// cluster on a LAN or loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Largest accepted frame body in bytes (default 4 MiB). Larger frames are refused on
    /// both the sending and the receiving side.
    pub max_frame_bytes: u32,
    /// Frames queued per peer before the oldest is dropped (default 1024).
    pub queue_capacity: usize,
    /// Bytes queued per peer before the oldest frame is dropped (default 64 MiB): a peer
    /// that stops reading holds at most this much of the node's memory.
    pub queue_bytes: usize,
    /// Decoded messages buffered towards the node before readers wait (default 4096). A full
    /// buffer stops reading, which QUIC flow control turns into backpressure on senders.
    pub incoming_capacity: usize,
    /// Bytes one peer's frames may hold between being read and being taken by the node,
    /// each frame charged at its worst decoded size (`net::reader::charge_of`: 32 times
    /// its length). Default 128 MiB: one frame of the largest size, or about 12,000
    /// operations of 300 bytes; never less than one frame of [`Self::max_frame_bytes`] is
    /// charged.
    /// A reader waits for room before it reads a frame's body, so a member sending large
    /// frames faster than the node takes them meets backpressure instead of filling memory,
    /// and other members' frames keep flowing.
    pub incoming_bytes_per_peer: usize,
    /// First reconnect delay (default 50 ms); doubles on each failed attempt.
    pub backoff_initial: Duration,
    /// Cap on the reconnect delay (default 5 s).
    pub backoff_max: Duration,
    /// Give up a dial attempt after this long (default 5 s).
    pub connect_timeout: Duration,
    /// Close a connection silent for this long (default 10 s).
    pub idle_timeout: Duration,
    /// Send keep-alives this often so idle but healthy connections stay open (default 2 s).
    pub keep_alive: Duration,
    /// Time [`QuicTransport::shutdown`](super::QuicTransport::shutdown) gives queued frames
    /// to drain before closing (default 2 s).
    pub shutdown_grace: Duration,
    /// Concurrent incoming unidirectional streams a peer may open on a connection (default 8).
    pub max_incoming_streams: u32,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 4 * 1024 * 1024,
            queue_capacity: 1024,
            queue_bytes: 64 * 1024 * 1024,
            incoming_capacity: 4096,
            incoming_bytes_per_peer: 128 * 1024 * 1024,
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(2),
            max_incoming_streams: 8,
        }
    }
}

impl TransportConfig {
    /// Delay before reconnect attempt number `attempt` (0-based): `backoff_initial * 2^attempt`,
    /// capped at `backoff_max`. Deterministic: no jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.backoff_initial
            .checked_mul(factor)
            .map_or(self.backoff_max, |d| d.min(self.backoff_max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let c = TransportConfig::default();
        assert_eq!(c.backoff(0), Duration::from_millis(50));
        assert_eq!(c.backoff(1), Duration::from_millis(100));
        assert_eq!(c.backoff(4), Duration::from_millis(800));
        assert_eq!(c.backoff(7), Duration::from_secs(5));
        assert_eq!(c.backoff(u32::MAX), Duration::from_secs(5));
    }
}
