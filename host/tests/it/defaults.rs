//! Every default module runs through the host with the right results.

use spore::core::crypto::Signature;
use spore::core::ops::{Operation, Outcome, RejectionCode, Sponsorship};
use spore::core::types::Layer;
use spore::modules::{Resolution, Role, samples};

use crate::common::{install, runtime, runtime_with_defaults};

/// The median-price output for `samples::price_reports()`, worked out by hand: prices
/// sorted 100750 100900 100980 101100 101250 101400 250000, median 101100; deviations
/// 350 200 120 0 150 300 148900, MAD 200, cut-off 600, so 250000 is dropped; the lower
/// median of the six kept prices is 100980. Output: i64 LE result, u32 kept, u32 dropped.
fn expected_median_output() -> Vec<u8> {
    let mut out = 100_980i64.to_le_bytes().to_vec();
    out.extend_from_slice(&6u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out
}

#[test]
fn median_price_computes_the_filtered_median() -> anyhow::Result<()> {
    let runtime = runtime()?;
    install(&runtime, &spore_artifacts::MEDIAN_PRICE)?;
    let op = samples::compute_op();
    let report = runtime.call_validator(&op, &samples::context(&op), &samples::snapshot())?;
    assert_eq!(
        report.outcome(),
        Outcome::Accepted(expected_median_output())
    );
    assert!(report.fuel_used > 0);
    // Same as the module's logic compiled natively.
    let native = median_price::median_price(&samples::price_reports())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(native.encode().to_vec(), expected_median_output());
    Ok(())
}

#[test]
fn median_price_rejects_other_operations_and_malformed_input() -> anyhow::Result<()> {
    let runtime = runtime()?;
    install(&runtime, &spore_artifacts::MEDIAN_PRICE)?;
    let snapshot = samples::snapshot();
    let op = &samples::operations()[1];
    let report = runtime.call_validator(op, &samples::context(op), &snapshot)?;
    assert!(
        matches!(
            report.outcome(),
            Outcome::Rejected {
                code: RejectionCode::Unsupported,
                ..
            }
        ),
        "{:?}",
        report.outcome()
    );
    let Operation::Compute(mut task) = samples::compute_op() else {
        anyhow::bail!("the compute sample is a compute operation");
    };
    task.input.pop();
    let bad = Operation::Compute(task);
    let report = runtime.call_validator(&bad, &samples::context(&bad), &snapshot)?;
    assert!(
        matches!(
            report.outcome(),
            Outcome::Rejected {
                code: RejectionCode::Malformed,
                ..
            }
        ),
        "{:?}",
        report.outcome()
    );
    Ok(())
}

#[test]
fn default_validator_accepts_every_valid_sample_operation() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let snapshot = samples::snapshot();
    for op in samples::operations() {
        let report = runtime.call_validator(&op, &samples::context(&op), &snapshot)?;
        match report.outcome() {
            Outcome::Accepted(bytes) => assert!(!bytes.is_empty(), "{}", op.kind_name()),
            other => panic!("{} was not accepted: {other:?}", op.kind_name()),
        }
    }
    Ok(())
}

#[test]
fn default_validator_computes_the_median_like_the_compute_module() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let op = samples::compute_op();
    let report = runtime.call_validator(&op, &samples::context(&op), &samples::snapshot())?;
    // The default validator returns the canonical encoding of the operation's effect; for a
    // compute task that ends with the computation's output.
    match report.outcome() {
        Outcome::Accepted(effect) => assert!(
            effect.ends_with(&expected_median_output()),
            "{}",
            hex::encode(&effect)
        ),
        other => anyhow::bail!("the compute task was not accepted: {other:?}"),
    }
    Ok(())
}

#[test]
fn default_validator_rejects_invalid_operations_with_their_reason() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let snapshot = samples::snapshot();
    let expected = [
        RejectionCode::UnknownNode,
        RejectionCode::InsufficientSponsors,
    ];
    for (op, code) in samples::invalid_operations().iter().zip(expected) {
        let report = runtime.call_validator(op, &samples::context(op), &snapshot)?;
        match report.outcome() {
            Outcome::Rejected { code: got, reason } => {
                assert_eq!(got, code, "{}: {reason}", op.kind_name());
                assert!(!reason.is_empty());
            }
            other => panic!("{} was not rejected: {other:?}", op.kind_name()),
        }
    }
    Ok(())
}

#[test]
fn sponsored_admission_admits_a_well_sponsored_candidate_and_explains_refusals()
-> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let snapshot = samples::snapshot();
    let request = samples::admission_request();
    let ctx = samples::context_for(b"admission");
    let verdict = runtime.call_admission(&request, &ctx, &snapshot)?.result?;
    assert!(verdict.admit, "{:?}", verdict.reasons);

    // One sponsor only, and an unknown one: refused, with a reason for each problem.
    let mut lonely = request.clone();
    lonely.sponsors = vec![Sponsorship {
        sponsor: samples::outsider_id(),
        // Modules see sponsorships the host has already verified: a placeholder will do.
        signature: Signature([0; 64]),
    }];
    let verdict = runtime.call_admission(&lonely, &ctx, &snapshot)?.result?;
    assert!(!verdict.admit);
    assert!(verdict.reasons.len() >= 2, "{:?}", verdict.reasons);
    Ok(())
}

#[test]
fn hierarchy_resolver_follows_the_authority_order() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let snapshot = samples::snapshot();
    let ctx = samples::context_for(b"resolver");
    let unanimous = runtime.call_resolver(&samples::resolver_unanimous(), &ctx, &snapshot)?;
    assert!(matches!(unanimous.result?, Resolution::Accept(_)));
    let split = runtime.call_resolver(&samples::resolver_split(), &ctx, &snapshot)?;
    assert_eq!(split.result?, Resolution::Accept(Layer::Primary));
    let contested = runtime.call_resolver(&samples::resolver_contested(), &ctx, &snapshot)?;
    assert!(matches!(contested.result?, Resolution::Escalate(_)));
    Ok(())
}

#[test]
fn strict_resolver_escalates_anything_short_of_unanimity() -> anyhow::Result<()> {
    let runtime = runtime()?;
    install(&runtime, &spore_artifacts::STRICT_RESOLVER)?;
    let snapshot = samples::snapshot();
    let ctx = samples::context_for(b"resolver");
    let split = runtime.call_resolver(&samples::resolver_split(), &ctx, &snapshot)?;
    assert!(matches!(split.result?, Resolution::Escalate(_)));
    let unanimous = runtime.call_resolver(&samples::resolver_unanimous(), &ctx, &snapshot)?;
    assert!(matches!(unanimous.result?, Resolution::Accept(_)));
    assert_eq!(
        runtime.active(Role::Resolver).map(|m| m.hash()),
        Some(split.module)
    );
    Ok(())
}
