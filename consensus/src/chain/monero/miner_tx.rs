//! The one layout of a share's miner transaction, and its strict inverse.
//!
//! ```text
//! version      2                      (RingCT; every coinbase since hard fork 12)
//! unlock_time  height + 60            (CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW; exact since HF 13)
//! input        txin_gen(height)
//! outputs      txout_to_tagged_key, amount > 0   (the only output type from HF 16)
//! extra        0x01 R[32]                                   tx public key
//!              [0x04 varint(k) k x key[32]]                 additional keys, k = outputs, iff any
//!              0x02 varint(len) nonce[len]                  extra nonce, len <= 255
//!              0x03 varint(33) varint(0) commitment[32]     merge-mining tag, depth 0
//! rct type     0x00                   (RCTTypeNull)
//! ```
//!
//! The `tx_extra` fields are in the order Monero's `sort_tx_extra` puts them (public key,
//! additional keys, nonce, merge mining), each as Monero serialises it (`tx_extra.h`): the nonce
//! is a `std::string` (varint length, at most `TX_EXTRA_NONCE_MAX_COUNT` = 255 bytes), the
//! merge-mining tag a `std::string` holding `varint depth || merkle_root[32]`, which is what
//! `add_mm_merkle_root_to_tx_extra` writes (`03 21 00 root` for depth 0). Monero itself does not
//! look inside a coinbase's merge-mining tag; P2Pool puts its sidechain id there (its "depth"
//! varint carries merge-mining tree data). Here it carries the share's 32-byte commitment at
//! depth 0, which ties the Monero block to exactly one share.
//!
//! [`parse_miner_tx`] refuses every other layout (another version or unlock time, an untagged
//! output, a zero amount, a missing, repeated, reordered or unknown `tx_extra` field, a
//! non-canonical varint, padding, trailing bytes), so a share's miner transaction has one
//! encoding and `build_miner_tx(parse_miner_tx(tx)) == tx`.

use super::block::{
    MinerTx, OutputTarget, TxOut, EXTRA_TAG_ADDITIONAL_PUBKEYS, EXTRA_TAG_MERGE_MINING,
    EXTRA_TAG_NONCE, EXTRA_TAG_PUBKEY, MAX_EXTRA_NONCE, TX_VERSION_2,
};
use super::hash::Hash32;
use super::outputs::PayoutOutputs;
use super::varint::{read_varint, write_varint};

/// `CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW`: a coinbase unlocks 60 blocks after its own.
pub const MINED_MONEY_UNLOCK_WINDOW: u64 = 60;
/// Depth of the merge-mining tag: 0, a single commitment rather than a merkle tree of chains.
pub const MERGE_MINING_DEPTH: u64 = 0;
/// Length of the merge-mining field's body: varint(0) (1 byte) + the commitment (32).
const MERGE_MINING_BODY: u64 = 1 + 32;

