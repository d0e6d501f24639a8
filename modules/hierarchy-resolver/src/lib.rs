//! Spore's default resolver: the seed's `AuthorityResolver`, deciding a slot on which no
//! result reached a quorum from the results of the three spore layers.
//!
//! # Order
//! 1. Unanimity: all three layers have a result and the three are equal -> accept the
//!    primary's.
//! 2. The primary has a result and its confidence is strictly above the authority
//!    threshold -> accept the primary's.
//! 3. Likewise the seed -> accept the seed's.
//! 4. The latent layer has a result and its agreement is strictly above the distributed
//!    threshold -> accept the latent layer's.
//! 5. Otherwise escalate, with a reason that describes all three results.
//!
//! # Parameters
//! - `resolver.authority-threshold-bps`, default [`DEFAULT_AUTHORITY_THRESHOLD_BPS`]
//!   (two thirds);
//! - `resolver.distributed-threshold-bps`, default [`DEFAULT_DISTRIBUTED_THRESHOLD_BPS`]
//!   (half).
//!
//! The layer accepted is the argument's position (primary, seed, latent), whatever the
//! `layer` field of the result says; a mismatch is logged.

use spore_guest::{CallContext, Host, LayerResult, Resolution, Resolver, SporeLayer};

/// Parameter: confidence (bps) above which the primary's or the seed's result stands.
pub const PARAM_AUTHORITY_THRESHOLD: &str = "resolver.authority-threshold-bps";
/// Parameter: agreement (bps) above which the latent layer's result stands.
pub const PARAM_DISTRIBUTED_THRESHOLD: &str = "resolver.distributed-threshold-bps";
/// Default of [`PARAM_AUTHORITY_THRESHOLD`].
pub const DEFAULT_AUTHORITY_THRESHOLD_BPS: i64 = 6667;
/// Default of [`PARAM_DISTRIBUTED_THRESHOLD`].
pub const DEFAULT_DISTRIBUTED_THRESHOLD_BPS: i64 = 5000;

/// The authority-hierarchy resolver.
pub struct HierarchyResolver;

fn check_position<H: Host + ?Sized>(host: &H, expected: SporeLayer, r: &LayerResult) {
    if r.layer != expected {
        host.warn(&format!(
            "the {} argument is labelled {}",
            expected.name(),
            r.layer.name()
        ));
    }
}

impl Resolver for HierarchyResolver {
    fn resolve<H: Host + ?Sized>(
        host: &H,
        primary: LayerResult,
        seed: LayerResult,
        latent: LayerResult,
        ctx: CallContext,
    ) -> Resolution {
        check_position(host, SporeLayer::Primary, &primary);
        check_position(host, SporeLayer::Seed, &seed);
        check_position(host, SporeLayer::Latent, &latent);
        let authority = host.param_or(PARAM_AUTHORITY_THRESHOLD, DEFAULT_AUTHORITY_THRESHOLD_BPS);
        let distributed = host.param_or(
            PARAM_DISTRIBUTED_THRESHOLD,
            DEFAULT_DISTRIBUTED_THRESHOLD_BPS,
        );

        let decision = if let (Some(p), Some(s), Some(l)) =
            (&primary.result, &seed.result, &latent.result)
            && p == s
            && s == l
        {
            Resolution::Accept(SporeLayer::Primary)
        } else if primary.result.is_some() && i64::from(primary.confidence) > authority {
            Resolution::Accept(SporeLayer::Primary)
        } else if seed.result.is_some() && i64::from(seed.confidence) > authority {
            Resolution::Accept(SporeLayer::Seed)
        } else if latent.result.is_some() && i64::from(latent.agreement) > distributed {
            Resolution::Accept(SporeLayer::Latent)
        } else {
            Resolution::Escalate(format!(
                "no clear authority (authority threshold {authority} bps, distributed \
                 threshold {distributed} bps): {}; {}; {}",
                primary.describe(),
                seed.describe(),
                latent.describe()
            ))
        };
        host.debug(&format!("slot {}: {decision:?}", ctx.slot));
        decision
    }
}

spore_guest::export_resolver!(HierarchyResolver);

#[cfg(test)]
mod tests;
