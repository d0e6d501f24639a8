//! The active module of each role, swapped atomically, with the previous one kept for
//! rollback.
//!
//! # Design
//! Each role has one slot behind an `RwLock` holding `Arc`s. A call takes the read lock only
//! long enough to clone the active `Arc`, then runs without any lock: a swap that happens
//! meanwhile replaces the slot's `Arc`, while the call finishes on the module it started
//! with (its `Arc` keeps that module alive). A call therefore never mixes two modules. In a
//! cluster the swap itself is a Full BFT decision applied at the same log position on every
//! node; this type only guarantees the local atomicity.

use std::sync::{Arc, PoisonError, RwLock};

use spore_core::types::Digest;

use super::Role;
use super::error::RuntimeError;
use super::registry::LoadedModule;

#[derive(Default)]
struct Slot {
    active: Option<Arc<LoadedModule>>,
    previous: Option<Arc<LoadedModule>>,
}

/// The active (and previous) module per role.
#[derive(Default)]
pub struct ActiveModules {
    validator: RwLock<Slot>,
    admission: RwLock<Slot>,
    resolver: RwLock<Slot>,
}

impl ActiveModules {
    fn slot(&self, role: Role) -> &RwLock<Slot> {
        match role {
            Role::Validator => &self.validator,
            Role::Admission => &self.admission,
            Role::Resolver => &self.resolver,
        }
    }

    /// The module calls of `role` use now.
    pub fn current(&self, role: Role) -> Option<Arc<LoadedModule>> {
        self.slot(role)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .active
            .clone()
    }

    /// The module a rollback of `role` would restore.
    pub fn previous(&self, role: Role) -> Option<Arc<LoadedModule>> {
        self.slot(role)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .previous
            .clone()
    }

    /// Make `module` the active module of its role; the replaced one becomes the rollback
    /// target. Activating the already active module changes nothing. Returns the hash of
    /// the module that was active before.
    pub fn activate(&self, module: Arc<LoadedModule>) -> Option<Digest> {
        let mut slot = self
            .slot(module.role())
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let before = slot.active.as_ref().map(|m| m.hash());
        if before == Some(module.hash()) {
            return before;
        }
        slot.previous = slot.active.replace(module);
        before
    }

    /// Swap the active and previous module of `role` (so a second rollback rolls forward
    /// again). Returns the hash of the module now active.
    pub fn rollback(&self, role: Role) -> Result<Digest, RuntimeError> {
        let mut slot = self
            .slot(role)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(previous) = slot.previous.take() else {
            return Err(RuntimeError::NothingToRollBack(role));
        };
        let hash = previous.hash();
        slot.previous = slot.active.replace(previous);
        Ok(hash)
    }
}
