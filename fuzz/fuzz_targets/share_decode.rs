#![no_main]
// Harness: otedama_fuzz::share_decode (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| otedama_fuzz::share_decode(data));
