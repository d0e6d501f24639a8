//! The allocator of a module built with this SDK (feature `arena`, on by default): a bump
//! arena in the module's own zero-initialised data first, then the standard allocator.
//!
//! # Why
//! Every call runs in a fresh instance. The standard allocator of
//! `wasm32-unknown-unknown` (dlmalloc) takes all of its memory with `memory.grow`, so
//! every call grew its memory, even for a few hundred bytes; the host's instance pool then
//! changed page protections twice per call (granting the grown pages, and revoking them
//! when the slot was reused), system calls that stop every thread of the node process.
//! The arena is part of the module's initial memory instead: its untouched pages cost
//! nothing (the host maps the initial memory copy-on-write and resets only the pages a
//! call dirtied), and a call whose allocations fit in it never grows memory.
//!
//! # What a module sees
//! Allocation is bump allocation within [`ARENA_BYTES`]; freeing or growing the latest
//! allocation works in place, other frees are forgotten until the call ends (the instance
//! is thrown away). What does not fit goes to the standard allocator, which frees and
//! reuses as before. A module so uses at most [`ARENA_BYTES`] more memory than it did,
//! counted against the cluster's memory limit like any other: a module that needed all
//! but the last MiB of the limit needs a slightly higher one. Allocation stays
//! deterministic: the same calls give the same addresses on every node.
//!
//! A module that brings its own `#[global_allocator]` turns the feature off
//! (`default-features = false`).

/// Bytes of the arena.
pub const ARENA_BYTES: usize = 1 << 20;

/// The bump state: offsets into an arena of `capacity` bytes at address `base`. Kept apart
/// from the memory so that its rules can be tested natively.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(
    not(all(target_arch = "wasm32", feature = "arena")),
    allow(dead_code, reason = "used by the wasm32 allocator and the tests")
)]
pub(crate) struct Bump {
    /// The first free byte.
    next: usize,
    /// Where the latest allocation starts (`usize::MAX`: none to roll back).
    last: usize,
}

#[cfg_attr(
    not(all(target_arch = "wasm32", feature = "arena")),
    allow(dead_code, reason = "used by the wasm32 allocator and the tests")
)]
impl Bump {
    pub(crate) const fn new() -> Self {
        Bump {
            next: 0,
            last: usize::MAX,
        }
    }

    /// The offset of `size` bytes aligned to `align` in an arena at `base` of `capacity`
    /// bytes, or `None` if they do not fit.
    pub(crate) fn take(
        &mut self,
        base: usize,
        capacity: usize,
        size: usize,
        align: usize,
    ) -> Option<usize> {
        let here = base.checked_add(self.next)?;
        let start = here.checked_next_multiple_of(align)?.checked_sub(base)?;
        let end = start.checked_add(size)?;
        if end > capacity {
            return None;
        }
        self.last = start;
        self.next = end;
        Some(start)
    }

    /// Whether the allocation at `offset` of `size` bytes is the latest one.
    fn is_latest(&self, offset: usize, size: usize) -> bool {
        self.last == offset && offset.checked_add(size) == Some(self.next)
    }

    /// Free the allocation at `offset` of `size` bytes: its bytes come back only if it is
    /// the latest.
    pub(crate) fn give(&mut self, offset: usize, size: usize) {
        if self.is_latest(offset, size) {
            self.next = offset;
            self.last = usize::MAX;
        }
    }

    /// Grow or shrink the latest allocation in place; `false` if it is not the latest or
    /// the new size does not fit.
    pub(crate) fn resize(
        &mut self,
        offset: usize,
        size: usize,
        new_size: usize,
        capacity: usize,
    ) -> bool {
        if !self.is_latest(offset, size) {
            return false;
        }
        match offset.checked_add(new_size) {
            Some(end) if end <= capacity => {
                self.next = end;
                true
            }
            _ => false,
        }
    }
}

#[cfg(all(target_arch = "wasm32", feature = "arena"))]
#[allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this is the SDK's one use, reviewed here"
)]
mod global {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::UnsafeCell;

    use super::{ARENA_BYTES, Bump};

    #[repr(C, align(16))]
    struct Bytes([u8; ARENA_BYTES]);

    /// The arena's bytes: a static of its own, all zero, so that it lands in the module's
    /// zero-initialised data (no bytes in the binary; with the bump state beside it, the
    /// whole static would be written out as data).
    struct Heap(UnsafeCell<Bytes>);

