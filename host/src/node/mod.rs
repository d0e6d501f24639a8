//! The node: the tokio wiring of consensus, module runtime, transport and storage, and
//! its client interface.
//!
//! # Layout
//! - [`config`]: the TOML node config with documented defaults.
//! - [`keyfile`]: node key files (owner-only permissions).
//! - [`wire`]: node-to-node frames; [`proto`]: the client protocol; [`client`]: the
//!   client listener and the client.
//! - [`driver`]: the event loop; [`calls`]: module calls; [`run`]: start-up and restart.
//! - [`cluster`]: a local multi-process cluster (devnet, cluster tests).
pub mod calls;
pub mod client;
pub mod cluster;
pub mod config;
pub mod driver;
pub mod keyfile;
pub mod proto;
pub mod run;
pub mod wire;
