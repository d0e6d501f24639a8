//! Test-only guard that [`super::Operation`] mirrors wit/types.wit one to one: the same
//! variant cases in the same order, the same record fields, the same enum cases.
//!
//! It parses the WIT text with a deliberately small reader (records, enums, variants of
//! the `types` interface) and compares with the JSON field and case names of the Rust
//! types (snake_case there, kebab-case in WIT).

use std::collections::BTreeMap;

use serde::Serialize;

use super::tests::one_of_each;
use super::*;
use crate::types::Hierarchy;

const TYPES_WIT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit/types.wit"));

/// `kind name -> member names` for every `record`, `enum` and `variant` in the WIT text.
fn parse(kind: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut lines = TYPES_WIT.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix(kind).and_then(|r| r.strip_prefix(' ')) else {
            continue;
        };
        let Some(name) = rest.strip_suffix('{').map(str::trim) else {
            continue;
        };
        let mut members = Vec::new();
        for body in lines.by_ref() {
            if body == "}" {
                break;
            }
            if body.is_empty() || body.starts_with("//") {
                continue;
            }
            let end = body.find([':', ',', '(']).unwrap_or(body.len());
            members.push(body[..end].trim().trim_start_matches('%').to_string());
        }
        out.insert(name.to_string(), members);
    }
    out
}

fn kebab(s: &str) -> String {
    s.replace('_', "-")
}

