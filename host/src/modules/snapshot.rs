//! The `snapshot` host interface: a read-only view of membership, trust and configuration
//! at the slot being decided.
//!
//! # Determinism
//! A [`SnapshotView`] is immutable and ordered (members by node id, parameters by key), so
//! every node answers every `snapshot` call of a module identically. The node builds it from
//! the replicated state at the start of the slot; the runtime never reads live state.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::bindings::snapshot_iface::Host;
use super::bindings::types::{HierarchyLevel, Member, NodeId, Param, SporeLayer};
use super::host_state::HostState;

/// One member as a module sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// The member's ed25519 public key.
    pub id: [u8; 32],
    /// Hierarchy level.
    pub level: HierarchyLevel,
    /// Trust in basis points.
    pub trust_bps: u32,
    /// Trust at or above the exclusion threshold, and not excluded.
    pub eligible: bool,
    /// Consensus layer in the current view.
    pub layer: SporeLayer,
}

/// An immutable, ordered snapshot of the replicated state for module calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotView {
    members: BTreeMap<[u8; 32], Member>,
    params: BTreeMap<String, i64>,
}

impl SnapshotView {
    /// Build a snapshot from members and parameters (order does not matter; a member id
    /// given twice keeps the last entry).
    pub fn new(
        members: impl IntoIterator<Item = MemberView>,
        params: impl IntoIterator<Item = (String, i64)>,
    ) -> Self {
        let members = members
            .into_iter()
            .map(|m| {
                (
                    m.id,
                    Member {
                        id: m.id.to_vec(),
                        level: m.level,
                        trust: m.trust_bps,
                        eligible: m.eligible,
                        layer: m.layer,
                    },
                )
            })
            .collect();
        Self {
            members,
            params: params.into_iter().collect(),
        }
    }

    /// Shared handle, as the runtime takes it.
    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }

    /// Every member in ascending order of node id.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// One member by id.
    pub fn member(&self, id: &[u8]) -> Option<&Member> {
        <[u8; 32]>::try_from(id)
            .ok()
            .and_then(|key| self.members.get(&key))
    }

    /// One parameter by key.
    pub fn param(&self, key: &str) -> Option<i64> {
        self.params.get(key).copied()
    }

    /// Every parameter in ascending order of key.
    pub fn params(&self) -> impl Iterator<Item = (&String, &i64)> {
        self.params.iter()
    }

    /// The same snapshot with `params` set over its own.
    pub fn with_params(&self, params: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut next = self.clone();
        next.params.extend(params);
        next
    }
}

/// Bytes one member record costs to copy out (id, level, trust, flags).
const MEMBER_BYTES: usize = 48;

impl Host for HostState {
    fn members(&mut self) -> wasmtime::Result<Vec<Member>> {
        self.charge(self.snapshot.members().count().saturating_mul(MEMBER_BYTES))?;
        Ok(self.snapshot.members().cloned().collect())
    }

    fn member(&mut self, id: NodeId) -> wasmtime::Result<Option<Member>> {
        self.charge(id.len().saturating_add(MEMBER_BYTES))?;
        Ok(self.snapshot.member(&id).cloned())
    }

    fn params(&mut self) -> wasmtime::Result<Vec<Param>> {
        let bytes: usize = self.snapshot.params().map(|(k, _)| k.len() + 8).sum();
        self.charge(bytes)?;
        Ok(self
            .snapshot
            .params()
            .map(|(key, value)| Param {
                key: key.clone(),
                value: *value,
            })
            .collect())
    }

    fn param(&mut self, key: String) -> wasmtime::Result<Option<i64>> {
        self.charge(key.len())?;
        Ok(self.snapshot.param(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u8, trust_bps: u32) -> MemberView {
        MemberView {
            id: [id; 32],
            level: HierarchyLevel::Hyphae,
            trust_bps,
            eligible: true,
            layer: SporeLayer::Latent,
        }
    }

    #[test]
    fn members_and_params_are_ordered_whatever_the_input_order() {
        let view = SnapshotView::new(
            [member(3, 10), member(1, 20), member(2, 30)],
            [("z".to_owned(), 1), ("a".to_owned(), 2)],
        );
        let ids: Vec<u8> = view.members().map(|m| m.id[0]).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        let keys: Vec<&str> = view.params().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["a", "z"]);
    }

    #[test]
    fn lookups_by_id_and_key() {
        let view = SnapshotView::new([member(7, 42)], [("quorum.min".to_owned(), 3)]);
        assert_eq!(view.member(&[7; 32]).map(|m| m.trust), Some(42));
        assert!(view.member(&[8; 32]).is_none());
        assert!(
            view.member(&[7; 3]).is_none(),
            "a malformed id is simply unknown"
        );
        assert_eq!(view.param("quorum.min"), Some(3));
        assert_eq!(view.param("missing"), None);
    }
}
