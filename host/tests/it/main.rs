//! Integration tests of the module runtime (`spore::modules`) against the real modules built
//! from source by `spore-artifacts`, and of the `spore module` / `spore demo` commands.
//!
//! # Layout
//! One file per topic: `defaults` (every default module gives the right results),
//! `hostile` (each hostile module ends in its own typed error and the runtime keeps
//! serving), `hotswap` (atomic swaps under concurrent calls, rollback), `cache` (verified
//! artifact cache, tampering, hash mismatch), `determinism` (two engines, identical bytes
//! and fuel), `examples` (the documented JSON inputs parse), `cli` (the binary end to end),
//! `fuzz` (every fuzz target, bounded, over its seed corpus), `twins` (the Rust median-price module and its C twin agree byte for byte), `swap_trial`
//! (a swap to a module that fails its trial run is rejected; local faults are no results).

mod cache;
mod cli;
mod common;
mod compile;
mod defaults;
mod determinism;
mod examples;
mod fuzz;
mod hostile;
mod hotswap;
mod limits;
mod projects;
mod swap_trial;
mod twins;

/// Counts the bytes each thread allocates, so that a test can check what a call made the
/// host copy (a module call runs on the calling thread).
#[allow(unsafe_code)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static ALLOCATED: Cell<u64> = const { Cell::new(0) };
    }

    // SAFETY: every method defers to the system allocator; the count is a thread-local
    // cell without a destructor, touched with `try_with` so it never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(layout.size() as u64)));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(layout.size() as u64)));
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(new_size as u64)));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Bytes this thread has allocated so far.
    pub fn allocated() -> u64 {
        ALLOCATED.try_with(Cell::get).unwrap_or(0)
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;
