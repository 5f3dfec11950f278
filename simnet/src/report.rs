//! What a run measured: the summary (table and JSON), per-miner, per-block and per-bucket rows
//! (CSV), and plots (SVG). Everything here is a pure function of the simulation state, so
//! the same seed gives byte-identical files.

use crate::config::Scenario;
use crate::sim::{Role, Sim, NONE, PROP_BUCKETS};
use crate::svg::{self, Plot, Series, COLORS};
use serde::Serialize;
use std::fmt::Write;

/// Shares found in the last this many seconds are left out of the stale counts: the network
/// has not settled on them yet.
pub const SETTLE_SECS: u64 = 60;

#[derive(Serialize, Clone, Debug)]
pub struct ConfigSummary {
    pub scenario: String,
    pub nodes: usize,
    pub miners: usize,
    pub hours: f64,
    pub seed: u64,
    pub chain: String,
    pub preset: String,
    pub share_period_secs: u64,
    pub pplns_window: u64,
    pub retarget_half_life_secs: u64,
    pub uncle_depth: u64,
    pub uncle_penalty_percent: u8,
    pub max_payout_outputs: u32,
    pub min_payout: u64,
    pub degree: usize,
    pub latency_ms: [f64; 2],
    pub regions: bool,
    pub bandwidth_mbps: f64,
    pub validation_ms: f64,
    pub compact_relay: bool,
    pub job_delay_ms: f64,
    pub hashrate_dist: String,
    pub pool_hashrate: f64,
    pub network_hashrate: f64,
    pub pool_fraction: f64,
    pub parent_interval_secs: f64,
    pub bootstrap_shares: u32,
    /// Times of the scenario's steps (hours).
    pub steps_hours: Vec<f64>,
}

#[derive(Serialize, Clone, Debug)]
pub struct ShareSummary {
    /// Shares found (withheld blocks not included).
    pub mined: u64,
    /// Found more than [`SETTLE_SECS`] before the end: the base of the rates below.
    pub counted: u64,
    pub on_chain: u64,
    pub stale: u64,
    pub uncled: u64,
    pub orphaned: u64,
    pub stale_rate: f64,
    pub uncle_rate: f64,
    pub orphan_rate: f64,
    /// Never published (a selfish miner's leftovers).
    pub never_published: u64,
    /// Height of the final chain's tip (heights below `config.bootstrap_shares` are the
    /// bootstrap chain).
    pub chain_height: u64,
    pub mean_interval_secs: f64,
    pub mean_share_difficulty: f64,
    pub mean_outputs: f64,
    pub mean_bytes: f64,
    /// Shares by the number of uncles they include (0, 1, 2, ...).
    pub by_uncles: Vec<u64>,
}

#[derive(Serialize, Clone, Debug)]
pub struct ReorgSummary {
    pub total: u64,
    pub per_node_hour: f64,
    /// Counts by depth 1..=8 and 9+ (index 0 unused).
    pub by_depth: Vec<u64>,
    pub max_depth: u64,
}

#[derive(Serialize, Clone, Debug)]
pub struct PropagationSummary {
    /// (share, node) arrivals measured: honest shares, from publication to acceptance.
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Per share, time until 90 % of the active nodes had it.
    pub reach90_p50_ms: f64,
    pub reach90_p99_ms: f64,
    pub duplicate_messages: u64,
    pub dropped_messages: u64,
    pub fetches: u64,
    pub fetched_shares: u64,
}

#[derive(Serialize, Clone, Debug)]
pub struct BlockSummary {
    pub found: u64,
    pub external: u64,
    pub withheld: u64,
    pub total_reward: u64,
    pub total_paid: u64,
    /// Every block's outputs sum to its reward, and the totals agree.
    pub conserved: bool,
    pub paid_to_bootstrap: u64,
    pub outputs_mean: f64,
    pub outputs_min: u32,
    pub outputs_max: u32,
    /// Blocks whose coinbase hit `max_payout_outputs`.
    pub at_output_cap: u64,
    /// Expected blocks from the share works (sum of per-share block probabilities).
    pub expected: f64,
}

