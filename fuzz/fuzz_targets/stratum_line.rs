#![no_main]
// Harness: otedama_fuzz::stratum_line (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| otedama_fuzz::stratum_line(data));
