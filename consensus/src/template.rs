//! The parts of a `getblocktemplate` reply (BIP22/23, segwit, Litecoin MWEB) that block
//! assembly needs, parsed and checked into typed values.

use bitcoin::block::Version;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::pow::CompactTarget;
use bitcoin::{BlockHash, ScriptBuf, TxMerkleNode, Txid, Wtxid};
use serde::Deserialize;

/// A `getblocktemplate` reply as Bitcoin Core and Litecoin Core send it (fields we use only).
#[derive(Clone, Debug, Deserialize)]
pub struct RawTemplate {
    pub version: i32,
    pub previousblockhash: String,
    #[serde(default)]
    pub transactions: Vec<RawTemplateTx>,
    pub coinbasevalue: u64,
    pub bits: String,
    pub height: u32,
    pub curtime: u64,
    #[serde(default)]
    pub mintime: u64,
    #[serde(default)]
    pub default_witness_commitment: Option<String>,
    /// Litecoin: the serialized MWEB extension block, appended after the transactions.
    #[serde(default)]
    pub mweb: Option<String>,
    #[serde(default)]
    pub longpollid: Option<String>,
    /// Block weight limit (BIP145); Core's `MAX_BLOCK_WEIGHT` when absent.
    #[serde(default)]
    pub weightlimit: Option<u64>,
    /// Block sigop cost limit; Core's `MAX_BLOCK_SIGOPS_COST` when absent.
    #[serde(default)]
    pub sigoplimit: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RawTemplateTx {
    pub data: String,
    pub txid: String,
    /// wtxid (Core calls it `hash`).
    pub hash: String,
    /// 1-based indices of earlier template transactions this one spends from.
    #[serde(default)]
    pub depends: Vec<u64>,
    /// Fee in base units; absent from some nodes, and then the transaction is never dropped
    /// (the coinbase value could not be corrected).
    #[serde(default)]
    pub fee: Option<u64>,
    /// Sigop cost (already scaled by the witness factor).
    #[serde(default)]
    pub sigops: Option<u64>,
    #[serde(default)]
    pub weight: Option<u64>,
}

/// What block assembly knows about one template transaction beyond its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxMeta {
    /// Weight as Core counts it (computed from the bytes; equal to GBT's `weight`).
    pub weight: u64,
    /// GBT's sigop cost, or the legacy count x4 when the node sent none.
    pub sigops: u64,
    pub fee: Option<u64>,
    /// 0-based indices of earlier template transactions this one spends from.
    pub depends: Vec<usize>,
    /// Litecoin's integrating transaction: never dropped, always last.
    pub hogex: bool,
}

/// Room the coinbase needs in a block, worst case (see [`crate::coinbase::coinbase_reserve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoinbaseReserve {
    pub weight: u64,
    pub sigops: u64,
}

/// What [`BlockTemplate::fit_coinbase`] took out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FitReport {
    pub dropped: usize,
    pub fees_dropped: u64,
    pub weight_dropped: u64,
    /// Block weight with the worst-case coinbase, after fitting.
    pub weight_with_reserve: u64,
}

/// Why a template cannot be made to fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error(
        "the worst-case coinbase does not fit even with every droppable transaction removed \
         ({weight} WU, {sigops} sigops over the limits)"
    )]
    CannotFit { weight: u64, sigops: u64 },
    #[error("dropped fees exceed the coinbase value")]
    FeesOverValue,
}

/// A checked template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockTemplate {
    pub version: Version,
    pub prev_blockhash: BlockHash,
    pub bits: CompactTarget,
    pub height: u32,
    pub curtime: u64,
    pub mintime: u64,
    /// Subsidy plus fees of the template's transactions.
    pub coinbase_value: u64,
    /// Raw transactions in template order (an MWEB HogEx, when present, is last).
    pub transactions: Vec<Vec<u8>>,
    pub txids: Vec<Txid>,
    pub wtxids: Vec<Wtxid>,
    /// The segwit commitment output the block needs (computed, and equal to Core's
    /// `default_witness_commitment` when it sends one); `None` when no transaction has a witness
    /// and Core sent none.
    pub witness_commitment: Option<ScriptBuf>,
    pub mweb: Option<Vec<u8>>,
    pub longpollid: Option<String>,
    /// One entry per transaction (may be empty in hand-made test templates: then nothing is
    /// ever dropped).
    pub meta: Vec<TxMeta>,
    pub weight_limit: u64,
    pub sigop_limit: u64,
}

