//! Hostile validator that traps: it panics, which modules compile to `unreachable`
//! (`panic = "abort"` on wasm).
//!
//! On a Spore node the call must end in a trap error, the same on every node.

use spore_guest::{CallContext, Host, Operation, Rejection, Validator};

/// Traps on every call.
pub struct HostileTrap;

impl Validator for HostileTrap {
    fn validate<H: Host + ?Sized>(
        _host: &H,
        _op: Operation,
        ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        panic!("hostile-trap: deliberate trap at slot {}", ctx.slot)
    }
}

spore_guest::export_validator!(HostileTrap);
