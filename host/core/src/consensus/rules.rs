//! How gathered results become decisions: quorum match, authority layer, resolver.
//!
//! # Design
//! [`decide`] is a pure function of the batch's path, the reveals of a tally, the roles
//! and trust weights at the slot, and the resolver verdicts obtained so far. The primary
//! uses it to build its tally, every member uses it to check one; a verdict it lacks is
//! returned as a [`ResolverRequest`] that the node turns into a `CallResolver` effect.
//!
//! Per operation `i` (docs/PROTOCOL.md, "How a result is decided"), the first rule that
//! applies ([`strong_decisions`]):
//! - Full BFT: an outcome revealed by a quorum is `Agreed`.
//! - High / Medium: the primary's / seed's outcome (`Authority`).
//! - Low, or Medium whose seed is silent: an outcome revealed by a light quorum of latent
//!   members is `Agreed`.
//! - Any authority path whose deciding layer is silent: an outcome revealed by a quorum
//!   of all members is `Agreed` (every eligible member reveals on every path).
//! - Otherwise the resolver gets the primary's, the seed's and the most frequent latent
//!   outcome, with confidence (bps of eligible trust revealing it) and agreement (bps of
//!   the layer revealing it).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::effect::LayerResult;
use super::entry::Decision;
use super::input::ResolverVerdict;
use crate::crypto::{Canonical, canonical_bytes, sha256_parts};
use crate::ops::{AuthorityLevel, Mechanism, Outcome, SignedOperation};
use crate::types::{Digest, Layer, MAX_BPS, NodeId, Slot, TrustBps};

/// Which path a batch takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// Full BFT: sealed commit, reveal, quorum match or resolver.
    Full,
    /// An authority level: one layer's results.
    Authority(AuthorityLevel),
    /// No operations (a batch carrying only evidence): nothing to gather.
    Empty,
}

impl Path {
    /// The path of a batch (every operation must share one mechanism; see [`homogeneous`]).
    pub fn of(batch: &[SignedOperation]) -> Path {
        match batch.first().map(SignedOperation::mechanism) {
            None => Path::Empty,
            Some(Mechanism::FullBft) => Path::Full,
            Some(Mechanism::Authority(level)) => Path::Authority(level),
        }
    }

    /// Whether members commit (sealed) before revealing.
    pub fn sealed(self) -> bool {
        self == Path::Full
    }
}

/// Whether `op` changes the authority (keys or policy): such an operation is decided in a
/// batch of its own, because every operation of a batch is authorised against the state
/// before the batch, and one ordered after an authority change in the same batch would
/// escape the change (a key revoked by the first could still act in the second).
pub fn changes_authority(op: &SignedOperation) -> bool {
    matches!(
        &op.op,
        crate::ops::Operation::NetworkConfigChange(c)
            if c.config_type == crate::ops::ConfigType::Authority
    )
}

/// Whether every operation of `batch` takes the same mechanism, and an authority change
/// is alone in its batch.
pub fn homogeneous(batch: &[SignedOperation]) -> bool {
    if batch.len() > 1 && batch.iter().any(changes_authority) {
        return false;
    }
    let mut mechanisms = batch.iter().map(SignedOperation::mechanism);
    match mechanisms.next() {
        None => true,
        Some(first) => mechanisms.all(|m| m == first),
    }
}

/// The facts about the slot the rules need.
pub struct Roles<'a> {
    /// The slot.
    pub slot: Slot,
    /// Primary of the tally's view.
    pub primary: Option<NodeId>,
    /// Seed of the tally's view.
    pub seed: Option<NodeId>,
    /// Eligible members and their trust.
    pub eligible: &'a BTreeMap<NodeId, TrustBps>,
    /// The Full-BFT quorum predicate.
    pub quorum: &'a dyn Fn(&BTreeSet<NodeId>) -> bool,
    /// The light-quorum predicate (over latent members of the tally's view).
    pub light: &'a dyn Fn(&BTreeSet<NodeId>) -> bool,
}

impl Roles<'_> {
    /// The layer of `id` in the tally's view.
    pub fn layer(&self, id: &NodeId) -> Layer {
        if Some(*id) == self.primary {
            Layer::Primary
        } else if Some(*id) == self.seed {
            Layer::Seed
        } else {
            Layer::Latent
        }
    }
}

/// A resolver verdict the rules need but do not have yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolverRequest {
    /// Index of the operation in the batch.
    pub index: u32,
    /// Key of the verdict (digest of slot, index and the three layer results).
    pub key: Digest,
    /// The primary's result.
    pub primary: LayerResult,
    /// The seed's result.
    pub seed: LayerResult,
    /// The latent layer's most frequent result.
    pub latent: LayerResult,
}

