//! Deterministic Rust stand-ins for the default validator and resolver modules: the
//! simulator never loads WebAssembly.
//!
//! # Design
//! [`validate`] mirrors the default validator's accept/reject decisions on the operations the
//! workload produces: operations naming a non-member are rejected (`unknown-node`), a
//! quorum change asking for more high-trust voters than there
//! are members is a `quorum-violation`, any other invalid parameter change a
//! `policy-violation`, and
//! everything else is accepted with the canonical encoding of its effect (for a compute
//! task: the median of its inputs). [`wrong_result`] is what a Byzantine wrong-result node
//! reports instead.
//!
//! [`resolve`] follows the hierarchy resolver of the specification: unanimity wins; else
//! the primary's result if its confidence is above [`AUTHORITY_THRESHOLD_BPS`]; else the
//! seed's likewise; else the latent result if its agreement is above
//! [`DISTRIBUTED_THRESHOLD_BPS`]; else escalate.

use std::collections::BTreeSet;

use crate::consensus::{LayerResult, ResolverVerdict};
use crate::crypto::Canonical;
use crate::ops::{ConfigType, Operation, Outcome, RejectionCode};
use crate::sim::workload::COMPUTE_MEDIAN;
use crate::state::Params;
use crate::types::NodeId;

/// The honest validator result for `op` in a cluster whose members are `members`.
pub fn validate(op: &Operation, members: &BTreeSet<NodeId>) -> Outcome {
    let reject = |code, reason: &str| Outcome::Rejected {
        code,
        reason: reason.to_owned(),
    };
    match op {
        Operation::TrustModification(m) if !members.contains(&m.target) => reject(
            RejectionCode::UnknownNode,
            "trust modification of a non-member",
        ),
        Operation::NodeExclusion(x) if !members.contains(&x.target) => {
            reject(RejectionCode::UnknownNode, "exclusion of a non-member")
        }
        Operation::NodeAdmission(a) if members.contains(&a.candidate.id) => reject(
            RejectionCode::PolicyViolation,
            "candidate is already a member",
        ),
        // Sponsorship is the host's to check (signatures, count, trust and level from
        // the replicated parameters) before an admission is ordered.
        Operation::NodeAdmission(_) => Outcome::Accepted(op.canonical_bytes()),
        // The host checks an authority change against the replicated authority.
        Operation::NetworkConfigChange(c) if c.config_type == ConfigType::Authority => {
            Outcome::Accepted(op.canonical_bytes())
        }
        Operation::NetworkConfigChange(c) => {
            let too_many_high = c.config_type == ConfigType::Quorum
                && c.changes
                    .iter()
                    .any(|p| p.key == "quorum.min-high-trust" && p.value > members.len() as i64);
            if too_many_high {
                reject(
                    RejectionCode::QuorumViolation,
                    "more high-trust voters required than there are members",
                )
            } else if Params::default()
                .with_changes(c.config_type, &c.changes)
                .is_err()
            {
                reject(RejectionCode::PolicyViolation, "invalid parameter change")
            } else {
                Outcome::Accepted(op.canonical_bytes())
            }
        }
        Operation::Compute(task) if task.kind == COMPUTE_MEDIAN => match median(&task.input) {
            Some(m) => Outcome::Accepted(m.to_le_bytes().to_vec()),
            None => reject(
                RejectionCode::Malformed,
                "input is not a non-empty list of i64",
            ),
        },
        Operation::Compute(_) => reject(RejectionCode::Unsupported, "unknown compute kind"),
        _ => Outcome::Accepted(op.canonical_bytes()),
    }
}

/// A result that differs from `honest` (what a Byzantine wrong-result node reports).
pub fn wrong_result(honest: &Outcome) -> Outcome {
    match honest {
        Outcome::Accepted(bytes) => {
            let mut b = bytes.clone();
            b.push(0xBA);
            Outcome::Accepted(b)
        }
        Outcome::Rejected { .. } | Outcome::Failed(_) | Outcome::Regressed(_) => {
            Outcome::Accepted(b"forged-acceptance".to_vec())
        }
    }
}

/// Confidence (bps of eligible trust weight) above which the primary's or the seed's
/// result is authoritative.
pub const AUTHORITY_THRESHOLD_BPS: u32 = 5_000;

/// Agreement (bps of latent members) above which the latent result is authoritative.
pub const DISTRIBUTED_THRESHOLD_BPS: u32 = 6_667;

