//! cargo-fuzz target `wire`: see `spore::fuzz::wire`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spore::fuzz::wire(data));
