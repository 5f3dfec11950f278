//! The discrete-event engine.
//!
//! Shares are simulated as their index entries ([`ShareInfo`]), never as full shares with
//! proof of work: a share's validity is assumed, everything else is the real code. Heights,
//! ASERT targets ([`next_share_bits`]), uncle choice (the sharechain's rules), cumulative work
//! and skip pointers are computed as a node computes them; one [`ChainState`] (the sharechain
//! crate's in-memory index with its incremental leaf windows) holds every share ever mined,
//! which is exact because index entries are immutable and a window depends only on ancestry;
//! each node keeps only the set of shares it knows and its best tip, chosen with the real
//! [`is_better`]. Every share's coinbase is the real PPLNS split
//! ([`split_amounts`], lottery included) of the share's own window.
//!
//! Mining is a Poisson process per miner with rate `hashrate / work(target of its node's tip)`,
//! drawn by thinning one pool-wide process: candidates come at rate `H / w_low` (`w_low` a
//! lower bound of every node's current share work), pick a miner in proportion to its
//! hashrate and become a share with probability `w_low / work`. That is exact for
//! piecewise-constant rates and costs O(1) per share instead of one reschedule per node per
//! tip change.

use crate::config::{
    HashrateDist, Scenario, SimConfig, FLOOR_RECOVERY_RETURN, FLOOR_RECOVERY_SLOW,
};
use crate::net::{self, Peer};
use crate::rng::{mix, Alias, Rng};
use bitcoin::hashes::Hash;
use bitcoin::pow::CompactTarget;
use otedama_consensus::chain_view::{skip_height, ChainView, UncleCredit};
use otedama_consensus::fork_choice::is_better;
use otedama_consensus::pplns::split::{lottery_seed, split_amounts, SplitParams};
use otedama_consensus::retarget::{anchor_after, next_share_bits, RetargetInput};
use otedama_consensus::{PayoutScript, PoolParams, ShareHash, ShareInfo, Target, Work};
use otedama_sharechain::state::ChainState;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Unix time of simulated time zero.
pub const T0: u64 = 1_800_000_000;
pub(crate) const NONE: u32 = u32::MAX;
/// Miner number of the bootstrap shares (see [`Sim::new`]).
pub const BOOTSTRAP: u32 = u32::MAX;
/// Propagation histogram resolution (1 ms buckets) and range.
pub(crate) const PROP_BUCKETS: usize = 60_000;
/// Recent shares for which each node remembers which peers sent them (a ring by share number).
const SEEN_RING: usize = 512;

/// Bytes of a share on the wire besides its payout outputs and uncles: version 4, header 80,
/// coinbase without payouts ~210 (input with BIP34 height, extranonces and tag, commitment and
/// witness commitment outputs, witness), merkle branch 12 x 32 (a block of ~4,000
/// transactions), side data ~85, message framing ~40.
pub const SHARE_BASE_BYTES: u32 = 800;
/// Bytes per payout output (value 8, length 1, P2WPKH script 22).
pub const OUTPUT_BYTES: u32 = 31;
/// Bytes per uncle id in the side data.
pub const UNCLE_BYTES: u32 = 32;
/// What the compact form (`consensus::share::compact`) adds to a share without its payout
/// outputs: the reward 8 and the payout checksum 8. Measured by the node's `wire_cost` test:
/// 395 bytes for the compact gossip message against 410 for the full one at one payee, on
/// regtest without a merkle branch (docs/p2p.md); the branch and framing are as in
/// [`SHARE_BASE_BYTES`].
pub const COMPACT_EXTRA_BYTES: u32 = 16;
/// Bytes of a request for missing shares (ids and framing).
pub const REQUEST_BYTES: u32 = 100;

/// A distinct P2WPKH payout script per miner number (the number in bytes 2..6).
pub fn payout_script(miner: u32) -> PayoutScript {
    let mut s = [0u8; 22];
    s[0] = 0x00;
    s[1] = 0x14;
    s[2..6].copy_from_slice(&miner.to_be_bytes());
    s[21] = 0x5a;
    PayoutScript::new(&s)
}

/// The miner number of a script made by [`payout_script`].
pub fn miner_of(script: &PayoutScript) -> u32 {
    let b = script.as_bytes();
    u32::from_be_bytes([b[2], b[3], b[4], b[5]])
}

/// How a node's miners treat the shares they find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Honest,
    /// Discards its shares that are parent-chain blocks.
    Withholder,
    /// Selfish mining on the sharechain.
    Selfish,
}

/// One mined share.
pub(crate) struct ShareRec {
    pub info: ShareInfo,
    pub prev: u32,
    pub uncles: Vec<u32>,
    pub miner: u32,
    pub mined_at: u64,
    /// When it was first sent to peers (`u64::MAX`: never).
    pub published_at: u64,
    /// Published the moment it was found, on a whole network: propagation statistics use only
    /// these (and only arrivals at nodes that were online when it was published).
    pub honest: bool,
    /// Target bits and work of a child of this share.
    pub next_bits: CompactTarget,
    pub next_work: u128,
    /// Bytes of its gossip message (compact with compact relay).
    pub wire: u32,
    /// Bytes of the full share: what a fetch transfers.
    pub full_wire: u32,
    pub outputs: u32,
    pub block: bool,
    /// Nodes that accepted it.
    pub reach: u32,
    /// Microseconds until 90 % of the active nodes had it (`u64::MAX`: never).
    pub t90: u64,
    /// Expected pay per unit of window weight when this share's coinbase pays: block
    /// probability x reward / window total (0 for a withholder's published shares).
    pub pay_factor: f64,
}

pub(crate) struct SelfishState {
    /// Own shares not yet published, oldest first.
    pub unpublished: VecDeque<u32>,
    /// A tie race is on: the next own share is published at once.
    pub race: bool,
}

pub(crate) struct Node {
    pub peers: Vec<Peer>,
    known: Vec<u64>,
    inflight: Vec<u64>,
    /// Best tip by fork choice over the shares it knows (for a selfish node: over the public
    /// ones).
    pub best: u32,
    /// What its miners should mine on: the best tip, or a selfish node's private tip.
    pub head: u32,
    /// What its miners mine on now: `head` once the new job reached them.
    pub tip: u32,
    pub tip_work: u128,
    /// Jobs on newer tips on their way to the miners: (tip, its child's work, arrival).
    pub jobs: Vec<(u32, u128, u64)>,
    /// Shares waiting for a parent or uncle, with the peer they came from.
    pub pending: Vec<(u32, u32)>,
    pub uplink_free: u64,
    pub group: u8,
    pub region: u8,
    pub active: bool,
    /// Has a usable tip (a late joiner is not synced until it accepted its first share).
    pub synced: bool,
    pub role: Role,
    pub selfish: Option<SelfishState>,
    pub up_bytes: u64,
    pub down_bytes: u64,
    pub active_since: u64,
    /// When it first had a usable tip (`u64::MAX`: never).
    pub synced_at: u64,
    pub reorgs: u64,
}

pub(crate) struct Miner {
    pub node: u32,
    pub hashrate: f64,
    /// Hash-seconds done so far (up to `hr_since`).
    pub hash_integral: f64,
    pub mined: u64,
    pub withheld: u64,
    pub first_share: u64,
    pub first_paid: u64,
    pub paid: u64,
    /// Expected payout given the history: sum over its credits of block probability x reward
    /// x weight / window total.
    pub credit: f64,
    /// Work of the shares it found (withheld ones excluded).
    pub work_mined: f64,
    pub start: u64,
}

