//! Shared test harness: synthetic templates, payout scripts and a miner that builds valid shares
//! on a `MemoryChain` with the real builder and real proof of work (regtest targets).
#![allow(dead_code, unused_imports)]

use otedama_consensus::builder::{grind, ShareJob};
use otedama_consensus::chain::Chain;
use otedama_consensus::coinbase::{build_coinbase, CoinbaseSpec};
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::template::witness_commitment_script;
use otedama_consensus::{MemoryChain, Share, ShareHash};

pub use otedama_consensus::testkit::T0;

/// Regtest pool with a short window so tests see shares leave it.
pub fn pool(window: u64) -> PoolParams {
    let mut p = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
    p.pplns_window = window;
    p.min_payout = 1000;
    p.max_payout_outputs = 50;
    p
}

pub use otedama_consensus::testkit::script;

pub struct Miner {
    pub pool: PoolParams,
    pub chain: MemoryChain,
    pub extranonce: u64,
}

impl Miner {
    pub fn new(pool: PoolParams) -> Miner {
        Miner {
            pool,
            chain: MemoryChain::new(),
            extranonce: 0,
        }
    }

    pub fn job(
        &self,
        parent: Option<ShareHash>,
        who: u32,
        now: u64,
        uncles: Vec<ShareHash>,
    ) -> ShareJob {
        otedama_consensus::testkit::make_job(&self.pool, &self.chain, parent, who, now, uncles)
            .expect("job")
    }

    /// Grinds a share for a job (each call uses a fresh extranonce, so ids differ).
    pub fn grind(&mut self, job: &ShareJob) -> Share {
        self.extranonce += 1;
        grind(
            &self.pool,
            job,
            &self.extranonce.to_le_bytes(),
            job.side.timestamp as u32,
        )
        .expect("grind")
    }

    /// Mines and inserts a valid share; returns its id.
    pub fn mine(
        &mut self,
        parent: Option<ShareHash>,
        who: u32,
        now: u64,
        uncles: Vec<ShareHash>,
    ) -> ShareHash {
        let job = self.job(parent, who, now, uncles);
        let share = self.grind(&job);
        let info = self
            .chain
            .validate_and_insert(&self.pool, &share, now)
            .unwrap_or_else(|e| panic!("own share rejected: {e}"));
        info.id
    }

    /// A linear chain of `n` shares from `parent`, miners round-robin over `miners`.
    pub fn extend(
        &mut self,
        mut parent: Option<ShareHash>,
        n: u64,
        miners: u32,
        start: u64,
    ) -> Vec<ShareHash> {
        let mut ids = Vec::new();
        let base = parent
            .and_then(|p| self.chain.infos.get(&p))
            .map_or(0, |i| i.height + 1);
        for k in 0..n {
            let h = base + k;
            let id = self.mine(parent, (h % miners as u64) as u32, start + 10 * k, vec![]);
            ids.push(id);
            parent = Some(id);
        }
        ids
    }
}

/// Re-lays the coinbase of a job after its side data or payouts were changed by a test, so the
/// commitment stays right and only the intended rule breaks.
pub fn rebuild(pool: &PoolParams, job: &mut ShareJob, witness: bool) {
    let wc = witness_commitment_script(&[]);
    job.coinbase = build_coinbase(&CoinbaseSpec {
        parent_height: job.side.parent_height,
        payouts: &job.payouts,
        commitment: job.side.commitment(&pool.consensus_id()),
        witness_commitment: if witness { Some(&wc) } else { None },
        extranonce_len: 8,
        tag: b"/otedama-test/",
    })
    .expect("coinbase");
}
