//! Monero blocks as miners see them: the header, the miner (coinbase) transaction and the list
//! of the other transactions' hashes (`cryptonote::block` in `src/cryptonote_basic/`).
//!
//! Parsing is strict and total: every varint canonical, every count checked against the bytes
//! left and a named limit before anything is allocated, unknown variants refused, no trailing
//! bytes. Hence `serialize(parse(b)) == b` for every accepted `b` (property-tested), which is what
//! lets a share carry a block template as parsed fields and still commit to monerod's exact
//! bytes.
//!
//! Layout (all integers varints unless stated):
//!
//! ```text
//! header     = major_version minor_version timestamp prev_id[32] nonce(u32 LE)
//! miner tx   = version unlock_time
//!              1 input:  0xff height                      (txin_gen)
//!              outputs:  count { amount target }          target = 0x02 key[32]
//!                                                                | 0x03 key[32] view_tag(1)
//!              extra:    length bytes
//!              v2 only:  rct type byte 0x00 (RCTTypeNull: a coinbase has no signatures)
//! block      = header miner_tx count tx_hash[32]*
//! ```

use super::hash::{keccak256, keccak256_concat, tree_hash, Hash32};
use super::varint::{read_varint, write_varint, VarintError};

/// Longest blob [`Block::parse`] accepts. Monero's own limit on a block is dynamic (twice the
/// median weight, 600 kB at the 300 kB floor); a block *blob* holds the header, the miner
/// transaction and 32 bytes per other transaction, so 4 MiB allows about 130,000 transactions,
/// far beyond any block Monero has made, while bounding the work a hostile blob costs.
pub const MAX_BLOCK_BLOB: usize = 4 << 20;
/// Most transaction hashes in a block: what fits in [`MAX_BLOCK_BLOB`] at 32 bytes each.
pub const MAX_TX_HASHES: u64 = (MAX_BLOCK_BLOB / 32) as u64;
/// Most outputs of a miner transaction. Monero sets none by consensus (the block weight bounds
/// it); a P2Pool-style coinbase pays at most a few thousand miners, and an output takes at least
/// 34 bytes, so 2^16 outputs already need 2.2 MB.
pub const MAX_MINER_OUTPUTS: u64 = 1 << 16;
/// Longest `tx_extra` of a miner transaction. Monero's relay rule for ordinary transactions is
/// 1,060 bytes (`MAX_TX_EXTRA_SIZE`); a miner transaction is not relayed alone and pools put
/// merge-mining tags and nonces there, so the bound is a generous 64 KiB.
pub const MAX_EXTRA: u64 = 1 << 16;
/// Transaction versions: 1 (genesis and pre-RingCT blocks) and 2 (RingCT, every block since
/// hard fork 4).
pub const TX_VERSION_1: u64 = 1;
pub const TX_VERSION_2: u64 = 2;

/// Variant tag of a coinbase input (`txin_gen`).
pub const TXIN_GEN: u8 = 0xff;
/// Variant tag of an output to a one-time key (before view tags).
pub const TXOUT_TO_KEY: u8 = 0x02;
/// Variant tag of an output to a one-time key with a view tag (hard fork 15 on).
pub const TXOUT_TO_TAGGED_KEY: u8 = 0x03;
/// RingCT type of a transaction without signatures, the only one a coinbase has.
pub const RCT_TYPE_NULL: u8 = 0x00;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("bad varint at byte {at}: {err}")]
    Varint { at: usize, err: VarintError },
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    #[error("{what}: {count} exceeds the limit {limit}")]
    TooMany {
        what: &'static str,
        count: u64,
        limit: u64,
    },
    #[error("blob of {0} bytes exceeds the limit")]
    TooLong(usize),
    #[error("transaction version {0} is not 1 or 2")]
    TxVersion(u64),
    #[error("a miner transaction has exactly one input, found {0}")]
    InputCount(u64),
    #[error("input tag {0:#04x} is not txin_gen")]
    InputTag(u8),
    #[error("output tag {0:#04x} is not txout_to_key or txout_to_tagged_key")]
    OutputTag(u8),
    #[error("RingCT type {0} of a miner transaction is not RCTTypeNull")]
    RctType(u8),
    #[error("{0} bytes left over")]
    TrailingBytes(usize),
}

