//! Full-node clients, job building, Stratum server and embedded workers (filled by a later issue).

pub use otedama_consensus as consensus;