/// What a share's miner transaction carries besides its outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinerTxParts {
    /// The main transaction public key (tag 0x01).
    pub tx_public: Hash32,
    /// The additional public keys (tag 0x04), one per output, or empty.
    pub additional: Vec<Hash32>,
    /// The extra nonce (tag 0x02), 0 to 255 bytes.
    pub extra_nonce: Vec<u8>,
    /// The share commitment (tag 0x03 at depth 0).
    pub commitment: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MinerTxError {
    #[error("miner transaction version {0} is not 2")]
    Version(u64),
    #[error("unlock time {unlock_time} is not height {height} + 60")]
    UnlockTime { unlock_time: u64, height: u64 },
    #[error("height {0} + 60 overflows")]
    HeightOverflow(u64),
    #[error("output {0} is not txout_to_tagged_key")]
    UntaggedOutput(usize),
    #[error("output {0} has amount 0")]
    ZeroAmount(usize),
    #[error("extra nonce of {0} bytes exceeds {MAX_EXTRA_NONCE}")]
    ExtraNonceTooLong(u64),
    #[error("{keys} additional keys for {outputs} outputs")]
    AdditionalCount { keys: u64, outputs: usize },
    #[error("tx_extra byte {at}: expected {expected}")]
    ExtraField { at: usize, expected: &'static str },
    #[error("tx_extra truncated in the field at byte {0}")]
    ExtraTruncated(usize),
    #[error("tx_extra byte {0}: bad varint")]
    ExtraVarint(usize),
    #[error("tx_extra byte {0}: merge-mining tag is not depth 0 with a 32-byte commitment")]
    MergeMining(usize),
    #[error("{0} bytes after the merge-mining tag")]
    ExtraTrailing(usize),
    #[error("extra nonce of {got} bytes where the share has {expected}")]
    ExtraNonceLength { expected: usize, got: usize },
}

/// The `tx_extra` of the layout above.
fn write_extra(
    tx_public: &Hash32,
    additional: &[Hash32],
    extra_nonce: &[u8],
    commitment: &[u8; 32],
) -> Vec<u8> {
    let mut e = Vec::with_capacity(33 + 3 + 32 * additional.len() + 3 + extra_nonce.len() + 35);
    e.push(EXTRA_TAG_PUBKEY);
    e.extend_from_slice(tx_public);
    if !additional.is_empty() {
        e.push(EXTRA_TAG_ADDITIONAL_PUBKEYS);
        write_varint(&mut e, additional.len() as u64);
        for k in additional {
            e.extend_from_slice(k);
        }
    }
    e.push(EXTRA_TAG_NONCE);
    write_varint(&mut e, extra_nonce.len() as u64);
    e.extend_from_slice(extra_nonce);
    e.push(EXTRA_TAG_MERGE_MINING);
    write_varint(&mut e, MERGE_MINING_BODY);
    write_varint(&mut e, MERGE_MINING_DEPTH);
    e.extend_from_slice(commitment);
    e
}

/// Refuses what the layout does not allow in the outputs.
fn check_outputs(outputs: &[TxOut]) -> Result<(), MinerTxError> {
    for (i, o) in outputs.iter().enumerate() {
        if !matches!(o.target, OutputTarget::TaggedKey { .. }) {
            return Err(MinerTxError::UntaggedOutput(i));
        }
        if o.amount == 0 {
            return Err(MinerTxError::ZeroAmount(i));
        }
    }
    Ok(())
}

/// The miner transaction of a share at Monero height `height` paying `outputs`, with
/// `extra_nonce` (at most [`MAX_EXTRA_NONCE`] bytes) and the share `commitment`. Errors for what
/// [`parse_miner_tx`] would refuse: a too-long nonce, a height whose unlock time overflows, an
/// untagged output or a zero amount, additional keys not one per output.
pub fn build_miner_tx(
    height: u64,
    outputs: &PayoutOutputs,
    extra_nonce: &[u8],
    commitment: &[u8; 32],
) -> Result<MinerTx, MinerTxError> {
    if extra_nonce.len() > MAX_EXTRA_NONCE {
        return Err(MinerTxError::ExtraNonceTooLong(extra_nonce.len() as u64));
    }
    let unlock_time = height
        .checked_add(MINED_MONEY_UNLOCK_WINDOW)
        .ok_or(MinerTxError::HeightOverflow(height))?;
    if !outputs.additional.is_empty() && outputs.additional.len() != outputs.outputs.len() {
        return Err(MinerTxError::AdditionalCount {
            keys: outputs.additional.len() as u64,
            outputs: outputs.outputs.len(),
        });
    }
    check_outputs(&outputs.outputs)?;
    Ok(MinerTx {
        version: TX_VERSION_2,
        unlock_time,
        height,
        outputs: outputs.outputs.clone(),
        extra: write_extra(
            &outputs.tx_public,
            &outputs.additional,
            extra_nonce,
            commitment,
        ),
    })
}

/// `tx` with its extra nonce replaced by `extra_nonce` of the same length: how each rig or
/// worker thread gets its own work from one built share without deriving the payout outputs
/// again (the outputs, keys and commitment do not depend on the nonce). Same length, so the
/// transaction's size and so the block's weight and reward stay what the share was built for.
pub fn with_extra_nonce(tx: &MinerTx, extra_nonce: &[u8]) -> Result<MinerTx, MinerTxError> {
    let parts = parse_miner_tx(tx)?;
    if parts.extra_nonce.len() != extra_nonce.len() {
        return Err(MinerTxError::ExtraNonceLength {
            expected: parts.extra_nonce.len(),
            got: extra_nonce.len(),
        });
    }
    Ok(MinerTx {
        extra: write_extra(
            &parts.tx_public,
            &parts.additional,
            extra_nonce,
            &parts.commitment,
        ),
        ..tx.clone()
    })
}

/// A cursor over `tx_extra` that names the field it failed in.
struct Extra<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Extra<'a> {
    fn tag(&mut self, tag: u8, expected: &'static str) -> Result<(), MinerTxError> {
        match self.buf.get(self.pos) {
            Some(&t) if t == tag => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(MinerTxError::ExtraField {
                at: self.pos,
                expected,
            }),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn bytes(&mut self, n: usize, field: usize) -> Result<&'a [u8], MinerTxError> {
        let s = self
            .buf
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or(MinerTxError::ExtraTruncated(field))?;
        self.pos += n;
        Ok(s)
    }

    fn array32(&mut self, field: usize) -> Result<[u8; 32], MinerTxError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.bytes(32, field)?);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, MinerTxError> {
        let (v, n) =
            read_varint(&self.buf[self.pos..]).map_err(|_| MinerTxError::ExtraVarint(self.pos))?;
        self.pos += n;
        Ok(v)
    }
}

