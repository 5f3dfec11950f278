//! Cost of the Monero primitives a node pays per share, RandomX excluded (that is
//! `randomx-bench`): deriving and checking one-time output keys and view tags, and parsing and
//! hashing a block. Baseline in the same run: the Keccak-256 of 64 bytes that every derivation
//! step contains, so the point arithmetic's share shows.
//!
//! `cargo bench -p otedama-consensus --bench monero_primitives` prints one line per measure.
//! `OTEDAMA_BENCH_QUICK=1` for a short smoke run.

#[path = "common.rs"]
mod common;
use common::measure;
use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::chain::monero::hash::keccak256;
use otedama_consensus::chain::monero::keys;
use std::hint::black_box;

/// Real mainnet block 2,751,210 (two transactions), from tests/vectors/monero/mainnet.txt.
const BLOCK: &str = "1010d8faa89b06f8a36d0dbe4d27d2f52160000563896048d71067c31e99a3869bf9b7142227bb5328010b02a6f6a70101ffeaf5a70101a08bc8b3bb11036d6713f5aa552a1aaf33baed7591f795b86daf339e51029a9062dfe09f0f909b312b0124d6023d591c4d434000e5e31c6db718a1e96e865939930e90a7042a1cd4cbd202083786a78452fdfc000002a89e380a44d8dfc64b551baa171447a0f9c9262255be6e8f8ef10896e36e2bf90c4d343e416e394ad9cc10b7d2df7b2f39370a554730f75dfcb04944bd62c299";

fn main() {
    let quick = std::env::var_os("OTEDAMA_BENCH_QUICK").is_some();
    let (rounds, iters) = if quick { (3, 20) } else { (15, 400) };

    let secret = |s: &str| keys::hash_to_scalar(s.as_bytes()).to_bytes();
    let (a, b, r) = (secret("view"), secret("spend"), secret("tx"));
    let a_pub = keys::secret_key_to_public_key(&a).expect("key");
    let b_pub = keys::secret_key_to_public_key(&b).expect("key");
    let r_pub = keys::secret_key_to_public_key(&r).expect("key");
    let (sd, sc) = keys::subaddress_keys(&a, &b_pub, 0, 1).expect("subaddress");
    let out = keys::derive_output(&r, &b_pub, &a_pub, false, 7).expect("output");

    let baseline = measure(rounds, iters * 10, || {
        black_box(keccak256(black_box(&[7u8; 64])));
    });
    println!(
        "keccak256(64 bytes)                 {:>9.2} us",
        us(baseline)
    );
    let t = measure(rounds, iters, || {
        black_box(keys::derive_output(&r, &b_pub, &a_pub, false, 7).expect("derive"));
    });
    println!("derive_output, standard address    {:>9.2} us", us(t));
    let t = measure(rounds, iters, || {
        black_box(keys::derive_output(&r, &sd, &sc, true, 7).expect("derive"));
    });
    println!("derive_output, subaddress          {:>9.2} us", us(t));
    let t = measure(rounds, iters, || {
        black_box(
            keys::output_is_mine(&a, &b_pub, &r_pub, 7, &out.key, Some(out.view_tag))
                .expect("check"),
        );
    });
    println!("output_is_mine (wallet side)       {:>9.2} us", us(t));
    let t = measure(rounds, iters, || {
        black_box(keys::check_key(black_box(&b_pub)));
    });
    println!("check_key (decompress)             {:>9.2} us", us(t));
    let blob = hex::decode(BLOCK).expect("hex");
    let t = measure(rounds, iters, || {
        let block = Block::parse(black_box(&blob)).expect("block");
        black_box(block.id());
    });
    println!("Block::parse + id (2 txs)          {:>9.2} us", us(t));
}

fn us(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
