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
}

#[derive(Clone, Debug, Deserialize)]
pub struct RawTemplateTx {
    pub data: String,
    pub txid: String,
    /// wtxid (Core calls it `hash`).
    pub hash: String,
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
        for (index, tx) in raw.transactions.iter().enumerate() {
            let data =
                hex::decode(&tx.data).map_err(|_| TemplateError::BadHex { field: "data" })?;
            let txid: Txid = hash32(&tx.txid, "txid")?;
            let wtxid: Wtxid = hash32(&tx.hash, "hash")?;
            // The txid is the hash of the non-witness serialization; checking it needs the
            // transaction decoded (MWEB transactions decode with the `bitcoin` crate too,
            // since their extension data lives outside the canonical transaction).
            let decoded: Result<bitcoin::Transaction, _> = bitcoin::consensus::deserialize(&data);
            match decoded {
                Ok(t) if t.compute_txid() != txid => {
                    return Err(TemplateError::TxidMismatch { index })
                }
                Ok(_) => {}
                // Litecoin's HogEx and MWEB-flagged transactions use a serialization flag the
                // `bitcoin` crate does not know; Core's txid is then taken as given.
                Err(_) => {}
            }
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
