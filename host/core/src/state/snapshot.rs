//! The read-only view of the state that modules get through the `snapshot` interface.

use serde::{Deserialize, Serialize};

use crate::types::{Epoch, Hierarchy, Layer, NodeId, Slot, TrustBps};

/// One member as modules see it (WIT `member`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotMember {
    /// Its id.
    pub id: NodeId,
    /// Its level.
    pub level: Hierarchy,
    /// Its trust.
    pub trust: TrustBps,
    /// Whether it is in the eligible set.
    pub eligible: bool,
    /// Its layer in the snapshot's view (`Latent` for members that are not eligible).
    pub layer: Layer,
}

/// The state at the start of a slot, as modules see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    /// The slot being decided.
    pub slot: Slot,
    /// Its epoch.
    pub epoch: Epoch,
    /// Every member, ascending by id.
    pub members: Vec<SnapshotMember>,
    /// Every parameter, ascending by key.
    pub params: Vec<(String, i64)>,
}

impl Snapshot {
    /// One member by id.
    pub fn member(&self, id: &NodeId) -> Option<&SnapshotMember> {
        self.members
            .binary_search_by(|m| m.id.cmp(id))
            .ok()
            .and_then(|i| self.members.get(i))
    }

    /// One parameter by key.
    pub fn param(&self, key: &str) -> Option<i64> {
        self.params
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .and_then(|i| self.params.get(i))
            .map(|(_, v)| *v)
    }
}
