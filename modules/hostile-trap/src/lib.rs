//! Hostile test module: trap.
