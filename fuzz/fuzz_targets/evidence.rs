//! cargo-fuzz target `evidence`: see `spore::fuzz::evidence`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spore::fuzz::evidence(data));