/// A cursor over a blob that reports where it failed.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        if self.left() < n {
            return Err(ParseError::Truncated(self.buf.len()));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, ParseError> {
        Ok(self.bytes(1)?[0])
    }

    fn array32(&mut self) -> Result<[u8; 32], ParseError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.bytes(32)?);
        Ok(a)
    }

    fn array4(&mut self) -> Result<[u8; 4], ParseError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.bytes(4)?);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, ParseError> {
        let (v, n) = read_varint(&self.buf[self.pos..])
            .map_err(|err| ParseError::Varint { at: self.pos, err })?;
        self.pos += n;
        Ok(v)
    }

    /// A count of items of at least `min_item` bytes each, checked against `limit` and against
    /// the bytes left, so no hostile count can make the caller allocate.
    fn count(
        &mut self,
        what: &'static str,
        limit: u64,
        min_item: usize,
    ) -> Result<usize, ParseError> {
        let count = self.varint()?;
        if count > limit {
            return Err(ParseError::TooMany { what, count, limit });
        }
        // count <= limit <= 2^22 fits usize; a lie about the count shows as truncation.
        let count = count as usize;
        if count.saturating_mul(min_item) > self.left() {
            return Err(ParseError::Truncated(self.buf.len()));
        }
        Ok(count)
    }

    fn u8_varint(&mut self, what: &'static str) -> Result<u8, ParseError> {
        u8::try_from(self.varint()?).map_err(|_| ParseError::OutOfRange(what))
    }

    fn finish(&self) -> Result<(), ParseError> {
        match self.left() {
            0 => Ok(()),
            n => Err(ParseError::TrailingBytes(n)),
        }
    }
}

/// Bytes of a serialised header: 1 + 1 + up to 10 + 32 + 4; at least 39.
const MIN_HEADER: usize = 39;

/// A block header. The versions are `uint8_t` in Monero, written as varints; the nonce is the
/// one fixed-width field, 4 bytes little-endian, which is what miners grind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockHeader {
    pub major_version: u8,
    pub minor_version: u8,
    pub timestamp: u64,
    pub prev_id: Hash32,
    pub nonce: u32,
}

impl BlockHeader {
    fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        Ok(BlockHeader {
            major_version: r.u8_varint("major_version")?,
            minor_version: r.u8_varint("minor_version")?,
            timestamp: r.varint()?,
            prev_id: r.array32()?,
            nonce: u32::from_le_bytes(r.array4()?),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        write_varint(out, u64::from(self.major_version));
        write_varint(out, u64::from(self.minor_version));
        write_varint(out, self.timestamp);
        out.extend_from_slice(&self.prev_id);
        out.extend_from_slice(&self.nonce.to_le_bytes());
    }

    /// Offset of the nonce in the serialised header (and so in the block blob and the hashing
    /// blob, which both start with the header).
    pub fn nonce_offset(&self) -> usize {
        let mut v = Vec::with_capacity(MIN_HEADER + 10);
        self.write(&mut v);
        v.len() - 4
    }
}

/// Where an output sends its amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputTarget {
    /// `txout_to_key`: a one-time public key.
    Key(Hash32),
    /// `txout_to_tagged_key`: a one-time public key and its view tag (hard fork 15 on).
    TaggedKey { key: Hash32, view_tag: u8 },
}

impl OutputTarget {
    pub fn key(&self) -> &Hash32 {
        match self {
            OutputTarget::Key(k) | OutputTarget::TaggedKey { key: k, .. } => k,
        }
    }

