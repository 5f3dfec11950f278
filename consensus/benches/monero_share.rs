//! Cost of validating a Monero share's candidate, RandomX excluded: the stateless checks
//! (`check_candidate`: miner-transaction layout, height, commitment, counts, reward) plus the
//! payout check every node makes (`payouts_match`: one key derivation per output), for 1, 50 and
//! 200 payees; and the candidate's id (miner-transaction hash, branch fold, block id). Baseline
//! in the same run: one `keys::derive_output` to a standard address, the unit the payout check
//! repeats per payee.
//!
//! `cargo bench -p otedama-consensus --bench monero_share` prints one line per measure.
//! `OTEDAMA_BENCH_QUICK=1` for a short smoke run.

#[path = "common.rs"]
mod common;
use common::measure;
use otedama_consensus::chain::monero::block::BlockHeader;
use otedama_consensus::chain::monero::candidate::MoneroCandidate;
use otedama_consensus::chain::monero::check::check_candidate;
use otedama_consensus::chain::monero::keys;
use otedama_consensus::chain::monero::miner_tx::build_miner_tx;
use otedama_consensus::chain::monero::outputs::{payout_outputs, payouts_match};
use otedama_consensus::chain::monero::payee::Payee;
use otedama_consensus::chain::monero::tree::first_leaf_branch;
use otedama_consensus::chain::monero::tx_key::tx_secret_key;
use std::hint::black_box;

const HEIGHT: u64 = 3_400_000;
const COMMITMENT: [u8; 32] = [0x5c; 32];

fn pubkey(seed: &[u8]) -> [u8; 32] {
    keys::secret_key_to_public_key(&keys::hash_to_scalar(seed).to_bytes()).expect("key")
}

/// `n` payees, every tenth a subaddress (so the additional-key path is paid too when n > 1).
fn payees(n: usize) -> Vec<(Payee, u64)> {
    (0..n)
        .map(|i| {
            let s = (i as u32).to_le_bytes();
            let p = Payee::new(
                pubkey(&[&s[..], b"spend"].concat()),
                pubkey(&[&s[..], b"view"].concat()),
                n > 1 && i % 10 == 9,
            )
            .expect("payee");
            (p, 600_000_000_000 / n as u64 + 1)
        })
        .collect()
}

fn candidate(tx_secret: &[u8; 32], payees: &[(Payee, u64)]) -> MoneroCandidate {
    let outs = payout_outputs(tx_secret, payees).expect("outputs");
    let miner_tx = build_miner_tx(HEIGHT, &outs, &[0; 8], &COMMITMENT).expect("miner tx");
    // A block of 40 transactions: a branch of 5.
    let mut leaves = vec![miner_tx.hash()];
    leaves.extend((1..40u8).map(|i| [i; 32]));
    MoneroCandidate {
        header: BlockHeader {
            major_version: 16,
            minor_version: 16,
            timestamp: 1_750_000_000,
            prev_id: [7; 32],
            nonce: 0,
        },
        miner_tx,
        tx_branch: first_leaf_branch(&leaves),
        tx_count: leaves.len() as u64,
        seed_hash: [8; 32],
    }
}

fn main() {
    let quick = std::env::var_os("OTEDAMA_BENCH_QUICK").is_some();
    let rounds = if quick { 3 } else { 9 };

    let r = tx_secret_key(&[1; 32], &[7; 32]);
    let (b, a) = (pubkey(b"b"), pubkey(b"a"));
    let baseline = measure(rounds, if quick { 20 } else { 200 }, || {
        black_box(keys::derive_output(black_box(&r), &b, &a, false, 3).expect("derive"));
    });
    println!(
        "baseline: derive_output, standard         {:>10.2} us",
        us(baseline)
    );
    let t = measure(rounds, if quick { 200 } else { 2000 }, || {
        black_box(tx_secret_key(&[1; 32], black_box(&[7; 32])));
    });
    println!(
        "tx_secret_key                             {:>10.2} us",
        us(t)
    );

    for n in [1usize, 50, 200] {
        let p = payees(n);
        let c = candidate(&r, &p);
        let iters = if quick { 2 } else { (400 / n as u32).max(4) };
        let checks = measure(rounds, iters * 20, || {
            black_box(check_candidate(black_box(&c), HEIGHT, &COMMITMENT, 1000).expect("ok"));
        });
        let id = measure(rounds, iters * 20, || {
            black_box(black_box(&c).id());
        });
        let full = measure(rounds, iters, || {
            let f = check_candidate(black_box(&c), HEIGHT, &COMMITMENT, 1000).expect("ok");
            assert!(payouts_match(
                &r,
                &p,
                &f.tx_public,
                &f.additional,
                &c.miner_tx.outputs
            ));
        });
        println!(
            "{n:>3} payees: check_candidate               {:>10.2} us",
            us(checks)
        );
        println!(
            "{n:>3} payees: candidate id                  {:>10.2} us",
            us(id)
        );
        println!(
            "{n:>3} payees: check_candidate + payouts_match {:>8.2} us  ({:.1}x baseline, {:.2}x per payee)",
            us(full),
            full.as_secs_f64() / baseline.as_secs_f64(),
            full.as_secs_f64() / baseline.as_secs_f64() / n as f64
        );
    }
}

fn us(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
