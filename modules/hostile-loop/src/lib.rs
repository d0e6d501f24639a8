//! Hostile validator that never returns: an infinite loop with no host calls.
//!
//! On a Spore node it must end by fuel exhaustion (a deterministic outcome), never by a
//! wall-clock timeout and never by hanging the node.

use spore_guest::{CallContext, Host, Operation, Rejection, Validator};

/// Loops forever.
pub struct HostileLoop;

impl Validator for HostileLoop {
    fn validate<H: Host + ?Sized>(
        _host: &H,
        _op: Operation,
        ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        // `black_box` keeps the optimiser from proving anything about the counter.
        let mut counter = ctx.seed;
        loop {
            counter =
                std::hint::black_box(counter.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

spore_guest::export_validator!(HostileLoop);
