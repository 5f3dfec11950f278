//! Block assembly on a full mempool: how long the node takes to (a) trim a Core template of
//! ~3,300 transactions to the payout coinbase's room, and (b) parse and check a full 4 MWU block
//! with Core's rules before `submitblock` (and before relaying a block a peer found). Baselines
//! measured in the same run: (a) against ordering the transactions by fee rate (what any
//! selection by fee rate does), (b) against the `bitcoin` crate's plain block decode (no checks,
//! no MWEB).
//!
//! `cargo bench -p otedama-consensus --bench block_assembly` (`OTEDAMA_BENCH_QUICK=1`: a smoke
//! run). Numbers: docs/performance.md.

#[path = "common.rs"]
mod common;
use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use common::measure;
use otedama_consensus::block_check::{check_block, BlockRules};
use otedama_consensus::chain::Chain;
use otedama_consensus::coinbase::coinbase_reserve;
use otedama_consensus::template::{witness_commitment_script, TxMeta};
use std::hint::black_box;

/// A standard filler transaction: one P2WSH(OP_TRUE) input, 20 outputs (about 3.6 kWU).
fn filler(i: u32) -> Transaction {
    let mut prev = [0u8; 32];
    prev[..4].copy_from_slice(&i.to_le_bytes());
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array(prev),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0x51u8]]),
        }],
        output: vec![
            TxOut {
                value: Amount::from_sat(100_000),
                script_pubkey: ScriptBuf::from_bytes([&[0x00, 0x20][..], &[7; 32]].concat()),
            };
            20
        ],
    }
}

fn main() {
    let quick = std::env::var_os("OTEDAMA_BENCH_QUICK").is_some();
    let (rounds, iters) = if quick { (3, 2) } else { (15, 10) };
    let txs: Vec<Transaction> = (0..3_300).map(filler).collect();

    // (a) A template holding three blocks' worth, fees spread over 10..209 sat/vB.
    let mut t = otedama_consensus::testkit::template(1_000, 5_000_000_000);
    let mut fees = 0u64;
    for (i, tx) in txs.iter().enumerate() {
        let weight = tx.weight().to_wu();
        let fee = weight.div_ceil(4) * (10 + (i as u64 * 7_919) % 200);
        fees += fee;
        t.transactions.push(bitcoin::consensus::serialize(tx));
        t.txids.push(tx.compute_txid());
        t.wtxids.push(tx.compute_wtxid());
        t.meta.push(TxMeta {
            weight,
            sigops: 0,
            fee: Some(fee),
            depends: vec![],
            hogex: false,
        });
    }
    t.coinbase_value += fees;
    t.witness_commitment = Some(witness_commitment_script(&t.wtxids));
    let reserve = coinbase_reserve(200, 12, b"/otedama/");
    let (fitted, report) = t.fit_coinbase(reserve).expect("fits");
    let fit = measure(rounds, iters, || {
        black_box(t.fit_coinbase(black_box(reserve)).expect("fits"));
    });
    // Baseline: ordering the transactions by fee rate, which any selection by fee rate does.
    let sort = measure(rounds, iters, || {
        let mut order: Vec<(u64, u64, usize)> = black_box(&t)
            .meta
            .iter()
            .enumerate()
            .map(|(i, m)| (m.fee.unwrap_or(0), m.weight, i))
            .collect();
        order.sort_by(|a, b| (a.0 as u128 * b.1 as u128).cmp(&(b.0 as u128 * a.1 as u128)));
        black_box(order);
    });

    // (b) The fitted template as a block (unmined header: proof of work not checked).
    let coinbase = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(vec![0x02, 0xe8, 0x03, 1, 2, 3, 4]),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![
            TxOut {
                value: Amount::from_sat(fitted.coinbase_value),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            },
            TxOut {
                value: Amount::ZERO,
                script_pubkey: fitted.witness_commitment.clone().expect("commitment"),
            },
        ],
    };
    let mut leaves = vec![coinbase.compute_txid().to_byte_array()];
    leaves.extend(fitted.txids.iter().map(|x| x.to_byte_array()));
    let header = bitcoin::block::Header {
        version: fitted.version,
        prev_blockhash: fitted.prev_blockhash,
        merkle_root: bitcoin::TxMerkleNode::from_byte_array(
            otedama_consensus::template::merkle_root(&leaves),
        ),
        time: fitted.curtime as u32,
        bits: fitted.bits,
        nonce: 0,
    };
    let block: Vec<u8> = fitted.assemble_block(&header, &coinbase);
    let rules =
        BlockRules::for_chain(Chain::BitcoinRegtest.bitcoin_params().unwrap()).without_pow();
    let checked = check_block(&block, &rules, fitted.curtime).expect("valid block");
    let check = measure(rounds, iters, || {
        black_box(check_block(black_box(&block), &rules, fitted.curtime).expect("valid"));
    });
    let decode = measure(rounds, iters, || {
        let b: bitcoin::Block = bitcoin::consensus::deserialize(black_box(&block)).expect("block");
        black_box(b);
    });
    println!(
        "fit_coinbase txs={} dropped={} weight_with_reserve={} fit={:.2} ms baseline_sort_by_fee_rate={:.2} ms ratio={:.1}x",
        t.transactions.len(),
        report.dropped,
        report.weight_with_reserve,
        fit.as_secs_f64() * 1e3,
        sort.as_secs_f64() * 1e3,
        fit.as_secs_f64() / sort.as_secs_f64()
    );
    println!(
        "check_block bytes={} txs={} weight={} check={:.2} ms baseline_decode={:.2} ms ratio={:.1}x",
        block.len(),
        checked.transactions,
        checked.weight,
        check.as_secs_f64() * 1e3,
        decode.as_secs_f64() * 1e3,
        check.as_secs_f64() / decode.as_secs_f64()
    );
}
