//! A gossiped Monero block: a peer's node found a share that meets monerod's difficulty and sends
//! the whole block (header, miner transaction, the other transactions' ids), so that every node
//! of the pool hands it to its own monerod, as Monero P2Pool's nodes do. A monerod that is slow
//! to hear of it on Monero's own network (or cut off from it) then still has it at once, and the
//! pool orphans fewer blocks.
//!
//! Judged as the Bitcoin family's are (`gossip_block`): it must build on our monerod's current
//! tip (anything else is ignored without penalty: the sender may just be slower or faster than
//! us); its RandomX hash, under the current seed, must meet that tip's difficulty. A block on
//! our tip that does not is fake: rejected and its sender penalised. The hash costs one RandomX
//! hash, no more than a fake share does, and the prehash stage computes it off the writer
//! (`node/src/prehash.rs`), so here it is a memo lookup. Everything else (the miner
//! transaction's reward, the transactions) is monerod's to judge: it refuses a bad block and the
//! submitter records that.

use crate::monero_submit::PendingMonero;
use crate::p2p::scoring::Offence;
use crate::p2p::{gossip, Acceptance};
use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::chain::monero::difficulty::meets_difficulty;
use otedama_consensus::pow::{PowHasher, PowInput};
use otedama_mining::monerod::MoneroWork;

#[derive(Debug, PartialEq, Eq)]
pub enum MoneroBlockVerdict {
    /// Forward and submit.
    Submit(PendingMonero),
    /// Not forwarded; `offence` for the sender when the block is fake.
    Drop {
        acceptance: Acceptance,
        offence: Option<Offence>,
        why: String,
    },
}

fn drop(
    acceptance: Acceptance,
    offence: Option<Offence>,
    why: impl Into<String>,
) -> MoneroBlockVerdict {
    MoneroBlockVerdict::Drop {
        acceptance,
        offence,
        why: why.into(),
    }
}

