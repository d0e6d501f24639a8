//! cargo-fuzz target `client`: see `spore::fuzz::client`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spore::fuzz::client(data));
