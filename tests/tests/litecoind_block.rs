//! End to end against a real full node, in the pre-MWEB format (the one test with MWEB off, named
//! for that; every other end-to-end test runs with MWEB active, as mainnet does): shares that the
//! consensus crate builds on Litecoin Core's own `getblocktemplate` are blocks that Litecoin Core accepts and relays,
//! paying exactly what the template allows; a coinbase that pays one satoshi more is refused.
//!
//! Needs `/usr/lib/litecoin/litecoind` (`apt-get install -y litecoind`). Without it the test is
//! skipped, unless `OTEDAMA_REQUIRE_FULL_NODES` is set, which makes a missing daemon a failure.

use bitcoin::{Amount, Denomination};
use otedama_consensus::builder::{build_share_job, grind, ShareJob, ShareJobInput};
use otedama_consensus::chain::address::parse_address;
use otedama_consensus::coinbase::commitment_script;
use otedama_consensus::share::merkle_root_from_branch;
use otedama_consensus::template::{BlockTemplate, RawTemplate};
use otedama_consensus::validation::{check_stateless, Checked};
use otedama_consensus::{
    Chain, MemoryChain, PayoutScript, PoolParams, Preset, Share, ShareHash, Target,
};
use otedama_tests::litecoind::{self, wait_for, Litecoind, RpcError};
use serde_json::{json, Value};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Pool side.

/// `getblocktemplate` (both rules, as Litecoin Core requires) parsed by the consensus crate;
/// also returns the raw reply. Waits out "not connected" (-9) and "in initial sync" (-10).
fn get_template(node: &Litecoind) -> (BlockTemplate, Value) {
    let reply = wait_for("getblocktemplate to leave -9/-10", || {
        match node.try_call("getblocktemplate", json!([{"rules": ["segwit", "mweb"]}])) {
            Ok(v) => Some(v),
            Err(RpcError::Node { code: -9 | -10, .. }) => None,
            Err(e) => panic!("getblocktemplate failed: {e}"),
        }
    });
    let raw: RawTemplate = serde_json::from_value(reply.clone())
        .unwrap_or_else(|e| panic!("RawTemplate cannot parse getblocktemplate ({e}): {reply}"));
    let template = BlockTemplate::from_raw(&raw)
        .unwrap_or_else(|e| panic!("BlockTemplate::from_raw refused the template: {e}"));
    (template, reply)
}

/// Grinds shares of `job` with fresh extranonces until one is also a block; every share must
/// pass the stateless checks.
fn grind_block(pool: &PoolParams, job: &ShareJob, extranonce: &mut u64) -> (Share, Checked) {
    let time = u32::try_from(job.side.timestamp).expect("share timestamp fits a header");
    for _ in 0..64 {
        *extranonce += 1;
        let share = grind(pool, job, &extranonce.to_le_bytes(), time)
            .expect("a regtest share target is met within the nonce range");
        let checked = check_stateless(pool, &share, pool.chain.stateless_pow())
            .unwrap_or_else(|e| panic!("own share fails the stateless checks: {e}"));
        if checked.is_block {
            return (share, checked);
        }
        eprintln!(
            "share {} meets the share target but not 0x{:08x}; next extranonce",
            checked.id,
            job.parent_bits.to_consensus()
        );
    }
    panic!("64 shares in a row were not blocks at a regtest target");
}

fn job_for(
    pool: &PoolParams,
    chain: &MemoryChain,
    template: &BlockTemplate,
    parent: Option<ShareHash>,
    payout: &PayoutScript,
) -> ShareJob {
    build_share_job(
        pool,
        chain,
        &ShareJobInput {
            parent,
            uncles: vec![],
            payout_script: payout.clone(),
            now: template.curtime,
            software_version: 1,
            template,
            extranonce_len: 8,
            tag: b"/otedama-e2e/",
        },
    )
    .unwrap_or_else(|e| panic!("build_share_job failed at height {}: {e}", template.height))
}

/// A JSON amount in LTC, exactly, in litoshis.
fn sats(v: &Value) -> u64 {
    let n = v
        .as_number()
        .unwrap_or_else(|| panic!("amount {v} is not a number"));
    Amount::from_str_in(&n.to_string(), Denomination::Bitcoin)
        .unwrap_or_else(|e| panic!("amount {n}: {e}"))
        .to_sat()
}

fn str_field<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("field {} is not a string in {v}", path.join(".")))
}

