//! cargo-fuzz target `node`: see `spore::fuzz::node`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spore::fuzz::node(data));
