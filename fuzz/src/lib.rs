//! The harnesses of the fuzz targets (one per file in `fuzz_targets/`), kept here so that a
//! plain `cargo test --lib` replays the committed corpora through exactly the code libFuzzer
//! runs. Each takes arbitrary bytes, feeds them to the decoder under test and checks what a
//! decoder must guarantee besides not panicking: a successful decode re-encodes to the same
//! bytes (or at least to a value that decodes back to itself), and every bound holds.

use otedama_consensus::block_parse::{parse_block, parse_tx};
use otedama_consensus::template::{BlockTemplate, CoinbaseReserve, RawTemplate};
use otedama_consensus::Share;
use otedama_node::p2p::{gossip, wire};
use otedama_sharechain::{codec, FoundBlock, MAX_BLOCK_REASON};

/// `Share::decode` (the canonical share encoding, also what peers send in sync replies).
pub fn share_decode(data: &[u8]) {
    if let Ok(share) = Share::decode(data) {
        assert_eq!(
            share.encode(),
            data,
            "a decoded share re-encodes to other bytes"
        );
        let _ = share.id();
    }
}

/// Every sync-protocol message: requests and responses, one decoder each; whatever decodes
/// re-encodes to the same bytes.
pub fn p2p_wire(data: &[u8]) {
    if let Ok(req) = wire::Request::decode(data) {
        assert_eq!(
            req.encode(),
            data,
            "request re-encodes differently: {req:?}"
        );
        assert!(data.len() <= wire::MAX_REQUEST_BYTES);
    }
    if let Ok(resp) = wire::Response::decode(data) {
        assert_eq!(resp.encode(), data, "response re-encodes differently");
        match &resp {
            // What a syncing node does with the shares of a reply.
            wire::Response::Shares { shares } => shares.iter().for_each(|s| share_decode(s)),
            // And with a trusted base: the share and its index entry through their decoders.
            wire::Response::Base {
                base: Some(base), ..
            } => {
                share_decode(&base.share);
                store_codecs(&base.info);
            }
            wire::Response::Base { base: None, .. }
            | wire::Response::Headers { .. }
            | wire::Response::Busy => {}
        }
    }
}

/// Gossip payloads: a share, its compact form and a found block.
pub fn gossip_frame(data: &[u8]) {
    match gossip::decode(data) {
        Ok(share) => assert_eq!(
            gossip::encode(&share),
            data,
            "gossip share re-encodes differently"
        ),
        Err(gossip::GossipError::TooLarge(n)) => assert!(n > gossip::MAX_GOSSIP_BYTES),
        Err(_) => {}
    }
    if let Ok(block) = gossip::decode_block(data) {
        assert_eq!(gossip::encode_block(block), data);
        // What a node does with a gossiped block before handing it to its full node.
        let _ = parse_block(block, true);
    }
    // The compact form (issue 20): what decodes re-encodes to the same bytes, and its id is
    // computable; rebuilding needs a window, which the property tests cover.
    match gossip::decode_compact(data) {
        Ok(c) => {
            let mut again = vec![data[0]];
            again.extend_from_slice(&c.encode());
            assert_eq!(again, data, "compact share re-encodes differently");
            let _ = c.id();
        }
        Err(gossip::GossipError::TooLarge(n)) => assert!(n > gossip::MAX_GOSSIP_COMPACT_BYTES),
        Err(_) => {}
    }
    let _ = gossip::message_id("otedama/fuzz/shares/1", data);
}

/// Lines a miner sends to the Stratum server: the bounded line reader and the request parsers.
pub fn stratum_line(data: &[u8]) {
    // A small limit so that long lines are exercised too.
    otedama_mining::stratum::fuzz::fuzz_lines(data, 512);
}

/// A full node's `getblocktemplate` reply (the `result` object) through `BlockTemplate` and
/// coinbase fitting, and the same bytes as a block and a transaction on the wire.
pub fn gbt_reply(data: &[u8]) {
    if let Ok(raw) = serde_json::from_slice::<RawTemplate>(data) {
        if let Ok(t) = BlockTemplate::from_raw(&raw) {
            assert_eq!(t.transactions.len(), t.txids.len());
            let _ = t.merkle_branch();
            for reserve in [
                CoinbaseReserve {
                    weight: 4_000,
                    sigops: 400,
                },
                CoinbaseReserve {
                    weight: 400_000,
                    sigops: 20_000,
                },
                CoinbaseReserve {
                    weight: u64::MAX / 4,
                    sigops: u64::MAX / 4,
                },
            ] {
                if let Ok((fitted, _)) = t.fit_coinbase(reserve) {
                    assert!(fitted.transactions.len() <= t.transactions.len());
                    assert!(fitted.coinbase_value <= t.coinbase_value);
                }
            }
        }
    }
    for mweb in [false, true] {
        let _ = parse_block(data, mweb);
        let _ = parse_tx(data, mweb);
    }
}

