//! The share encoding: every share within the format's limits round-trips bit for bit, and
//! `Share::decode` never panics on any input and accepts only bytes it would write itself.

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Txid, Witness,
};
use common::*;
use otedama_consensus::share::{
    BitcoinCandidate, DecodeError, MAX_BRANCH_LEN, MAX_PAYOUT_SCRIPT_LEN, MAX_SHARE_BYTES,
};
use otedama_consensus::{check_stateless, PayoutScript, Share, ShareHash, SideData};
use proptest::prelude::*;

const MAX_UNCLES: usize = otedama_consensus::pool::limits::MAX_UNCLES;

fn bytes(len: impl Into<prop::collection::SizeRange>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), len)
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<i32>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(version, prev, root, time, bits, nonce)| Header {
            version: BlockVersion::from_consensus(version),
            prev_blockhash: BlockHash::from_byte_array(prev),
            merkle_root: TxMerkleNode::from_byte_array(root),
            time,
            bits: CompactTarget::from_consensus(bits),
            nonce,
        })
}

fn tx_in() -> impl Strategy<Value = TxIn> {
    (
        prop_oneof![
            Just(OutPoint::null()),
            (any::<[u8; 32]>(), any::<u32>())
                .prop_map(|(t, v)| OutPoint::new(Txid::from_byte_array(t), v)),
        ],
        bytes(0..=100),
        any::<u32>(),
        // Witness items: none (legacy form) or a few, possibly empty ones.
        prop::collection::vec(bytes(0..=40), 0..=3),
    )
        .prop_map(|(previous_output, sig, sequence, items)| TxIn {
            previous_output,
            script_sig: ScriptBuf::from_bytes(sig),
            sequence: Sequence(sequence),
            witness: Witness::from_slice(&items),
        })
}

fn tx_out() -> impl Strategy<Value = TxOut> {
    (any::<u64>(), bytes(0..=MAX_PAYOUT_SCRIPT_LEN + 10)).prop_map(|(v, s)| TxOut {
        value: Amount::from_sat(v),
        script_pubkey: ScriptBuf::from_bytes(s),
    })
}

/// Coinbase-like transactions: one or two inputs (the encoding does not care whether they are
/// a valid coinbase), up to 40 outputs.
fn coinbase() -> impl Strategy<Value = Transaction> {
    (
        any::<i32>(),
        prop::collection::vec(tx_in(), 1..=2),
        prop::collection::vec(tx_out(), 0..=40),
        any::<u32>(),
    )
        .prop_map(|(version, input, output, lock)| Transaction {
            version: Version(version),
            lock_time: LockTime::from_consensus(lock),
            input,
            output,
        })
}

fn side() -> impl Strategy<Value = SideData> {
    (
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u32>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        bytes(1..=MAX_PAYOUT_SCRIPT_LEN),
        prop::collection::vec(any::<[u8; 32]>(), 0..=MAX_UNCLES),
    )
        .prop_map(
            |(prev, height, bits, timestamp, parent_height, software_version, script, uncles)| {
                SideData {
                    prev_share: ShareHash::from_byte_array(prev),
                    height,
                    share_bits: CompactTarget::from_consensus(bits),
                    timestamp,
                    parent_height,
                    software_version,
                    payout_script: PayoutScript::new(&script),
                    uncles: uncles.into_iter().map(ShareHash::from_byte_array).collect(),
                }
            },
        )
}

/// Any share within the format's limits (not necessarily valid under the consensus rules).
fn share() -> impl Strategy<Value = Share> {
    (
        header(),
        coinbase(),
        prop::collection::vec(any::<[u8; 32]>(), 0..=MAX_BRANCH_LEN),
        side(),
    )
        .prop_map(|(header, coinbase, branch, side)| Share {
            candidate: BitcoinCandidate {
                header,
                coinbase,
                merkle_branch: branch
                    .into_iter()
                    .map(TxMerkleNode::from_byte_array)
                    .collect(),
            }
            .into(),
            side,
        })
}

