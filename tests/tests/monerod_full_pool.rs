//! A block found by a Monero share under a full transaction pool, against a real regtest
//! `monerod` (Debian's 0.18) and real `monero-wallet-rpc`, with RandomX from Debian's librandomx.
//!
//! The situation on mainnet at busy times: the pool holds more than the 300,000-byte
//! full-reward zone of transactions, so `get_block_template` fills its block to the median
//! weight or past it (into the penalty zone, as far as the fees outweigh the penalty), for its
//! own miner transaction of a few dozen bytes. A share's miner transaction pays every miner of
//! the PPLNS window (kilobytes); with monerod's transaction set the block would cross into the
//! penalty zone and, since hard fork 13, monerod refuses a coinbase that does not pay exactly
//! the penalised reward. The job path (`MoneroRpc::get_work`, `MoneroBoard::job_for`) chooses
//! the transactions itself (`TxMenu`) so that the block, miner transaction included, stays
//! within the zone and pays exactly the base reward plus their fees.
//!
//! Here: a wallet fills the pool with 16-output transactions (6.2 to 6.8 kB of weight each,
//! most at the wallet's priority 3 so that monerod's own template goes well past the zone,
//! some at priority 1); a sharechain of many miners (a quarter paid at subaddresses, so the
//! miner transaction carries an additional key per output) is built with Otedama's consensus
//! code and validated with real RandomX; the board's job is ground until it is a block, which
//! monerod must accept, paying exactly what the job says, within the zone, leaving the
//! transactions it did not choose in the pool.

use otedama_consensus::chain::monero::keys;
use otedama_consensus::chain::monero::payee::Payee;
use otedama_consensus::chain::monero::reward::FULL_REWARD_ZONE;
use otedama_consensus::chain::Chain;
use otedama_consensus::monero_builder::{build_monero_share, grind_monero, MoneroShareInput};
use otedama_consensus::pow::{PowHasher, PowInput};
use otedama_consensus::{MemoryChain, PayoutScript, PoolParams, Preset, ShareHash};
use otedama_mining::board::TipWork;
use otedama_mining::monero::job::ExtraNonce;
use otedama_mining::monero::{MoneroBoard, MoneroBoardConfig, MoneroJobSource};
use otedama_mining::monerod::{
    placeholder_address, MoneroRpc, MoneroRpcConfig, MoneroWork, TxMenu,
};
use otedama_mining::randomx_pow::RandomXHasher;
use otedama_randomx::Flags;
use otedama_tests::monerod::{available, block_of, fill_pool, grind, FullPool, Monerod};
use serde_json::json;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// Main-chain difficulty: half of all hashes meet it. Small because monerod's `generateblocks`
/// mines the 88 blocks the funding takes with light-mode RandomX (0.13 s a block on an idle
/// core, 0.19 s at difficulty 4); the share's block is ground to it all the same.
const DIFFICULTY: u64 = 2;
/// Miners of the sharechain's window, one share each; every fourth is paid at a subaddress.
const MINERS: u32 = 80;

/// Runs a future of the async monerod client from this synchronous test.
fn wait<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    otedama_http::blocking::block_on(future).expect("the HTTP worker runs the future")
}

/// Miner `i`'s payout: keys from its number; a subaddress for every fourth.
fn miner(i: u32) -> PayoutScript {
    let key = |what: &str| {
        let secret = keys::hash_to_scalar(format!("otedama full pool miner {i} {what}").as_bytes());
        keys::secret_key_to_public_key(&secret.to_bytes()).expect("public key")
    };
    let payee = Payee::new(key("spend"), key("view"), i % 4 == 3).expect("payee");
    PayoutScript::new(&payee.to_bytes())
}

/// Weight and fees of `ids`, all of which must be on the menu.
fn weight_and_fees(menu: &TxMenu, ids: &[[u8; 32]]) -> (u64, u64) {
    ids.iter().fold((0, 0), |(w, f), id| {
        let e = menu
            .get(id)
            .unwrap_or_else(|| panic!("{} is not on the menu", hex::encode(id)));
        (w + e.weight, f + e.fee)
    })
}

