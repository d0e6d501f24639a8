//! Unit tests of the default validator, one file per operation family: every rejection
//! path and the exact effect bytes of each operation.

mod authority;
mod config;
mod membership;
mod policy_compute;
mod trust;

use spore_guest::testing::{Fixture, call_context};
use spore_guest::{Operation, Rejection, RejectionCode, Validator};

use crate::DefaultValidator;

/// The slot the tests' calls are made at.
pub const SLOT: u64 = 100;

/// Validate `op` at [`SLOT`].
pub fn validate(host: &Fixture, op: Operation) -> Result<Vec<u8>, Rejection> {
    DefaultValidator::validate(host, op, call_context(SLOT))
}

/// The rejection of `op`; fails the test if it is accepted.
pub fn rejection(host: &Fixture, op: Operation) -> Rejection {
    match validate(host, op) {
        Ok(effect) => panic!("expected a rejection, got effect {effect:?}"),
        Err(r) => r,
    }
}

/// Assert `op` is rejected with `code` and a reason containing `needle`.
#[track_caller]
pub fn assert_rejected(host: &Fixture, op: Operation, code: RejectionCode, needle: &str) {
    let r = rejection(host, op);
    assert_eq!(r.code, code, "reason: {}", r.reason);
    assert!(
        r.reason.contains(needle),
        "{:?} does not contain {needle:?}",
        r.reason
    );
}

/// The effect of `op`; fails the test if it is rejected.
#[track_caller]
pub fn effect(host: &Fixture, op: Operation) -> Vec<u8> {
    match validate(host, op) {
        Ok(e) => e,
        Err(r) => panic!("unexpected rejection {:?}: {}", r.code, r.reason),
    }
}

/// Little-endian bytes helpers for expected effects.
pub fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// Length prefix + bytes.
pub fn lp(b: &[u8]) -> Vec<u8> {
    let mut v = le32(b.len() as u32).to_vec();
    v.extend_from_slice(b);
    v
}
