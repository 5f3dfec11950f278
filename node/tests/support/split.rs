//! The check every mining end-to-end test makes of a block: its coinbase pays exactly the PPLNS
//! split that the node's own sharechain computes for the share whose id is the block's hash.

use bitcoin::hashes::Hash;
use otedama_consensus::pool::PoolParams;
use otedama_consensus::pplns::{lottery_seed, payout_outputs, SplitParams, WindowWeights};
use otedama_consensus::{ChainView, MemoryChain, ShareHash};
use otedama_sharechain::Sharechain;
use serde_json::Value;

/// Asserts that `block` (`getblock` verbosity 2, at height `h`) pays the split of its share in
/// `chain`; returns the outputs with value (script bytes, litoshis).
pub fn assert_coinbase_is_the_split(
    chain: &Sharechain,
    pool: &PoolParams,
    block: &Value,
    h: u64,
) -> Vec<(Vec<u8>, u64)> {
    let hash = block["hash"].as_str().expect("block hash");
    let outputs: Vec<(Vec<u8>, u64)> = block["tx"][0]["vout"]
        .as_array()
        .expect("coinbase outputs")
        .iter()
        .map(|o| {
            let script = hex::decode(o["scriptPubKey"]["hex"].as_str().expect("script"))
                .expect("script hex");
            let sats = (o["value"].as_f64().expect("value") * 1e8).round() as u64;
            (script, sats)
        })
        .collect();
    // The block's hash is the share id. Early blocks' shares may lie below what the store loads
    // into memory, so the whole stored index serves as the view.
    let id: ShareHash = hash.parse().expect("hash");
    let mut view = MemoryChain::new();
    for info in chain.store().infos_from_height(0).expect("stored index") {
        view.infos.insert(info.id, info);
    }
    let info = view
        .share_info(&id)
        .cloned()
        .unwrap_or_else(|| panic!("block {h} ({hash}) is not a share of the node"));
    let share = chain.store().share(&id).expect("store").expect("the share");
    let window = WindowWeights::from_scratch(&view, pool, &info).expect("window");
    let reward = share.candidate.as_bitcoin().unwrap().coinbase_value();
    let seed = lottery_seed(
        share
            .candidate
            .as_bitcoin()
            .unwrap()
            .header
            .prev_blockhash
            .as_byte_array(),
        share.side.prev_share.as_byte_array(),
    );
    let expect = payout_outputs(
        &window,
        reward,
        &SplitParams {
            min_payout: pool.min_payout,
            max_outputs: pool.max_payout_outputs,
        },
        &seed,
    );
    let paid: Vec<(Vec<u8>, u64)> = outputs.into_iter().filter(|(_, v)| *v > 0).collect();
    let expect: Vec<(Vec<u8>, u64)> = expect
        .iter()
        .map(|(s, a)| (s.as_bytes().to_vec(), *a))
        .collect();
    assert_eq!(
        paid, expect,
        "block {h}: coinbase differs from the sharechain's split"
    );
    paid
}
