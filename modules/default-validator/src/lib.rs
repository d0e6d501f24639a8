//! Spore's default validator module.
