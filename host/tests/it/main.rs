//! Integration tests of the module runtime (`spore::modules`) against the real modules built
//! from source by `spore-artifacts`, and of the `spore module` / `spore demo` commands.
//!
//! # Layout
//! One file per topic: `defaults` (every default module gives the right results),
//! `hostile` (each hostile module ends in its own typed error and the runtime keeps
//! serving), `hotswap` (atomic swaps under concurrent calls, rollback), `cache` (verified
//! artifact cache, tampering, hash mismatch), `determinism` (two engines, identical bytes
//! and fuel), `examples` (the documented JSON inputs parse), `cli` (the binary end to end),
//! `fuzz` (every fuzz target, bounded, over its seed corpus), `twins` (the Rust median-price module and its C twin agree byte for byte), `swap_trial`
//! (a swap to a module that fails its trial run is rejected; local faults are no results).

mod cache;
mod cli;
mod common;
mod compile;
mod defaults;
mod determinism;
mod examples;
mod fuzz;
mod hostile;
mod hotswap;
mod limits;
mod projects;
mod swap_trial;
mod twins;
