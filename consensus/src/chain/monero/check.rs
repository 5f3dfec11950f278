//! Every rule of a Monero block candidate a node can check from the candidate alone: no parent
//! chain state, no sharechain, no RandomX (the proof of work, the payouts' amounts and keys, and
//! the parent's height and reward are checked by the caller, which has the context).
//!
//! Rules, in the order checked (each has its [`MoneroRejectReason`]):
//!
//! 1. major version at least 16. Monero's hard forks by block major version: 12 (RandomX, v2
//!    coinbase), 13 and 14 (CLSAG, exact coinbase, deterministic unlock time), 15 (view tags
//!    allowed, mainnet height 2,688,888), 16 (view tags required, height 2,689,608, the current
//!    version). From 16 every output is a `txout_to_tagged_key`, the only kind the share layout
//!    has, so an older version could never carry a valid share.
//! 2. the branch has `floor(log2 tx_count)` hashes and `1 <= tx_count <= MAX_TX_COUNT` (a
//!    decoded candidate always has this; a candidate built in memory may not);
//! 3. the miner transaction is in the one share layout ([`parse_miner_tx`]): version 2, unlock
//!    time height + 60, tagged outputs of non-zero amounts, `tx_extra` exactly public key,
//!    [additional keys], nonce, merge-mining commitment;
//! 4. its `txin_gen` height is the parent height the share claims;
//! 5. its merge-mining tag carries the commitment the share's side data gives;
//! 6. it has 1 to `max_payouts` outputs;
//! 7. its outputs sum without overflow to at least the tail emission, 0.6 XMR: no Monero block
//!    since June 2022 pays less (fees only add), so a lower sum means a miner withheld part of the
//!    reward from the payees (the exact reward needs the chain's emission and median weight,
//!    which the full node checks, as the Bitcoin family leaves fees to it).

use super::candidate::{MoneroCandidate, MAX_TX_COUNT};
use super::hash::Hash32;
use super::miner_tx::{parse_miner_tx, MinerTxError};
use super::reward::TAIL_EMISSION;
use super::tree::branch_len_for;

/// Lowest block major version a candidate may have: 16, view tags required.
pub const MIN_MAJOR_VERSION: u8 = 16;

/// What the stateless checks learnt, for the checks that need context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateFacts {
    /// The main transaction public key.
    pub tx_public: Hash32,
    /// The additional public keys, one per output, or empty.
    pub additional: Vec<Hash32>,
    /// The sum of the outputs.
    pub reward: u64,
    /// The number of outputs.
    pub payout_count: usize,
}

/// Why a candidate is refused, one variant per rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneroRejectReason {
    #[error("block major version {0} is below {MIN_MAJOR_VERSION}")]
    MajorVersion(u8),
    #[error("{branch} branch hashes for {tx_count} transactions")]
    Branch { branch: usize, tx_count: u64 },
    #[error("miner transaction: {0}")]
    MinerTx(MinerTxError),
    #[error("miner transaction height {got}, the share claims {want}")]
    Height { got: u64, want: u64 },
    #[error("merge-mining tag does not carry the share's commitment")]
    Commitment,
    #[error("{count} payouts, allowed 1..={max}")]
    PayoutCount { count: usize, max: usize },
    #[error("outputs overflow 64 bits")]
    RewardOverflow,
    #[error("outputs sum to {0}, below the tail emission {TAIL_EMISSION}")]
    RewardBelowTail(u64),
}

/// Checks every stateless rule (see the module doc) of `c` for a share claiming Monero height
/// `parent_height` and side-data commitment `expected_commitment`, with the pool's
/// `max_payouts`.
pub fn check_candidate(
    c: &MoneroCandidate,
    parent_height: u64,
    expected_commitment: &[u8; 32],
    max_payouts: usize,
) -> Result<CandidateFacts, MoneroRejectReason> {
    if c.header.major_version < MIN_MAJOR_VERSION {
        return Err(MoneroRejectReason::MajorVersion(c.header.major_version));
    }
    let branch_ok =
        c.tx_count <= MAX_TX_COUNT && branch_len_for(c.tx_count) == Some(c.tx_branch.len());
    if !branch_ok {
        return Err(MoneroRejectReason::Branch {
            branch: c.tx_branch.len(),
            tx_count: c.tx_count,
        });
    }
    let parts = parse_miner_tx(&c.miner_tx).map_err(MoneroRejectReason::MinerTx)?;
    if c.miner_tx.height != parent_height {
        return Err(MoneroRejectReason::Height {
            got: c.miner_tx.height,
            want: parent_height,
        });
    }
    if parts.commitment != *expected_commitment {
        return Err(MoneroRejectReason::Commitment);
    }
    let count = c.miner_tx.outputs.len();
    if count == 0 || count > max_payouts {
        return Err(MoneroRejectReason::PayoutCount {
            count,
            max: max_payouts,
        });
    }
    let reward = c
        .miner_tx
        .total_amount()
        .ok_or(MoneroRejectReason::RewardOverflow)?;
    if reward < TAIL_EMISSION {
        return Err(MoneroRejectReason::RewardBelowTail(reward));
    }
    Ok(CandidateFacts {
        tx_public: parts.tx_public,
        additional: parts.additional,
        reward,
        payout_count: count,
    })
}

#[cfg(test)]
mod tests {
    use super::super::block::{BlockHeader, OutputTarget};
    use super::super::keys::hash_to_scalar;
    use super::super::miner_tx::build_miner_tx;
    use super::super::outputs::payout_outputs;
    use super::super::payee::Payee;
    use super::super::tree::first_leaf_branch;
    use super::*;

