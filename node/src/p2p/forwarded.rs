//! Which forms of which shares this node has let gossipsub forward.
//!
//! A share travels in two forms, one per topic (docs/p2p.md, "Compact relay"). A node that
//! accepts one form publishes the other itself, but gossipsub refuses that publish as a
//! duplicate whenever the author's copy of the other form has already reached us (its message
//! id is in gossipsub's duplicate cache, even while that copy waits for validation, or when we
//! did not take its topic). That copy then reaches validation as a share we hold: it must be
//! forwarded, or the peers of its topic never get the share from us (an eclipse test saw a
//! node relay nothing to its inbound peers this way). It is forwarded once: a later copy of a
//! form we already forwarded (a replay after gossipsub forgot the message) is ignored, so
//! replaying known shares makes no node relay anything twice.

use super::ShareTopic;
use otedama_consensus::ShareHash;
use std::collections::{HashSet, VecDeque};

/// Forms remembered: both forms of the last 2,048 shares, far more than the shares gossip still
/// takes (at most [`super::handlers::gossip_share::MAX_GOSSIP_DEPTH`] heights below the tip, a
/// few shares each). Forgetting one costs at most one more forward of that form. 4,096 entries
/// of 33 bytes, twice (queue and set): under 300 KiB.
pub const MAX_FORWARDED_FORMS: usize = 4_096;

/// A bounded set of (share, form), the oldest forgotten first.
#[derive(Default)]
pub struct ForwardedForms {
    order: VecDeque<(ShareHash, ShareTopic)>,
    seen: HashSet<(ShareHash, ShareTopic)>,
}

impl ForwardedForms {
    /// Records that form `topic` of share `id` is forwarded; false when it already was.
    pub fn insert(&mut self, id: ShareHash, topic: ShareTopic) -> bool {
        if !self.seen.insert((id, topic)) {
            return false;
        }
        self.order.push_back((id, topic));
        if self.order.len() > MAX_FORWARDED_FORMS {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn id(n: u32) -> ShareHash {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        ShareHash::from_byte_array(b)
    }

    #[test]
    fn each_form_of_a_share_is_forwarded_once() {
        let mut f = ForwardedForms::default();
        assert!(f.insert(id(1), ShareTopic::Compact));
        assert!(f.insert(id(1), ShareTopic::Full), "the other form is new");
        assert!(!f.insert(id(1), ShareTopic::Compact));
        assert!(!f.insert(id(1), ShareTopic::Full));
        assert!(f.insert(id(2), ShareTopic::Full));
        assert_eq!(f.order.len(), 3);
    }

    #[test]
    fn the_oldest_form_is_forgotten_first_and_the_set_stays_bounded() {
        let mut f = ForwardedForms::default();
        for n in 0..(MAX_FORWARDED_FORMS as u32 + 10) {
            assert!(f.insert(id(n), ShareTopic::Full));
        }
        assert_eq!(f.order.len(), MAX_FORWARDED_FORMS);
        assert_eq!(f.seen.len(), MAX_FORWARDED_FORMS);
        // The first ten were forgotten; the next one is still known.
        assert!(!f.insert(id(10), ShareTopic::Full));
        assert!(f.insert(id(0), ShareTopic::Full));
        // Remembering it again forgot the oldest then.
        assert!(f.insert(id(10), ShareTopic::Full));
        assert_eq!(f.order.len(), MAX_FORWARDED_FORMS);
    }
}
