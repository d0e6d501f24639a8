//! What the transport test binaries (`net.rs`, `net_budget.rs`) share: the message type,
//! keys, a fast-reconnecting transport config and the hang guard.
// Each binary uses its own part of this module.
#![allow(dead_code)]

use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use spore::net::TransportConfig;

/// Guard against hangs only: generous, never a performance assertion.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The test message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Ping(u64),
    Data(Vec<u8>),
}

/// The key of test node `seed`.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A transport config that reconnects and shuts down quickly.
pub fn config() -> TransportConfig {
    TransportConfig {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(400),
        shutdown_grace: Duration::from_millis(500),
        ..TransportConfig::default()
    }
}
