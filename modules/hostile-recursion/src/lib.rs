//! Hostile validator that recurses without bound.
//!
//! Every frame keeps a value live across the call and folds the callee's result, so the
//! recursion is neither a tail call nor a loop after optimisation. On a Spore node it
//! must end in a stack-overflow trap, deterministically, without harming the node.

use spore_guest::{CallContext, Host, Operation, Rejection, Validator};

/// Recurses until the stack is exhausted.
pub struct HostileRecursion;

/// Never returns in practice: the base case needs `depth` to wrap around `u64`.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    let below = descend(depth.wrapping_add(1));
    std::hint::black_box(below.rotate_left(7) ^ depth)
}

impl Validator for HostileRecursion {
    fn validate<H: Host + ?Sized>(
        _host: &H,
        _op: Operation,
        ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        Ok(descend(ctx.seed % 2).to_le_bytes().to_vec())
    }
}

spore_guest::export_validator!(HostileRecursion);
