//! The Monero family's primitives: pure, integer-only, every parse bounded and total (any input
//! gives a value or a typed error, never a panic).
//!
//! This is the foundation of issue 16's Monero consensus; the family seam that plugs it into
//! shares, validation and the node comes later. One module per job:
//!
//! * [`varint`]: Monero's base-128 integers (canonical only).
//! * [`hash`]: Keccak-256 (`cn_fast_hash`) and the transaction tree hash.
//! * [`block`]: block header, miner transaction (v1 and v2), block parse and serialise
//!   (byte-identical round trip), hashing blob and block id.
//! * [`address`]: standard, integrated and subaddresses of mainnet, stagenet and testnet in
//!   Monero's block-wise base58.
//! * [`keys`]: transaction key derivation, one-time output keys, view tags, subaddress keys.
//! * [`difficulty`]: the 128-bit difficulty test of a proof-of-work hash.
//! * [`seed`]: RandomX seed heights.

pub mod address;
pub mod block;
pub mod difficulty;
pub mod hash;
pub mod keys;
pub mod seed;
pub mod varint;
