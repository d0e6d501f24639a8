//! A strict unanimity-only resolver module.