    pub fn view_tag(&self) -> Option<u8> {
        match self {
            OutputTarget::Key(_) => None,
            OutputTarget::TaggedKey { view_tag, .. } => Some(*view_tag),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxOut {
    /// Atomic units (piconero). Coinbase amounts are public.
    pub amount: u64,
    pub target: OutputTarget,
}

/// Smallest output: amount (1) + tag (1) + key (32).
const MIN_OUTPUT: usize = 34;

/// A miner transaction: one `txin_gen` input at the block's height, public amounts, no
/// signatures.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MinerTx {
    /// 1 or 2.
    pub version: u64,
    /// Height (or time) before which the outputs cannot be spent: height + 60 for a coinbase.
    pub unlock_time: u64,
    /// The `txin_gen` height: the block's height.
    pub height: u64,
    pub outputs: Vec<TxOut>,
    /// `tx_extra` as raw bytes (tx public key, extra nonce, merge-mining tag ...), kept byte
    /// for byte; [`parse_extra`] reads its fields.
    pub extra: Vec<u8>,
}

impl MinerTx {
    fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let version = r.varint()?;
        if version != TX_VERSION_1 && version != TX_VERSION_2 {
            return Err(ParseError::TxVersion(version));
        }
        let unlock_time = r.varint()?;
        let inputs = r.varint()?;
        if inputs != 1 {
            return Err(ParseError::InputCount(inputs));
        }
        let tag = r.byte()?;
        if tag != TXIN_GEN {
            return Err(ParseError::InputTag(tag));
        }
        let height = r.varint()?;
        let n = r.count("outputs", MAX_MINER_OUTPUTS, MIN_OUTPUT)?;
        let mut outputs = Vec::with_capacity(n);
        for _ in 0..n {
            let amount = r.varint()?;
            let target = match r.byte()? {
                TXOUT_TO_KEY => OutputTarget::Key(r.array32()?),
                TXOUT_TO_TAGGED_KEY => OutputTarget::TaggedKey {
                    key: r.array32()?,
                    view_tag: r.byte()?,
                },
                other => return Err(ParseError::OutputTag(other)),
            };
            outputs.push(TxOut { amount, target });
        }
        let extra_len = r.count("extra bytes", MAX_EXTRA, 1)?;
        let extra = r.bytes(extra_len)?.to_vec();
        if version == TX_VERSION_2 {
            // v1: one (empty) signature list per txin_gen input, which serialises to nothing.
            let rct = r.byte()?;
            if rct != RCT_TYPE_NULL {
                return Err(ParseError::RctType(rct));
            }
        }
        Ok(MinerTx {
            version,
            unlock_time,
            height,
            outputs,
            extra,
        })
    }

    /// Parses a whole miner transaction blob.
    pub fn parse(blob: &[u8]) -> Result<Self, ParseError> {
        if blob.len() > MAX_BLOCK_BLOB {
            return Err(ParseError::TooLong(blob.len()));
        }
        let mut r = Reader::new(blob);
        let tx = MinerTx::read(&mut r)?;
        r.finish()?;
        Ok(tx)
    }

    /// The transaction prefix: everything but the signatures.
    pub fn write_prefix(&self, out: &mut Vec<u8>) {
        write_varint(out, self.version);
        write_varint(out, self.unlock_time);
        write_varint(out, 1);
        out.push(TXIN_GEN);
        write_varint(out, self.height);
        write_varint(out, self.outputs.len() as u64);
        for o in &self.outputs {
            write_varint(out, o.amount);
            match &o.target {
                OutputTarget::Key(k) => {
                    out.push(TXOUT_TO_KEY);
                    out.extend_from_slice(k);
                }
                OutputTarget::TaggedKey { key, view_tag } => {
                    out.push(TXOUT_TO_TAGGED_KEY);
                    out.extend_from_slice(key);
                    out.push(*view_tag);
                }
            }
        }
        write_varint(out, self.extra.len() as u64);
        out.extend_from_slice(&self.extra);
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        self.write_prefix(out);
        if self.version >= TX_VERSION_2 {
            out.push(RCT_TYPE_NULL);
        }
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v);
        v
    }

    /// The transaction hash. Version 1: Keccak of the whole blob. Version 2: Keccak of three
    /// hashes, of the prefix, of the RingCT base (the single type byte 0 for a coinbase) and of
    /// the prunable part, which a coinbase does not have (32 zero bytes in its place).
    pub fn hash(&self) -> Hash32 {
        let mut prefix = Vec::new();
        self.write_prefix(&mut prefix);
        if self.version == TX_VERSION_1 {
            return keccak256(&prefix);
        }
        let prefix_hash = keccak256(&prefix);
        let base_hash = keccak256(&[RCT_TYPE_NULL]);
        keccak256_concat(&[&prefix_hash, &base_hash, &[0u8; 32]])
    }