/// The sharechain's window: one share by each of [`MINERS`] miners on `work` (monerod's template
/// when the test starts: the window's shares were found on earlier Monero blocks, as on a live
/// pool), one share period apart so the share target stays at the floor, every share ground and
/// validated with real RandomX. Returns the chain, its tip and the hasher (holding the seed).
fn sharechain(pool: &PoolParams, work: &MoneroWork) -> (MemoryChain, ShareHash, RandomXHasher) {
    let hasher = RandomXHasher::new(Flags::recommended());
    hasher
        .set_seeds(work.template.seed_hash, work.next_seed_hash)
        .expect("RandomX cache");
    let mut chain = MemoryChain::new();
    let period = pool.share_period_secs;
    let start = work.template.timestamp - period * u64::from(MINERS + 1);
    let mut tip = None;
    for i in 0..MINERS {
        let now = start + period * u64::from(i);
        let share = build_monero_share(
            pool,
            &chain,
            &MoneroShareInput {
                parent: tip,
                uncles: vec![],
                payout_script: miner(i),
                now,
                software_version: 1,
                template: &work.template,
                extra_nonce: &u64::from(i).to_le_bytes(),
            },
        )
        .unwrap_or_else(|e| panic!("share {i}: {e}"));
        let share = grind_monero(share, &hasher).expect("share ground");
        let info = chain
            .validate_and_insert_with(pool, &share, now, &hasher)
            .unwrap_or_else(|e| panic!("share {i} refused: {e}"));
        tip = Some(info.id);
    }
    (chain, tip.expect("shares"), hasher)
}

