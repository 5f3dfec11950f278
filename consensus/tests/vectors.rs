//! Public chain data: Bitcoin mainnet blocks (valid and invalid), the Litecoin genesis scrypt
//! hash, and two real litecoind regtest `getblocktemplate` replies (before MWEB and at the first
//! MWEB block).

use bitcoin::hashes::Hash;
use otedama_consensus::block_check::{check_block, BlockError, BlockRules, MAX_FUTURE_BLOCK_TIME};
use otedama_consensus::builder::{build_share_job, grind, ShareJobInput};
use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::template::{merkle_root, BlockTemplate, RawTemplate};
use otedama_consensus::validation::check_stateless;
use otedama_consensus::{MemoryChain, PayoutScript};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/chain-vectors.json")).unwrap()
}

fn hex_str(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap().to_string()
}

const GENESIS_TIME: u64 = 1_231_006_505;

fn btc() -> BlockRules {
    BlockRules::for_chain(Chain::Bitcoin.bitcoin_params().unwrap())
}

fn ltc_regtest() -> BlockRules {
    BlockRules::for_chain(Chain::LitecoinRegtest.bitcoin_params().unwrap())
}

#[test]
fn valid_bitcoin_blocks_hash_and_check() {
    let v = vectors();
    for b in v["valid_blocks"].as_array().unwrap() {
        let name = hex_str(b, "name");
        let bytes = hex::decode(hex_str(b, "block_hex")).unwrap();
        // The clock two hours minus one second behind the block time is still fine.
        let now = if name.contains("two hours") {
            GENESIS_TIME - (MAX_FUTURE_BLOCK_TIME - 1)
        } else {
            1_300_000_000
        };
        let hash = check_block(&bytes, &btc(), now)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .hash;
        assert_eq!(hash.to_string(), hex_str(b, "block_hash"), "{name}");
        // The header alone hashes the same.
        let header: [u8; 80] = hex::decode(hex_str(b, "header_hex"))
            .unwrap()
            .try_into()
            .unwrap();
        let mut pow = PowAlgo::Sha256d.hash(&header);
        pow.reverse();
        assert_eq!(hex::encode(pow), hex_str(b, "block_hash"), "{name}");
    }
}

#[test]
fn invalid_bitcoin_blocks_are_refused_for_the_right_reason() {
    let v = vectors();
    for b in v["invalid_blocks"].as_array().unwrap() {
        let name = hex_str(b, "name");
        let bytes = hex::decode(hex_str(b, "block_hex")).unwrap();
        let now = if name.contains("two hours") {
            GENESIS_TIME - (MAX_FUTURE_BLOCK_TIME + 1)
        } else {
            1_300_000_000
        };
        let err = check_block(&bytes, &btc(), now).expect_err(&name);
        let structural = check_block(&bytes, &btc().without_pow(), now).map(|b| b.hash);
        let expected = match name.as_str() {
            n if n.contains("two hours") => Some(BlockError::TimeTooNew),
            n if n.contains("Empty vtx") => Some(BlockError::NoTransactions),
            n if n.contains("not a coinbase") => Some(BlockError::FirstNotCoinbase),
            n if n.contains("More than one coinbase") => Some(BlockError::MultipleCoinbase),
            n if n.contains("Duplicate transaction") => Some(BlockError::DuplicateTransaction),
            n if n.contains("Merkle root mismatch") => Some(BlockError::BadMerkleRoot),
            _ => None, // "one byte changed": whichever check the byte breaks.
        };
        if let Some(e) = expected {
            assert!(err == e || structural == Err(e.clone()), "{name}: {err:?}");
        }
    }
}

#[test]
fn litecoin_genesis_scrypt_pow() {
    let v = vectors();
    let g = &v["litecoin_mainnet_genesis"];
    let header: [u8; 80] = hex::decode(hex_str(g, "header_hex"))
        .unwrap()
        .try_into()
        .unwrap();
    let mut pow = PowAlgo::Scrypt1024.hash(&header);
    pow.reverse();
    assert_eq!(hex::encode(pow), hex_str(g, "pow_hash_scrypt_1024_1_1"));
    assert!(hex::encode(pow).starts_with("0000050c34a64b"));
    // And it meets the genesis target 0x1e0ffff0.
    let t =
        otedama_consensus::Target::from_compact(bitcoin::CompactTarget::from_consensus(0x1e0ffff0));
    assert!(t.is_met_by(&PowAlgo::Scrypt1024.hash(&header)));
}

fn template(json: &str) -> BlockTemplate {
    let raw: RawTemplate = serde_json::from_str(json).unwrap();
    BlockTemplate::from_raw(&raw).unwrap()
}