/// Decide every operation from `reveals` (signer, outcomes), or say which resolver
/// verdicts are still missing.
pub fn decide(
    path: Path,
    batch_len: usize,
    reveals: &[(NodeId, &[Outcome])],
    roles: &Roles<'_>,
    verdicts: &dyn Fn(&Digest) -> Option<ResolverVerdict>,
) -> Result<Vec<Decision>, Vec<ResolverRequest>> {
    let mut decisions = Vec::with_capacity(batch_len);
    let mut missing = Vec::new();
    if path == Path::Empty {
        return Ok(decisions);
    }
    for (i, strong) in strong_decisions(path, batch_len, reveals, roles)
        .into_iter()
        .enumerate()
    {
        let decision = match strong {
            Some(d) => d,
            None => {
                let request = resolver_request(i, reveals, roles);
                match verdicts(&request.key) {
                    Some(v) => apply_verdict(&v, &request),
                    None => {
                        missing.push(request);
                        continue;
                    }
                }
            }
        };
        decisions.push(decision);
    }
    if missing.is_empty() {
        Ok(decisions)
    } else {
        Err(missing)
    }
}

/// The decision of every operation that needs no resolver, `None` where the resolver
/// must decide. Per path, the first rule that applies:
/// - Full BFT: a quorum reveals one outcome (`Agreed`);
/// - High: the primary's outcome (`Authority`); Medium: the seed's (`Authority`);
/// - Low, and Medium whose seed revealed nothing: a light quorum of latent members
///   reveals one outcome (`Agreed`);
/// - every authority path whose deciding layer revealed nothing: a quorum of all members
///   reveals one outcome (`Agreed`): a silent layer falls back to the next rule instead
///   of escalating, and escalation is left for results that truly disagree.
///
/// Adding reveals never changes a `Some` here to another `Some` unless it supplies the
/// missing deciding layer (quorums of one outcome are unique): this is what lets a member
/// refuse a tally that leaves out reveals it holds without letting a Byzantine member
/// stall an honest tally (see `agree.rs`).
pub fn strong_decisions(
    path: Path,
    batch_len: usize,
    reveals: &[(NodeId, &[Outcome])],
    roles: &Roles<'_>,
) -> Vec<Option<Decision>> {
    (0..batch_len)
        .map(|i| {
            let at = |who: Option<NodeId>| -> Option<&Outcome> {
                let who = who?;
                reveals
                    .iter()
                    .find(|(s, _)| *s == who)
                    .and_then(|(_, o)| o.get(i))
            };
            let full = || quorum_match(i, reveals, |_| true, roles.quorum).map(Decision::Agreed);
            let light = || {
                quorum_match(i, reveals, |s| roles.layer(s) == Layer::Latent, roles.light)
                    .map(Decision::Agreed)
            };
            match path {
                Path::Empty => None,
                Path::Full => full(),
                Path::Authority(AuthorityLevel::High) => at(roles.primary)
                    .map(|o| Decision::Authority {
                        layer: Layer::Primary,
                        outcome: o.clone(),
                    })
                    .or_else(full),
                Path::Authority(AuthorityLevel::Medium) => at(roles.seed)
                    .map(|o| Decision::Authority {
                        layer: Layer::Seed,
                        outcome: o.clone(),
                    })
                    .or_else(light)
                    .or_else(full),
                Path::Authority(AuthorityLevel::Low) => light().or_else(full),
            }
        })
        .collect()
}

/// The outcome of operation `i` revealed by a quorum (per `is_quorum`) of the counted
/// signers, if any. At most one outcome can qualify when quorums intersect.
fn quorum_match(
    i: usize,
    reveals: &[(NodeId, &[Outcome])],
    counted: impl Fn(&NodeId) -> bool,
    is_quorum: &dyn Fn(&BTreeSet<NodeId>) -> bool,
) -> Option<Outcome> {
    let mut by_outcome: BTreeMap<Digest, (Outcome, BTreeSet<NodeId>)> = BTreeMap::new();
    for (signer, outs) in reveals {
        if let (true, Some(o)) = (counted(signer), outs.get(i)) {
            by_outcome
                .entry(o.digest())
                .or_insert_with(|| (o.clone(), BTreeSet::new()))
                .1
                .insert(*signer);
        }
    }
    // Only a unique match counts: with quorums that intersect in an honest member there
    // is never more than one, and a rule whose quorums could both be met (a light quorum
    // under skewed trust) yields no decision rather than one picked by digest order.
    let mut matches = by_outcome
        .into_values()
        .filter(|(_, signers)| is_quorum(signers));
    match (matches.next(), matches.next()) {
        (Some((o, _)), None) => Some(o),
        _ => None,
    }
}

fn bps(part: u64, whole: u64) -> u32 {
    if whole == 0 {
        return 0;
    }
    u32::try_from(part.saturating_mul(u64::from(MAX_BPS)) / whole).unwrap_or(MAX_BPS)
}