    /// Sum of the output amounts, `None` on overflow (which Monero also refuses).
    pub fn total_amount(&self) -> Option<u64> {
        self.outputs
            .iter()
            .try_fold(0u64, |acc, o| acc.checked_add(o.amount))
    }
}

/// A block: header, miner transaction, the hashes of its other transactions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    pub header: BlockHeader,
    pub miner_tx: MinerTx,
    pub tx_hashes: Vec<Hash32>,
}

impl Block {
    /// Parses a block blob (`get_block_template`'s `blocktemplate_blob`, `submit_block`'s
    /// argument).
    pub fn parse(blob: &[u8]) -> Result<Self, ParseError> {
        if blob.len() > MAX_BLOCK_BLOB {
            return Err(ParseError::TooLong(blob.len()));
        }
        let mut r = Reader::new(blob);
        let header = BlockHeader::read(&mut r)?;
        let miner_tx = MinerTx::read(&mut r)?;
        let n = r.count("transaction hashes", MAX_TX_HASHES, 32)?;
        let mut tx_hashes = Vec::with_capacity(n);
        for _ in 0..n {
            tx_hashes.push(r.array32()?);
        }
        r.finish()?;
        Ok(Block {
            header,
            miner_tx,
            tx_hashes,
        })
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.header.write(&mut out);
        self.miner_tx.write(&mut out);
        write_varint(&mut out, self.tx_hashes.len() as u64);
        for h in &self.tx_hashes {
            out.extend_from_slice(h);
        }
        out
    }

    /// Tree hash of the miner transaction's hash followed by the other transactions' hashes.
    pub fn tx_tree_root(&self) -> Hash32 {
        let mut all = Vec::with_capacity(1 + self.tx_hashes.len());
        all.push(self.miner_tx.hash());
        all.extend_from_slice(&self.tx_hashes);
        // Never empty: the miner transaction is always there.
        tree_hash(&all).unwrap_or_default()
    }

    /// What RandomX hashes (`get_block_hashing_blob`): header, tree root, then the number of
    /// transactions including the miner transaction.
    pub fn hashing_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MIN_HEADER + 10 + 32 + 10);
        self.header.write(&mut out);
        out.extend_from_slice(&self.tx_tree_root());
        write_varint(&mut out, 1 + self.tx_hashes.len() as u64);
        out
    }

    /// The block id: Keccak of the hashing blob prefixed with its length as a varint. (Monero
    /// hard-codes a different id for mainnet block 202,612, whose miner transaction hit a
    /// serialisation quirk; that historical block is not something a pool builds.)
    pub fn id(&self) -> Hash32 {
        block_id_from_hashing_blob(&self.hashing_blob())
    }
}

/// The block id from a hashing blob: `keccak(varint(len) || blob)`.
pub fn block_id_from_hashing_blob(blob: &[u8]) -> Hash32 {
    let mut len = Vec::with_capacity(3);
    write_varint(&mut len, blob.len() as u64);
    keccak256_concat(&[&len, blob])
}

/// `tx_extra` field tags (`src/cryptonote_basic/tx_extra.h`).
pub const EXTRA_TAG_PADDING: u8 = 0x00;
pub const EXTRA_TAG_PUBKEY: u8 = 0x01;
pub const EXTRA_TAG_NONCE: u8 = 0x02;
pub const EXTRA_TAG_MERGE_MINING: u8 = 0x03;
pub const EXTRA_TAG_ADDITIONAL_PUBKEYS: u8 = 0x04;
/// Longest extra nonce (`TX_EXTRA_NONCE_MAX_COUNT`). Its length is serialised as a varint
/// (`tx_extra_nonce` is a `std::string`; `add_extra_nonce_to_tx_extra` writes a varint too), so
/// from 128 bytes on it takes two bytes.
pub const MAX_EXTRA_NONCE: usize = 255;
/// Longest run of zero padding (`TX_EXTRA_PADDING_MAX_COUNT`).
pub const MAX_EXTRA_PADDING: usize = 255;

