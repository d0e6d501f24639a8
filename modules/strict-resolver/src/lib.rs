//! A strict resolver: accepts only unanimity of the three spore layers, otherwise
//! escalates. Distinguishable from the default `hierarchy-resolver` on any input where
//! the layers disagree, which makes it the second module of hot-swap tests and demos.
//!
//! # Rule
//! All three layers have a result and the three are equal -> accept the primary's.
//! Anything else -> escalate, with a reason that starts with `strict:` and describes all
//! three results. Confidence, agreement and parameters are ignored.

use spore_guest::{CallContext, Host, LayerResult, Resolution, Resolver, SporeLayer};

/// The unanimity-only resolver.
pub struct StrictResolver;

impl Resolver for StrictResolver {
    fn resolve<H: Host + ?Sized>(
        host: &H,
        primary: LayerResult,
        seed: LayerResult,
        latent: LayerResult,
        ctx: CallContext,
    ) -> Resolution {
        let unanimous = matches!(
            (&primary.result, &seed.result, &latent.result),
            (Some(p), Some(s), Some(l)) if p == s && s == l
        );
        let decision = if unanimous {
            Resolution::Accept(SporeLayer::Primary)
        } else {
            Resolution::Escalate(format!(
                "strict: no unanimity: {}; {}; {}",
                primary.describe(),
                seed.describe(),
                latent.describe()
            ))
        };
        host.debug(&format!("slot {}: {decision:?}", ctx.slot));
        decision
    }
}

spore_guest::export_resolver!(StrictResolver);

#[cfg(test)]
mod tests {
    use super::*;
    use spore_guest::testing::{Fixture, call_context};

    fn layer(layer: SporeLayer, result: Option<&[u8]>, confidence: u32) -> LayerResult {
        LayerResult {
            layer,
            result: result.map(<[u8]>::to_vec),
            confidence,
            agreement: confidence,
        }
    }

    fn resolve(p: LayerResult, s: LayerResult, l: LayerResult) -> Resolution {
        StrictResolver::resolve(&Fixture::cluster(4), p, s, l, call_context(1))
    }

    #[test]
    fn unanimity_is_accepted() {
        let r = resolve(
            layer(SporeLayer::Primary, Some(b"x"), 0),
            layer(SporeLayer::Seed, Some(b"x"), 0),
            layer(SporeLayer::Latent, Some(b"x"), 0),
        );
        assert_eq!(r, Resolution::Accept(SporeLayer::Primary));
    }

    #[test]
    fn a_confident_primary_is_not_enough() {
        let r = resolve(
            layer(SporeLayer::Primary, Some(b"x"), 10_000),
            layer(SporeLayer::Seed, Some(b"y"), 10_000),
            layer(SporeLayer::Latent, Some(b"x"), 10_000),
        );
        assert!(
            matches!(r, Resolution::Escalate(ref why) if why.starts_with("strict: no unanimity: primary: 1 bytes 78"))
        );
    }

    #[test]
    fn a_missing_result_is_not_unanimity() {
        let r = resolve(
            layer(SporeLayer::Primary, Some(b"x"), 0),
            layer(SporeLayer::Seed, Some(b"x"), 0),
            layer(SporeLayer::Latent, None, 0),
        );
        assert!(matches!(r, Resolution::Escalate(ref why) if why.contains("latent: no result")));
    }
}
