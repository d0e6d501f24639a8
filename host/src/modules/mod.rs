//! The deterministic WebAssembly module runtime: wasmtime components loaded through the
//! `spore:policy` WIT worlds, content-addressed, pre-instantiated and hot-swappable.
//!
//! # Layout
//! - [`bindings`]: `bindgen!` output for the `validator`, `admission` and `resolver` worlds.
//! - [`snapshot`], [`log`]: the two host interfaces modules may import (nothing else).
//! - [`host_state`]: the per-call store data and the host linker.
//! - [`engine`]: the deterministic engine configuration; [`limits`]: the replicated module
//!   limits and what a module needs of them.
//! - [`registry`], [`cache`]: content-addressed loading, type checks, verified artifact cache;
//!   [`compile`]: compilation within a time and memory bound (in a worker process).
//! - [`hotswap`]: the active module per role, swapped atomically, with rollback.
//! - [`runtime`]: [`Runtime`], the API the node, CLI and tests call.
//! - [`convert`]: core types to and from WIT types; [`samples`]: built-in sample inputs;
//!   [`trial`]: the sample calls of each role and a candidate module's trial run.
//! - [`error`]: typed errors; [`ModuleFailure`] is the agreed failure of a call.
//!
//! # Determinism
//! See [`engine`]: fuel metering, NaN canonicalisation, deterministic relaxed SIMD, no
//! threads, fixed limits; a fresh store per call; a read-only, ordered snapshot.

pub mod bindings;
pub mod cache;
pub mod compile;
pub mod convert;
pub mod engine;
pub mod error;
pub mod host_state;
pub mod hotswap;
pub mod limits;
pub mod log;
pub mod registry;
pub mod runtime;
pub mod samples;
pub mod snapshot;
pub mod trial;

pub use convert::{CallContext, LayerResult, RejectionData, Resolution, ResolverInput, Verdict};
pub use engine::RuntimeConfig;
pub use error::{LoadError, ModuleFailure, RuntimeError};
pub use limits::{ModuleLimits, ModuleNeeds};
pub use registry::{ArtifactSource, LoadedModule, MAX_LOADED, MAX_LOADED_BYTES};
pub use runtime::{CallReport, Runtime, ValidatorResult};
pub use snapshot::{MemberView, SnapshotView};
pub use spore_core::ops::Role;
