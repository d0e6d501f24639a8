//! Spore modules as components.
