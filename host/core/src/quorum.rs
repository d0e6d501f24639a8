//! Dynamic quorums: who must vote for a decision, computed from the eligible set and its
//! trust distribution.
//!
//! # Formulas
//! Let `E` be the eligible set (trust >= exclusion threshold, not excluded) at the slot,
//! `n = |E|`, `f = floor((n - 1) / 3)` the faults tolerated, `W` the sum of trust in `E`,
//! `H` the number of high-trust members (trust >= critical threshold).
//!
//! **Full BFT** (critical operations). A set of distinct voters `V ⊆ E` is a quorum iff
//! 1. `|V| >= floor((n + f) / 2) + 1` — the smallest size whose any two sets share
//!    `f + 1` members (one honest); it equals `2f + 1` when `n = 3f + 1` and is never
//!    below `2f + 1` (e.g. n = 5: f = 1, quorum 4, not 3);
//! 2. `3 * trust(V) > 2 * W` — more than two thirds of the eligible trust;
//! 3. `|V ∩ high| >= min(quorum.min-high-trust, H)` — at least the configured number of
//!    high-trust nodes (all of them if fewer exist, so the rule can always be met by the
//!    full eligible set).
//!
//! Safety rests on (1) alone: any two Full-BFT quorums intersect in at least `f + 1`
//! members. (2) and (3) only make quorums harder to form (they can cost liveness when
//! trust is concentrated in faulty nodes, never safety).
//!
//! **Light** (Low-authority operations, decided by the latent spore `L ⊆ E`):
//! `|V ∩ L| >= max(1, min(f + 1, |L|))` and `trust(V ∩ L) * 10000 > trust(L) *
//! quorum.light-weight-bps` (default 5000: a trust majority of the latent layer). With
//! `f + 1` voters at least one is honest, so a light decision is never the work of faulty
//! nodes alone when `|L| > f`.
//!
//! **Single** (High / Medium authority): the one designated node (primary or seed spore).
//!
//! # Test-only switch
//! `QuorumRule::unsafe_fixed` (compiled only under `cfg(test)` or the `broken-quorum`
//! feature) builds a deliberately wrong rule — any `k` distinct eligible voters — so the
//! simulator can demonstrate that it detects the resulting safety violations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::trust::{ParamError, TrustParams, out_of_range};
use crate::types::{MAX_BPS, NodeId, TrustBps};

/// Quorum parameters (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct QuorumParams {
    /// Least number of high-trust voters in a Full-BFT quorum (`quorum.min-high-trust`).
    pub min_high_trust: u32,
    /// Share of the latent layer's trust a light quorum must exceed, in bps
    /// (`quorum.light-weight-bps`, 5000..=9999).
    pub light_weight_bps: TrustBps,
}

impl Default for QuorumParams {
    fn default() -> Self {
        QuorumParams {
            min_high_trust: 1,
            light_weight_bps: 5_000,
        }
    }
}

impl QuorumParams {
    /// The parameter keys, ascending.
    pub const KEYS: [&'static str; 2] = ["quorum.light-weight-bps", "quorum.min-high-trust"];

    /// Every parameter as `(key, value)`, ascending by key.
    pub fn entries(&self) -> Vec<(String, i64)> {
        vec![
            (Self::KEYS[0].to_string(), i64::from(self.light_weight_bps)),
            (Self::KEYS[1].to_string(), i64::from(self.min_high_trust)),
        ]
    }

    /// Set one parameter (range-checked).
    pub fn set(&mut self, key: &str, value: i64) -> Result<(), ParamError> {
        match key {
            "quorum.light-weight-bps" => {
                self.light_weight_bps = u32::try_from(value)
                    .ok()
                    .filter(|v| (5_000..MAX_BPS).contains(v))
                    .ok_or_else(|| out_of_range(key, value, "5000..=9999"))?
            }
            "quorum.min-high-trust" => {
                self.min_high_trust = u32::try_from(value)
                    .ok()
                    .filter(|v| *v <= 1_000)
                    .ok_or_else(|| out_of_range(key, value, "0..=1000"))?
            }
            _ => return Err(ParamError::UnknownKey(key.to_string())),
        }
        Ok(())
    }

    /// Check every range.
    pub fn validate(&self) -> Result<(), ParamError> {
        let mut copy = self.clone();
        for (k, v) in self.entries() {
            copy.set(&k, v)?;
        }
        Ok(())
    }
}

/// Faults tolerated among `n` eligible members: `floor((n - 1) / 3)` (0 for n = 0).
pub fn max_faults(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// Least Full-BFT quorum size among `n`: `floor((n + f) / 2) + 1`.
pub fn bft_count(n: usize) -> usize {
    (n + max_faults(n)) / 2 + 1
}

/// Which formula a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuorumKind {
    /// Count, trust-weight and high-trust conditions over the eligible set.
    FullBft,
    /// Count and weight over the latent layer.
    Light,
    /// One designated voter.
    Single,
    /// Test-only: any `k` distinct eligible voters (unsafe on purpose).
    UnsafeFixed,
}

/// A quorum predicate over a fixed electorate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumRule {
    kind: QuorumKind,
    /// Voters that count, with their trust and whether they are high-trust.
    electorate: BTreeMap<NodeId, (TrustBps, bool)>,
    min_count: usize,
    min_high: usize,
    /// Weight condition: `sum * weight_den > total * weight_num` (0/1 disables it).
    weight_num: u64,
    weight_den: u64,
    total_weight: u64,
    /// Established members (founders and members admitted in an earlier epoch) and how
    /// many of them a quorum needs: newcomers never outvote the members who were there.
    established: std::collections::BTreeSet<NodeId>,
    min_established: usize,
}

