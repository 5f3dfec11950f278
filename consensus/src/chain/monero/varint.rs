//! Monero's variable-length unsigned integers: little-endian base-128 groups, the high bit of
//! each byte saying another follows (`src/common/varint.h`).
//!
//! Only the shortest encoding is accepted, as Monero's `read_varint` does (it refuses a final
//! zero group, `EVARINT_REPRESENT`), so every value has one encoding and re-serialising a parsed
//! blob gives the same bytes.

/// Longest encoding of a `u64`: ceil(64 / 7) = 10 groups.
pub const MAX_VARINT_LEN: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    #[error("varint truncated")]
    Truncated,
    #[error("varint exceeds 64 bits")]
    Overflow,
    #[error("varint not in its shortest form")]
    NonCanonical,
}

/// Appends the encoding of `value`.
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The encoding of `value` as a vector.
pub fn varint(value: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(MAX_VARINT_LEN);
    write_varint(&mut v, value);
    v
}

/// Bytes the encoding of `value` takes (1 to [`MAX_VARINT_LEN`]).
pub fn varint_len(value: u64) -> usize {
    // Significant bits, at least 1, in groups of 7.
    let bits = (u64::BITS - value.leading_zeros()).max(1) as usize;
    bits.div_ceil(7)
}

/// Reads one varint from the start of `input`; returns the value and the bytes it took.
pub fn read_varint(input: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(MAX_VARINT_LEN) {
        let group = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        // The tenth group holds bit 63 only.
        if i == MAX_VARINT_LEN - 1 && group > 1 {
            return Err(VarintError::Overflow);
        }
        value |= group << shift;
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(VarintError::NonCanonical);
            }
            return Ok((value, i + 1));
        }
    }
    if input.len() >= MAX_VARINT_LEN {
        // Ten groups, the last with its continuation bit set.
        Err(VarintError::Overflow)
    } else {
        Err(VarintError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(0x7f), [0x7f]);
        assert_eq!(varint(0x80), [0x80, 0x01]);
        assert_eq!(varint(300), [0xac, 0x02]);
        // The genesis reward, 17592186044415 = 2^44 - 1.
        assert_eq!(
            varint((1 << 44) - 1),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03]
        );
        assert_eq!(varint(u64::MAX).len(), MAX_VARINT_LEN);
        assert_eq!(read_varint(&varint(u64::MAX)), Ok((u64::MAX, 10)));
    }

    #[test]
    fn rejections() {
        assert_eq!(read_varint(&[]), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[0x80, 0x00]), Err(VarintError::NonCanonical));
        assert_eq!(
            read_varint(&[0xff, 0x80, 0x00]),
            Err(VarintError::NonCanonical)
        );
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(read_varint(&over), Err(VarintError::Overflow));
        assert_eq!(read_varint(&[0xff; 11]), Err(VarintError::Overflow));
        assert_eq!(read_varint(&[0xff; 10]), Err(VarintError::Overflow));
    }

    proptest! {
        #[test]
        fn round_trip(v in any::<u64>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut enc = varint(v);
            prop_assert_eq!(enc.len(), varint_len(v));
            let n = enc.len();
            enc.extend_from_slice(&tail);
            prop_assert_eq!(read_varint(&enc), Ok((v, n)));
        }

        #[test]
        fn garbage_is_total_and_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok((v, n)) = read_varint(&bytes) {
                prop_assert_eq!(&varint(v)[..], &bytes[..n]);
            }
        }
    }
}
