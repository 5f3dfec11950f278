//! Stratum difficulty units and the wire forms of header fields.
//!
//! A Stratum difficulty `d` stands for the target `floor(DIFF1 * multiplier / d)`, where `DIFF1`
//! is Bitcoin's difficulty-1 target `0x00000000ffff0000...0000` (`0xffff * 2^208`, compact
//! `0x1d00ffff`) and the multiplier is 1 for SHA256d and 65536 for scrypt (the convention of
//! cgminer and every scrypt pool: scrypt difficulty 1 is `DIFF1 * 2^16`, about 2^16 hashes).

use bitcoin::hashes::{sha256d, Hash};
use otedama_consensus::builder::ShareJob;
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::work::{u512, Target, U256, U512};

/// Bitcoin's difficulty-1 target, `0xffff * 2^208`.
pub fn diff1_target() -> Target {
    Target(U256::from(0xffffu64) << 208)
}

/// The usual Stratum difficulty multiplier of a proof-of-work function: 1 for SHA256d, 65536
/// for scrypt.
pub fn default_diff_multiplier(pow: PowAlgo) -> u64 {
    match pow {
        PowAlgo::Sha256d => 1,
        PowAlgo::Scrypt1024 => 65536,
    }
}

/// `d = m * 2^e` exactly, for a positive finite `d`.
fn decompose(d: f64) -> (u64, i32) {
    let bits = d.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    }
}

fn saturate(x: U512) -> U256 {
    if x.0[4..].iter().any(|l| *l != 0) {
        U256::MAX
    } else {
        U256([x.0[0], x.0[1], x.0[2], x.0[3]])
    }
}

/// The target of a Stratum difficulty: `floor(DIFF1 * multiplier / difficulty)`, computed
/// exactly from the binary value of `difficulty`, saturating at the easiest target. Zero,
/// negative and NaN difficulties give the easiest target, an infinite one the hardest.
pub fn difficulty_to_target(difficulty: f64, multiplier: u64) -> Target {
    if difficulty.is_nan() || difficulty <= 0.0 {
        return Target(U256::MAX);
    }
    if difficulty.is_infinite() {
        return Target(U256::zero());
    }
    let (m, e) = decompose(difficulty);
    let n = u512(diff1_target().0) * U512::from(multiplier);
    let m = U512::from(m);
    let q = if e >= 0 {
        let e = e as usize;
        if e >= 512 {
            U512::zero()
        } else {
            (n / m) >> e
        }
    } else {
        let s = (-e) as usize;
        if n.bits() + s > 511 {
            return Target(U256::MAX);
        }
        (n << s) / m
    };
    Target(saturate(q))
}

fn u256_to_f64(x: U256) -> f64 {
    x.0.iter()
        .enumerate()
        .map(|(i, l)| (*l as f64) * 2f64.powi(64 * i as i32))
        .sum()
}

/// The Stratum difficulty of a target, `DIFF1 * multiplier / target` (floating point; the
/// inverse of [`difficulty_to_target`] up to rounding). The zero target has infinite difficulty.
pub fn target_to_difficulty(target: &Target, multiplier: u64) -> f64 {
    let t = u256_to_f64(target.0);
    if t == 0.0 {
        return f64::INFINITY;
    }
    u256_to_f64(diff1_target().0) * multiplier as f64 / t
}

/// `mining.notify`'s `prevhash`: the 32 header bytes of the previous block hash with each
/// 4-byte word byte-reversed (cgminer's convention: it swaps every word back when it builds the
/// header). Equivalently, the usual big-endian display hex with its eight words in reverse order.
pub fn stratum_prevhash(hash: &bitcoin::BlockHash) -> String {
    let b = hash.to_byte_array();
    let mut out = [0u8; 32];
    for (o, i) in out.chunks_exact_mut(4).zip(b.chunks_exact(4)) {
        o.copy_from_slice(&[i[3], i[2], i[1], i[0]]);
    }
    hex::encode(out)
}

/// The 80-byte header a miner hashes for `job` with `extranonce = extranonce1 || extranonce2`
/// and the rolled fields, without building the coinbase transaction:
/// `merkle root = fold(SHA256d(coinb1 || extranonce || coinb2), branch)`.
pub fn build_header(
    job: &ShareJob,
    extranonce: &[u8],
    version: u32,
    ntime: u32,
    nonce: u32,
) -> [u8; 80] {
    let cb = &job.coinbase;
    let mut engine = sha256d::Hash::engine();
    bitcoin::hashes::HashEngine::input(&mut engine, &cb.prefix);
    bitcoin::hashes::HashEngine::input(&mut engine, extranonce);
    bitcoin::hashes::HashEngine::input(&mut engine, &cb.suffix);
    let txid = sha256d::Hash::from_engine(engine);
    let root = otedama_consensus::share::merkle_root_from_branch(txid, &job.merkle_branch);
    let mut h = [0u8; 80];
    h[0..4].copy_from_slice(&version.to_le_bytes());
    h[4..36].copy_from_slice(&job.prev_blockhash.to_byte_array());
    h[36..68].copy_from_slice(&root.to_byte_array());
    h[68..72].copy_from_slice(&ntime.to_le_bytes());
    h[72..76].copy_from_slice(&job.parent_bits.to_consensus().to_le_bytes());
    h[76..80].copy_from_slice(&nonce.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff1_is_compact_1d00ffff() {
        let c = bitcoin::CompactTarget::from_consensus(0x1d00ffff);
        assert_eq!(Target::from_compact(c), diff1_target());
        assert_eq!(difficulty_to_target(1.0, 1), diff1_target());
        assert_eq!(
            difficulty_to_target(1.0, 65536),
            Target(diff1_target().0 << 16)
        );
    }

    #[test]
    fn exact_powers_of_two() {
        assert_eq!(difficulty_to_target(0.5, 1), Target(diff1_target().0 << 1));
        assert_eq!(
            difficulty_to_target(1024.0, 1),
            Target(diff1_target().0 >> 10)
        );
        assert_eq!(difficulty_to_target(1e-300, 1), Target(U256::MAX));
        assert_eq!(difficulty_to_target(f64::MAX, 1), Target(U256::zero()));
    }
}
