//! Hostile validator that traps: it panics, which modules compile to `unreachable`
//! (`panic = "abort"` on wasm).
//!
//! On a Spore node the call must end in a trap error, the same on every node. Before it
//! traps it marks a static in its linear memory; a call that finds the mark already set
//! returns `leaked` instead of trapping. Every call starts from a fresh instance, so the
//! mark is never seen: calling it twice on one runtime (whose pooling allocator reuses
//! the memory slot) shows that a call cannot read what an earlier call left behind.

use core::sync::atomic::{AtomicU32, Ordering};

use spore_guest::{CallContext, Host, Operation, Rejection, Validator};

/// Set by every call before it traps; zero in every fresh instance.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// Traps on every call.
pub struct HostileTrap;

impl Validator for HostileTrap {
    fn validate<H: Host + ?Sized>(
        _host: &H,
        _op: Operation,
        ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        let before = CALLS.fetch_add(1, Ordering::Relaxed);
        if before != 0 {
            return Ok(format!("leaked: {before} earlier call(s) seen").into_bytes());
        }
        panic!("hostile-trap: deliberate trap at slot {}", ctx.slot)
    }
}

spore_guest::export_validator!(HostileTrap);
