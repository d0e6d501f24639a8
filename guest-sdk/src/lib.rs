//! Guest SDK for Spore policy modules: write a validator, an admission policy or a
//! resolver in plain Rust, test it natively, and export it as a WebAssembly component.
//!
//! # Layout
//! - [`bindings`]: the code `wit-bindgen` generates from `wit/` (package
//!   `spore:policy@0.1.0`), one submodule per world. The WIT types are re-exported at the
//!   crate root ([`Operation`], [`CallContext`], [`Rejection`], ...).
//! - [`Host`]: the host snapshot and log behind a small trait, with convenience accessors
//!   (`trust_of`, `level_of`, `param_or`, `eligible`, counts). [`WitHost`] is the real
//!   implementation (the component's imports); [`testing::Fixture`] is a native one.
//! - [`Validator`], [`Admission`], [`Resolver`]: one trait per world. Module logic is
//!   written against `&impl Host`, so the same function runs in the component and in a
//!   native `cargo test`.
//! - [`export_validator!`], [`export_admission!`], [`export_resolver!`]: export an
//!   implementation as the component's world. They expand to nothing on non-wasm
//!   targets, so a module crate can be both a `cdylib` (the component) and an `rlib`
//!   (its logic, reusable and testable natively).
//!
//! # Example
//! ```
//! use spore_guest::{CallContext, Host, Operation, Rejection, RejectionCode, Validator};
//!
//! /// Accepts compute tasks and echoes their input.
//! pub struct Echo;
//!
//! impl Validator for Echo {
//!     fn validate<H: Host + ?Sized>(
//!         host: &H,
//!         op: Operation,
//!         _ctx: CallContext,
//!     ) -> Result<Vec<u8>, Rejection> {
//!         match op {
//!             Operation::Compute(task) => {
//!                 host.info(&format!("echoing {} bytes", task.input.len()));
//!                 Ok(task.input)
//!             }
//!             _ => Err(Rejection::new(RejectionCode::Unsupported, "only compute")),
//!         }
//!     }
//! }
//!
//! spore_guest::export_validator!(Echo);
//!
//! // Natively, against a fixture snapshot:
//! use spore_guest::testing::{call_context, Fixture};
//! let host = Fixture::cluster(4);
//! let op = Operation::Compute(spore_guest::ComputeTask { kind: "echo".into(), input: vec![7] });
//! assert_eq!(Echo::validate(&host, op, call_context(1)), Ok(vec![7]));
//! assert_eq!(host.logs().len(), 1);
//! ```
//!
//! # Building a module
//! A module is a crate with `crate-type = ["cdylib", "rlib"]` that depends on this one,
//! implements one world's trait and invokes that world's export macro once. Built with
//! `cargo build --release --target wasm32-unknown-unknown`, it is a core module that
//! carries its WIT world in custom sections; `wit-component` (`ComponentEncoder`, or
//! `wasm-tools component new`) turns it into the component a node loads. The modules of
//! this repository are built that way by the `spore-artifacts` crate's build script.
//! Nothing here imports WASI: a module imports only `spore:policy/snapshot` and
//! `spore:policy/log`, and only if it uses them.
//!
//! # Determinism
//! The host interface is read-only and deterministic: the snapshot is taken at the start
//! of the slot, parameters are integers, and nothing here reads a clock, a random source
//! or the outside world. Keep module logic that way: no floats in results, no hash-map
//! iteration order in outputs (use `BTreeMap`), and derive any pseudo-randomness from
//! [`CallContext::seed`].

mod arena;
pub mod bindings;
mod export;
mod ext;
mod host;
pub mod testing;
mod worlds;

pub use arena::ARENA_BYTES;
pub use ext::short_id;
pub use host::{Host, WitHost};
pub use worlds::{Admission, Resolver, Validator};

pub use bindings::admission::Verdict;
pub use bindings::resolver::{LayerResult, Resolution};
pub use bindings::validator::spore::policy::log::Level;
pub use bindings::validator::spore::policy::types::{
    AdmissionCriteria, CallContext, ConfigType, DeploymentStrategy, Evidence, EvidenceKind,
    ExclusionReason, HierarchyLevel, ImpactLevel, MaintenanceTask, MaintenanceType, Member,
    NetworkConfigChange, NodeAdmission, NodeExclusion, NodeIdentity, Operation, OptimizationType,
    PerformanceMetric, PerformanceOptimization, PriorityLevel, Rejection, RejectionCode,
    ResourceAllocation, ResourceRequirements, ResourceType, SecurityDomain, SecurityPolicyUpdate,
    ServiceDeployment, SlotWindow, SporeLayer, TrustModification, TrustReason,
};
pub use bindings::validator::spore::policy::types::{ComputeTask, Param};

/// A node's identity: the 32 bytes of its ed25519 public key.
pub type NodeId = Vec<u8>;

/// Length in bytes of a [`NodeId`] and of a SHA-256 digest.
pub const ID_LEN: usize = 32;

/// Trust is measured in basis points: this is full trust.
pub const MAX_TRUST_BPS: u32 = 10_000;

#[doc(hidden)]
pub mod __private {
    //! Re-exports used by the export macros; not part of the public API.
    pub use crate::bindings::admission::Guest as AdmissionGuest;
    pub use crate::bindings::resolver::Guest as ResolverGuest;
    pub use crate::bindings::validator::Guest as ValidatorGuest;
}

// Lets the generated code and the export macros name this crate as `spore_guest`
// from inside it too.
extern crate self as spore_guest;
