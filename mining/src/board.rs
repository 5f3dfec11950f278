//! The job board: turns the current template and sharechain tip into jobs per payout script.
//!
//! Jobs are built lazily, the first time a miner paying a given script asks after a change of
//! work, and cached until the next change. Recent jobs stay findable by id so late submissions
//! can still be checked (and become uncles); older ones expire as stale.

use crate::job::{Job, JobSource, WorkEpoch};
use crate::recent::Recent;
use otedama_consensus::builder::{build_share_job, ShareJobInput};
use otedama_consensus::coinbase::coinbase_reserve;
use otedama_consensus::template::{BlockTemplate, CoinbaseReserve};
use otedama_consensus::{ChainView, PayoutScript, PoolParams, ShareHash};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Jobs kept findable by id: at ~3 changes of work a minute and a few payout scripts each, 4096
/// covers well over the minutes a miner may take to return a result.
pub const RECENT_JOBS: usize = 4096;

/// The sharechain side of work: a view that can build on `tip` (`None`: start a sharechain).
#[derive(Clone)]
pub struct TipWork {
    pub view: Arc<dyn ChainView + Send + Sync>,
    pub tip: Option<ShareHash>,
    pub uncles: Vec<ShareHash>,
    /// Most payout outputs a share on this tip can have: the tip's window payees, the new
    /// share's miner and the miners of the uncles it includes. Sizes the coinbase's room in
    /// the block, so that a small pool does not leave block space for 200 outputs unused.
    pub payees: u32,
}

/// Fixed inputs of every job.
#[derive(Clone, Debug)]
pub struct BoardConfig {
    pub pool: PoolParams,
    /// extranonce1 + extranonce2 bytes (Stratum: 4 + 8).
    pub extranonce_len: usize,
    pub tag: Vec<u8>,
    pub software_version: u32,
}

struct BoardState {
    /// The full node's template as it came.
    template: Option<Arc<BlockTemplate>>,
    /// `template` trimmed to leave room for a coinbase of so many outputs (the last fit).
    fitted: Option<(u32, Arc<BlockTemplate>)>,
    tip: Option<TipWork>,
    current: HashMap<PayoutScript, Arc<Job>>,
    recent: Recent<(Arc<Job>, Arc<BlockTemplate>)>,
    next_id: u64,
    epoch: WorkEpoch,
}

