//! Who may submit what: client and operator keys with roles, and the policy that names
//! the roles allowed to submit each kind of operation (replicated state).
//!
//! # Design
//! The genesis names [`AuthorizedKey`]s, each with roles drawn from [`Actor::Governor`],
//! [`Actor::Operator`] and [`Actor::Client`]; [`Actor::Member`] is not granted to a key but
//! held by every eligible member's node key, acting for itself. The [`Policy`] maps every
//! [`Permission`] (an operation kind, the provable exclusion, or a module upload) to the
//! actors allowed. A submitter is authorised when one of its actors is in the set.
//!
//! Both the keys and the policy are part of the genesis, signed by every founder, and so
//! of the replicated state: every node checks a submission against the same rules, from
//! signatures alone.
//!
//! # Changing them
//! Only a decided `network-config-change` of config type `authority` (Full BFT, Critical
//! impact, governors by default) changes them, through parameters:
//! - `authority.key.<64 hex digits>` = a role mask (1 governor, 2 operator, 4 client;
//!   0 revokes the key): grants or replaces the roles of that key;
//! - `authority.policy.<permission>` = an actor mask (1 governor, 2 operator, 4 client,
//!   8 member): replaces the actors allowed that permission.
//!
//! [`Authority::with_changes`] applies such a list all or nothing, and refuses a result
//! that nobody could change again (no key or member left allowed to submit a
//! `network-config-change`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ops::{ExclusionReason, Operation, Param};
use crate::types::NodeId;

/// Most authorised keys a cluster may name.
pub const MAX_AUTHORIZED_KEYS: usize = 256;

/// Parameter-key prefix that sets an authorised key's roles (followed by 64 hex digits).
pub const AUTHORITY_KEY_PREFIX: &str = "authority.key.";

/// Parameter-key prefix that sets the actors of a permission (followed by its name).
pub const AUTHORITY_POLICY_PREFIX: &str = "authority.policy.";

/// The parameter key that sets the roles of `id` (`authority.key.<64 hex digits>`).
pub fn authority_key_param(id: &NodeId) -> String {
    format!("{AUTHORITY_KEY_PREFIX}{}", hex::encode(id.0))
}

/// A role in the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    /// Changes who counts and how much: trust, membership, parameters, modules.
    Governor,
    /// Runs the cluster: admissions (with sponsors), authority operations, module uploads.
    Operator,
    /// Submits compute tasks.
    Client,
    /// An eligible member's own node key (not grantable to a key).
    Member,
}

impl Actor {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Actor::Governor => "governor",
            Actor::Operator => "operator",
            Actor::Client => "client",
            Actor::Member => "member",
        }
    }
}

impl Actor {
    /// Every actor, in mask-bit order.
    pub const ALL: [Actor; 4] = [
        Actor::Governor,
        Actor::Operator,
        Actor::Client,
        Actor::Member,
    ];

    /// The actor's bit in an `authority.*` parameter mask.
    pub fn bit(self) -> i64 {
        match self {
            Actor::Governor => 1,
            Actor::Operator => 2,
            Actor::Client => 4,
            Actor::Member => 8,
        }
    }

    /// The mask of a set of actors.
    pub fn mask(actors: &BTreeSet<Actor>) -> i64 {
        actors.iter().map(|a| a.bit()).sum()
    }

    /// The actors of a mask, if every set bit names one.
    pub fn from_mask(mask: i64) -> Option<BTreeSet<Actor>> {
        let all: i64 = Actor::ALL.iter().map(|a| a.bit()).sum();
        if mask < 0 || mask & !all != 0 {
            return None;
        }
        Some(
            Actor::ALL
                .into_iter()
                .filter(|a| mask & a.bit() != 0)
                .collect(),
        )
    }

    /// The actor of a name (`governor`, `operator`, `client`, `member`).
    pub fn from_name(name: &str) -> Option<Actor> {
        Actor::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the policy grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// `network-config-change`.
    NetworkConfigChange,
    /// `trust-modification`.
    TrustModification,
    /// `node-admission` (its sponsors must sign besides).
    NodeAdmission,
    /// `node-exclusion` for a governance reason (low trust, unresponsive, decision).
    NodeExclusion,
    /// `node-exclusion` for a provable reason, carrying a proof the host verifies.
    ProvenExclusion,
    /// `security-policy-update`.
    SecurityPolicyUpdate,
    /// `service-deployment`.
    ServiceDeployment,
    /// `resource-allocation`.
    ResourceAllocation,
    /// `maintenance-task`.
    MaintenanceTask,
    /// `performance-optimization`.
    PerformanceOptimization,
    /// `compute`.
    Compute,
    /// Uploading a module blob to a node.
    ModuleUpload,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 12] = [
        Permission::NetworkConfigChange,
        Permission::TrustModification,
        Permission::NodeAdmission,
        Permission::NodeExclusion,
        Permission::ProvenExclusion,
        Permission::SecurityPolicyUpdate,
        Permission::ServiceDeployment,
        Permission::ResourceAllocation,
        Permission::MaintenanceTask,
        Permission::PerformanceOptimization,
        Permission::Compute,
        Permission::ModuleUpload,
    ];