/// Decoding must not panic, and whatever decodes must re-encode to exactly the input.
fn check_decode(bytes: &[u8]) -> Result<Share, DecodeError> {
    let got = Share::decode(bytes);
    if let Ok(s) = &got {
        assert_eq!(s.encode(), bytes, "decoded bytes re-encode differently");
    }
    got
}

// Default 256 cases each; raise with PROPTEST_CASES for a longer hunt.
proptest! {
    #[test]
    fn shares_round_trip_bit_for_bit(s in share()) {
        let bytes = s.encode();
        prop_assert!(bytes.len() <= MAX_SHARE_BYTES);
        let back = Share::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &s);
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back.id(), s.id());
        prop_assert_eq!(
            back.side.commitment(&common::pool(20).consensus_id()),
            s.side.commitment(&common::pool(20).consensus_id())
        );
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(b in bytes(0..600)) {
        check_decode(&b).ok();
    }

    #[test]
    fn decode_never_panics_on_bytes_with_the_right_version(b in bytes(0..1200)) {
        let mut v = 1u32.to_le_bytes().to_vec();
        v.extend_from_slice(&b);
        check_decode(&v).ok();
    }

    #[test]
    fn mutated_encodings_error_or_re_encode_identically(
        s in share(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..=3),
    ) {
        let mut b = s.encode();
        for (i, v) in mutations {
            let i = i.index(b.len());
            b[i] = v;
        }
        check_decode(&b).ok();
    }

    #[test]
    fn single_byte_edits_error_or_re_encode_identically(
        s in share(),
        at in any::<prop::sample::Index>(),
        v in any::<u8>(),
        kind in 0..3u8,
    ) {
        let mut b = s.encode();
        let i = at.index(b.len());
        match kind {
            0 => b[i] ^= v | 1,
            1 => b.insert(i, v),
            _ => {
                b.remove(i);
            }
        }
        check_decode(&b).ok();
    }

    /// The coinbase is where redundant encodings could hide: flip its bytes in particular.
    #[test]
    fn coinbase_byte_edits_error_or_re_encode_identically(
        s in share(),
        at in any::<prop::sample::Index>(),
        v in any::<u8>(),
    ) {
        let mut b = s.encode();
        let cb_len = u32::from_le_bytes(b[84..88].try_into().unwrap()) as usize;
        let i = 88 + at.index(cb_len);
        b[i] = v;
        check_decode(&b).ok();
    }

    #[test]
    fn truncations_are_always_truncated(s in share(), at in any::<prop::sample::Index>()) {
        let b = s.encode();
        let n = at.index(b.len());
        prop_assert_eq!(check_decode(&b[..n]), Err(DecodeError::Truncated));
    }
}

/// Real shares (the builder's coinbase, uncles, witness commitment) round-trip and stay valid.
#[test]
fn mined_shares_round_trip_and_stay_valid() {
    let mut m = Miner::new(pool(20));
    let ids = m.extend(None, 6, 3, T0);
    let parent = ids[4];
    let u1 = m.mine(Some(ids[3]), 8, T0 + 35, vec![]);
    let u2 = m.mine(Some(ids[4]), 9, T0 + 45, vec![]);
    let job = m.job(Some(ids[5]), 7, T0 + 60, vec![u1, u2]);
    let with_uncles = m.grind(&job);
    let mut genesis_job = m.job(None, 7, T0, vec![]);
    rebuild(&m.pool, &mut genesis_job, false);
    let without_witness = m.grind(&genesis_job);
    let job = m.job(Some(parent), 1, T0 + 50, vec![]);
    let plain = m.grind(&job);
    for s in [with_uncles, without_witness, plain] {
        let bytes = s.encode();
        let back = Share::decode(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.encode(), bytes);
        assert_eq!(back.id(), s.id());
        assert_eq!(
            check_stateless(&m.pool, &back, m.pool.chain.stateless_pow()),
            check_stateless(&m.pool, &s, m.pool.chain.stateless_pow())
        );
        assert!(check_stateless(&m.pool, &back, m.pool.chain.stateless_pow()).is_ok());
    }
}
