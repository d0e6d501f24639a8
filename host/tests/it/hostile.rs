//! Each hostile module ends in its own typed, deterministic error, and the same runtime
//! keeps serving good calls afterwards.

use spore::core::ops::{FailureKind, Outcome};
use spore::modules::{LoadError, ModuleFailure, Role, Runtime, RuntimeError, samples};
use spore_artifacts::Artifact;

use crate::common::{install, role_of, runtime_with_defaults};

/// Run the hostile validator `artifact` on a sample, then check that the default validator
/// still answers correctly on the same runtime. Returns the hostile call's failure.
fn hostile_call(runtime: &Runtime, artifact: &Artifact) -> anyhow::Result<ModuleFailure> {
    let snapshot = samples::snapshot();
    let good = runtime
        .active(Role::Validator)
        .ok_or_else(|| anyhow::anyhow!("no default validator"))?;
    let hostile = runtime.load(role_of(artifact), artifact.bytes)?;
    let op = samples::compute_op();
    let ctx = samples::context(&op);
    let report = runtime.call_validator_on(&hostile, &op, &ctx, &snapshot)?;
    let failure = match &report.result {
        Ok(value) => anyhow::bail!("{} returned {value:?}", artifact.name),
        Err(failure) => failure.clone(),
    };
    assert_eq!(report.outcome(), Outcome::Failed(failure.kind()));
    // The runtime keeps serving, on the same engine and pool.
    for _ in 0..3 {
        let after = runtime.call_validator_on(&good, &op, &ctx, &snapshot)?;
        assert!(after.outcome().is_accepted(), "{:?}", after.outcome());
    }
    Ok(failure)
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let failure = hostile_call(&runtime, &spore_artifacts::HOSTILE_LOOP)?;
    let budget = runtime.config().validator_fuel;
    assert_eq!(failure, ModuleFailure::OutOfFuel { budget });
    assert_eq!(failure.kind(), FailureKind::OutOfFuel);
    Ok(())
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let failure = hostile_call(&runtime, &spore_artifacts::HOSTILE_MEMORY_BOMB)?;
    let limit = runtime.limits(&samples::snapshot()).memory_bytes;
    match failure {
        ModuleFailure::MemoryLimit {
            requested,
            limit: got,
        } => {
            assert_eq!(got, limit);
            assert!(requested > limit);
        }
        other => anyhow::bail!("expected a memory limit, got {other:?}"),
    }
    Ok(())
}

#[test]
fn unbounded_recursion_overflows_the_stack() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let failure = hostile_call(&runtime, &spore_artifacts::HOSTILE_RECURSION)?;
    assert_eq!(failure, ModuleFailure::StackOverflow);
    Ok(())
}

#[test]
fn a_trap_is_reported_with_its_code() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let failure = hostile_call(&runtime, &spore_artifacts::HOSTILE_TRAP)?;
    match &failure {
        ModuleFailure::Trap { code } => assert!(!code.is_empty()),
        other => anyhow::bail!("expected a trap, got {other:?}"),
    }
    assert_eq!(failure.kind(), FailureKind::Trap);
    // The module returns "leaked" if it finds the mark an earlier call set in its
    // memory: the pooled slot is reused, and must come back zeroed every time.
    let again = hostile_call(&runtime, &spore_artifacts::HOSTILE_TRAP)?;
    assert_eq!(again, failure, "a later call saw state from an earlier one");
    Ok(())
}

#[test]
fn an_oversized_result_is_refused() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    // Loaded first, so that the count below is the call's alone.
    hostile_call(&runtime, &spore_artifacts::HOSTILE_OVERSIZED)?;
    let before = crate::counting::allocated();
    let failure = hostile_call(&runtime, &spore_artifacts::HOSTILE_OVERSIZED)?;
    let copied = crate::counting::allocated() - before;
    let cap = runtime.config().max_output_bytes;
    match failure {
        ModuleFailure::OutputTooLarge { len, limit } => {
            assert_eq!(limit, cap);
            assert!(len > cap);
            // Refused unread: the host allocated far less than the output (control: lifted
            // whole, as the generated binding does, the call allocates the output's size).
            assert!(
                copied < len / 4,
                "the host allocated {copied} bytes for an output of {len}"
            );
        }
        other => anyhow::bail!("expected an oversized output, got {other:?}"),
    }
    Ok(())
}

#[test]
fn a_module_of_the_wrong_world_is_refused_at_load() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let artifact = spore_artifacts::HOSTILE_WRONG_WORLD;
    match runtime.load(Role::Validator, artifact.bytes) {
        Err(RuntimeError::Load(LoadError::WrongWorld { role, expected, .. })) => {
            assert_eq!(role, Role::Validator);
            assert_eq!(expected, "validate");
        }
        other => anyhow::bail!("expected a wrong-world refusal, got {other:?}"),
    }
    // A default module loaded for the wrong role is refused the same way.
    match runtime.load(Role::Resolver, spore_artifacts::MEDIAN_PRICE.bytes) {
        Err(RuntimeError::Load(LoadError::WrongWorld { .. })) => {}
        other => anyhow::bail!("expected a wrong-world refusal, got {other:?}"),
    }
    keeps_serving(&runtime)
}

