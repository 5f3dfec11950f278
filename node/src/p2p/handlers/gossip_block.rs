//! A gossiped block: a peer's node found a share that meets the parent target and sends the
//! whole block, so that every node of the pool hands it to its own full node (faster
//! propagation on the parent network, fewer orphaned blocks, as the original p2pool did).
//!
//! The block is judged cheaply first: it must build on our full node's current tip (anything
//! else is ignored without penalty: the sender may just be slower or faster than us), with that
//! tip's `bits`, and its header must meet them. Only a block that passed the proof of work is
//! parsed and checked in full (an attacker pays real work for every block we parse). A block
//! with the right parent but a wrong target, too little work or broken contents is fake: it is
//! rejected and its sender penalised. What passes is forwarded and submitted.

use crate::p2p::scoring::Offence;
use crate::p2p::{gossip, Acceptance};
use otedama_consensus::block_check::{check_block, BlockRules};
use otedama_consensus::template::BlockTemplate;
use otedama_consensus::Target;

/// A block worth submitting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipedBlock {
    pub hash: bitcoin::BlockHash,
    pub block: Vec<u8>,
    pub height: u32,
    /// What its coinbase pays in all.
    pub reward: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockVerdict {
    /// Forward and submit.
    Submit(GossipedBlock),
    /// Not forwarded; `offence` for the sender when the block is fake.
    Drop {
        acceptance: Acceptance,
        offence: Option<Offence>,
        why: String,
    },
}

fn drop(acceptance: Acceptance, offence: Option<Offence>, why: impl Into<String>) -> BlockVerdict {
    BlockVerdict::Drop {
        acceptance,
        offence,
        why: why.into(),
    }
}

/// Judges a block gossip message against the full node's current template (`None` while the
/// full node is away: nothing can be judged, so nothing is penalised).
pub fn judge(
    data: &[u8],
    template: Option<&BlockTemplate>,
    rules: &BlockRules,
    now: u64,
) -> BlockVerdict {
    let bytes = match gossip::decode_block(data) {
        Ok(b) => b,
        Err(e) => return drop(Acceptance::Reject, Some(Offence::Malformed), e.to_string()),
    };
    let Some(header_bytes) = bytes.get(..80) else {
        return drop(Acceptance::Reject, Some(Offence::Malformed), "no header");
    };
    let header: bitcoin::block::Header = match bitcoin::consensus::deserialize(header_bytes) {
        Ok(h) => h,
        Err(e) => return drop(Acceptance::Reject, Some(Offence::Malformed), e.to_string()),
    };
    let Some(template) = template else {
        return drop(Acceptance::Ignore, None, "no template from our full node");
    };
    if header.prev_blockhash != template.prev_blockhash {
        return drop(Acceptance::Ignore, None, "builds on another parent block");
    }
    if header.bits != template.bits {
        return drop(
            Acceptance::Reject,
            Some(Offence::InvalidShare),
            "wrong target for its parent block",
        );
    }
    let Some(algo) = rules.pow else {
        return drop(Acceptance::Ignore, None, "no proof of work rule");
    };
    let mut h = [0u8; 80];
    h.copy_from_slice(header_bytes);
    if !Target::from_compact(header.bits).is_met_by(&algo.hash(&h)) {
        return drop(
            Acceptance::Reject,
            Some(Offence::InvalidShare),
            "header does not meet its target",
        );
    }
    match check_block(bytes, rules, now) {
        Ok(_) => {}
        Err(e) => {
            return drop(
                Acceptance::Reject,
                Some(Offence::InvalidShare),
                format!("invalid block: {e}"),
            )
        }
    }
    let reward = otedama_consensus::block_parse::parse_block(bytes, rules.mweb)
        .ok()
        .and_then(|b| {
            b.txs
                .first()
                .map(|cb| cb.tx.output.iter().map(|o| o.value.to_sat()).sum())
        })
        .unwrap_or(0);
    BlockVerdict::Submit(GossipedBlock {
        hash: header.block_hash(),
        block: bytes.to_vec(),
        height: template.height,
        reward,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::{PoolParams, Preset};
    use otedama_consensus::testkit::{first_share_on, script, template};

    /// A block on `t` ground to meet its regtest target, as a finder would gossip it.
    fn found_block(t: &BlockTemplate) -> Vec<u8> {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let algo = Chain::BitcoinRegtest.pow_algo().unwrap();
        for en in 0u8.. {
            let share = first_share_on(&pool, t, &script(1), [en; 12]);
            if Target::from_compact(t.bits)
                .is_met_by(&algo.hash(&share.candidate.as_bitcoin().unwrap().header_bytes()))
            {
                return t.assemble_block(
                    &share.candidate.as_bitcoin().unwrap().header,
                    &share.candidate.as_bitcoin().unwrap().coinbase,
                );
            }
        }
        unreachable!("half of all regtest headers are blocks")
    }

    #[test]
    fn real_blocks_are_submitted_fakes_penalised_others_ignored() {
        let rules = BlockRules::for_chain(Chain::BitcoinRegtest.bitcoin_params().unwrap());
        let t = template(100, 5_000_000_000);
        let block = found_block(&t);
        let now = t.curtime;
        let msg = gossip::encode_block(&block);
        match judge(&msg, Some(&t), &rules, now) {
            BlockVerdict::Submit(b) => {
                assert_eq!(b.block, block);
                assert_eq!(b.height, 100);
                assert_eq!(b.reward, 5_000_000_000);
            }
            other => panic!("{other:?}"),
        }
        // Our full node is elsewhere (another tip) or away: ignored, no penalty.
        let other = template(101, 5_000_000_000);
        assert!(matches!(
            judge(&msg, Some(&other), &rules, now),
            BlockVerdict::Drop {
                acceptance: Acceptance::Ignore,
                offence: None,
                ..
            }
        ));
        assert!(matches!(
            judge(&msg, None, &rules, now),
            BlockVerdict::Drop {
                acceptance: Acceptance::Ignore,
                offence: None,
                ..
            }
        ));
        // Too little work: change the nonce until the header misses the target.
        let algo = rules.pow.unwrap();
        let mut fake = block.clone();
        for n in 0u32.. {
            fake[76..80].copy_from_slice(&n.to_le_bytes());
            let h: [u8; 80] = fake[..80].try_into().unwrap();
            if !Target::from_compact(t.bits).is_met_by(&algo.hash(&h)) {
                break;
            }
        }
        assert!(matches!(
            judge(&gossip::encode_block(&fake), Some(&t), &rules, now),
            BlockVerdict::Drop {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::InvalidShare),
                ..
            }
        ));
        // Garbage.
        assert!(matches!(
            judge(&gossip::encode_block(&[1, 2, 3]), Some(&t), &rules, now),
            BlockVerdict::Drop {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::Malformed),
                ..
            }
        ));
        // Valid work, broken contents (a byte of the coinbase changed): fake.
        let mut broken = block.clone();
        let last = broken.len() - 10;
        broken[last] ^= 1;
        match judge(&gossip::encode_block(&broken), Some(&t), &rules, now) {
            BlockVerdict::Drop {
                acceptance: Acceptance::Reject,
                offence: Some(_),
                ..
            } => {}
            other => panic!("{other:?}"),
        }
    }
}