/// The node API's request head parser (server side), as `otedama_rpc::server` calls it.
pub fn http_request(data: &[u8]) {
    use otedama_rpc::http::{head_end, parse_head, MAX_BODY_BYTES};
    let end = head_end(data).unwrap_or(data.len());
    if let Ok((req, len)) = parse_head(&data[..end]) {
        assert!(len <= MAX_BODY_BYTES);
        assert!(!req.method.is_empty());
    }
}

/// `otedama-http`'s response reader (the client side: full-node RPC and otedama-cli), fed one
/// byte at a time and all at once: both must give the same answer. The first byte is not part
/// of the response: its low bit says whether the request was a `HEAD` (no body expected).
pub fn http_response(data: &[u8]) {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let head_request = flags & 1 != 0;
    let (max_head, max_body) = (1024, 4096);
    let all = otedama_http::fuzz_read_response(data, usize::MAX, head_request, max_head, max_body);
    let one = otedama_http::fuzz_read_response(data, 1, head_request, max_head, max_body);
    // Whether the connection may be reused does depend on arrival: bytes the server sent past
    // the response are seen (and the connection dropped) only when they arrive with it; read
    // one byte at a time they stay in the socket, where the next response read on that
    // connection finds them and fails as malformed. The response itself must not depend on it.
    let keep = |r: &Result<(otedama_http::Response, bool), _>| matches!(r, Ok((_, true)));
    assert!(
        !keep(&all) || keep(&one),
        "kept alive only when read at once"
    );
    let (all, one) = (
        all.map(|(r, _)| r).map_err(|e| e.to_string()),
        one.map(|(r, _)| r).map_err(|e| e.to_string()),
    );
    // Both must fail or both give the same response. Which error a bad response gets may
    // depend on arrival (a head over the limit with bytes that are not UTF-8 is refused for
    // either, whichever shows first), so errors are not compared.
    if all.is_ok() || one.is_ok() {
        assert_eq!(all, one, "the answer depends on how the bytes arrive");
    }
    if let Ok(resp) = &all {
        assert!(resp.body.len() <= max_body);
        assert!((200..=599).contains(&resp.status));
    }
}

/// The sharechain store's record codecs: index entries, height keys, hashes, found blocks.
pub fn store_codecs(data: &[u8]) {
    if let Ok(info) = codec::decode_info(data) {
        let again = codec::encode_info(&info);
        assert_eq!(again, data, "index entry re-encodes differently");
    }
    if let Ok((height, id)) = codec::parse_height_key(data) {
        assert_eq!(codec::height_key(height, &id)[..], data[..]);
    }
    if let Ok(h) = codec::decode_hash(data) {
        assert_eq!(h.as_ref() as &[u8], data);
    }
    if let Ok(block) = FoundBlock::decode(data) {
        assert!(block.reason.len() <= 3 * 255);
        let bytes = block.encode();
        let again = FoundBlock::decode(&bytes).expect("an encoded record decodes");
        let mut want = block.clone();
        if want.reason.len() > MAX_BLOCK_REASON {
            let mut end = MAX_BLOCK_REASON;
            while !want.reason.is_char_boundary(end) {
                end -= 1;
            }
            want.reason.truncate(end);
        }
        assert_eq!(again, want);
    }
}

/// Every harness by target name.
pub const TARGETS: [(&str, fn(&[u8])); 8] = [
    ("share_decode", share_decode),
    ("p2p_wire", p2p_wire),
    ("gossip_frame", gossip_frame),
    ("stratum_line", stratum_line),
    ("gbt_reply", gbt_reply),
    ("http_request", http_request),
    ("http_response", http_response),
    ("store_codecs", store_codecs),
];

pub mod seeds;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every committed corpus file (and crash reproducer under `artifacts/`) through its
    /// harness: the regression run of the fuzzing work, cheap enough for every `scripts/test`.
    #[test]
    fn corpora_replay_without_panics() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (name, harness) in super::TARGETS {
            let mut n = 0;
            for dir in [
                root.join("corpus").join(name),
                root.join("artifacts").join(name),
            ] {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    let data = std::fs::read(&path).unwrap();
                    harness(&data);
                    n += 1;
                }
            }
            assert!(n > 0, "no corpus for {name}");
            eprintln!("{name}: {n} inputs");
        }
    }
}
