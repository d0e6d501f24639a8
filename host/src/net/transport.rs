//! The interface the node uses to talk to its peers.
//!
//! # Design
//! The simulator in `spore_core::sim::network` is a link model (it decides arrival times
//! for an event queue) rather than a send/receive object, so the two cannot share one
//! trait with the simulator; this trait is what the node's event loop needs, kept minimal:
//! fire-and-forget sends that never block the loop, and one stream of authenticated
//! incoming messages. [`QuicTransport`](super::QuicTransport) implements it over QUIC; an
//! in-process channel transport for tests can implement it in a few lines.

use std::future::Future;

use crate::core::types::NodeId;

/// A message transport between authenticated nodes.
pub trait Transport<M> {
    /// Why a send was refused.
    type Error: std::error::Error + Send + Sync + 'static;

    /// This node's id.
    fn local_id(&self) -> NodeId;

    /// Queues `msg` for `to`. Never waits; delivery is best-effort (the protocol
    /// retransmits what matters).
    fn send(&self, to: NodeId, msg: &M) -> Result<(), Self::Error>;

    /// Queues `msg` for every current member except this node.
    fn broadcast(&self, msg: &M) -> Result<(), Self::Error>;

    /// The next message from an authenticated member; `None` once the transport is shut down.
    fn recv(&mut self) -> impl Future<Output = Option<(NodeId, M)>> + Send;
}
