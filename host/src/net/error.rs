//! Errors of the transport layer.

use super::frame::FrameError;

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The UDP socket could not be bound or the endpoint could not be created.
    #[error("cannot bind the QUIC endpoint: {0}")]
    Bind(#[source] std::io::Error),
    /// The node's certificate could not be generated from its key.
    #[error("cannot build the node certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The node key could not be encoded as PKCS#8.
    #[error("cannot encode the node key as PKCS#8: {0}")]
    KeyEncoding(String),
    /// rustls refused the TLS configuration.
    #[error("invalid TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// quinn refused the configuration (no TLS 1.3 suite, timeout out of range).
    #[error("invalid QUIC configuration: {0}")]
    Config(String),
    /// The destination is not a current member (or is this node itself).
    #[error("unknown peer {0}")]
    UnknownPeer(String),
    /// A message could not be encoded into a frame, or is larger than the frame bound.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The transport is shutting down; nothing more is sent.
    #[error("the transport is shut down")]
    Shutdown,
}
