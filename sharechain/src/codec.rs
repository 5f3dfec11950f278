//! Byte layouts of what the store keeps besides raw shares: index entries (`ShareInfo`) and
//! meta values. Every record starts with a format byte so a future layout can coexist, and every
//! decode is bounds-checked: a truncated or foreign value is a [`CodecError`], never a panic.

use bitcoin::hashes::Hash;
use otedama_consensus::chain_view::UncleCredit;
use otedama_consensus::pool::limits::MAX_UNCLES;
use otedama_consensus::share::MAX_PAYOUT_SCRIPT_LEN;
use otedama_consensus::{PayoutScript, ShareHash, ShareInfo, Work};

/// Layout version of index entries. 2: the retarget anchor's height (share format 2).
pub const INDEX_FORMAT: u8 = 2;

/// Why a stored value does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("value ends early ({0} bytes)")]
    Truncated(usize),
    #[error("unknown record format {0}")]
    UnknownFormat(u8),
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("field out of range: {0}")]
    OutOfRange(&'static str),
}

struct Reader<'a>(&'a [u8], usize);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.0.len() < n {
            return Err(CodecError::Truncated(self.1));
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn hash(&mut self) -> Result<ShareHash, CodecError> {
        Ok(ShareHash::from_byte_array(self.arr()?))
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.arr::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn u128(&mut self) -> Result<u128, CodecError> {
        Ok(u128::from_le_bytes(self.arr()?))
    }
    fn script(&mut self) -> Result<PayoutScript, CodecError> {
        let n = self.u8()? as usize;
        if n == 0 || n > MAX_PAYOUT_SCRIPT_LEN {
            return Err(CodecError::OutOfRange("payout script length"));
        }
        Ok(PayoutScript::new(self.take(n)?))
    }
}

fn put_script(out: &mut Vec<u8>, s: &PayoutScript) {
    out.push(s.as_bytes().len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// `format:u8 | id | prev | height:u64 | timestamp:u64 | bits:u32 | work:u128 |
/// cumulative:u128 | anchor_height:u64 | anchor_time:u64 | parent_height:u32 | script | n:u8 |
/// (id | script | work:u128) x n | skip`
pub fn encode_info(info: &ShareInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(INDEX_FORMAT);
    out.extend_from_slice(info.id.as_byte_array());
    out.extend_from_slice(info.prev.as_byte_array());
    out.extend_from_slice(&info.height.to_le_bytes());
    out.extend_from_slice(&info.timestamp.to_le_bytes());
    out.extend_from_slice(&info.share_bits.to_consensus().to_le_bytes());
    out.extend_from_slice(&info.work.0.to_le_bytes());
    out.extend_from_slice(&info.cumulative_work.0.to_le_bytes());
    out.extend_from_slice(&info.anchor_height.to_le_bytes());
    out.extend_from_slice(&info.anchor_time.to_le_bytes());
    out.extend_from_slice(&info.parent_height.to_le_bytes());
    put_script(&mut out, &info.payout_script);
    out.push(info.uncles.len() as u8);
    for u in &info.uncles {
        out.extend_from_slice(u.id.as_byte_array());
        put_script(&mut out, &u.script);
        out.extend_from_slice(&u.work.0.to_le_bytes());
    }
    out.extend_from_slice(info.skip.as_byte_array());
    out
}

pub fn decode_info(bytes: &[u8]) -> Result<ShareInfo, CodecError> {
    let mut r = Reader(bytes, bytes.len());
    let format = r.u8()?;
    if format != INDEX_FORMAT {
        return Err(CodecError::UnknownFormat(format));
    }
    let id = r.hash()?;
    let prev = r.hash()?;
    let height = r.u64()?;
    let timestamp = r.u64()?;
    let share_bits = bitcoin::CompactTarget::from_consensus(r.u32()?);
    let work = Work(r.u128()?);
    let cumulative_work = Work(r.u128()?);
    let anchor_height = r.u64()?;
    if anchor_height > height {
        return Err(CodecError::OutOfRange("anchor height above the share"));
    }
    let anchor_time = r.u64()?;
    let parent_height = r.u32()?;
    let payout_script = r.script()?;
    let n = r.u8()? as usize;
    if n > MAX_UNCLES {
        return Err(CodecError::OutOfRange("uncle count"));
    }
    let mut uncles = Vec::with_capacity(n);
    for _ in 0..n {
        let id = r.hash()?;
        let script = r.script()?;
        let work = Work(r.u128()?);
        uncles.push(UncleCredit { id, script, work });
    }
    let skip = r.hash()?;
    if !r.0.is_empty() {
        return Err(CodecError::Trailing(r.0.len()));
    }
    Ok(ShareInfo {
        id,
        prev,
        height,
        timestamp,
        share_bits,
        work,
        cumulative_work,
        anchor_height,
        anchor_time,
        parent_height,
        payout_script,
        uncles,
        skip,
    })
}

/// A 32-byte hash value (meta: best tip, consensus id).
pub fn decode_hash(bytes: &[u8]) -> Result<ShareHash, CodecError> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| CodecError::Truncated(bytes.len()))?;
    Ok(ShareHash::from_byte_array(arr))
}

/// Key of the height index: big-endian height (so keys sort by height) then the id.
pub fn height_key(height: u64, id: &ShareHash) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&height.to_be_bytes());
    k[8..].copy_from_slice(id.as_byte_array());
    k
}

pub fn parse_height_key(k: &[u8]) -> Result<(u64, ShareHash), CodecError> {
    if k.len() != 40 {
        return Err(CodecError::Truncated(k.len()));
    }
    let mut h = [0u8; 8];
    h.copy_from_slice(&k[..8]);
    Ok((u64::from_be_bytes(h), decode_hash(&k[8..])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ShareInfo {
        ShareInfo {
            id: ShareHash::from_byte_array([1; 32]),
            prev: ShareHash::from_byte_array([2; 32]),
            height: 7,
            timestamp: 1_800_000_000,
            share_bits: bitcoin::CompactTarget::from_consensus(0x207fffff),
            work: Work(2),
            cumulative_work: Work(99),
            anchor_height: 3,
            anchor_time: 1_799_999_000,
            parent_height: 432,
            payout_script: PayoutScript::new(&[
                0x00, 0x14, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
            ]),
            uncles: vec![UncleCredit {
                id: ShareHash::from_byte_array([3; 32]),
                script: PayoutScript::new(&[0x51]),
                work: Work(2),
            }],
            skip: ShareHash::from_byte_array([4; 32]),
        }
    }

    #[test]
    fn info_round_trips() {
        let i = info();
        assert_eq!(decode_info(&encode_info(&i)).unwrap(), i);
    }

    #[test]
    fn every_truncation_and_foreign_format_is_an_error() {
        let bytes = encode_info(&info());
        for n in 0..bytes.len() {
            assert!(decode_info(&bytes[..n]).is_err(), "prefix {n}");
        }
        let mut foreign = bytes.clone();
        foreign[0] = 9;
        assert_eq!(decode_info(&foreign), Err(CodecError::UnknownFormat(9)));
        let mut long = bytes;
        long.push(0);
        assert_eq!(decode_info(&long), Err(CodecError::Trailing(1)));
    }

    #[test]
    fn height_keys_sort_by_height() {
        let a = height_key(255, &ShareHash::from_byte_array([9; 32]));
        let b = height_key(256, &ShareHash::from_byte_array([0; 32]));
        assert!(a < b);
        assert_eq!(parse_height_key(&b).unwrap().0, 256);
    }
}
