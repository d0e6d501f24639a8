//! Hostile admission module: a verdict whose reasons cost the host far more than the
//! module's memory if it copies them before counting.
//!
//! - For a candidate named [`EMPTY_NAME`]: [`EMPTY_REASONS`] empty reasons. Their lengths
//!   sum to 0, but joined with "; " they are about 20 KB, over the cluster's default
//!   output cap of 16 KiB.
//! - Otherwise: [`ALIASES`] reasons that all point at one buffer of [`REASON_BYTES`] in
//!   its memory (the canonical ABI allows it: a list of strings is a list of (pointer,
//!   length) pairs). A host that lifts every string before counting copies them until
//!   its lift bound (wasmtime's 128 MiB of hostcall fuel; 32 GiB without it).
//!
//! On a Spore node both must end in "output too large"; the aliased reasons without a
//! byte of them copied.
//!
//! The module allocates from a bump allocator that never frees: the canonical ABI's
//! post-return frees every reason, so each alias of the shared buffer would otherwise be
//! freed once per alias.

#![allow(unsafe_code)]

use spore_guest::{Admission, CallContext, Host, NodeAdmission, Verdict};

/// Reasons that alias one buffer.
pub const ALIASES: usize = 4_096;
/// Bytes of the shared buffer.
pub const REASON_BYTES: usize = 8 << 20;
/// The candidate name that asks for the empty reasons.
pub const EMPTY_NAME: &str = "empty";
/// How many empty reasons.
pub const EMPTY_REASONS: usize = 10_000;

/// See the module doc.
pub struct AliasedReasons;

impl Admission for AliasedReasons {
    fn evaluate<H: Host + ?Sized>(_host: &H, request: NodeAdmission, _ctx: CallContext) -> Verdict {
        if request.candidate.name == EMPTY_NAME {
            return Verdict {
                admit: false,
                reasons: vec![String::new(); EMPTY_REASONS],
            };
        }
        let mut buffer = core::mem::ManuallyDrop::new(vec![b'x'; REASON_BYTES]);
        let ptr = buffer.as_mut_ptr();
        let reasons = (0..ALIASES)
            .map(|_| {
                // SAFETY: deliberately unsound aliasing (the attack). The strings are only
                // read by the host and then freed by the bump allocator, which frees
                // nothing; this code never runs outside a wasm sandbox.
                unsafe {
                    String::from_utf8_unchecked(Vec::from_raw_parts(
                        ptr,
                        REASON_BYTES,
                        REASON_BYTES,
                    ))
                }
            })
            .collect();
        Verdict {
            admit: false,
            reasons,
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod bump {
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;

    /// Allocates upward from the end of memory at the first call, growing it; frees
    /// nothing.
    pub struct Bump {
        next: UnsafeCell<usize>,
        end: UnsafeCell<usize>,
    }

    // SAFETY: a component instance runs one thread.
    unsafe impl Sync for Bump {}

    impl Bump {
        pub const fn new() -> Self {
            Self {
                next: UnsafeCell::new(0),
                end: UnsafeCell::new(0),
            }
        }
    }

    // SAFETY: every block returned is fresh memory of the asked size and alignment.
    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: single-threaded (see `Sync`).
            let (next, end) = unsafe { (&mut *self.next.get(), &mut *self.end.get()) };
            if *end == 0 {
                *end = core::arch::wasm32::memory_size(0) * 65_536;
                *next = *end;
            }
            let align = layout.align().max(1);
            let Some(start) = next.checked_add(align - 1).map(|n| n & !(align - 1)) else {
                return core::ptr::null_mut();
            };
            let Some(stop) = start.checked_add(layout.size()) else {
                return core::ptr::null_mut();
            };
            if stop > *end {
                let pages = (stop - *end).div_ceil(65_536);
                if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                    return core::ptr::null_mut();
                }
                *end += pages * 65_536;
            }
            *next = stop;
            start as *mut u8
        }

        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
    }

    #[global_allocator]
    static ALLOCATOR: Bump = Bump::new();
}

spore_guest::export_admission!(AliasedReasons);
