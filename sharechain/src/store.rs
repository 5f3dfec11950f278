//! The RocksDB store: typed column families, every state change one atomic `WriteBatch`.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `shares` | share id | canonical share encoding (consensus crate) |
//! | `index` | share id | `ShareInfo` ([`crate::codec`]): what start-up loads instead of revalidating |
//! | `height` | big-endian height, id | empty: range scans by height (start-up, pruning, sync) |
//! | `meta` | `version`, `consensus_id`, `best`, `trusted_base` | store layout version, pool, best tip, the trusted base synced from (if any) |
//! | `blocks` | share id | [`FoundBlock`]: shares that were parent-chain blocks |
//! | `peers` | peer key | the P2P layer's address book entry (opaque bytes, <= 4 KiB) |
//!
//! The store has one writer: the [`crate::Sharechain`] that owns it. Readers elsewhere get data
//! through it.

use crate::codec::{self, CodecError};
use bitcoin::hashes::Hash;
use otedama_consensus::{ConsensusId, Share, ShareHash, ShareInfo};
use rocksdb::{ColumnFamilyDescriptor, IteratorMode, Options, WriteBatch, DB};
use std::path::Path;

/// Layout version of the whole store; a store of another version is refused, not guessed at.
/// 2: index entries carry the retarget anchor's height (`codec::INDEX_FORMAT` 2).
pub const STORE_VERSION: u32 = 2;

const CF_SHARES: &str = "shares";
const CF_INDEX: &str = "index";
const CF_HEIGHT: &str = "height";
const CF_META: &str = "meta";
const CF_BLOCKS: &str = "blocks";
const CF_PEERS: &str = "peers";
const COLUMN_FAMILIES: [&str; 6] = [CF_SHARES, CF_INDEX, CF_HEIGHT, CF_META, CF_BLOCKS, CF_PEERS];

const META_VERSION: &[u8] = b"version";
const META_CONSENSUS_ID: &[u8] = b"consensus_id";
const META_BEST: &[u8] = b"best";
/// The trusted base this store was synced from (docs/consensus.md section 13), while it is
/// stored: its index entry was taken from a peer, and its ancestors are not here.
const META_TRUSTED_BASE: &[u8] = b"trusted_base";
/// Prefix of ban records in the `meta` family: `ban/` + peer id bytes -> unix time it ends.
const META_BAN_PREFIX: &[u8] = b"ban/";
/// Most bans kept across restarts (as many as peer scores are tracked).
pub const MAX_STORED_BANS: usize = 4096;

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("corrupt {what} record (key {key}): {source}")]
    Corrupt {
        what: &'static str,
        key: String,
        source: CodecError,
    },
    #[error("corrupt share record {key}: {reason}")]
    CorruptShare { key: String, reason: String },
    #[error("store layout version {found}, this software reads version {expected}")]
    Version { found: u32, expected: u32 },
    #[error(
        "store belongs to pool {found}, not to this pool {expected}: use another data directory"
    )]
    ForeignPool { found: String, expected: String },
}

fn corrupt(what: &'static str, key: &[u8], source: CodecError) -> StoreError {
    StoreError::Corrupt {
        what,
        key: hex_short(key),
        source,
    }
}

fn hex_short(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len() * 2);
    for b in key {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Where a found block stands with the full node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockStatus {
    /// Handed to the full node, no final answer yet (it is away, frozen or restarting).
    Submitting,
    /// `submitblock` accepted it.
    Accepted,
    /// The full node already had it (from a peer of ours or of its own).
    Duplicate,
    /// Valid but not on the full node's best chain when it answered.
    Inconclusive,
    /// Refused, with the full node's reason (or our own pre-submit check's).
    Rejected,
    /// The parent chain moved past its height before the full node took it.
    Stale,
}

impl BlockStatus {
    pub const ALL: [BlockStatus; 6] = [
        BlockStatus::Submitting,
        BlockStatus::Accepted,
        BlockStatus::Duplicate,
        BlockStatus::Inconclusive,
        BlockStatus::Rejected,
        BlockStatus::Stale,
    ];

    fn code(self) -> u8 {
        match self {
            BlockStatus::Submitting => 0,
            BlockStatus::Accepted => 1,
            BlockStatus::Duplicate => 2,
            BlockStatus::Inconclusive => 3,
            BlockStatus::Rejected => 4,
            BlockStatus::Stale => 5,
        }
    }

    fn from_code(c: u8) -> Option<BlockStatus> {
        BlockStatus::ALL.into_iter().find(|s| s.code() == c)
    }

    /// The name the API and the CLI show.
    pub fn name(self) -> &'static str {
        match self {
            BlockStatus::Submitting => "submitting",
            BlockStatus::Accepted => "accepted",
            BlockStatus::Duplicate => "duplicate",
            BlockStatus::Inconclusive => "inconclusive",
            BlockStatus::Rejected => "rejected",
            BlockStatus::Stale => "stale",
        }
    }

    /// Whether the full node has the block (it may still be orphaned later).
    pub fn in_full_node(self) -> bool {
        match self {
            BlockStatus::Accepted | BlockStatus::Duplicate | BlockStatus::Inconclusive => true,
            BlockStatus::Submitting | BlockStatus::Rejected | BlockStatus::Stale => false,
        }
    }
}

