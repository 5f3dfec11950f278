//! The Monero job board: monerod's current template and the sharechain tip, turned into one
//! [`MoneroJob`] per payout script, built the first time a miner paying that script asks after a
//! change of work and cached until the next change. Recent jobs stay findable by id so late
//! submissions can still be checked; older ones expire as stale.

use super::job::{MoneroJob, MoneroJobSource, EXTRA_NONCE_LEN};
use crate::board::{TipWork, RECENT_JOBS};
use crate::job::WorkEpoch;
use crate::monerod::MoneroWork;
use crate::recent::Recent;
use otedama_consensus::monero_builder::{build_monero_share_with_payouts, MoneroShareInput};
use otedama_consensus::{PayoutScript, PoolParams};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Fixed inputs of every Monero job.
#[derive(Clone, Debug)]
pub struct MoneroBoardConfig {
    pub pool: PoolParams,
    pub software_version: u32,
}

/// Bytes of room left above the last job's miner transaction when choosing the next job's
/// transactions: the next window may pay a few more outputs (44 bytes each, 32 more for a
/// subaddress's additional key). A job whose miner transaction outgrows the room is rebuilt
/// with the measured weight.
pub const MINER_TX_SLACK: u64 = 256;

/// Builds of one job at most: the second always fits (its room is the measured weight plus
/// [`MINER_TX_SLACK`], and choosing fewer transactions only lowers the fees, which can shorten
/// the amounts' varints by a byte or so, never lengthen them past the slack).
const MAX_BUILDS: usize = 3;

struct State {
    work: Option<Arc<MoneroWork>>,
    /// Room for the miner transaction when choosing a job's transactions.
    miner_tx_room: u64,
    tip: Option<TipWork>,
    current: HashMap<PayoutScript, Arc<MoneroJob>>,
    recent: Recent<Arc<MoneroJob>>,
    next_id: u64,
    epoch: WorkEpoch,
}

pub struct MoneroBoard {
    config: MoneroBoardConfig,
    state: Mutex<State>,
    epoch_tx: watch::Sender<WorkEpoch>,
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl MoneroBoard {
    pub fn new(config: MoneroBoardConfig) -> MoneroBoard {
        MoneroBoard::with_clock(config, Box::new(unix_now))
    }

    /// A board with an injected clock (tests).
    pub fn with_clock(
        config: MoneroBoardConfig,
        clock: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> MoneroBoard {
        let (epoch_tx, _) = watch::channel(WorkEpoch::default());
        MoneroBoard {
            config,
            state: Mutex::new(State {
                work: None,
                miner_tx_room: 0,
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

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a few assignments: a panic elsewhere cannot leave it half done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// New work from monerod, or `None` while it is away. Clean when the parent block changed.
    pub fn set_work(&self, work: Option<Arc<MoneroWork>>) {
        let mut st = self.lock();
        let clean = match (&st.work, &work) {
            (Some(a), Some(b)) => a.template.prev_id != b.template.prev_id,
            _ => true,
        };
        st.work = work;
        self.bump(&mut st, clean);
    }

    /// A new best sharechain tip. Clean: work on the old tip can only become a stale share.
    pub fn set_tip(&self, tip: TipWork) {
        let mut st = self.lock();
        st.tip = Some(tip);
        self.bump(&mut st, true);
    }

    /// The current monerod work, if any.
    pub fn work(&self) -> Option<Arc<MoneroWork>> {
        self.lock().work.clone()
    }

    fn bump(&self, st: &mut State, clean: bool) {
        st.current.clear();
        st.epoch = WorkEpoch {
            seq: st.epoch.seq + 1,
            clean,
        };
        self.epoch_tx.send_replace(st.epoch);
    }

    /// Builds the job paying `payout`: the transactions are chosen for the room the last job's
    /// miner transaction needed, and the job is built again with the measured weight when its
    /// own miner transaction does not fit that room, so the block never leaves the full-reward
    /// zone (`monerod::tx_menu`).
    fn build(&self, st: &mut State, payout: &PayoutScript) -> Option<Arc<MoneroJob>> {
        let tip = st.tip.clone()?;
        let work = st.work.clone()?;
        for _ in 0..MAX_BUILDS {
            let template = match work.job_template(st.miner_tx_room) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, height = work.template.height, "cannot build a Monero job");
                    return None;
                }
            };
            let (share, payouts) = match build_monero_share_with_payouts(
                &self.config.pool,
                &*tip.view,
                &MoneroShareInput {
                    parent: tip.tip,
                    uncles: tip.uncles.clone(),
                    payout_script: payout.clone(),
                    now: (self.clock)(),
                    software_version: self.config.software_version,
                    template: &template,
                    extra_nonce: &[0; EXTRA_NONCE_LEN],
                },
            ) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, height = work.template.height, "cannot build a Monero job");
                    return None;
                }
            };
            let weight = share
                .candidate
                .as_monero()
                .map_or(u64::MAX, |c| c.miner_tx.serialize().len() as u64);
            let fits = weight <= st.miner_tx_room;
            st.miner_tx_room = weight.saturating_add(MINER_TX_SLACK);
            if !fits {
                continue;
            }
            st.next_id += 1;
            let job = Arc::new(MoneroJob {
                id: st.next_id,
                share,
                payouts,
                payout: payout.clone(),
                template,
                work,
            });
            st.recent.insert(job.id, job.clone());
            st.current.insert(payout.clone(), job.clone());
            return Some(job);
        }
        tracing::error!(
            height = work.template.height,
            "cannot build a Monero job: its miner transaction keeps outgrowing the room left for it"
        );
        None
    }
}

