//! A Monero block candidate as a share carries it: everything a node needs to recompute the
//! block's hashing blob and id, and to check the payouts, without the block's other
//! transactions.
//!
//! ```text
//! header       varint major, varint minor, varint timestamp, prev_id[32], nonce u32 LE
//! miner tx     varint(len) blob[len]          len <= MAX_MINER_TX_BYTES, Monero serialisation
//! tx_count     varint                         1..=MAX_TX_COUNT, the miner transaction included
//! tx_branch    branch_len_for(tx_count) x 32  leaf 0's siblings, bottom up (no count: derived)
//! seed_hash    [32]                           the RandomX key of the block's height
//! ```
//!
//! Decoding is strict and total: canonical varints, the miner transaction through Monero's
//! strict parser ([`MinerTx::parse`], whose re-serialisation is byte-identical), the branch
//! length fixed by the count, every length bounded before anything is allocated. So
//! `encode(decode(b)) == b` for every accepted `b`: a candidate has one encoding.
//!
//! Hashing blob (what RandomX hashes, Monero's `get_block_hashing_blob`): `header || tree root
//! || varint(tx_count)`, the tree root folded from the miner transaction's hash up its branch
//! ([`tree`](super::tree)); the block id is `Keccak(varint(len) || blob)`.

use super::block::{block_id_from_hashing_blob, BlockHeader, MinerTx, ParseError};
use super::hash::Hash32;
use super::tree::{branch_len_for, root_from_first_leaf};
use super::varint::{read_varint, write_varint, VarintError};

/// Most payouts a candidate's miner transaction can have: the pool parameters' ceiling
/// (`pool::limits::MAX_PAYOUT_OUTPUTS`).
pub const MAX_PAYOUTS: usize = crate::pool::limits::MAX_PAYOUT_OUTPUTS as usize;

/// Bytes of a miner transaction besides its outputs and additional keys, at most: version (1),
/// unlock time (10), input count (1), `txin_gen` tag (1), height (10), output count (3, enough
/// for 2^21), extra length (3), RingCT type (1) = 30; and in `tx_extra` the public key (33), the
/// additional keys' tag and count (1 + 3), the nonce's tag, length and bytes (1 + 2 + 255) and
/// the merge-mining tag (1 + 1 + 1 + 32) = 330.
const MINER_TX_FIXED_BYTES: usize = 30 + 330;
/// Bytes per payout, at most: the output (amount varint 10, tag 1, key 32, view tag 1) and its
/// additional key (32).
const MINER_TX_PER_PAYOUT_BYTES: usize = 10 + 1 + 32 + 1 + 32;
/// Longest miner transaction blob a candidate may carry: 360 + 1000 x 76 = 76,360 bytes. Any
/// transaction in the share layout ([`miner_tx`](super::miner_tx)) with at most
/// [`MAX_PAYOUTS`] outputs fits.
pub const MAX_MINER_TX_BYTES: usize =
    MINER_TX_FIXED_BYTES + MAX_PAYOUTS * MINER_TX_PER_PAYOUT_BYTES;

/// Most transactions in a block, the miner transaction included: Monero refuses a block with
/// more than `CRYPTONOTE_MAX_TX_PER_BLOCK` = 2^28 other transactions when it deserialises it
/// (`cryptonote_basic.h`). (By weight the bound is far away: the block weight limit is twice the
/// effective median, and 2^28 transactions of at least ~1.5 kB would weigh ~400 GB.) So the
/// branch holds at most 28 hashes.
pub const MAX_TX_COUNT: u64 = (1 << 28) + 1;

