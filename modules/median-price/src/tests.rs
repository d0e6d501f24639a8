//! Unit tests of the median-price logic and its validator entry point.

use super::*;
use spore_guest::testing::{Fixture, call_context};
use spore_guest::{ComputeTask, SecurityDomain, SecurityPolicyUpdate};

fn run(prices: &[i64]) -> MedianOutput {
    let reports: Vec<(u64, i64)> = prices
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u64, *p))
        .collect();
    match median_price(&encode_reports(&reports)) {
        Ok(out) => out,
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn out(median: i64, kept: u32, dropped: u32) -> MedianOutput {
    MedianOutput {
        median,
        kept,
        dropped,
    }
}

#[test]
fn single_report() {
    assert_eq!(run(&[100]), out(100, 1, 0));
}

#[test]
fn even_count_takes_lower_median() {
    assert_eq!(run(&[40, 10, 30, 20]), out(20, 4, 0));
    assert_eq!(run(&[7, 8]), out(7, 2, 0));
}

#[test]
fn all_equal_keeps_everything() {
    assert_eq!(run(&[5, 5, 5]), out(5, 3, 0));
}

#[test]
fn zero_mad_keeps_even_a_far_outlier() {
    assert_eq!(run(&[5, 5, 5, 1000]), out(5, 4, 0));
}

#[test]
fn outlier_is_dropped() {
    assert_eq!(run(&[100, 101, 102, 99, 98, 1000]), out(100, 5, 1));
}

#[test]
fn report_at_exactly_three_mads_is_kept() {
    // median 1, mad 1: the 4 (deviation 3) stays, the 5 (deviation 4) goes.
    assert_eq!(run(&[0, 0, 1, 1, 1, 2, 2, 4, 5]), out(1, 8, 1));
}

#[test]
fn negative_prices() {
    assert_eq!(run(&[-10, -20, -30]), out(-20, 3, 0));
    assert_eq!(run(&[-100, -101, -99, -98, -102, 5000]), out(-100, 5, 1));
}

#[test]
fn extreme_values_do_not_overflow() {
    assert_eq!(run(&[i64::MIN, i64::MAX, 0]), out(0, 3, 0));
    assert_eq!(run(&[i64::MIN, i64::MIN, i64::MAX]), out(i64::MIN, 3, 0));
    assert_eq!(run(&[i64::MIN, 0, 0, 0, 1, i64::MAX]), out(0, 6, 0));
    // mad = 1, both extremes are outliers.
    assert_eq!(run(&[i64::MIN, -1, 0, 0, 1, i64::MAX]), out(0, 4, 2));
}

#[test]
fn order_of_reports_does_not_matter() {
    let a = encode_reports(&[(1, 10), (2, 500), (3, 12), (4, 11)]);
    let b = encode_reports(&[(4, 11), (3, 12), (1, 10), (2, 500)]);
    assert_eq!(median_price(&a), median_price(&b));
    assert_eq!(compute(&a), compute(&b));
}

#[test]
fn malformed_inputs_are_rejected() {
    assert_eq!(median_price(&[0u8; 15]), Err(MedianError::Length(15)));
    assert_eq!(median_price(&[0u8; 17]), Err(MedianError::Length(17)));
    assert_eq!(median_price(&[]), Err(MedianError::Empty));
    let dup = encode_reports(&[(7, 1), (8, 2), (7, 3)]);
    assert_eq!(median_price(&dup), Err(MedianError::DuplicateReporter(7)));
    let rejected = compute(&[1, 2, 3]);
    assert!(matches!(
        rejected,
        Err(Rejection {
            code: RejectionCode::Malformed,
            ..
        })
    ));
}

#[test]
fn output_encoding_is_fixed_little_endian() {
    let bytes = out(-2, 3, 1).encode();
    assert_eq!(
        bytes,
        [
            0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 1, 0, 0, 0
        ]
    );
    assert_eq!(MedianOutput::decode(&bytes), Some(out(-2, 3, 1)));
    assert_eq!(MedianOutput::decode(&bytes[..15]), None);
}

#[test]
fn validator_computes_and_rejects_other_operations() {
    let host = Fixture::cluster(4);
    let input = encode_reports(&[(1, 10), (2, 11), (3, 12)]);
    let op = Operation::Compute(ComputeTask {
        kind: KIND.into(),
        input,
    });
    assert_eq!(
        MedianPrice::validate(&host, op, call_context(1)),
        Ok(out(11, 3, 0).encode().to_vec())
    );

    let other_kind = Operation::Compute(ComputeTask {
        kind: "merkle-root".into(),
        input: vec![],
    });
    let rejected = MedianPrice::validate(&host, other_kind, call_context(1));
    assert!(matches!(
        rejected,
        Err(Rejection {
            code: RejectionCode::Unsupported,
            ..
        })
    ));

    let not_compute = Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
        domain: SecurityDomain::ValidatorModule,
        new_policy: vec![1; 32],
        rollback_to: vec![2; 32],
        description: "swap".into(),
    });
    let rejected = MedianPrice::validate(&host, not_compute, call_context(1));
    assert!(matches!(
        rejected,
        Err(Rejection {
            code: RejectionCode::Unsupported,
            ..
        })
    ));
}