/// One field of `tx_extra`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtraField {
    /// Zero bytes to the end of `extra` (the tag byte included in `len`).
    Padding(usize),
    /// The transaction public key `R = r·G`.
    PubKey(Hash32),
    /// Arbitrary bytes (pools put their extra nonce here); at most 255.
    Nonce(Vec<u8>),
    /// Merge-mining tag: depth and merkle root.
    MergeMining { depth: u64, merkle_root: Hash32 },
    /// Per-output transaction public keys, for outputs to subaddresses.
    AdditionalPubKeys(Vec<Hash32>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtraError {
    #[error("tx_extra field truncated at byte {0}")]
    Truncated(usize),
    #[error("unknown tx_extra tag {tag:#04x} at byte {at}")]
    UnknownTag { tag: u8, at: usize },
    #[error("tx_extra padding is not all zeros or too long")]
    BadPadding,
    #[error("malformed tx_extra field at byte {0}")]
    Malformed(usize),
}

/// Reads the fields of `tx_extra` the way Monero's `parse_tx_extra` does for the tags it knows.
/// Strict: an unknown tag or a malformed field is an error (Monero keeps the fields before it;
/// a pool's own miner transaction never has one).
pub fn parse_extra(extra: &[u8]) -> Result<Vec<ExtraField>, ExtraError> {
    let mut fields = Vec::new();
    let mut pos = 0;
    let truncated = |at| ExtraError::Truncated(at);
    while pos < extra.len() {
        let tag = extra[pos];
        let body = &extra[pos + 1..];
        match tag {
            EXTRA_TAG_PADDING => {
                let len = extra.len() - pos;
                if len > MAX_EXTRA_PADDING || body.iter().any(|&b| b != 0) {
                    return Err(ExtraError::BadPadding);
                }
                fields.push(ExtraField::Padding(len));
                pos = extra.len();
            }
            EXTRA_TAG_PUBKEY => {
                let key = body.get(..32).ok_or(truncated(pos))?;
                let mut k = [0u8; 32];
                k.copy_from_slice(key);
                fields.push(ExtraField::PubKey(k));
                pos += 33;
            }
            EXTRA_TAG_NONCE => {
                // A `std::string`: varint length (two bytes from 128 on), then the bytes.
                let (len, n) = read_varint(body).map_err(|e| match e {
                    VarintError::Truncated => truncated(pos),
                    _ => ExtraError::Malformed(pos),
                })?;
                if len > MAX_EXTRA_NONCE as u64 {
                    return Err(ExtraError::Malformed(pos));
                }
                let len = len as usize;
                let bytes = body.get(n..n + len).ok_or(truncated(pos))?;
                fields.push(ExtraField::Nonce(bytes.to_vec()));
                pos += 1 + n + len;
            }
            EXTRA_TAG_MERGE_MINING => {
                // A varint length, then depth (varint) and the 32-byte root inside it.
                let (len, n) = read_varint(body).map_err(|_| ExtraError::Malformed(pos))?;
                let inner_len = usize::try_from(len).map_err(|_| ExtraError::Malformed(pos))?;
                let inner = body
                    .get(n..n.saturating_add(inner_len))
                    .ok_or(truncated(pos))?;
                let (depth, d) = read_varint(inner).map_err(|_| ExtraError::Malformed(pos))?;
                if inner.len() != d + 32 {
                    return Err(ExtraError::Malformed(pos));
                }
                let mut root = [0u8; 32];
                root.copy_from_slice(&inner[d..]);
                fields.push(ExtraField::MergeMining {
                    depth,
                    merkle_root: root,
                });
                pos += 1 + n + inner_len;
            }
            EXTRA_TAG_ADDITIONAL_PUBKEYS => {
                let (count, n) = read_varint(body).map_err(|_| ExtraError::Malformed(pos))?;
                // Each key is 32 bytes: a count beyond what is left is a lie.
                let left = (body.len() - n) as u64 / 32;
                if count > left {
                    return Err(truncated(pos));
                }
                let keys = body[n..n + 32 * count as usize]
                    .chunks_exact(32)
                    .map(|c| {
                        let mut k = [0u8; 32];
                        k.copy_from_slice(c);
                        k
                    })
                    .collect::<Vec<_>>();
                pos += 1 + n + 32 * keys.len();
                fields.push(ExtraField::AdditionalPubKeys(keys));
            }
            other => {
                return Err(ExtraError::UnknownTag {
                    tag: other,
                    at: pos,
                })
            }
        }
    }
    Ok(fields)
}

/// The first transaction public key in `tx_extra`, if any field parses to one.
pub fn extra_pubkey(extra: &[u8]) -> Option<Hash32> {
    parse_extra(extra).ok()?.into_iter().find_map(|f| match f {
        ExtraField::PubKey(k) => Some(k),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Monero mainnet's genesis miner transaction (`GENESIS_TX` in `cryptonote_config.h`).
    pub(crate) const GENESIS_TX: &str = "013c01ff0001ffffffffffff03029b2e4c0281c0b02e7c53291a94d1d0cbff8883f8024f5142ee494ffbbd08807121017767aafcde9be00dcfd098715ebcf7f410daebc582fda69d24a28e9d0bc890d1";

    fn genesis() -> Block {
        let tx = MinerTx::parse(&hex::decode(GENESIS_TX).unwrap()).unwrap();
        Block {
            header: BlockHeader {
                major_version: 1,
                minor_version: 0,
                timestamp: 0,
                prev_id: [0; 32],
                nonce: 10000,
            },
            miner_tx: tx,
            tx_hashes: vec![],
        }
    }

    #[test]
    fn genesis_block_id() {
        let g = genesis();
        assert_eq!(g.miner_tx.version, 1);
        assert_eq!(g.miner_tx.unlock_time, 60);
        assert_eq!(g.miner_tx.height, 0);
        assert_eq!(g.miner_tx.total_amount(), Some(17_592_186_044_415));
        assert_eq!(g.miner_tx.serialize(), hex::decode(GENESIS_TX).unwrap());
        assert_eq!(
            hex::encode(g.id()),
            "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"
        );
        assert_eq!(Block::parse(&g.serialize()).unwrap(), g);
        assert_eq!(
            extra_pubkey(&g.miner_tx.extra).map(hex::encode).as_deref(),
            Some("7767aafcde9be00dcfd098715ebcf7f410daebc582fda69d24a28e9d0bc890d1")
        );
    }

    #[test]
    fn nonce_offset_is_where_the_nonce_is() {
        let g = genesis();
        let blob = g.serialize();
        let at = g.header.nonce_offset();
        assert_eq!(&blob[at..at + 4], &10000u32.to_le_bytes());
        assert_eq!(&g.hashing_blob()[at..at + 4], &10000u32.to_le_bytes());
    }

    #[test]
    fn rejections() {
        let blob = genesis().serialize();
        for cut in 0..blob.len() {
            assert!(Block::parse(&blob[..cut]).is_err(), "prefix of {cut} bytes");
        }
        let mut long = blob.clone();
        long.push(0);
        assert_eq!(Block::parse(&long), Err(ParseError::TrailingBytes(1)));
        // major_version 256 does not fit uint8_t.
        let mut v = vec![0x80, 0x02];
        v.extend_from_slice(&blob[1..]);
        assert_eq!(
            Block::parse(&v),
            Err(ParseError::OutOfRange("major_version"))
        );
        // A v2 transaction whose RingCT type is not null.
        let mut tx = genesis().miner_tx;
        tx.version = 2;
        let mut b = tx.serialize();
        *b.last_mut().unwrap() = 5;
        assert_eq!(MinerTx::parse(&b), Err(ParseError::RctType(5)));
        // A count larger than the bytes left.
        let mut huge = Vec::new();
        genesis().header.write(&mut huge);
        genesis().miner_tx.write(&mut huge);
        write_varint(&mut huge, 1000);
        assert!(matches!(Block::parse(&huge), Err(ParseError::Truncated(_))));
        let mut over = Vec::new();
        genesis().header.write(&mut over);
        genesis().miner_tx.write(&mut over);
        write_varint(&mut over, MAX_TX_HASHES + 1);
        assert!(matches!(
            Block::parse(&over),
            Err(ParseError::TooMany { .. })
        ));
    }

    #[test]
    fn extra_fields() {
        let mut e = vec![EXTRA_TAG_PUBKEY];
        e.extend_from_slice(&[7; 32]);
        e.extend_from_slice(&[EXTRA_TAG_NONCE, 3, 1, 2, 3]);
        e.extend_from_slice(&[EXTRA_TAG_ADDITIONAL_PUBKEYS, 2]);
        e.extend_from_slice(&[8; 64]);
        e.extend_from_slice(&[EXTRA_TAG_MERGE_MINING, 33, 5]);
        e.extend_from_slice(&[9; 32]);
        e.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            parse_extra(&e).unwrap(),
            vec![
                ExtraField::PubKey([7; 32]),
                ExtraField::Nonce(vec![1, 2, 3]),
                ExtraField::AdditionalPubKeys(vec![[8; 32], [8; 32]]),
                ExtraField::MergeMining {
                    depth: 5,
                    merkle_root: [9; 32]
                },
                ExtraField::Padding(3),
            ]
        );
        assert!(parse_extra(&[EXTRA_TAG_PUBKEY, 1]).is_err());
        assert!(parse_extra(&[0, 1]).is_err());
        assert!(parse_extra(&[0x42]).is_err());
        assert!(parse_extra(&[EXTRA_TAG_ADDITIONAL_PUBKEYS, 0xff, 0xff, 0x03]).is_err());
        // Nonce lengths are varints: 200 bytes take the length 0xc8 0x01.
        let mut long = vec![EXTRA_TAG_NONCE, 0xc8, 0x01];
        long.extend_from_slice(&[5; 200]);
        assert_eq!(
            parse_extra(&long),
            Ok(vec![ExtraField::Nonce(vec![5; 200])])
        );
        let mut too_long = vec![EXTRA_TAG_NONCE, 0x80, 0x02];
        too_long.extend_from_slice(&[5; 256]);
        assert!(parse_extra(&too_long).is_err());
        assert!(parse_extra(&[EXTRA_TAG_NONCE, 0x80, 0x00]).is_err());
        assert!(parse_extra(&[EXTRA_TAG_NONCE]).is_err());
    }

    fn arb_target() -> impl Strategy<Value = OutputTarget> {
        prop_oneof![
            any::<[u8; 32]>().prop_map(OutputTarget::Key),
            (any::<[u8; 32]>(), any::<u8>())
                .prop_map(|(key, view_tag)| OutputTarget::TaggedKey { key, view_tag }),
        ]
    }

    fn arb_block() -> impl Strategy<Value = Block> {
        let header = (
            any::<u8>(),
            any::<u8>(),
            any::<u64>(),
            any::<[u8; 32]>(),
            any::<u32>(),
        )
            .prop_map(|(a, b, t, p, n)| BlockHeader {
                major_version: a,
                minor_version: b,
                timestamp: t,
                prev_id: p,
                nonce: n,
            });
        let tx = (
            1u64..=2,
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(
                (any::<u64>(), arb_target()).prop_map(|(amount, target)| TxOut { amount, target }),
                0..8,
            ),
            proptest::collection::vec(any::<u8>(), 0..80),
        )
            .prop_map(|(version, unlock_time, height, outputs, extra)| MinerTx {
                version,
                unlock_time,
                height,
                outputs,
                extra,
            });
        (
            header,
            tx,
            proptest::collection::vec(any::<[u8; 32]>(), 0..6),
        )
            .prop_map(|(header, miner_tx, tx_hashes)| Block {
                header,
                miner_tx,
                tx_hashes,
            })
    }

    proptest! {
        #[test]
        fn round_trip(b in arb_block()) {
            let blob = b.serialize();
            let parsed = Block::parse(&blob).unwrap();
            prop_assert_eq!(&parsed, &b);
            prop_assert_eq!(parsed.serialize(), blob.clone());
            let hb = b.hashing_blob();
            prop_assert_eq!(&hb[..b.header.nonce_offset() + 4], &blob[..b.header.nonce_offset() + 4]);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(b) = Block::parse(&bytes) {
                prop_assert_eq!(b.serialize(), bytes.clone());
            }
            if let Ok(t) = MinerTx::parse(&bytes) {
                prop_assert_eq!(t.serialize(), bytes.clone());
            }
            let _ = parse_extra(&bytes);
        }

        #[test]
        fn mutated_blocks_never_panic(b in arb_block(), at in any::<usize>(), byte in any::<u8>()) {
            let mut blob = b.serialize();
            let i = at % blob.len();
            blob[i] = byte;
            if let Ok(p) = Block::parse(&blob) {
                prop_assert_eq!(p.serialize(), blob);
            }
        }
    }
}