impl QuorumRule {
    fn build(
        kind: QuorumKind,
        members: &[(NodeId, TrustBps)],
        critical: TrustBps,
    ) -> (QuorumKind, BTreeMap<NodeId, (TrustBps, bool)>, u64) {
        let electorate: BTreeMap<_, _> = members
            .iter()
            .map(|(id, t)| (*id, (*t, *t >= critical)))
            .collect();
        let total = electorate.values().map(|(t, _)| u64::from(*t)).sum();
        (kind, electorate, total)
    }

    /// The Full-BFT rule over the eligible set `eligible` (id, trust).
    pub fn full_bft(
        eligible: &[(NodeId, TrustBps)],
        trust: &TrustParams,
        quorum: &QuorumParams,
    ) -> Self {
        let (kind, electorate, total_weight) =
            Self::build(QuorumKind::FullBft, eligible, trust.critical_threshold);
        let n = electorate.len();
        let high = electorate.values().filter(|(_, h)| *h).count();
        let min_high = usize::try_from(quorum.min_high_trust)
            .unwrap_or(usize::MAX)
            .min(high);
        QuorumRule {
            kind,
            min_count: if n == 0 { 1 } else { bft_count(n) },
            min_high,
            weight_num: 2,
            weight_den: 3,
            total_weight,
            electorate,
            established: Default::default(),
            min_established: 0,
        }
    }

    /// Require, besides the rule, a Full-BFT count quorum of the established members
    /// (`bft_count` of them). Every eligible member not in `established` is a newcomer:
    /// its vote still counts toward the other conditions, but a set of newcomers, however
    /// many were admitted, can never stand in for the established quorum.
    pub fn with_established(mut self, established: &[NodeId]) -> Self {
        self.established = established
            .iter()
            .filter(|id| self.electorate.contains_key(id))
            .copied()
            .collect();
        self.min_established = if self.established.is_empty() {
            0
        } else {
            bft_count(self.established.len())
        };
        self
    }

    /// The light rule for Low-authority operations: `latent` is the latent layer (id,
    /// trust) and `n_eligible` the size of the whole eligible set (which fixes `f`).
    pub fn light(latent: &[(NodeId, TrustBps)], n_eligible: usize, quorum: &QuorumParams) -> Self {
        let (kind, electorate, total_weight) =
            Self::build(QuorumKind::Light, latent, TrustBps::MAX);
        let min_count = (max_faults(n_eligible) + 1).min(electorate.len()).max(1);
        QuorumRule {
            kind,
            min_count,
            min_high: 0,
            weight_num: u64::from(quorum.light_weight_bps),
            weight_den: u64::from(MAX_BPS),
            total_weight,
            electorate,
            established: Default::default(),
            min_established: 0,
        }
    }

    /// The rule "this one node decides" (High: primary, Medium: seed).
    pub fn single(id: NodeId) -> Self {
        QuorumRule {
            kind: QuorumKind::Single,
            electorate: BTreeMap::from([(id, (0, false))]),
            min_count: 1,
            min_high: 0,
            weight_num: 0,
            weight_den: 1,
            total_weight: 0,
            established: Default::default(),
            min_established: 0,
        }
    }

