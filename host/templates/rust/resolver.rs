//! `{{name}}`: a Spore resolver module.
//!
//! Accepts the layer whose result carries the most eligible trust (`confidence`), if it
//! revealed a result and holds more than half of the trust; ties go to the earlier layer
//! in the order primary, seed, latent. Otherwise escalates, with the reason.

use spore_guest::{CallContext, Host, LayerResult, Resolution, Resolver};

/// Confidence (bps) a layer needs to be accepted: more than half of the trust.
pub const MAJORITY_BPS: u32 = 5_000;

/// The resolution of three layer results.
pub fn resolve(layers: [&LayerResult; 3]) -> Resolution {
    let mut best: Option<&LayerResult> = None;
    for layer in layers {
        if layer.result.is_some() && best.is_none_or(|b| layer.confidence > b.confidence) {
            best = Some(layer);
        }
    }
    match best {
        Some(layer) if layer.confidence > MAJORITY_BPS => Resolution::Accept(layer.layer),
        Some(layer) => Resolution::Escalate(format!(
            "the strongest result holds {} bps of trust, more than {MAJORITY_BPS} needed",
            layer.confidence
        )),
        None => Resolution::Escalate("no layer revealed a result".to_string()),
    }
}

/// The module.
pub struct Module;

impl Resolver for Module {
    fn resolve<H: Host + ?Sized>(
        host: &H,
        primary: LayerResult,
        seed: LayerResult,
        latent: LayerResult,
        _ctx: CallContext,
    ) -> Resolution {
        let resolution = resolve([&primary, &seed, &latent]);
        host.debug(&format!("resolution: {resolution:?}"));
        resolution
    }
}

spore_guest::export_resolver!(Module);

#[cfg(test)]
mod tests {
    use super::*;
    use spore_guest::SporeLayer;

    fn layer(layer: SporeLayer, result: Option<u8>, confidence: u32) -> LayerResult {
        LayerResult { layer, result: result.map(|b| vec![b]), confidence, agreement: 10_000 }
    }

    #[test]
    fn accepts_a_trusted_majority_else_escalates() {
        let primary = layer(SporeLayer::Primary, Some(1), 4_000);
        let seed = layer(SporeLayer::Seed, Some(2), 6_000);
        let latent = layer(SporeLayer::Latent, None, 9_000);
        assert_eq!(resolve([&primary, &seed, &latent]), Resolution::Accept(SporeLayer::Seed));
        let weak = layer(SporeLayer::Seed, Some(2), 5_000);
        assert!(matches!(resolve([&primary, &weak, &latent]), Resolution::Escalate(_)));
    }
}
