//! Hostile test module: wrong-world.