/// Why a template is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("field {field} is not valid hex or has the wrong length")]
    BadHex { field: &'static str },
    #[error("transaction {index}: txid does not match its data")]
    TxidMismatch { index: usize },
    #[error("computed witness commitment differs from default_witness_commitment")]
    WitnessCommitmentMismatch,
    #[error("too many transactions ({0})")]
    TooManyTransactions(usize),
    #[error("transaction {index} does not parse: {reason}")]
    BadTransaction {
        index: usize,
        reason: crate::block_parse::ParseError,
    },
    #[error("transaction {index} depends on {depends}, which is not an earlier transaction")]
    BadDepends { index: usize, depends: u64 },
    #[error("transaction {0} is a HogEx but not the last one")]
    HogExNotLast(usize),
}

/// Most transactions a template may hold: a 4 MWU block has at most ~16,000 of the smallest
/// (60-byte) transactions; twice that leaves room for any chain of the family.
pub const MAX_TEMPLATE_TXS: usize = 32_768;

fn hash32<T: Hash<Bytes = [u8; 32]>>(s: &str, field: &'static str) -> Result<T, TemplateError> {
    // RPC shows hashes byte-reversed.
    let mut b: [u8; 32] = hex::decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(TemplateError::BadHex { field })?;
    b.reverse();
    Ok(T::from_byte_array(b))
}

