//! The current membership: which node keys may connect, and where each member listens.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::core::types::NodeId;

/// A shared, updatable map from member key to listening address. Clones share the same
/// set: the TLS verifiers read it at every handshake, so an update takes effect for the
/// next connection attempt. Change it through
/// [`QuicTransport::update_membership`](super::QuicTransport::update_membership), which also
/// drops connections of removed members.
#[derive(Debug, Clone, Default)]
pub struct Membership {
    inner: Arc<RwLock<BTreeMap<NodeId, SocketAddr>>>,
}

impl Membership {
    /// A membership holding `members`.
    pub fn new(members: impl IntoIterator<Item = (NodeId, SocketAddr)>) -> Self {
        Self {
            inner: Arc::new(RwLock::new(members.into_iter().collect())),
        }
    }

    /// Whether `id` is a current member.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.read().contains_key(id)
    }

    /// The listening address of member `id`.
    pub fn address(&self, id: &NodeId) -> Option<SocketAddr> {
        self.read().get(id).copied()
    }

    /// All members and their addresses, ordered by key.
    pub fn members(&self) -> Vec<(NodeId, SocketAddr)> {
        self.read().iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Replaces the whole set; returns the previous one.
    pub(crate) fn replace(
        &self,
        members: BTreeMap<NodeId, SocketAddr>,
    ) -> BTreeMap<NodeId, SocketAddr> {
        std::mem::replace(&mut *self.write(), members)
    }

    // A panic while holding the lock cannot leave the map half-updated (every write is a
    // single assignment), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<NodeId, SocketAddr>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<NodeId, SocketAddr>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}