    /// DELIBERATELY UNSAFE, for tests and the simulator's self-check only: any `k`
    /// distinct eligible voters form a quorum (no intersection guarantee when
    /// `2k - n <= f`).
    #[cfg(any(test, feature = "broken-quorum"))]
    pub fn unsafe_fixed(eligible: &[(NodeId, TrustBps)], k: usize) -> Self {
        let (kind, electorate, total_weight) =
            Self::build(QuorumKind::UnsafeFixed, eligible, TrustBps::MAX);
        QuorumRule {
            kind,
            electorate,
            min_count: k.max(1),
            min_high: 0,
            weight_num: 0,
            weight_den: 1,
            total_weight,
            established: Default::default(),
            min_established: 0,
        }
    }

    /// Which formula this rule applies.
    pub fn kind(&self) -> QuorumKind {
        self.kind
    }

    /// Least number of distinct voters.
    pub fn min_count(&self) -> usize {
        self.min_count
    }

    /// Least number of high-trust voters.
    pub fn min_high(&self) -> usize {
        self.min_high
    }

    /// Number of nodes whose votes count.
    pub fn electorate_len(&self) -> usize {
        self.electorate.len()
    }

    /// Whether `id`'s vote counts.
    pub fn counts(&self, id: &NodeId) -> bool {
        self.electorate.contains_key(id)
    }

    /// Whether the distinct members of the electorate among `voters` form a quorum.
    /// Duplicates and non-members are ignored.
    pub fn is_met<'a>(&self, voters: impl IntoIterator<Item = &'a NodeId>) -> bool {
        let mut seen = std::collections::BTreeSet::new();
        let (mut count, mut high, mut weight, mut old) = (0usize, 0usize, 0u64, 0usize);
        for id in voters {
            let Some((trust, is_high)) = self.electorate.get(id) else {
                continue;
            };
            if !seen.insert(*id) {
                continue;
            }
            count += 1;
            old += usize::from(self.established.contains(id));
            high += usize::from(*is_high);
            weight += u64::from(*trust);
        }
        count >= self.min_count
            && old >= self.min_established
            && high >= self.min_high
            && weight * self.weight_den
                >= self.total_weight * self.weight_num + u64::from(self.weight_num > 0)
    }
}

