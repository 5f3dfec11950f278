//! [`MoneroWork`]: one unit of Monero work from monerod, what shares are built on, made from
//! `get_block_template`'s answer and `get_miner_data`'s for the same parent
//! ([`MoneroWork::from_template`]); and the hex helpers the monerod link reads hashes and 128-bit
//! difficulties with.
//!
//! monerod writes hashes (block ids, seeds, transaction ids) as the plain hex of their 32 bytes,
//! in byte order (no reversal as in Bitcoin's RPC), and 128-bit difficulties as `0x`-prefixed
//! hex strings (`wide_difficulty`, ZMQ's `difficulty`).

use super::client::{BlockTemplateResponse, MinerData, MoneroRpcError};
use super::tx_menu::{TooHeavy, TxMenu};
use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::chain::monero::reward::penalized_reward;
use otedama_consensus::monero_builder::MoneroTemplate;

/// One unit of Monero work from monerod: what shares are built on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneroWork {
    /// monerod's template as it gave it: the header fields shares use, and its own transaction
    /// set and reward (what its own miner transaction pays, penalty included; jobs pick their
    /// transactions with [`MoneroWork::job_template`]).
    pub template: MoneroTemplate,
    /// The pool's mineable transactions and the limits of the next block (`get_miner_data`).
    pub menu: TxMenu,
    /// monerod's difficulty for that block (`get_block_template`'s difficulty, wide_difficulty
    /// when present)
    pub difficulty: u128,
    /// The seed of the next RandomX epoch when monerod announces it (`next_seed_hash`), so
    /// workers and the hasher prepare it ahead.
    pub next_seed_hash: Option<Hash32>,
}

impl MoneroWork {
    /// The work in `get_block_template`'s answer `t` and `get_miner_data`'s answer `md` for the
    /// same parent: the block blob parsed with [`Block::parse`] (versions, timestamp, previous
    /// block, other transactions), the height, seed, reward and difficulty from the answer, the
    /// transaction menu from `md`. Checks that the answer agrees with its own blob (previous
    /// block, the miner transaction's height, and what monerod's miner transaction pays at most
    /// `expected_reward`) and with `md` (parent, height, and, where all its transactions are on
    /// the menu, both amounts from the menu's base reward and their fees: the reward our own
    /// blocks claim is computed the same way), so a template that is not what it says is never
    /// mined on.
    ///
    /// The two amounts differ past the median weight: monerod's `expected_reward` is
    /// `fill_block_template`'s, the penalised reward for the weight of its transactions alone,
    /// while its miner transaction (built after, `construct_miner_tx` on the whole block's
    /// weight) pays the penalty of its own bytes too. Under a full pool monerod's block is in
    /// the penalty zone, so the two never agree there; the work's reward is what the miner
    /// transaction pays, the amount monerod accepts for that block.
    /// [`MoneroRpcError::TipMoved`] when the two answers are of different parents (a block
    /// arrived between the calls: ask again).
    pub fn from_template(
        t: &BlockTemplateResponse,
        md: &MinerData,
    ) -> Result<MoneroWork, MoneroRpcError> {
        let bad = |what: String| MoneroRpcError::Protocol(format!("get_block_template: {what}"));
        let blob = hex::decode(&t.blocktemplate_blob)
            .map_err(|e| bad(format!("blocktemplate_blob is not hex ({e})")))?;
        let block = Block::parse(&blob)
            .map_err(|e| bad(format!("blocktemplate_blob does not parse: {e}")))?;
        let prev_id = parse_hash32(&t.prev_hash).ok_or_else(|| {
            bad(format!(
                "prev_hash {:?} is not a 32-byte hex hash",
                t.prev_hash
            ))
        })?;
        if block.header.prev_id != prev_id {
            return Err(bad(format!(
                "the blob's previous block {} is not prev_hash {}",
                hex::encode(block.header.prev_id),
                t.prev_hash
            )));
        }
        if block.miner_tx.height != t.height {
            return Err(bad(format!(
                "the blob's miner transaction is for height {}, the answer says height {}",
                block.miner_tx.height, t.height
            )));
        }
        let paid = block
            .miner_tx
            .total_amount()
            .filter(|p| *p <= t.expected_reward);
        let Some(paid) = paid else {
            return Err(bad(format!(
                "the template's miner transaction pays {}, more than expected_reward {}",
                block
                    .miner_tx
                    .total_amount()
                    .map_or_else(|| "an overflowing sum".to_owned(), |p| p.to_string()),
                t.expected_reward,
            )));
        };
        let seed_hash = parse_hash32(&t.seed_hash).ok_or_else(|| {
            bad(format!(
                "seed_hash {:?} is not a 32-byte hex hash",
                t.seed_hash
            ))
        })?;
        let next_seed_hash =
            match t.next_seed_hash.as_str() {
                "" => None,
                s => Some(parse_hash32(s).ok_or_else(|| {
                    bad(format!("next_seed_hash {s:?} is not a 32-byte hex hash"))
                })?),
            };
        let difficulty = t.difficulty()?;
        if md.prev_id != prev_id || md.height != t.height {
            return Err(MoneroRpcError::TipMoved);
        }
        let menu = TxMenu::new(md.median_weight, md.already_generated_coins, &md.tx_backlog);
        let known: Option<Vec<_>> = block.tx_hashes.iter().map(|id| menu.get(id)).collect();
        if let Some(known) = known {
            // monerod's numbers: saturating, so absurd weights fail the check below rather than
            // overflow (a saturated weight has no reward).
            let txs_weight = known.iter().fold(0u64, |a, e| a.saturating_add(e.weight));
            let weight = txs_weight.saturating_add(block.miner_tx.serialize().len() as u64);
            let fees = known.iter().try_fold(0u64, |a, e| a.checked_add(e.fee));
            // monerod's two amounts: for its transactions' weight, and for the whole block's.
            let reward = |w: u64| {
                penalized_reward(menu.base_reward, w, menu.median_weight)
                    .zip(fees)
                    .and_then(|(r, f)| r.checked_add(f))
            };
            if reward(txs_weight) != Some(t.expected_reward) || reward(weight) != Some(paid) {
                return Err(bad(format!(
                    "expected_reward {} and the miner transaction's {paid} are not the base \
                     reward {} from get_miner_data's already_generated_coins, penalised for a \
                     block of {weight} (its {} transaction(s): {txs_weight}) at median {}, plus \
                     their fees",
                    t.expected_reward,
                    menu.base_reward,
                    known.len(),
                    menu.median_weight
                )));
            }
        }
        Ok(MoneroWork {
            menu,
            template: MoneroTemplate {
                major_version: block.header.major_version,
                minor_version: block.header.minor_version,
                timestamp: block.header.timestamp,
                prev_id,
                height: t.height,
                seed_hash,
                tx_hashes: block.tx_hashes,
                reward: paid,
            },
            difficulty,
            next_seed_hash,
        })
    }