pub struct JobBoard {
    config: BoardConfig,
    state: Mutex<BoardState>,
    epoch_tx: watch::Sender<WorkEpoch>,
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl JobBoard {
    pub fn new(config: BoardConfig) -> JobBoard {
        JobBoard::with_clock(config, Box::new(unix_now))
    }

    /// A board with an injected clock (tests).
    pub fn with_clock(config: BoardConfig, clock: Box<dyn Fn() -> u64 + Send + Sync>) -> JobBoard {
        let (epoch_tx, _) = watch::channel(WorkEpoch::default());
        JobBoard {
            config,
            state: Mutex::new(BoardState {
                template: None,
                fitted: None,
                tip: None,
                current: HashMap::new(),
                recent: Recent::new(RECENT_JOBS),
                // Start from the clock so job ids differ across restarts of the node.
                next_id: unix_now() << 20,
                epoch: WorkEpoch::default(),
            }),
            epoch_tx,
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BoardState> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters (every update is a few assignments); keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new template, or `None` when the full node is away. Clean when the parent block changed.
    ///
    /// Jobs are built from the template made to fit the largest coinbase a share on the
    /// current tip can have ([`BlockTemplate::fit_coinbase`]): every block found stays within
    /// the block weight and sigop limits however many miners it pays.
    pub fn set_template(&self, template: Option<Arc<BlockTemplate>>) {
        let mut st = self.lock();
        st.fitted = None;
        let clean = match (&st.template, &template) {
            (Some(a), Some(b)) => a.prev_blockhash != b.prev_blockhash,
            _ => true,
        };
        st.template = template;
        self.bump(&mut st, clean);
    }

    /// A new best sharechain tip. Clean: work on the old tip can only become a stale share.
    pub fn set_tip(&self, tip: TipWork) {
        let mut st = self.lock();
        st.tip = Some(tip);
        self.bump(&mut st, true);
    }

    fn bump(&self, st: &mut BoardState, clean: bool) {
        st.current.clear();
        st.epoch = WorkEpoch {
            seq: st.epoch.seq + 1,
            clean,
        };
        self.epoch_tx.send_replace(st.epoch);
    }

    /// Room for the largest coinbase with at most `payees` payout outputs (and never more than
    /// the pool's cap).
    pub fn coinbase_reserve(&self, payees: u32) -> CoinbaseReserve {
        coinbase_reserve(
            payees.min(self.config.pool.max_payout_outputs),
            self.config.extranonce_len,
            &self.config.tag,
        )
    }

    /// The current template fitted for `payees` outputs (cached until either changes).
    fn fitted(&self, st: &mut BoardState, payees: u32) -> Option<Arc<BlockTemplate>> {
        let payees = payees.min(self.config.pool.max_payout_outputs);
        if let Some((n, t)) = &st.fitted {
            if *n == payees {
                return Some(t.clone());
            }
        }
        let fitted = self.fit(st.template.clone()?, payees)?;
        st.fitted = Some((payees, fitted.clone()));
        Some(fitted)
    }

    fn fit(&self, template: Arc<BlockTemplate>, payees: u32) -> Option<Arc<BlockTemplate>> {
        match template.fit_coinbase(self.coinbase_reserve(payees)) {
            Ok((_, report)) if report.dropped == 0 => Some(template),
            Ok((fitted, report)) => {
                tracing::info!(
                    height = template.height,
                    payees,
                    dropped = report.dropped,
                    fees_dropped = report.fees_dropped,
                    weight_dropped = report.weight_dropped,
                    block_weight = report.weight_with_reserve,
                    "block template trimmed to leave room for the payout coinbase"
                );
                Some(Arc::new(fitted))
            }
            Err(e) => {
                tracing::error!(height = template.height, "unusable block template: {e}");
                None
            }
        }
    }

    /// The template a job was built from (to assemble its block).
    pub fn template_for_job(&self, id: u64) -> Option<Arc<BlockTemplate>> {
        self.lock().recent.get(id).map(|(_, t)| t.clone())
    }

    /// The current template as the full node sent it, if any.
    pub fn template(&self) -> Option<Arc<BlockTemplate>> {
        self.lock().template.clone()
    }

    fn build(&self, st: &mut BoardState, payout: &PayoutScript) -> Option<Arc<Job>> {
        let tip = st.tip.clone()?;
        let template = self.fitted(st, tip.payees)?;
        let share_job = match build_share_job(
            &self.config.pool,
            &*tip.view,
            &ShareJobInput {
                parent: tip.tip,
                uncles: tip.uncles.clone(),
                payout_script: payout.clone(),
                now: (self.clock)(),
                software_version: self.config.software_version,
                template: &template,
                extranonce_len: self.config.extranonce_len,
                tag: &self.config.tag,
            },
        ) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "cannot build a job");
                return None;
            }
        };
        st.next_id += 1;
        let job = Arc::new(Job {
            id: st.next_id,
            share_job,
            payout: payout.clone(),
            parent_height: template.height,
            template: Some(template.clone()),
        });
        st.recent.insert(job.id, (job.clone(), template));
        st.current.insert(payout.clone(), job.clone());
        Some(job)
    }
}

impl JobSource for JobBoard {
    fn job_for(&self, payout: &PayoutScript) -> Option<Arc<Job>> {
        let mut st = self.lock();
        if let Some(job) = st.current.get(payout) {
            return Some(job.clone());
        }
        self.build(&mut st, payout)
    }

    fn job_by_id(&self, id: u64) -> Option<Arc<Job>> {
        self.lock().recent.get(id).map(|(j, _)| j.clone())
    }