impl BlockTemplate {
    pub fn from_raw(raw: &RawTemplate) -> Result<BlockTemplate, TemplateError> {
        if raw.transactions.len() > MAX_TEMPLATE_TXS {
            return Err(TemplateError::TooManyTransactions(raw.transactions.len()));
        }
        let bits = u32::from_str_radix(&raw.bits, 16)
            .map_err(|_| TemplateError::BadHex { field: "bits" })?;
        let mut transactions = Vec::with_capacity(raw.transactions.len());
        let mut txids = Vec::with_capacity(raw.transactions.len());
        let mut wtxids = Vec::with_capacity(raw.transactions.len());
        let mut meta = Vec::with_capacity(raw.transactions.len());
        for (index, tx) in raw.transactions.iter().enumerate() {
            let data =
                hex::decode(&tx.data).map_err(|_| TemplateError::BadHex { field: "data" })?;
            let txid: Txid = hash32(&tx.txid, "txid")?;
            let wtxid: Wtxid = hash32(&tx.hash, "hash")?;
            // Litecoin's HogEx uses the MWEB flag, which our parser knows; the chain's block
            // rules decide later whether MWEB is allowed at all.
            let parsed = crate::block_parse::parse_tx(&data, true)
                .map_err(|reason| TemplateError::BadTransaction { index, reason })?;
            if parsed.txid() != txid {
                return Err(TemplateError::TxidMismatch { index });
            }
            if parsed.hogex && index + 1 != raw.transactions.len() {
                return Err(TemplateError::HogExNotLast(index));
            }
            let depends = tx
                .depends
                .iter()
                .map(|&d| match usize::try_from(d) {
                    Ok(d) if d >= 1 && d <= index => Ok(d - 1),
                    _ => Err(TemplateError::BadDepends { index, depends: d }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            meta.push(TxMeta {
                weight: parsed.weight(),
                sigops: tx
                    .sigops
                    .unwrap_or_else(|| parsed.legacy_sigops().saturating_mul(4)),
                fee: tx.fee,
                depends,
                hogex: parsed.hogex,
            });
            transactions.push(data);
            txids.push(txid);
            wtxids.push(wtxid);
        }
        let mut t = BlockTemplate {
            version: Version::from_consensus(raw.version),
            prev_blockhash: hash32(&raw.previousblockhash, "previousblockhash")?,
            bits: CompactTarget::from_consensus(bits),
            height: raw.height,
            curtime: raw.curtime,
            mintime: raw.mintime,
            coinbase_value: raw.coinbasevalue,
            transactions,
            txids,
            wtxids,
            witness_commitment: None,
            mweb: match &raw.mweb {
                Some(h) => {
                    Some(hex::decode(h).map_err(|_| TemplateError::BadHex { field: "mweb" })?)
                }
                None => None,
            },
            longpollid: raw.longpollid.clone(),
            meta,
            weight_limit: raw
                .weightlimit
                .unwrap_or(crate::block_check::MAX_BLOCK_WEIGHT),
            sigop_limit: raw
                .sigoplimit
                .unwrap_or(crate::block_check::MAX_BLOCK_SIGOPS_COST),
        };
        let computed = witness_commitment_script(&t.wtxids);
        t.witness_commitment = match &raw.default_witness_commitment {
            Some(hex_script) => {
                let given = ScriptBuf::from_bytes(hex::decode(hex_script).map_err(|_| {
                    TemplateError::BadHex {
                        field: "default_witness_commitment",
                    }
                })?);
                if given != computed {
                    return Err(TemplateError::WitnessCommitmentMismatch);
                }
                Some(given)
            }
            None if t
                .wtxids
                .iter()
                .zip(&t.txids)
                .any(|(w, id)| w.to_raw_hash() != id.to_raw_hash()) =>
            {
                Some(computed)
            }
            None => None,
        };
        Ok(t)
    }

    /// The template with room for the worst-case coinbase: Core's templates leave only 4,000
    /// WU and 400 sigops for it, and a coinbase paying hundreds of miners needs far more. When
    /// the room is short, transactions are dropped lowest fee rate first, never one that a kept
    /// transaction depends on (so a HogEx's peg-ins stay with it) and never the HogEx; the
    /// coinbase value loses exactly the dropped fees and the witness commitment is recomputed.
    pub fn fit_coinbase(
        &self,
        reserve: CoinbaseReserve,
    ) -> Result<(BlockTemplate, FitReport), FitError> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let n = self.transactions.len();
        let header = (80 + crate::block_parse::compact_size_len(n as u64 + 1)) * 4 + reserve.weight;
        let mut weight = header + self.meta.iter().map(|m| m.weight).sum::<u64>();
        let mut sigops = reserve.sigops + self.meta.iter().map(|m| m.sigops).sum::<u64>();
        let over = |w: u64, s: u64| w > self.weight_limit || s > self.sigop_limit;
        if !over(weight, sigops) || self.meta.len() != n {
            let report = FitReport {
                weight_with_reserve: weight,
                ..FitReport::default()
            };
            return Ok((self.clone(), report));
        }
        // How many kept transactions spend from each one.
        let mut dependents = vec![0usize; n];
        for m in &self.meta {
            for &d in &m.depends {
                dependents[d] += 1;
            }
        }
        /// Ordered so the heap's top is the lowest fee rate (ties: the later transaction).
        #[derive(PartialEq, Eq)]
        struct Candidate {
            fee: u64,
            weight: u64,
            index: usize,
        }
        impl Ord for Candidate {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                let a = self.fee as u128 * o.weight.max(1) as u128;
                let b = o.fee as u128 * self.weight.max(1) as u128;
                a.cmp(&b).then(o.index.cmp(&self.index))
            }
        }
        impl PartialOrd for Candidate {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        let candidate = |i: usize| {
            let m = &self.meta[i];
            m.fee.filter(|_| !m.hogex).map(|fee| {
                Reverse(Candidate {
                    fee,
                    weight: m.weight,
                    index: i,
                })
            })
        };
        let mut heap: BinaryHeap<Reverse<Candidate>> = (0..n)
            .filter(|&i| dependents[i] == 0)
            .filter_map(candidate)
            .collect();
        let mut kept = vec![true; n];
        let mut report = FitReport::default();
        while over(weight, sigops) {
            let Some(Reverse(c)) = heap.pop() else {
                return Err(FitError::CannotFit {
                    weight: weight.saturating_sub(self.weight_limit),
                    sigops: sigops.saturating_sub(self.sigop_limit),
                });
            };
            let m = &self.meta[c.index];
            kept[c.index] = false;
            weight -= m.weight;
            sigops -= m.sigops;
            report.dropped += 1;
            report.fees_dropped += c.fee;
            report.weight_dropped += m.weight;
            for &d in &m.depends {
                dependents[d] -= 1;
                if dependents[d] == 0 {
                    heap.extend(candidate(d));
                }
            }
        }
        report.weight_with_reserve = weight;
        let coinbase_value = self
            .coinbase_value
            .checked_sub(report.fees_dropped)
            .ok_or(FitError::FeesOverValue)?;
        // Indices shift as transactions go: renumber the dependencies.
        let mut new_index = vec![usize::MAX; n];
        let mut next = 0;
        for (i, k) in kept.iter().enumerate() {
            if *k {
                new_index[i] = next;
                next += 1;
            }
        }
        fn keep<T: Clone>(v: &[T], kept: &[bool]) -> Vec<T> {
            v.iter()
                .zip(kept)
                .filter(|(_, k)| **k)
                .map(|(x, _)| x.clone())
                .collect()
        }
        // Only what is kept is copied (the template's bytes are megabytes on a full mempool).
        let mut t = BlockTemplate {
            version: self.version,
            prev_blockhash: self.prev_blockhash,
            bits: self.bits,
            height: self.height,
            curtime: self.curtime,
            mintime: self.mintime,
            coinbase_value,
            transactions: keep(&self.transactions, &kept),
            txids: keep(&self.txids, &kept),
            wtxids: keep(&self.wtxids, &kept),
            witness_commitment: self.witness_commitment.clone(),
            mweb: self.mweb.clone(),
            longpollid: self.longpollid.clone(),
            meta: keep(&self.meta, &kept),
            weight_limit: self.weight_limit,
            sigop_limit: self.sigop_limit,
        };
        for m in &mut t.meta {
            for d in &mut m.depends {
                *d = new_index[*d];
            }
        }
        if t.witness_commitment.is_some() {
            t.witness_commitment = Some(witness_commitment_script(&t.wtxids));
        }
        Ok((t, report))
    }

    /// Merkle branch from the coinbase (leftmost leaf) to the root over this template's txids.
    pub fn merkle_branch(&self) -> Vec<TxMerkleNode> {
        let leaves: Vec<[u8; 32]> = self.txids.iter().map(|t| t.to_byte_array()).collect();
        merkle_branch(&leaves)
    }

    /// The full block: header, transaction count, coinbase, the template's transactions, and for
    /// Litecoin MWEB blocks the byte 0x01 followed by the extension block.
    pub fn assemble_block(
        &self,
        header: &bitcoin::block::Header,
        coinbase: &bitcoin::Transaction,
    ) -> Vec<u8> {
        let mut out = bitcoin::consensus::serialize(header);
        let count = bitcoin::VarInt(1 + self.transactions.len() as u64);
        out.extend_from_slice(&bitcoin::consensus::serialize(&count));
        out.extend_from_slice(&bitcoin::consensus::serialize(coinbase));
        for tx in &self.transactions {
            out.extend_from_slice(tx);
        }
        if let Some(mweb) = &self.mweb {
            out.push(0x01);
            out.extend_from_slice(mweb);
        }
        out
    }
}

/// Merkle branch for the leftmost leaf given the other leaves: at each level the leftmost
/// unknown node's sibling is recorded, and the remaining nodes are paired (an odd last node is
/// paired with itself, as Bitcoin does).
pub fn merkle_branch(others: &[[u8; 32]]) -> Vec<TxMerkleNode> {
    let mut level = others.to_vec();
    let mut branch = Vec::new();
    let mut buf = [0u8; 64];
    while let Some(first) = level.first() {
        branch.push(TxMerkleNode::from_byte_array(*first));
        level = level[1..]
            .chunks(2)
            .map(|pair| {
                buf[..32].copy_from_slice(&pair[0]);
                buf[32..].copy_from_slice(pair.get(1).unwrap_or(&pair[0]));
                sha256d::Hash::hash(&buf).to_byte_array()
            })
            .collect();
    }
    branch
}

/// BIP141 commitment output: `OP_RETURN PUSH36 aa21a9ed || SHA256d(witness_root || reserved)`,
/// with the coinbase's wtxid taken as zero and a reserved value of 32 zero bytes.
pub fn witness_commitment_script(wtxids: &[Wtxid]) -> ScriptBuf {
    let mut leaves = Vec::with_capacity(wtxids.len() + 1);
    leaves.push([0u8; 32]);
    leaves.extend(wtxids.iter().map(|w| w.to_byte_array()));
    let root = merkle_root(&leaves);
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&root);
    let commitment = sha256d::Hash::hash(&buf).to_byte_array();
    let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    script.extend_from_slice(&commitment);
    ScriptBuf::from_bytes(script)
}

/// Bitcoin's merkle root over leaves (odd levels duplicate their last node).
pub fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.is_empty() {
        return [0u8; 32];
    }
    let mut level = leaves.to_vec();
    let mut buf = [0u8; 64];
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                buf[..32].copy_from_slice(&pair[0]);
                buf[32..].copy_from_slice(pair.get(1).unwrap_or(&pair[0]));
                sha256d::Hash::hash(&buf).to_byte_array()
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One fake transaction: (weight, sigops, fee, depends, hogex).
    type Spec = (u64, u64, Option<u64>, Vec<usize>, bool);

