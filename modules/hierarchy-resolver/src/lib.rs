//! Spore's hierarchy resolver module.