/// The parts of a share's miner transaction, or why it is not in the one layout (see the module
/// doc). Checks structure only: whether the keys are valid points and the outputs the right
/// ones is [`payouts_match`](super::outputs::payouts_match)'s job.
pub fn parse_miner_tx(tx: &MinerTx) -> Result<MinerTxParts, MinerTxError> {
    if tx.version != TX_VERSION_2 {
        return Err(MinerTxError::Version(tx.version));
    }
    if tx.height.checked_add(MINED_MONEY_UNLOCK_WINDOW) != Some(tx.unlock_time) {
        return Err(MinerTxError::UnlockTime {
            unlock_time: tx.unlock_time,
            height: tx.height,
        });
    }
    check_outputs(&tx.outputs)?;

    let mut e = Extra {
        buf: &tx.extra,
        pos: 0,
    };
    let field = e.pos;
    e.tag(EXTRA_TAG_PUBKEY, "the tx public key tag 0x01")?;
    let tx_public = e.array32(field)?;

    let mut additional = Vec::new();
    if e.peek() == Some(EXTRA_TAG_ADDITIONAL_PUBKEYS) {
        let field = e.pos;
        e.pos += 1;
        let k = e.varint()?;
        // At least one key (an empty field would be a second encoding of "none") and exactly
        // one per output; this also bounds the allocation by the outputs already parsed.
        if k == 0 || k != tx.outputs.len() as u64 {
            return Err(MinerTxError::AdditionalCount {
                keys: k,
                outputs: tx.outputs.len(),
            });
        }
        additional.reserve(tx.outputs.len());
        for _ in 0..k {
            additional.push(e.array32(field)?);
        }
    }

    let field = e.pos;
    e.tag(EXTRA_TAG_NONCE, "the extra nonce tag 0x02 (after the keys)")?;
    let len = e.varint()?;
    if len > MAX_EXTRA_NONCE as u64 {
        return Err(MinerTxError::ExtraNonceTooLong(len));
    }
    let extra_nonce = e.bytes(len as usize, field)?.to_vec();

    let field = e.pos;
    e.tag(
        EXTRA_TAG_MERGE_MINING,
        "the merge-mining tag 0x03 (after the nonce)",
    )?;
    if e.varint()? != MERGE_MINING_BODY || e.varint()? != MERGE_MINING_DEPTH {
        return Err(MinerTxError::MergeMining(field));
    }
    let commitment = e.array32(field)?;

    if e.pos != tx.extra.len() {
        return Err(MinerTxError::ExtraTrailing(tx.extra.len() - e.pos));
    }
    Ok(MinerTxParts {
        tx_public,
        additional,
        extra_nonce,
        commitment,
    })
}

#[cfg(test)]
mod tests {
    use super::super::block::{parse_extra, ExtraField};
    use super::*;
    use proptest::prelude::*;

    fn outs(n: usize) -> Vec<TxOut> {
        (0..n)
            .map(|i| TxOut {
                amount: 1 + i as u64,
                target: OutputTarget::TaggedKey {
                    key: [i as u8; 32],
                    view_tag: i as u8,
                },
            })
            .collect()
    }

    fn payout(n: usize, additional: bool) -> PayoutOutputs {
        PayoutOutputs {
            tx_public: [0xaa; 32],
            additional: if additional {
                (0..n).map(|i| [0xb0 + i as u8; 32]).collect()
            } else {
                vec![]
            },
            outputs: outs(n),
        }
    }

