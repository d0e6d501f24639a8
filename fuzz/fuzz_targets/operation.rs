//! cargo-fuzz target `operation`: see `spore::fuzz::operation`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spore::fuzz::operation(data));