    // SAFETY: a module runs on one thread: the host's engine has threads and shared
    // memory off, so no two calls into this allocator ever overlap.
    unsafe impl Sync for Heap {}

    static HEAP: Heap = Heap(UnsafeCell::new(Bytes([0; ARENA_BYTES])));

    struct Arena {
        bump: UnsafeCell<Bump>,
    }

    // SAFETY: as for `Heap`.
    unsafe impl Sync for Arena {}

    impl Arena {
        fn base(&self) -> usize {
            HEAP.0.get() as usize
        }

        /// The offset of `ptr` in the arena, if it is in it.
        fn offset_of(&self, ptr: *mut u8) -> Option<usize> {
            let at = (ptr as usize).checked_sub(self.base())?;
            (at < ARENA_BYTES).then_some(at)
        }
    }

    // SAFETY: every pointer handed out is either inside the arena, within bounds and
    // aligned as asked, and never handed out twice while live (bump allocation only
    // reuses the latest allocation's bytes after it was freed or resized in place), or
    // comes from `System` and goes back to it.
    unsafe impl GlobalAlloc for Arena {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: single-threaded (see `Sync`); no reference to the state outlives
            // this call.
            let bump = unsafe { &mut *self.bump.get() };
            match bump.take(self.base(), ARENA_BYTES, layout.size(), layout.align()) {
                Some(offset) => (self.base() + offset) as *mut u8,
                // SAFETY: the caller's layout contract, passed on.
                None => unsafe { System.alloc(layout) },
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            match self.offset_of(ptr) {
                // SAFETY: as in `alloc`.
                Some(offset) => unsafe { &mut *self.bump.get() }.give(offset, layout.size()),
                // SAFETY: not in the arena, so `System` allocated it.
                None => unsafe { System.dealloc(ptr, layout) },
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let Some(offset) = self.offset_of(ptr) else {
                // SAFETY: not in the arena, so `System` allocated it.
                return unsafe { System.realloc(ptr, layout, new_size) };
            };
            // SAFETY: as in `alloc`.
            let bump = unsafe { &mut *self.bump.get() };
            if bump.resize(offset, layout.size(), new_size, ARENA_BYTES) {
                return ptr;
            }
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return std::ptr::null_mut();
            };
            // SAFETY: a valid, non-zero layout (the caller's contract for `new_size`).
            let new = unsafe { self.alloc(new_layout) };
            if !new.is_null() {
                // SAFETY: both blocks are live, distinct and at least this long.
                unsafe {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
            }
            new
        }
    }

    #[global_allocator]
    static ALLOCATOR: Arena = Arena {
        bump: UnsafeCell::new(Bump::new()),
    };
}

#[cfg(test)]
mod tests {
    use super::Bump;

    /// Alignment, the capacity, freeing and resizing the latest allocation in place, and
    /// that an earlier allocation is never handed out again while live.
    #[test]
    fn bump_rules() {
        let base = 0x1000;
        let mut b = Bump::new();
        assert_eq!(b.take(base, 64, 3, 1), Some(0));
        assert_eq!(b.take(base, 64, 8, 8), Some(8));
        // Freeing an earlier allocation gives nothing back.
        b.give(0, 3);
        assert_eq!(b.take(base, 64, 4, 4), Some(16));
        // The latest one comes back, once.
        b.give(16, 4);
        assert_eq!(b.take(base, 64, 4, 4), Some(16));
        // Resize in place only the latest, and only within the capacity.
        assert!(b.resize(16, 4, 40, 64));
        assert!(!b.resize(8, 8, 16, 64));
        assert!(!b.resize(16, 40, 60, 64));
        assert_eq!(b.take(base, 64, 8, 8), Some(56));
        assert_eq!(b.take(base, 64, 1, 1), None, "full");
    }

    /// Offsets account for the base's own alignment, and arithmetic never overflows.
    #[test]
    fn alignment_is_of_the_address_and_nothing_overflows() {
        let mut b = Bump::new();
        assert_eq!(b.take(0x1004, 64, 1, 16), Some(12));
        let mut b = Bump::new();
        assert_eq!(b.take(usize::MAX - 4, 64, 8, 16), None);
        let mut b = Bump::new();
        assert_eq!(b.take(0, 64, usize::MAX, 1), None);
    }
}
