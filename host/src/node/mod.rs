//! The node: the tokio wiring of consensus, module runtime, transport and storage, and
//! its client interface.
//!
//! # Layout
//! - [`config`]: the TOML node config with documented defaults.
//! - [`keyfile`]: node key files (owner-only permissions).
pub mod config;
pub mod keyfile;