/// Spread of paid/expected over miners.
#[derive(Serialize, Clone, Debug)]
pub struct Spread {
    pub miners: usize,
    /// Sum paid / sum expected (1 when the group gets its hashrate's share).
    pub aggregate: f64,
    pub mean: f64,
    pub sd: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct FairnessSummary {
    /// Paid by the blocks found / the miner's hashrate share of all paid to miners.
    pub paid: Option<Spread>,
    /// The expectation of pay given the sharechain that formed (every share's block
    /// probability x its window's split, see `Miner::credit`) / the hashrate share: the
    /// fairness of the sharechain itself, without block luck.
    pub expected: Option<Spread>,
    pub paid_small: Option<Spread>,
    pub paid_large: Option<Spread>,
    pub expected_small: Option<Spread>,
    pub expected_large: Option<Spread>,
    /// The same expectation against what the shares each miner found would earn if they fared
    /// like every share found at the same time (see `fair_credit`): what is left is
    /// systematic (stale shares, uncle penalties), not the luck of finding shares or the run's
    /// edges.
    pub per_work: Option<Spread>,
    pub per_work_small: Option<Spread>,
    pub per_work_large: Option<Spread>,
}

#[derive(Serialize, Clone, Debug)]
pub struct SmallMiners {
    /// The bottom tenth of miners by hashrate.
    pub count: usize,
    pub max_hashrate: f64,
    /// Expected shares a day of the median small miner.
    pub shares_per_day_p50: f64,
    /// Fraction with a payout before the end.
    pub paid_fraction: f64,
    /// Hours from start to first payout (none when fewer than that fraction were paid).
    pub first_payout_p50_hours: Option<f64>,
    pub first_payout_p90_hours: Option<f64>,
    pub first_share_p50_hours: Option<f64>,
}

#[derive(Serialize, Clone, Debug)]
pub struct BandwidthSummary {
    /// Per node, up plus down, kB/s.
    pub mean_kbps: f64,
    pub p50_kbps: f64,
    pub p99_kbps: f64,
    pub max_kbps: f64,
    pub mean_mb_per_day: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct AttackerSummary {
    pub role: String,
    pub hashrate_share: f64,
    pub paid_ratio: Option<f64>,
    pub expected_ratio: Option<f64>,
    /// Expectation against what its shares would earn faring like everyone's found at the
    /// same time (1: its shares are as good as the others').
    pub per_work_ratio: Option<f64>,
    pub honest_paid_ratio: Option<f64>,
    pub honest_expected_ratio: Option<f64>,
    /// The attacker's fraction of the final chain's shares.
    pub chain_share: f64,
    pub withheld_blocks: u64,
    /// Stale rate of the honest miners' shares.
    pub honest_stale_rate: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct JoinerSummary {
    pub count: usize,
    pub joined_hours: f64,
    /// Seconds from joining to the first usable tip.
    pub sync_p50_secs: Option<f64>,
    pub sync_max_secs: Option<f64>,
    pub first_share_p50_hours: Option<f64>,
    pub first_payout_p50_hours: Option<f64>,
    pub paid_ratio: Option<f64>,
    pub expected_ratio: Option<f64>,
    pub per_work_ratio: Option<f64>,
}

/// Floor recovery: how the difficulty follows the hashrate's return after the slow phase,
/// measured on the final chain from the moment of the return.
#[derive(Serialize, Clone, Debug)]
pub struct RecoverySummary {
    pub returned_hours: f64,
    /// Mean share interval of the slow phase's last half.
    pub slow_interval_secs: f64,
    /// Until the first share whose target is harder than the floor.
    pub pinned_secs: Option<f64>,
    /// Until the mean interval of 100 consecutive shares first reaches 80 % of the period.
    pub recovery_secs: Option<f64>,
    /// Mean share interval over the last half of the time after the return.
    pub interval_after_secs: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct Summary {
    pub config: ConfigSummary,
    pub shares: ShareSummary,
    pub reorgs: ReorgSummary,
    pub propagation: PropagationSummary,
    pub blocks: BlockSummary,
    pub fairness: FairnessSummary,
    pub small_miners: SmallMiners,
    pub bandwidth: BandwidthSummary,
    pub attacker: Option<AttackerSummary>,
    pub joiners: Option<JoinerSummary>,
    pub recovery: Option<RecoverySummary>,
    pub events: u64,
}

#[derive(Clone, Debug)]
pub struct MinerRow {
    pub miner: u32,
    pub node: u32,
    pub role: Role,
    pub hashrate: f64,
    pub hash_share: f64,
    pub mined: u64,
    pub on_chain: u64,
    pub uncled: u64,
    pub stale: u64,
    pub withheld: u64,
    pub paid: u64,
    pub paid_ratio: f64,
    pub expected_ratio: f64,
    pub first_share_hours: Option<f64>,
    pub first_payout_hours: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct BlockRow {
    pub hours: f64,
    pub share_height: u64,
    pub parent_height: u32,
    pub finder: u32,
    pub reward: u64,
    pub paid: u64,
    pub outputs: u32,
    pub on_chain: bool,
    pub paid_to_bootstrap: u64,
}

#[derive(Clone, Debug)]
pub struct SeriesRow {
    pub hours: f64,
    pub hashrate: f64,
    pub mined: u64,
    pub on_chain: u64,
    pub stale: u64,
    pub stale_rate: f64,
    pub interval_secs: f64,
    pub difficulty: f64,
    pub reorgs: u64,
    pub blocks: u64,
}

#[derive(Clone, Debug)]
pub struct NodeRow {
    pub node: u32,
    pub region: &'static str,
    pub group: u8,
    pub degree: usize,
    pub active_hours: f64,
    pub up_bytes: u64,
    pub down_bytes: u64,
    pub reorgs: u64,
}

/// Everything a run produced.
pub struct SimResult {
    pub summary: Summary,
    pub miners: Vec<MinerRow>,
    pub nodes: Vec<NodeRow>,
    pub blocks: Vec<BlockRow>,
    pub series: Vec<SeriesRow>,
    /// (ms, fraction of arrivals within) for the propagation CDF.
    pub propagation_cdf: Vec<(f64, f64)>,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn spread(pairs: &[(f64, f64)]) -> Option<Spread> {
    // pairs: (actual, expected) per miner.
    let ratios: Vec<f64> = pairs
        .iter()
        .filter(|(_, e)| *e > 0.0)
        .map(|(a, e)| a / e)
        .collect();
    if ratios.is_empty() {
        return None;
    }
    let sum_a: f64 = pairs.iter().map(|p| p.0).sum();
    let sum_e: f64 = pairs.iter().map(|p| p.1).sum();
    let n = ratios.len() as f64;
    let mean = ratios.iter().sum::<f64>() / n;
    let sd = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
    let mut s = ratios.clone();
    s.sort_by(f64::total_cmp);
    Some(Spread {
        miners: ratios.len(),
        aggregate: if sum_e > 0.0 { sum_a / sum_e } else { 0.0 },
        mean,
        sd,
        p10: quantile(&s, 0.1),
        p50: quantile(&s, 0.5),
        p90: quantile(&s, 0.9),
        min: s[0],
        max: s[s.len() - 1],
    })
}

/// Quantile over values where `None` is "never" (sorts last); `None` if the quantile is never.
fn quantile_opt(values: &[Option<f64>], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = values.iter().map(|x| x.unwrap_or(f64::INFINITY)).collect();
    v.sort_by(f64::total_cmp);
    let x = quantile(&v, q);
    x.is_finite().then_some(x)
}

fn hours(us: u64) -> f64 {
    us as f64 / 3.6e9
}

fn opt_hours(t: u64, since: u64) -> Option<f64> {
    (t != u64::MAX).then(|| hours(t.saturating_sub(since)))
}

/// Every share's expected pay: for each share whose coinbase pays (its `pay_factor`), its
/// window walked back from it, each share credited as `ShareInfo::credits` does. Summed per
/// miner this equals `Miner::credit`, which the run added up from the real window weights.
pub(crate) fn share_credits(sim: &Sim) -> Vec<f64> {
    let n = sim.shares.len();
    let pct = sim.pool.uncle_penalty_percent as u128;
    let mut credit = vec![0f64; n];
    for (i, s) in sim.shares.iter().enumerate() {
        let f = s.pay_factor;
        if f == 0.0 {
            continue;
        }
        let mut cur = i as u32;
        for _ in 0..sim.pool.pplns_window {
            let a = &sim.shares[cur as usize];
            let mut own = a.info.work.0;
            for u in &a.uncles {
                let uw = sim.shares[*u as usize].info.work.0;
                let penalty = uw * pct / 100;
                own += penalty;
                credit[*u as usize] += f * (uw - penalty) as f64;
            }
            credit[cur as usize] += f * own as f64;
            if a.prev == NONE {
                break;
            }
            cur = a.prev;
        }
    }
    credit
}

/// Each miner's fair expected pay given when its shares were found: every share's own
/// expected pay (the block probability x reward / window total of every share whose window
/// holds it, times its weight there) summed per time bucket, spread over that bucket's shares
/// by work. A miner's expected pay over this is 1 unless its shares fare worse than others
/// found at the same time (stale, uncled, penalised); the run's start and end, where windows
/// are short or unpaid, weigh on everyone alike.
fn fair_credit(sim: &Sim, bucket_us: u64, n_buckets: usize) -> Vec<f64> {
    let credit = share_credits(sim);
    let mut c_sum = vec![0f64; n_buckets];
    let mut w_sum = vec![0f64; n_buckets];
    for (i, s) in sim
        .shares
        .iter()
        .enumerate()
        .skip(sim.bootstrap_len as usize)
    {
        let b = ((s.mined_at / bucket_us) as usize).min(n_buckets - 1);
        c_sum[b] += credit[i];
        w_sum[b] += s.info.work.0 as f64;
    }
    let mut fair = vec![0f64; sim.miners.len()];
    for s in sim.shares.iter().skip(sim.bootstrap_len as usize) {
        let b = ((s.mined_at / bucket_us) as usize).min(n_buckets - 1);
        if w_sum[b] > 0.0 {
            fair[s.miner as usize] += s.info.work.0 as f64 * c_sum[b] / w_sum[b];
        }
    }
    fair
}

/// Builds the result from a finished simulation.
pub fn finish(sim: &Sim) -> SimResult {
    let cfg = &sim.cfg;
    let pool = &sim.pool;
    let n_shares = sim.shares.len();
    let boot = sim.bootstrap_len as usize;

    // The final chain: the best tip of the active nodes by cumulative work (first found on a
    // tie), walked back; its uncles are the uncled shares.
    let mut best = NONE;
    for node in sim.nodes.iter().filter(|n| n.active) {
        if best == NONE
            || sim.shares[node.best as usize].info.cumulative_work
                > sim.shares[best as usize].info.cumulative_work
            || (sim.shares[node.best as usize].info.cumulative_work
                == sim.shares[best as usize].info.cumulative_work
                && node.best < best)
        {
            best = node.best;
        }
    }
    let mut on_chain = vec![false; n_shares];
    let mut uncled = vec![false; n_shares];
    let mut cur = best;
    while cur != NONE {
        on_chain[cur as usize] = true;
        for u in &sim.shares[cur as usize].uncles {
            uncled[*u as usize] = true;
        }
        cur = sim.shares[cur as usize].prev;
    }

    let settle_from = sim.end.saturating_sub(SETTLE_SECS * 1_000_000);
    let bucket_us = cfg.bucket_secs * 1_000_000;
    let n_buckets = (sim.end.div_ceil(bucket_us)).max(1) as usize;
    let mut series: Vec<SeriesRow> = (0..n_buckets)
        .map(|b| SeriesRow {
            hours: hours(b as u64 * bucket_us),
            hashrate: 0.0,
            mined: 0,
            on_chain: 0,
            stale: 0,
            stale_rate: 0.0,
            interval_secs: 0.0,
            difficulty: 0.0,
            reorgs: sim.stats.bucket_reorgs.get(b).copied().unwrap_or(0),
            blocks: 0,
        })
        .collect();

    let m_count = sim.miners.len();
    let mut m_on_chain = vec![0u64; m_count];
    let mut m_uncled = vec![0u64; m_count];
    let mut m_stale = vec![0u64; m_count];
    let (mut counted, mut on, mut stale, mut unc, mut never) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut out_sum, mut bytes_sum, mut diff_sum) = (0f64, 0f64, 0f64);
    let mut chain_first: Option<u64> = None;
    let mut chain_last = 0u64;
    let mut chain_count = 0u64;
    let mut expected_blocks = 0.0;
    let mut reach90: Vec<f64> = Vec::new();
    let mut by_uncles = vec![0u64; pool.max_uncles + 1];
    for (i, s) in sim.shares.iter().enumerate().skip(boot) {
        let b = ((s.mined_at / bucket_us) as usize).min(n_buckets - 1);
        let row = &mut series[b];
        row.mined += 1;
        let d = s.info.work.difficulty_f64();
        row.difficulty += d;
        diff_sum += d;
        out_sum += s.outputs as f64;
        by_uncles[s.uncles.len().min(pool.max_uncles)] += 1;
        bytes_sum += s.wire as f64;
        expected_blocks += s.info.work.0 as f64 / sim.block_work;
        if s.published_at == u64::MAX {
            never += 1;
        }
        if s.honest && s.t90 != u64::MAX {
            reach90.push(s.t90 as f64 / 1000.0);
        }
        if on_chain[i] {
            row.on_chain += 1;
            chain_count += 1;
            chain_first.get_or_insert(s.mined_at);
            chain_last = s.mined_at;
        }
        if s.mined_at >= settle_from {
            continue;
        }
        counted += 1;
        let m = s.miner as usize;
        if on_chain[i] {
            on += 1;
            m_on_chain[m] += 1;
        } else {
            stale += 1;
            row.stale += 1;
            m_stale[m] += 1;
            if uncled[i] {
                unc += 1;
                m_uncled[m] += 1;
            }
        }
    }
    for blk in &sim.stats.blocks {
        let b = ((blk.t / bucket_us) as usize).min(n_buckets - 1);
        series[b].blocks += 1;
    }
    for (b, row) in series.iter_mut().enumerate() {
        let t_mid = b as u64 * bucket_us + bucket_us / 2;
        row.hashrate = sim
            .stats
            .hashrate_steps
            .iter()
            .take_while(|(t, _)| *t <= t_mid)
            .last()
            .map_or(0.0, |x| x.1);
        if row.mined > 0 {
            row.difficulty /= row.mined as f64;
        }
        let settled = row.on_chain + row.stale;
        if settled > 0 {
            row.stale_rate = row.stale as f64 / (row.stale + row.on_chain) as f64;
        }
        let width = (sim.end.min((b as u64 + 1) * bucket_us) - b as u64 * bucket_us) as f64 / 1e6;
        if row.on_chain > 0 {
            row.interval_secs = width / row.on_chain as f64;
        }
    }
    let mined = (n_shares - boot) as u64;
    let rate = |x: u64| {
        if counted > 0 {
            x as f64 / counted as f64
        } else {
            0.0
        }
    };
    let shares = ShareSummary {
        mined,
        counted,
        on_chain: on,
        stale,
        uncled: unc,
        orphaned: stale - unc,
        stale_rate: rate(stale),
        uncle_rate: rate(unc),
        orphan_rate: rate(stale - unc),
        never_published: never,
        chain_height: sim.shares[best as usize].info.height,
        mean_interval_secs: match chain_first {
            Some(f) if chain_count > 1 => (chain_last - f) as f64 / 1e6 / (chain_count - 1) as f64,
            _ => 0.0,
        },
        mean_share_difficulty: if mined > 0 {
            diff_sum / mined as f64
        } else {
            0.0
        },
        mean_outputs: if mined > 0 {
            out_sum / mined as f64
        } else {
            0.0
        },
        mean_bytes: if mined > 0 {
            bytes_sum / mined as f64
        } else {
            0.0
        },
        by_uncles,
    };

    // Reorgs.
    let total_reorgs: u64 = sim.stats.reorg_hist.iter().sum();
    let node_hours: f64 = sim
        .nodes
        .iter()
        .filter(|n| n.active)
        .map(|n| hours(sim.end - n.active_since.min(sim.end)))
        .sum();
    let reorgs = ReorgSummary {
        total: total_reorgs,
        per_node_hour: if node_hours > 0.0 {
            total_reorgs as f64 / node_hours
        } else {
            0.0
        },
        by_depth: sim.stats.reorg_hist.to_vec(),
        max_depth: sim.stats.reorg_max,
    };

    // Propagation.
    let hist = &sim.stats.prop_hist;
    let mut over = sim.stats.prop_over.clone();
    over.sort_unstable();
    let samples: u64 = hist.iter().sum::<u64>() + over.len() as u64;
    let prop_q = |q: f64| -> f64 {
        if samples == 0 {
            return 0.0;
        }
        let need = ((q * samples as f64).ceil() as u64).max(1);
        let mut acc = 0u64;
        for (ms, c) in hist.iter().enumerate() {
            acc += c;
            if acc >= need {
                return ms as f64 + 0.5;
            }
        }
        let k = (need - acc - 1) as usize;
        over.get(k).map_or(0.0, |us| *us as f64 / 1000.0)
    };
    reach90.sort_by(f64::total_cmp);
    let propagation = PropagationSummary {
        samples,
        p50_ms: prop_q(0.5),
        p90_ms: prop_q(0.9),
        p99_ms: prop_q(0.99),
        max_ms: sim.stats.prop_max_us as f64 / 1000.0,
        reach90_p50_ms: quantile(&reach90, 0.5),
        reach90_p99_ms: quantile(&reach90, 0.99),
        duplicate_messages: sim.stats.dup_msgs,
        dropped_messages: sim.stats.dropped_msgs,
        fetches: sim.stats.fetches,
        fetched_shares: sim.stats.fetched_shares,
    };
    let mut propagation_cdf = Vec::new();
    if samples > 0 {
        let mut acc = 0u64;
        let p999 = prop_q(0.999);
        for (ms, c) in hist.iter().enumerate().take(PROP_BUCKETS) {
            acc += c;
            if *c > 0 || ms as f64 > p999 {
                propagation_cdf.push((ms as f64 + 1.0, acc as f64 / samples as f64));
            }
            if ms as f64 > p999 {
                break;
            }
        }
    }

    // Blocks.
    let conserved = sim.stats.blocks.iter().all(|b| b.paid == b.reward)
        && sim.stats.total_paid == sim.stats.total_reward
        && sim.miners.iter().map(|m| m.paid).sum::<u64>() + sim.stats.bootstrap_paid
            == sim.stats.total_reward;
    let outs: Vec<u32> = sim.stats.blocks.iter().map(|b| b.outputs).collect();
    let blocks = BlockSummary {
        found: sim.stats.blocks.len() as u64,
        external: sim.stats.ext_blocks,
        withheld: sim.stats.withheld_blocks,
        total_reward: sim.stats.total_reward,
        total_paid: sim.stats.total_paid,
        conserved,
        paid_to_bootstrap: sim.stats.bootstrap_paid,
        outputs_mean: if outs.is_empty() {
            0.0
        } else {
            outs.iter().map(|x| *x as f64).sum::<f64>() / outs.len() as f64
        },
        outputs_min: outs.iter().copied().min().unwrap_or(0),
        outputs_max: outs.iter().copied().max().unwrap_or(0),
        at_output_cap: outs
            .iter()
            .filter(|o| **o >= pool.max_payout_outputs)
            .count() as u64,
        expected: expected_blocks,
    };

    // Fairness: paid and expected pay against the miner's share of hash-seconds.
    let total_hash: f64 = sim.miners.iter().map(|m| m.hash_integral).sum();
    let paid_miners: f64 = sim.miners.iter().map(|m| m.paid as f64).sum();
    let credit_miners: f64 = sim.miners.iter().map(|m| m.credit).sum();
    let share_of = |m: &crate::sim::Miner| {
        if total_hash > 0.0 {
            m.hash_integral / total_hash
        } else {
            0.0
        }
    };
    let role_of = |m: &crate::sim::Miner| sim.nodes[m.node as usize].role;
    let mut miners: Vec<MinerRow> = Vec::with_capacity(m_count);
    for (i, m) in sim.miners.iter().enumerate() {
        let hs = share_of(m);
        let ep = paid_miners * hs;
        let ec = credit_miners * hs;
        miners.push(MinerRow {
            miner: i as u32,
            node: m.node,
            role: role_of(m),
            hashrate: m.hashrate,
            hash_share: hs,
            mined: m.mined,
            on_chain: m_on_chain[i],
            uncled: m_uncled[i],
            stale: m_stale[i],
            withheld: m.withheld,
            paid: m.paid,
            paid_ratio: if ep > 0.0 { m.paid as f64 / ep } else { 0.0 },
            expected_ratio: if ec > 0.0 { m.credit / ec } else { 0.0 },
            first_share_hours: opt_hours(m.first_share, m.start),
            first_payout_hours: opt_hours(m.first_paid, m.start),
        });
    }
    let honest: Vec<usize> = (0..m_count)
        .filter(|i| miners[*i].role == Role::Honest)
        .collect();
    let pairs_paid = |idx: &[usize]| -> Vec<(f64, f64)> {
        idx.iter()
            .map(|i| {
                (
                    sim.miners[*i].paid as f64,
                    paid_miners * miners[*i].hash_share,
                )
            })
            .collect()
    };
    let pairs_credit = |idx: &[usize]| -> Vec<(f64, f64)> {
        idx.iter()
            .map(|i| (sim.miners[*i].credit, credit_miners * miners[*i].hash_share))
            .collect()
    };
    // Classes by hashrate among honest miners.
    let mut by_hr = honest.clone();
    by_hr.sort_by(|a, b| {
        miners[*a]
            .hashrate
            .total_cmp(&miners[*b].hashrate)
            .then(a.cmp(b))
    });
    let half = by_hr.len() / 2;
    let tenth = (by_hr.len() / 10).max(1).min(by_hr.len());
    let small_half = &by_hr[..half];
    let large_tenth = &by_hr[by_hr.len() - tenth..];
    let fair = fair_credit(sim, bucket_us, n_buckets);
    let pairs_work = |idx: &[usize]| -> Vec<(f64, f64)> {
        idx.iter()
            .map(|i| (sim.miners[*i].credit, fair[*i]))
            .collect()
    };
    let fairness = FairnessSummary {
        paid: spread(&pairs_paid(&honest)),
        expected: spread(&pairs_credit(&honest)),
        paid_small: spread(&pairs_paid(small_half)),
        paid_large: spread(&pairs_paid(large_tenth)),
        expected_small: spread(&pairs_credit(small_half)),
        expected_large: spread(&pairs_credit(large_tenth)),
        per_work: spread(&pairs_work(&honest)),
        per_work_small: spread(&pairs_work(small_half)),
        per_work_large: spread(&pairs_work(large_tenth)),
    };

    // Small miners: the bottom tenth by hashrate (all miners, including late joiners).
    let mut all_by_hr: Vec<usize> = (0..m_count).collect();
    all_by_hr.sort_by(|a, b| {
        miners[*a]
            .hashrate
            .total_cmp(&miners[*b].hashrate)
            .then(a.cmp(b))
    });
    let small: Vec<usize> = all_by_hr[..(m_count / 10).max(1)].to_vec();
    let mean_work = if mined > 0 {
        shares.mean_share_difficulty * 4_294_967_296.0
    } else {
        sim.shares[boot - 1].next_work as f64
    };
    let mut spd: Vec<f64> = small
        .iter()
        .map(|i| miners[*i].hashrate * 86_400.0 / mean_work)
        .collect();
    spd.sort_by(f64::total_cmp);
    let first_pay: Vec<Option<f64>> = small
        .iter()
        .map(|i| miners[*i].first_payout_hours)
        .collect();
    let first_share: Vec<Option<f64>> =
        small.iter().map(|i| miners[*i].first_share_hours).collect();
    let small_miners = SmallMiners {
        count: small.len(),
        max_hashrate: small
            .iter()
            .map(|i| miners[*i].hashrate)
            .fold(0.0, f64::max),
        shares_per_day_p50: quantile(&spd, 0.5),
        paid_fraction: first_pay.iter().filter(|x| x.is_some()).count() as f64
            / small.len().max(1) as f64,
        first_payout_p50_hours: quantile_opt(&first_pay, 0.5),
        first_payout_p90_hours: quantile_opt(&first_pay, 0.9),
        first_share_p50_hours: quantile_opt(&first_share, 0.5),
    };

    // Bandwidth.
    let mut kbps: Vec<f64> = sim
        .nodes
        .iter()
        .filter(|n| n.active && n.active_since < sim.end)
        .map(|n| {
            let secs = (sim.end - n.active_since) as f64 / 1e6;
            (n.up_bytes + n.down_bytes) as f64 / 1000.0 / secs
        })
        .collect();
    kbps.sort_by(f64::total_cmp);
    let mean_kbps = if kbps.is_empty() {
        0.0
    } else {
        kbps.iter().sum::<f64>() / kbps.len() as f64
    };
    let bandwidth = BandwidthSummary {
        mean_kbps,
        p50_kbps: quantile(&kbps, 0.5),
        p99_kbps: quantile(&kbps, 0.99),
        max_kbps: kbps.last().copied().unwrap_or(0.0),
        mean_mb_per_day: mean_kbps * 86_400.0 / 1000.0,
    };

    // Attacker.
    let attacker = sim.attacker.map(|a| {
        let idx: Vec<usize> = (0..m_count).filter(|i| sim.miners[*i].node == a).collect();
        let agg = |s: Option<Spread>| s.map(|x| x.aggregate);
        let chain_total: u64 = m_on_chain.iter().sum();
        let att_chain: u64 = idx.iter().map(|i| m_on_chain[*i]).sum();
        let h_on: u64 = honest.iter().map(|i| m_on_chain[*i]).sum();
        let h_st: u64 = honest.iter().map(|i| m_stale[*i]).sum();
        AttackerSummary {
            role: match sim.nodes[a as usize].role {
                Role::Selfish => "selfish",
                Role::Withholder => "withholder",
                Role::Honest => "honest",
            }
            .into(),
            hashrate_share: idx.iter().map(|i| miners[*i].hash_share).sum(),
            paid_ratio: agg(spread(&pairs_paid(&idx))),
            expected_ratio: agg(spread(&pairs_credit(&idx))),
            per_work_ratio: agg(spread(&pairs_work(&idx))),
            honest_paid_ratio: agg(spread(&pairs_paid(&honest))),
            honest_expected_ratio: agg(spread(&pairs_credit(&honest))),
            chain_share: if chain_total > 0 {
                att_chain as f64 / chain_total as f64
            } else {
                0.0
            },
            withheld_blocks: sim.stats.withheld_blocks,
            honest_stale_rate: if h_on + h_st > 0 {
                h_st as f64 / (h_on + h_st) as f64
            } else {
                0.0
            },
        }
    });

    // Late joiners.
    let joiners = (!sim.joiners.is_empty()).then(|| {
        let idx: Vec<usize> = (0..m_count)
            .filter(|i| sim.joiners.contains(&sim.miners[*i].node))
            .collect();
        let joined = sim.steps.first().copied().unwrap_or(0);
        let sync: Vec<Option<f64>> = sim
            .joiners
            .iter()
            .map(|j| {
                let t = sim.nodes[*j as usize].synced_at;
                (t != u64::MAX).then(|| (t - joined) as f64 / 1e6)
            })
            .collect();
        let fs: Vec<Option<f64>> = idx.iter().map(|i| miners[*i].first_share_hours).collect();
        let fp: Vec<Option<f64>> = idx.iter().map(|i| miners[*i].first_payout_hours).collect();
        JoinerSummary {
            count: sim.joiners.len(),
            joined_hours: hours(joined),
            sync_p50_secs: quantile_opt(&sync, 0.5),
            sync_max_secs: quantile_opt(&sync, 1.0),
            first_share_p50_hours: quantile_opt(&fs, 0.5),
            first_payout_p50_hours: quantile_opt(&fp, 0.5),
            paid_ratio: spread(&pairs_paid(&idx)).map(|s| s.aggregate),
            expected_ratio: spread(&pairs_credit(&idx)).map(|s| s.aggregate),
            per_work_ratio: spread(&pairs_work(&idx)).map(|s| s.aggregate),
        }
    });

    // Floor recovery.
    let recovery = (cfg.scenario == Scenario::FloorRecovery)
        .then(|| sim.steps.first().copied())
        .flatten()
        .map(|returned| {
            // Mining times of the final chain's shares, in order.
            let times: Vec<u64> = (boot..n_shares)
                .filter(|i| on_chain[*i])
                .map(|i| sim.shares[i].mined_at)
                .collect();
            let floor_bits = pool.max_share_target;
            let mean_interval = |from: u64, to: u64| {
                let n = times.iter().filter(|t| **t >= from && **t < to).count();
                if n == 0 {
                    0.0
                } else {
                    (to - from) as f64 / 1e6 / n as f64
                }
            };
            let pinned = (boot..n_shares)
                .filter(|i| on_chain[*i] && sim.shares[*i].mined_at >= returned)
                .find(|i| sim.shares[*i].info.share_bits != floor_bits)
                .map(|i| (sim.shares[i].mined_at - returned) as f64 / 1e6);
            let first = times.partition_point(|t| *t < returned);
            let period_us = pool.share_period_secs as f64 * 1e6;
            let recovery = (first..times.len().saturating_sub(100))
                .find(|i| (times[i + 100] - times[*i]) as f64 / 100.0 >= 0.8 * period_us)
                .map(|i| (times[i] - returned) as f64 / 1e6);
            RecoverySummary {
                returned_hours: hours(returned),
                slow_interval_secs: mean_interval(returned / 2, returned),
                pinned_secs: pinned,
                recovery_secs: recovery,
                interval_after_secs: mean_interval(returned + (sim.end - returned) / 2, sim.end),
            }
        });

    let blocks_rows: Vec<BlockRow> = sim
        .stats
        .blocks
        .iter()
        .map(|b| BlockRow {
            hours: hours(b.t),
            share_height: sim.shares[b.share as usize].info.height,
            parent_height: b.parent_height,
            finder: b.miner,
            reward: b.reward,
            paid: b.paid,
            outputs: b.outputs,
            on_chain: on_chain[b.share as usize],
            paid_to_bootstrap: b.direct_to_bootstrap,
        })
        .collect();

    let pool_hr = cfg.pool_hashrate;
    let config = ConfigSummary {
        scenario: cfg.scenario.name().into(),
        nodes: cfg.nodes,
        miners: m_count,
        hours: cfg.hours,
        seed: cfg.seed,
        chain: pool.chain.name().into(),
        preset: cfg.preset.clone(),
        share_period_secs: pool.share_period_secs,
        pplns_window: pool.pplns_window,
        retarget_half_life_secs: pool.retarget_half_life_secs,
        uncle_depth: pool.uncle_depth,
        uncle_penalty_percent: pool.uncle_penalty_percent,
        max_payout_outputs: pool.max_payout_outputs,
        min_payout: pool.min_payout,
        degree: cfg.degree,
        latency_ms: [cfg.latency_ms.0, cfg.latency_ms.1],
        regions: cfg.regions,
        bandwidth_mbps: cfg.bandwidth_mbps,
        validation_ms: cfg.validation_ms,
        compact_relay: cfg.compact_relay,
        job_delay_ms: cfg.job_delay_ms,
        hashrate_dist: cfg.dist.name().into(),
        pool_hashrate: pool_hr,
        network_hashrate: cfg.network_hashrate,
        pool_fraction: pool_hr / cfg.network_hashrate,
        parent_interval_secs: cfg.parent_interval_secs,
        bootstrap_shares: sim.bootstrap_len,
        steps_hours: sim.steps.iter().map(|t| hours(*t)).collect(),
    };
    SimResult {
        summary: Summary {
            config,
            shares,
            reorgs,
            propagation,
            blocks,
            fairness,
            small_miners,
            bandwidth,
            attacker,
            joiners,
            recovery,
            events: sim.stats.events,
        },
        miners,
        nodes: sim
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeRow {
                node: i as u32,
                region: crate::net::REGIONS[n.region as usize],
                group: n.group,
                degree: n.peers.len(),
                active_hours: if n.active {
                    hours(sim.end - n.active_since.min(sim.end))
                } else {
                    0.0
                },
                up_bytes: n.up_bytes,
                down_bytes: n.down_bytes,
                reorgs: n.reorgs,
            })
            .collect(),
        blocks: blocks_rows,
        series,
        propagation_cdf,
    }
}

fn si(x: f64, unit: &str) -> String {
    let (v, p) = if x >= 1e18 {
        (x / 1e18, "E")
    } else if x >= 1e15 {
        (x / 1e15, "P")
    } else if x >= 1e12 {
        (x / 1e12, "T")
    } else if x >= 1e9 {
        (x / 1e9, "G")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    format!("{v:.3} {p}{unit}")
}

fn opt(x: Option<f64>, unit: &str) -> String {
    x.map_or("never".to_string(), |v| format!("{v:.2}{unit}"))
}

fn spread_line(s: &Option<Spread>) -> String {
    match s {
        None => "n/a (nothing paid)".into(),
        Some(s) => format!(
            "{} miners, aggregate {:.3}, mean {:.3}, sd {:.3}, p10 {:.3}, median {:.3}, p90 {:.3}, min {:.3}, max {:.3}",
            s.miners, s.aggregate, s.mean, s.sd, s.p10, s.p50, s.p90, s.min, s.max
        ),
    }
}

impl SimResult {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let s = &self.summary;
        let c = &s.config;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "otedama-simnet: scenario {}, {} nodes ({} miners), {} h, seed {}, preset {} on {}",
            c.scenario, c.nodes, c.miners, c.hours, c.seed, c.preset, c.chain
        );
        let _ = writeln!(
            o,
            "pool {} ({:.3} % of the network), shares every {} s, window {}, uncles depth {} penalty {} %, outputs <= {}",
            si(c.pool_hashrate, "H/s"),
            c.pool_fraction * 100.0,
            c.share_period_secs,
            c.pplns_window,
            c.uncle_depth,
            c.uncle_penalty_percent,
            c.max_payout_outputs
        );
        let lat = if c.regions {
            "4 regions".to_string()
        } else {
            format!("{}-{} ms", c.latency_ms[0], c.latency_ms[1])
        };
        let _ =
            writeln!(
            o,
            "network degree {}, latency {}, {} Mbit/s up, validation {} ms, job delay {} ms, {} relay, hashrates {}",
            c.degree,
            lat,
            c.bandwidth_mbps,
            c.validation_ms,
            c.job_delay_ms,
            if c.compact_relay { "compact" } else { "full-share" },
            c.hashrate_dist
        );
        let _ = writeln!(o);
        let sh = &s.shares;
        let _ = writeln!(
            o,
            "{:<14}{} mined, stale {:.2} % (uncled {:.2} %, orphaned {:.2} %), mean interval {:.2} s",
            "shares",
            sh.mined,
            sh.stale_rate * 100.0,
            sh.uncle_rate * 100.0,
            sh.orphan_rate * 100.0,
            sh.mean_interval_secs
        );
        let _ = writeln!(
            o,
            "{:<14}{:.1} outputs and {:.0} bytes a share on average, difficulty {:.4e}, by uncles included {:?}",
            "", sh.mean_outputs, sh.mean_bytes, sh.mean_share_difficulty, sh.by_uncles
        );
        let r = &s.reorgs;
        let depths: Vec<String> = (1..10)
            .filter(|d| r.by_depth[*d] > 0)
            .map(|d| format!("{}{}: {}", d, if d == 9 { "+" } else { "" }, r.by_depth[d]))
            .collect();
        let _ = writeln!(
            o,
            "{:<14}{} ({:.3} per node-hour), by depth [{}], max {}",
            "reorgs",
            r.total,
            r.per_node_hour,
            depths.join(", "),
            r.max_depth
        );
        let p = &s.propagation;
        let _ = writeln!(
            o,
            "{:<14}p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms; 90 % of nodes in {:.0} ms (median share), {:.0} ms (p99)",
            "propagation", p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.reach90_p50_ms, p.reach90_p99_ms
        );
        let b = &s.blocks;
        let _ = writeln!(
            o,
            "{:<14}{} found ({:.1} expected), {} withheld, {} external; reward {} paid {} ({}); outputs mean {:.1}, min {}, max {}, {} at the cap",
            "blocks",
            b.found,
            b.expected,
            b.withheld,
            b.external,
            b.total_reward,
            b.total_paid,
            if b.conserved { "conserved" } else { "NOT CONSERVED" },
            b.outputs_mean,
            b.outputs_min,
            b.outputs_max,
            b.at_output_cap
        );
        let f = &s.fairness;
        let _ = writeln!(
            o,
            "{:<14}paid/expected: {}",
            "fairness",
            spread_line(&f.paid)
        );
        let _ = writeln!(o, "{:<14}  small half: {}", "", spread_line(&f.paid_small));
        let _ = writeln!(o, "{:<14}  top tenth:  {}", "", spread_line(&f.paid_large));
        let _ = writeln!(
            o,
            "{:<14}expectation (no block luck): {}",
            "",
            spread_line(&f.expected)
        );
        let _ = writeln!(
            o,
            "{:<14}  small half: {}",
            "",
            spread_line(&f.expected_small)
        );
        let _ = writeln!(
            o,
            "{:<14}  top tenth:  {}",
            "",
            spread_line(&f.expected_large)
        );
        let _ = writeln!(
            o,
            "{:<14}expectation per unit of work found: {}",
            "",
            spread_line(&f.per_work)
        );
        let _ = writeln!(
            o,
            "{:<14}  small half: {}",
            "",
            spread_line(&f.per_work_small)
        );
        let _ = writeln!(
            o,
            "{:<14}  top tenth:  {}",
            "",
            spread_line(&f.per_work_large)
        );
        let sm = &s.small_miners;
        let _ = writeln!(
            o,
            "{:<14}bottom tenth ({} miners, <= {}, median {:.2} shares/day): {:.1} % paid; first payout p50 {}, p90 {}; first share p50 {}",
            "small miners",
            sm.count,
            si(sm.max_hashrate, "H/s"),
            sm.shares_per_day_p50,
            sm.paid_fraction * 100.0,
            opt(sm.first_payout_p50_hours, " h"),
            opt(sm.first_payout_p90_hours, " h"),
            opt(sm.first_share_p50_hours, " h")
        );
        let bw = &s.bandwidth;
        let _ = writeln!(
            o,
            "{:<14}per node (up + down) mean {:.2} kB/s ({:.0} MB/day), p50 {:.2}, p99 {:.2}, max {:.2} kB/s",
            "bandwidth", bw.mean_kbps, bw.mean_mb_per_day, bw.p50_kbps, bw.p99_kbps, bw.max_kbps
        );
        if let Some(a) = &s.attacker {
            let _ = writeln!(
                o,
                "{:<14}{} with {:.1} % of the hashrate: paid/expected {}, expectation {}, per work {}; honest miners {} / {}; {:.1} % of the chain's shares; {} blocks withheld; honest stale {:.2} %",
                "attacker",
                a.role,
                a.hashrate_share * 100.0,
                opt(a.paid_ratio, ""),
                opt(a.expected_ratio, ""),
                opt(a.per_work_ratio, ""),
                opt(a.honest_paid_ratio, ""),
                opt(a.honest_expected_ratio, ""),
                a.chain_share * 100.0,
                a.withheld_blocks,
                a.honest_stale_rate * 100.0
            );
        }
        if let Some(j) = &s.joiners {
            let _ = writeln!(
                o,
                "{:<14}{} nodes joined at {:.2} h: synced in {} (p50), {} (max); first share p50 {}, first payout p50 {}; paid/expected {}, expectation {}, per work {}",
                "late joiners",
                j.count,
                j.joined_hours,
                opt(j.sync_p50_secs, " s"),
                opt(j.sync_max_secs, " s"),
                opt(j.first_share_p50_hours, " h"),
                opt(j.first_payout_p50_hours, " h"),
                opt(j.paid_ratio, ""),
                opt(j.expected_ratio, ""),
                opt(j.per_work_ratio, "")
            );
        }
        if let Some(r) = &s.recovery {
            let _ = writeln!(
                o,
                "{:<14}hashrate back at {:.2} h (slow phase interval {:.1} s): floor target for {}, interval back to 80 % of the period after {}; interval afterwards {:.2} s",
                "recovery",
                r.returned_hours,
                r.slow_interval_secs,
                opt(r.pinned_secs, " s"),
                opt(r.recovery_secs, " s"),
                r.interval_after_secs
            );
        }
        let _ = writeln!(o, "{:<14}{} events", "simulation", s.events);
        o
    }

    pub fn summary_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.summary).expect("summary serializes");
        s.push('\n');
        s
    }

