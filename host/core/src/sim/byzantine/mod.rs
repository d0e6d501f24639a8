//! Byzantine participants for the simulator, one behaviour per file.
//!
//! # Layout
//! - [`behaviour`]: the catalogue of behaviours and the `mixed` rule that picks one by seed.

pub mod behaviour;

pub use behaviour::Behaviour;