    /// A template of fake transactions.
    fn fake(txs: &[Spec], value: u64) -> BlockTemplate {
        let mut t = BlockTemplate {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: BlockHash::from_byte_array([7; 32]),
            bits: CompactTarget::from_consensus(0x207fffff),
            height: 1000,
            curtime: 1_700_000_000,
            mintime: 1_700_000_000,
            coinbase_value: value,
            transactions: vec![],
            txids: vec![],
            wtxids: vec![],
            witness_commitment: None,
            mweb: None,
            longpollid: None,
            meta: vec![],
            weight_limit: crate::block_check::MAX_BLOCK_WEIGHT,
            sigop_limit: crate::block_check::MAX_BLOCK_SIGOPS_COST,
        };
        for (i, (weight, sigops, fee, depends, hogex)) in txs.iter().enumerate() {
            t.transactions.push(vec![i as u8]);
            t.txids.push(Txid::from_byte_array([i as u8 + 1; 32]));
            t.wtxids.push(Wtxid::from_byte_array([i as u8 + 101; 32]));
            t.meta.push(TxMeta {
                weight: *weight,
                sigops: *sigops,
                fee: *fee,
                depends: depends.clone(),
                hogex: *hogex,
            });
        }
        t.witness_commitment = Some(witness_commitment_script(&t.wtxids));
        t
    }

