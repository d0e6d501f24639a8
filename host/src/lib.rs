//! The Spore node: the deterministic WebAssembly module runtime, the CLI, and (re-exported)
//! the sans-IO core.
//!
//! # Layout
//! - [`core`]: the sans-IO protocol, trust, quorum and operation logic (crate `spore-core`,
//!   in `host/core/`), which depends on none of tokio, quinn, redb or wasmtime.
//! - `modules`: the wasmtime component runtime, module registry and hot swap.
//! - [`net`]: the QUIC transport between nodes (mutual TLS bound to node keys, membership-
//!   gated, bounded postcard frames, per-peer queues, reconnect with backoff).
//! - [`store`]: the node's durable redb database (decided log, own votes, snapshots,
//!   module blobs, active modules, genesis, metadata).
//! - [`project`]: module projects (`spore module new`, `build`, `test`, `verify`).
//! - [`cli`]: the `spore` command line; [`fuzz`]: the fuzz targets (run bounded by `cargo test`,
//!   at length by cargo-fuzz in `fuzz/`).

pub use spore_core as core;

pub mod cli;
pub mod fuzz;
pub mod modules;
pub mod net;
pub mod node;
pub mod project;
pub mod store;
pub mod text;
