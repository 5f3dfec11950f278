//! Parsing of Bitcoin-family blocks and transactions as they travel on the wire, including
//! Litecoin's MWEB extensions, which the `bitcoin` crate does not know:
//!
//! * a transaction's optional-data flag byte may carry bit `0x08` (MWEB). It is followed, after
//!   the script witnesses, by an optional MWEB transaction: byte `0x00` (none: the transaction is
//!   the block's *HogEx*, the integrating transaction that must come last) or `0x01` and a
//!   Mimblewimble transaction. Inside a block the Mimblewimble parts live in the extension block,
//!   so a canonical transaction carrying one is refused here.
//! * a block whose last transaction is a HogEx is followed by the extension block: byte `0x01`
//!   and the serialized MWEB block (kept as bytes: nothing in the canonical block commits to its
//!   inner layout except through the HogEx, which litecoind checks).
//!
//! The txid is the hash of the stripped serialization (no marker, flag, witness or MWEB data),
//! the wtxid adds the script witnesses only, and a transaction's weight is
//! `3 * stripped + with_witness` where neither size counts MWEB data: exactly what Litecoin
//! Core computes (checked against its `getblocktemplate` replies in the tests).
//!
//! Every length read from the input is bounded by the bytes that remain, so hostile input cannot
//! make the parser allocate more than a small multiple of its own size.

use bitcoin::absolute::LockTime;
use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

/// Optional-data flag: script witnesses follow the outputs (BIP144).
const FLAG_WITNESS: u8 = 0x01;
/// Optional-data flag: an MWEB transaction (or the HogEx marker) follows the witnesses.
const FLAG_MWEB: u8 = 0x08;
/// Smallest serialized input: outpoint (36), empty script (1), sequence (4).
const MIN_INPUT_BYTES: usize = 41;
/// Smallest serialized output: value (8), empty script (1).
const MIN_OUTPUT_BYTES: usize = 9;
/// Smallest serialized transaction (version, one input, one output, lock time): bounds the
/// transaction count read from a block header.
const MIN_TX_BYTES: usize = 4 + 1 + MIN_INPUT_BYTES + 1 + MIN_OUTPUT_BYTES + 4;

/// Why bytes are not a block or transaction of the Bitcoin family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("non-canonical compact size at byte {0}")]
    NonCanonicalCompactSize(usize),
    #[error("a count or length at byte {at} claims {claimed} items, more than the input holds")]
    Oversized { at: usize, claimed: u64 },
    #[error("transaction with an empty input list and no optional data")]
    EmptyWithoutFlags,
    #[error("witness flag set but every witness is empty (superfluous witness record)")]
    SuperfluousWitness,
    #[error("unknown transaction optional data (flags {0:#04x})")]
    UnknownFlags(u8),
    #[error("MWEB flag on a transaction without outputs (a HogEx needs one)")]
    HogExWithoutOutput,
    #[error(
        "canonical transaction carries a Mimblewimble body (it belongs in the extension block)"
    )]
    InlineMwebTransaction,
    #[error("bad MWEB option byte {0:#04x}")]
    BadOptionByte(u8),
    #[error("extension block present but the last transaction is not a HogEx")]
    UnexpectedExtension,
    #[error("last transaction is a HogEx but the extension block is missing")]
    MissingExtension,
    #[error("{0} bytes after the block")]
    TrailingBytes(usize),
    #[error("this chain has no MWEB, but a transaction carries the MWEB flag")]
    MwebNotAllowed,
}

/// A transaction with what its wire form said beyond `bitcoin::Transaction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedTx {
    /// Inputs, outputs and witnesses; MWEB data is not part of it.
    pub tx: Transaction,
    /// Litecoin's integrating transaction (MWEB flag with no Mimblewimble body).
    pub hogex: bool,
}

impl ParsedTx {
    pub fn txid(&self) -> Txid {
        self.tx.compute_txid()
    }