    const RESERVE: CoinbaseReserve = CoinbaseReserve {
        weight: 30_000,
        sigops: 800,
    };

    #[test]
    fn a_template_with_room_is_unchanged() {
        let t = fake(&[(1_000, 4, Some(500), vec![], false)], 5_000_000_500);
        let (fitted, report) = t.fit_coinbase(RESERVE).unwrap();
        assert_eq!(fitted, t);
        assert_eq!(report.dropped, 0);
    }

    #[test]
    fn drops_lowest_fee_rate_first_keeping_parents_of_kept_and_the_hogex() {
        // 0: parent of 1 (low rate); 1: child (high rate); 2: low rate; 3: peg-in spent by the
        // HogEx (lowest rate); 4: HogEx.
        let t = fake(
            &[
                (1_000_000, 4, Some(1_000), vec![], false),
                (1_000_000, 4, Some(900_000), vec![0], false),
                (1_000_000, 4, Some(2_000), vec![], false),
                (990_000, 4, Some(10), vec![], false),
                (400, 0, Some(0), vec![3], true),
            ],
            5_000_000_000 + 903_010,
        );
        let (fitted, report) = t.fit_coinbase(RESERVE).unwrap();
        // 3.99 MWU of transactions plus the reserve: dropping tx 2 (the lowest rate that nothing
        // kept depends on) is enough; tx 0 (lower rate) stays because tx 1 spends it.
        assert_eq!(report.dropped, 1);
        assert_eq!(report.fees_dropped, 2_000);
        assert_eq!(
            fitted.txids,
            vec![t.txids[0], t.txids[1], t.txids[3], t.txids[4]]
        );
        assert_eq!(fitted.coinbase_value, t.coinbase_value - 2_000);
        assert_eq!(fitted.meta[1].depends, vec![0]);
        assert_eq!(fitted.meta[3].depends, vec![2]);
        assert_eq!(
            fitted.witness_commitment,
            Some(witness_commitment_script(&fitted.wtxids))
        );
        assert!(report.weight_with_reserve <= t.weight_limit);
        // Sigops bind too.
        let mut t2 = t.clone();
        t2.sigop_limit = 800 + 8;
        let (fitted, _) = t2.fit_coinbase(RESERVE).unwrap();
        assert!(fitted.meta.iter().map(|m| m.sigops).sum::<u64>() + 800 <= 808);
        assert!(fitted.meta.last().unwrap().hogex);
    }

