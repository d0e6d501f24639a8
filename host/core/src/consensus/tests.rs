//! Unit tests of the consensus machine: a synchronous in-module harness of n nodes.
