//! Writes inside one durable redb transaction.

use redb::{ReadableTable, WriteTransaction};
use sha2::{Digest as _, Sha256};

use super::error::StoreError;
use super::records::ActiveModule;
use super::schema::{ACTIVE, DECIDED, GENESIS, META, MODULES, RESERVED_PREFIX, SNAPSHOTS};
use crate::core::types::Digest;

/// The write half of one transaction, handed to the closure of
/// [`Store::write`](super::Store::write). Everything written through one `Writer` becomes
/// durable together, or not at all.
pub struct Writer<'t> {
    pub(crate) txn: &'t WriteTransaction,
}

impl Writer<'_> {
    /// Appends the decided entry (with its certificate) at `slot`. Idempotent for the same
    /// bytes; refuses different bytes ([`StoreError::ConflictingDecision`]).
    pub fn put_decided(&mut self, slot: u64, entry: &[u8]) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(DECIDED)?;
        if let Some(existing) = table.get(slot)? {
            return if existing.value() == entry {
                Ok(())
            } else {
                Err(StoreError::ConflictingDecision(slot))
            };
        }
        table.insert(slot, entry)?;
        Ok(())
    }

    /// Removes the decided entries from `slot` on (a recovery abandons them; nothing else
    /// may remove a decided entry); returns how many were removed.
    pub fn truncate_decided_from(&mut self, slot: u64) -> Result<u64, StoreError> {
        let mut table = self.txn.open_table(DECIDED)?;
        let mut removed = 0;
        table.retain_in(slot.., |_, _| {
            removed += 1;
            false
        })?;
        Ok(removed)
    }

    /// Stores the replicated state (trust ledger, membership, ...) as of `slot`,
    /// replacing any snapshot at that slot.
    pub fn put_snapshot(&mut self, slot: u64, state: &[u8]) -> Result<(), StoreError> {
        self.txn.open_table(SNAPSHOTS)?.insert(slot, state)?;
        Ok(())
    }

    /// Removes snapshots older than `slot`; returns how many were removed.
    pub fn prune_snapshots_below(&mut self, slot: u64) -> Result<u64, StoreError> {
        let mut table = self.txn.open_table(SNAPSHOTS)?;
        let mut removed = 0;
        table.retain_in(..slot, |_, _| {
            removed += 1;
            false
        })?;
        Ok(removed)
    }

    /// Stores a module blob under its SHA-256 and returns the hash (idempotent).
    pub fn put_module(&mut self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let mut table = self.txn.open_table(MODULES)?;
        if table.get(&hash)?.is_none() {
            table.insert(&hash, bytes)?;
        }
        Ok(Digest::from(hash))
    }

    /// Deletes the module blob stored under `hash`; whether there was one.
    pub fn delete_module(&mut self, hash: &Digest) -> Result<bool, StoreError> {
        let mut table = self.txn.open_table(MODULES)?;
        Ok(table.remove(hash.as_bytes())?.is_some())
    }

    /// Makes `hash` the active module of `role` from `since_slot` on; the module it
    /// replaces is kept as `previous` for rollback. The blob need not be present yet (a
    /// node may learn of a swap before the bytes reach it).
    pub fn set_active_module(
        &mut self,
        role: &str,
        hash: Digest,
        since_slot: u64,
    ) -> Result<ActiveModule, StoreError> {
        let mut table = self.txn.open_table(ACTIVE)?;
        let previous = match table.get(role)? {
            Some(v) => Some(super::decode_active(v.value())?.hash),
            None => None,
        };
        let active = ActiveModule {
            hash,
            since_slot,
            previous: previous.filter(|p| *p != hash),
        };
        table.insert(role, postcard::to_stdvec(&active)?.as_slice())?;
        Ok(active)
    }

    /// Stores the genesis document. Idempotent for the same bytes; refuses a different one
    /// ([`StoreError::GenesisMismatch`]).
    pub fn put_genesis(&mut self, genesis: &[u8]) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(GENESIS)?;
        if let Some(existing) = table.get(())? {
            return if existing.value() == genesis {
                Ok(())
            } else {
                Err(StoreError::GenesisMismatch)
            };
        }
        table.insert((), genesis)?;
        Ok(())
    }

    /// Sets a caller-defined metadata value (keys starting with `spore.` are reserved).
    pub fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key.starts_with(RESERVED_PREFIX) {
            return Err(StoreError::ReservedKey(key.to_string()));
        }
        self.txn.open_table(META)?.insert(key, value)?;
        Ok(())
    }

    /// Removes a caller-defined metadata value (absent: nothing happens).
    pub fn delete_meta(&mut self, key: &str) -> Result<(), StoreError> {
        if key.starts_with(RESERVED_PREFIX) {
            return Err(StoreError::ReservedKey(key.to_string()));
        }
        self.txn.open_table(META)?.remove(key)?;
        Ok(())
    }
}
