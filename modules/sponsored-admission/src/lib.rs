//! Spore's sponsored admission module.
