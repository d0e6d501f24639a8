//! Shape checks shared by every operation: ids, names, free text, list sizes.

use spore_guest::{ID_LEN, RejectionCode, short_id};

use crate::findings::Findings;

/// Longest name (service, target, component, metric, parameter key) in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest free text (justification, description, plan) in bytes.
pub const MAX_TEXT_LEN: usize = 4096;
/// Longest network address in bytes.
pub const MAX_ADDRESS_LEN: usize = 256;
/// Most entries in any list of an operation.
pub const MAX_LIST_LEN: usize = 1024;

/// Record a `malformed` failure unless `id` is 32 bytes.
pub fn id(f: &mut Findings, what: &str, id: &[u8]) {
    f.require(id.len() == ID_LEN, RejectionCode::Malformed, || {
        format!("{what} is {} bytes, not {ID_LEN}", id.len())
    });
}

/// Whether `name` is 1..=64 bytes of `[A-Za-z0-9._-]`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Record a `malformed` failure unless `name` is a valid name.
pub fn name(f: &mut Findings, what: &str, name: &str) {
    f.require(is_valid_name(name), RejectionCode::Malformed, || {
        if name.is_empty() {
            format!("{what} is empty")
        } else {
            format!("{what} {name:?} is not 1..={MAX_NAME_LEN} bytes of [A-Za-z0-9._-]")
        }
    });
}

/// Record a `malformed` failure unless `text` is non-blank and at most `max` bytes.
pub fn text(f: &mut Findings, what: &str, text: &str, max: usize) {
    if text.trim().is_empty() {
        f.fail(RejectionCode::Malformed, format!("{what} is empty"));
    } else if text.len() > max {
        f.fail(
            RejectionCode::Malformed,
            format!("{what} is {} bytes, more than {max}", text.len()),
        );
    }
}

/// Record a `malformed` failure unless `len` is 1..=[`MAX_LIST_LEN`].
pub fn list(f: &mut Findings, what: &str, len: usize) {
    if len == 0 {
        f.fail(RejectionCode::Malformed, format!("{what} is empty"));
    } else if len > MAX_LIST_LEN {
        f.fail(
            RejectionCode::Malformed,
            format!("{what} has {len} entries, more than {MAX_LIST_LEN}"),
        );
    }
}

/// Record an `unknown-node` failure unless `id` is a member.
pub fn known<H: spore_guest::Host + ?Sized>(f: &mut Findings, host: &H, what: &str, id: &[u8]) {
    f.require(host.is_member(id), RejectionCode::UnknownNode, || {
        format!("{what} {} is not a member", short_id(id))
    });
}

/// The first duplicate in `items` (compared after sorting), if any.
pub fn first_duplicate<T: Ord + Clone>(items: &[T]) -> Option<T> {
    let mut sorted = items.to_vec();
    sorted.sort();
    sorted
        .windows(2)
        .find(|w| w[0] == w[1])
        .map(|w| w[0].clone())
}
