//! Hostile test module: memory-bomb.
