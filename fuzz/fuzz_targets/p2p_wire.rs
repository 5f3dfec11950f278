#![no_main]
// Harness: otedama_fuzz::p2p_wire (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| otedama_fuzz::p2p_wire(data));