impl MoneroJobSource for MoneroBoard {
    fn job_for(&self, payout: &PayoutScript) -> Option<Arc<MoneroJob>> {
        let mut st = self.lock();
        if let Some(job) = st.current.get(payout) {
            return Some(job.clone());
        }
        self.build(&mut st, payout)
    }

    fn job_by_id(&self, id: u64) -> Option<Arc<MoneroJob>> {
        self.lock().recent.get(id).cloned()
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
    use crate::monerod::client::TxBacklogEntry;
    use crate::monerod::TxMenu;
    use otedama_consensus::chain::monero::reward::FULL_REWARD_ZONE;
    use otedama_consensus::monero_builder::MoneroTemplate;
    use otedama_consensus::{Chain, MemoryChain, Preset};

    fn payout() -> PayoutScript {
        let payee = otedama_consensus::testkit::monero_payee(b"board-spend", false);
        PayoutScript::new(&payee.to_bytes())
    }

    fn tx(id: u8, weight: u64, fee: u64) -> TxBacklogEntry {
        TxBacklogEntry {
            id: [id; 32],
            weight,
            fee,
        }
    }

    /// A pool fuller than the zone: monerod's template takes the best-paying transaction that
    /// fills the zone to the byte, which leaves no room for any miner transaction of ours.
    #[test]
    fn jobs_leave_out_what_would_push_the_block_into_the_penalty() {
        let backlog = [
            tx(1, FULL_REWARD_ZONE - 100, 9_000_000),
            tx(2, 2_000, 1_000),
        ];
        let menu = TxMenu::new(0, u64::MAX, &backlog);
        let base = menu.base_reward;
        let work = MoneroWork {
            template: MoneroTemplate {
                major_version: 16,
                minor_version: 16,
                timestamp: 1_700_000_000,
                prev_id: [7; 32],
                height: 100,
                seed_hash: [5; 32],
                tx_hashes: vec![[1; 32]],
                reward: base + 9_000_000,
            },
            menu,
            difficulty: 1,
            next_seed_hash: None,
        };
        let board = MoneroBoard::new(MoneroBoardConfig {
            pool: PoolParams::preset(Chain::MoneroRegtest, Preset::Main),
            software_version: 1,
        });
        board.set_tip(TipWork {
            view: Arc::new(MemoryChain::new()),
            tip: None,
            uncles: vec![],
            payees: 1,
        });
        board.set_work(Some(Arc::new(work)));
        let job = board.job_for(&payout()).unwrap();
        let miner_tx = job
            .share
            .candidate
            .as_monero()
            .unwrap()
            .miner_tx
            .serialize();
        assert!(
            miner_tx.len() > 100,
            "a miner tx of {} bytes",
            miner_tx.len()
        );
        // The heavy transaction does not fit beside our miner transaction; the small one does.
        assert_eq!(job.template.tx_hashes, vec![[2; 32]]);
        assert_eq!(job.template.reward, base + 1_000);
        assert!(miner_tx.len() as u64 + 2_000 <= FULL_REWARD_ZONE);
        let paid: u64 = job.payouts.iter().map(|(_, a)| a).sum();
        assert_eq!(
            paid, job.template.reward,
            "the miner tx pays the exact reward"
        );
        // The measured weight is remembered: the next job is built once, with the same choice.
        let room = board.lock().miner_tx_room;
        assert_eq!(room, miner_tx.len() as u64 + MINER_TX_SLACK);
        board.set_tip(TipWork {
            view: Arc::new(MemoryChain::new()),
            tip: None,
            uncles: vec![],
            payees: 1,
        });
        let again = board.job_for(&payout()).unwrap();
        assert_eq!(again.template, job.template);
        assert_ne!(again.id, job.id);
    }
}