    /// The permission an operation needs.
    pub fn of(op: &Operation) -> Permission {
        match op {
            Operation::NetworkConfigChange(_) => Permission::NetworkConfigChange,
            Operation::TrustModification(_) => Permission::TrustModification,
            Operation::NodeAdmission(_) => Permission::NodeAdmission,
            Operation::NodeExclusion(x) if is_provable(x.reason) => Permission::ProvenExclusion,
            Operation::NodeExclusion(_) => Permission::NodeExclusion,
            Operation::SecurityPolicyUpdate(_) => Permission::SecurityPolicyUpdate,
            Operation::ServiceDeployment(_) => Permission::ServiceDeployment,
            Operation::ResourceAllocation(_) => Permission::ResourceAllocation,
            Operation::MaintenanceTask(_) => Permission::MaintenanceTask,
            Operation::PerformanceOptimization(_) => Permission::PerformanceOptimization,
            Operation::Compute(_) => Permission::Compute,
        }
    }

    /// The least powerful grantable role the default policy gives this permission to
    /// (client, then operator, then governor): the key a tool signs with by default.
    pub fn default_role(self) -> Actor {
        let allowed = Policy::default().allowed(self);
        [Actor::Client, Actor::Operator, Actor::Governor]
            .into_iter()
            .find(|a| allowed.contains(a))
            .unwrap_or(Actor::Governor)
    }

    /// The kebab-case name (as in genesis files).
    pub fn name(self) -> &'static str {
        match self {
            Permission::NetworkConfigChange => "network-config-change",
            Permission::TrustModification => "trust-modification",
            Permission::NodeAdmission => "node-admission",
            Permission::NodeExclusion => "node-exclusion",
            Permission::ProvenExclusion => "proven-exclusion",
            Permission::SecurityPolicyUpdate => "security-policy-update",
            Permission::ServiceDeployment => "service-deployment",
            Permission::ResourceAllocation => "resource-allocation",
            Permission::MaintenanceTask => "maintenance-task",
            Permission::PerformanceOptimization => "performance-optimization",
            Permission::Compute => "compute",
            Permission::ModuleUpload => "module-upload",
        }
    }
}

impl Permission {
    /// The permission of a kebab-case name.
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether an exclusion reason is provable from signatures (and so needs a proof).
pub fn is_provable(reason: ExclusionReason) -> bool {
    matches!(
        reason,
        ExclusionReason::Equivocation | ExclusionReason::InvalidReveal
    )
}

/// A client or operator key named by the genesis.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizedKey {
    /// The public key.
    pub id: NodeId,
    /// Who holds it (for logs and summaries).
    pub name: String,
    /// Its roles (never `member`).
    pub roles: BTreeSet<Actor>,
}

/// Which actors may use each permission.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Policy(pub BTreeMap<Permission, BTreeSet<Actor>>);

impl Default for Policy {
    /// Governors change trust, membership, parameters and modules; operators admit (with
    /// sponsors), run the authority operations and upload modules; clients compute; a
    /// member may itself submit an exclusion that carries a verified proof.
    fn default() -> Self {
        use Actor::*;
        let mut m = BTreeMap::new();
        for p in Permission::ALL {
            let actors: &[Actor] = match p {
                Permission::NetworkConfigChange
                | Permission::TrustModification
                | Permission::NodeExclusion
                | Permission::SecurityPolicyUpdate => &[Governor],
                Permission::NodeAdmission
                | Permission::ServiceDeployment
                | Permission::ResourceAllocation
                | Permission::MaintenanceTask
                | Permission::PerformanceOptimization
                | Permission::ModuleUpload => &[Governor, Operator],
                Permission::ProvenExclusion => &[Governor, Operator, Member],
                Permission::Compute => &[Governor, Operator, Client],
            };
            m.insert(p, actors.iter().copied().collect());
        }
        Policy(m)
    }
}

impl Policy {
    /// The actors allowed to use `p` (none if the policy does not name it).
    pub fn allowed(&self, p: Permission) -> BTreeSet<Actor> {
        self.0.get(&p).cloned().unwrap_or_default()
    }
}

