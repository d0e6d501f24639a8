//! `{{name}}`: a Spore admission module.
//!
//! Admits a candidate when it has at least the cluster's minimum number of distinct
//! sponsors (`criteria.min-sponsors`, at least one) and a non-empty name; otherwise
//! refuses, with every reason.

use spore_guest::{Admission, CallContext, Host, NodeAdmission, Verdict};

/// The reasons to refuse `request` (empty: admit).
pub fn reasons(request: &NodeAdmission) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut sponsors = request.sponsors.clone();
    sponsors.sort();
    sponsors.dedup();
    let required = request.criteria.min_sponsors.max(1);
    if (sponsors.len() as u64) < u64::from(required) {
        reasons.push(format!("{} distinct sponsors, {required} required", sponsors.len()));
    }
    if request.candidate.name.trim().is_empty() {
        reasons.push("the candidate has no name".to_string());
    }
    reasons
}

/// The module.
pub struct Module;

impl Admission for Module {
    fn evaluate<H: Host + ?Sized>(host: &H, request: NodeAdmission, _ctx: CallContext) -> Verdict {
        let reasons = reasons(&request);
        host.debug(&format!("{} reasons to refuse", reasons.len()));
        Verdict::from_reasons(reasons)
    }
}

spore_guest::export_admission!(Module);

#[cfg(test)]
mod tests {
    use super::*;
    use spore_guest::testing::{Fixture, call_context, node_id};
    use spore_guest::{AdmissionCriteria, HierarchyLevel, NodeIdentity};

    fn request(sponsors: Vec<u8>, name: &str) -> NodeAdmission {
        NodeAdmission {
            candidate: NodeIdentity {
                id: node_id(9),
                level: HierarchyLevel::Hyphae,
                name: name.into(),
                address: "10.0.0.9:7000".into(),
            },
            criteria: AdmissionCriteria {
                min_sponsors: 2,
                min_sponsor_trust: 5000,
                required_sponsor_level: None,
            },
            sponsors: sponsors.into_iter().map(node_id).collect(),
        }
    }

    #[test]
    fn admits_with_enough_distinct_sponsors() {
        let host = Fixture::cluster(4);
        let verdict = Module::evaluate(&host, request(vec![1, 2], "n9"), call_context(1));
        assert!(verdict.admit, "{:?}", verdict.reasons);
        let twice = Module::evaluate(&host, request(vec![1, 1], "n9"), call_context(1));
        assert!(!twice.admit);
        let unnamed = Module::evaluate(&host, request(vec![1, 2], " "), call_context(1));
        assert_eq!(unnamed.reasons, vec!["the candidate has no name".to_string()]);
    }
}
