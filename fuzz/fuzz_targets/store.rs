//! cargo-fuzz target `store`: see `spore::fuzz::store`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spore::fuzz::store(data));
