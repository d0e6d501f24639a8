//! Hostile validator that abuses the host imports: it logs 10,000 lines of 64 KiB and asks
//! the snapshot for a parameter under a 16 MiB key, 1,000 times (the seed's first bit
//! picks the attack, so both are exercised).
//!
//! On a Spore node every host import is charged for the bytes it copies, so the call ends
//! out of fuel within its budget's time, and the node's log receives at most the capped
//! lines of the call, truncated before they are written.

use spore_guest::{CallContext, Host, Level, Operation, Rejection, Validator};

/// Lines it tries to log.
pub const LOG_LINES: usize = 10_000;
/// Bytes per log line.
pub const LINE_BYTES: usize = 64 * 1024;
/// Bytes of the parameter key.
pub const KEY_BYTES: usize = 16 << 20;
/// Parameter look-ups it tries.
pub const LOOKUPS: usize = 1_000;

/// Spams the host.
pub struct HostAbuse;

impl Validator for HostAbuse {
    fn validate<H: Host + ?Sized>(
        host: &H,
        _op: Operation,
        ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        let mut seen = 0u64;
        if ctx.seed & 1 == 0 {
            let line = "x".repeat(LINE_BYTES);
            for _ in 0..LOG_LINES {
                host.log(Level::Error, &line);
            }
        } else {
            let key = "k".repeat(KEY_BYTES);
            for _ in 0..LOOKUPS {
                seen += u64::from(host.param(&key).is_some());
            }
        }
        Ok(seen.to_le_bytes().to_vec())
    }
}

spore_guest::export_validator!(HostAbuse);