/// A mined block (a share that met the parent chain's target).
pub(crate) struct BlockRec {
    pub t: u64,
    pub share: u32,
    pub miner: u32,
    pub parent_height: u32,
    pub reward: u64,
    pub paid: u64,
    pub outputs: u32,
    pub direct_to_bootstrap: u64,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Candidate(u32),
    Deliver { node: u32, share: u32, from: u32 },
    Fetched { node: u32, from: u32, batch: u32 },
    ParentBlock,
    Step(u8),
}

#[derive(Clone, Copy, Debug)]
struct Event {
    t: u64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        self.t == o.t && self.seq == o.seq
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    /// Reversed: the heap pops the earliest (time, sequence) first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

fn bit(v: &[u64], i: u32) -> bool {
    v.get((i >> 6) as usize)
        .is_some_and(|w| (w >> (i & 63)) & 1 == 1)
}

fn set_bit(v: &mut Vec<u64>, i: u32) {
    let w = (i >> 6) as usize;
    if w >= v.len() {
        v.resize(w + 64, 0);
    }
    v[w] |= 1 << (i & 63);
}

fn clear_bit(v: &mut [u64], i: u32) {
    if let Some(w) = v.get_mut((i >> 6) as usize) {
        *w &= !(1 << (i & 63));
    }
}

/// Statistics gathered while the run goes.
pub(crate) struct Stats {
    pub prop_hist: Vec<u64>,
    pub prop_over: Vec<u64>,
    pub prop_max_us: u64,
    /// Reorgs by depth (index 9: 9 and deeper).
    pub reorg_hist: [u64; 10],
    pub reorg_max: u64,
    pub blocks: Vec<BlockRec>,
    pub ext_blocks: u64,
    pub withheld_blocks: u64,
    pub bootstrap_paid: u64,
    pub bootstrap_credit: f64,
    pub total_reward: u64,
    pub total_paid: u64,
    pub dup_msgs: u64,
    pub dropped_msgs: u64,
    pub fetches: u64,
    pub fetched_shares: u64,
    pub events: u64,
    /// Per bucket: reorgs seen by nodes.
    pub bucket_reorgs: Vec<u64>,
    /// Pool hashrate changes: (time, H/s).
    pub hashrate_steps: Vec<(u64, f64)>,
}

/// The simulator's whole state.
pub struct Sim {
    pub(crate) cfg: SimConfig,
    pub(crate) pool: PoolParams,
    split: SplitParams,
    pub(crate) now: u64,
    pub(crate) end: u64,
    queue: BinaryHeap<Event>,
    seq: u64,
    pub(crate) nodes: Vec<Node>,
    partitioned: bool,
    pub(crate) active_nodes: u32,
    pub(crate) miners: Vec<Miner>,
    alias: Alias,
    w_low: f64,
    cand_gen: u32,
    need_resched: bool,
    hr_since: u64,
    pub(crate) shares: Vec<ShareRec>,
    pub(crate) by_height: Vec<Vec<u32>>,
    state: ChainState,
    pub(crate) bootstrap_len: u32,
    parent_height: u32,
    pub(crate) block_work: f64,
    ext_rate_per_us: f64,
    rng_mine: Rng,
    rng_block: Rng,
    rng_parent: Rng,
    batches: Vec<Vec<u32>>,
    free_batches: Vec<u32>,
    stack: Vec<(u32, u32)>,
    /// Per ring slot and node: bit i set when peer i sent that share to the node; the slot's
    /// owner is the share it currently describes.
    seen_from: Vec<u64>,
    seen_owner: Vec<u32>,
    pub(crate) stats: Stats,
    pub(crate) joiners: Vec<u32>,
    pub(crate) attacker: Option<u32>,
    pub(crate) steps: Vec<u64>,
    horizon: u64,
    job_delay_us: u64,
}

impl Sim {
    /// Builds the network, the miners and a bootstrap sharechain known to every node.
    ///
    /// Bootstrap: a fresh sharechain starts at the preset's share floor, far below what a pool
    /// of this size needs, and ASERT ramps it up over many half-lives with sub-second shares.
    /// The run instead starts from a chain that has already ramped: `k` shares stamped at the
    /// anchor time, each with the real retarget result, `k` chosen so the next target is worth
    /// `pool hashrate x period` hashes. They pay a separate bootstrap script (its pay is
    /// reported, not counted as any miner's) and hold about 90 shares' worth of weight, which
    /// leaves the window within its first hours.
    pub fn new(cfg: &SimConfig) -> Sim {
        let pool = cfg.pool.clone();
        let seed = cfg.seed;
        let mut rng_graph = Rng::new(seed, 1);
        let mut rng_hash = Rng::new(seed, 2);
        let n = cfg.nodes;

        let attacker = match cfg.scenario {
            Scenario::Withholding | Scenario::Selfish => Some(0u32),
            _ => None,
        };
        let degree_of = |i: usize| {
            if attacker == Some(i as u32) && cfg.scenario == Scenario::Selfish {
                cfg.degree * cfg.attacker_degree_factor.max(1)
            } else {
                cfg.degree
            }
        };
        let graph = net::build(cfg, &mut rng_graph, degree_of);

        // Partition groups: a random 60 % / 40 % split.
        let mut order: Vec<u32> = (0..n as u32).collect();
        rng_graph.shuffle(&mut order);
        let mut group = vec![0u8; n];
        for (i, &v) in order.iter().enumerate() {
            if i * 5 >= n * 3 {
                group[v as usize] = 1;
            }
        }
        let joiners: Vec<u32> = if cfg.scenario == Scenario::LateJoiner {
            let k = (n / 10).max(1);
            ((n - k) as u32..n as u32).collect()
        } else {
            Vec::new()
        };

        // Hashrates.
        let mpn = cfg.miners_per_node.max(1);
        let m_total = n * mpn;
        let mut hr: Vec<f64> = (0..m_total)
            .map(|_| match cfg.dist {
                HashrateDist::Equal => 1.0,
                HashrateDist::Uniform | HashrateDist::Whales => rng_hash.range(0.5, 1.5),
                HashrateDist::Pareto => {
                    // Shape 1.5, scale so the mean is 1; capped at 100x the mean.
                    let alpha = 1.5;
                    let xm = (alpha - 1.0) / alpha;
                    (xm * rng_hash.open01().powf(-1.0 / alpha)).min(100.0)
                }
            })
            .collect();
        let total_hr = cfg.pool_hashrate;
        let scale_to = |v: &mut [f64], target: f64| {
            let s: f64 = v.iter().sum();
            if s > 0.0 {
                for x in v.iter_mut() {
                    *x *= target / s;
                }
            }
        };
        let mut fixed = 0usize; // leading miners whose share is set explicitly
        if cfg.dist == HashrateDist::Whales && m_total > 6 {
            for x in hr.iter_mut().take(3) {
                *x = 0.15 * total_hr;
            }
            fixed = 3;
        }
        if let Some(a) = attacker {
            let a0 = a as usize * mpn;
            for x in hr[a0..a0 + mpn].iter_mut() {
                *x = cfg.attacker_share * total_hr / mpn as f64;
            }
            fixed = fixed.max(a0 + mpn);
        }
        let fixed_sum: f64 = hr[..fixed].iter().sum();
        scale_to(&mut hr[fixed..], total_hr - fixed_sum);
        if cfg.scenario == Scenario::FloorRecovery {
            // The slow phase; the step at 7/8 of the run restores `pool_hashrate`.
            for x in hr.iter_mut() {
                *x *= FLOOR_RECOVERY_SLOW / FLOOR_RECOVERY_RETURN;
            }
        }

        let mut nodes: Vec<Node> = (0..n)
            .map(|i| {
                let role = match (attacker, cfg.scenario) {
                    (Some(a), Scenario::Withholding) if a == i as u32 => Role::Withholder,
                    (Some(a), Scenario::Selfish) if a == i as u32 => Role::Selfish,
                    _ => Role::Honest,
                };
                let active = !joiners.contains(&(i as u32));
                Node {
                    peers: graph.peers[i].clone(),
                    known: Vec::new(),
                    inflight: Vec::new(),
                    best: NONE,
                    head: NONE,
                    tip: NONE,
                    tip_work: 0,
                    jobs: Vec::new(),
                    pending: Vec::new(),
                    uplink_free: 0,
                    group: group[i],
                    region: graph.region[i],
                    active,
                    synced: active,
                    role,
                    selfish: (role == Role::Selfish).then(|| SelfishState {
                        unpublished: VecDeque::new(),
                        race: false,
                    }),
                    up_bytes: 0,
                    down_bytes: 0,
                    active_since: 0,
                    synced_at: if active { 0 } else { u64::MAX },
                    reorgs: 0,
                }
            })
            .collect();
        let miners: Vec<Miner> = (0..m_total)
            .map(|m| Miner {
                node: (m / mpn) as u32,
                hashrate: hr[m],
                hash_integral: 0.0,
                mined: 0,
                withheld: 0,
                first_share: u64::MAX,
                first_paid: u64::MAX,
                paid: 0,
                credit: 0.0,
                work_mined: 0.0,
                start: 0,
            })
            .collect();
        for i in &joiners {
            nodes[*i as usize].active_since = u64::MAX;
        }

        let end = cfg.duration_us();
        let buckets = (end / (cfg.bucket_secs * 1_000_000) + 1) as usize;
        let mut sim = Sim {
            cfg: cfg.clone(),
            split: SplitParams {
                min_payout: pool.min_payout,
                max_outputs: pool.max_payout_outputs,
            },
            pool: pool.clone(),
            now: 0,
            end,
            queue: BinaryHeap::with_capacity(1 << 16),
            seq: 0,
            active_nodes: nodes.iter().filter(|x| x.active).count() as u32,
            nodes,
            partitioned: false,
            miners,
            alias: Alias::default(),
            w_low: 0.0,
            cand_gen: 0,
            need_resched: false,
            hr_since: 0,
            shares: Vec::new(),
            by_height: Vec::new(),
            state: ChainState::new(pool.clone()),
            bootstrap_len: 0,
            parent_height: cfg.parent_start_height,
            block_work: cfg.block_work(),
            ext_rate_per_us: (cfg.network_hashrate - cfg.pool_hashrate) / cfg.block_work() / 1e6,
            rng_mine: Rng::new(seed, 3),
            rng_block: Rng::new(seed, 4),
            rng_parent: Rng::new(seed, 5),
            batches: Vec::new(),
            free_batches: Vec::new(),
            stack: Vec::new(),
            seen_from: vec![0; SEEN_RING * n],
            seen_owner: vec![NONE; SEEN_RING],
            stats: Stats {
                prop_hist: vec![0; PROP_BUCKETS],
                prop_over: Vec::new(),
                prop_max_us: 0,
                reorg_hist: [0; 10],
                reorg_max: 0,
                blocks: Vec::new(),
                ext_blocks: 0,
                withheld_blocks: 0,
                bootstrap_paid: 0,
                bootstrap_credit: 0.0,
                total_reward: 0,
                total_paid: 0,
                dup_msgs: 0,
                dropped_msgs: 0,
                fetches: 0,
                fetched_shares: 0,
                events: 0,
                bucket_reorgs: vec![0; buckets],
                hashrate_steps: Vec::new(),
            },
            joiners,
            attacker,
            steps: Vec::new(),
            horizon: pool.pplns_window + pool.uncle_depth + 16,
            job_delay_us: (cfg.job_delay_ms * 1000.0) as u64,
        };
        sim.bootstrap();
        sim.rebuild_alias();
        let h = sim.pool_hashrate();
        sim.stats.hashrate_steps.push((0, h));

        // Scenario steps.
        let third = end / 3;
        match cfg.scenario {
            Scenario::Doubling => sim.steps = vec![third, 2 * third],
            Scenario::Partition => {
                let len = (end / 6).min(3_600_000_000);
                sim.steps = vec![third, third + len];
            }
            Scenario::LateJoiner => sim.steps = vec![end / 2],
            Scenario::FloorRecovery => sim.steps = vec![end / 8 * 7],
            _ => {}
        }
        for (i, t) in sim.steps.clone().into_iter().enumerate() {
            sim.push(t, Kind::Step(i as u8));
        }
        sim.schedule_parent_block();
        sim.need_resched = true;
        sim.resched();
        sim
    }

