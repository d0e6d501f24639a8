//! The host as module logic sees it: a read-only snapshot of the cluster and a log.
//!
//! # Design
//! [`Host`] mirrors the WIT `snapshot` and `log` imports with four required methods
//! and one for logging; everything else (`trust_of`, `level_of`, `param_or`, the
//! eligible set, counts, layer lookups) is provided on top of them, so a fixture only
//! implements the required methods and gets the same accessors as the real thing.
//! [`WitHost`] calls the component's imports; [`crate::testing::Fixture`] answers from
//! memory.

use crate::bindings::validator::spore::policy::{log, snapshot};
use crate::{HierarchyLevel, Level, Member, Param, SporeLayer};

/// Read-only access to the snapshot of the slot being decided, plus logging.
///
/// Implemented by [`WitHost`] (the component's imports, on `wasm32`) and by
/// [`crate::testing::Fixture`] (native unit tests).
pub trait Host {
    /// Every member (eligible or not), in ascending order of node id.
    fn members(&self) -> Vec<Member>;

    /// One member, if known.
    fn member(&self, id: &[u8]) -> Option<Member>;

    /// Every configuration parameter, in ascending order of key.
    fn params(&self) -> Vec<Param>;

    /// One configuration parameter, if set.
    fn param(&self, key: &str) -> Option<i64>;

    /// Write one line to the node's module log. Never influences the result.
    fn log(&self, level: Level, message: &str);

    /// A parameter, or `default` if it is not set.
    fn param_or(&self, key: &str, default: i64) -> i64 {
        self.param(key).unwrap_or(default)
    }

    /// Whether `id` is a member (eligible or not).
    fn is_member(&self, id: &[u8]) -> bool {
        self.member(id).is_some()
    }

    /// Trust of `id` in basis points, if it is a member.
    fn trust_of(&self, id: &[u8]) -> Option<u32> {
        self.member(id).map(|m| m.trust)
    }

    /// Hierarchy level of `id`, if it is a member.
    fn level_of(&self, id: &[u8]) -> Option<HierarchyLevel> {
        self.member(id).map(|m| m.level)
    }

    /// Whether `id` is an eligible member (trust at or above the exclusion threshold
    /// and not excluded).
    fn is_eligible(&self, id: &[u8]) -> bool {
        self.member(id).is_some_and(|m| m.eligible)
    }

    /// The eligible members, in ascending order of node id.
    fn eligible(&self) -> Vec<Member> {
        self.members().into_iter().filter(|m| m.eligible).collect()
    }

    /// Number of members (eligible or not).
    fn member_count(&self) -> usize {
        self.members().len()
    }

    /// Number of eligible members.
    fn eligible_count(&self) -> usize {
        self.members().iter().filter(|m| m.eligible).count()
    }

    /// The members of one spore layer (at most one primary and one seed).
    fn layer_members(&self, layer: SporeLayer) -> Vec<Member> {
        self.members()
            .into_iter()
            .filter(|m| m.layer == layer)
            .collect()
    }

    /// Log at `debug` level.
    fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }

    /// Log at `info` level.
    fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Log at `warn` level.
    fn warn(&self, message: &str) {
        self.log(Level::Warn, message);
    }
}

/// The real host: the component's `snapshot` and `log` imports.
///
/// Only usable inside a component running on a Spore node (`wasm32`); on any other
/// target the generated import shims abort, so native tests use
/// [`crate::testing::Fixture`] instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct WitHost;

impl Host for WitHost {
    fn members(&self) -> Vec<Member> {
        snapshot::members()
    }

    fn member(&self, id: &[u8]) -> Option<Member> {
        snapshot::member(id)
    }

    fn params(&self) -> Vec<Param> {
        snapshot::params()
    }

    fn param(&self, key: &str) -> Option<i64> {
        snapshot::param(key)
    }

    fn log(&self, level: Level, message: &str) {
        log::write(level, message);
    }
}
