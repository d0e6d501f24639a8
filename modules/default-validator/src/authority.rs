//! The authority-hierarchy operations: service deployment, resource allocation,
//! maintenance and performance optimisation.

use spore_guest::{
    CallContext, MaintenanceTask, PerformanceOptimization, Rejection, RejectionCode,
    ResourceAllocation, ServiceDeployment,
};

use crate::encoding::Encoder;
use crate::fields;
use crate::findings::Findings;

/// Variant index of `service-deployment`.
pub const DEPLOYMENT_TAG: u8 = 5;
/// Variant index of `resource-allocation`.
pub const ALLOCATION_TAG: u8 = 6;
/// Variant index of `maintenance-task`.
pub const MAINTENANCE_TAG: u8 = 7;
/// Variant index of `performance-optimization`.
pub const OPTIMIZATION_TAG: u8 = 8;

/// Most replicas a deployment may ask for.
pub const MAX_REPLICAS: u32 = 10_000;
/// Longest maintenance window, in slots.
pub const MAX_WINDOW_SLOTS: u64 = 1_000_000;

/// Check a service deployment; its effect on success.
pub fn check_deployment(d: &ServiceDeployment) -> Result<Vec<u8>, Rejection> {
    let mut f = Findings::new();
    fields::name(&mut f, "service name", &d.name);
    fields::id(&mut f, "artifact digest", &d.artifact);
    f.require(
        (1..=MAX_REPLICAS).contains(&d.replicas),
        RejectionCode::Malformed,
        || format!("{} replicas is outside 1..={MAX_REPLICAS}", d.replicas),
    );
    f.require(d.resources.cpu_millis > 0, RejectionCode::Malformed, || {
        "a deployment needs some CPU (cpu-millis is 0)".into()
    });
    f.require(d.resources.memory_mib > 0, RejectionCode::Malformed, || {
        "a deployment needs some memory (memory-mib is 0)".into()
    });
    f.finish(|| {
        Encoder::new(DEPLOYMENT_TAG)
            .str(&d.name)
            .id(&d.artifact)
            .u32(d.replicas)
            .u8(d.strategy as u8)
            .u32(d.resources.cpu_millis)
            .u32(d.resources.memory_mib)
            .u32(d.resources.storage_mib)
            .finish()
    })
}

/// Check a resource allocation; its effect on success.
pub fn check_allocation(a: &ResourceAllocation) -> Result<Vec<u8>, Rejection> {
    let mut f = Findings::new();
    fields::name(&mut f, "allocation target", &a.target);
    f.require(a.amount > 0, RejectionCode::Malformed, || {
        "an allocation of 0 allocates nothing".into()
    });
    f.finish(|| {
        Encoder::new(ALLOCATION_TAG)
            .u8(a.resource as u8)
            .str(&a.target)
            .u64(a.amount)
            .u8(a.priority as u8)
            .finish()
    })
}

/// Check a maintenance task: named, distinct components and a window of slots that
/// is non-empty, not in the past and at most [`MAX_WINDOW_SLOTS`] long. Its effect on
/// success.
pub fn check_maintenance(m: &MaintenanceTask, ctx: &CallContext) -> Result<Vec<u8>, Rejection> {
    let mut f = Findings::new();
    fields::list(&mut f, "the component list", m.components.len());
    for c in &m.components {
        fields::name(&mut f, "component name", c);
    }
    if let Some(dup) = fields::first_duplicate(&m.components) {
        f.fail(
            RejectionCode::Malformed,
            format!("component {dup} is listed more than once"),
        );
    }
    let (start, end) = (m.window.start, m.window.end);
    if start >= end {
        f.fail(
            RejectionCode::Malformed,
            format!("maintenance window [{start}, {end}) is empty"),
        );
    } else if end - start > MAX_WINDOW_SLOTS {
        f.fail(
            RejectionCode::PolicyViolation,
            format!("maintenance window [{start}, {end}) is longer than {MAX_WINDOW_SLOTS} slots"),
        );
    }
    f.require(start >= ctx.slot, RejectionCode::PolicyViolation, || {
        format!(
            "maintenance window starts at slot {start}, before the current slot {}",
            ctx.slot
        )
    });

    let mut components = m.components.clone();
    components.sort();
    f.finish(|| {
        let mut e = Encoder::new(MAINTENANCE_TAG);
        e.u8(m.task as u8).len(components.len());
        for c in &components {
            e.str(c);
        }
        e.u64(start).u64(end).finish()
    })
}

/// Check a performance optimisation: distinct, named target metrics and a plan. Its
/// effect on success.
pub fn check_optimization(o: &PerformanceOptimization) -> Result<Vec<u8>, Rejection> {
    let mut f = Findings::new();
    fields::list(&mut f, "the target metric list", o.targets.len());
    for t in &o.targets {
        fields::name(&mut f, "metric name", &t.name);
    }
    let names: Vec<&str> = o.targets.iter().map(|t| t.name.as_str()).collect();
    if let Some(dup) = fields::first_duplicate(&names) {
        f.fail(
            RejectionCode::Malformed,
            format!("metric {dup} is targeted more than once"),
        );
    }
    fields::text(&mut f, "plan", &o.plan, fields::MAX_TEXT_LEN);

    let mut targets: Vec<(&str, i64)> = o
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.target))
        .collect();
    targets.sort();
    f.finish(|| {
        let mut e = Encoder::new(OPTIMIZATION_TAG);
        e.u8(o.kind as u8).len(targets.len());
        for (name, target) in &targets {
            e.str(name).i64(*target);
        }
        e.str(&o.plan).finish()
    })
}
