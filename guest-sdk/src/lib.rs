//! Guest SDK for Spore policy modules.
pub mod bindings;