impl std::fmt::Display for QuorumRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}: >= {} of {}",
            self.kind,
            self.min_count,
            self.electorate.len()
        )?;
        if self.weight_num > 0 {
            write!(
                f,
                ", trust > {}/{} of {}",
                self.weight_num, self.weight_den, self.total_weight
            )?;
        }
        if self.min_high > 0 {
            write!(f, ", >= {} high-trust", self.min_high)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::{ExclusionCause, TrustLedger};
    use crate::types::Hierarchy;

    fn id(i: u8) -> NodeId {
        NodeId([i; 32])
    }

    fn uniform(n: u8, trust: TrustBps) -> Vec<(NodeId, TrustBps)> {
        (1..=n).map(|i| (id(i), trust)).collect()
    }

    fn ids(v: &[u8]) -> Vec<NodeId> {
        v.iter().map(|i| id(*i)).collect()
    }

    #[test]
    fn count_thresholds_at_the_edges() {
        // n: (f, quorum)
        let expected = [
            (1, 0, 1),
            (2, 0, 2),
            (3, 0, 2),
            (4, 1, 3),
            (5, 1, 4),
            (6, 1, 4),
            (7, 2, 5),
            (10, 3, 7),
        ];
        for (n, f, q) in expected {
            assert_eq!((max_faults(n), bft_count(n)), (f, q), "n = {n}");
            assert!(bft_count(n) > 2 * max_faults(n), "never below 2f+1");
            assert!(
                2 * bft_count(n) > n + max_faults(n),
                "two quorums share f+1"
            );
        }
        assert_eq!(max_faults(0), 0);
    }

    #[test]
    fn full_bft_uniform_trust_n4_n5_n7_n10() {
        let tp = TrustParams::default();
        let qp = QuorumParams::default();
        for (n, q) in [(4u8, 3usize), (5, 4), (7, 5), (10, 7)] {
            let rule = QuorumRule::full_bft(&uniform(n, 7_000), &tp, &qp);
            assert_eq!(rule.min_count(), q);
            let all: Vec<u8> = (1..=n).collect();
            assert!(rule.is_met(&ids(&all[..q])), "n = {n}: {q} votes suffice");
            assert!(
                !rule.is_met(&ids(&all[..q - 1])),
                "n = {n}: {} votes do not",
                q - 1
            );
            // Duplicates and outsiders do not count.
            let mut padded = ids(&all[..q - 1]);
            padded.push(id(all[0]));
            padded.push(id(200));
            assert!(!rule.is_met(&padded));
        }
    }

    #[test]
    fn trust_weight_binds_when_trust_is_concentrated() {
        let tp = TrustParams::default();
        let qp = QuorumParams {
            min_high_trust: 0,
            ..QuorumParams::default()
        };
        // W = 23000; 2/3 W = 15333.3
        let e = vec![
            (id(1), 9_000),
            (id(2), 9_000),
            (id(3), 2_500),
            (id(4), 2_500),
        ];
        let rule = QuorumRule::full_bft(&e, &tp, &qp);
        assert!(
            !rule.is_met(&ids(&[1, 3, 4])),
            "3 of 4 but only 14000 trust"
        );
        assert!(rule.is_met(&ids(&[1, 2, 3])), "20500 trust");
        // Exactly two thirds is not more than two thirds: W = 9000, V = 6000.
        let e = vec![(id(1), 3_000), (id(2), 3_000), (id(3), 3_000)];
        let rule = QuorumRule::full_bft(&e, &tp, &qp);
        assert_eq!(rule.min_count(), 2);
        assert!(!rule.is_met(&ids(&[1, 2])));
        assert!(rule.is_met(&ids(&[1, 2, 3])));
    }

    #[test]
    fn high_trust_minimum_is_required_and_capped_by_supply() {
        let tp = TrustParams::default();
        let qp = QuorumParams {
            min_high_trust: 2,
            ..QuorumParams::default()
        };
        // Nodes 1, 2 high-trust (>= 6000), 3..=7 not.
        let mut e = uniform(7, 5_900);
        e[0].1 = 6_000;
        e[1].1 = 9_000;
        let rule = QuorumRule::full_bft(&e, &tp, &qp);
        assert_eq!(rule.min_high(), 2);
        assert!(
            !rule.is_met(&ids(&[1, 3, 4, 5, 6, 7])),
            "six votes, one high-trust"
        );
        assert!(rule.is_met(&ids(&[1, 2, 3, 4, 5])));
        // Only one high-trust node exists: it is required, and enough.
        let mut e = uniform(4, 5_000);
        e[3].1 = 8_000;
        let rule = QuorumRule::full_bft(&e, &tp, &qp);
        assert_eq!(rule.min_high(), 1);
        assert!(!rule.is_met(&ids(&[1, 2, 3])));
        assert!(rule.is_met(&ids(&[2, 3, 4])));
    }

    /// Exhaustive: any two Full-BFT quorums share at least f + 1 members, for every
    /// eligible set size up to 10 and an uneven trust distribution.
    #[test]
    fn any_two_quorums_intersect_in_f_plus_one() {
        let tp = TrustParams::default();
        let qp = QuorumParams::default();
        for n in 1u8..=10 {
            let e: Vec<_> = (1..=n)
                .map(|i| (id(i), 2_000 + u32::from(i) * 700))
                .collect();
            let rule = QuorumRule::full_bft(&e, &tp, &qp);
            let met: Vec<u32> = (0u32..(1 << n))
                .filter(|mask| {
                    rule.is_met(&ids(&(1..=n)
                        .filter(|i| mask & (1 << (i - 1)) != 0)
                        .collect::<Vec<_>>()))
                })
                .collect();
            assert!(!met.is_empty(), "n = {n}: the whole set must be a quorum");
            let f = max_faults(usize::from(n)) as u32;
            for a in &met {
                for b in &met {
                    assert!(
                        (a & b).count_ones() > f,
                        "n = {n}: {a:b} and {b:b} share <= f"
                    );
                }
            }
        }
    }

    #[test]
    fn the_broken_rule_really_is_broken() {
        let e = uniform(4, 7_000);
        let rule = QuorumRule::unsafe_fixed(&e, 2);
        assert_eq!(rule.kind(), QuorumKind::UnsafeFixed);
        // Two disjoint quorums: {1, 2} and {3, 4}.
        assert!(rule.is_met(&ids(&[1, 2])) && rule.is_met(&ids(&[3, 4])));
    }

    #[test]
    fn exclusion_mid_run_shrinks_the_electorate() {
        let tp = TrustParams::default();
        let qp = QuorumParams::default();
        let mut ledger = TrustLedger::new(0);
        for i in 1..=5 {
            ledger.insert_genesis(id(i), Hierarchy::Rhizomorph, 7_000, &tp);
        }
        let before = QuorumRule::full_bft(&ledger.eligible(&tp), &tp, &qp);
        assert_eq!((before.electorate_len(), before.min_count()), (5, 4));
        assert!(!before.is_met(&ids(&[1, 2, 3])));
        ledger.exclude(&id(5), ExclusionCause::Misbehaviour, &tp);
        let after = QuorumRule::full_bft(&ledger.eligible(&tp), &tp, &qp);
        assert_eq!((after.electorate_len(), after.min_count()), (4, 3));
        assert!(after.is_met(&ids(&[1, 2, 3])));
        assert!(!after.counts(&id(5)));
        assert!(
            !after.is_met(&ids(&[1, 2, 5])),
            "the excluded node's vote no longer counts"
        );
        // Down to 2 of 5 excluded: n = 3, f = 0, quorum 2.
        ledger.exclude(&id(4), ExclusionCause::Governance, &tp);
        let small = QuorumRule::full_bft(&ledger.eligible(&tp), &tp, &qp);
        assert_eq!(small.min_count(), 2);
        // With uniform trust, 2 of 3 hold exactly (not more than) two thirds of the trust.
        assert!(!small.is_met(&ids(&[1, 2])));
        assert!(small.is_met(&ids(&[1, 2, 3])));
    }

    #[test]
    fn light_quorum_is_f_plus_one_and_a_latent_trust_majority() {
        let qp = QuorumParams::default();
        // n = 7 eligible (f = 2), latent layer = 5 members.
        let latent = vec![
            (id(3), 3_000),
            (id(4), 3_000),
            (id(5), 3_000),
            (id(6), 3_000),
            (id(7), 9_000),
        ];
        let rule = QuorumRule::light(&latent, 7, &qp);
        assert_eq!(rule.min_count(), 3);
        assert!(
            !rule.is_met(&ids(&[3, 4, 5])),
            "9000 of 21000 is no majority"
        );
        assert!(rule.is_met(&ids(&[3, 4, 7])), "15000 of 21000");
        assert!(
            !rule.is_met(&ids(&[7, 1, 2])),
            "primary and seed do not count"
        );
        // n = 4: latent has 2 members, f + 1 = 2.
        let rule = QuorumRule::light(&uniform(2, 5_000), 4, &qp);
        assert_eq!(rule.min_count(), 2);
        assert!(!rule.is_met(&ids(&[1])));
        // No latent layer: never met.
        let rule = QuorumRule::light(&[], 2, &qp);
        assert!(!rule.is_met(&ids(&[1, 2])));
    }

    #[test]
    fn single_rule_needs_exactly_its_node() {
        let rule = QuorumRule::single(id(1));
        assert!(rule.is_met(&ids(&[1])));
        assert!(!rule.is_met(&ids(&[2, 3, 4])));
        assert!(!rule.is_met(&[]));
    }

    #[test]
    fn empty_eligible_set_never_forms_a_quorum() {
        let rule = QuorumRule::full_bft(&[], &TrustParams::default(), &QuorumParams::default());
        assert!(!rule.is_met(&[]));
    }

    #[test]
    fn params_round_trip_and_reject_out_of_range() -> Result<(), ParamError> {
        let mut p = QuorumParams::default();
        p.validate()?;
        p.set("quorum.min-high-trust", 3)?;
        p.set("quorum.light-weight-bps", 6_000)?;
        assert_eq!(
            p.entries(),
            vec![
                ("quorum.light-weight-bps".into(), 6_000),
                ("quorum.min-high-trust".into(), 3)
            ]
        );
        assert!(p.set("quorum.light-weight-bps", 4_999).is_err());
        assert!(p.set("quorum.light-weight-bps", 10_000).is_err());
        assert!(p.set("quorum.min-high-trust", -1).is_err());
        assert!(matches!(
            p.set("quorum.size", 3),
            Err(ParamError::UnknownKey(_))
        ));
        Ok(())
    }
}
