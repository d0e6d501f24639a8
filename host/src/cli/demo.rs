//! `spore demo`: the module runtime end to end on the embedded modules — every operation
//! kind through the default validator, admission, a resolver hot swap with rollback, and
//! every hostile module ending in its typed failure while the runtime keeps serving.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use spore_artifacts::Artifact;
use spore_core::ops::Outcome;

use super::module::{Sample, call_sample, preview};
use crate::modules::{LoadedModule, Role, Runtime, RuntimeConfig, samples};

/// Arguments of `spore demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {}

fn role_of(artifact: &Artifact) -> Role {
    match artifact.role {
        spore_artifacts::Role::Validator => Role::Validator,
        spore_artifacts::Role::Admission => Role::Admission,
        spore_artifacts::Role::Resolver => Role::Resolver,
    }
}

/// Collects what did not behave as expected; the demo exits non-zero if anything did.
#[derive(Default)]
struct Surprises(Vec<String>);

impl Surprises {
    fn expect(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            let what = what.into();
            println!("    UNEXPECTED: {what}");
            self.0.push(what);
        }
    }
}

fn short(module: &LoadedModule) -> String {
    module.hash().to_hex()[..12].to_owned()
}

/// Run the demo.
pub fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut surprises = Surprises::default();
    let config = RuntimeConfig::default();
    println!("Spore module demo: sandboxed, deterministic WebAssembly policy modules\n");
    println!(
        "engine: wasmtime components, fuel metering (validator {} / admission {} / resolver {} per call),",
        config.validator_fuel, config.admission_fuel, config.resolver_fuel
    );
    println!(
        "        NaN canonicalisation, no threads, {} MiB memory and {} KiB stack per call, output cap {} KiB,",
        config.limits.memory_bytes >> 20,
        config.max_wasm_stack >> 10,
        config.max_output_bytes >> 10
    );
    println!(
        "        pooling allocator, a fresh store per call; host imports: snapshot + log only.\n"
    );
    let runtime = Runtime::new(config)?;
    let snapshot = samples::snapshot();

    println!("1. Load the default modules (content-addressed, type-checked, pre-instantiated)");
    let mut loaded = Vec::new();
    for artifact in [
        spore_artifacts::DEFAULT_VALIDATOR,
        spore_artifacts::SPONSORED_ADMISSION,
        spore_artifacts::HIERARCHY_RESOLVER,
        spore_artifacts::STRICT_RESOLVER,
        spore_artifacts::MEDIAN_PRICE,
    ]
    .into_iter()
    .chain(spore_artifacts::median_price_c())
    {
        let t = Instant::now();
        let module = runtime.load(role_of(&artifact), artifact.bytes)?;
        println!(
            "   {:<22} {:<9} sha256 {}…  {:>6} bytes  compiled in {:>4} ms",
            artifact.name,
            module.role().to_string(),
            short(&module),
            module.size(),
            t.elapsed().as_millis()
        );
        loaded.push((artifact.name, module));
    }
    let by_name = |name: &str| {
        loaded
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| Arc::clone(m))
            .ok_or_else(|| anyhow::anyhow!("{name} is not loaded"))
    };
    let validator = by_name("default-validator")?;
    runtime.activate(Role::Validator, validator.hash())?;
    runtime.activate(Role::Admission, by_name("sponsored-admission")?.hash())?;

    println!("\n2. default-validator on every operation kind (sample snapshot: 4 members)");
    for op in samples::operations() {
        let ctx = samples::context(&op);
        let report = runtime.call_validator(&op, &ctx, &snapshot)?;
        let outcome = report.outcome();
        println!(
            "   {:<26} {:>9} fuel  {}",
            op.kind_name(),
            report.fuel_used,
            describe(&outcome)
        );
        surprises.expect(
            outcome.is_accepted(),
            format!("{} was not accepted", op.kind_name()),
        );
    }
    for (op, label) in samples::invalid_operations()
        .into_iter()
        .zip(["trust-mod. unknown node", "admission, 1 sponsor"])
    {
        let ctx = samples::context(&op);
        let report = runtime.call_validator(&op, &ctx, &snapshot)?;
        let outcome = report.outcome();
        println!(
            "   {:<26} {:>9} fuel  {}",
            label,
            report.fuel_used,
            describe(&outcome)
        );
        surprises.expect(
            matches!(outcome, Outcome::Rejected { .. }),
            format!("{label} was not rejected"),
        );
    }

    println!("\n3. The compute example: median of 7 signed price reports (one outlier)");
    let op = samples::compute_op();
    let ctx = samples::context(&op);
    let mut results = Vec::new();
    for name in ["median-price", "median-price-c", "default-validator"] {
        let Ok(module) = by_name(name) else { continue };
        let report = runtime.call_validator_on(&module, &op, &ctx, &snapshot)?;
        let outcome = report.outcome();
        println!(
            "   {:<22} {:>9} fuel  {}",
            name,
            report.fuel_used,
            describe(&outcome)
        );
        results.push((name, outcome));
    }
    // The compute modules return the output itself; the default validator returns the
    // canonical encoding of the operation's effect, which ends with that output.
    let outputs: Vec<&[u8]> = results
        .iter()
        .filter_map(|(_, outcome)| match outcome {
            Outcome::Accepted(bytes) => Some(bytes.as_slice()),
            _ => None,
        })
        .collect();
    let agree = outputs.len() == results.len()
        && outputs
            .split_first()
            .is_some_and(|(first, rest)| rest.iter().all(|o| o.ends_with(first)));
    if let Some(first) = outputs.first()
        && first.len() >= 16
    {
        let mut price = [0u8; 8];
        price.copy_from_slice(&first[..8]);
        println!(
            "   -> median {} with the outlier dropped; Rust and C twins byte-identical: {agree}",
            i64::from_le_bytes(price)
        );
    }
    surprises.expect(agree, "the compute implementations disagree");

    println!("\n4. Admission: sponsored-admission on a candidate sponsored by two members");
    let request = samples::admission_request();
    let ctx = samples::context_for(b"demo-admission");
    let report = runtime.call_admission(&request, &ctx, &snapshot)?;
    match &report.result {
        Ok(verdict) => {
            println!(
                "   {} ({} fuel): {}",
                if verdict.admit { "ADMIT" } else { "REFUSE" },
                report.fuel_used,
                if verdict.reasons.is_empty() {
                    "every criterion met".to_owned()
                } else {
                    verdict.reasons.join("; ")
                }
            );
            surprises.expect(verdict.admit, "the sample candidate was refused");
        }
        Err(failure) => surprises.expect(false, format!("admission failed: {failure}")),
    }

    println!("\n5. Resolver hot swap: hierarchy -> strict -> rollback (split vote: primary says A");
    println!("   with 90% confidence, seed and latent say B)");
    let hierarchy = by_name("hierarchy-resolver")?;
    let strict = by_name("strict-resolver")?;
    runtime.activate(Role::Resolver, hierarchy.hash())?;
    let split = Sample::Resolve("split", samples::resolver_split());
    let ctx = samples::context_for(b"demo-resolver");
    let mut verdicts = Vec::new();
    for step in ["hierarchy active", "swap -> strict", "rollback"] {
        match step {
            "swap -> strict" => {
                runtime.activate(Role::Resolver, strict.hash())?;
            }
            "rollback" => {
                runtime.rollback(Role::Resolver)?;
            }
            _ => {}
        }
        let active = runtime
            .active(Role::Resolver)
            .ok_or_else(|| anyhow::anyhow!("no active resolver"))?;
        let shown = call_sample(&runtime, &active, &split, &ctx, &snapshot)?;
        println!(
            "   {:<17} active {}… {:>7} fuel  {}",
            step,
            short(&active),
            shown.fuel_used,
            clip(&shown.summary, 90)
        );
        verdicts.push((active.hash(), shown.summary));
    }
    surprises.expect(
        verdicts[0].1 != verdicts[1].1 && verdicts[0] == verdicts[2],
        "the swap did not change the verdict, or the rollback did not restore it",
    );

    println!("\n6. Hostile modules: each ends in its own typed error; the runtime keeps serving");
    let op = samples::compute_op();
    let ctx = samples::context(&op);
    for artifact in [
        spore_artifacts::HOSTILE_LOOP,
        spore_artifacts::HOSTILE_MEMORY_BOMB,
        spore_artifacts::HOSTILE_RECURSION,
        spore_artifacts::HOSTILE_TRAP,
        spore_artifacts::HOSTILE_OVERSIZED,
        spore_artifacts::HOSTILE_WRONG_WORLD,
        spore_artifacts::HOSTILE_FOREIGN_IMPORTS,
    ] {
        let t = Instant::now();
        let line = match runtime.load(role_of(&artifact), artifact.bytes) {
            Err(err) => format!("refused at load: {err}"),
            Ok(module) => {
                let report = runtime.call_validator_on(&module, &op, &ctx, &snapshot)?;
                match &report.result {
                    Err(failure) => format!("{failure} ({} fuel)", report.fuel_used),
                    Ok(_) => {
                        surprises.expect(false, format!("{} succeeded", artifact.name));
                        describe(&report.outcome())
                    }
                }
            }
        };
        println!(
            "   {:<24} {:>5} ms  {line}",
            artifact.name,
            t.elapsed().as_millis()
        );
        let after = runtime.call_validator(&op, &ctx, &snapshot)?;
        surprises.expect(
            after.outcome().is_accepted(),
            format!("the runtime stopped serving after {}", artifact.name),
        );
    }
    println!("   after every hostile module, default-validator still answers the compute call");

    println!(
        "\nDone in {} ms: {}.",
        started.elapsed().as_millis(),
        if surprises.0.is_empty() {
            "everything behaved as expected"
        } else {
            "SOME THINGS DID NOT BEHAVE AS EXPECTED (see above)"
        }
    );
    println!("Next: `spore module check FILE --role validator`, `spore module run --help`.");
    Ok(if surprises.0.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// At most `max` characters of `text`, with an ellipsis if cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Accepted(bytes) => {
            format!("accepted  {:>3} bytes  {}", bytes.len(), preview(bytes))
        }
        Outcome::Rejected { code, reason } => format!("rejected  {code:?}: {}", clip(reason, 80)),
        Outcome::Failed(kind) => format!("failed    {kind:?}"),
        Outcome::Regressed(kind) => format!("regressed {kind:?}"),
    }
}
