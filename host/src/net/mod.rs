//! QUIC transport between Spore nodes: mutually authenticated, membership-gated, framed.
//!
//! # Design
//! - One quinn [`quinn::Endpoint`] per node serves as server and client on one UDP socket.
//! - Mutual TLS 1.3. Each node's self-signed certificate carries its ed25519 node key
//!   itself ([`NodeIdentity`]); the verifiers in [`tls`] accept only ed25519 certificates
//!   whose key is in the *current* [`Membership`], and when dialling only the exact key of
//!   the peer being dialled. Handshake signatures are really verified
//!   (`rustls::crypto::verify_tls13_signature`), so holding the private key is proven.
//! - Traffic flows one way per connection: a node writes only on the connections it
//!   dialled (one unidirectional stream at a time per peer) and reads only on the
//!   connections it accepted. No tie-breaking between simultaneous dials is needed.
//! - Frames ([`frame`]): big-endian `u32` body length, then a postcard body, bounded by
//!   [`TransportConfig::max_frame_bytes`]. A malformed, oversized or undecodable frame
//!   closes that stream (`STOP_SENDING` with [`frame::ERR_BAD_FRAME`]), is counted in
//!   [`NetMetrics`], and the node keeps going.
//! - Outgoing queues are bounded per peer. [`QuicTransport::send`] never waits: when a
//!   peer's queue is full the *oldest* frame is dropped (and counted). That suits consensus
//!   traffic, which is retransmitted by the protocol anyway, and keeps one slow or dead
//!   peer from stalling the node. [`QuicTransport::send_wait`] instead waits for room
//!   (backpressure) for traffic that must not be dropped, e.g. module blobs or state sync.
//! - Lost connections are redialled with exponential backoff, without jitter, capped at
//!   [`TransportConfig::backoff_max`]; a frame whose write failed is retried first on the
//!   new connection.
//! - The stateless-reset key is derived from the node key, and connection ids are not tied
//!   to a per-process key (`cid`), so a restarted node resets the connections its previous
//!   incarnation held and peers redial at once instead of waiting for the idle timeout.
//!
//! # Layout
//! - [`config`]: tunables with defaults; [`error`]: [`NetError`]; [`frame`]: codec;
//!   [`identity`]: node key -> certificate; [`membership`]: the shared member set;
//!   [`metrics`]: atomic counters; `queue`: the per-peer outgoing queue; [`tls`]: the
//!   verifiers and rustls/quinn configs; [`endpoint`]: [`QuicTransport`], the endpoint
//!   and its membership bookkeeping; `writer`: the per-peer writer task; `reader`: the
//!   accept loop and stream readers; [`transport`]: the [`Transport`] trait.

mod cid;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod identity;
pub(crate) mod log_pace;
pub mod membership;
pub mod metrics;
mod queue;
mod reader;
pub mod tls;
pub mod transport;
mod writer;

pub use config::TransportConfig;
pub use endpoint::QuicTransport;
pub use error::NetError;
pub use frame::FrameError;
pub use identity::NodeIdentity;
pub use membership::Membership;
pub use metrics::{NetMetrics, NetMetricsSnapshot};
pub use transport::Transport;
