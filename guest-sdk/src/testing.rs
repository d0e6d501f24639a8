//! Native test support: a [`Fixture`] snapshot that implements [`Host`] in memory, so a
//! module's logic runs under `cargo test` on the host target with no wasm involved.
//!
//! # Example
//! ```
//! use spore_guest::testing::{node_id, Fixture};
//! use spore_guest::{Host, HierarchyLevel};
//!
//! let host = Fixture::cluster(4).with_param("quorum.min-high-trust", 2);
//! assert_eq!(host.eligible_count(), 4);
//! assert_eq!(host.level_of(&node_id(1)), Some(HierarchyLevel::Sclerotia));
//! assert_eq!(host.param_or("quorum.min-high-trust", 1), 2);
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::{CallContext, HierarchyLevel, Host, ID_LEN, Level, Member, NodeId, Param, SporeLayer};

/// The id of test node `n`: 32 bytes all equal to `n`.
pub fn node_id(n: u8) -> NodeId {
    vec![n; ID_LEN]
}

/// An eligible latent member with id [`node_id`]`(n)`.
pub fn member(n: u8, level: HierarchyLevel, trust: u32) -> Member {
    Member {
        id: node_id(n),
        level,
        trust,
        eligible: true,
        layer: SporeLayer::Latent,
    }
}

/// A call context for `slot`: epoch 0, an all-zero operation digest, seed = slot.
pub fn call_context(slot: u64) -> CallContext {
    CallContext {
        slot,
        epoch: 0,
        op_digest: vec![0; ID_LEN],
        seed: slot,
    }
}

/// One line a module logged through a [`Fixture`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Severity.
    pub level: Level,
    /// The message.
    pub message: String,
}

/// An in-memory snapshot: members, parameters and a captured log.
///
/// Members and parameters are kept sorted (by id, by key) exactly as the real host
/// returns them.
#[derive(Debug, Default)]
pub struct Fixture {
    members: BTreeMap<NodeId, Member>,
    params: BTreeMap<String, i64>,
    logs: RefCell<Vec<LogLine>>,
}

impl Fixture {
    /// An empty snapshot: no members, no parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cluster of `n` eligible members with ids `node_id(1..=n)`: node 1 is the
    /// primary (sclerotia, trust 9000), node 2 the seed (rhizomorph, 8000), the rest are
    /// latent (hyphae, 7000).
    pub fn cluster(n: u8) -> Self {
        let mut fixture = Self::new();
        for i in 1..=n {
            let m = match i {
                1 => Member {
                    layer: SporeLayer::Primary,
                    ..member(i, HierarchyLevel::Sclerotia, 9000)
                },
                2 => Member {
                    layer: SporeLayer::Seed,
                    ..member(i, HierarchyLevel::Rhizomorph, 8000)
                },
                _ => member(i, HierarchyLevel::Hyphae, 7000),
            };
            fixture = fixture.with_member(m);
        }
        fixture
    }

    /// Add or replace a member.
    pub fn with_member(mut self, member: Member) -> Self {
        self.members.insert(member.id.clone(), member);
        self
    }

    /// Add or replace an eligible latent member [`node_id`]`(n)`.
    pub fn with_node(self, n: u8, level: HierarchyLevel, trust: u32) -> Self {
        self.with_member(member(n, level, trust))
    }

    /// Set the trust of member `n` (no-op if it is not a member).
    pub fn with_trust(mut self, n: u8, trust: u32) -> Self {
        if let Some(m) = self.members.get_mut(&node_id(n)) {
            m.trust = trust;
        }
        self
    }

    /// Mark member `n` ineligible (no-op if it is not a member).
    pub fn with_ineligible(mut self, n: u8) -> Self {
        if let Some(m) = self.members.get_mut(&node_id(n)) {
            m.eligible = false;
        }
        self
    }

    /// Set a configuration parameter.
    pub fn with_param(mut self, key: &str, value: i64) -> Self {
        self.params.insert(key.to_owned(), value);
        self
    }

    /// Every line logged so far, oldest first.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.borrow().clone()
    }
}

impl Host for Fixture {
    fn members(&self) -> Vec<Member> {
        self.members.values().cloned().collect()
    }

    fn member(&self, id: &[u8]) -> Option<Member> {
        self.members.get(id).cloned()
    }

    fn params(&self) -> Vec<Param> {
        self.params
            .iter()
            .map(|(key, value)| Param {
                key: key.clone(),
                value: *value,
            })
            .collect()
    }

    fn param(&self, key: &str) -> Option<i64> {
        self.params.get(key).copied()
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push(LogLine {
            level,
            message: message.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_layers_and_accessors() {
        let host = Fixture::cluster(5).with_ineligible(5).with_param("a.b", -3);
        assert_eq!(host.member_count(), 5);
        assert_eq!(host.eligible_count(), 4);
        assert!(!host.is_eligible(&node_id(5)));
        assert!(host.is_eligible(&node_id(4)));
        assert!(!host.is_member(&node_id(6)));
        assert_eq!(host.trust_of(&node_id(2)), Some(8000));
        assert_eq!(host.trust_of(&node_id(9)), None);
        assert_eq!(host.layer_members(SporeLayer::Primary)[0].id, node_id(1));
        assert_eq!(host.layer_members(SporeLayer::Latent).len(), 3);
        assert_eq!(host.param_or("a.b", 7), -3);
        assert_eq!(host.param_or("missing", 7), 7);
    }

    #[test]
    fn members_and_params_are_sorted() {
        let host = Fixture::new()
            .with_node(9, HierarchyLevel::Hyphae, 1)
            .with_node(3, HierarchyLevel::Hyphae, 2)
            .with_param("z", 1)
            .with_param("a", 2);
        let ids: Vec<_> = host.members().into_iter().map(|m| m.id[0]).collect();
        assert_eq!(ids, vec![3, 9]);
        let keys: Vec<_> = host.params().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, vec!["a", "z"]);
    }

    #[test]
    fn logs_are_captured_in_order() {
        let host = Fixture::new();
        host.info("one");
        host.warn("two");
        let logs = host.logs();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[1].level, Level::Warn);
        assert_eq!(logs[0].message, "one");
    }
}
