//! Security policy updates and compute tasks.

use spore_guest::testing::Fixture;
use spore_guest::{ComputeTask, Operation, RejectionCode, SecurityDomain, SecurityPolicyUpdate};

use super::{assert_rejected, effect, lp};

fn update(new_policy: Vec<u8>, rollback_to: Vec<u8>, description: &str) -> Operation {
    Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
        domain: SecurityDomain::ResolverModule,
        new_policy,
        rollback_to,
        description: description.into(),
    })
}

#[test]
fn policy_update_effect() {
    let host = Fixture::cluster(4);
    let e = effect(
        &host,
        update(vec![0xaa; 32], vec![0xbb; 32], "strict resolver"),
    );
    let mut expected = vec![1, 4, SecurityDomain::ResolverModule as u8];
    expected.extend([0xaa; 32]);
    expected.extend([0xbb; 32]);
    expected.extend(lp(b"strict resolver"));
    assert_eq!(e, expected);
}

#[test]
fn malformed_hashes() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        update(vec![0xaa; 31], vec![0xbb; 32], "x"),
        RejectionCode::Malformed,
        "new policy digest is 31 bytes, not 32",
    );
    assert_rejected(
        &host,
        update(vec![0xaa; 32], vec![], "x"),
        RejectionCode::Malformed,
        "rollback digest is 0 bytes, not 32",
    );
    assert_rejected(
        &host,
        update(vec![0; 32], vec![0xbb; 32], "x"),
        RejectionCode::Malformed,
        "all zeros",
    );
}

#[test]
fn rollback_cannot_be_the_new_policy() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        update(vec![0xaa; 32], vec![0xaa; 32], "x"),
        RejectionCode::PolicyViolation,
        "the rollback target is the new policy itself",
    );
}

#[test]
fn description_is_required() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        update(vec![0xaa; 32], vec![0xbb; 32], ""),
        RejectionCode::Malformed,
        "description is empty",
    );
    assert_rejected(
        &host,
        update(vec![0xaa; 32], vec![0xbb; 32], &"d".repeat(4097)),
        RejectionCode::Malformed,
        "description is 4097 bytes, more than 4096",
    );
}

fn compute(kind: &str, input: Vec<u8>) -> Operation {
    Operation::Compute(ComputeTask {
        kind: kind.into(),
        input,
    })
}

#[test]
fn median_price_is_delegated() {
    let host = Fixture::cluster(4);
    let input = median_price::encode_reports(&[(1, 100), (2, 102), (3, 101), (4, 9_999)]);
    let output = median_price::median_price(&input).map(|o| o.encode());
    let Ok(output) = output else {
        panic!("median failed: {output:?}")
    };
    let e = effect(&host, compute("median-price", input));
    let mut expected = vec![1, 9];
    expected.extend(lp(b"median-price"));
    expected.extend(lp(&output));
    assert_eq!(e, expected);
}

#[test]
fn median_price_errors_and_unknown_kinds() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        compute("median-price", vec![0; 17]),
        RejectionCode::Malformed,
        "input length 17 is not a multiple of 16",
    );
    assert_rejected(
        &host,
        compute("median-price", vec![]),
        RejectionCode::Malformed,
        "no price reports",
    );
    assert_rejected(
        &host,
        compute("merkle-root", vec![1]),
        RejectionCode::Unsupported,
        "unsupported compute kind `merkle-root`",
    );
}

#[test]
fn rejections_are_logged() {
    let host = Fixture::cluster(4);
    let _ = super::validate(&host, compute("nope", vec![]));
    let logs = host.logs();
    assert_eq!(logs.len(), 1);
    assert!(
        logs[0]
            .message
            .starts_with("slot 100: rejected (unsupported)"),
        "{}",
        logs[0].message
    );
}