    #[test]
    fn cannot_fit_when_only_undroppable_transactions_remain() {
        let t = fake(
            &[
                (3_990_000, 0, None, vec![], false),
                (400, 0, Some(0), vec![], true),
            ],
            5_000_000_000,
        );
        assert!(matches!(
            t.fit_coinbase(RESERVE),
            Err(FitError::CannotFit { .. })
        ));
    }

    proptest! {
        #[test]
        fn fitting_keeps_every_invariant(
            txs in prop::collection::vec((1u64..400_000, 0u64..2_000, 0u64..1_000_000, any::<u64>()), 1..40),
            hogex in any::<bool>(),
        ) {
            let n = txs.len();
            let spec: Vec<_> = txs
                .iter()
                .enumerate()
                .map(|(i, (w, s, fee, dep))| {
                    // Up to two earlier parents, chosen from the random word.
                    let mut deps: Vec<usize> = if i == 0 { vec![] } else {
                        vec![(*dep as usize) % i, ((*dep >> 20) as usize) % i]
                    };
                    deps.sort_unstable();
                    deps.dedup();
                    if dep % 3 == 0 { deps.clear(); }
                    (*w, *s, Some(*fee), deps, hogex && i + 1 == n)
                })
                .collect();
            let total_fees: u64 = txs.iter().map(|t| t.2).sum();
            let t = fake(&spec, 5_000_000_000 + total_fees);
            match t.fit_coinbase(RESERVE) {
                Ok((f, report)) => {
                    prop_assert!(report.weight_with_reserve <= t.weight_limit);
                    let sig: u64 = f.meta.iter().map(|m| m.sigops).sum();
                    prop_assert!(sig + RESERVE.sigops <= t.sigop_limit);
                    prop_assert_eq!(f.coinbase_value, t.coinbase_value - report.fees_dropped);
                    prop_assert_eq!(f.txids.len(), n - report.dropped);
                    // Every kept dependency points at a kept, earlier transaction.
                    for (i, m) in f.meta.iter().enumerate() {
                        for &d in &m.depends {
                            prop_assert!(d < i);
                        }
                    }
                    if hogex {
                        prop_assert_eq!(f.txids.last(), t.txids.last());
                    }
                    // Relative order is preserved.
                    let pos: Vec<usize> = f.txids.iter()
                        .map(|x| t.txids.iter().position(|y| y == x).unwrap())
                        .collect();
                    prop_assert!(pos.windows(2).all(|w| w[0] < w[1]));
                }
                Err(FitError::CannotFit { .. }) => prop_assert!(hogex),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
