#![no_main]
// Harness: otedama_fuzz::gossip_frame (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| otedama_fuzz::gossip_frame(data));