/// Longest reason kept with a block record (Core's reject reasons are short tokens).
pub const MAX_BLOCK_REASON: usize = 200;

/// A share that met the parent chain's target, as recorded when it was found or received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundBlock {
    /// The block hash (as a 32-byte id).
    pub share: ShareHash,
    pub parent_height: u32,
    /// Coinbase value the block pays (sum of its payout outputs).
    pub reward: u64,
    /// Unix time it was recorded.
    pub time: u64,
    pub status: BlockStatus,
    /// The full node's answer or the error that kept it from answering (bounded).
    pub reason: String,
    /// `submitblock` calls made so far.
    pub attempts: u32,
}

impl FoundBlock {
    /// Format 1 (before statuses) records read as accepted: only accepted blocks were kept.
    const LEN_V1: usize = 1 + 32 + 4 + 8 + 8;

    pub fn encode(&self) -> Vec<u8> {
        let reason = truncate_utf8(&self.reason, MAX_BLOCK_REASON);
        let mut v = Vec::with_capacity(Self::LEN_V1 + 6 + reason.len());
        v.push(2);
        v.extend_from_slice(self.share.as_byte_array());
        v.extend_from_slice(&self.parent_height.to_le_bytes());
        v.extend_from_slice(&self.reward.to_le_bytes());
        v.extend_from_slice(&self.time.to_le_bytes());
        v.push(self.status.code());
        v.extend_from_slice(&self.attempts.to_le_bytes());
        v.push(reason.len() as u8);
        v.extend_from_slice(reason.as_bytes());
        v
    }