    pub fn miners_csv(&self) -> String {
        let mut o = String::from(
            "miner,node,role,hashrate,hash_share,mined,on_chain,uncled,stale,withheld,paid,paid_ratio,expected_ratio,first_share_hours,first_payout_hours\n",
        );
        for m in &self.miners {
            let f = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.4}"));
            let _ = writeln!(
                o,
                "{},{},{},{:.6e},{:.6e},{},{},{},{},{},{},{:.4},{:.4},{},{}",
                m.miner,
                m.node,
                match m.role {
                    Role::Honest => "honest",
                    Role::Withholder => "withholder",
                    Role::Selfish => "selfish",
                },
                m.hashrate,
                m.hash_share,
                m.mined,
                m.on_chain,
                m.uncled,
                m.stale,
                m.withheld,
                m.paid,
                m.paid_ratio,
                m.expected_ratio,
                f(m.first_share_hours),
                f(m.first_payout_hours)
            );
        }
        o
    }

    pub fn nodes_csv(&self) -> String {
        let mut o =
            String::from("node,region,group,degree,active_hours,up_bytes,down_bytes,reorgs\n");
        for n in &self.nodes {
            let _ = writeln!(
                o,
                "{},{},{},{},{:.4},{},{},{}",
                n.node,
                n.region,
                n.group,
                n.degree,
                n.active_hours,
                n.up_bytes,
                n.down_bytes,
                n.reorgs
            );
        }
        o
    }