/// The hierarchy resolver's verdict on three layer results.
pub fn resolve(primary: &LayerResult, seed: &LayerResult, latent: &LayerResult) -> ResolverVerdict {
    use crate::types::Layer;
    if let (Some(p), Some(s), Some(l)) = (&primary.result, &seed.result, &latent.result)
        && p == s
        && s == l
    {
        return ResolverVerdict::Accept(Layer::Primary);
    }
    if primary.result.is_some() && primary.confidence > AUTHORITY_THRESHOLD_BPS {
        return ResolverVerdict::Accept(Layer::Primary);
    }
    if seed.result.is_some() && seed.confidence > AUTHORITY_THRESHOLD_BPS {
        return ResolverVerdict::Accept(Layer::Seed);
    }
    if latent.result.is_some() && latent.agreement > DISTRIBUTED_THRESHOLD_BPS {
        return ResolverVerdict::Accept(Layer::Latent);
    }
    ResolverVerdict::Escalate("no layer has clear authority".into())
}

/// The lower median of `input` read as little-endian `i64` values.
fn median(input: &[u8]) -> Option<i64> {
    if input.is_empty() || !input.len().is_multiple_of(8) {
        return None;
    }
    let mut xs: Vec<i64> = input
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            i64::from_le_bytes(b)
        })
        .collect();
    xs.sort_unstable();
    xs.get((xs.len() - 1) / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::ComputeTask;
    use crate::sim::rng::SimRng;
    use crate::sim::workload::workload;

    fn layer(
        layer: crate::types::Layer,
        result: Option<Outcome>,
        confidence: u32,
        agreement: u32,
    ) -> LayerResult {
        LayerResult {
            layer,
            result,
            confidence,
            agreement,
        }
    }

    #[test]
    fn resolver_follows_the_hierarchy() {
        use crate::types::Layer::{Latent, Primary, Seed};
        let a = Some(Outcome::Accepted(vec![1]));
        let b = Some(Outcome::Accepted(vec![2]));
        let unanimous = resolve(
            &layer(Primary, a.clone(), 100, 100),
            &layer(Seed, a.clone(), 100, 100),
            &layer(Latent, a.clone(), 100, 100),
        );
        assert_eq!(unanimous, ResolverVerdict::Accept(Primary));
        let primary = resolve(
            &layer(Primary, a.clone(), 6_000, 0),
            &layer(Seed, b.clone(), 9_000, 0),
            &layer(Latent, b.clone(), 0, 0),
        );
        assert_eq!(primary, ResolverVerdict::Accept(Primary));
        let seed = resolve(
            &layer(Primary, a.clone(), 3_000, 0),
            &layer(Seed, b.clone(), 5_001, 0),
            &layer(Latent, b.clone(), 0, 0),
        );
        assert_eq!(seed, ResolverVerdict::Accept(Seed));
        let latent = resolve(
            &layer(Primary, a.clone(), 3_000, 0),
            &layer(Seed, None, 0, 0),
            &layer(Latent, b.clone(), 0, 7_000),
        );
        assert_eq!(latent, ResolverVerdict::Accept(Latent));
        let none = resolve(
            &layer(Primary, a, 3_000, 0),
            &layer(Seed, None, 9_000, 0),
            &layer(Latent, b, 0, 6_000),
        );
        assert!(matches!(none, ResolverVerdict::Escalate(_)));
    }

    #[test]
    fn median_of_inputs() {
        let input: Vec<u8> = [5i64, -3, 9].iter().flat_map(|x| x.to_le_bytes()).collect();
        let op = Operation::Compute(ComputeTask {
            kind: COMPUTE_MEDIAN.into(),
            input,
        });
        assert_eq!(
            validate(&op, &BTreeSet::new()),
            Outcome::Accepted(5i64.to_le_bytes().to_vec())
        );
        let bad = Operation::Compute(ComputeTask {
            kind: COMPUTE_MEDIAN.into(),
            input: vec![1, 2],
        });
        assert!(matches!(
            validate(&bad, &BTreeSet::new()),
            Outcome::Rejected {
                code: RejectionCode::Malformed,
                ..
            }
        ));
    }

    #[test]
    fn workload_gets_both_verdicts_and_wrong_results_differ() {
        let members: Vec<NodeId> = (1..=4).map(|b| NodeId([b; 32])).collect();
        let set: BTreeSet<NodeId> = members.iter().copied().collect();
        let ops = workload(28, &members, &mut SimRng::new(1));
        let outcomes: Vec<Outcome> = ops.iter().map(|o| validate(o, &set)).collect();
        assert!(outcomes.iter().any(Outcome::is_accepted));
        assert!(outcomes.iter().any(|o| !o.is_accepted()));
        for o in &outcomes {
            assert_ne!(&wrong_result(o), o);
            assert_eq!(validate(&ops[0], &set), validate(&ops[0], &set));
        }
    }
}
