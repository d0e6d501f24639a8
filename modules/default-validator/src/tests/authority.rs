//! Service deployment, resource allocation, maintenance and performance optimisation.

use spore_guest::testing::Fixture;
use spore_guest::{
    DeploymentStrategy, MaintenanceTask, MaintenanceType, Operation, OptimizationType,
    PerformanceMetric, PerformanceOptimization, PriorityLevel, RejectionCode, ResourceAllocation,
    ResourceRequirements, ResourceType, ServiceDeployment, SlotWindow,
};

use super::{SLOT, assert_rejected, effect, le32, lp};

fn deploy(name: &str, replicas: u32, cpu: u32, memory: u32) -> Operation {
    Operation::ServiceDeployment(ServiceDeployment {
        name: name.into(),
        artifact: vec![0xcc; 32],
        replicas,
        strategy: DeploymentStrategy::Canary,
        resources: ResourceRequirements {
            cpu_millis: cpu,
            memory_mib: memory,
            storage_mib: 0,
        },
    })
}

#[test]
fn deployment_effect() {
    let host = Fixture::cluster(4);
    let e = effect(&host, deploy("price-feed", 3, 500, 256));
    let mut expected = vec![1, 5];
    expected.extend(lp(b"price-feed"));
    expected.extend([0xcc; 32]);
    expected.extend(le32(3));
    expected.push(DeploymentStrategy::Canary as u8);
    expected.extend(le32(500));
    expected.extend(le32(256));
    expected.extend(le32(0));
    assert_eq!(e, expected);
}

#[test]
fn deployment_rejections() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        deploy("", 1, 1, 1),
        RejectionCode::Malformed,
        "service name is empty",
    );
    assert_rejected(
        &host,
        deploy("bad name", 1, 1, 1),
        RejectionCode::Malformed,
        "is not 1..=64 bytes",
    );
    assert_rejected(
        &host,
        deploy("svc", 0, 1, 1),
        RejectionCode::Malformed,
        "0 replicas is outside 1..=10000",
    );
    assert_rejected(
        &host,
        deploy("svc", 10_001, 1, 1),
        RejectionCode::Malformed,
        "10001 replicas",
    );
    assert_rejected(
        &host,
        deploy("svc", 1, 0, 1),
        RejectionCode::Malformed,
        "cpu-millis is 0",
    );
    assert_rejected(
        &host,
        deploy("svc", 1, 1, 0),
        RejectionCode::Malformed,
        "memory-mib is 0",
    );
    let Operation::ServiceDeployment(mut d) = deploy("svc", 1, 1, 1) else {
        unreachable!()
    };
    d.artifact = vec![1; 8];
    assert_rejected(
        &host,
        Operation::ServiceDeployment(d),
        RejectionCode::Malformed,
        "artifact digest is 8 bytes",
    );
}

fn allocate(target: &str, amount: u64) -> Operation {
    Operation::ResourceAllocation(ResourceAllocation {
        resource: ResourceType::Bandwidth,
        target: target.into(),
        amount,
        priority: PriorityLevel::High,
    })
}

#[test]
fn allocation_effect_and_rejections() {
    let host = Fixture::cluster(4);
    let e = effect(&host, allocate("price-feed", 1 << 40));
    let mut expected = vec![1, 6, ResourceType::Bandwidth as u8];
    expected.extend(lp(b"price-feed"));
    expected.extend((1u64 << 40).to_le_bytes());
    expected.push(PriorityLevel::High as u8);
    assert_eq!(e, expected);
    assert_rejected(
        &host,
        allocate("price-feed", 0),
        RejectionCode::Malformed,
        "allocation of 0",
    );
    assert_rejected(
        &host,
        allocate("", 5),
        RejectionCode::Malformed,
        "allocation target is empty",
    );
}

fn maintain(components: &[&str], start: u64, end: u64) -> Operation {
    Operation::MaintenanceTask(MaintenanceTask {
        task: MaintenanceType::Compaction,
        components: components.iter().map(|c| (*c).into()).collect(),
        window: SlotWindow { start, end },
    })
}

#[test]
fn maintenance_effect_sorts_components() {
    let host = Fixture::cluster(4);
    let e = effect(&host, maintain(&["store", "net"], SLOT, SLOT + 10));
    let mut expected = vec![1, 7, MaintenanceType::Compaction as u8];
    expected.extend(le32(2));
    expected.extend(lp(b"net"));
    expected.extend(lp(b"store"));
    expected.extend(SLOT.to_le_bytes());
    expected.extend((SLOT + 10).to_le_bytes());
    assert_eq!(e, expected);
}

#[test]
fn bad_slot_windows() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        maintain(&["store"], SLOT + 5, SLOT + 5),
        RejectionCode::Malformed,
        "is empty",
    );
    assert_rejected(
        &host,
        maintain(&["store"], SLOT + 9, SLOT + 5),
        RejectionCode::Malformed,
        "is empty",
    );
    assert_rejected(
        &host,
        maintain(&["store"], SLOT - 1, SLOT + 5),
        RejectionCode::PolicyViolation,
        "before the current slot 100",
    );
    assert_rejected(
        &host,
        maintain(&["store"], SLOT, SLOT + 1_000_001),
        RejectionCode::PolicyViolation,
        "longer than 1000000 slots",
    );
}

#[test]
fn maintenance_components() {
    let host = Fixture::cluster(4);
    assert_rejected(
        &host,
        maintain(&[], SLOT, SLOT + 1),
        RejectionCode::Malformed,
        "the component list is empty",
    );
    assert_rejected(
        &host,
        maintain(&["net", "net"], SLOT, SLOT + 1),
        RejectionCode::Malformed,
        "component net is listed more than once",
    );
    assert_rejected(
        &host,
        maintain(&["a/b"], SLOT, SLOT + 1),
        RejectionCode::Malformed,
        "component name \"a/b\"",
    );
}

fn optimize(targets: &[(&str, i64)], plan: &str) -> Operation {
    Operation::PerformanceOptimization(PerformanceOptimization {
        kind: OptimizationType::Batching,
        targets: targets
            .iter()
            .map(|(name, target)| PerformanceMetric {
                name: (*name).into(),
                target: *target,
            })
            .collect(),
        plan: plan.into(),
    })
}

#[test]
fn optimization_effect_and_rejections() {
    let host = Fixture::cluster(4);
    let e = effect(
        &host,
        optimize(&[("p99-slots", 3), ("batch-size", -1)], "raise batch size"),
    );
    let mut expected = vec![1, 8, OptimizationType::Batching as u8];
    expected.extend(le32(2));
    expected.extend(lp(b"batch-size"));
    expected.extend((-1i64).to_le_bytes());
    expected.extend(lp(b"p99-slots"));
    expected.extend(3i64.to_le_bytes());
    expected.extend(lp(b"raise batch size"));
    assert_eq!(e, expected);

    assert_rejected(
        &host,
        optimize(&[], "x"),
        RejectionCode::Malformed,
        "the target metric list is empty",
    );
    assert_rejected(
        &host,
        optimize(&[("a", 1), ("a", 2)], "x"),
        RejectionCode::Malformed,
        "metric a is targeted more than once",
    );
    assert_rejected(
        &host,
        optimize(&[("a", 1)], ""),
        RejectionCode::Malformed,
        "plan is empty",
    );
}
