//! Deterministic simulator: N nodes of the real consensus state machine on a seeded virtual
//! network, with Byzantine participants, checked against the safety and liveness invariants.
//!
//! # Layout
//! - [`rng`]: the seeded generator every random choice comes from.
//! - [`network`]: virtual time, the link model (delay, loss, duplication, reordering,
//!   partitions, GST) and the event queue.
//! - [`byzantine`]: the faulty participants, one behaviour per file.
//! - [`invariants`]: what is checked after every run.
//! - [`workload`]: the operations clients submit (every kind, every mechanism);
//!   [`clients`]: the authorised keys that sign them.
//! - [`modules`]: Rust stand-ins for the default validator and resolver modules.
//! - [`scenario`]: what defines a run; [`runner`]: the driver; [`trace`]: the trace hash.
//!
//! # Determinism
//! A scenario is a pure function of its configuration and seed: no clock, no OS randomness,
//! no threads. Running it twice yields the same trace hash.
//!
//! # Usage
//! ```
//! use spore_core::sim::{Behaviour, Scenario, check_scenario};
//!
//! let scenario = Scenario { nodes: 4, byzantine: 1, behaviour: Behaviour::Equivocator, seed: 7, ..Scenario::default() };
//! let report = check_scenario(&scenario); // runs twice, compares the trace hashes
//! assert!(report.violations.is_empty(), "{:?}", report.violations);
//! assert!(report.decided_ops > 0);
//! ```
//! `spore simulate` runs many seeds from the command line and prints a replay command for
//! every failure.

pub mod byzantine;
pub mod clients;
pub mod invariants;
pub mod modules;
pub mod network;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod trace;
pub mod workload;

pub use byzantine::Behaviour;
pub use invariants::{RunRecord, Violation};
pub use runner::{Report, check_scenario, run_scenario};
pub use scenario::Scenario;