/// Judges a block gossip message against monerod's current work (`None` while monerod is away:
/// nothing can be judged, so nothing is penalised).
pub fn judge(
    data: &[u8],
    work: Option<&MoneroWork>,
    pow: &dyn PowHasher,
    now: u64,
) -> MoneroBlockVerdict {
    let bytes = match gossip::decode_block(data) {
        Ok(b) => b,
        Err(e) => return drop(Acceptance::Reject, Some(Offence::Malformed), e.to_string()),
    };
    let block = match Block::parse(bytes) {
        Ok(b) => b,
        Err(e) => {
            return drop(
                Acceptance::Reject,
                Some(Offence::Malformed),
                format!("not a Monero block: {e}"),
            )
        }
    };
    let Some(work) = work else {
        return drop(Acceptance::Ignore, None, "monerod is away: cannot judge it");
    };
    let t = &work.template;
    if block.header.prev_id != t.prev_id {
        return drop(
            Acceptance::Ignore,
            None,
            format!(
                "builds on {}, not on monerod's tip {}",
                hex::encode(block.header.prev_id),
                hex::encode(t.prev_id)
            ),
        );
    }
    let blob = block.hashing_blob();
    let hash = match pow.pow_hash(PowInput::RandomX {
        seed: &t.seed_hash,
        blob: &blob,
    }) {
        Ok(h) => h,
        // Our hasher cannot hash now (seeds being swapped): not the sender's fault.
        Err(e) => return drop(Acceptance::Ignore, None, format!("cannot hash it: {e}")),
    };
    if !meets_difficulty(&hash, work.difficulty) {
        return drop(
            Acceptance::Reject,
            Some(Offence::InvalidShare),
            format!(
                "its RandomX hash does not meet monerod's difficulty {}",
                work.difficulty
            ),
        );
    }
    MoneroBlockVerdict::Submit(PendingMonero {
        id: block.id(),
        height: t.height,
        reward: block.miner_tx.total_amount().unwrap_or(0),
        time: now,
        blob: bytes.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::chain::monero::block::{BlockHeader, MinerTx, OutputTarget, TxOut};
    use otedama_consensus::chain::monero::hash::Hash32;
    use otedama_consensus::monero_builder::MoneroTemplate;
    use otedama_consensus::pow::PowError;
    use otedama_mining::monerod::TxMenu;

    /// A stand-in for RandomX: the first byte of the blob decides (0: the easiest hash, else the
    /// hardest), so difficulties are exact without hashing.
    struct ByFirstByte;
    impl PowHasher for ByFirstByte {
        fn pow_hash(&self, input: PowInput<'_>) -> Result<[u8; 32], PowError> {
            match input {
                PowInput::RandomX { blob, .. } if blob.first() == Some(&0) => Ok([0; 32]),
                PowInput::RandomX { .. } => Ok([0xff; 32]),
                PowInput::Header(_) => Err(PowError::Unsupported("header")),
            }
        }
    }

    const TIP: Hash32 = [7; 32];

    fn work(difficulty: u128) -> MoneroWork {
        MoneroWork {
            template: MoneroTemplate {
                major_version: 16,
                minor_version: 16,
                timestamp: 1_700_000_000,
                prev_id: TIP,
                height: 100,
                seed_hash: [5; 32],
                tx_hashes: vec![],
                reward: 600_000_000_000,
            },
            menu: TxMenu::new(0, u64::MAX, &[]),
            difficulty,
            next_seed_hash: None,
        }
    }

    fn block(major: u8, prev: Hash32) -> Vec<u8> {
        Block {
            header: BlockHeader {
                major_version: major,
                minor_version: 16,
                timestamp: 1_700_000_000,
                prev_id: prev,
                nonce: 1,
            },
            miner_tx: MinerTx {
                version: 2,
                unlock_time: 160,
                height: 100,
                outputs: vec![TxOut {
                    amount: 600_000_000_000,
                    target: OutputTarget::TaggedKey {
                        key: [9; 32],
                        view_tag: 1,
                    },
                }],
                extra: vec![],
            },
            tx_hashes: vec![[3; 32]],
        }
        .serialize()
    }

    #[test]
    fn a_block_on_our_tip_that_meets_the_difficulty_is_submitted() {
        // Major version 0 makes the hashing blob's first byte 0: the easiest hash.
        let bytes = block(0, TIP);
        let v = judge(
            &gossip::encode_block(&bytes),
            Some(&work(1 << 40)),
            &ByFirstByte,
            9,
        );
        let MoneroBlockVerdict::Submit(p) = v else {
            panic!("{v:?}")
        };
        assert_eq!(p.blob, bytes);
        assert_eq!(p.id, Block::parse(&bytes).unwrap().id());
        assert_eq!((p.height, p.reward, p.time), (100, 600_000_000_000, 9));
    }

    #[test]
    fn fakes_are_penalised_and_strangers_ignored() {
        let too_little = judge(
            &gossip::encode_block(&block(16, TIP)),
            Some(&work(2)),
            &ByFirstByte,
            9,
        );
        assert!(matches!(
            too_little,
            MoneroBlockVerdict::Drop {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::InvalidShare),
                ..
            }
        ));
        for (data, w) in [
            // Another tip: the sender may be ahead or behind.
            (gossip::encode_block(&block(0, [8; 32])), Some(work(1))),
            // monerod away.
            (gossip::encode_block(&block(0, TIP)), None),
        ] {
            let v = judge(&data, w.as_ref(), &ByFirstByte, 9);
            assert!(
                matches!(
                    v,
                    MoneroBlockVerdict::Drop {
                        acceptance: Acceptance::Ignore,
                        offence: None,
                        ..
                    }
                ),
                "{v:?}"
            );
        }
        for junk in [vec![], vec![crate::p2p::GOSSIP_FOUND_BLOCK, 1, 2, 3]] {
            let v = judge(&junk, Some(&work(1)), &ByFirstByte, 9);
            assert!(
                matches!(
                    v,
                    MoneroBlockVerdict::Drop {
                        acceptance: Acceptance::Reject,
                        offence: Some(Offence::Malformed),
                        ..
                    }
                ),
                "{v:?}"
            );
        }
    }
}
