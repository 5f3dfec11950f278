//! A mempool like mainnet's: several blocks' worth of standard transactions at varied fee
//! rates, built here from the regtest coinbases that [`Litecoind::generate`] pays to the
//! anyone-can-spend P2WSH(`OP_TRUE`) address, so no wallet signs anything and thousands of
//! transactions cost one `sendrawtransaction` each.

use crate::litecoind::Litecoind;
use bitcoin::absolute::LockTime;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use serde_json::json;

/// Coinbase maturity on every Bitcoin-family chain.
const MATURITY: u64 = 100;
/// Outputs of one fan-out transaction (about 86 kWU: standard, under 400 kWU).
const FAN_OUT: usize = 500;
/// Outputs of one filler transaction: about 3.6 kWU each, so a block holds about 1,100.
const FILLER_OUTPUTS: usize = 20;

/// `OP_TRUE`, the witness script of every coin here.
fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

/// P2WSH(`OP_TRUE`): what [`crate::litecoind::op_true_address`] decodes to.
pub fn op_true_script() -> ScriptBuf {
    let program = sha256::Hash::hash(&[0x51]);
    let mut s = vec![0x00, 0x20];
    s.extend_from_slice(program.as_byte_array());
    ScriptBuf::from_bytes(s)
}

fn spend(prevout: OutPoint, outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: prevout,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[op_true().into_bytes()]),
        }],
        output: outputs,
    }
}

/// Spends `prevout` into `n` OP_TRUE outputs of `each`.
fn split(prevout: OutPoint, each: u64, n: usize) -> Transaction {
    spend(
        prevout,
        vec![
            TxOut {
                value: Amount::from_sat(each),
                script_pubkey: op_true_script(),
            };
            n
        ],
    )
}

fn send(node: &Litecoind, tx: &Transaction) -> Txid {
    let hex = bitcoin::consensus::encode::serialize_hex(tx);
    let txid = node.call_str("sendrawtransaction", json!([hex, 0]));
    assert_eq!(txid, tx.compute_txid().to_string());
    tx.compute_txid()
}

/// What [`fill_mempool`] put in.
#[derive(Clone, Debug, Default)]
pub struct Filled {
    pub transactions: usize,
    pub weight: u64,
    pub fees: u64,
}

/// Puts at least `target_weight` WU of standard transactions into `node`'s mempool, with fee
/// rates spread over 10..=209 sat/vB so that fee-rate order matters. Coins come from mature
/// `OP_TRUE` coinbases, split first by fan-out transactions that are mined into one block
/// (mined here: call it before the pool starts, or accept that one block is the daemon's).
pub fn fill_mempool(node: &Litecoind, target_weight: u64) -> Filled {
    let per_filler = split(OutPoint::null(), 0, FILLER_OUTPUTS).weight().to_wu();
    let fillers = (target_weight / per_filler + 1) as usize;
    let fan_outs = fillers.div_ceil(FAN_OUT);
    // Mature OP_TRUE coinbases, newest first.
    let tip = node.height();
    let mut coins = Vec::new();
    let mut h = tip.saturating_sub(MATURITY);
    while coins.len() < fan_outs && h > 0 {
        let hash = node.call_str("getblockhash", json!([h]));
        let block = node.call("getblock", json!([hash, 2]));
        let cb = &block["tx"][0];
        let out = &cb["vout"][0];
        if out["scriptPubKey"]["hex"].as_str() == Some(&hex_of(&op_true_script())) {
            let txid: Txid = cb["txid"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .expect("txid");
            let sats = (out["value"].as_f64().unwrap_or(0.0) * 1e8).round() as u64;
            coins.push((OutPoint { txid, vout: 0 }, sats));
        }
        h -= 1;
    }
    assert!(
        coins.len() >= fan_outs,
        "{}: only {} mature OP_TRUE coinbases for {fan_outs} fan-outs",
        node.name,
        coins.len()
    );
    // Fan out, then confirm the fan-outs so every filler spends a confirmed coin (no
    // unconfirmed chains, which mempool policy limits to 25).
    let mut pieces = Vec::new();
    for (prevout, value) in coins {
        let fee = 100_000 * 100; // ~100 sat/vB on ~22 kvB
        let each = (value - fee) / FAN_OUT as u64;
        let tx = split(prevout, each, FAN_OUT);
        let txid = send(node, &tx);
        pieces.extend((0..FAN_OUT as u32).map(|vout| (OutPoint { txid, vout }, each)));
    }
    node.generate(1);
    let mut filled = Filled::default();
    for (i, (prevout, value)) in pieces.into_iter().take(fillers).enumerate() {
        let vsize = per_filler.div_ceil(4);
        let rate = 10 + (i as u64 * 7919) % 200;
        let fee = vsize * rate;
        let each = (value - fee) / FILLER_OUTPUTS as u64;
        let tx = split(prevout, each, FILLER_OUTPUTS);
        send(node, &tx);
        filled.transactions += 1;
        filled.weight += tx.weight().to_wu();
        filled.fees += value - each * FILLER_OUTPUTS as u64;
    }
    filled
}

fn hex_of(script: &ScriptBuf) -> String {
    script
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
