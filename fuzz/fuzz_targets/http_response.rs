#![no_main]
// Harness: otedama_fuzz::http_response (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| otedama_fuzz::http_response(data));
