//! Proof-of-work hash functions: the Bitcoin family's over the 80-byte parent-chain header, and
//! the [`PowHasher`] seam through which validation reaches any family's function.
//!
//! The hash is returned as the 32 bytes the function outputs, which are compared with a target as
//! a little-endian integer (RPC and explorers show them byte-reversed).

use bitcoin::hashes::{sha256d, Hash};

/// The proof-of-work function of a parent chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PowAlgo {
    /// Double SHA-256 (Bitcoin).
    Sha256d,
    /// scrypt with N = 1024, r = 1, p = 1, the header as both password and salt (Litecoin).
    Scrypt1024,
}

impl PowAlgo {
    pub fn name(self) -> &'static str {
        match self {
            PowAlgo::Sha256d => "sha256d",
            PowAlgo::Scrypt1024 => "scrypt",
        }
    }

    /// Hashes an 80-byte header.
    pub fn hash(self, header: &[u8; 80]) -> [u8; 32] {
        match self {
            PowAlgo::Sha256d => sha256d::Hash::hash(header).to_byte_array(),
            PowAlgo::Scrypt1024 => scrypt_1024_1_1(header),
        }
    }
}

/// What a family's proof of work is computed over: the Bitcoin family hashes its 80-byte
/// header; Monero hashes a block's hashing blob with RandomX keyed by a seed block id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowInput<'a> {
    Header(&'a [u8; 80]),
    RandomX { seed: &'a [u8; 32], blob: &'a [u8] },
}

/// The owned bytes behind a [`PowInput`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PowData {
    Header([u8; 80]),
    RandomX { seed: [u8; 32], blob: Vec<u8> },
}

impl PowData {
    pub fn as_input(&self) -> PowInput<'_> {
        match self {
            PowData::Header(h) => PowInput::Header(h),
            PowData::RandomX { seed, blob } => PowInput::RandomX { seed, blob },
        }
    }
}

/// Why a hasher gave no hash. None is the sender's fault: a seed the node does not hold yet
/// is a parent chain it has not seen (or a seed far from the tip, which a share may not use);
/// the caller decides, the hasher never builds a 256 MiB cache for a seed a peer names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    #[error("this hasher cannot compute {0}")]
    Unsupported(&'static str),
    #[error("no RandomX cache for seed {}", hex::encode(.0))]
    UnknownSeed([u8; 32]),
    /// The node itself lacked a resource (memory for a RandomX virtual machine).
    #[error("the node could not hash: {0}")]
    NodeResources(&'static str),
}

/// A proof-of-work hasher. Built once per node and passed to validation: the Bitcoin family's
/// functions are stateless ([`PowAlgo`] implements this), RandomX needs a seed-keyed cache of
/// 256 MiB (or a 2 GiB dataset) that lives outside this pure crate (the node builds it).
pub trait PowHasher: Send + Sync {
    /// The 32 bytes the function outputs, compared with a target as a little-endian integer.
    fn pow_hash(&self, input: PowInput<'_>) -> Result<[u8; 32], PowError>;
}

impl PowHasher for PowAlgo {
    fn pow_hash(&self, input: PowInput<'_>) -> Result<[u8; 32], PowError> {
        match input {
            PowInput::Header(header) => Ok(self.hash(header)),
            PowInput::RandomX { .. } => Err(PowError::Unsupported("RandomX")),
        }
    }
}

/// The hasher of a family without a stateless function (Monero): every hash is refused with
/// [`PowError::Unsupported`], so validation without the node's RandomX hasher reports that
/// instead of accepting or blaming anyone.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoStatelessPow;

impl PowHasher for NoStatelessPow {
    fn pow_hash(&self, _input: PowInput<'_>) -> Result<[u8; 32], PowError> {
        Err(PowError::Unsupported(
            "RandomX without the node's seed caches",
        ))
    }
}

/// scrypt(N=1024, r=1, p=1, dkLen=32) with the header as password and salt.
pub fn scrypt_1024_1_1(header: &[u8; 80]) -> [u8; 32] {
    // log2(N) = 10. These parameters are constants that scrypt accepts; the fallback never runs.
    let mut out = [0u8; 32];
    if let Ok(params) = scrypt::Params::new(10, 1, 1) {
        if scrypt::scrypt(header, header, &params, &mut out).is_err() {
            out = [0xff; 32];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(hex_str: &str) -> [u8; 80] {
        let v = hex::decode(hex_str).unwrap();
        v.try_into().unwrap()
    }

    fn reversed(mut h: [u8; 32]) -> String {
        h.reverse();
        hex::encode(h)
    }

    #[test]
    fn bitcoin_genesis_sha256d() {
        let h = header("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c");
        assert_eq!(
            reversed(PowAlgo::Sha256d.hash(&h)),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
    }

    #[test]
    fn litecoin_genesis_scrypt() {
        let h = header("010000000000000000000000000000000000000000000000000000000000000000000000d9ced4ed1130f7b7faad9be25323ffafa33232a17c3edf6cfd97bee6bafbdd97b9aa8e4ef0ff0f1ecd513f7c");
        assert_eq!(
            reversed(PowAlgo::Scrypt1024.hash(&h)),
            "0000050c34a64b415b6b15b37f2216634b5b1669cb9a2e38d76f7213b0671e00"
        );
        assert_eq!(
            reversed(PowAlgo::Sha256d.hash(&h)),
            "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2"
        );
    }
}