    /// Height of the block this work makes.
    pub fn height(&self) -> u64 {
        self.template.height
    }

    /// The template of a share whose miner transaction weighs `miner_tx_weight` bytes:
    /// monerod's header fields, the transactions [`TxMenu::select`] picks for that weight, and
    /// the exact reward of that block.
    pub fn job_template(&self, miner_tx_weight: u64) -> Result<MoneroTemplate, TooHeavy> {
        let s = self.menu.select(miner_tx_weight)?;
        Ok(MoneroTemplate {
            tx_hashes: s.tx_hashes,
            reward: s.reward,
            ..self.template.clone()
        })
    }

    /// Whether miners need new work for `new` compared with `self`: another parent (a new tip
    /// or a reorg), height, transaction set or menu, reward, versions, seed or difficulty. The
    /// timestamp alone is not a change (see the template source's periodic refresh).
    pub fn differs_from(&self, new: &MoneroWork) -> bool {
        let (a, b) = (&self.template, &new.template);
        a.prev_id != b.prev_id
            || a.height != b.height
            || a.tx_hashes != b.tx_hashes
            || a.reward != b.reward
            || a.major_version != b.major_version
            || a.minor_version != b.minor_version
            || a.seed_hash != b.seed_hash
            || self.difficulty != new.difficulty
            || self.next_seed_hash != new.next_seed_hash
            || self.menu != new.menu
    }
}