    pub fn decode(b: &[u8]) -> Result<FoundBlock, CodecError> {
        let version = *b.first().ok_or(CodecError::Truncated(0))?;
        if version != 1 && version != 2 {
            return Err(CodecError::UnknownFormat(version));
        }
        if b.len() < Self::LEN_V1 {
            return Err(CodecError::Truncated(b.len()));
        }
        let mut h = [0u8; 32];
        h.copy_from_slice(&b[1..33]);
        let mut u4 = [0u8; 4];
        u4.copy_from_slice(&b[33..37]);
        let mut u8a = [0u8; 8];
        u8a.copy_from_slice(&b[37..45]);
        let mut u8b = [0u8; 8];
        u8b.copy_from_slice(&b[45..53]);
        let mut block = FoundBlock {
            share: ShareHash::from_byte_array(h),
            parent_height: u32::from_le_bytes(u4),
            reward: u64::from_le_bytes(u8a),
            time: u64::from_le_bytes(u8b),
            status: BlockStatus::Accepted,
            reason: String::new(),
            attempts: 1,
        };
        let rest = &b[Self::LEN_V1..];
        if version == 1 {
            return match rest.len() {
                0 => Ok(block),
                n => Err(CodecError::Trailing(n)),
            };
        }
        if rest.len() < 6 {
            return Err(CodecError::Truncated(b.len()));
        }
        block.status =
            BlockStatus::from_code(rest[0]).ok_or(CodecError::OutOfRange("block status"))?;
        block.attempts = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = rest[5] as usize;
        let reason = rest.get(6..6 + len).ok_or(CodecError::Truncated(b.len()))?;
        if rest.len() != 6 + len {
            return Err(CodecError::Trailing(rest.len() - 6 - len));
        }
        block.reason = String::from_utf8_lossy(reason).into_owned();
        Ok(block)
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An address-book entry: peer key and the P2P layer's bytes.
pub type PeerEntry = (Vec<u8>, Vec<u8>);

/// Largest address-book entry the store accepts.
pub const MAX_PEER_ENTRY: usize = 4096;

/// A sharechain store in one directory.
pub struct Store {
    db: DB,
}

impl Drop for Store {
    /// A clean shutdown flushes every memtable, so the next start has no log to replay (a crash
    /// replays at most the 64 MB the WAL is bounded to).
    fn drop(&mut self) {
        for name in COLUMN_FAMILIES {
            if let Some(cf) = self.db.cf_handle(name) {
                if let Err(e) = self.db.flush_cf(cf) {
                    tracing::warn!(column_family = name, error = %e, "flush at shutdown failed");
                }
            }
        }
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` for the pool `consensus_id`. A store of
    /// another layout version or another pool is refused with a clear error.
    pub fn open(path: &Path, consensus_id: &ConsensusId) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // The small `meta` family is written with every new best tip and never fills its
        // memtable, which would keep every WAL file alive up to RocksDB's multi-GB default and
        // make a restart replay all of it (measured: 4.4 GB, 10 s at 750k shares). 64 MB bounds
        // the replay to well under a second and forces the small families to flush.
        opts.set_max_total_wal_size(64 << 20);
        // Shares are hashes and scripts: they do not compress; keep the write path simple.
        let mut cf_opts = Options::default();
        cf_opts.set_compression_type(rocksdb::DBCompressionType::None);
        opts.set_compression_type(rocksdb::DBCompressionType::None);
        let cfs = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_opts.clone()));
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let store = Store { db };
        store.check_or_init_meta(consensus_id)?;
        Ok(store)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        // The column families are created at open; their absence is impossible after it.
        self.db
            .cf_handle(name)
            .unwrap_or_else(|| unreachable!("column family {name} opened at start"))
    }

    fn check_or_init_meta(&self, consensus_id: &ConsensusId) -> Result<(), StoreError> {
        let meta = self.cf(CF_META);
        match self.db.get_cf(meta, META_VERSION)? {
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(meta, META_VERSION, STORE_VERSION.to_le_bytes());
                batch.put_cf(meta, META_CONSENSUS_ID, consensus_id.as_byte_array());
                self.db.write(batch)?;
                Ok(())
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_slice())
                    .map(u32::from_le_bytes)
                    .map_err(|_| {
                        corrupt("meta version", META_VERSION, CodecError::Truncated(v.len()))
                    })?;
                if found != STORE_VERSION {
                    return Err(StoreError::Version {
                        found,
                        expected: STORE_VERSION,
                    });
                }
                let stored = self.db.get_cf(meta, META_CONSENSUS_ID)?.ok_or_else(|| {
                    corrupt(
                        "meta consensus id",
                        META_CONSENSUS_ID,
                        CodecError::Truncated(0),
                    )
                })?;
                let stored = codec::decode_hash(&stored)
                    .map_err(|e| corrupt("meta consensus id", META_CONSENSUS_ID, e))?;
                if stored.as_byte_array() != consensus_id.as_byte_array() {
                    return Err(StoreError::ForeignPool {
                        found: ConsensusId::from_byte_array(stored.to_byte_array()).to_string(),
                        expected: consensus_id.to_string(),
                    });
                }
                Ok(())
            }
        }
    }

    /// Stores a validated share and its index entry, and the new best tip if it changed, in one
    /// atomic batch: after a crash either all of it is there or none.
    pub fn put_share(
        &self,
        share: &Share,
        info: &ShareInfo,
        new_best: Option<&ShareHash>,
    ) -> Result<(), StoreError> {
        let mut batch = self.share_batch(share, info);
        if let Some(best) = new_best {
            batch.put_cf(self.cf(CF_META), META_BEST, best.as_byte_array());
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// The writes that store one share: body, index entry and height key.
    fn share_batch(&self, share: &Share, info: &ShareInfo) -> WriteBatch {
        let mut batch = WriteBatch::default();
        let id = info.id.as_byte_array();
        batch.put_cf(self.cf(CF_SHARES), id, share.encode());
        batch.put_cf(self.cf(CF_INDEX), id, codec::encode_info(info));
        batch.put_cf(
            self.cf(CF_HEIGHT),
            codec::height_key(info.height, &info.id),
            [],
        );
        batch
    }

    /// Stores a trusted base (a share whose index entry came from a peer) and marks it as the
    /// store's trusted base, with the new best tip if it is one, in one atomic batch.
    pub fn put_trusted_base(
        &self,
        share: &Share,
        info: &ShareInfo,
        new_best: bool,
    ) -> Result<(), StoreError> {
        let mut batch = self.share_batch(share, info);
        let id = info.id.as_byte_array();
        batch.put_cf(self.cf(CF_META), META_TRUSTED_BASE, id);
        if new_best {
            batch.put_cf(self.cf(CF_META), META_BEST, id);
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// The trusted base, while it is stored.
    pub fn trusted_base(&self) -> Result<Option<ShareHash>, StoreError> {
        match self.db.get_cf(self.cf(CF_META), META_TRUSTED_BASE)? {
            None => Ok(None),
            Some(v) => codec::decode_hash(&v)
                .map(Some)
                .map_err(|e| corrupt("meta trusted base", META_TRUSTED_BASE, e)),
        }
    }

    /// Lowest height in the store, if any share is stored.
    pub fn min_height(&self) -> Result<Option<u64>, StoreError> {
        self.edge_height(IteratorMode::Start)
    }

    /// The first height of the height index read from one end (keys sort by height).
    fn edge_height(&self, from: IteratorMode) -> Result<Option<u64>, StoreError> {
        let mut it = self.db.iterator_cf(self.cf(CF_HEIGHT), from);
        match it.next() {
            None => Ok(None),
            Some(item) => {
                let (key, _) = item?;
                let (h, _) =
                    codec::parse_height_key(&key).map_err(|e| corrupt("height", &key, e))?;
                Ok(Some(h))
            }
        }
    }

    pub fn share(&self, id: &ShareHash) -> Result<Option<Share>, StoreError> {
        match self.db.get_cf(self.cf(CF_SHARES), id.as_byte_array())? {
            None => Ok(None),
            Some(bytes) => Share::decode(&bytes)
                .map(Some)
                .map_err(|e| StoreError::CorruptShare {
                    key: id.to_string(),
                    reason: e.to_string(),
                }),
        }
    }

    pub fn info(&self, id: &ShareHash) -> Result<Option<ShareInfo>, StoreError> {
        match self.db.get_cf(self.cf(CF_INDEX), id.as_byte_array())? {
            None => Ok(None),
            Some(bytes) => codec::decode_info(&bytes)
                .map(Some)
                .map_err(|e| corrupt("index", id.as_byte_array(), e)),
        }
    }

    pub fn best(&self) -> Result<Option<ShareHash>, StoreError> {
        match self.db.get_cf(self.cf(CF_META), META_BEST)? {
            None => Ok(None),
            Some(v) => codec::decode_hash(&v)
                .map(Some)
                .map_err(|e| corrupt("meta best tip", META_BEST, e)),
        }
    }

    /// Index entries of every share at `min_height` or above, in height order: what start-up
    /// loads (the live windows plus a margin), without touching older shares.
    pub fn infos_from_height(&self, min_height: u64) -> Result<Vec<ShareInfo>, StoreError> {
        let start = codec::height_key(min_height, &ShareHash::all_zeros());
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_HEIGHT), mode) {
            let (key, _) = item?;
            let (_, id) = codec::parse_height_key(&key).map_err(|e| corrupt("height", &key, e))?;
            let info = self
                .info(&id)?
                .ok_or_else(|| corrupt("index", id.as_byte_array(), CodecError::Truncated(0)))?;
            out.push(info);
        }
        Ok(out)
    }

    /// Highest height in the store, if any share is stored.
    pub fn max_height(&self) -> Result<Option<u64>, StoreError> {
        self.edge_height(IteratorMode::End)
    }

    /// Deletes every share below `height` in one batch; returns how many.
    pub fn prune_below(&self, height: u64) -> Result<usize, StoreError> {
        self.prune_range(0, height)
    }

    /// Deletes every share with a height in `from..to` in one batch (and the trusted-base mark
    /// when the base is among them); returns how many. Starting at `from`, the lowest height
    /// still stored, skips the deletion markers earlier prunes left at the front of the height
    /// family, which RocksDB would otherwise step over until they are compacted away.
    pub fn prune_range(&self, from: u64, to: u64) -> Result<usize, StoreError> {
        let start = codec::height_key(from, &ShareHash::all_zeros());
        let end = codec::height_key(to, &ShareHash::all_zeros());
        let base = self.trusted_base()?;
        let mut batch = WriteBatch::default();
        let mut n = 0;
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_HEIGHT), mode) {
            let (key, _) = item?;
            if key.as_ref() >= end.as_slice() {
                break;
            }
            let (_, id) = codec::parse_height_key(&key).map_err(|e| corrupt("height", &key, e))?;
            batch.delete_cf(self.cf(CF_SHARES), id.as_byte_array());
            batch.delete_cf(self.cf(CF_INDEX), id.as_byte_array());
            batch.delete_cf(self.cf(CF_HEIGHT), &key);
            if base == Some(id) {
                batch.delete_cf(self.cf(CF_META), META_TRUSTED_BASE);
            }
            n += 1;
        }
        self.db.write(batch)?;
        // Deletions free disk only when compaction drops them. The families pruning touches
        // hold `prune_depth` shares (about 25 MB on main) once the node prunes, so compacting
        // them whole once per prune (a window of shares) is cheap and keeps the store flat;
        // left to RocksDB, deleted shares linger in the lower levels for a long time.
        if n > 0 {
            for name in [CF_SHARES, CF_INDEX, CF_HEIGHT] {
                self.db
                    .compact_range_cf(self.cf(name), None::<&[u8]>, None::<&[u8]>);
            }
        }
        Ok(n)
    }

    /// Share ids from `from` up to `to` (inclusive), at most `limit`, in height order.
    pub fn ids_by_height(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<(u64, ShareHash)>, StoreError> {
        let start = codec::height_key(from, &ShareHash::all_zeros());
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_HEIGHT), mode) {
            if out.len() >= limit {
                break;
            }
            let (key, _) = item?;
            let (h, id) = codec::parse_height_key(&key).map_err(|e| corrupt("height", &key, e))?;
            if h > to {
                break;
            }
            out.push((h, id));
        }
        Ok(out)
    }

    pub fn put_found_block(&self, block: &FoundBlock) -> Result<(), StoreError> {
        self.db.put_cf(
            self.cf(CF_BLOCKS),
            block.share.as_byte_array(),
            block.encode(),
        )?;
        Ok(())
    }

    /// Every recorded block, newest first.
    pub fn found_blocks(&self) -> Result<Vec<FoundBlock>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_BLOCKS), IteratorMode::Start) {
            let (key, value) = item?;
            out.push(FoundBlock::decode(&value).map_err(|e| corrupt("found block", &key, e))?);
        }
        out.sort_by(|a, b| {
            b.time
                .cmp(&a.time)
                .then(b.parent_height.cmp(&a.parent_height))
        });
        Ok(out)
    }

    /// Saves an address-book entry (bounded in size).
    pub fn put_peer(&self, key: &[u8], entry: &[u8]) -> Result<(), StoreError> {
        if key.len() > 256 || entry.len() > MAX_PEER_ENTRY {
            return Err(corrupt(
                "peer",
                key,
                CodecError::OutOfRange("peer entry size"),
            ));
        }
        self.db.put_cf(self.cf(CF_PEERS), key, entry)?;
        Ok(())
    }

    /// Records that `peer` is banned until `until` (unix seconds), so a restart keeps the ban.
    pub fn put_ban(&self, peer: &[u8], until: u64) -> Result<(), StoreError> {
        if peer.len() > 256 {
            return Err(corrupt("ban", peer, CodecError::OutOfRange("peer id size")));
        }
        let key = [META_BAN_PREFIX, peer].concat();
        self.db.put_cf(self.cf(CF_META), key, until.to_le_bytes())?;
        Ok(())
    }

    pub fn remove_ban(&self, peer: &[u8]) -> Result<(), StoreError> {
        let key = [META_BAN_PREFIX, peer].concat();
        self.db.delete_cf(self.cf(CF_META), key)?;
        Ok(())
    }

    /// Stored bans (peer id bytes, end in unix seconds), at most [`MAX_STORED_BANS`].
    pub fn bans(&self) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
        let mode = IteratorMode::From(META_BAN_PREFIX, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_META), mode) {
            let (key, value) = item?;
            let Some(peer) = key.strip_prefix(META_BAN_PREFIX) else {
                break;
            };
            let until = <[u8; 8]>::try_from(&value[..])
                .map(u64::from_le_bytes)
                .map_err(|_| corrupt("ban", &key, CodecError::Truncated(value.len())))?;
            out.push((peer.to_vec(), until));
            if out.len() >= MAX_STORED_BANS {
                break;
            }
        }
        Ok(out)
    }

    pub fn remove_peer(&self, key: &[u8]) -> Result<(), StoreError> {
        self.db.delete_cf(self.cf(CF_PEERS), key)?;
        Ok(())
    }

    /// One address-book entry.
    pub fn peer(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(CF_PEERS), key)?)
    }

    /// The address book, at most `limit` entries.
    pub fn peers(&self, limit: usize) -> Result<Vec<PeerEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_PEERS), IteratorMode::Start)
            .take(limit)
        {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Test and repair hook: overwrites a raw index value (used to prove corrupt data gives a
    /// clear error).
    #[doc(hidden)]
    pub fn put_raw_index(&self, id: &ShareHash, value: &[u8]) -> Result<(), StoreError> {
        self.db
            .put_cf(self.cf(CF_INDEX), id.as_byte_array(), value)?;
        Ok(())
    }

    #[doc(hidden)]
    pub fn put_raw_meta(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.db.put_cf(self.cf(CF_META), key, value)?;
        Ok(())
    }
}