/// The resolver's inputs for operation `i`.
fn resolver_request(
    i: usize,
    reveals: &[(NodeId, &[Outcome])],
    roles: &Roles<'_>,
) -> ResolverRequest {
    let total: u64 = roles.eligible.values().map(|t| u64::from(*t)).sum();
    let confidence = |o: &Outcome| {
        let w: u64 = reveals
            .iter()
            .filter(|(_, outs)| outs.get(i) == Some(o))
            .map(|(s, _)| u64::from(roles.eligible.get(s).copied().unwrap_or(0)))
            .sum();
        bps(w, total)
    };
    let single = |layer: Layer, who: Option<NodeId>| {
        let result = who
            .and_then(|w| reveals.iter().find(|(s, _)| *s == w))
            .and_then(|(_, o)| o.get(i))
            .cloned();
        let (confidence, agreement) = match &result {
            Some(o) => (confidence(o), MAX_BPS),
            None => (0, 0),
        };
        LayerResult {
            layer,
            result,
            confidence,
            agreement,
        }
    };
    let latent_members = roles
        .eligible
        .keys()
        .filter(|id| roles.layer(id) == Layer::Latent)
        .count() as u64;
    let mut counts: BTreeMap<Digest, (Outcome, u64)> = BTreeMap::new();
    for (s, outs) in reveals {
        if roles.layer(s) == Layer::Latent
            && let Some(o) = outs.get(i)
        {
            counts.entry(o.digest()).or_insert_with(|| (o.clone(), 0)).1 += 1;
        }
    }
    // Most frequent; ties go to the smallest digest (BTreeMap order, strict `>`).
    let mut best: Option<(Outcome, u64)> = None;
    for (o, c) in counts.into_values() {
        if best.as_ref().is_none_or(|(_, bc)| c > *bc) {
            best = Some((o, c));
        }
    }
    let latent = match best {
        Some((o, c)) => LayerResult {
            layer: Layer::Latent,
            confidence: confidence(&o),
            agreement: bps(c, latent_members),
            result: Some(o),
        },
        None => LayerResult {
            layer: Layer::Latent,
            result: None,
            confidence: 0,
            agreement: 0,
        },
    };
    let primary = single(Layer::Primary, roles.primary);
    let seed = single(Layer::Seed, roles.seed);
    let index = u32::try_from(i).unwrap_or(u32::MAX);
    let key = sha256_parts(&[
        b"spore/consensus/resolver-call/v1",
        &roles.slot.to_le_bytes(),
        &index.to_le_bytes(),
        &canonical_bytes(&(&primary, &seed, &latent)),
    ]);
    ResolverRequest {
        index,
        key,
        primary,
        seed,
        latent,
    }
}

/// Turn a verdict into a decision.
fn apply_verdict(verdict: &ResolverVerdict, req: &ResolverRequest) -> Decision {
    match verdict {
        ResolverVerdict::Accept(layer) => {
            let chosen = match layer {
                Layer::Primary => &req.primary,
                Layer::Seed => &req.seed,
                Layer::Latent => &req.latent,
            };
            match &chosen.result {
                Some(o) => Decision::Resolved {
                    layer: *layer,
                    outcome: o.clone(),
                },
                None => Decision::Escalated {
                    reason: format!("resolver chose the {layer} layer, which revealed nothing"),
                },
            }
        }
        ResolverVerdict::Escalate(reason) => Decision::Escalated {
            reason: reason.clone(),
        },
        ResolverVerdict::Failed(kind) => Decision::Escalated {
            reason: format!("resolver failed: {kind:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::tests::sign_op;
    use crate::ops::{ConfigType, ImpactLevel, NetworkConfigChange, Operation, Param};
    use crate::types::Digest;

    #[test]
    fn an_authority_change_is_alone_in_its_batch() {
        let change = |config_type, key: &str| {
            sign_op(
                Digest([1; 32]),
                Operation::NetworkConfigChange(NetworkConfigChange {
                    config_type,
                    changes: vec![Param {
                        key: key.into(),
                        value: 1,
                    }],
                    impact: ImpactLevel::Critical,
                }),
            )
        };
        let authority = change(ConfigType::Authority, "authority.policy.compute");
        let quorum = change(ConfigType::Quorum, "quorum.min-high-trust");
        assert!(changes_authority(&authority) && !changes_authority(&quorum));
        assert!(homogeneous(std::slice::from_ref(&authority)));
        // Both Full BFT, but the authority change must be alone.
        assert!(homogeneous(&[quorum.clone(), quorum.clone()]));
        assert!(!homogeneous(&[authority.clone(), quorum.clone()]));
        assert!(!homogeneous(&[quorum, authority]));
    }
}
