//! Hostile test module: loop.