/// Longest encoding of a candidate: header (2 + 2 + 10 + 32 + 4), miner transaction length
/// (3) and blob, count (5), branch (28 x 32), seed hash (32).
pub const MAX_CANDIDATE_BYTES: usize = 50 + 3 + MAX_MINER_TX_BYTES + 5 + 28 * 32 + 32;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MoneroCandidate {
    pub header: BlockHeader,
    pub miner_tx: MinerTx,
    /// Siblings of the miner transaction's hash (leaf 0), bottom up.
    pub tx_branch: Vec<Hash32>,
    /// Transactions in the block, the miner transaction included.
    pub tx_count: u64,
    /// The RandomX key (seed hash) of the block's height.
    pub seed_hash: Hash32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CandidateError {
    #[error("candidate truncated at byte {0}")]
    Truncated(usize),
    #[error("bad varint at byte {at}: {err}")]
    Varint { at: usize, err: VarintError },
    #[error("{0} does not fit a byte")]
    OutOfRange(&'static str),
    #[error("miner transaction of {0} bytes exceeds {MAX_MINER_TX_BYTES}")]
    MinerTxTooLong(u64),
    #[error("miner transaction: {0}")]
    MinerTx(ParseError),
    #[error("transaction count {0} is outside 1..={MAX_TX_COUNT}")]
    TxCount(u64),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CandidateError> {
        let s = self
            .buf
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or(CandidateError::Truncated(self.pos))?;
        self.pos += n;
        Ok(s)
    }

    fn array32(&mut self) -> Result<Hash32, CandidateError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.bytes(32)?);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, CandidateError> {
        let (v, n) = read_varint(&self.buf[self.pos..]).map_err(|err| match err {
            VarintError::Truncated => CandidateError::Truncated(self.pos),
            err => CandidateError::Varint { at: self.pos, err },
        })?;
        self.pos += n;
        Ok(v)
    }

    fn u8_varint(&mut self, what: &'static str) -> Result<u8, CandidateError> {
        u8::try_from(self.varint()?).map_err(|_| CandidateError::OutOfRange(what))
    }
}

impl MoneroCandidate {
    /// Appends the canonical encoding (see the module doc).
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.header.write(out);
        let tx = self.miner_tx.serialize();
        write_varint(out, tx.len() as u64);
        out.extend_from_slice(&tx);
        write_varint(out, self.tx_count);
        for h in &self.tx_branch {
            out.extend_from_slice(h);
        }
        out.extend_from_slice(&self.seed_hash);
    }

    /// Decodes a candidate from the start of `r`; returns it and the bytes it took (what
    /// follows is the caller's).
    pub fn decode(r: &[u8]) -> Result<(MoneroCandidate, usize), CandidateError> {
        let mut r = Reader { buf: r, pos: 0 };
        let header = BlockHeader {
            major_version: r.u8_varint("major_version")?,
            minor_version: r.u8_varint("minor_version")?,
            timestamp: r.varint()?,
            prev_id: r.array32()?,
            nonce: {
                let mut n = [0u8; 4];
                n.copy_from_slice(r.bytes(4)?);
                u32::from_le_bytes(n)
            },
        };
        let tx_len = r.varint()?;
        if tx_len > MAX_MINER_TX_BYTES as u64 {
            return Err(CandidateError::MinerTxTooLong(tx_len));
        }
        let miner_tx =
            MinerTx::parse(r.bytes(tx_len as usize)?).map_err(CandidateError::MinerTx)?;
        let tx_count = r.varint()?;
        if tx_count == 0 || tx_count > MAX_TX_COUNT {
            return Err(CandidateError::TxCount(tx_count));
        }
        // tx_count >= 1, so there is a length, and it is at most 28.
        let branch_len = branch_len_for(tx_count).ok_or(CandidateError::TxCount(tx_count))?;
        let mut tx_branch = Vec::with_capacity(branch_len);
        for _ in 0..branch_len {
            tx_branch.push(r.array32()?);
        }
        let seed_hash = r.array32()?;
        Ok((
            MoneroCandidate {
                header,
                miner_tx,
                tx_branch,
                tx_count,
                seed_hash,
            },
            r.pos,
        ))
    }

    /// The transaction tree root: the miner transaction's hash folded up the branch.
    pub fn tx_tree_root(&self) -> Hash32 {
        root_from_first_leaf(&self.miner_tx.hash(), &self.tx_branch)
    }

    /// What RandomX hashes: `header || tree root || varint(tx_count)`.
    pub fn hashing_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(50 + 32 + 5);
        self.header.write(&mut out);
        out.extend_from_slice(&self.tx_tree_root());
        write_varint(&mut out, self.tx_count);
        out
    }

    /// The Monero block id this candidate would have.
    pub fn id(&self) -> Hash32 {
        block_id_from_hashing_blob(&self.hashing_blob())
    }

    /// The sum of the miner transaction's outputs, `None` on overflow.
    pub fn reward(&self) -> Option<u64> {
        self.miner_tx.total_amount()
    }

    /// Offset of the 4-byte nonce in the hashing blob (and the block blob).
    pub fn nonce_offset(&self) -> usize {
        self.header.nonce_offset()
    }
}