    /// Weight as Core counts it: MWEB flag and option byte excluded.
    pub fn weight(&self) -> u64 {
        self.tx.weight().to_wu()
    }

    /// Legacy sigop count (Core's `GetLegacySigOpCount`: scriptSigs and scriptPubKeys, multisig
    /// counted as 20), which block-level checks multiply by the witness scale factor.
    pub fn legacy_sigops(&self) -> u64 {
        let ins = self
            .tx
            .input
            .iter()
            .map(|i| i.script_sig.count_sigops_legacy() as u64);
        let outs = self
            .tx
            .output
            .iter()
            .map(|o| o.script_pubkey.count_sigops_legacy() as u64);
        ins.chain(outs).sum()
    }
}

/// A block: header, transactions, and Litecoin's extension block when present.
#[derive(Clone, Debug)]
pub struct ParsedBlock {
    pub header: Header,
    pub txs: Vec<ParsedTx>,
    /// The serialized MWEB block (after the `0x01` option byte).
    pub mweb: Option<Vec<u8>>,
}

impl ParsedBlock {
    /// Block weight as Core counts it (extension block excluded).
    pub fn weight(&self) -> u64 {
        let base = 80 + compact_size_len(self.txs.len() as u64);
        base * 4 + self.txs.iter().map(ParsedTx::weight).sum::<u64>()
    }

    /// Size of the stripped block (what Core's `bad-blk-length` check multiplies by 4).
    pub fn stripped_size(&self) -> u64 {
        let base = 80 + compact_size_len(self.txs.len() as u64);
        base + self
            .txs
            .iter()
            .map(|t| t.tx.base_size() as u64)
            .sum::<u64>()
    }
}

/// Bytes of a compact size encoding of `n`.
pub fn compact_size_len(n: u64) -> u64 {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(ParseError::Truncated(self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, ParseError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, ParseError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    fn compact_size(&mut self) -> Result<u64, ParseError> {
        let at = self.pos;
        let (v, min) = match self.u8()? {
            0xfd => {
                let b = self.take(2)?;
                (u16::from_le_bytes([b[0], b[1]]) as u64, 0xfd)
            }
            0xfe => (self.u32()? as u64, 0x1_0000),
            0xff => (self.u64()?, 0x1_0000_0000),
            n => return Ok(n as u64),
        };
        if v < min {
            return Err(ParseError::NonCanonicalCompactSize(at));
        }
        Ok(v)
    }

    /// A count of items of at least `min_item` bytes each, checked against what remains.
    fn count(&mut self, min_item: usize) -> Result<usize, ParseError> {
        let at = self.pos;
        let claimed = self.compact_size()?;
        let fits = usize::try_from(claimed)
            .ok()
            .filter(|n| n.saturating_mul(min_item.max(1)) <= self.remaining());
        fits.ok_or(ParseError::Oversized { at, claimed })
    }

    fn var_bytes(&mut self) -> Result<&'a [u8], ParseError> {
        let n = self.count(1)?;
        self.take(n)
    }
}

fn read_inputs(c: &mut Cursor<'_>, n: usize) -> Result<Vec<TxIn>, ParseError> {
    let mut inputs = Vec::with_capacity(n);
    for _ in 0..n {
        let mut txid = [0u8; 32];
        txid.copy_from_slice(c.take(32)?);
        let vout = c.u32()?;
        let script_sig = ScriptBuf::from_bytes(c.var_bytes()?.to_vec());
        let sequence = Sequence(c.u32()?);
        inputs.push(TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array(txid),
                vout,
            },
            script_sig,
            sequence,
            witness: Witness::new(),
        });
    }
    Ok(inputs)
}

fn read_outputs(c: &mut Cursor<'_>) -> Result<Vec<TxOut>, ParseError> {
    let n = c.count(MIN_OUTPUT_BYTES)?;
    let mut outputs = Vec::with_capacity(n);
    for _ in 0..n {
        let value = Amount::from_sat(c.u64()?);
        let script_pubkey = ScriptBuf::from_bytes(c.var_bytes()?.to_vec());
        outputs.push(TxOut {
            value,
            script_pubkey,
        });
    }
    Ok(outputs)
}

