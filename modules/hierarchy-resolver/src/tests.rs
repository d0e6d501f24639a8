//! Unit tests: each step of the resolution order, its thresholds and their parameters.

use super::*;
use spore_guest::testing::{Fixture, call_context};

fn layer(layer: SporeLayer, result: Option<&[u8]>, confidence: u32, agreement: u32) -> LayerResult {
    LayerResult {
        layer,
        result: result.map(<[u8]>::to_vec),
        confidence,
        agreement,
    }
}

fn resolve(host: &Fixture, p: LayerResult, s: LayerResult, l: LayerResult) -> Resolution {
    HierarchyResolver::resolve(host, p, s, l, call_context(5))
}

const A: &[u8] = b"result-a";
const B: &[u8] = b"result-b";
const C: &[u8] = b"result-c";

#[test]
fn unanimity_accepts_primary_even_with_low_confidence() {
    let host = Fixture::cluster(4);
    let r = resolve(
        &host,
        layer(SporeLayer::Primary, Some(A), 0, 0),
        layer(SporeLayer::Seed, Some(A), 0, 0),
        layer(SporeLayer::Latent, Some(A), 0, 0),
    );
    assert_eq!(r, Resolution::Accept(SporeLayer::Primary));
}

#[test]
fn confident_primary_wins_over_seed_and_latent() {
    let host = Fixture::cluster(4);
    let r = resolve(
        &host,
        layer(SporeLayer::Primary, Some(A), 6668, 10000),
        layer(SporeLayer::Seed, Some(B), 9000, 10000),
        layer(SporeLayer::Latent, Some(C), 9000, 10000),
    );
    assert_eq!(r, Resolution::Accept(SporeLayer::Primary));
}

#[test]
fn threshold_is_strict_then_seed_decides() {
    let host = Fixture::cluster(4);
    let r = resolve(
        &host,
        layer(SporeLayer::Primary, Some(A), 6667, 10000),
        layer(SporeLayer::Seed, Some(B), 6668, 10000),
        layer(SporeLayer::Latent, Some(C), 0, 10000),
    );
    assert_eq!(r, Resolution::Accept(SporeLayer::Seed));
}

#[test]
fn missing_primary_result_is_skipped_despite_confidence() {
    let host = Fixture::cluster(4);
    let r = resolve(
        &host,
        layer(SporeLayer::Primary, None, 9000, 0),
        layer(SporeLayer::Seed, Some(B), 7000, 0),
        layer(SporeLayer::Latent, Some(B), 0, 0),
    );
    assert_eq!(r, Resolution::Accept(SporeLayer::Seed));
}

#[test]
fn latent_agreement_decides_last() {
    let host = Fixture::cluster(4);
    let r = resolve(
        &host,
        layer(SporeLayer::Primary, Some(A), 3000, 10000),
        layer(SporeLayer::Seed, Some(B), 3000, 10000),
        layer(SporeLayer::Latent, Some(C), 3000, 5001),
    );
    assert_eq!(r, Resolution::Accept(SporeLayer::Latent));
    let at = resolve(
        &host,
        layer(SporeLayer::Primary, Some(A), 3000, 10000),
        layer(SporeLayer::Seed, Some(B), 3000, 10000),
        layer(SporeLayer::Latent, Some(C), 3000, 5000),
    );
    assert!(matches!(at, Resolution::Escalate(_)));
}

#[test]
fn escalation_names_all_three() {
    let host = Fixture::cluster(4);
    let r = resolve(
        &host,
        layer(SporeLayer::Primary, Some(A), 100, 200),
        layer(SporeLayer::Seed, None, 0, 0),
        layer(SporeLayer::Latent, Some(C), 300, 400),
    );
    let Resolution::Escalate(reason) = r else {
        panic!("expected an escalation, got {r:?}");
    };
    assert_eq!(
        reason,
        "no clear authority (authority threshold 6667 bps, distributed threshold 5000 bps): \
         primary: 8 bytes 726573756c742d61, confidence 100 bps, agreement 200 bps; \
         seed: no result, confidence 0 bps, agreement 0 bps; \
         latent: 8 bytes 726573756c742d63, confidence 300 bps, agreement 400 bps"
    );
}

#[test]
fn thresholds_come_from_parameters() {
    let host = Fixture::cluster(4)
        .with_param(PARAM_AUTHORITY_THRESHOLD, 9000)
        .with_param(PARAM_DISTRIBUTED_THRESHOLD, 2000);
    let r = resolve(
        &host,
        layer(SporeLayer::Primary, Some(A), 8000, 0),
        layer(SporeLayer::Seed, Some(B), 8000, 0),
        layer(SporeLayer::Latent, Some(C), 0, 2001),
    );
    assert_eq!(r, Resolution::Accept(SporeLayer::Latent));
}

#[test]
fn mislabelled_argument_is_logged_but_position_counts() {
    let host = Fixture::cluster(4);
    let r = resolve(
        &host,
        layer(SporeLayer::Seed, Some(A), 9000, 0),
        layer(SporeLayer::Seed, Some(B), 0, 0),
        layer(SporeLayer::Latent, Some(C), 0, 0),
    );
    assert_eq!(r, Resolution::Accept(SporeLayer::Primary));
    assert!(
        host.logs()
            .iter()
            .any(|l| l.message == "the primary argument is labelled seed")
    );
}