/// The authorised keys and the policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    /// Client and operator keys with their roles, ascending by id.
    #[serde(default)]
    pub keys: Vec<AuthorizedKey>,
    /// Which actors may use which permission.
    #[serde(default)]
    pub policy: Policy,
}

/// Why an authority section is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    /// More keys than [`MAX_AUTHORIZED_KEYS`].
    #[error("more than {MAX_AUTHORIZED_KEYS} authorised keys")]
    TooManyKeys,
    /// A key appears twice.
    #[error("key {0} appears twice")]
    DuplicateKey(NodeId),
    /// A key is granted `member`, has no role, or has an empty or overlong name.
    #[error(
        "key {0}: roles must be governor, operator or client (at least one), name 1..=64 bytes"
    )]
    InvalidKey(NodeId),
    /// A key is not a usable ed25519 public key (canonical and not of small order).
    #[error("key {0} is not a usable ed25519 public key (canonical, not of small order)")]
    NotAKey(NodeId),
    /// An `authority.*` parameter is malformed or out of range.
    #[error("parameter {key}: {rule}")]
    BadParam {
        /// The parameter key.
        key: String,
        /// What it breaks.
        rule: &'static str,
    },
    /// After the change, no key and no member could submit a `network-config-change`, so
    /// the authority could never be changed again.
    #[error(
        "nobody would be left allowed to submit a network-config-change (the authority \
         could never change again)"
    )]
    Ungovernable,
}

impl Authority {
    /// Check the content: distinct valid keys with grantable roles.
    pub fn validate(&self) -> Result<(), AuthorityError> {
        if self.keys.len() > MAX_AUTHORIZED_KEYS {
            return Err(AuthorityError::TooManyKeys);
        }
        let mut seen = BTreeSet::new();
        for k in &self.keys {
            if !seen.insert(k.id) {
                return Err(AuthorityError::DuplicateKey(k.id));
            }
            if k.roles.is_empty()
                || k.roles.contains(&Actor::Member)
                || k.name.is_empty()
                || k.name.len() > 64
            {
                return Err(AuthorityError::InvalidKey(k.id));
            }
            if crate::crypto::check_key(&k.id).is_err() {
                return Err(AuthorityError::NotAKey(k.id));
            }
        }
        Ok(())
    }

    /// The authority after a decided change of config type `authority` (see the module
    /// documentation): all or nothing; the result validates and stays governable.
    pub fn with_changes(&self, changes: &[Param]) -> Result<Authority, AuthorityError> {
        let mut next = self.clone();
        let mut seen = BTreeSet::new();
        for c in changes {
            let bad = |rule| AuthorityError::BadParam {
                key: c.key.clone(),
                rule,
            };
            if !seen.insert(c.key.as_str()) {
                return Err(bad("set more than once"));
            }
            if let Some(hex) = c.key.strip_prefix(AUTHORITY_KEY_PREFIX) {
                let canonical = hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                let id = crate::types::decode_hex_array::<32>(hex)
                    .ok()
                    .filter(|_| canonical)
                    .map(NodeId)
                    .ok_or_else(|| bad("the key must be 64 lowercase hex digits"))?;
                let roles = Actor::from_mask(c.value)
                    .filter(|r| !r.contains(&Actor::Member))
                    .ok_or_else(|| {
                        bad("the role mask must be 0..=7 (1 governor, 2 operator, 4 client)")
                    })?;
                match next.keys.iter().position(|k| k.id == id) {
                    Some(i) if roles.is_empty() => {
                        next.keys.remove(i);
                    }
                    Some(i) => next.keys[i].roles = roles,
                    None if roles.is_empty() => return Err(bad("revokes a key that is not named")),
                    None => {
                        let name = format!("key-{}", &hex[..8]);
                        next.keys.push(AuthorizedKey { id, name, roles });
                        next.keys.sort_by_key(|k| k.id);
                    }
                }
            } else if let Some(name) = c.key.strip_prefix(AUTHORITY_POLICY_PREFIX) {
                let p = Permission::from_name(name).ok_or_else(|| bad("not a permission"))?;
                let actors = Actor::from_mask(c.value).ok_or_else(|| {
                    bad("the actor mask must be 0..=15 (1 governor, 2 operator, 4 client, 8 member)")
                })?;
                next.policy.0.insert(p, actors);
            } else {
                return Err(bad(
                    "not authority.key.<hex> or authority.policy.<permission>",
                ));
            }
        }
        next.validate()?;
        if !next.governable() {
            return Err(AuthorityError::Ungovernable);
        }
        Ok(next)
    }