#[test]
fn a_share_block_under_a_full_pool_stays_in_the_zone_and_pays_exactly() {
    if !available("a_share_block_under_a_full_pool_stays_in_the_zone_and_pays_exactly") {
        return;
    }
    let started = Instant::now();
    let lap = |what: &str| eprintln!("{:>6.1} s  {what}", started.elapsed().as_secs_f64());
    let daemon = Monerod::start("monerod-full-pool", DIFFICULTY);
    let rpc = MoneroRpc::new(MoneroRpcConfig::new(format!(
        "http://127.0.0.1:{}",
        daemon.rpc_port
    )))
    .expect("monerod client");
    // The work as the node gets it (the node's own placeholder address: the miner transaction
    // is always replaced).
    let get_work = || {
        let rpc = rpc.clone();
        let address = placeholder_address(Chain::MoneroRegtest).expect("a Monero chain");
        Arc::new(wait(async move { rpc.get_work(&address, 0).await }).expect("get_work"))
    };
    let pool = PoolParams::preset(Chain::MoneroRegtest, Preset::Main);
    let window = {
        let (pool, first) = (pool.clone(), get_work());
        std::thread::spawn(move || sharechain(&pool, &first))
    };

    // 1-2. A funded wallet fills the pool past the zone (`otedama_tests::monerod::fill_pool`).
    let FullPool { sent, .. } = fill_pool(&daemon, "monero-wallet-rpc-full-pool");
    lap("pool filled");

    // 3. The work now.
    let work = get_work();
    let menu = &work.menu;
    let backlog: HashSet<String> = menu.entries().iter().map(|e| hex::encode(e.id)).collect();
    assert!(
        backlog == sent,
        "the pool is not what the wallet sent: {} sent, {} mineable; not mineable: {:?}; \
         not sent: {:?}",
        sent.len(),
        backlog.len(),
        sent.difference(&backlog).collect::<Vec<_>>(),
        backlog.difference(&sent).collect::<Vec<_>>(),
    );
    let pool_weight: u64 = menu.entries().iter().map(|e| e.weight).sum();
    assert!(
        pool_weight > FULL_REWARD_ZONE + 20_000,
        "a pool of {pool_weight} is not full"
    );
    assert_eq!(
        menu.limit(),
        FULL_REWARD_ZONE,
        "median {}",
        menu.median_weight
    );
    let (monerod_weight, monerod_fees) = weight_and_fees(menu, &work.template.tx_hashes);
    eprintln!(
        "pool: {} txs, {pool_weight} weight; monerod's template: {} txs, {monerod_weight} weight, \
         fees {monerod_fees}, reward {} (base {} + fees = {})",
        menu.entries().len(),
        work.template.tx_hashes.len(),
        work.template.reward,
        menu.base_reward,
        menu.base_reward + monerod_fees,
    );
    // monerod's own block is past the zone: its miner transaction pays the penalised reward
    // (what `MoneroWork` takes as the template's reward, less than `expected_reward`).
    assert!(
        monerod_weight > FULL_REWARD_ZONE,
        "monerod's {monerod_weight}"
    );
    assert!(work.template.reward < menu.base_reward + monerod_fees);

    // 4. The window's sharechain.
    let (mut chain, tip, hasher) = window.join().expect("the sharechain thread");
    let seed = work.template.seed_hash;
    hasher
        .set_seeds(seed, work.next_seed_hash)
        .expect("RandomX cache");
    lap("sharechain built");

    // 5. The job, through the board, for one more miner.
    let board = MoneroBoard::new(MoneroBoardConfig {
        pool: pool.clone(),
        software_version: 1,
    });
    board.set_tip(TipWork {
        view: Arc::new(chain.clone()),
        tip: Some(tip),
        uncles: vec![],
        payees: MINERS + 1,
    });
    board.set_work(Some(work.clone()));
    let finder = miner(MINERS);
    let job = board.job_for(&finder).expect("a job");
    assert_eq!(
        job.payouts.len() as u32,
        MINERS + 1,
        "the miner transaction pays the window and the finder"
    );

    // 6. Grind a rig's extra nonce until the share is a block.
    let extra: ExtraNonce = *b"fullpool";
    let mut share = job.share_for(&extra).expect("a Monero share");
    let mut randomx = |blob: &[u8]| {
        hasher
            .pow_hash(PowInput::RandomX { seed: &seed, blob })
            .expect("a seed the hasher holds")
    };
    let block = grind(
        &block_of(&share, &job.template),
        &mut randomx,
        work.difficulty,
        0,
        true,
    );
    share
        .candidate
        .as_monero_mut()
        .expect("monero")
        .header
        .nonce = block.header.nonce;
    let id = share.candidate.as_monero().expect("monero").id();
    assert_eq!(block.id(), id, "the block is the share's candidate");
    chain
        .validate_and_insert_with(&pool, &share, share.side.timestamp, &hasher)
        .unwrap_or_else(|e| panic!("the job's share is not valid in the view: {e}"));
    lap("block ground");

    // What the block weighs and pays, by the job.
    let miner_tx_weight = block.miner_tx.serialize().len() as u64;
    let (txs_weight, fees) = weight_and_fees(menu, &job.template.tx_hashes);
    let weight = miner_tx_weight + txs_weight;
    let paid = block.miner_tx.total_amount().expect("reward");
    eprintln!(
        "our block: miner tx {miner_tx_weight} bytes ({} outputs) + {} txs of {txs_weight} = \
         {weight} weight; pays {paid} = base {} + fees {fees}",
        job.payouts.len(),
        job.template.tx_hashes.len(),
        menu.base_reward,
    );

    // 7. monerod accepts it.
    let blob = hex::encode(block.serialize());
    let submitted = {
        let rpc = rpc.clone();
        wait(async move { rpc.submit_block(&blob).await })
    };
    if let Err(e) = submitted {
        let log = daemon.log_tail(400);
        let why: Vec<&str> = log
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("verif") || l.contains("coinbase") || l.contains("reward")
            })
            .collect();
        panic!(
            "monerod refused the block: {e}\n{}\n--- log tail ---\n{}",
            why.join("\n"),
            daemon.log_tail(30)
        );
    }
    let last = {
        let rpc = rpc.clone();
        wait(async move { rpc.get_last_block_header().await }).expect("get_last_block_header")
    };
    assert_eq!(last.hash, id, "the block is the tip");
    assert_eq!(last.height, work.height());
    let got = daemon
        .rpc()
        .call("get_block", json!({"hash": hex::encode(id)}))
        .unwrap_or_else(|e| panic!("get_block: {e}"));
    let header = &got["block_header"];

    // 8. Within the zone, paying exactly the base reward plus the chosen fees.
    assert!(weight <= FULL_REWARD_ZONE, "block weight {weight}");
    assert_eq!(header["block_weight"].as_u64(), Some(weight), "{header}");
    assert_eq!(paid, job.template.reward);
    assert_eq!(job.template.reward, menu.base_reward + fees);
    assert_eq!(header["reward"].as_u64(), Some(paid), "{header}");
    let mined: Vec<String> = got["tx_hashes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| h.as_str().expect("hex").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let chosen: Vec<String> = job.template.tx_hashes.iter().map(hex::encode).collect();
    assert_eq!(mined, chosen, "the block carries the job's transactions");

    // 9. The condition was real: monerod's transaction set with our miner transaction would
    //    have crossed into the penalty zone.
    assert!(
        monerod_weight + miner_tx_weight > FULL_REWARD_ZONE,
        "monerod's {monerod_weight} + our miner tx {miner_tx_weight} fit the zone anyway"
    );

    // 10. What was left out is still in the pool; what was chosen is gone.
    let after = {
        let rpc = rpc.clone();
        wait(async move { rpc.get_miner_data().await }).expect("get_miner_data")
    };
    let remaining: HashSet<String> = after.tx_backlog.iter().map(|e| hex::encode(e.id)).collect();
    let left_out: HashSet<String> = backlog
        .iter()
        .filter(|id| !chosen.contains(id))
        .cloned()
        .collect();
    assert!(!left_out.is_empty(), "the pool held more than one block");
    assert_eq!(remaining, left_out, "the pool after the block");
    lap("done");
}