#[cfg(test)]
mod tests {
    use super::super::block::{Block, OutputTarget, TxOut};
    use super::super::hash::keccak256;
    use super::super::tree::first_leaf_branch;
    use super::*;
    use proptest::prelude::*;

    fn miner_tx(outputs: usize) -> MinerTx {
        MinerTx {
            version: 2,
            unlock_time: 160,
            height: 100,
            outputs: (0..outputs)
                .map(|i| TxOut {
                    amount: 1 + i as u64,
                    target: OutputTarget::TaggedKey {
                        key: [i as u8; 32],
                        view_tag: 7,
                    },
                })
                .collect(),
            extra: vec![1; 40],
        }
    }

    fn candidate(tx_count: u64) -> (MoneroCandidate, Block) {
        let header = BlockHeader {
            major_version: 16,
            minor_version: 16,
            timestamp: 1_700_000_000,
            prev_id: [4; 32],
            nonce: 0xdead_beef,
        };
        let tx_hashes: Vec<Hash32> = (1..tx_count).map(|i| keccak256(&i.to_le_bytes())).collect();
        let block = Block {
            header: header.clone(),
            miner_tx: miner_tx(3),
            tx_hashes,
        };
        let mut leaves = vec![block.miner_tx.hash()];
        leaves.extend_from_slice(&block.tx_hashes);
        let c = MoneroCandidate {
            header,
            miner_tx: block.miner_tx.clone(),
            tx_branch: first_leaf_branch(&leaves),
            tx_count,
            seed_hash: [9; 32],
        };
        (c, block)
    }

