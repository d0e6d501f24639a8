//! Hostile test module: foreign-imports.
