//! The address book: peers we have met, kept across restarts so later starts need no `--peer`.
//! Bounded ([`MAX_ADDRESS_BOOK`]); it keeps learning: a new peer takes the place of the entry
//! least worth keeping (most failed dials, then least recently seen), an address that keeps
//! failing is dropped, and start-up dials the most recently seen first.
//!
//! Entry layout (the value stored under the peer id): `[0xFF, 0x00]`, last seen (u64 LE, unix
//! seconds), failed dials since (u8), then up to 8 addresses, each a length byte and the
//! multiaddr bytes. Entries written before this layout (addresses only) read as never seen.

use libp2p::{Multiaddr, PeerId};

/// Entries kept: more than the outbound slots many times over, small enough to scan on every
/// save (a few kB each at most).
pub const MAX_ADDRESS_BOOK: usize = 256;
/// Failed dials after which an address is forgotten (it moved or went away for good).
pub const MAX_DIAL_FAILURES: u8 = 5;
/// Addresses kept per peer.
pub const MAX_ADDRS_PER_PEER: usize = 8;
const MAGIC: [u8; 2] = [0xFF, 0x00];

/// One peer's entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub peer: PeerId,
    pub addrs: Vec<Multiaddr>,
    pub last_seen: u64,
    pub failures: u8,
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.last_seen.to_le_bytes());
        out.push(self.failures);
        for a in self.addrs.iter().take(MAX_ADDRS_PER_PEER) {
            let b = a.to_vec();
            if b.len() > 255 {
                continue;
            }
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
        }
        out
    }

    /// Parses a stored entry (`None` when the key is not a peer id).
    pub fn decode(key: &[u8], value: &[u8]) -> Option<Entry> {
        let peer = PeerId::from_bytes(key).ok()?;
        let (last_seen, failures, mut rest) = match value.strip_prefix(&MAGIC[..]) {
            Some(v) if v.len() >= 9 => {
                let mut t = [0u8; 8];
                t.copy_from_slice(&v[..8]);
                (u64::from_le_bytes(t), v[8], &v[9..])
            }
            _ => (0, 0, value),
        };
        let mut addrs = Vec::new();
        while let Some((&len, tail)) = rest.split_first() {
            let len = len as usize;
            if tail.len() < len {
                break;
            }
            if let Ok(a) = Multiaddr::try_from(tail[..len].to_vec()) {
                addrs.push(a);
            }
            rest = &tail[len..];
        }
        Some(Entry {
            peer,
            addrs,
            last_seen,
            failures,
        })
    }
}

/// Which entry a new peer replaces in a full book: the one with most failures, then the one
/// seen longest ago.
pub fn evict(entries: &[Entry]) -> Option<&Entry> {
    entries
        .iter()
        .max_by_key(|e| (e.failures, std::cmp::Reverse(e.last_seen)))
}

/// Start-up order: most recently seen first, failing ones last.
pub fn dial_order(entries: &mut [Entry]) {
    entries.sort_by_key(|e| (e.failures, std::cmp::Reverse(e.last_seen)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, last_seen: u64, failures: u8) -> Entry {
        Entry {
            peer: PeerId::random(),
            addrs: vec![format!("/ip4/10.0.0.{n}/tcp/9339").parse().unwrap()],
            last_seen,
            failures,
        }
    }

    #[test]
    fn round_trip_and_legacy_entries() {
        let e = entry(1, 1_800_000_000, 2);
        let key = e.peer.to_bytes();
        assert_eq!(Entry::decode(&key, &e.encode()), Some(e.clone()));
        // The layout before last-seen times: addresses only.
        let a = e.addrs[0].to_vec();
        let mut legacy = vec![a.len() as u8];
        legacy.extend_from_slice(&a);
        let old = Entry::decode(&key, &legacy).unwrap();
        assert_eq!(old.addrs, e.addrs);
        assert_eq!((old.last_seen, old.failures), (0, 0));
        assert_eq!(Entry::decode(b"not a peer id", &legacy), None);
        // Truncated values lose addresses, never panic.
        let enc = e.encode();
        for cut in 0..enc.len() {
            let _ = Entry::decode(&key, &enc[..cut]);
        }
    }

    #[test]
    fn eviction_prefers_failing_then_stale_and_dialing_the_fresh() {
        let mut book = vec![entry(1, 500, 0), entry(2, 100, 0), entry(3, 900, 3)];
        assert_eq!(evict(&book).unwrap().last_seen, 900, "most failures first");
        book[2].failures = 0;
        assert_eq!(evict(&book).unwrap().last_seen, 100, "then the stalest");
        dial_order(&mut book);
        let seen: Vec<u64> = book.iter().map(|e| e.last_seen).collect();
        assert_eq!(seen, vec![900, 500, 100]);
    }
}