    fn subscribe(&self) -> watch::Receiver<WorkEpoch> {
        self.epoch_tx.subscribe()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::Preset;
    use otedama_consensus::testkit::{script, template, T0};
    use otedama_consensus::MemoryChain;

    fn board() -> JobBoard {
        let mut pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        pool.min_payout = 1000;
        JobBoard::with_clock(
            BoardConfig {
                pool,
                extranonce_len: 12,
                tag: b"/otedama/".to_vec(),
                software_version: 1,
            },
            Box::new(|| T0),
        )
    }

    #[test]
    fn no_template_no_job_and_jobs_per_payout_are_cached_until_new_work() {
        let b = board();
        let mut rx = b.subscribe();
        b.set_tip(TipWork {
            view: Arc::new(MemoryChain::new()),
            tip: None,
            uncles: vec![],
            payees: 1,
        });
        assert!(b.job_for(&script(1)).is_none(), "no template yet");
        b.set_template(Some(Arc::new(template(100, 5_000_000_000))));
        assert!(rx.has_changed().unwrap());
        let j1 = b.job_for(&script(1)).unwrap();
        let j2 = b.job_for(&script(2)).unwrap();
        assert_ne!(j1.id, j2.id);
        assert_eq!(b.job_for(&script(1)).unwrap().id, j1.id);
        assert_eq!(j1.share_job.payouts, vec![(script(1), 5_000_000_000)]);
        assert_eq!(j1.share_job.side.payout_script, script(1));
        // Same parent block, new transactions: not clean; new parent block: clean.
        let mut t = template(100, 5_000_001_000);
        b.set_template(Some(Arc::new(t.clone())));
        assert!(!rx.borrow_and_update().clean);
        assert_ne!(b.job_for(&script(1)).unwrap().id, j1.id);
        t.prev_blockhash = template(101, 0).prev_blockhash;
        b.set_template(Some(Arc::new(t)));
        assert!(rx.borrow_and_update().clean);
        // Old jobs stay findable with their template.
        assert_eq!(b.job_by_id(j1.id).unwrap().id, j1.id);
        assert_eq!(
            b.template_for_job(j1.id).unwrap().coinbase_value,
            5_000_000_000
        );
        // The full node goes away: no work at all.
        b.set_template(None);
        assert!(b.job_for(&script(1)).is_none());
    }

    #[test]
    fn jobs_from_the_captured_litecoind_templates() {
        for json in [
            include_str!("../../consensus/tests/data/height2-pre-mweb.json"),
            include_str!("../../consensus/tests/data/height432-first-mweb.json"),
        ] {
            let raw: otedama_consensus::template::RawTemplate = serde_json::from_str(json).unwrap();
            let t = BlockTemplate::from_raw(&raw).unwrap();
            let pool = PoolParams::preset(Chain::LitecoinRegtest, Preset::Main);
            let b = JobBoard::with_clock(
                BoardConfig {
                    pool,
                    extranonce_len: 12,
                    tag: b"/otedama/".to_vec(),
                    software_version: 1,
                },
                Box::new(move || T0),
            );
            b.set_tip(TipWork {
                view: Arc::new(MemoryChain::new()),
                tip: None,
                uncles: vec![],
                payees: 1,
            });
            b.set_template(Some(Arc::new(t.clone())));
            let job = b.job_for(&script(5)).unwrap();
            assert_eq!(job.share_job.coinbase.extranonce_len, 12);
            assert_eq!(job.parent_height, t.height);
            assert_eq!(job.share_job.merkle_branch.len(), t.merkle_branch().len());
            assert_eq!(
                job.share_job.payouts.iter().map(|(_, a)| a).sum::<u64>(),
                t.coinbase_value
            );
            assert_eq!(job.share_job.parent_bits, t.bits);
            // A share from the job is statelessly valid once ground.
            let share = otedama_consensus::builder::grind(
                &b.config.pool,
                &job.share_job,
                &[0; 12],
                t.curtime as u32,
            )
            .unwrap();
            otedama_consensus::validation::check_stateless(
                &b.config.pool,
                &share,
                b.config.pool.chain.stateless_pow(),
            )
            .unwrap();
        }
    }
}
