//! The configuration rule that keeps quorums formable: a genesis or a parameter change is
//! refused when its Full-BFT quorum could never be met, or when a single crashed member
//! could stall it.
//!
//! # Rule
//! With `n` eligible members of trust `t_1..t_n` (total `W`), `H` of them high-trust (at
//! or above `trust.critical-threshold`) and `m = quorum.min-high-trust`:
//! - satisfiable: `m <= H` (the rule asks for `min(m, H)` high-trust voters; a larger `m`
//!   is a configuration error, refused everywhere);
//! - one crash cannot stall, checked once the cluster can tolerate a fault (`n >= 4`):
//!   `m == 0 || m < H` (losing one high-trust member still leaves `m`), and no member holds
//!   a third of the trust or more (`3 * max t_i < W`), so the remaining members can still
//!   exceed two thirds of the trust.
//!
//! Smaller clusters (`n < 4`, `f = 0`) tolerate no crash by construction; only the first
//! rule applies to them.

use super::Params;
use crate::quorum::max_faults;
use crate::types::TrustBps;

/// Check `params` against the eligible members' trust (see the module documentation).
pub fn check(params: &Params, eligible_trust: &[TrustBps]) -> Result<(), String> {
    let critical = params.trust.critical_threshold;
    let high = eligible_trust.iter().filter(|t| **t >= critical).count();
    let m = usize::try_from(params.quorum.min_high_trust).unwrap_or(usize::MAX);
    if m > high {
        return Err(format!(
            "quorum.min-high-trust {m} asks for more high-trust members than the {high} there are"
        ));
    }
    if max_faults(eligible_trust.len()) == 0 {
        return Ok(());
    }
    if m > 0 && m >= high {
        return Err(format!(
            "quorum.min-high-trust {m} needs every one of the {high} high-trust members: \
             one crash would stall agreement"
        ));
    }
    let total: u64 = eligible_trust.iter().map(|t| u64::from(*t)).sum();
    let largest = eligible_trust.iter().copied().max().unwrap_or(0);
    if 3 * u64::from(largest) >= total {
        return Err(format!(
            "one member holds {largest} of {total} trust (a third or more): \
             its crash would stall the trust condition of every quorum"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unsatisfiable_and_single_crash_configurations() {
        let mut p = Params::default();
        p.quorum.min_high_trust = 1;
        // Four high-trust members: fine.
        assert!(check(&p, &[8_000; 4]).is_ok());
        // One high-trust member among four: its crash stalls.
        assert!(check(&p, &[8_000, 4_000, 4_000, 4_000]).is_err());
        // Asks for more than exist.
        p.quorum.min_high_trust = 5;
        assert!(check(&p, &[8_000; 4]).is_err());
        // Needs all four: one crash stalls.
        p.quorum.min_high_trust = 4;
        assert!(check(&p, &[8_000; 4]).is_err());
        p.quorum.min_high_trust = 3;
        assert!(check(&p, &[8_000; 4]).is_ok());
        // Trust concentrated in one member.
        p.quorum.min_high_trust = 0;
        assert!(check(&p, &[10_000, 2_000, 2_000, 2_000]).is_err());
        // Clusters without fault tolerance: only satisfiability.
        p.quorum.min_high_trust = 1;
        assert!(check(&p, &[8_000]).is_ok());
    }
}