    /// Whether some key or member may still submit a `network-config-change` (the only
    /// operation that changes the authority).
    pub fn governable(&self) -> bool {
        let allowed = self.policy.allowed(Permission::NetworkConfigChange);
        allowed.contains(&Actor::Member)
            || self
                .keys
                .iter()
                .any(|k| k.roles.iter().any(|r| allowed.contains(r)))
    }

    /// The named key, if any.
    pub fn key(&self, id: &NodeId) -> Option<&AuthorizedKey> {
        self.keys.iter().find(|k| k.id == *id)
    }

    /// The actors `id` acts as: its granted roles, plus `member` if `is_member`.
    pub fn actors(&self, id: &NodeId, is_member: bool) -> BTreeSet<Actor> {
        let mut out = self.key(id).map(|k| k.roles.clone()).unwrap_or_default();
        if is_member {
            out.insert(Actor::Member);
        }
        out
    }

    /// Whether `id` may use `p`; on refusal, the actors that would have been allowed.
    pub fn check(
        &self,
        id: &NodeId,
        is_member: bool,
        p: Permission,
    ) -> Result<(), BTreeSet<Actor>> {
        // Runs for every operation a node sees, several times: nothing is copied unless
        // the answer is a refusal (`actors` gives the same verdict, with copies).
        let allowed = self.policy.0.get(&p);
        let permits = |a: &Actor| allowed.is_some_and(|set| set.contains(a));
        let by_role = self.key(id).is_some_and(|k| k.roles.iter().any(permits));
        if by_role || (is_member && permits(&Actor::Member)) {
            Ok(())
        } else {
            Err(self.policy.allowed(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;

    #[test]
    fn default_policy_names_every_permission_and_keeps_governance_to_governors() {
        let p = Policy::default();
        for perm in Permission::ALL {
            assert!(!p.allowed(perm).is_empty(), "{perm}");
        }
        for perm in [
            Permission::TrustModification,
            Permission::NetworkConfigChange,
            Permission::NodeExclusion,
            Permission::SecurityPolicyUpdate,
        ] {
            assert_eq!(p.allowed(perm), BTreeSet::from([Actor::Governor]));
        }
    }

    #[test]
    fn the_check_agrees_with_the_actors_it_names() {
        // The check copies nothing; `actors` names the same roles. Every permission, for
        // a key of each role, a member and a stranger, under the default policy and one
        // that names nobody for a permission.
        let mut keys: Vec<AuthorizedKey> = [Actor::Governor, Actor::Operator, Actor::Client]
            .into_iter()
            .enumerate()
            .map(|(i, role)| AuthorizedKey {
                id: Keypair::from_seed([i as u8 + 1; 32]).id(),
                name: format!("k{i}"),
                roles: BTreeSet::from([role]),
            })
            .collect();
        keys.sort_by_key(|k| k.id);
        let mut sparse = Policy::default();
        sparse.0.remove(&Permission::Compute);
        for policy in [Policy::default(), sparse] {
            let a = Authority {
                keys: keys.clone(),
                policy,
            };
            let ids: Vec<NodeId> = keys
                .iter()
                .map(|k| k.id)
                .chain([Keypair::from_seed([9; 32]).id()])
                .collect();
            for perm in Permission::ALL {
                for id in &ids {
                    for member in [false, true] {
                        let allowed = a.policy.allowed(perm);
                        let expected = a.actors(id, member).iter().any(|x| allowed.contains(x));
                        let got = a.check(id, member, perm);
                        assert_eq!(got.is_ok(), expected, "{perm} {id:?} {member}");
                        if let Err(named) = got {
                            assert_eq!(named, allowed);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn actors_and_checks() {
        let gov = Keypair::from_seed([1; 32]).id();
        let anyone = Keypair::from_seed([2; 32]).id();
        let a = Authority {
            keys: vec![AuthorizedKey {
                id: gov,
                name: "gov".into(),
                roles: BTreeSet::from([Actor::Governor]),
            }],
            policy: Policy::default(),
        };
        assert_eq!(a.validate(), Ok(()));
        assert!(a.check(&gov, false, Permission::TrustModification).is_ok());
        assert_eq!(
            a.check(&anyone, false, Permission::TrustModification),
            Err(BTreeSet::from([Actor::Governor]))
        );
        // A member acts for itself only where the policy names `member`.
        assert!(a.check(&anyone, true, Permission::ProvenExclusion).is_ok());
        assert!(a.check(&anyone, true, Permission::NodeExclusion).is_err());
        let mut bad = a.clone();
        bad.keys[0].roles.insert(Actor::Member);
        assert_eq!(bad.validate(), Err(AuthorityError::InvalidKey(gov)));
    }
}
