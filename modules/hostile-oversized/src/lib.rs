//! Hostile validator that returns a huge result: 64 MiB, or, if the host's memory limit
//! does not allow that, the largest result it can allocate (halving the size until an
//! allocation succeeds).
//!
//! On a Spore node the call must end in an "output too large" error, never in the node
//! buffering or forwarding the result.

use spore_guest::{CallContext, Host, Operation, Rejection, Validator};

/// The size it tries first.
pub const TARGET_LEN: usize = 64 << 20;

/// Returns as many bytes as it can.
pub struct Oversized;

impl Validator for Oversized {
    fn validate<H: Host + ?Sized>(
        _host: &H,
        _op: Operation,
        ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        let mut len = TARGET_LEN;
        loop {
            let mut out: Vec<u8> = Vec::new();
            // Leave room for the canonical ABI to copy the result out.
            if len < 1024 || out.try_reserve_exact(len).is_ok() {
                out.resize(len, ctx.seed as u8 | 1);
                return Ok(out);
            }
            len /= 2;
        }
    }
}

spore_guest::export_validator!(Oversized);
