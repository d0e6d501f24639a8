//! Hostile test module: oversized.