    fn push(&mut self, t: u64, kind: Kind) {
        self.seq += 1;
        self.queue.push(Event {
            t,
            seq: self.seq,
            kind,
        });
    }

    pub(crate) fn knows(&self, n: u32, s: u32) -> bool {
        bit(&self.nodes[n as usize].known, s)
    }

    fn link_up(&self, a: u32, b: u32) -> bool {
        let (na, nb) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        na.active && nb.active && !(self.partitioned && na.group != nb.group)
    }

    pub(crate) fn pool_hashrate(&self) -> f64 {
        self.miners
            .iter()
            .filter(|m| self.nodes[m.node as usize].active)
            .map(|m| m.hashrate)
            .sum()
    }

    fn rebuild_alias(&mut self) {
        let w: Vec<f64> = self
            .miners
            .iter()
            .map(|m| {
                if self.nodes[m.node as usize].active {
                    m.hashrate
                } else {
                    0.0
                }
            })
            .collect();
        self.alias = Alias::new(&w);
    }

    /// Adds every active miner's hash-seconds up to now.
    pub(crate) fn integrate_hashrate(&mut self) {
        let dt = (self.now - self.hr_since) as f64 / 1e6;
        for m in &mut self.miners {
            if self.nodes[m.node as usize].active {
                m.hash_integral += m.hashrate * dt;
            }
        }
        self.hr_since = self.now;
    }

    fn new_id(&self, idx: u32) -> ShareHash {
        let mut b = [0u8; 32];
        let mut st = self.cfg.seed ^ mix(idx as u64 ^ 0x1d5);
        for c in b[..28].chunks_mut(8) {
            let x = crate::rng::splitmix64(&mut st).to_le_bytes();
            c.copy_from_slice(&x[..c.len()]);
        }
        b[28..].copy_from_slice(&idx.to_be_bytes());
        ShareHash::from_byte_array(b)
    }