    pub fn blocks_csv(&self) -> String {
        let mut o = String::from(
            "hours,share_height,parent_height,finder,reward,paid,outputs,on_chain,paid_to_bootstrap\n",
        );
        for b in &self.blocks {
            let _ = writeln!(
                o,
                "{:.4},{},{},{},{},{},{},{},{}",
                b.hours,
                b.share_height,
                b.parent_height,
                b.finder,
                b.reward,
                b.paid,
                b.outputs,
                b.on_chain,
                b.paid_to_bootstrap
            );
        }
        o
    }

    pub fn series_csv(&self) -> String {
        let mut o = String::from(
            "hours,pool_hashrate,mined,on_chain,stale,stale_rate,interval_secs,difficulty,reorgs,blocks\n",
        );
        for r in &self.series {
            let _ = writeln!(
                o,
                "{:.4},{:.6e},{},{},{},{:.5},{:.3},{:.6e},{},{}",
                r.hours,
                r.hashrate,
                r.mined,
                r.on_chain,
                r.stale,
                r.stale_rate,
                r.interval_secs,
                r.difficulty,
                r.reorgs,
                r.blocks
            );
        }
        o
    }

    pub fn propagation_csv(&self) -> String {
        let mut o = String::from("ms,fraction\n");
        for (ms, f) in &self.propagation_cdf {
            let _ = writeln!(o, "{ms:.0},{f:.6}");
        }
        o
    }