#[test]
fn pre_mweb_template_builds_a_valid_share_and_block() {
    let t = template(include_str!("data/height2-pre-mweb.json"));
    assert_eq!(t.height, 2);
    assert_eq!(t.coinbase_value, 5_000_000_000);
    assert!(t.transactions.is_empty());
    // Computed witness commitment equals Core's default_witness_commitment (checked in from_raw).
    assert_eq!(
        hex::encode(t.witness_commitment.as_ref().unwrap().as_bytes()),
        "6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9"
    );
    let (pool, script, job) = first_share_job(&t);
    assert_eq!(job.payouts, vec![(script, 5_000_000_000)]);
    let share = grind(&pool, &job, &[0u8; 12], t.curtime as u32).unwrap();
    let checked = check_stateless(&pool, &share, pool.chain.stateless_pow()).unwrap();
    // No transactions: the merkle root is the coinbase txid.
    assert_eq!(
        share
            .candidate
            .as_bitcoin()
            .unwrap()
            .header
            .merkle_root
            .to_byte_array(),
        share
            .candidate
            .as_bitcoin()
            .unwrap()
            .coinbase
            .compute_txid()
            .to_byte_array()
    );
    let block = t.assemble_block(
        &share.candidate.as_bitcoin().unwrap().header,
        &share.candidate.as_bitcoin().unwrap().coinbase,
    );
    let rules = if checked.is_block {
        ltc_regtest()
    } else {
        ltc_regtest().without_pow()
    };
    check_block(&block, &rules, t.curtime).unwrap();
}

#[test]
fn first_mweb_template_keeps_hogex_last_and_appends_the_extension_block() {
    let t = template(include_str!("data/height432-first-mweb.json"));
    assert_eq!(t.height, 432);
    let mweb = t.mweb.as_ref().expect("mweb field");
    assert!(!t.transactions.is_empty());
    // The branch folds to the same root as the full tree over [coinbase, txs...].
    let coinbase_txid = [0x11u8; 32];
    let mut leaves = vec![coinbase_txid];
    leaves.extend(t.txids.iter().map(|x| x.to_byte_array()));
    let root = otedama_consensus::share::merkle_root_from_branch(
        bitcoin::hashes::sha256d::Hash::from_byte_array(coinbase_txid),
        &t.merkle_branch(),
    );
    assert_eq!(root.to_byte_array(), merkle_root(&leaves));
    // Build a share and a block: header, txs (HogEx last), 0x01, the MWEB block.
    let (pool, _, job) = first_share_job(&t);
    assert_eq!(
        job.payouts.iter().map(|(_, a)| a).sum::<u64>(),
        1_250_005_530
    );
    let share = grind(&pool, &job, &[7u8; 12], t.curtime as u32).unwrap();
    let checked = check_stateless(&pool, &share, pool.chain.stateless_pow()).unwrap();
    let block = t.assemble_block(
        &share.candidate.as_bitcoin().unwrap().header,
        &share.candidate.as_bitcoin().unwrap().coinbase,
    );
    // The node's own pre-submit check understands the HogEx and the extension block.
    let rules = if checked.is_block {
        ltc_regtest()
    } else {
        ltc_regtest().without_pow()
    };
    let ok = check_block(&block, &rules, t.curtime).unwrap();
    assert_eq!(ok.transactions, 3);
    assert!(ok.weight > 376 + 485);
    // Without its extension block, or on a chain without MWEB, it is refused.
    let cut = &block[..block.len() - mweb.len() - 1];
    assert!(matches!(
        check_block(cut, &rules, t.curtime),
        Err(BlockError::Decode(_))
    ));
    let mut btc_rules = rules;
    btc_rules.mweb = false;
    assert!(check_block(&block, &btc_rules, t.curtime).is_err());
    assert_eq!(block[block.len() - mweb.len() - 1], 0x01);
    assert!(block.ends_with(mweb));
    let last_tx = t.transactions.last().unwrap();
    assert!(block[..block.len() - mweb.len() - 1].ends_with(last_tx));
}

/// The job for the first share of a new litecoin-regtest sharechain on a template, paying one
/// regtest address.
fn first_share_job(
    t: &BlockTemplate,
) -> (
    PoolParams,
    PayoutScript,
    otedama_consensus::builder::ShareJob,
) {
    let pool = PoolParams::preset(Chain::LitecoinRegtest, Preset::Main);
    let script = PayoutScript::from(
        otedama_consensus::chain::address::parse_address(
            Chain::LitecoinRegtest.bitcoin_params().unwrap(),
            &rltc_address(),
        )
        .unwrap(),
    );
    let job = build_share_job(
        &pool,
        &MemoryChain::new(),
        &ShareJobInput {
            parent: None,
            uncles: vec![],
            payout_script: script.clone(),
            now: t.curtime,
            software_version: 1,
            template: t,
            extranonce_len: 12,
            tag: b"/otedama/",
        },
    )
    .unwrap();
    (pool, script, job)
}

/// A regtest bech32 address of a fixed key hash.
fn rltc_address() -> String {
    use bitcoin::bech32::{segwit, Hrp};
    segwit::encode_v0(Hrp::parse("rltc").unwrap(), &[0x42; 20]).unwrap()
}
