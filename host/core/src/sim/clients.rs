//! The simulated cluster's authorised keys: one governor, one operator and one client,
//! named by the genesis, and the signing of workload operations with the right one.
//!
//! # Design
//! The workload is built as plain operations; [`SimClients::sign`] signs each with the key
//! whose role the default policy asks for (governance with the governor, admissions and
//! authority operations with the operator, compute with the client), for the run's chain
//! and with the widest expiry. The keys are derived from the scenario seed, so a run stays a
//! pure function of it. Byzantine actors never hold these keys.

use std::collections::BTreeSet;

use crate::crypto::Keypair;
use crate::ops::{MAX_EXPIRY_WINDOW, Operation, SignedOperation};
use crate::sim::rng::SimRng;
use crate::state::{Actor, Authority, AuthorizedKey, Permission, Policy};
use crate::types::Digest;

/// The three authorised keys of a simulated cluster.
#[derive(Debug, Clone)]
pub struct SimClients {
    /// Holds the governor role.
    pub governor: Keypair,
    /// Holds the operator role.
    pub operator: Keypair,
    /// Holds the client role.
    pub client: Keypair,
}

impl SimClients {
    /// Keys drawn from `rng`.
    pub fn new(rng: &mut SimRng) -> Self {
        let mut key = || {
            let mut seed = [0u8; 32];
            rng.fill(&mut seed);
            Keypair::from_seed(seed)
        };
        SimClients {
            governor: key(),
            operator: key(),
            client: key(),
        }
    }

    /// The genesis authority section naming them, with the default policy.
    pub fn authority(&self) -> Authority {
        let grant = |k: &Keypair, name: &str, role: Actor| AuthorizedKey {
            id: k.id(),
            name: name.into(),
            roles: BTreeSet::from([role]),
        };
        let mut keys = vec![
            grant(&self.governor, "sim-governor", Actor::Governor),
            grant(&self.operator, "sim-operator", Actor::Operator),
            grant(&self.client, "sim-client", Actor::Client),
        ];
        keys.sort_by_key(|k| k.id);
        Authority {
            keys,
            policy: Policy::default(),
        }
    }

    /// The key whose role the default policy grants `op`'s permission to.
    pub fn key_for(&self, op: &Operation) -> &Keypair {
        match Permission::of(op).default_role() {
            Actor::Client => &self.client,
            Actor::Operator => &self.operator,
            Actor::Governor | Actor::Member => &self.governor,
        }
    }

    /// `op` signed by the right key for `chain`, valid from slot 0 for the whole window.
    pub fn sign(&self, op: Operation, chain: Digest) -> SignedOperation {
        let key = self.key_for(&op).clone();
        SignedOperation::sign(op, chain, MAX_EXPIRY_WINDOW, &key)
    }
}