/// Field names of a serialised struct, sorted.
fn fields<T: Serialize>(value: &T) -> Vec<String> {
    let json = serde_json::to_value(value).unwrap_or_default();
    let mut keys: Vec<String> = json
        .as_object()
        .map(|o| o.keys().map(|k| kebab(k)).collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Case names of a unit enum, from its serialised variants.
fn cases<T: Serialize>(all: &[T]) -> Vec<String> {
    all.iter()
        .map(|v| {
            kebab(
                serde_json::to_value(v)
                    .ok()
                    .and_then(|j| j.as_str().map(str::to_string))
                    .as_deref()
                    .unwrap_or("?"),
            )
        })
        .collect()
}

#[test]
fn operation_variant_cases_match_in_order() {
    let variants = parse("variant");
    let wit = variants.get("operation").cloned().unwrap_or_default();
    let rust: Vec<String> = one_of_each()
        .iter()
        .map(|o| o.kind_name().to_string())
        .collect();
    assert_eq!(rust, wit);
}

#[test]
fn record_fields_match() {
    let records = parse("record");
    let wit = |name: &str| {
        sorted(
            records
                .get(name)
                .cloned()
                .unwrap_or_else(|| vec![format!("missing record {name}")]),
        )
    };
    let ops = one_of_each();
    for op in &ops {
        let json = serde_json::to_value(op).unwrap_or_default();
        let payload = json
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or_default();
        let record = match op {
            Operation::Compute(_) => "compute-task",
            other => other.kind_name(),
        };
        let mut keys: Vec<String> = payload
            .as_object()
            .map(|o| o.keys().map(|k| kebab(k)).collect())
            .unwrap_or_default();
        if record == "node-admission" {
            // Filled in by the host from the replicated parameters (checked below).
            keys.push("criteria".into());
        }
        assert_eq!(sorted(keys), wit(record), "record {record}");
    }
    let Operation::NodeAdmission(a) = &ops[2] else {
        panic!("fixture order changed")
    };
    assert_eq!(fields(&a.candidate), wit("node-identity"));
    // The WIT admission's criteria are the cluster's, filled in by the host from the
    // replicated parameters (`MembershipRules`); its fields mirror them.
    let rules = crate::state::MembershipRules::from_params(|_| None);
    let criteria = serde_json::json!({
        "min_sponsors": rules.min_sponsors,
        "min_sponsor_trust": rules.min_sponsor_trust,
        "required_sponsor_level": rules.sponsor_level,
    });
    assert_eq!(fields(&criteria), wit("admission-criteria"));
    let Operation::NodeExclusion(x) = &ops[3] else {
        panic!("fixture order changed")
    };
    assert_eq!(fields(&x.evidence[0]), wit("evidence"));
    let Operation::ServiceDeployment(d) = &ops[5] else {
        panic!("fixture order changed")
    };
    assert_eq!(fields(&d.resources), wit("resource-requirements"));
    let Operation::MaintenanceTask(m) = &ops[7] else {
        panic!("fixture order changed")
    };
    assert_eq!(fields(&m.window), wit("slot-window"));
    let Operation::PerformanceOptimization(p) = &ops[8] else {
        panic!("fixture order changed")
    };
    assert_eq!(fields(&p.targets[0]), wit("performance-metric"));
    assert_eq!(
        fields(&Param {
            key: String::new(),
            value: 0
        }),
        wit("param")
    );
}

#[test]
fn enum_cases_match_in_order() {
    let enums = parse("enum");
    let wit = |name: &str| {
        enums
            .get(name)
            .cloned()
            .unwrap_or_else(|| vec![format!("missing enum {name}")])
    };
    use ImpactLevel as I;
    assert_eq!(
        cases(&[I::Low, I::Medium, I::High, I::Critical]),
        wit("impact-level")
    );
    use ConfigType as C;
    assert_eq!(
        cases(&[
            C::Quorum,
            C::Trust,
            C::Timing,
            C::Membership,
            C::Transport,
            C::Authority
        ]),
        wit("config-type")
    );
    use TrustReason as T;
    assert_eq!(
        cases(&[
            T::AuditFinding,
            T::MisbehaviourReport,
            T::RecoveryGrant,
            T::GovernanceDecision
        ]),
        wit("trust-reason")
    );
    use ExclusionReason as X;
    assert_eq!(
        cases(&[
            X::Equivocation,
            X::InvalidReveal,
            X::LowTrust,
            X::Unresponsive,
            X::GovernanceDecision
        ]),
        wit("exclusion-reason")
    );
    use EvidenceKind as E;
    assert_eq!(
        cases(&[E::ConflictingVotes, E::BadReveal, E::Other]),
        wit("evidence-kind")
    );
    use SecurityDomain as S;
    assert_eq!(
        cases(&[
            S::ValidatorModule,
            S::AdmissionModule,
            S::ResolverModule,
            S::TransportPolicy
        ]),
        wit("security-domain")
    );
    use DeploymentStrategy as D;
    assert_eq!(
        cases(&[D::Rolling, D::BlueGreen, D::Canary]),
        wit("deployment-strategy")
    );
    use ResourceType as R;
    assert_eq!(
        cases(&[R::Cpu, R::Memory, R::Storage, R::Bandwidth]),
        wit("resource-type")
    );
    use PriorityLevel as P;
    assert_eq!(
        cases(&[P::Low, P::Normal, P::High, P::Critical]),
        wit("priority-level")
    );
    use MaintenanceType as M;
    assert_eq!(
        cases(&[
            M::Upgrade,
            M::Restart,
            M::Compaction,
            M::Backup,
            M::CertificateRotation
        ]),
        wit("maintenance-type")
    );
    use OptimizationType as O;
    assert_eq!(
        cases(&[O::Batching, O::Caching, O::Routing, O::QuorumTuning]),
        wit("optimization-type")
    );
    use RejectionCode as RC;
    assert_eq!(
        cases(&[
            RC::Malformed,
            RC::UnknownNode,
            RC::InsufficientSponsors,
            RC::InsufficientTrust,
            RC::QuorumViolation,
            RC::Unauthorized,
            RC::Unsupported,
            RC::PolicyViolation
        ]),
        wit("rejection-code")
    );
    assert_eq!(cases(&Hierarchy::ALL), wit("hierarchy-level"));
    use crate::types::Layer as L;
    assert_eq!(cases(&[L::Primary, L::Seed, L::Latent]), wit("spore-layer"));
}