fn read_tx(c: &mut Cursor<'_>, allow_mweb: bool) -> Result<ParsedTx, ParseError> {
    let version = Version(c.u32()? as i32);
    let mut n_in = c.count(MIN_INPUT_BYTES)?;
    let mut flags = 0u8;
    if n_in == 0 {
        // BIP144 marker (an empty input list) and the flag byte.
        flags = c.u8()?;
        if flags == 0 {
            return Err(ParseError::EmptyWithoutFlags);
        }
        n_in = c.count(MIN_INPUT_BYTES)?;
    }
    let mut input = read_inputs(c, n_in)?;
    let output = read_outputs(c)?;
    if flags & FLAG_WITNESS != 0 {
        flags ^= FLAG_WITNESS;
        for i in input.iter_mut() {
            let items = c.count(1)?;
            let mut stack = Vec::with_capacity(items);
            for _ in 0..items {
                stack.push(c.var_bytes()?);
            }
            i.witness = Witness::from_slice(&stack);
        }
        if input.iter().all(|i| i.witness.is_empty()) {
            return Err(ParseError::SuperfluousWitness);
        }
    }
    let mut hogex = false;
    if flags & FLAG_MWEB != 0 {
        if !allow_mweb {
            return Err(ParseError::MwebNotAllowed);
        }
        flags ^= FLAG_MWEB;
        match c.u8()? {
            0 if output.is_empty() => return Err(ParseError::HogExWithoutOutput),
            0 => hogex = true,
            1 => return Err(ParseError::InlineMwebTransaction),
            b => return Err(ParseError::BadOptionByte(b)),
        }
    }
    if flags != 0 {
        return Err(ParseError::UnknownFlags(flags));
    }
    let lock_time = LockTime::from_consensus(c.u32()?);
    Ok(ParsedTx {
        tx: Transaction {
            version,
            lock_time,
            input,
            output,
        },
        hogex,
    })
}

/// Parses one transaction that must span `bytes` exactly (a template's transaction).
pub fn parse_tx(bytes: &[u8], allow_mweb: bool) -> Result<ParsedTx, ParseError> {
    let mut c = Cursor { bytes, pos: 0 };
    let tx = read_tx(&mut c, allow_mweb)?;
    match c.remaining() {
        0 => Ok(tx),
        n => Err(ParseError::TrailingBytes(n)),
    }
}