    const HEIGHT: u64 = 3_400_000;
    const COMMITMENT: [u8; 32] = [0xc0; 32];

    fn payee(i: u8) -> Payee {
        let p = |s: &[u8]| {
            super::super::keys::secret_key_to_public_key(&hash_to_scalar(s).to_bytes()).unwrap()
        };
        Payee::new(p(&[i, 1]), p(&[i, 2]), i % 2 == 1).unwrap()
    }

    fn good_with(amounts: &[u64]) -> MoneroCandidate {
        let r = hash_to_scalar(b"check tx key").to_bytes();
        let payees: Vec<(Payee, u64)> = amounts
            .iter()
            .enumerate()
            .map(|(i, &a)| (payee(i as u8), a))
            .collect();
        let outs = payout_outputs(&r, &payees).unwrap();
        let miner_tx = build_miner_tx(HEIGHT, &outs, &[1, 2, 3, 4], &COMMITMENT).unwrap();
        let mut leaves = vec![miner_tx.hash()];
        leaves.extend((1..10u8).map(|i| [i; 32]));
        MoneroCandidate {
            header: BlockHeader {
                major_version: 16,
                minor_version: 16,
                timestamp: 1_750_000_000,
                prev_id: [5; 32],
                nonce: 0,
            },
            miner_tx,
            tx_branch: first_leaf_branch(&leaves),
            tx_count: leaves.len() as u64,
            seed_hash: [6; 32],
        }
    }

    fn good() -> MoneroCandidate {
        good_with(&[400_000_000_000, 200_000_000_000, 1_000])
    }

    fn check(c: &MoneroCandidate) -> Result<CandidateFacts, MoneroRejectReason> {
        check_candidate(c, HEIGHT, &COMMITMENT, 10)
    }

    #[test]
    fn a_good_candidate_and_its_facts() {
        let c = good();
        let facts = check(&c).unwrap();
        assert_eq!(facts.payout_count, 3);
        assert_eq!(facts.reward, 600_000_001_000);
        let parts = parse_miner_tx(&c.miner_tx).unwrap();
        assert_eq!(facts.tx_public, parts.tx_public);
        // Payees 0 (standard) and 1 (subaddress): additional keys.
        assert_eq!(facts.additional.len(), 3);
        // Version 17 and later pass this rule.
        let mut c2 = c;
        c2.header.major_version = 17;
        assert!(check(&c2).is_ok());
    }

    #[test]
    fn major_version() {
        let mut c = good();
        c.header.major_version = 15;
        assert_eq!(check(&c), Err(MoneroRejectReason::MajorVersion(15)));
    }

    #[test]
    fn branch() {
        let mut c = good();
        c.tx_branch.pop();
        assert!(matches!(check(&c), Err(MoneroRejectReason::Branch { .. })));
        let mut c = good();
        c.tx_count = 0;
        c.tx_branch.clear();
        assert!(matches!(check(&c), Err(MoneroRejectReason::Branch { .. })));
        let mut c = good();
        c.tx_count = MAX_TX_COUNT + 1;
        c.tx_branch = vec![[0; 32]; 28];
        assert!(matches!(check(&c), Err(MoneroRejectReason::Branch { .. })));
    }

    #[test]
    fn miner_tx_layout() {
        let mut c = good();
        c.miner_tx.unlock_time += 1;
        assert!(matches!(
            check(&c),
            Err(MoneroRejectReason::MinerTx(MinerTxError::UnlockTime { .. }))
        ));
        let mut c = good();
        c.miner_tx.outputs[0].target = OutputTarget::Key([1; 32]);
        assert_eq!(
            check(&c),
            Err(MoneroRejectReason::MinerTx(MinerTxError::UntaggedOutput(0)))
        );
    }

    #[test]
    fn height() {
        let c = good();
        assert_eq!(
            check_candidate(&c, HEIGHT + 1, &COMMITMENT, 10),
            Err(MoneroRejectReason::Height {
                got: HEIGHT,
                want: HEIGHT + 1
            })
        );
    }

    #[test]
    fn commitment() {
        let c = good();
        assert_eq!(
            check_candidate(&c, HEIGHT, &[0xc1; 32], 10),
            Err(MoneroRejectReason::Commitment)
        );
    }

    #[test]
    fn payout_count() {
        let c = good();
        assert_eq!(
            check_candidate(&c, HEIGHT, &COMMITMENT, 2),
            Err(MoneroRejectReason::PayoutCount { count: 3, max: 2 })
        );
        assert!(check_candidate(&c, HEIGHT, &COMMITMENT, 3).is_ok());
        // No outputs at all (no additional keys either, so the layout holds).
        let mut c = good_with(&[1]);
        c.miner_tx.outputs.clear();
        assert_eq!(
            check(&c),
            Err(MoneroRejectReason::PayoutCount { count: 0, max: 10 })
        );
    }

    #[test]
    fn reward_overflow() {
        let c = good_with(&[u64::MAX, 1]);
        assert_eq!(check(&c), Err(MoneroRejectReason::RewardOverflow));
    }

    #[test]
    fn reward_below_tail() {
        let c = good_with(&[300_000_000_000, 299_999_999_999]);
        assert_eq!(
            check(&c),
            Err(MoneroRejectReason::RewardBelowTail(599_999_999_999))
        );
        assert!(check(&good_with(&[300_000_000_000, 300_000_000_000])).is_ok());
    }
}