/// The address an output pays, from `scriptPubKey.address` (Core 22+) or `.addresses[0]` (0.21).
fn output_address(out: &Value) -> Option<&str> {
    let spk = &out["scriptPubKey"];
    spk["address"]
        .as_str()
        .or_else(|| spk["addresses"].get(0).and_then(Value::as_str))
}

#[test]
fn mweb_off_litecoind_accepts_blocks_built_from_shares() {
    if !litecoind::available("mweb_off_litecoind_accepts_blocks_built_from_shares") {
        return;
    }
    let started = Instant::now();
    let node1 = Litecoind::start("node1", &[litecoind::MWEB_OFF.into()]);
    let node2 = node1.start_peer("node2");

    node1.call("createwallet", json!(["otedama"]));
    let addr = node1.call_str("getnewaddress", json!(["", "bech32"]));
    assert!(
        addr.starts_with("rltc1"),
        "not a regtest bech32 address: {addr}"
    );
    // 101 blocks: leaves initial sync, and the first coinbase matures so the wallet can make
    // transactions (with witnesses) for the later templates.
    node1.call("generatetoaddress", json!([101, addr]));

    let pool = PoolParams::preset(Chain::LitecoinRegtest, Preset::Main);
    let payout = PayoutScript::from(
        parse_address(Chain::LitecoinRegtest.bitcoin_params().unwrap(), &addr)
            .unwrap_or_else(|e| panic!("parse_address({addr}): {e}")),
    );
    let mut chain = MemoryChain::new();
    let mut parent: Option<ShareHash> = None;
    let mut extranonce = 0u64;

    for round in 0..3usize {
        // Round r's template carries r wallet transactions: the merkle branch and the witness
        // commitment then cover real segwit transactions, and the coinbase value their fees.
        for _ in 0..round {
            node1.call("sendtoaddress", json!([addr, 1.0]));
        }
        let (template, raw) = get_template(&node1);
        assert_eq!(
            template.transactions.len(),
            round,
            "round {round}: template transactions"
        );
        assert!(template.mweb.is_none(), "MWEB should be off");
        let fees: u64 = raw["transactions"]
            .as_array()
            .map(|txs| txs.iter().map(|tx| tx["fee"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        assert_eq!(
            template.coinbase_value,
            Chain::LitecoinRegtest.subsidy(template.height) + fees,
            "round {round}: coinbasevalue is the consensus crate's subsidy plus the fees"
        );
        let witness_commitment = template
            .witness_commitment
            .clone()
            .expect("segwit is active on regtest: the template has a witness commitment");

        let job = job_for(&pool, &chain, &template, parent, &payout);
        let (share, checked) = grind_block(&pool, &job, &mut extranonce);
        let info = chain
            .validate_and_insert(&pool, &share, template.curtime)
            .unwrap_or_else(|e| panic!("round {round}: own share refused: {e}"));
        assert_eq!(info.height, round as u64);
        assert_eq!(checked.reward, template.coinbase_value);

        let hash = share
            .candidate
            .as_bitcoin()
            .unwrap()
            .header
            .block_hash()
            .to_string();
        assert_eq!(
            share.id().to_string(),
            hash,
            "share id displays as the block hash"
        );
        let block = template.assemble_block(
            &share.candidate.as_bitcoin().unwrap().header,
            &share.candidate.as_bitcoin().unwrap().coinbase,
        );
        let result = node1.call("submitblock", json!([hex::encode(&block)]));
        assert!(
            result.is_null(),
            "round {round}: litecoind refused block {hash}: {result}"
        );
        assert_eq!(
            node1.call_str("getbestblockhash", json!([])),
            hash,
            "round {round}: the submitted block is the tip"
        );

        // The node's own view of the block.
        let got = node1.call("getblock", json!([hash, 2]));
        assert_eq!(got["height"].as_u64(), Some(u64::from(template.height)));
        let txs = got["tx"]
            .as_array()
            .unwrap_or_else(|| panic!("getblock has no tx array: {got}"));
        assert_eq!(txs.len(), 1 + template.transactions.len());
        for (tx, txid) in txs[1..].iter().zip(&template.txids) {
            assert_eq!(str_field(tx, &["txid"]), txid.to_string());
        }
        let cb = &txs[0];
        assert_eq!(
            str_field(cb, &["txid"]),
            share
                .candidate
                .as_bitcoin()
                .unwrap()
                .coinbase
                .compute_txid()
                .to_string()
        );
        assert_eq!(
            str_field(cb, &["hash"]),
            share
                .candidate
                .as_bitcoin()
                .unwrap()
                .coinbase
                .compute_wtxid()
                .to_string()
        );
        let vout = cb["vout"]
            .as_array()
            .unwrap_or_else(|| panic!("coinbase has no vout array: {cb}"));
        // payouts | share commitment | witness commitment
        let n = job.payouts.len();
        assert!(n >= 1, "at least one payout");
        assert_eq!(vout.len(), n + 2, "coinbase outputs: {cb}");
        let mut paid = 0u64;
        for (out, (script, amount)) in vout.iter().zip(&job.payouts) {
            assert_eq!(
                str_field(out, &["scriptPubKey", "hex"]),
                hex::encode(script.as_bytes())
            );
            assert_eq!(output_address(out), Some(addr.as_str()), "payout {out}");
            assert_eq!(sats(&out["value"]), *amount);
            paid += sats(&out["value"]);
        }
        assert_eq!(
            paid, template.coinbase_value,
            "payouts sum to coinbasevalue"
        );
        let commitment = str_field(&vout[n], &["scriptPubKey", "hex"]);
        assert!(
            commitment.starts_with("6a244f54444d"),
            "share commitment output: {commitment}"
        );
        assert_eq!(
            commitment,
            hex::encode(commitment_script(
                &share.side.commitment(&pool.consensus_id())
            ))
        );
        assert_eq!(sats(&vout[n]["value"]), 0);
        let wc = str_field(&vout[n + 1], &["scriptPubKey", "hex"]);
        assert!(wc.starts_with("6a24aa21a9ed"), "witness commitment: {wc}");
        assert_eq!(wc, hex::encode(witness_commitment.as_bytes()));
        assert_eq!(
            raw["default_witness_commitment"].as_str(),
            Some(wc),
            "the computed witness commitment is Core's"
        );
        eprintln!(
            "round {round}: block {hash} at height {} accepted ({} txs, {paid} litoshis)",
            template.height,
            txs.len()
        );
        parent = Some(share.id());
    }

    // A coinbase paying one litoshi more than the template allows: same share otherwise, merkle
    // root recomputed, nonce reground to meet the parent target.
    let (template, _) = get_template(&node1);
    let job = job_for(&pool, &chain, &template, parent, &payout);
    let (share, _) = grind_block(&pool, &job, &mut extranonce);
    let mut bad = share.clone();
    let first = &mut bad.candidate.as_bitcoin_mut().unwrap().coinbase.output[0];
    first.value = Amount::from_sat(first.value.to_sat() + 1);
    bad.candidate.as_bitcoin_mut().unwrap().header.merkle_root = merkle_root_from_branch(
        bad.candidate
            .as_bitcoin()
            .unwrap()
            .coinbase
            .compute_txid()
            .to_raw_hash(),
        &bad.candidate.as_bitcoin().unwrap().merkle_branch,
    );
    let target = Target::from_compact(bad.candidate.as_bitcoin().unwrap().header.bits);
    let algo = pool.chain.pow_algo().unwrap();
    let nonce = (0..100_000u32)
        .find(|&nonce| {
            bad.candidate.as_bitcoin_mut().unwrap().header.nonce = nonce;
            target.is_met_by(&algo.hash(&bad.candidate.as_bitcoin().unwrap().header_bytes()))
        })
        .expect("a regtest block target is met within 100,000 nonces");
    bad.candidate.as_bitcoin_mut().unwrap().header.nonce = nonce;
    // The sharechain cannot refuse this share: it splits whatever total the coinbase claims
    // (other nodes do not know the template's fees), and only the parent chain caps the total.
    let tip = node1.call_str("getbestblockhash", json!([]));
    let block = template.assemble_block(
        &bad.candidate.as_bitcoin().unwrap().header,
        &bad.candidate.as_bitcoin().unwrap().coinbase,
    );
    let result = node1.call("submitblock", json!([hex::encode(&block)]));
    assert_eq!(
        result.as_str(),
        Some("bad-cb-amount"),
        "litecoind must refuse the overpaying coinbase"
    );
    assert_eq!(node1.call_str("getbestblockhash", json!([])), tip);
    eprintln!("overpaying block refused: {result}");

    // The accepted blocks reached the second node over P2P and it accepted them too.
    wait_for("node2 to reach node1's tip", || {
        (node2.call_str("getbestblockhash", json!([])) == tip).then_some(())
    });
    eprintln!("litecoind end-to-end test took {:?}", started.elapsed());
}
