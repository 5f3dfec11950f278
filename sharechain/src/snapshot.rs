//! What job building needs from the sharechain, detached from it: the best tip, its window, the
//! share that leaves the window next, and the uncle candidates. The sharechain's owner publishes
//! a new snapshot on every tip change; job builders never touch the store.

use otedama_consensus::chain_view::ChainView;
use otedama_consensus::pplns::WindowWeights;
use otedama_consensus::{ShareHash, ShareInfo};
use std::borrow::Cow;

#[derive(Clone, Debug)]
pub struct TipSnapshot {
    pub tip: ShareInfo,
    /// Window weights ending at the tip.
    pub window: WindowWeights,
    /// The ancestor that leaves the window when a share is built on the tip.
    pub leaving: Option<ShareInfo>,
    /// Uncles the next share should include, in id order.
    pub uncles: Vec<ShareInfo>,
}

impl TipSnapshot {
    pub fn uncle_ids(&self) -> Vec<ShareHash> {
        self.uncles.iter().map(|u| u.id).collect()
    }
}

impl ChainView for TipSnapshot {
    fn share_info(&self, id: &ShareHash) -> Option<&ShareInfo> {
        if self.tip.id == *id {
            return Some(&self.tip);
        }
        if let Some(l) = self.leaving.as_ref().filter(|l| l.id == *id) {
            return Some(l);
        }
        self.uncles.iter().find(|u| u.id == *id)
    }

    fn window_weights(&self, id: &ShareHash) -> Option<Cow<'_, WindowWeights>> {
        (self.tip.id == *id).then_some(Cow::Borrowed(&self.window))
    }

    fn ancestor_at(&self, id: &ShareHash, height: u64) -> Option<&ShareInfo> {
        if *id != self.tip.id {
            return None;
        }
        if height == self.tip.height {
            return Some(&self.tip);
        }
        self.leaving.as_ref().filter(|l| l.height == height)
    }
}
