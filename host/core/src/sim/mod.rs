//! Deterministic simulator: N nodes of the real consensus state machine on a seeded virtual
//! network, with Byzantine participants, checked against the safety and liveness invariants.
//!
//! # Layout
//! - [`rng`]: the seeded generator every random choice comes from.
//! - [`network`]: virtual time, the link model (delay, loss, duplication, reordering,
//!   partitions, GST) and the event queue.
//!
//! # Determinism
//! A scenario is a pure function of its configuration and seed: no clock, no OS randomness,
//! no threads. Running it twice yields the same trace hash.

pub mod network;
pub mod rng;
