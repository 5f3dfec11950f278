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
//!
//! The Monero side of a share, pure functions the sharechain's `Candidate::Monero` is built on:
//!
//! * [`tree`]: the transaction tree hash seen from the miner transaction (leaf 0 and its branch).
//! * [`payee`]: who a share pays (spend and view keys, subaddress or not), 65 canonical bytes.
//! * [`tx_key`]: the miner transaction's secret key, derived from the share so nodes can check
//!   the outputs and miners cannot reuse one.
//! * [`derivation_memo`]: the curve work of payout checks remembered per transaction key and
//!   payee, so shares built on one Monero parent cost it once.
//! * [`outputs`]: the payout outputs and transaction public keys (main and additional) under
//!   Monero's wallet rules, and the check every node makes of them.
//! * [`miner_tx`]: the one layout of a share's miner transaction and its strict inverse.
//! * [`reward`]: Monero's block reward (emission with its tail) and the weight penalty.
//! * [`candidate`]: the block candidate a share carries (header, miner transaction, leaf 0's
//!   branch, transaction count, seed hash), its canonical encoding, hashing blob and id.
//! * [`check`]: every stateless rule of a candidate, one reject reason per rule.

pub mod address;
pub mod block;
pub mod candidate;
pub mod check;
pub mod derivation_memo;
pub mod difficulty;
pub mod hash;
pub mod keys;
pub mod miner_tx;
pub mod outputs;
pub mod payee;
pub mod reward;
pub mod seed;
pub mod tree;
pub mod tx_key;
pub mod varint;