/// Parses a block. With `allow_mweb` (Litecoin), transactions may carry the MWEB flag and a
/// block whose last transaction is a HogEx must carry the extension block.
pub fn parse_block(bytes: &[u8], allow_mweb: bool) -> Result<ParsedBlock, ParseError> {
    let mut c = Cursor { bytes, pos: 0 };
    let header_bytes = c.take(80)?;
    let header: Header =
        bitcoin::consensus::deserialize(header_bytes).map_err(|_| ParseError::Truncated(c.pos))?;
    let n = c.count(MIN_TX_BYTES)?;
    let mut txs = Vec::with_capacity(n);
    for _ in 0..n {
        txs.push(read_tx(&mut c, allow_mweb)?);
    }
    let ends_with_hogex = txs.last().is_some_and(|t| t.hogex);
    let mweb = if c.remaining() == 0 {
        if ends_with_hogex {
            return Err(ParseError::MissingExtension);
        }
        None
    } else if !ends_with_hogex {
        return Err(if allow_mweb {
            ParseError::UnexpectedExtension
        } else {
            ParseError::TrailingBytes(c.remaining())
        });
    } else {
        match c.u8()? {
            1 if c.remaining() > 0 => Some(c.take(c.remaining())?.to_vec()),
            1 | 0 => return Err(ParseError::MissingExtension),
            b => return Err(ParseError::BadOptionByte(b)),
        }
    };
    Ok(ParsedBlock { header, txs, mweb })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HogEx of litecoind's first MWEB template (regtest height 432).
    const HOGEX: &str = "02000000000801645a143f3918e2a82d510622862399d3fc89b5fb05459b938e9bfaf17fb20cb10000000000ffffffff01e666814a000000002258207a39b3af9abb206564a7f1c857008b3c94d7cd9aa683a688aa6a24f8d78986640000000000";

    #[test]
    fn hogex_parses_with_cores_txid_and_weight() {
        let bytes = hex::decode(HOGEX).unwrap();
        let t = parse_tx(&bytes, true).unwrap();
        assert!(t.hogex);
        assert_eq!(
            t.txid().to_string(),
            "00fbb6e7231e8f06007e72c4ae811e0bae89c33fbe76146a8cb7a9946a5b42d2"
        );
        // litecoind's `weight` for it: the MWEB flag and option byte do not count.
        assert_eq!(t.weight(), 376);
        assert_eq!(
            t.tx.compute_wtxid().to_byte_array(),
            t.txid().to_byte_array()
        );
        assert_eq!(parse_tx(&bytes, false), Err(ParseError::MwebNotAllowed));
    }

    #[test]
    fn malformed_mweb_data_is_refused() {
        let mut bytes = hex::decode(HOGEX).unwrap();
        let opt = bytes.len() - 5;
        bytes[opt] = 1;
        assert_eq!(
            parse_tx(&bytes, true),
            Err(ParseError::InlineMwebTransaction)
        );
        bytes[opt] = 7;
        assert_eq!(parse_tx(&bytes, true), Err(ParseError::BadOptionByte(7)));
        // Unknown flag bit.
        let mut bytes = hex::decode(HOGEX).unwrap();
        bytes[5] = 0x0a;
        assert!(matches!(
            parse_tx(&bytes, true),
            Err(ParseError::UnknownFlags(_)) | Err(ParseError::Truncated(_))
        ));
    }

    #[test]
    fn counts_are_bounded_by_the_input() {
        // Version, then a compact size claiming 2^32 inputs.
        let bytes = [1, 0, 0, 0, 0xff, 0, 0, 0, 0, 1, 0, 0, 0];
        assert!(matches!(
            parse_tx(&bytes, false),
            Err(ParseError::Oversized { .. })
        ));
        // Non-canonical compact size.
        let bytes = [1, 0, 0, 0, 0xfd, 1, 0];
        assert_eq!(
            parse_tx(&bytes, false),
            Err(ParseError::NonCanonicalCompactSize(4))
        );
    }

    #[test]
    fn plain_transactions_match_the_bitcoin_crate() {
        let bytes = hex::decode(
            "02000000000101c0e0ac98dcd6a2fe379a8a9bf6e380f7a5231b1d608d78ebb33017ea1c11e59c0000000000feffffff012276814a000000002259200b4a44fb64423963212aa964da36741d575cca5f0d556b66d637e6ededcd8aa00247304402204b0175c61caf332b628445694ca91b8079727ba8fcefb546d905b92fc363658102200fdb2a667b5612afb81d4872479bf5f6425aa95fd67b6fd6ce21599e0f3cce9501210377afe5da762d504441e008e4362b52bf5fa46f3c01de58a7d3bb9506335a6c5aaf010000",
        )
        .unwrap();
        let ours = parse_tx(&bytes, true).unwrap();
        let theirs: Transaction = bitcoin::consensus::deserialize(&bytes).unwrap();
        assert_eq!(ours.tx, theirs);
        assert!(!ours.hogex);
        assert_eq!(ours.weight(), 485);
        assert_eq!(
            ours.txid().to_string(),
            "b10cb27ff1fa9b8e939b4505fbb589fcd39923862206512da8e218393f145a64"
        );
    }
}