    /// Share interval and stale rate over time.
    pub fn series_svg(&self) -> String {
        let c = &self.summary.config;
        let interval = Series {
            name: "share interval on the final chain (s)".into(),
            points: self
                .series
                .iter()
                .filter(|r| r.on_chain > 0)
                .map(|r| (r.hours, r.interval_secs))
                .collect(),
            color: COLORS[0],
            dots: false,
        };
        let stale = Series {
            name: "stale shares (%)".into(),
            points: self
                .series
                .iter()
                .filter(|r| r.on_chain + r.stale > 0)
                .map(|r| (r.hours, r.stale_rate * 100.0))
                .collect(),
            color: COLORS[1],
            dots: false,
        };
        svg::render(&Plot {
            title: format!(
                "{}: {} nodes, {} preset on {}, seed {}",
                c.scenario, c.nodes, c.preset, c.chain, c.seed
            ),
            x_label: "hours".into(),
            y_label: "seconds / percent".into(),
            log_x: false,
            series: vec![interval, stale],
            y_range: None,
            hline: Some((c.share_period_secs as f64, "target period".into())),
        })
    }

    pub fn propagation_svg(&self) -> String {
        let c = &self.summary.config;
        svg::render(&Plot {
            title: format!(
                "share propagation: {} nodes, degree {}, {}",
                c.nodes,
                c.degree,
                if c.regions {
                    "4 regions".to_string()
                } else {
                    format!("{}-{} ms links", c.latency_ms[0], c.latency_ms[1])
                }
            ),
            x_label: "ms from publication to acceptance".into(),
            y_label: "fraction of (share, node) arrivals".into(),
            log_x: false,
            series: vec![Series {
                name: "CDF".into(),
                points: self.propagation_cdf.clone(),
                color: COLORS[0],
                dots: false,
            }],
            y_range: Some((0.0, 1.0)),
            hline: None,
        })
    }

