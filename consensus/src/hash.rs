//! Hash types with meaning.

use bitcoin::hashes::{sha256, sha256d, Hash, HashEngine};

bitcoin::hashes::hash_newtype! {
    /// Id of a share: SHA256d of its 80-byte parent-chain header, i.e. the parent-chain block hash
    /// the share would have as a block. The header commits (merkle root -> coinbase -> commitment
    /// output) to every byte of the sidechain data, so the id commits to the whole share.
    /// Displayed byte-reversed, like block hashes.
    pub struct ShareHash(sha256d::Hash);

    /// Hash over the parent chain and every pool parameter; pools with different ids never
    /// accept each other's shares. Displayed byte-reversed.
    pub struct ConsensusId(sha256d::Hash);
}

impl ShareHash {
    /// The `prev_share` of a sharechain's first share: all zeros.
    pub fn genesis_parent() -> ShareHash {
        ShareHash::all_zeros()
    }
}

/// A BIP340-style tagged hash, `SHA256(SHA256(tag) || SHA256(tag) || data)`: domain separation so
/// a hash computed for one purpose can never be replayed as another.
pub fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let tag_hash = sha256::Hash::hash(tag.as_bytes());
    let mut engine = sha256::Hash::engine();
    engine.input(tag_hash.as_ref());
    engine.input(tag_hash.as_ref());
    for p in parts {
        engine.input(p);
    }
    sha256::Hash::from_engine(engine).to_byte_array()
}
