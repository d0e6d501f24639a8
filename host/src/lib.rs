//! The Spore node: the deterministic WebAssembly module runtime, the CLI, and (re-exported)
//! the sans-IO core.
//!
//! # Layout
//! - [`core`]: the sans-IO protocol, trust, quorum and operation logic (crate `spore-core`,
//!   in `host/core/`), which depends on none of tokio, quinn, redb or wasmtime.
//! - `modules`: the wasmtime component runtime, module registry and hot swap.
//! - [`cli`]: the `spore` command line.

pub use spore_core as core;

pub mod cli;
pub mod modules;
