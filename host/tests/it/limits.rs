//! The replicated module limits: a call is held to the limits its snapshot names (the
//! cluster's parameters), not to a node's own configuration, and a module that needs more
//! than they allow fails the same way everywhere, before it instantiates anything.

use std::sync::Arc;

use spore::modules::{ModuleFailure, ModuleLimits, Runtime, RuntimeConfig, SnapshotView, samples};
use spore_core::ops::FailureKind;

use crate::common::{install, runtime};

fn call_with(
    runtime: &Runtime,
    params: &[(&str, i64)],
) -> anyhow::Result<Result<(), ModuleFailure>> {
    let snapshot = Arc::new(
        samples::snapshot().with_params(params.iter().map(|(k, v)| ((*k).to_owned(), *v))),
    );
    let op = samples::compute_op();
    let report = runtime.call_validator(&op, &samples::context(&op), &snapshot)?;
    Ok(report.result.map(|_| ()))
}

#[test]
fn a_module_over_a_replicated_limit_fails_deterministically_before_instantiating()
-> anyhow::Result<()> {
    let runtime = runtime()?;
    let module = install(&runtime, &spore_artifacts::DEFAULT_VALIDATOR)?;
    let needs = module.needs();
    assert!(
        needs.core_instances >= 1 && needs.memories >= 1,
        "{needs:?}"
    );
    assert_eq!(
        needs.module_bytes,
        spore_artifacts::DEFAULT_VALIDATOR.bytes.len() as u64
    );
    // Within the defaults it runs.
    assert_eq!(call_with(&runtime, &[])?, Ok(()));
    // Each count limit set just below what the module needs ends every call in the same
    // typed failure, naming the limit.
    let just_below = [
        ("timing.max-module-bytes", needs.module_bytes - 1),
        ("timing.max-core-instances", needs.core_instances - 1),
    ];
    for (key, value) in just_below {
        if value == 0 {
            continue;
        }
        let failure = call_with(&runtime, &[(key, value as i64)])?;
        match failure {
            Err(
                f @ ModuleFailure::ResourceLimit {
                    key: k,
                    needed,
                    limit,
                },
            ) => {
                assert_eq!((k, limit), (key, value));
                assert!(needed > limit);
                assert_eq!(f.kind(), FailureKind::ResourceLimit);
            }
            other => anyhow::bail!("{key}={value}: expected a resource limit, got {other:?}"),
        }
        // Exactly what it needs is enough.
        assert_eq!(
            call_with(&runtime, &[(key, value as i64 + 1)])?,
            Ok(()),
            "{key}"
        );
    }
    Ok(())
}

/// The node's own configuration does not decide: two runtimes configured with different
/// local limits give the same outcome for the same snapshot (control: without the
/// snapshot's values, they differ).
#[test]
fn the_snapshot_limits_override_a_nodes_configuration() -> anyhow::Result<()> {
    let strict = Runtime::new(RuntimeConfig {
        limits: ModuleLimits {
            memory_bytes: 1 << 16,
            ..ModuleLimits::default()
        },
        ..RuntimeConfig::default()
    })?;
    install(&strict, &spore_artifacts::DEFAULT_VALIDATOR)?;
    let relaxed = runtime()?;
    install(&relaxed, &spore_artifacts::DEFAULT_VALIDATOR)?;
    let cluster = [("timing.max-memory-bytes", 64 << 20)];
    assert_eq!(call_with(&strict, &cluster)?, Ok(()));
    assert_eq!(call_with(&relaxed, &cluster)?, Ok(()));
    // Control: a snapshot without cluster parameters falls back to each configuration.
    let bare = Arc::new(SnapshotView::default());
    let op = samples::compute_op();
    let a = strict.call_validator(&op, &samples::context(&op), &bare)?;
    let b = relaxed.call_validator(&op, &samples::context(&op), &bare)?;
    assert!(
        matches!(a.result, Err(ModuleFailure::MemoryLimit { .. })),
        "{:?}",
        a.result
    );
    assert!(b.result.is_ok(), "{:?}", b.result);
    Ok(())
}

/// The ceilings the engine is built for admit every value the parameters may take, and
/// the defaults admit what the JavaScript and Python components need (12-18 MB,
/// 38 core instances, more than 2 memories).
#[test]
fn the_default_limits_admit_js_and_python_components() {
    let d = ModuleLimits::default();
    assert!(d.module_bytes >= 18 << 20);
    assert!(d.core_instances >= 38);
    assert!(d.memories >= 3);
    let c = ModuleLimits::ceilings();
    assert!(c.module_bytes >= d.module_bytes && c.core_instances >= d.core_instances);
}