#[test]
fn foreign_imports_are_refused_naming_the_import() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let artifact = spore_artifacts::HOSTILE_FOREIGN_IMPORTS;
    match runtime.load(Role::Validator, artifact.bytes) {
        Err(RuntimeError::Load(LoadError::ForbiddenImport { import, .. })) => {
            assert!(
                !spore::modules::registry::ALLOWED_IMPORTS.contains(&import.as_str()),
                "{import}"
            );
            assert!(
                ["wasi:", "evil:"].iter().any(|p| import.starts_with(p)),
                "the error names the offending import: {import}"
            );
        }
        other => anyhow::bail!("expected a forbidden-import refusal, got {other:?}"),
    }
    keeps_serving(&runtime)
}

#[test]
fn every_hostile_module_in_a_row_on_one_runtime() -> anyhow::Result<()> {
    // The same runtime survives all of them back to back (pool slots are released).
    let runtime = runtime_with_defaults()?;
    for artifact in [
        spore_artifacts::HOSTILE_LOOP,
        spore_artifacts::HOSTILE_MEMORY_BOMB,
        spore_artifacts::HOSTILE_RECURSION,
        spore_artifacts::HOSTILE_TRAP,
        spore_artifacts::HOSTILE_OVERSIZED,
    ] {
        for _ in 0..2 {
            let failure = hostile_call(&runtime, &artifact)?;
            assert_ne!(failure.kind(), FailureKind::ModuleUnavailable);
        }
    }
    install(&runtime, &spore_artifacts::DEFAULT_VALIDATOR)?;
    keeps_serving(&runtime)
}

fn keeps_serving(runtime: &Runtime) -> anyhow::Result<()> {
    let op = samples::compute_op();
    let report = runtime.call_validator(&op, &samples::context(&op), &samples::snapshot())?;
    assert!(report.outcome().is_accepted(), "{:?}", report.outcome());
    Ok(())
}

/// A module that spams the host imports (10,000 log lines of 64 KiB; 1,000 look-ups of a
/// 16 MiB parameter key) is charged for every byte it makes the host copy: the call ends
/// out of fuel within its budget, and at most the capped, truncated lines reach the log.
#[test]
fn host_import_abuse_runs_out_of_fuel_and_writes_at_most_the_capped_log() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let abuse = runtime.load(Role::Validator, spore_artifacts::HOSTILE_HOST_ABUSE.bytes)?;
    let snapshot = samples::snapshot();
    let config = runtime.config().clone();
    let mut seen = [false; 2];
    for i in 0..16u8 {
        let op = spore::core::ops::Operation::Compute(spore::core::ops::ComputeTask {
            kind: "spam".into(),
            input: vec![i],
        });
        let ctx = samples::context(&op);
        let parity = (ctx.seed & 1) as usize;
        if seen[parity] {
            continue;
        }
        seen[parity] = true;
        let report = runtime.call_validator_on(&abuse, &op, &ctx, &snapshot)?;
        assert_eq!(
            report.result,
            Err(ModuleFailure::OutOfFuel {
                budget: config.validator_fuel
            }),
            "seed parity {parity}"
        );
        assert!(report.logs.len() <= config.max_log_lines);
        assert!(
            report
                .logs
                .iter()
                .all(|l| l.message.len() <= config.max_log_line_bytes + '…'.len_utf8())
        );
        if parity == 0 {
            assert!(
                report.dropped_logs > 0,
                "the spam beyond the cap is counted"
            );
        }
    }
    assert_eq!(seen, [true, true], "both attacks ran");
    Ok(())
}

/// An admission verdict whose reasons all alias one 8 MiB buffer of the module's memory
/// (4,096 of them) is refused as too large without a reason copied: the lengths in the
/// list's (pointer, length) pairs are counted first, inside the call. Before, the host
/// lifted reasons until wasmtime's bound on one lift (128 MiB of hostcall fuel) and the
/// call failed `InvalidOutput`. A verdict of 10,000 empty reasons is refused too: it
/// joins to 19,998 bytes, over the cluster's default cap of 16 KiB (every member would
/// reveal that outcome and every member refuse it: a stall); the lengths alone sum to 0.
/// Control: the counted lengths, which the sum without separators (0) would break.
#[test]
fn an_admission_verdict_too_large_to_copy_is_refused_unread() -> anyhow::Result<()> {
    let runtime = runtime_with_defaults()?;
    let hostile = runtime.load(
        Role::Admission,
        spore_artifacts::HOSTILE_ALIASED_REASONS.bytes,
    )?;
    // The cluster's default output cap.
    let snapshot = samples::snapshot()
        .with_params([("timing.max-output-bytes".to_owned(), 16 * 1024)])
        .shared();
    let cap = runtime.output_cap(&snapshot);
    assert_eq!(cap, 16 * 1024);
    let op = samples::compute_op();
    let ctx = samples::context(&op);
    let mut request = samples::admission_request();
    for (name, least, most) in [
        ("aliased", 8 << 20, (8 << 20) * 2 + 2),
        ("empty", 19_998, 19_998),
    ] {
        request.candidate.name = name.to_owned();
        let report = runtime.call_admission_on(&hostile, &request, &ctx, &snapshot)?;
        match report.result {
            Err(ModuleFailure::OutputTooLarge { len, limit }) => {
                assert_eq!(limit, cap, "{name}");
                assert!(
                    len > cap && len >= least && len <= most,
                    "{name}: {len} bytes counted"
                );
            }
            other => anyhow::bail!(
                "{name}: expected an oversized output, got {:?}",
                other.map(|v| (v.admit, v.reasons.len()))
            ),
        }
    }
    keeps_serving(&runtime)
}