/// A 32-byte hash from monerod's 64 hex digits; `None` for anything else.
pub fn parse_hash32(s: &str) -> Option<Hash32> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// A 128-bit difficulty from monerod's `0x`-prefixed hex (`wide_difficulty`, ZMQ's
/// `difficulty`); a string without the prefix is read as hex too. `None` for an empty string,
/// non-hex digits or more than 128 bits.
pub fn parse_wide_difficulty(s: &str) -> Option<u128> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A regtest monerod's (v0.18.0.0) answer at height 1, difficulty 1.
    fn regtest_template() -> BlockTemplateResponse {
        BlockTemplateResponse {
            blocktemplate_blob: "10108b90c0d806418015bb9ae982a1975da7d79277c2705727a56894ba0fb246\
                adaabb1f4632e300000000023d01ff0101808080f0ffff0703679395c949da8e5ecbd4576f33dc3b\
                58b803a7171727e154f99b38b35c2ea2033221010925fac1cbfa22973b8df0aa3f42128f202d76f3\
                ccbf87fd23320b7313790f8d0000"
                .into(),
            difficulty: 1,
            difficulty_top64: 0,
            wide_difficulty: "0x1".into(),
            expected_reward: 35_184_338_534_400,
            height: 1,
            prev_hash: "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3".into(),
            seed_hash: "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3".into(),
            next_seed_hash: String::new(),
            seed_height: 0,
            reserved_offset: 0,
            status: "OK".into(),
        }
    }

    /// The same monerod's `get_miner_data` at height 1 (the genesis reward emitted, 2^44 - 1).
    fn miner_data() -> MinerData {
        MinerData {
            major_version: 16,
            height: 1,
            prev_id: parse_hash32(
                "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3",
            )
            .unwrap(),
            seed_hash: parse_hash32(
                "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3",
            )
            .unwrap(),
            difficulty: 1,
            median_weight: 300_000,
            already_generated_coins: (1 << 44) - 1,
            tx_backlog: vec![],
            status: "OK".into(),
        }
    }

    #[test]
    fn the_two_answers_must_be_of_one_parent_and_agree_on_the_reward() {
        let mut md = miner_data();
        md.height = 2;
        assert!(matches!(
            MoneroWork::from_template(&regtest_template(), &md),
            Err(MoneroRpcError::TipMoved)
        ));
        let mut md = miner_data();
        md.prev_id = [9; 32];
        assert!(matches!(
            MoneroWork::from_template(&regtest_template(), &md),
            Err(MoneroRpcError::TipMoved)
        ));
        // Another emission than monerod's template pays: our blocks would claim a wrong reward.
        let mut md = miner_data();
        md.already_generated_coins += 1 << 30;
        let e = MoneroWork::from_template(&regtest_template(), &md).unwrap_err();
        assert!(
            matches!(&e, MoneroRpcError::Protocol(m) if m.contains("base reward")),
            "{e}"
        );
        // A pool monerod's template did not take: on the menu, and jobs take it.
        let mut md = miner_data();
        md.tx_backlog = vec![super::super::client::TxBacklogEntry {
            id: [5; 32],
            weight: 2_000,
            fee: 40_000_000,
        }];
        let work = MoneroWork::from_template(&regtest_template(), &md).unwrap();
        assert!(work.template.tx_hashes.is_empty());
        let job = work.job_template(1_000).unwrap();
        assert_eq!(job.tx_hashes, vec![[5; 32]]);
        assert_eq!(job.reward, 35_184_338_534_400 + 40_000_000);
        assert_eq!(job.prev_id, work.template.prev_id);
        assert_eq!(job.timestamp, work.template.timestamp);
        // Too heavy a miner transaction for the zone: it stays out.
        assert!(work.job_template(299_000).unwrap().tx_hashes.is_empty());
        assert!(work.job_template(300_001).is_err());
        let mut other = work.clone();
        other.menu = TxMenu::new(300_000, (1 << 44) - 1, &[]);
        assert!(work.differs_from(&other), "a new pool is new work");
    }

    #[test]
    fn a_real_template_becomes_work() {
        let work = MoneroWork::from_template(&regtest_template(), &miner_data()).unwrap();
        let genesis =
            parse_hash32("418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3")
                .unwrap();
        assert_eq!(work.template.prev_id, genesis);
        assert_eq!(work.template.seed_hash, genesis);
        assert_eq!(work.template.height, 1);
        assert_eq!(work.template.major_version, 16);
        assert_eq!(work.template.minor_version, 16);
        assert!(work.template.tx_hashes.is_empty());
        assert_eq!(work.template.reward, 35_184_338_534_400);
        assert_eq!(work.difficulty, 1);
        assert_eq!(work.next_seed_hash, None);
        assert!(!work.differs_from(&work.clone()));
        let mut later = work.clone();
        later.template.timestamp += 30;
        assert!(
            !work.differs_from(&later),
            "the timestamp alone is no new work"
        );
        later.template.tx_hashes.push([7; 32]);
        assert!(work.differs_from(&later));
    }

    /// monerod's template past the median (what a full pool gives): `expected_reward` is the
    /// penalised reward for its transactions' weight alone, its miner transaction pays the
    /// penalty of its own bytes too (measured: a regtest monerod with 48 transactions of 304,024
    /// weight and an 83-byte miner transaction said 40,999,690,405,078 and paid
    /// 40,999,426,615,462). Such a template is work, whose reward is what monerod's block pays.
    #[test]
    fn a_template_in_the_penalty_zone_pays_less_than_expected_reward() {
        let (tx_weight, fee) = (310_000u64, 50_000_000u64);
        let mut md = miner_data();
        md.tx_backlog = vec![super::super::client::TxBacklogEntry {
            id: [5; 32],
            weight: tx_weight,
            fee,
        }];
        let base = 35_184_338_534_400;
        let mut t = regtest_template();
        let mut block = Block::parse(&hex::decode(&t.blocktemplate_blob).unwrap()).unwrap();
        block.tx_hashes = vec![[5; 32]];
        let miner_tx_weight = block.miner_tx.serialize().len() as u64;
        let expected = penalized_reward(base, tx_weight, 300_000).unwrap() + fee;
        let paid = penalized_reward(base, tx_weight + miner_tx_weight, 300_000).unwrap() + fee;
        assert!(paid < expected && expected < base + fee);
        block.miner_tx.outputs[0].amount = paid;
        assert_eq!(block.miner_tx.serialize().len() as u64, miner_tx_weight);
        t.blocktemplate_blob = hex::encode(block.serialize());
        t.expected_reward = expected;
        let work = MoneroWork::from_template(&t, &md).unwrap();
        assert_eq!(work.template.reward, paid);
        assert_eq!(work.template.tx_hashes, vec![[5; 32]]);
        // Our jobs leave that transaction out: it alone is past the zone.
        let job = work.job_template(2_000).unwrap();
        assert!(job.tx_hashes.is_empty());
        assert_eq!(job.reward, base);
        // Any other pair of amounts is not monerod's.
        for (expected, paid) in [(expected, expected), (paid, paid), (expected + 1, paid)] {
            block.miner_tx.outputs[0].amount = paid;
            t.blocktemplate_blob = hex::encode(block.serialize());
            t.expected_reward = expected;
            let e = MoneroWork::from_template(&t, &md).unwrap_err();
            assert!(
                matches!(&e, MoneroRpcError::Protocol(m) if m.contains("expected_reward")),
                "{e}"
            );
        }
    }

    #[test]
    fn inconsistent_templates_are_protocol_errors() {
        let mut t = regtest_template();
        t.expected_reward += 1;
        let e = MoneroWork::from_template(&t, &miner_data()).unwrap_err();
        assert!(
            matches!(&e, MoneroRpcError::Protocol(m) if m.contains("expected_reward")),
            "{e}"
        );
        let mut t = regtest_template();
        t.prev_hash = "00".repeat(32);
        assert!(MoneroWork::from_template(&t, &miner_data()).is_err());
        let mut t = regtest_template();
        t.height = 2;
        assert!(MoneroWork::from_template(&t, &miner_data()).is_err());
        let mut t = regtest_template();
        t.blocktemplate_blob.truncate(40);
        assert!(MoneroWork::from_template(&t, &miner_data()).is_err());
        let mut t = regtest_template();
        t.blocktemplate_blob.push('x');
        assert!(MoneroWork::from_template(&t, &miner_data()).is_err());
        let mut t = regtest_template();
        t.next_seed_hash = "abc".into();
        assert!(MoneroWork::from_template(&t, &miner_data()).is_err());
        let mut t = regtest_template();
        t.next_seed_hash = "11".repeat(32);
        assert_eq!(
            MoneroWork::from_template(&t, &miner_data())
                .unwrap()
                .next_seed_hash,
            Some([0x11; 32])
        );
    }

    #[test]
    fn difficulties_and_hashes() {
        assert_eq!(parse_wide_difficulty("0x1"), Some(1));
        assert_eq!(
            parse_wide_difficulty("0x10000000000000000"),
            Some(1u128 << 64)
        );
        assert_eq!(parse_wide_difficulty("ff"), Some(255));
        assert_eq!(
            parse_wide_difficulty(&format!("0x{}", "f".repeat(32))),
            Some(u128::MAX)
        );
        for bad in ["", "0x", "0xg", "-1", &format!("0x1{}", "0".repeat(32))] {
            assert_eq!(parse_wide_difficulty(bad), None, "{bad}");
        }
        assert_eq!(parse_hash32(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_hash32(&"ab".repeat(31)), None);
        assert_eq!(parse_hash32(""), None);
    }

    #[test]
    fn the_difficulty_prefers_wide_difficulty() {
        let mut t = regtest_template();
        t.wide_difficulty = "0x100000000000000002".into();
        t.difficulty = 2;
        t.difficulty_top64 = 0x10;
        assert_eq!(
            MoneroWork::from_template(&t, &miner_data())
                .unwrap()
                .difficulty,
            (0x10u128 << 64) | 2
        );
        t.wide_difficulty = String::new();
        assert_eq!(
            MoneroWork::from_template(&t, &miner_data())
                .unwrap()
                .difficulty,
            (0x10u128 << 64) | 2
        );
        t.difficulty = 0;
        t.difficulty_top64 = 0;
        assert!(
            MoneroWork::from_template(&t, &miner_data()).is_err(),
            "difficulty 0"
        );
        t.wide_difficulty = "0xzz".into();
        assert!(MoneroWork::from_template(&t, &miner_data()).is_err());
    }
}