    /// paid/expected and expectation/expected per miner against its hashrate.
    pub fn fairness_svg(&self) -> String {
        let c = &self.summary.config;
        let pts = |f: &dyn Fn(&MinerRow) -> f64| -> Vec<(f64, f64)> {
            self.miners
                .iter()
                .filter(|m| m.hash_share > 0.0)
                .map(|m| (m.hashrate, f(m)))
                .collect()
        };
        svg::render(&Plot {
            title: format!(
                "payout fairness: {} on {}, {} h, {} blocks",
                c.preset, c.chain, c.hours, self.summary.blocks.found
            ),
            x_label: "miner hashrate (H/s)".into(),
            y_label: "pay / hashrate share of the pay".into(),
            log_x: true,
            series: vec![
                Series {
                    name: "paid by the blocks found".into(),
                    points: pts(&|m| m.paid_ratio),
                    color: COLORS[0],
                    dots: true,
                },
                Series {
                    name: "expectation given the sharechain".into(),
                    points: pts(&|m| m.expected_ratio),
                    color: COLORS[1],
                    dots: true,
                },
            ],
            y_range: None,
            hline: Some((1.0, "fair".into())),
        })
    }

    /// Every output file: (name, contents).
    pub fn files(&self) -> Vec<(&'static str, String)> {
        vec![
            ("summary.json", self.summary_json()),
            ("table.txt", self.table()),
            ("miners.csv", self.miners_csv()),
            ("nodes.csv", self.nodes_csv()),
            ("blocks.csv", self.blocks_csv()),
            ("series.csv", self.series_csv()),
            ("propagation.csv", self.propagation_csv()),
            ("series.svg", self.series_svg()),
            ("propagation.svg", self.propagation_svg()),
            ("fairness.svg", self.fairness_svg()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Scenario, SimConfig};
    use otedama_consensus::{Chain, Preset};

    #[test]
    fn share_credits_add_up_to_the_window_credits() {
        let mut cfg = SimConfig::new(Scenario::Steady, 20, 3.0, 9, Chain::Litecoin, Preset::Main);
        cfg.pool.pplns_window = 300;
        cfg.latency_ms = (100.0, 900.0);
        let mut sim = Sim::new(&cfg);
        sim.run();
        let credit = share_credits(&sim);
        let mut per = vec![0f64; sim.miners.len()];
        for (i, s) in sim
            .shares
            .iter()
            .enumerate()
            .skip(sim.bootstrap_len as usize)
        {
            per[s.miner as usize] += credit[i];
        }
        let uncled = sim.shares.iter().filter(|s| !s.uncles.is_empty()).count();
        assert!(uncled > 0, "the test needs uncles");
        for (a, m) in per.iter().zip(&sim.miners) {
            assert!(
                (a - m.credit).abs() <= 1e-9 * m.credit.max(1.0),
                "{a} vs {}",
                m.credit
            );
        }
    }
}
