#![no_main]
// Harness: otedama_fuzz::gbt_reply (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| otedama_fuzz::gbt_reply(data));
