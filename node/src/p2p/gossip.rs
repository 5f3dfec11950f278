//! The gossip message of a new share: one format byte, then the share's canonical encoding
//! (docs/consensus.md), or its compact form (`otedama_consensus::share::compact`, docs/p2p.md).

use libp2p::gossipsub::MessageId;
use otedama_consensus::share::compact::{
    compact, CompactDecodeError, CompactShare, MAX_COMPACT_BYTES,
};
use otedama_consensus::share::{DecodeError, MAX_SHARE_BYTES};
use otedama_consensus::Share;

use super::{GOSSIP_COMPACT_SHARE, GOSSIP_FOUND_BLOCK, GOSSIP_FULL_SHARE};

/// Largest share gossip message: the format byte and the largest share.
pub const MAX_GOSSIP_BYTES: usize = 1 + MAX_SHARE_BYTES;
/// Largest compact share gossip message: the format byte and the largest compact share.
pub const MAX_GOSSIP_COMPACT_BYTES: usize = 1 + MAX_COMPACT_BYTES;
/// Largest block gossiped: a block of 4,000,000 WU is at most 4,000,000 bytes, and Litecoin's
/// extension block adds its own (bounded by its 200,000 MWEB weight); 8 MiB holds both. A larger
/// block is still submitted by its finder, just not gossiped.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;
/// Largest gossip message of any kind. Gossipsub's own frame adds protobuf fields, signature
/// and key (under 256 bytes), so its transmit limit is this + 1 KiB.
pub const MAX_GOSSIP_MESSAGE: usize = 1 + MAX_BLOCK_BYTES;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GossipError {
    #[error("empty gossip message")]
    Empty,
    #[error("gossip message of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("unknown gossip format {0}")]
    UnknownFormat(u8),
    #[error("not a share: {0}")]
    Share(#[from] DecodeError),
    #[error("not a compact share: {0}")]
    Compact(#[from] CompactDecodeError),
}

pub fn encode(share: &Share) -> Vec<u8> {
    let body = share.encode();
    let mut out = Vec::with_capacity(1 + body.len());
    out.push(GOSSIP_FULL_SHARE);
    out.extend_from_slice(&body);
    out
}

/// A share's compact gossip message; `None` for the rare share without a compact form (a
/// witness commitment longer than BIP141's), which travels in full only.
pub fn encode_compact(share: &Share) -> Option<Vec<u8>> {
    let body = compact(share).ok()?.encode();
    let mut out = Vec::with_capacity(1 + body.len());
    out.push(GOSSIP_COMPACT_SHARE);
    out.extend_from_slice(&body);
    Some(out)
}

/// The compact share of a compact gossip message.
pub fn decode_compact(data: &[u8]) -> Result<CompactShare, GossipError> {
    if data.len() > MAX_GOSSIP_COMPACT_BYTES {
        return Err(GossipError::TooLarge(data.len()));
    }
    match data.split_first() {
        None => Err(GossipError::Empty),
        Some((&GOSSIP_COMPACT_SHARE, body)) => Ok(CompactShare::decode(body)?),
        Some((&f, _)) => Err(GossipError::UnknownFormat(f)),
    }
}

/// A found block's gossip message.
pub fn encode_block(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + block.len());
    out.push(GOSSIP_FOUND_BLOCK);
    out.extend_from_slice(block);
    out
}

/// The block bytes of a block gossip message.
pub fn decode_block(data: &[u8]) -> Result<&[u8], GossipError> {
    if data.len() > MAX_GOSSIP_MESSAGE {
        return Err(GossipError::TooLarge(data.len()));
    }
    match data.split_first() {
        None => Err(GossipError::Empty),
        Some((&GOSSIP_FOUND_BLOCK, body)) => Ok(body),
        Some((&f, _)) => Err(GossipError::UnknownFormat(f)),
    }
}

pub fn decode(data: &[u8]) -> Result<Share, GossipError> {
    if data.len() > MAX_GOSSIP_BYTES {
        return Err(GossipError::TooLarge(data.len()));
    }
    match data.split_first() {
        None => Err(GossipError::Empty),
        Some((&GOSSIP_FULL_SHARE, body)) => Ok(Share::decode(body)?),
        Some((&f, _)) => Err(GossipError::UnknownFormat(f)),
    }
}

/// Gossipsub message id: the first 20 bytes of blake3 over the topic and the payload, so the
/// same share relayed by any peer is one message (the default id, source + sequence number,
/// would let a share circulate once per publisher). The topic is in it because a found block
/// is the same bytes on both share topics, and gossipsub refuses to publish an id it has seen.
/// 160 bits leave no practical collision.
pub fn message_id(topic: &str, data: &[u8]) -> MessageId {
    let mut h = blake3::Hasher::new();
    h.update(&(topic.len() as u64).to_le_bytes());
    h.update(topic.as_bytes());
    h.update(data);
    MessageId::new(&h.finalize().as_bytes()[..20])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_payloads_get_their_reason() {
        assert_eq!(decode(&[]), Err(GossipError::Empty));
        assert_eq!(decode(&[9, 1, 2]), Err(GossipError::UnknownFormat(9)));
        assert!(matches!(decode(&[1, 1, 2]), Err(GossipError::Share(_))));
        assert!(matches!(
            decode_compact(&[3, 1, 2]),
            Err(GossipError::Compact(_))
        ));
        assert_eq!(decode_compact(&[1, 1]), Err(GossipError::UnknownFormat(1)));
        let big = vec![3u8; MAX_GOSSIP_COMPACT_BYTES + 1];
        assert_eq!(decode_compact(&big), Err(GossipError::TooLarge(big.len())));
        let big = vec![1u8; MAX_GOSSIP_BYTES + 1];
        assert_eq!(decode(&big), Err(GossipError::TooLarge(big.len())));
        assert_eq!(message_id("t", b"a"), message_id("t", b"a"));
        assert_ne!(message_id("t", b"a"), message_id("t", b"b"));
        assert_ne!(message_id("t", b"a"), message_id("u", b"a"));
    }
}

#[cfg(test)]
mod wire_cost {
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::{PoolParams, Preset};
    use otedama_consensus::testkit::{make_share, T0};
    use otedama_consensus::MemoryChain;

    /// What a share costs on the wire as the window fills with distinct miners, full and
    /// compact (numbers quoted in docs/p2p.md and docs/performance.md): the coinbase's payout
    /// outputs dominate the full form and are absent from the compact one.
    #[test]
    fn share_size_grows_with_payout_outputs() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let mut view = MemoryChain::new();
        let mut parent = None;
        let mut sizes = Vec::new();
        for i in 0..400u64 {
            let t = T0 + 10 * i;
            let s = make_share(&pool, &view, parent, i as u32, t, vec![], i).unwrap();
            let compact = super::encode_compact(&s).unwrap();
            // What the receiver does: rebuild from its window, byte for byte.
            let back = super::decode_compact(&compact).unwrap();
            let rebuilt = otedama_consensus::share::compact::rebuild(&pool, &view, &back);
            assert_eq!(rebuilt.as_ref(), Ok(&s));
            view.validate_and_insert(&pool, &s, t).unwrap();
            parent = Some(s.id());
            let outputs = s.candidate.output_count();
            if [0, 9, 49, 199, 399].contains(&i) {
                sizes.push((i + 1, outputs, super::encode(&s).len(), compact.len()));
            }
        }
        eprintln!(
            "miners in window, coinbase outputs, full gossip bytes, compact bytes: {sizes:?}"
        );
        let (_, _, first, first_compact) = sizes[0];
        let (_, _, last, last_compact) = sizes[sizes.len() - 1];
        assert!(first < 600, "{sizes:?}");
        assert!(last < super::MAX_GOSSIP_BYTES, "{sizes:?}");
        assert!(last > first);
        // The compact form does not grow with the payees.
        assert_eq!(first_compact, last_compact, "{sizes:?}");
        assert!(last_compact * 10 < last, "{sizes:?}");
    }
}
