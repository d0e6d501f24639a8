//! Trust propagation through the node hierarchy: multipliers as per-mille rationals.
//!
//! # Design
//! The source of every round-based trust event is the slot's decider: the primary that
//! proposed the decided batch ([`super::RoundReport::source`]). A gain or penalty of base
//! `b` for target `t` becomes `b * m / 1000`, with `m` from [`multiplier_per_mille`]:
//!
//! | source -> target          | m    |
//! |---------------------------|------|
//! | Sclerotia -> Rhizomorph   | 1500 |
//! | Sclerotia -> Hyphae       | 1200 |
//! | Rhizomorph -> Hyphae      | 1100 |
//! | same level (peers)        | 1000 |
//! | upward (lower -> higher)  |  800 |
//!
//! Rounding never favours the target: gains round down, penalties round up.

use crate::types::{Hierarchy, TrustBps};

/// The propagation multiplier from `source` to `target`, in per-mille.
pub fn multiplier_per_mille(source: Hierarchy, target: Hierarchy) -> u32 {
    use Hierarchy::{Hyphae, Rhizomorph, Sclerotia};
    match (source, target) {
        (Sclerotia, Rhizomorph) => 1500,
        (Sclerotia, Hyphae) => 1200,
        (Rhizomorph, Hyphae) => 1100,
        (s, t) if s == t => 1000,
        _ => 800,
    }
}

/// A gain of base `base` scaled by `per_mille`, rounded down.
pub fn scale_gain(base: TrustBps, per_mille: u32) -> TrustBps {
    let v = u64::from(base) * u64::from(per_mille) / 1000;
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// A penalty of base `base` scaled by `per_mille`, rounded up.
pub fn scale_penalty(base: TrustBps, per_mille: u32) -> TrustBps {
    let v = (u64::from(base) * u64::from(per_mille)).div_ceil(1000);
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Hierarchy::*;

    #[test]
    fn multipliers_follow_the_hierarchy_table() {
        assert_eq!(multiplier_per_mille(Sclerotia, Rhizomorph), 1500);
        assert_eq!(multiplier_per_mille(Sclerotia, Hyphae), 1200);
        assert_eq!(multiplier_per_mille(Rhizomorph, Hyphae), 1100);
        for l in Hierarchy::ALL {
            assert_eq!(multiplier_per_mille(l, l), 1000);
        }
        assert_eq!(multiplier_per_mille(Hyphae, Rhizomorph), 800);
        assert_eq!(multiplier_per_mille(Hyphae, Sclerotia), 800);
        assert_eq!(multiplier_per_mille(Rhizomorph, Sclerotia), 800);
    }

    #[test]
    fn gains_round_down_and_penalties_round_up() {
        // 15 * 1.1 = 16.5
        assert_eq!(scale_gain(15, 1100), 16);
        assert_eq!(scale_penalty(15, 1100), 17);
        // 7 * 0.8 = 5.6
        assert_eq!(scale_gain(7, 800), 5);
        assert_eq!(scale_penalty(7, 800), 6);
        // Exact products are not rounded either way.
        assert_eq!(scale_gain(20, 1500), 30);
        assert_eq!(scale_penalty(20, 1500), 30);
        assert_eq!(scale_gain(0, 1500), 0);
        assert_eq!(scale_penalty(0, 800), 0);
        // A base of 1 with x0.8 still costs a penalty of 1 but earns no gain.
        assert_eq!(scale_gain(1, 800), 0);
        assert_eq!(scale_penalty(1, 800), 1);
        assert_eq!(scale_penalty(u32::MAX, 1500), u32::MAX);
    }
}
