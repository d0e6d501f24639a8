//! Hostile test module: recursion.