    #[test]
    fn the_extra_nonce_is_replaced_in_place_and_nothing_else_changes() {
        let p = payout(3, true);
        let tx = build_miner_tx(100, &p, &[0; 8], &[7; 32]).unwrap();
        let rolled = with_extra_nonce(&tx, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        assert_eq!(
            rolled,
            build_miner_tx(100, &p, &[1, 2, 3, 4, 5, 6, 7, 8], &[7; 32]).unwrap()
        );
        assert_eq!(rolled.serialize().len(), tx.serialize().len());
        assert_ne!(rolled.hash(), tx.hash());
        assert_eq!(
            with_extra_nonce(&tx, &[0; 7]),
            Err(MinerTxError::ExtraNonceLength {
                expected: 8,
                got: 7
            })
        );
    }

    #[test]
    fn layout_and_round_trip() {
        for (n, add) in [(1, false), (3, false), (3, true), (1, true)] {
            let p = payout(n, add);
            let tx = build_miner_tx(100, &p, b"nonce", &[7; 32]).unwrap();
            assert_eq!(tx.version, 2);
            assert_eq!(tx.unlock_time, 160);
            assert_eq!(tx.height, 100);
            let parts = parse_miner_tx(&tx).unwrap();
            assert_eq!(parts.tx_public, p.tx_public);
            assert_eq!(parts.additional, p.additional);
            assert_eq!(parts.extra_nonce, b"nonce");
            assert_eq!(parts.commitment, [7; 32]);
            // Monero's reading of the same extra (our general parser follows tx_extra.h).
            let mut want = vec![ExtraField::PubKey(p.tx_public)];
            if add {
                want.push(ExtraField::AdditionalPubKeys(p.additional.clone()));
            }
            want.push(ExtraField::Nonce(b"nonce".to_vec()));
            want.push(ExtraField::MergeMining {
                depth: 0,
                merkle_root: [7; 32],
            });
            assert_eq!(parse_extra(&tx.extra).unwrap(), want);
            // The byte-level round trip through the blob parser.
            assert_eq!(MinerTx::parse(&tx.serialize()).unwrap(), tx);
        }
        // The merge-mining tag as add_mm_merkle_root_to_tx_extra writes it for depth 0.
        let tx = build_miner_tx(1, &payout(1, false), &[], &[9; 32]).unwrap();
        let tail = &tx.extra[tx.extra.len() - 35..];
        assert_eq!(&tail[..3], &[0x03, 0x21, 0x00]);
        assert_eq!(&tail[3..], &[9; 32]);
        // Empty and longest (two-byte varint length) nonces.
        for len in [0usize, 127, 128, 255] {
            let nonce = vec![0x5a; len];
            let tx = build_miner_tx(5, &payout(2, true), &nonce, &[1; 32]).unwrap();
            assert_eq!(parse_miner_tx(&tx).unwrap().extra_nonce, nonce);
            assert!(parse_extra(&tx.extra).is_ok());
        }
    }

    #[test]
    fn build_refusals() {
        let p = payout(2, false);
        assert_eq!(
            build_miner_tx(1, &p, &[0; 256], &[0; 32]),
            Err(MinerTxError::ExtraNonceTooLong(256))
        );
        assert_eq!(
            build_miner_tx(u64::MAX - 59, &p, &[], &[0; 32]),
            Err(MinerTxError::HeightOverflow(u64::MAX - 59))
        );
        assert!(build_miner_tx(u64::MAX - 60, &p, &[], &[0; 32]).is_ok());
        let mut q = p.clone();
        q.additional = vec![[1; 32]];
        assert!(matches!(
            build_miner_tx(1, &q, &[], &[0; 32]),
            Err(MinerTxError::AdditionalCount { .. })
        ));
        let mut q = p.clone();
        q.outputs[1].amount = 0;
        assert_eq!(
            build_miner_tx(1, &q, &[], &[0; 32]),
            Err(MinerTxError::ZeroAmount(1))
        );
        let mut q = p;
        q.outputs[0].target = OutputTarget::Key([1; 32]);
        assert_eq!(
            build_miner_tx(1, &q, &[], &[0; 32]),
            Err(MinerTxError::UntaggedOutput(0))
        );
    }

    fn good() -> MinerTx {
        build_miner_tx(1000, &payout(2, true), b"xn", &[3; 32]).unwrap()
    }

    /// The extra of `good()` rebuilt from fields, to splice in bad ones.
    fn extra_with(f: impl FnOnce(&mut Vec<Vec<u8>>)) -> MinerTx {
        let p = payout(2, true);
        let mut fields = vec![
            [&[EXTRA_TAG_PUBKEY][..], &p.tx_public].concat(),
            [
                &[EXTRA_TAG_ADDITIONAL_PUBKEYS, 2][..],
                &p.additional[0],
                &p.additional[1],
            ]
            .concat(),
            vec![EXTRA_TAG_NONCE, 2, b'x', b'n'],
            [&[EXTRA_TAG_MERGE_MINING, 33, 0][..], &[3; 32]].concat(),
        ];
        f(&mut fields);
        MinerTx {
            extra: fields.concat(),
            ..good()
        }
    }

    #[test]
    fn parse_refusals() {
        assert!(parse_miner_tx(&extra_with(|_| {})).is_ok());
        let t = MinerTx {
            version: 1,
            ..good()
        };
        assert_eq!(parse_miner_tx(&t), Err(MinerTxError::Version(1)));
        let t = MinerTx {
            unlock_time: 1059,
            ..good()
        };
        assert!(matches!(
            parse_miner_tx(&t),
            Err(MinerTxError::UnlockTime { .. })
        ));
        let mut t = good();
        t.outputs[1].target = OutputTarget::Key([1; 32]);
        assert_eq!(parse_miner_tx(&t), Err(MinerTxError::UntaggedOutput(1)));
        let mut t = good();
        t.outputs[0].amount = 0;
        assert_eq!(parse_miner_tx(&t), Err(MinerTxError::ZeroAmount(0)));

        let field_err =
            |t: &MinerTx| matches!(parse_miner_tx(t), Err(MinerTxError::ExtraField { .. }));
        // Out of order: nonce before the additional keys; merge mining before the nonce.
        assert!(field_err(&extra_with(|f| f.swap(1, 2))));
        assert!(field_err(&extra_with(|f| f.swap(2, 3))));
        // The pubkey not first, missing, or repeated.
        assert!(field_err(&extra_with(|f| f.swap(0, 1))));
        assert!(field_err(&extra_with(|f| {
            f.remove(0);
        })));
        assert!(field_err(&extra_with(|f| {
            let pk = f[0].clone();
            f.insert(1, pk);
        })));
        // Missing nonce or merge-mining tag.
        assert!(field_err(&extra_with(|f| {
            f.remove(2);
        })));
        assert!(matches!(
            parse_miner_tx(&extra_with(|f| {
                f.remove(3);
            })),
            Err(MinerTxError::ExtraField { .. })
        ));
        // Repeated nonce or additional keys; an unknown tag; padding.
        assert!(field_err(&extra_with(|f| {
            let n = f[2].clone();
            f.insert(2, n);
        })));
        assert!(field_err(&extra_with(|f| {
            let a = f[1].clone();
            f.insert(1, a);
        })));
        assert!(field_err(&extra_with(|f| f.insert(3, vec![0xde, 0]))));
        assert!(matches!(
            parse_miner_tx(&extra_with(|f| f.push(vec![0, 0]))),
            Err(MinerTxError::ExtraTrailing(2))
        ));
        assert!(matches!(
            parse_miner_tx(&extra_with(
                |f| f.push([&[EXTRA_TAG_MERGE_MINING, 33, 0][..], &[3; 32]].concat())
            )),
            Err(MinerTxError::ExtraTrailing(35))
        ));
        // Additional keys: zero, or not one per output.
        assert!(matches!(
            parse_miner_tx(&extra_with(|f| f[1] = vec![EXTRA_TAG_ADDITIONAL_PUBKEYS, 0])),
            Err(MinerTxError::AdditionalCount { keys: 0, .. })
        ));
        assert!(matches!(
            parse_miner_tx(&extra_with(
                |f| f[1] = [&[EXTRA_TAG_ADDITIONAL_PUBKEYS, 1][..], &[1; 32]].concat()
            )),
            Err(MinerTxError::AdditionalCount { keys: 1, .. })
        ));
        // Nonce: non-canonical length, too long, truncated.
        assert!(matches!(
            parse_miner_tx(&extra_with(
                |f| f[2] = vec![EXTRA_TAG_NONCE, 0x82, 0x00, b'x', b'n']
            )),
            Err(MinerTxError::ExtraVarint(_))
        ));
        assert!(matches!(
            parse_miner_tx(&extra_with(
                |f| f[2] = [&[EXTRA_TAG_NONCE, 0x80, 0x02][..], &[0; 256]].concat()
            )),
            Err(MinerTxError::ExtraNonceTooLong(256))
        ));
        assert!(matches!(
            parse_miner_tx(&extra_with(|f| {
                f[2] = vec![EXTRA_TAG_NONCE, 40, 1];
                f.truncate(3);
            })),
            Err(MinerTxError::ExtraTruncated(_))
        ));
        // Merge mining: another depth, another length, a short root.
        for mm in [
            [&[EXTRA_TAG_MERGE_MINING, 33, 1][..], &[3; 32]].concat(),
            [&[EXTRA_TAG_MERGE_MINING, 34, 0][..], &[3; 33]].concat(),
            [&[EXTRA_TAG_MERGE_MINING, 34, 0x80, 0x00][..], &[3; 32]].concat(),
        ] {
            assert!(
                parse_miner_tx(&extra_with(|f| f[3] = mm.clone())).is_err(),
                "{mm:?}"
            );
        }
        assert!(matches!(
            parse_miner_tx(&extra_with(|f| f[3].truncate(20))),
            Err(MinerTxError::ExtraTruncated(_))
        ));
        // Every truncation of a good extra is refused.
        let g = good();
        for cut in 0..g.extra.len() {
            let t = MinerTx {
                extra: g.extra[..cut].to_vec(),
                ..g.clone()
            };
            assert!(parse_miner_tx(&t).is_err(), "cut {cut}");
        }
    }

    fn arb_payout() -> impl Strategy<Value = PayoutOutputs> {
        (
            any::<[u8; 32]>(),
            proptest::collection::vec((1u64.., any::<[u8; 32]>(), any::<u8>()), 0..6),
            any::<bool>(),
            any::<[u8; 32]>(),
        )
            .prop_map(|(tx_public, outs, add, seed)| {
                let additional = if add && !outs.is_empty() {
                    (0..outs.len())
                        .map(|i| {
                            let mut k = seed;
                            k[0] = i as u8;
                            k
                        })
                        .collect()
                } else {
                    vec![]
                };
                PayoutOutputs {
                    tx_public,
                    additional,
                    outputs: outs
                        .into_iter()
                        .map(|(amount, key, view_tag)| TxOut {
                            amount,
                            target: OutputTarget::TaggedKey { key, view_tag },
                        })
                        .collect(),
                }
            })
    }

    proptest! {
        #[test]
        fn build_then_parse_round_trips(
            p in arb_payout(),
            height in 0u64..u64::MAX - 60,
            nonce in proptest::collection::vec(any::<u8>(), 0..=MAX_EXTRA_NONCE),
            commitment in any::<[u8; 32]>(),
        ) {
            let tx = build_miner_tx(height, &p, &nonce, &commitment).unwrap();
            let parts = parse_miner_tx(&tx).unwrap();
            prop_assert_eq!(&parts.tx_public, &p.tx_public);
            prop_assert_eq!(&parts.additional, &p.additional);
            prop_assert_eq!(&parts.extra_nonce, &nonce);
            prop_assert_eq!(parts.commitment, commitment);
            prop_assert_eq!(MinerTx::parse(&tx.serialize()).unwrap(), tx);
        }

        /// Any extra bytes: an error or the one layout, which rebuilds to the same transaction.
        #[test]
        fn arbitrary_extra_parses_to_one_encoding(
            extra in proptest::collection::vec(any::<u8>(), 0..120),
            mutate_at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            for e in [extra.clone(), {
                let mut g = good().extra;
                let i = mutate_at % g.len();
                g[i] = byte;
                g
            }] {
                let tx = MinerTx { extra: e, ..good() };
                if let Ok(parts) = parse_miner_tx(&tx) {
                    let p = PayoutOutputs {
                        tx_public: parts.tx_public,
                        additional: parts.additional.clone(),
                        outputs: tx.outputs.clone(),
                    };
                    let rebuilt = build_miner_tx(tx.height, &p, &parts.extra_nonce, &parts.commitment).unwrap();
                    prop_assert_eq!(rebuilt, tx);
                }
            }
        }
    }
}
