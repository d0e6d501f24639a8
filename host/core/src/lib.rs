//! Sans-IO core of Spore: operations, consensus, trust, quorum and genesis as plain state machines.
//!
//! # Design
//! Nothing in this crate performs I/O, reads a clock or draws randomness: inputs (messages,
//! ticks, module results) go in, effects (send, persist, call a module, decided) come out.
//! The node (`spore` crate) wires these machines to quinn, redb and wasmtime; the simulator
//! drives them with a seeded virtual network.

#![forbid(unsafe_code)]

pub mod consensus;
pub mod crypto;
pub mod genesis;
pub mod ops;
pub mod quorum;
pub mod sim;
pub mod state;
pub mod trust;
pub mod types;
