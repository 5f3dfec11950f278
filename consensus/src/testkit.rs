//! Building blocks for tests and simulations in every crate: synthetic templates, distinct
//! payout scripts, and a share maker that runs the real builder and grinds real proof of work
//! (on regtest targets half of all hashes meet a share target, so grinding is instant).
//! Enabled by the `testkit` feature; never part of a node's consensus path.

use crate::builder::{build_share_job, grind, ShareJob, ShareJobInput};
use crate::chain_view::ChainView;
use crate::pool::PoolParams;
use crate::share::{PayoutScript, Share};
use crate::template::{witness_commitment_script, BlockTemplate};
use crate::ShareHash;
use bitcoin::hashes::Hash;

/// A Unix time in 2027, the start of every test chain.
pub const T0: u64 = 1_800_000_000;

/// A distinct P2WPKH script per miner number.
pub fn script(i: u32) -> PayoutScript {
    let mut s = vec![0x00, 0x14];
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&i.to_be_bytes());
    h[19] = 0x5a;
    s.extend_from_slice(&h);
    PayoutScript::new(&s)
}

/// An empty-block regtest template at a parent-chain height.
pub fn template(height: u32, value: u64) -> BlockTemplate {
    let mut prev = [0u8; 32];
    prev[..4].copy_from_slice(&height.to_le_bytes());
    BlockTemplate {
        version: bitcoin::block::Version::from_consensus(0x2000_0000),
        prev_blockhash: bitcoin::BlockHash::from_byte_array(prev),
        bits: bitcoin::CompactTarget::from_consensus(0x207fffff),
        height,
        curtime: T0,
        mintime: T0,
        coinbase_value: value,
        transactions: vec![],
        txids: vec![],
        wtxids: vec![],
        witness_commitment: Some(witness_commitment_script(&[])),
        mweb: None,
        longpollid: None,
        meta: vec![],
        weight_limit: crate::block_check::MAX_BLOCK_WEIGHT,
        sigop_limit: crate::block_check::MAX_BLOCK_SIGOPS_COST,
    }
}

/// The job for a share on `view` paying miner `who` at time `now`, on a template whose parent
/// height advances every 600 s of `now`.
pub fn make_job<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    parent: Option<ShareHash>,
    who: u32,
    now: u64,
    uncles: Vec<ShareHash>,
) -> Option<ShareJob> {
    let t = template(100 + (now.saturating_sub(T0) / 600) as u32, 5_000_000_000);
    build_share_job(
        pool,
        view,
        &ShareJobInput {
            parent,
            uncles,
            payout_script: script(who),
            now,
            software_version: 1,
            template: &t,
            extranonce_len: 8,
            tag: b"/otedama-test/",
        },
    )
    .ok()
}

/// Builds and grinds a valid share on `view` (which must hold `parent` and `uncles`), paying
/// miner `who`, at time `now`; `extranonce` makes otherwise equal shares distinct.
pub fn make_share<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    parent: Option<ShareHash>,
    who: u32,
    now: u64,
    uncles: Vec<ShareHash>,
    extranonce: u64,
) -> Option<Share> {
    let job = make_job(pool, view, parent, who, now, uncles)?;
    grind(
        pool,
        &job,
        &extranonce.to_le_bytes(),
        job.side.timestamp as u32,
    )
}

/// A Stratum-ready first-share job on a template that looks live: the real clock for `curtime`
/// (so ntime checks pass), a previous block hash derived from `height`, three transactions (a
/// two-step merkle branch) and 12 bytes of extranonce (4 + 8, the Stratum server's layout).
pub fn live_job(pool: &PoolParams, payout: &PayoutScript, height: u32, now: u64) -> ShareJob {
    let mut t = template(height, 5_000_000_000);
    t.curtime = now;
    t.mintime = now.saturating_sub(600);
    t.prev_blockhash = bitcoin::BlockHash::from_byte_array(
        bitcoin::hashes::sha256d::Hash::hash(&height.to_le_bytes()).to_byte_array(),
    );
    t.txids = (1u8..=3)
        .map(|i| bitcoin::Txid::from_byte_array([i; 32]))
        .collect();
    let input = ShareJobInput {
        parent: None,
        uncles: vec![],
        payout_script: payout.clone(),
        now,
        software_version: 1,
        template: &t,
        extranonce_len: 12,
        tag: b"/otedama-test/",
    };
    match build_share_job(pool, &crate::MemoryChain::new(), &input) {
        Ok(job) => job,
        Err(e) => panic!("a first share always builds: {e}"),
    }
}

