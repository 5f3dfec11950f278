//! RocksDB store and chain state of the sharechain (filled by a later issue).

pub use otedama_consensus as consensus;
