//! Hostile validator that grows its memory without bound: it keeps allocating (and
//! touching) 1 MiB blocks and never frees them.
//!
//! On a Spore node it must hit the per-call memory limit and end in a typed error; if an
//! allocation is refused, Rust's allocation-failure handler aborts, which is a trap.

use spore_guest::{CallContext, Host, Operation, Rejection, Validator};

/// Size of each block.
const BLOCK: usize = 1 << 20;

/// Allocates until the host stops it.
pub struct MemoryBomb;

impl Validator for MemoryBomb {
    fn validate<H: Host + ?Sized>(
        _host: &H,
        _op: Operation,
        ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        let mut fill = ctx.seed as u8;
        loop {
            let mut block = vec![0u8; BLOCK];
            // Touch every page so no allocator can hand back untouched memory.
            for page in block.chunks_mut(4096) {
                page[0] = fill;
            }
            fill = fill.wrapping_add(1);
            hoard.push(std::hint::black_box(block));
        }
    }
}

spore_guest::export_validator!(MemoryBomb);