/// The first share of a new sharechain on `t`, paying `payout`, ground with `extranonce`
/// (12 bytes: the Stratum server's layout) at the template's time.
pub fn first_share_on(
    pool: &PoolParams,
    t: &BlockTemplate,
    payout: &PayoutScript,
    extranonce: [u8; 12],
) -> crate::Share {
    let job = build_share_job(
        pool,
        &crate::MemoryChain::new(),
        &ShareJobInput {
            parent: None,
            uncles: vec![],
            payout_script: payout.clone(),
            now: t.curtime,
            software_version: 1,
            template: t,
            extranonce_len: 12,
            tag: b"/otedama/",
        },
    )
    .expect("a job on the template");
    crate::builder::grind(pool, &job, &extranonce, t.curtime as u32).expect("a share")
}

/// A deterministic Monero payee for tests, as a Monero wallet derives its keys from a seed:
/// spend secret `Hs(seed)`, view secret `Hs(spend secret)`; a subaddress when `subaddress`
/// (the keys then stand for the subaddress's spend and view keys).
pub fn monero_payee(seed: &[u8], subaddress: bool) -> crate::chain::monero::payee::Payee {
    use crate::chain::monero::keys;
    let spend = keys::hash_to_scalar(seed).to_bytes();
    let view = keys::hash_to_scalar(&spend).to_bytes();
    let public = |secret: &[u8; 32]| {
        keys::secret_key_to_public_key(secret).expect("a reduced scalar has a public key")
    };
    crate::chain::monero::payee::Payee::new(public(&spend), public(&view), subaddress)
        .expect("a canonical point")
}

/// Wallet `i` of a simulated Monero pool, as a share pays it: every fourth a real subaddress
/// (account 0, index 1, its keys derived as a wallet derives them), the rest standard addresses.
/// Deterministic, so the sync bench (`benches/monero_sync.rs`) and the node-to-node sync
/// measurement (`node/tests/monero_sync_timing.rs`) build the same kind of chain.
pub fn monero_wallet_script(i: usize) -> PayoutScript {
    use crate::chain::monero::{keys, payee::Payee};
    let seed = (i as u32).to_le_bytes();
    let spend = keys::hash_to_scalar(&[&seed[..], b"spend"].concat()).to_bytes();
    let view = keys::hash_to_scalar(&spend).to_bytes();
    let spend_pub = keys::secret_key_to_public_key(&spend).expect("key");
    let payee = if i % 4 == 3 {
        let (d, c) = keys::subaddress_keys(&view, &spend_pub, 0, 1).expect("subaddress");
        Payee::new(d, c, true)
    } else {
        Payee::new(
            spend_pub,
            keys::secret_key_to_public_key(&view).expect("key"),
            false,
        )
    }
    .expect("payee");
    PayoutScript::new(&payee.to_bytes())
}

/// A Monero sharechain of `count` shares as a pool of `wallets` miners makes it: share `n` at
/// `t0 + 10 n` on `template(n)`, by wallet [`monero_wallet_script`] of a fixed pseudo-random
/// draw (uneven, like real luck), each ground and inserted with `pow`. The sync bench and the
/// node-to-node sync measurement both build theirs here, so they measure the same chain.
pub fn monero_pool_chain(
    pool: &PoolParams,
    count: u64,
    wallets: usize,
    t0: u64,
    template: impl Fn(u64) -> crate::monero_builder::MoneroTemplate,
    pow: &dyn crate::pow::PowHasher,
) -> Vec<Share> {
    use crate::monero_builder::{build_monero_share, grind_monero, MoneroShareInput};
    let wallets: Vec<PayoutScript> = (0..wallets.max(1)).map(monero_wallet_script).collect();
    let mut chain = crate::MemoryChain::default();
    let mut parent = None;
    let mut out = Vec::with_capacity(count as usize);
    for n in 0..count {
        // Xorshift of n: the same miners in every run.
        let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d;
        x ^= x >> 29;
        let who = &wallets[(x % wallets.len() as u64) as usize];
        let t = template(n);
        let now = t0 + 10 * n;
        let share = build_monero_share(
            pool,
            &chain,
            &MoneroShareInput {
                parent,
                uncles: vec![],
                payout_script: who.clone(),
                now,
                software_version: 1,
                template: &t,
                extra_nonce: &n.to_le_bytes(),
            },
        )
        .expect("built");
        let share = grind_monero(share, pow).expect("ground");
        let info = chain
            .validate_and_insert_with(pool, &share, now, pow)
            .unwrap_or_else(|e| panic!("share {n} refused: {e}"));
        parent = Some(info.id);
        out.push(share);
    }
    out
}
