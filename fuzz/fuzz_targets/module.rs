//! cargo-fuzz target `module`: see `spore::fuzz::module`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spore::fuzz::module(data));
