//! The trust ledger: integer trust scores that change only through decided log entries.
//!
//! # Design
//! Trust is replicated state (design invariant 6): every change is a deterministic
//! function of a decided slot's [`RoundReport`] or of a decided operation, computed in
//! integer basis points, so every node holds the same ledger at the same slot. The full
//! rules, with their parameters and rounding, are in docs/TRUST.md.
//!
//! # Layout
//! - `params.rs`: [`TrustParams`] and their validation.
//! - `report.rs`: [`RoundReport`], [`Participation`], and the [`TrustChange`] records the
//!   ledger returns for logs and summaries.
//! - `propagation.rs`: hierarchy multipliers (per-mille) and rounding.
//! - `ledger.rs`: [`TrustLedger`] and the rules.

mod ledger;
mod params;
pub mod propagation;
mod report;

pub use ledger::{ExclusionCause, Status, TrustEntry, TrustLedger};
pub(crate) use params::out_of_range;
pub use params::{ParamError, TrustParams};
pub use report::{Participation, RoundReport, StatusChange, TrustCause, TrustChange};

#[cfg(test)]
mod tests;
