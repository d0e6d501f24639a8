//! Conveniences on the generated WIT types (constructors, ordering of levels).

use crate::{
    HierarchyLevel, ImpactLevel, LayerResult, Rejection, RejectionCode, SporeLayer, Verdict,
};

/// Hex of the first 8 bytes of `id` (at most 16 hex digits), to name a node or a result
/// in log lines and reasons. Results themselves always carry full ids.
pub fn short_id(id: &[u8]) -> String {
    id.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Rejection {
    /// A rejection with a machine-readable code and a human-readable reason.
    pub fn new(code: RejectionCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl RejectionCode {
    /// Kebab-case WIT name of the code, e.g. `unknown-node`.
    pub fn name(self) -> &'static str {
        match self {
            RejectionCode::Malformed => "malformed",
            RejectionCode::UnknownNode => "unknown-node",
            RejectionCode::InsufficientSponsors => "insufficient-sponsors",
            RejectionCode::InsufficientTrust => "insufficient-trust",
            RejectionCode::QuorumViolation => "quorum-violation",
            RejectionCode::Unauthorized => "unauthorized",
            RejectionCode::Unsupported => "unsupported",
            RejectionCode::PolicyViolation => "policy-violation",
        }
    }
}

impl Verdict {
    /// Admit when `reasons` is empty; otherwise refuse with every reason.
    pub fn from_reasons(reasons: Vec<String>) -> Self {
        Self {
            admit: reasons.is_empty(),
            reasons,
        }
    }
}

impl HierarchyLevel {
    /// Rank in the hierarchy: sclerotia 2 (highest), rhizomorph 1, hyphae 0.
    pub fn rank(self) -> u8 {
        match self {
            HierarchyLevel::Sclerotia => 2,
            HierarchyLevel::Rhizomorph => 1,
            HierarchyLevel::Hyphae => 0,
        }
    }

    /// Whether `self` is `required` or higher in the hierarchy.
    pub fn at_least(self, required: HierarchyLevel) -> bool {
        self.rank() >= required.rank()
    }

    /// Lower-case WIT name of the level.
    pub fn name(self) -> &'static str {
        match self {
            HierarchyLevel::Sclerotia => "sclerotia",
            HierarchyLevel::Rhizomorph => "rhizomorph",
            HierarchyLevel::Hyphae => "hyphae",
        }
    }
}

impl SporeLayer {
    /// Lower-case WIT name of the layer.
    pub fn name(self) -> &'static str {
        match self {
            SporeLayer::Primary => "primary",
            SporeLayer::Seed => "seed",
            SporeLayer::Latent => "latent",
        }
    }
}

impl LayerResult {
    /// One-line description for escalation reasons and logs, e.g.
    /// `primary: 16 bytes 0a0b0c0d0e0f1011, confidence 6000 bps, agreement 5000 bps`.
    pub fn describe(&self) -> String {
        let result = match &self.result {
            Some(bytes) => format!("{} bytes {}", bytes.len(), short_id(bytes)),
            None => "no result".to_owned(),
        };
        format!(
            "{}: {result}, confidence {} bps, agreement {} bps",
            self.layer.name(),
            self.confidence,
            self.agreement
        )
    }
}

impl ImpactLevel {
    /// Rank of the impact: low 0 .. critical 3.
    pub fn rank(self) -> u8 {
        match self {
            ImpactLevel::Low => 0,
            ImpactLevel::Medium => 1,
            ImpactLevel::High => 2,
            ImpactLevel::Critical => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_order() {
        assert!(HierarchyLevel::Sclerotia.at_least(HierarchyLevel::Rhizomorph));
        assert!(HierarchyLevel::Rhizomorph.at_least(HierarchyLevel::Rhizomorph));
        assert!(!HierarchyLevel::Hyphae.at_least(HierarchyLevel::Rhizomorph));
        assert!(ImpactLevel::Critical.rank() > ImpactLevel::Medium.rank());
    }

    #[test]
    fn describes_layer_results() {
        let r = LayerResult {
            layer: SporeLayer::Seed,
            result: Some(vec![0xab; 20]),
            confidence: 6000,
            agreement: 5000,
        };
        assert_eq!(
            r.describe(),
            "seed: 20 bytes abababababababab, confidence 6000 bps, agreement 5000 bps"
        );
        let none = LayerResult { result: None, ..r };
        assert_eq!(
            none.describe(),
            "seed: no result, confidence 6000 bps, agreement 5000 bps"
        );
        assert_eq!(short_id(&[1, 2]), "0102");
    }

    #[test]
    fn verdict_admits_only_without_reasons() {
        assert!(Verdict::from_reasons(vec![]).admit);
        assert!(!Verdict::from_reasons(vec!["no".into()]).admit);
    }
}