    #[test]
    fn hashing_blob_and_id_equal_the_full_blocks() {
        for n in [1u64, 2, 3, 4, 5, 17, 64, 100] {
            let (c, block) = candidate(n);
            assert_eq!(c.hashing_blob(), block.hashing_blob(), "n = {n}");
            assert_eq!(c.id(), block.id());
            assert_eq!(c.nonce_offset(), block.header.nonce_offset());
            let at = c.nonce_offset();
            assert_eq!(&c.hashing_blob()[at..at + 4], &0xdead_beefu32.to_le_bytes());
            assert_eq!(c.reward(), Some(6));
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let (c, _) = candidate(5);
        let mut enc = Vec::new();
        c.encode(&mut enc);
        assert_eq!(MoneroCandidate::decode(&enc), Ok((c.clone(), enc.len())));
        // Trailing bytes are the caller's.
        let mut more = enc.clone();
        more.extend_from_slice(b"next");
        assert_eq!(MoneroCandidate::decode(&more), Ok((c.clone(), enc.len())));
        for cut in 0..enc.len() {
            assert!(MoneroCandidate::decode(&enc[..cut]).is_err(), "cut {cut}");
        }
        // A count of 0, or above Monero's cap; a branch that does not match the count is a
        // truncation or leaves bytes that are not a seed hash.
        let with_count = |count: u64| {
            let mut c2 = c.clone();
            c2.tx_count = count;
            let mut e = Vec::new();
            c2.encode(&mut e);
            MoneroCandidate::decode(&e)
        };
        assert_eq!(with_count(0), Err(CandidateError::TxCount(0)));
        assert_eq!(
            with_count(MAX_TX_COUNT + 1),
            Err(CandidateError::TxCount(MAX_TX_COUNT + 1))
        );
        assert!(matches!(with_count(16), Err(CandidateError::Truncated(_))));
        let (short, used) = with_count(2).unwrap();
        assert_eq!(short.tx_branch.len(), 1);
        assert!(used < enc.len());
        // A miner transaction longer than the bound is refused before reading it.
        let mut e = Vec::new();
        c.header.write(&mut e);
        write_varint(&mut e, MAX_MINER_TX_BYTES as u64 + 1);
        assert_eq!(
            MoneroCandidate::decode(&e),
            Err(CandidateError::MinerTxTooLong(
                MAX_MINER_TX_BYTES as u64 + 1
            ))
        );
        // A major version of 256.
        let mut e = vec![0x80, 0x02];
        e.extend_from_slice(&enc[1..]);
        assert_eq!(
            MoneroCandidate::decode(&e),
            Err(CandidateError::OutOfRange("major_version"))
        );
        // A non-canonical varint in the timestamp.
        let mut e = Vec::new();
        e.extend_from_slice(&[16, 16, 0x81, 0x00]);
        e.extend_from_slice(&enc[2 + super::super::varint::varint_len(1_700_000_000)..]);
        assert!(matches!(
            MoneroCandidate::decode(&e),
            Err(CandidateError::Varint { .. })
        ));
    }

    #[test]
    fn the_largest_share_miner_tx_fits() {
        use super::super::miner_tx::build_miner_tx;
        use super::super::outputs::PayoutOutputs;
        let p = PayoutOutputs {
            tx_public: [1; 32],
            additional: vec![[2; 32]; MAX_PAYOUTS],
            outputs: (0..MAX_PAYOUTS)
                .map(|_| TxOut {
                    amount: u64::MAX,
                    target: OutputTarget::TaggedKey {
                        key: [3; 32],
                        view_tag: 4,
                    },
                })
                .collect(),
        };
        let tx = build_miner_tx(u64::MAX - 60, &p, &[5; 255], &[6; 32]).unwrap();
        let len = tx.serialize().len();
        assert!(len <= MAX_MINER_TX_BYTES, "{len}");
        let c = MoneroCandidate {
            header: BlockHeader {
                major_version: 255,
                minor_version: 255,
                timestamp: u64::MAX,
                prev_id: [0; 32],
                nonce: 0,
            },
            miner_tx: tx,
            tx_branch: vec![[7; 32]; 28],
            tx_count: MAX_TX_COUNT,
            seed_hash: [8; 32],
        };
        let mut e = Vec::new();
        c.encode(&mut e);
        assert!(e.len() <= MAX_CANDIDATE_BYTES, "{}", e.len());
        assert_eq!(MoneroCandidate::decode(&e), Ok((c, e.len())));
    }

    fn arb_candidate() -> impl Strategy<Value = MoneroCandidate> {
        (
            any::<(u8, u8, u64, [u8; 32], u32)>(),
            0usize..4,
            proptest::collection::vec(any::<u8>(), 0..60),
            1u64..3000,
            any::<[u8; 32]>(),
        )
            .prop_map(|((ma, mi, t, p, n), outs, extra, tx_count, seed)| {
                let mut tx = miner_tx(outs);
                tx.extra = extra;
                let len = branch_len_for(tx_count).unwrap();
                MoneroCandidate {
                    header: BlockHeader {
                        major_version: ma,
                        minor_version: mi,
                        timestamp: t,
                        prev_id: p,
                        nonce: n,
                    },
                    miner_tx: tx,
                    tx_branch: (0..len).map(|i| [i as u8; 32]).collect(),
                    tx_count,
                    seed_hash: seed,
                }
            })
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(c in arb_candidate()) {
            let mut e = Vec::new();
            c.encode(&mut e);
            prop_assert_eq!(MoneroCandidate::decode(&e), Ok((c, e.len())));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok((c, n)) = MoneroCandidate::decode(&bytes) {
                let mut e = Vec::new();
                c.encode(&mut e);
                prop_assert_eq!(&e[..], &bytes[..n]);
            }
        }

        #[test]
        fn mutated_candidates_are_canonical(c in arb_candidate(), at in any::<usize>(), byte in any::<u8>()) {
            let mut e = Vec::new();
            c.encode(&mut e);
            let i = at % e.len();
            e[i] = byte;
            if let Ok((d, n)) = MoneroCandidate::decode(&e) {
                let mut again = Vec::new();
                d.encode(&mut again);
                prop_assert_eq!(&again[..], &e[..n]);
            }
        }
    }
}