    /// Hash of the parent chain's tip block (synthetic), the lottery seed's first half.
    fn prev_block_hash(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        let mut st = self.cfg.seed ^ mix(self.parent_height as u64 ^ 0xb10c);
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&crate::rng::splitmix64(&mut st).to_le_bytes());
        }
        b
    }

    /// Creates a share's index entry exactly as a node building on `parent` would, inserts it
    /// into the global index and the arena, and returns its number.
    fn create_share(&mut self, parent: u32, miner: u32, timestamp: u64, uncles: Vec<u32>) -> u32 {
        let idx = self.shares.len() as u32;
        let slot = idx as usize % SEEN_RING;
        let n = self.nodes.len();
        self.seen_owner[slot] = idx;
        self.seen_from[slot * n..(slot + 1) * n].fill(0);
        let id = self.new_id(idx);
        let script = payout_script(miner);
        let info = if parent == NONE {
            let bits = self.pool.max_share_target;
            let work = Target::from_compact(bits).work();
            ShareInfo {
                id,
                prev: ShareHash::genesis_parent(),
                height: 0,
                timestamp,
                share_bits: bits,
                work,
                cumulative_work: work,
                anchor_height: 0,
                anchor_time: timestamp,
                parent_height: self.parent_height + 1,
                payout_script: script,
                uncles: Vec::new(),
                skip: id,
            }
        } else {
            let p = &self.shares[parent as usize];
            let height = p.info.height + 1;
            let bits = p.next_bits;
            let work = Work(p.next_work);
            let mut cum = p.info.cumulative_work.saturating_add(work);
            let credits: Vec<UncleCredit> = uncles
                .iter()
                .map(|u| {
                    let ui = &self.shares[*u as usize].info;
                    UncleCredit {
                        id: ui.id,
                        script: ui.payout_script.clone(),
                        work: ui.work,
                    }
                })
                .collect();
            for c in &credits {
                cum = cum.saturating_add(c.work);
            }
            let skip = self
                .state
                .ancestor_at(&p.info.id, skip_height(height))
                .map_or(p.info.id, |a| a.id);
            let timestamp = timestamp.max(p.info.timestamp);
            let (anchor_height, anchor_time) =
                anchor_after(&self.pool, bits, timestamp, Some(&p.info));
            ShareInfo {
                id,
                prev: p.info.id,
                height,
                timestamp,
                share_bits: bits,
                work,
                cumulative_work: cum,
                anchor_height,
                anchor_time,
                parent_height: self.parent_height + 1,
                payout_script: script,
                uncles: credits,
                skip,
            }
        };
        let next_bits = next_share_bits(&self.pool, &RetargetInput::child_of(&info));
        let next_work = Target::from_compact(next_bits).work().0;
        self.state.insert(&self.pool, info.clone());
        let h = info.height as usize;
        if self.by_height.len() <= h {
            self.by_height.resize(h + 1, Vec::new());
        }
        self.by_height[h].push(idx);
        self.shares.push(ShareRec {
            info,
            prev: parent,
            uncles,
            miner,
            mined_at: self.now,
            published_at: u64::MAX,
            honest: false,
            next_bits,
            next_work,
            wire: SHARE_BASE_BYTES,
            full_wire: SHARE_BASE_BYTES,
            outputs: 0,
            block: false,
            reach: 0,
            t90: u64::MAX,
            pay_factor: 0.0,
        });
        idx
    }

    fn bootstrap(&mut self) {
        let pool_hr = if self.cfg.scenario == Scenario::FloorRecovery {
            // Starts slow: no ramp, the first share's floor is already too hard.
            self.cfg.pool_hashrate * FLOOR_RECOVERY_SLOW / FLOOR_RECOVERY_RETURN
        } else {
            self.cfg.pool_hashrate
        };
        let floor = self.pool.max_target().work().0 as f64;
        let ratio = pool_hr * self.pool.share_period_secs as f64 / floor;
        let per_halving =
            self.pool.retarget_half_life_secs as f64 / self.pool.share_period_secs as f64;
        let k = if ratio > 1.0 {
            (per_halving * ratio.log2()).round() as u64
        } else {
            0
        };
        let mut parent = NONE;
        for _ in 0..=k {
            parent = self.create_share(parent, BOOTSTRAP, T0, Vec::new());
        }
        self.bootstrap_len = self.shares.len() as u32;
        let work = self.shares[parent as usize].next_work;
        for n in 0..self.nodes.len() {
            let node = &mut self.nodes[n];
            for s in 0..self.bootstrap_len {
                set_bit(&mut node.known, s);
            }
            node.best = parent;
            node.head = parent;
            node.tip = parent;
            node.tip_work = work;
        }
        self.w_low = 0.9 * work as f64;
    }

    fn schedule_parent_block(&mut self) {
        if self.ext_rate_per_us > 0.0 {
            let dt = self.rng_parent.exp1() / self.ext_rate_per_us;
            let t = self.now.saturating_add(dt.ceil() as u64);
            self.push(t, Kind::ParentBlock);
        }
    }

    fn resched(&mut self) {
        self.need_resched = false;
        self.cand_gen = self.cand_gen.wrapping_add(1);
        let h = self.alias.total();
        if h <= 0.0 || self.w_low <= 0.0 {
            return;
        }
        let dt_us = self.rng_mine.exp1() * self.w_low / h * 1e6;
        let t = self.now.saturating_add(dt_us as u64);
        let g = self.cand_gen;
        self.push(t, Kind::Candidate(g));
    }

    /// Runs events until the end of simulated time.
    pub fn run(&mut self) {
        while let Some(ev) = self.queue.pop() {
            if ev.t > self.end {
                break;
            }
            self.now = ev.t;
            self.stats.events += 1;
            match ev.kind {
                Kind::Candidate(g) => {
                    if g == self.cand_gen {
                        self.candidate();
                        self.need_resched = true;
                    }
                }
                Kind::Deliver { node, share, from } => self.deliver(node, share, from),
                Kind::Fetched { node, from, batch } => self.fetched(node, from, batch),
                Kind::ParentBlock => {
                    self.parent_height += 1;
                    self.stats.ext_blocks += 1;
                    self.schedule_parent_block();
                }
                Kind::Step(i) => self.step(i),
            }
            if self.need_resched {
                self.resched();
            }
        }
        self.now = self.end;
        self.integrate_hashrate();
    }

    fn candidate(&mut self) {
        let m = self.alias.draw(&mut self.rng_mine) as u32;
        let n = self.miners[m as usize].node;
        self.apply_job(n);
        let node = &self.nodes[n as usize];
        if !node.active || !node.synced {
            return;
        }
        let p = self.w_low / node.tip_work as f64;
        debug_assert!(p <= 1.0, "thinning bound broken: {p}");
        if self.rng_mine.f64() < p {
            self.mine(m);
            // Raise the bound when every node's share work has grown well above it.
            let min = self
                .nodes
                .iter()
                .filter(|x| x.active && (x.synced || !x.jobs.is_empty()))
                .map(|x| x.jobs.iter().fold(x.tip_work, |w, j| w.min(j.1)))
                .min()
                .unwrap_or(0) as f64;
            if 0.9 * min > 1.25 * self.w_low {
                self.w_low = 0.9 * min;
            }
        }
    }

    /// Uncles for a share on `parent` by node `n`: the sharechain's rule (known shares
    /// 1..=depth below the new height, off the chain, parent on it, not yet included; most
    /// work first, at most `max_uncles`), in id order.
    fn uncle_candidates(&self, n: u32, parent: u32) -> Vec<u32> {
        let p = &self.shares[parent as usize];
        let next = p.info.height + 1;
        let lowest = next.saturating_sub(self.pool.uncle_depth).max(1);
        let mut chain: [u32; 8] = [NONE; 8]; // by height - (lowest - 1)
        let mut included: Vec<u32> = Vec::new();
        let mut cur = parent;
        loop {
            let c = &self.shares[cur as usize];
            if c.info.height + 1 < lowest {
                break;
            }
            chain[(c.info.height + 1 - lowest) as usize] = cur;
            included.extend_from_slice(&c.uncles);
            if c.prev == NONE {
                break;
            }
            cur = c.prev;
        }
        let mut found: Vec<u32> = Vec::new();
        for h in lowest..=p.info.height {
            let on_chain = chain[(h + 1 - lowest) as usize];
            let parent_on_chain = chain[(h - lowest) as usize];
            for &c in &self.by_height[h as usize] {
                if c != on_chain
                    && self.shares[c as usize].prev == parent_on_chain
                    && self.knows(n, c)
                    && !included.contains(&c)
                {
                    found.push(c);
                }
            }
        }
        if found.is_empty() {
            return found;
        }
        found.sort_by(|a, b| {
            let (ia, ib) = (
                &self.shares[*a as usize].info,
                &self.shares[*b as usize].info,
            );
            ib.work.cmp(&ia.work).then(ia.id.cmp(&ib.id))
        });
        found.truncate(self.pool.max_uncles);
        found.sort_by(|a, b| {
            self.shares[*a as usize]
                .info
                .id
                .cmp(&self.shares[*b as usize].info.id)
        });
        found
    }

    /// Miner `m` finds a share on its node's tip.
    fn mine(&mut self, m: u32) {
        let n = self.miners[m as usize].node;
        let parent = self.nodes[n as usize].tip;
        let role = self.nodes[n as usize].role;
        let work = self.shares[parent as usize].next_work;
        let q = work as f64 / self.block_work;
        let is_block = self.rng_block.f64() < q;
        let miner = &mut self.miners[m as usize];
        if miner.first_share == u64::MAX {
            miner.first_share = self.now;
        }
        if is_block && role == Role::Withholder {
            miner.withheld += 1;
            self.stats.withheld_blocks += 1;
            return;
        }
        miner.mined += 1;
        miner.work_mined += work as f64;
        let uncles = self.uncle_candidates(n, parent);
        let timestamp = T0 + self.now / 1_000_000;
        let s = self.create_share(parent, m, timestamp, uncles);
        self.pay(s, q, is_block, role);

        match role {
            Role::Honest | Role::Withholder => {
                self.shares[s as usize].published_at = self.now;
                // Gossip statistics leave out shares that cannot reach everyone.
                self.shares[s as usize].honest = !self.partitioned;
                self.receive(n, s, n, false);
            }
            Role::Selfish => self.selfish_found(n, s),
        }
    }

    /// The share's coinbase: the real split of its window; pays it when it is a block.
    fn pay(&mut self, s: u32, q: f64, is_block: bool, role: Role) {
        let rec = &self.shares[s as usize];
        let parent_height = rec.info.parent_height;
        let reward = self.pool.chain.subsidy(parent_height) + self.cfg.fees;
        let prev_share = rec.info.prev;
        let seed = lottery_seed(&self.prev_block_hash(), prev_share.as_byte_array());
        let id = rec.info.id;
        let window = self
            .state
            .window_weights(&id)
            .expect("a share's window right after insertion");
        let entries: Vec<(&PayoutScript, u128)> = window.iter().collect();
        let total = window.total();
        let outputs = split_amounts(&entries, total, reward, &self.split, &seed);
        // Expected pay: a withholder's published shares are never blocks.
        let q_eff = if role == Role::Withholder { 0.0 } else { q };
        let factor = q_eff * reward as f64 / total as f64;
        let pay_factor = factor;
        for (script, w) in &entries {
            let miner = miner_of(script);
            let c = factor * *w as f64;
            if miner == BOOTSTRAP {
                self.stats.bootstrap_credit += c;
            } else {
                self.miners[miner as usize].credit += c;
            }
        }
        let n_out = outputs.len() as u32;
        let mut paid_list: Vec<(u32, u64)> = Vec::new();
        if is_block {
            paid_list = outputs.iter().map(|(sc, a)| (miner_of(sc), *a)).collect();
        }
        drop(entries);
        let rec = &mut self.shares[s as usize];
        rec.pay_factor = pay_factor;
        rec.outputs = n_out;
        let uncle_bytes = UNCLE_BYTES * rec.uncles.len() as u32;
        rec.full_wire = SHARE_BASE_BYTES + OUTPUT_BYTES * n_out + uncle_bytes;
        rec.wire = if self.cfg.compact_relay {
            SHARE_BASE_BYTES + COMPACT_EXTRA_BYTES + uncle_bytes
        } else {
            rec.full_wire
        };
        if !is_block {
            return;
        }
        rec.block = true;
        let miner = rec.miner;
        let mut paid = 0u64;
        let mut to_bootstrap = 0u64;
        for (who, amount) in paid_list {
            paid += amount;
            if who == BOOTSTRAP {
                self.stats.bootstrap_paid += amount;
                to_bootstrap += amount;
            } else {
                let mm = &mut self.miners[who as usize];
                mm.paid += amount;
                if mm.first_paid == u64::MAX {
                    mm.first_paid = self.now;
                }
            }
        }
        self.stats.total_reward += reward;
        self.stats.total_paid += paid;
        self.stats.blocks.push(BlockRec {
            t: self.now,
            share: s,
            miner,
            parent_height,
            reward,
            paid,
            outputs: n_out,
            direct_to_bootstrap: to_bootstrap,
        });
        // The pool's block extends the parent chain.
        self.parent_height += 1;
    }

    fn deps_known(&self, n: u32, s: u32) -> bool {
        let r = &self.shares[s as usize];
        (r.prev == NONE || self.knows(n, r.prev)) && r.uncles.iter().all(|u| self.knows(n, *u))
    }

    /// Remembers that `from` sent `s` to `n` (so `n` never sends it back).
    fn mark_seen_from(&mut self, n: u32, s: u32, from: u32) {
        let slot = s as usize % SEEN_RING;
        if self.seen_owner[slot] != s {
            return;
        }
        if let Some(i) = self.nodes[n as usize]
            .peers
            .iter()
            .position(|p| p.node == from)
        {
            if i < 64 {
                self.seen_from[slot * self.nodes.len() + n as usize] |= 1 << i;
            }
        }
    }

    fn seen_mask(&self, n: u32, s: u32) -> u64 {
        let slot = s as usize % SEEN_RING;
        if self.seen_owner[slot] != s {
            return 0;
        }
        self.seen_from[slot * self.nodes.len() + n as usize]
    }

    fn deliver(&mut self, n: u32, s: u32, from: u32) {
        if !self.link_up(from, n) {
            self.stats.dropped_msgs += 1;
            return;
        }
        self.mark_seen_from(n, s, from);
        if self.knows(n, s) {
            self.stats.dup_msgs += 1;
            return;
        }
        self.receive(n, s, from, self.cfg.compact_relay);
    }

    /// Node `n` gets share `s` from `from` (itself for its own shares): accepted if its parent
    /// and uncles are known, else held while the missing ones are fetched from `from`; every
    /// held share whose dependencies arrive is accepted in turn. `compact`: `s` came as a
    /// compact message, which cannot be rebuilt without the parent's window, so the node asks
    /// for `s` itself in full along with what it lacks (as the node does: `GetShares` of the
    /// share, whose missing parents sync then follows back).
    fn receive(&mut self, n: u32, s: u32, from: u32, compact: bool) {
        let mut stack = std::mem::take(&mut self.stack);
        stack.push((s, from));
        let mut first = compact && from != n;
        while let Some((s, from)) = stack.pop() {
            let fetch_self = std::mem::take(&mut first);
            if self.knows(n, s) {
                continue;
            }
            if !self.deps_known(n, s) {
                let node = &mut self.nodes[n as usize];
                if !node.pending.iter().any(|p| p.0 == s) {
                    node.pending.push((s, from));
                }
                self.request_missing(n, s, from, fetch_self);
                continue;
            }
            self.accept(n, s, from);
            let mut i = 0;
            while i < self.nodes[n as usize].pending.len() {
                let (p, f) = self.nodes[n as usize].pending[i];
                if self.knows(n, p) {
                    self.nodes[n as usize].pending.swap_remove(i);
                } else if self.deps_known(n, p) {
                    self.nodes[n as usize].pending.swap_remove(i);
                    stack.push((p, f));
                } else {
                    i += 1;
                }
            }
        }
        self.stack = stack;
    }

    fn latency(&self, a: u32, b: u32) -> u64 {
        self.nodes[a as usize]
            .peers
            .iter()
            .find(|p| p.node == b)
            .map_or(0, |p| p.lat_us as u64)
    }

    fn tx_us(&self, bytes: u64) -> u64 {
        (bytes as f64 * 8.0 / self.cfg.bandwidth_mbps).ceil() as u64
    }

    fn validation_us(&self) -> u64 {
        (self.cfg.validation_ms * 1000.0) as u64
    }

    /// Validation of a gossip message: with compact relay the receiver first rebuilds the
    /// payout outputs from its window (`rebuild_ms`, measured from the real rebuild).
    fn gossip_validation_us(&self) -> u64 {
        let rebuild = if self.cfg.compact_relay {
            self.cfg.rebuild_ms
        } else {
            0.0
        };
        ((self.cfg.validation_ms + rebuild) * 1000.0) as u64
    }

    /// Asks `from` for every share `s` depends on that `n` lacks (parents first). Shares
    /// deeper than a store keeps (window + uncle depth + 16 below `s`) are taken as loaded
    /// history, not transferred.
    fn request_missing(&mut self, n: u32, s: u32, from: u32, fetch_self: bool) {
        if from == n || !self.link_up(n, from) {
            return;
        }
        let height = self.shares[s as usize].info.height;
        let horizon = height.saturating_sub(self.horizon);
        let mut batch: Vec<u32> = match self.free_batches.pop() {
            Some(b) => std::mem::take(&mut self.batches[b as usize]),
            None => Vec::new(),
        };
        batch.clear();
        if fetch_self && !bit(&self.nodes[n as usize].inflight, s) {
            set_bit(&mut self.nodes[n as usize].inflight, s);
            batch.push(s);
        }
        let mut todo: Vec<u32> = Vec::new();
        let r = &self.shares[s as usize];
        if r.prev != NONE {
            todo.push(r.prev);
        }
        todo.extend_from_slice(&r.uncles);
        while let Some(d) = todo.pop() {
            let node = &self.nodes[n as usize];
            if bit(&node.known, d) || bit(&node.inflight, d) {
                continue;
            }
            let dr = &self.shares[d as usize];
            if dr.info.height < horizon {
                set_bit(&mut self.nodes[n as usize].known, d);
                continue;
            }
            set_bit(&mut self.nodes[n as usize].inflight, d);
            batch.push(d);
            if dr.prev != NONE {
                todo.push(dr.prev);
            }
            todo.extend_from_slice(&dr.uncles);
        }
        if batch.is_empty() {
            self.free_batches_push(batch);
            return;
        }
        batch.sort_by_key(|d| (self.shares[*d as usize].info.height, *d));
        let bytes: u64 = batch
            .iter()
            .map(|d| self.shares[*d as usize].full_wire as u64)
            .sum::<u64>()
            + REQUEST_BYTES as u64;
        let lat = self.latency(n, from);
        let tx = self.tx_us(bytes);
        let asked = self.now + lat;
        let sender = &mut self.nodes[from as usize];
        let start = asked.max(sender.uplink_free);
        sender.uplink_free = start + tx;
        sender.up_bytes += bytes;
        self.nodes[n as usize].down_bytes += bytes;
        self.nodes[n as usize].up_bytes += REQUEST_BYTES as u64;
        let arrive = start + tx + lat + self.validation_us() * batch.len() as u64;
        self.stats.fetches += 1;
        self.stats.fetched_shares += batch.len() as u64;
        let b = self.batches.len() as u32;
        self.batches.push(batch);
        self.push(
            arrive,
            Kind::Fetched {
                node: n,
                from,
                batch: b,
            },
        );
    }

    fn free_batches_push(&mut self, batch: Vec<u32>) {
        let b = self.batches.len() as u32;
        self.batches.push(batch);
        self.free_batches.push(b);
    }

    fn fetched(&mut self, n: u32, from: u32, b: u32) {
        let batch = std::mem::take(&mut self.batches[b as usize]);
        let up = self.link_up(from, n);
        for &d in &batch {
            clear_bit(&mut self.nodes[n as usize].inflight, d);
        }
        if !up {
            self.stats.dropped_msgs += 1;
        } else {
            for &d in &batch {
                self.mark_seen_from(n, d, from);
                self.receive(n, d, from, false);
            }
        }
        self.batches[b as usize] = batch;
        self.free_batches.push(b);
    }

    /// Node `n` accepts `s` (its dependencies are known): fork choice, statistics, relay.
    fn accept(&mut self, n: u32, s: u32, from: u32) {
        set_bit(&mut self.nodes[n as usize].known, s);
        let active = self.active_nodes;
        let now = self.now;
        let rec = &mut self.shares[s as usize];
        rec.reach += 1;
        if rec.honest && from != n && rec.published_at >= self.nodes[n as usize].active_since {
            let d = now - rec.published_at;
            let ms = (d / 1000) as usize;
            if ms < PROP_BUCKETS {
                self.stats.prop_hist[ms] += 1;
            } else {
                self.stats.prop_over.push(d);
            }
            self.stats.prop_max_us = self.stats.prop_max_us.max(d);
            if rec.t90 == u64::MAX && rec.reach as u64 * 10 >= active as u64 * 9 {
                rec.t90 = d;
            }
        }
        let is_own = from == n;
        match self.nodes[n as usize].role {
            Role::Honest | Role::Withholder => {
                let old = self.nodes[n as usize].best;
                if is_better(
                    Some(&self.shares[old as usize].info),
                    &self.shares[s as usize].info,
                ) {
                    self.nodes[n as usize].best = s;
                    if self.shares[s as usize].prev != old {
                        self.record_reorg(n, old, s);
                    }
                    self.set_tip(n, s);
                }
            }
            Role::Selfish => {
                if !is_own {
                    self.selfish_public(n, s);
                }
            }
        }
        let best_h = self.shares[self.nodes[n as usize].best as usize]
            .info
            .height;
        if self.shares[s as usize].info.height + self.pool.uncle_depth >= best_h {
            self.relay(n, s, from);
        }
    }

    fn record_reorg(&mut self, n: u32, old: u32, new: u32) {
        let (mut a, mut b) = (old, new);
        while a != b {
            let (ra, rb) = (&self.shares[a as usize], &self.shares[b as usize]);
            if ra.info.height >= rb.info.height {
                a = ra.prev;
            } else {
                b = rb.prev;
            }
            if a == NONE || b == NONE {
                return;
            }
        }
        let depth = self.shares[old as usize].info.height - self.shares[a as usize].info.height;
        if depth == 0 {
            return;
        }
        self.stats.reorg_hist[(depth as usize).min(9)] += 1;
        self.stats.reorg_max = self.stats.reorg_max.max(depth);
        let bucket = (self.now / (self.cfg.bucket_secs * 1_000_000)) as usize;
        if let Some(x) = self.stats.bucket_reorgs.get_mut(bucket) {
            *x += 1;
        }
        self.nodes[n as usize].reorgs += 1;
    }

    /// Node `n`'s miners should now mine on `s`: at once, or after the job delay.
    fn set_tip(&mut self, n: u32, s: u32) {
        let work = self.shares[s as usize].next_work;
        let delay = self.job_delay_us;
        let now = self.now;
        if delay > 0 {
            self.apply_job(n);
        }
        let node = &mut self.nodes[n as usize];
        node.head = s;
        if delay == 0 {
            node.tip = s;
            node.tip_work = work;
            if !node.synced && node.active {
                node.synced = true;
                node.synced_at = now;
            }
        } else {
            node.jobs.push((s, work, now + delay));
        }
        if (work as f64) < self.w_low / 0.9 {
            self.w_low = 0.9 * work as f64;
            self.need_resched = true;
        }
    }

    /// The job on the node's new tip reaches its miners once the job delay has passed (checked
    /// lazily when one of its miners may find a share: the rate is piecewise constant, so this
    /// is exact).
    fn apply_job(&mut self, n: u32) {
        let now = self.now;
        let node = &mut self.nodes[n as usize];
        let arrived = node.jobs.iter().take_while(|j| j.2 <= now).count();
        if arrived == 0 {
            return;
        }
        let (tip, work, at) = node.jobs[arrived - 1];
        node.jobs.drain(..arrived);
        node.tip = tip;
        node.tip_work = work;
        if !node.synced && node.active {
            node.synced = true;
            node.synced_at = at;
        }
    }

    /// Sends `s` to every peer of `n` that does not have it, except `from`. Sends queue on the
    /// node's uplink; the peer accepts it after the link latency and its validation time.
    fn relay(&mut self, n: u32, s: u32, from: u32) {
        let wire = self.shares[s as usize].wire as u64;
        let tx = self.tx_us(wire);
        let val = self.gossip_validation_us();
        let seen = self.seen_mask(n, s);
        for i in 0..self.nodes[n as usize].peers.len() {
            let p = self.nodes[n as usize].peers[i];
            if p.node == from || !self.link_up(n, p.node) || (i < 64 && (seen >> i) & 1 == 1) {
                continue;
            }
            let node = &mut self.nodes[n as usize];
            let start = self.now.max(node.uplink_free);
            node.uplink_free = start + tx;
            node.up_bytes += wire;
            self.nodes[p.node as usize].down_bytes += wire;
            self.push(
                start + tx + p.lat_us as u64 + val,
                Kind::Deliver {
                    node: p.node,
                    share: s,
                    from: n,
                },
            );
        }
    }

    /// Announces `n`'s best tip to peer `to` (on a new link); `to` fetches what it lacks.
    fn announce_best(&mut self, n: u32, to: u32) {
        let s = self.nodes[n as usize].best;
        let wire = self.shares[s as usize].wire as u64;
        let tx = self.tx_us(wire);
        let lat = self.latency(n, to);
        let node = &mut self.nodes[n as usize];
        let start = self.now.max(node.uplink_free);
        node.uplink_free = start + tx;
        node.up_bytes += wire;
        self.nodes[to as usize].down_bytes += wire;
        let t = start + tx + lat + self.gossip_validation_us();
        self.push(
            t,
            Kind::Deliver {
                node: to,
                share: s,
                from: n,
            },
        );
    }

    // ---- selfish mining (Eyal and Sirer's SM1, with cumulative work for "ahead") ----

    fn selfish_found(&mut self, n: u32, s: u32) {
        set_bit(&mut self.nodes[n as usize].known, s);
        self.shares[s as usize].reach += 1;
        if self.shares[s as usize].prev != self.nodes[n as usize].head {
            // Found on a job older than its private tip (job delay): a fork of its own branch
            // it keeps to itself.
            return;
        }
        self.set_tip(n, s);
        let race = {
            let st = self.nodes[n as usize]
                .selfish
                .as_mut()
                .expect("selfish state");
            st.unpublished.push_back(s);
            std::mem::take(&mut st.race)
        };
        if race {
            // Won the race on its own branch: publish at once.
            self.publish_upto(n, u64::MAX);
        }
    }

    /// The selfish node sees another miner's share.
    fn selfish_public(&mut self, n: u32, s: u32) {
        let old = self.nodes[n as usize].best;
        if !is_better(
            Some(&self.shares[old as usize].info),
            &self.shares[s as usize].info,
        ) {
            return;
        }
        self.nodes[n as usize].best = s;
        let private = self.nodes[n as usize].head;
        let (pi, si) = (
            &self.shares[private as usize].info,
            &self.shares[s as usize].info,
        );
        if is_better(Some(pi), si) {
            // The public chain is ahead: adopt it.
            let st = self.nodes[n as usize]
                .selfish
                .as_mut()
                .expect("selfish state");
            st.unpublished.clear();
            st.race = false;
            self.set_tip(n, s);
            return;
        }
        let lead = pi.height as i64 - si.height as i64;
        let public_h = si.height;
        if lead <= 0 {
            // Level: publish and race.
            self.publish_upto(n, u64::MAX);
            self.nodes[n as usize]
                .selfish
                .as_mut()
                .expect("selfish state")
                .race = true;
        } else if lead == 1 {
            // One ahead: publish everything, the private branch wins.
            self.publish_upto(n, u64::MAX);
        } else {
            // Further ahead: match the public height, keep the rest.
            self.publish_upto(n, public_h);
        }
    }

    /// Publishes the selfish node's unpublished shares up to `height`.
    fn publish_upto(&mut self, n: u32, height: u64) {
        loop {
            let next = {
                let st = self.nodes[n as usize]
                    .selfish
                    .as_mut()
                    .expect("selfish state");
                match st.unpublished.front() {
                    Some(&s) if self.shares[s as usize].info.height <= height => {
                        st.unpublished.pop_front();
                        s
                    }
                    _ => break,
                }
            };
            self.shares[next as usize].published_at = self.now;
            let best = self.nodes[n as usize].best;
            if is_better(
                Some(&self.shares[best as usize].info),
                &self.shares[next as usize].info,
            ) {
                self.nodes[n as usize].best = next;
            }
            self.relay(n, next, n);
        }
    }

    // ---- scenario steps ----

    fn step(&mut self, i: u8) {
        match (self.cfg.scenario, i) {
            (Scenario::FloorRecovery, _) => {
                self.integrate_hashrate();
                for m in &mut self.miners {
                    m.hashrate *= FLOOR_RECOVERY_RETURN / FLOOR_RECOVERY_SLOW;
                }
                self.rebuild_alias();
                self.need_resched = true;
            }
            (Scenario::Doubling, _) => {
                self.integrate_hashrate();
                let f = if i == 0 { 2.0 } else { 0.5 };
                for m in &mut self.miners {
                    m.hashrate *= f;
                }
                self.rebuild_alias();
                self.need_resched = true;
            }
            (Scenario::Partition, 0) => self.partitioned = true,
            (Scenario::Partition, _) => {
                self.partitioned = false;
                for a in 0..self.nodes.len() as u32 {
                    for j in 0..self.nodes[a as usize].peers.len() {
                        let b = self.nodes[a as usize].peers[j].node;
                        if self.nodes[a as usize].group != self.nodes[b as usize].group {
                            self.announce_best(a, b);
                        }
                    }
                }
            }
            (Scenario::LateJoiner, _) => {
                self.integrate_hashrate();
                for j in self.joiners.clone() {
                    let node = &mut self.nodes[j as usize];
                    node.active = true;
                    node.synced = false;
                    node.active_since = self.now;
                    self.active_nodes += 1;
                }
                for m in &mut self.miners {
                    if self.joiners.contains(&m.node) {
                        m.start = self.now;
                    }
                }
                for j in self.joiners.clone() {
                    for k in 0..self.nodes[j as usize].peers.len() {
                        let p = self.nodes[j as usize].peers[k].node;
                        if self.link_up(p, j) && self.nodes[p as usize].synced {
                            self.announce_best(p, j);
                        }
                    }
                }
                self.rebuild_alias();
                self.need_resched = true;
            }
            _ => {}
        }
        let h = self.pool_hashrate();
        self.stats.hashrate_steps.push((self.now, h));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::pplns::WindowWeights;
    use otedama_consensus::{Chain, MemoryChain, Preset};

    fn small(scenario: Scenario, seed: u64) -> Sim {
        let mut cfg = SimConfig::new(scenario, 24, 2.0, seed, Chain::Litecoin, Preset::Main);
        // Miners switch to a new tip a little late: stale jobs make siblings of own shares.
        if scenario == Scenario::Selfish {
            cfg.job_delay_ms = 150.0;
        }
        // Slow links: plenty of stale shares, so uncles and reorgs get exercised.
        cfg.latency_ms = (300.0, 2500.0);
        cfg.pool.pplns_window = 120;
        let mut sim = Sim::new(&cfg);
        sim.run();
        sim
    }

    /// Every simulated index entry obeys the rules contextual validation enforces: height,
    /// target, timestamps, uncles, cumulative work, skip pointer.
    #[test]
    fn index_entries_follow_the_consensus_rules() {
        for scenario in [Scenario::Steady, Scenario::Selfish, Scenario::Partition] {
            let sim = small(scenario, 2);
            let pool = &sim.pool;
            let mut with_uncles = 0;
            for s in sim.shares.iter().skip(1) {
                let p = &sim.shares[s.prev as usize];
                assert_eq!(s.info.prev, p.info.id);
                assert_eq!(s.info.height, p.info.height + 1);
                assert!(s.info.timestamp >= p.info.timestamp);
                let bits = next_share_bits(pool, &RetargetInput::child_of(&p.info));
                assert_eq!(s.info.share_bits, bits);
                assert_eq!(
                    (s.info.anchor_height, s.info.anchor_time),
                    anchor_after(pool, bits, s.info.timestamp, Some(&p.info))
                );
                assert_eq!(s.info.work, Target::from_compact(bits).work());
                let mut cum = p.info.cumulative_work.saturating_add(s.info.work);
                // Ancestors of s by height, down to uncle depth + 1 below.
                let mut anc: Vec<u32> = Vec::new();
                let mut cur = s.prev;
                while cur != NONE && anc.len() <= pool.uncle_depth as usize + 1 {
                    anc.push(cur);
                    cur = sim.shares[cur as usize].prev;
                }
                let at = |h: u64| {
                    anc.iter()
                        .copied()
                        .find(|a| sim.shares[*a as usize].info.height == h)
                };
                assert!(s.uncles.len() <= pool.max_uncles);
                assert!(s.info.uncles.windows(2).all(|w| w[0].id < w[1].id));
                if !s.uncles.is_empty() {
                    with_uncles += 1;
                }
                for (u, credit) in s.uncles.iter().zip(&s.info.uncles) {
                    let ur = &sim.shares[*u as usize];
                    assert_eq!(credit.id, ur.info.id);
                    assert_eq!(credit.work, ur.info.work);
                    assert!(ur.info.height < s.info.height);
                    assert!(s.info.height - ur.info.height <= pool.uncle_depth);
                    assert_ne!(at(ur.info.height), Some(*u), "uncle is an ancestor");
                    assert_eq!(at(ur.info.height - 1), Some(ur.prev), "not a sibling");
                    for a in &anc {
                        let ar = &sim.shares[*a as usize];
                        if ar.info.height > ur.info.height {
                            assert!(!ar.uncles.contains(u), "included twice");
                        }
                    }
                    cum = cum.saturating_add(ur.info.work);
                }
                assert_eq!(s.info.cumulative_work, cum);
                let skip_to = sim
                    .state
                    .ancestor_at(&p.info.id, skip_height(s.info.height))
                    .map(|a| a.id);
                assert_eq!(Some(s.info.skip), skip_to);
            }
            assert!(with_uncles > 0, "{scenario:?}: no uncles to check");
        }
    }

    /// The incremental leaf windows of the sharechain's `ChainState` equal windows rebuilt from
    /// scratch over the reference `MemoryChain`.
    #[test]
    fn windows_match_a_rebuild_from_scratch() {
        let sim = small(Scenario::Steady, 3);
        let mut mem = MemoryChain::new();
        for s in &sim.shares {
            mem.infos.insert(s.info.id, s.info.clone());
        }
        let mut checked = 0;
        for s in sim.shares.iter().step_by(7) {
            if let Some(w) = sim.state.window_weights(&s.info.id) {
                let fresh = WindowWeights::from_scratch(&mem, &sim.pool, &s.info).unwrap();
                assert_eq!(*w, fresh);
                checked += 1;
            }
        }
        assert!(checked > 50);
    }

    /// Every node ends on a tip it knows with every ancestor known, and honest nodes on the
    /// most-work tip they know.
    #[test]
    fn nodes_end_on_their_best_known_tip() {
        let sim = small(Scenario::Steady, 4);
        for (n, node) in sim.nodes.iter().enumerate() {
            let n = n as u32;
            assert!(sim.knows(n, node.best));
            let best = &sim.shares[node.best as usize].info;
            for (i, s) in sim.shares.iter().enumerate() {
                if sim.knows(n, i as u32) {
                    assert!(
                        !is_better(Some(best), &s.info),
                        "node {n} missed a better tip"
                    );
                }
            }
        }
    }
}
