//! Hot swap: the active module of a role changes atomically; calls in flight finish on the
//! module they started with; rollback restores the previous module.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spore::core::ops::{Outcome, RejectionCode};
use spore::modules::{Role, RuntimeError, samples};

use crate::common::runtime;

#[test]
fn swaps_under_concurrent_calls_never_mix_modules() -> anyhow::Result<()> {
    let runtime = runtime()?;
    let default = runtime.load(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes)?;
    let median = runtime.load(Role::Validator, spore_artifacts::MEDIAN_PRICE.bytes)?;
    runtime.activate(Role::Validator, default.hash())?;

    // A trust modification tells the two apart: the default validator accepts it, the
    // median-price module rejects it as unsupported. Every call's whole report (result,
    // fuel, logs) must equal the reference report of the module it says ran it.
    let op = samples::operations()[1].clone();
    let ctx = samples::context(&op);
    let snapshot = samples::snapshot();
    let reference: HashMap<_, _> = [&default, &median]
        .into_iter()
        .map(|m| {
            Ok((
                m.hash(),
                runtime.call_validator_on(m, &op, &ctx, &snapshot)?,
            ))
        })
        .collect::<Result<_, RuntimeError>>()?;
    assert!(reference[&default.hash()].outcome().is_accepted());
    assert!(matches!(
        reference[&median.hash()].outcome(),
        Outcome::Rejected {
            code: RejectionCode::Unsupported,
            ..
        }
    ));

    let done = AtomicBool::new(false);
    let swaps = AtomicU64::new(0);
    let seen: Vec<HashMap<_, u64>> = std::thread::scope(|s| {
        let swapper = s.spawn(|| -> Result<(), RuntimeError> {
            let mut next = [&median, &default].into_iter().cycle();
            while !done.load(Ordering::Acquire) {
                if let Some(module) = next.next() {
                    runtime.activate(Role::Validator, module.hash())?;
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::yield_now();
            }
            Ok(())
        });
        let callers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<HashMap<_, u64>> {
                    let mut seen = HashMap::new();
                    for _ in 0..150 {
                        let report = runtime.call_validator(&op, &ctx, &snapshot)?;
                        let expected = reference
                            .get(&report.module)
                            .ok_or_else(|| anyhow::anyhow!("unknown module {}", report.module))?;
                        assert_eq!(&report, expected, "a call mixed modules");
                        *seen.entry(report.module).or_insert(0) += 1;
                    }
                    Ok(seen)
                })
            })
            .collect();
        let seen = callers
            .into_iter()
            .map(|c| c.join().map_err(|_| anyhow::anyhow!("caller panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>();
        done.store(true, Ordering::Release);
        let swapped = swapper
            .join()
            .map_err(|_| anyhow::anyhow!("swapper panicked"))?;
        swapped?;
        seen
    })?;
    let mut total: HashMap<_, u64> = HashMap::new();
    for per_thread in seen {
        for (module, n) in per_thread {
            *total.entry(module).or_insert(0) += n;
        }
    }
    assert_eq!(total.values().sum::<u64>(), 600);
    assert!(swaps.load(Ordering::Relaxed) > 0);
    assert!(
        total.len() == 2,
        "both modules served calls while swapping: {total:?}"
    );
    Ok(())
}

#[test]
fn a_call_started_before_a_swap_finishes_on_its_module() -> anyhow::Result<()> {
    let runtime = runtime()?;
    let default = runtime.install(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes)?;
    // The call has taken its module (as `call_validator` does) ...
    let in_flight = runtime
        .active(Role::Validator)
        .ok_or_else(|| anyhow::anyhow!("no active validator"))?;
    // ... when the swap lands.
    let median = runtime.install(Role::Validator, spore_artifacts::MEDIAN_PRICE.bytes)?;
    let op = samples::operations()[1].clone();
    let (ctx, snapshot) = (samples::context(&op), samples::snapshot());
    let report = runtime.call_validator_on(&in_flight, &op, &ctx, &snapshot)?;
    assert_eq!(report.module, default.hash());
    assert!(report.outcome().is_accepted());
    // New calls use the new module.
    let report = runtime.call_validator(&op, &ctx, &snapshot)?;
    assert_eq!(report.module, median.hash());
    assert!(!report.outcome().is_accepted());
    Ok(())
}

#[test]
fn rollback_restores_the_previous_module_and_rolls_forward_again() -> anyhow::Result<()> {
    let runtime = runtime()?;
    assert!(matches!(
        runtime.rollback(Role::Resolver),
        Err(RuntimeError::NothingToRollBack(Role::Resolver))
    ));
    let hierarchy = runtime.install(Role::Resolver, spore_artifacts::HIERARCHY_RESOLVER.bytes)?;
    let strict = runtime.install(Role::Resolver, spore_artifacts::STRICT_RESOLVER.bytes)?;
    let active =
        |runtime: &spore::modules::Runtime| runtime.active(Role::Resolver).map(|m| m.hash());
    assert_eq!(active(&runtime), Some(strict.hash()));
    assert_eq!(runtime.rollback(Role::Resolver)?, hierarchy.hash());
    assert_eq!(active(&runtime), Some(hierarchy.hash()));
    assert_eq!(runtime.rollback(Role::Resolver)?, strict.hash());
    assert_eq!(active(&runtime), Some(strict.hash()));
    // Re-activating the active module is a no-op that keeps the rollback target.
    runtime.activate(Role::Resolver, strict.hash())?;
    assert_eq!(
        runtime.previous(Role::Resolver).map(|m| m.hash()),
        Some(hierarchy.hash())
    );
    Ok(())
}

#[test]
fn activation_is_checked_against_role_and_registry() -> anyhow::Result<()> {
    let runtime = runtime()?;
    let median = runtime.load(Role::Validator, spore_artifacts::MEDIAN_PRICE.bytes)?;
    assert!(matches!(
        runtime.activate(Role::Resolver, median.hash()),
        Err(RuntimeError::RoleMismatch { .. })
    ));
    let unknown = spore::core::types::Digest([9; 32]);
    assert!(matches!(
        runtime.activate(Role::Validator, unknown),
        Err(RuntimeError::UnknownModule { .. })
    ));
    let op = samples::compute_op();
    assert!(matches!(
        runtime.call_resolver(
            &samples::resolver_split(),
            &samples::context(&op),
            &samples::snapshot()
        ),
        Err(RuntimeError::NoActiveModule(Role::Resolver))
    ));
    Ok(())
}
