#![no_main]
// Harness: otedama_fuzz::store_codecs (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| otedama_fuzz::store_codecs(data));
