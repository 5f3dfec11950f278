//! The C interface of RandomX 1.1.10 (`/usr/include/randomx.h` from Debian's `librandomx-dev`),
//! declared by hand: ten functions and three opaque types are fewer lines than a bindgen setup,
//! and need no libclang at build time.

use std::ffi::{c_int, c_ulong, c_void};

/// `randomx_flags` is a C enum; C gives enums the type `int` when every value fits.
pub type Flags = c_int;

pub const FLAG_DEFAULT: Flags = 0;
pub const FLAG_LARGE_PAGES: Flags = 1;
pub const FLAG_HARD_AES: Flags = 2;
pub const FLAG_FULL_MEM: Flags = 4;
pub const FLAG_JIT: Flags = 8;
pub const FLAG_SECURE: Flags = 16;
pub const FLAG_ARGON2_SSSE3: Flags = 32;
pub const FLAG_ARGON2_AVX2: Flags = 64;

/// `RANDOMX_HASH_SIZE`.
pub const HASH_SIZE: usize = 32;
/// `RANDOMX_DATASET_ITEM_SIZE`.
pub const DATASET_ITEM_SIZE: usize = 64;

#[repr(C)]
pub struct randomx_cache {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct randomx_dataset {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct randomx_vm {
    _opaque: [u8; 0],
}

#[link(name = "randomx")]
extern "C" {
    pub fn randomx_get_flags() -> Flags;
    pub fn randomx_alloc_cache(flags: Flags) -> *mut randomx_cache;
    pub fn randomx_init_cache(cache: *mut randomx_cache, key: *const c_void, key_size: usize);
    pub fn randomx_release_cache(cache: *mut randomx_cache);
    pub fn randomx_alloc_dataset(flags: Flags) -> *mut randomx_dataset;
    pub fn randomx_dataset_item_count() -> c_ulong;
    pub fn randomx_init_dataset(
        dataset: *mut randomx_dataset,
        cache: *mut randomx_cache,
        start_item: c_ulong,
        item_count: c_ulong,
    );
    pub fn randomx_get_dataset_memory(dataset: *mut randomx_dataset) -> *mut c_void;
    pub fn randomx_release_dataset(dataset: *mut randomx_dataset);
    pub fn randomx_create_vm(
        flags: Flags,
        cache: *mut randomx_cache,
        dataset: *mut randomx_dataset,
    ) -> *mut randomx_vm;
    pub fn randomx_destroy_vm(vm: *mut randomx_vm);
    pub fn randomx_calculate_hash(
        vm: *mut randomx_vm,
        input: *const c_void,
        input_size: usize,
        output: *mut c_void,
    );
}
