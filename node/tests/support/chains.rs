//! What the multi-node tests and the P2P bench share: the node binary, bitcoin-regtest chains of
//! valid shares made with the real builder (SHA256d at regtest difficulty: grinding is instant),
//! seeded into a node's store before it starts, and regtest payout addresses.
//!
//! Included with `#[path = "support/chains.rs"] mod chains;` (from benches:
//! `"../tests/support/chains.rs"`); each includer uses a part of it.
#![allow(dead_code)]

use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::testkit::make_share;
use otedama_consensus::{MemoryChain, Share, ShareHash};
use otedama_sharechain::Sharechain;
use std::path::Path;

/// The chain of seeded stores: SHA256d, no full node needed to serve or sync shares.
pub const CHAIN: &str = "bitcoin-regtest";

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_otedama-node"))
}

pub fn pool() -> PoolParams {
    PoolParams::preset(Chain::BitcoinRegtest, Preset::Main)
}

/// A regtest P2WPKH address (`hrp` "bcrt" or "rltc") whose program is 20 bytes of `n`.
pub fn address(hrp: &str, n: u8) -> String {
    use bitcoin::bech32::{segwit, Hrp};
    let hrp = Hrp::parse(hrp).unwrap_or_else(|e| panic!("hrp {hrp}: {e}"));
    segwit::encode_v0(hrp, &[n; 20]).unwrap_or_else(|e| panic!("address: {e}"))
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Grows `n` shares on `view` after `parent`, one every 10 s from `start`, paying miners
/// `miner0 .. miner0 + miners` in turn.
pub fn grow(
    view: &mut MemoryChain,
    parent: Option<ShareHash>,
    n: u64,
    start: u64,
    miner0: u32,
    miners: u32,
) -> Vec<Share> {
    grow_in(&pool(), view, parent, n, start, miner0, miners)
}

/// [`grow`] in another pool (a `--pool-config` one).
pub fn grow_in(
    pool: &PoolParams,
    view: &mut MemoryChain,
    parent: Option<ShareHash>,
    n: u64,
    start: u64,
    miner0: u32,
    miners: u32,
) -> Vec<Share> {
    let pool = pool.clone();
    let mut parent = parent;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let t = start + i * 10;
        let who = miner0 + (i % miners.max(1) as u64) as u32;
        let share = make_share(&pool, view, parent, who, t, vec![], i)
            .expect("a share on a known parent builds");
        view.validate_and_insert(&pool, &share, t)
            .expect("a built share is valid");
        parent = Some(share.id());
        out.push(share);
    }
    out
}

/// Writes `shares` into the store a node started in `dir` will open.
pub fn seed(dir: &Path, shares: &[Share]) {
    seed_in(&pool(), dir, shares)
}

/// [`seed`] for another pool (a `--pool-config` one).
pub fn seed_in(pool: &PoolParams, dir: &Path, shares: &[Share]) {
    let mut chain = Sharechain::open(&dir.join("data").join("sharechain"), pool.clone())
        .unwrap_or_else(|e| panic!("open the store in {}: {e}", dir.display()));
    let now = unix_now();
    for s in shares {
        chain.insert(s.clone(), now).expect("insert a seeded share");
    }
}

/// The id of the share at `height` on `n`'s best chain (API `getshares`).
pub fn id_at(n: &otedama_tests::node::NodeProc, height: u64) -> Option<String> {
    let v = n
        .call(
            "getshares",
            serde_json::json!({"limit": 1, "before": height + 1}),
        )
        .ok()?;
    let s = v["shares"].as_array()?.first()?.clone();
    (s["height"].as_u64() == Some(height)).then(|| s["id"].as_str().unwrap_or("").to_string())
}
