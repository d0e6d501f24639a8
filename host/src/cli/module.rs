//! `spore module …`: hash, check and run policy modules locally, exactly as a node would.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use spore_core::crypto::{Canonical, canonical_bytes, sha256};
use spore_core::ops::{NodeAdmission, Operation};

use crate::modules::convert::SnapshotSpec;
pub(crate) use crate::modules::trial::{Sample, sample_context, samples_for};
use crate::modules::{
    CallContext, CallReport, LoadedModule, ModuleFailure, ResolverInput, Role, Runtime,
    RuntimeConfig, SnapshotView, samples,
};

const RUN_LONG_ABOUT: &str = "\
Run one call of a module, exactly as a node would (same engine configuration, fuel budget \
and limits), and print the result and the fuel used.

The input file is JSON; its shape depends on the role:

  validator  an operation, in the serde form of spore_core::ops::Operation: an object with
             one key naming the kind (snake_case) and its fields, e.g.
               {\"trust_modification\": {\"target\": \"<64 hex chars>\", \"delta_bps\": -500,
                 \"reason\": \"audit_finding\", \"justification\": \"missed reveals\"}}
               {\"compute\": {\"kind\": \"median-price\", \"input\": \"<hex bytes>\"}}
             Node ids and digests are hex strings, byte strings are hex, enums snake_case.
  admission  a node admission request: {\"candidate\": {\"id\", \"level\", \"name\", \"address\"},
             \"sponsors\": [{\"sponsor\": id, \"signature\": hex}]}; a module sees the sponsor
             ids (a node verifies their signatures first) and the cluster's criteria from the
             snapshot's membership.* parameters
  resolver   the three layer results: {\"primary\": L, \"seed\": L, \"latent\": L} with
             L = {\"layer\": \"primary\", \"result\": \"<hex>\" or null, \"confidence\": bps,
             \"agreement\": bps}

The optional snapshot file (default: the built-in four-member sample) is
  {\"members\": [{\"id\": \"<hex>\", \"level\": \"sclerotia\", \"trust\": 9000,
                  \"eligible\": true, \"layer\": \"primary\"}, ...],
   \"params\": {\"trust.exclusion-threshold\": 3000, ...}}

Examples live in host/examples/inputs/ (validator-*.json, admission.json, resolver.json,
snapshot.json).";

/// Module commands.
#[derive(Debug, Subcommand)]
pub enum ModuleCommand {
    /// Print a module's content hash (SHA-256 of the component bytes), its address in a
    /// cluster.
    Hash(HashArgs),
    /// Check that a module is fit for a role: hash, size, exports and imports, and a
    /// determinism self-test (built-in sample inputs through two independently built
    /// engines must give identical bytes and fuel). Exits non-zero if it is unfit.
    Check(CheckArgs),
    /// Run one call of a module on a JSON input and print the result and the fuel used.
    #[command(long_about = RUN_LONG_ABOUT)]
    Run(RunArgs),
    /// Create a module project in folder NAME: a small working module of the role in the
    /// language, with a native test of its logic, its own copy of the WIT package and
    /// (Rust) the guest SDK. Build it with `spore module build` inside the folder.
    New(NewArgs),
    /// Build the project in DIR (default: the current folder) into
    /// target/spore/NAME.wasm, reproducibly, with its build information (source digest,
    /// toolchain versions) in a `spore-build` section. The first build installs the
    /// pinned toolchain into target/toolchains (SPORE_TOOLCHAINS names another folder);
    /// later builds run offline.
    Build(BuildArgs),
    /// Run the native tests of the project in DIR (default: the current folder).
    Test(ProjectArgs),
    /// Rebuild a clean copy of the project's sources in a temporary folder and say
    /// whether the result has the given hash (exit 0) or not (exit 1).
    Verify(VerifyArgs),
    /// Upload a module to a node and submit the Full-BFT security policy update that
    /// swaps it in (the current module of the role becomes the rollback plan); waits for
    /// the decision.
    Propose(super::client::ProposeArgs),
}

/// A module role (the WIT world it must export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// `validator` world: operation + context -> result bytes or rejection.
    Validator,
    /// `admission` world: admission request + context -> verdict with reasons.
    Admission,
    /// `resolver` world: primary/seed/latent results -> accepted layer or escalation.
    Resolver,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Validator => Role::Validator,
            RoleArg::Admission => Role::Admission,
            RoleArg::Resolver => Role::Resolver,
        }
    }
}

/// Arguments of `spore module new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The module's name and the folder to create (lowercase letters, digits, `-`).
    pub name: PathBuf,
    /// The role (world) the module exports.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// The source language.
    #[arg(long, value_enum)]
    pub lang: crate::project::Lang,
}

/// A project folder argument.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The project folder (holding spore-module.toml).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// Arguments of `spore module build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The project folder (holding spore-module.toml).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Also run `spore module check` on the result (exit non-zero if it is unfit).
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `spore module verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The project folder (holding spore-module.toml).
    pub dir: PathBuf,
    /// The expected module hash (hex SHA-256, as `spore module hash` and `spore status`
    /// print it).
    #[arg(long)]
    pub hash: String,
}

/// Arguments of `spore module hash`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// The component file (.wasm).
    pub file: PathBuf,
}

/// Arguments of `spore module check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The component file (.wasm).
    pub file: PathBuf,
    /// The role the module is meant for.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// The cluster's genesis file: check against its replicated limits (fuel budgets,
    /// output cap) instead of the built-in defaults.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// How many generated inputs to run besides the fixed samples.
    #[arg(long, default_value_t = 64)]
    pub generated: usize,
    /// Seed of the generated inputs (the same seed gives the same inputs).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Arguments of `spore module run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The component file (.wasm).
    pub file: PathBuf,
    /// The role the module is meant for.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// The call's input (JSON; see above).
    #[arg(long)]
    pub input: PathBuf,
    /// The snapshot the module sees (JSON; default: the built-in four-member sample).
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Log slot of the call context.
    #[arg(long, default_value_t = 42)]
    pub slot: u64,
    /// Epoch of the call context.
    #[arg(long, default_value_t = 1)]
    pub epoch: u64,
    /// The cluster's genesis file: run with its replicated parameters (fuel budgets,
    /// output cap, and every other parameter the module reads) over the snapshot's.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Override the role's fuel budget (after `--genesis`).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run a module command.
pub fn run(cmd: ModuleCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ModuleCommand::Hash(args) => hash(&args),
        ModuleCommand::Check(args) => check(&args),
        ModuleCommand::Run(args) => run_one(&args),
        ModuleCommand::New(args) => new_project(&args),
        ModuleCommand::Build(args) => build_project(&args),
        ModuleCommand::Test(args) => {
            crate::project::test(&args.dir)?;
            Ok(ExitCode::SUCCESS)
        }
        ModuleCommand::Verify(args) => verify_project(&args),
        ModuleCommand::Propose(args) => super::client::run_propose(args),
    }
}

fn new_project(args: &NewArgs) -> anyhow::Result<ExitCode> {
    let name = args
        .name
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("{} names no folder", args.name.display()))?;
    let role = Role::from(args.role);
    crate::project::templates::create(&args.name, name, role, args.lang)?;
    println!(
        "created {} ({} {role} module)\n  cd {}\n  spore module build\n  spore module test\n  \
         spore module check target/spore/{name}.wasm --role {role}",
        args.name.display(),
        args.lang.name(),
        args.name.display(),
    );
    Ok(ExitCode::SUCCESS)
}

/// Print a module's build information, if it carries any.
pub(crate) fn print_build_info(bytes: &[u8]) {
    match spore_buildkit::buildinfo::BuildInfo::read(bytes) {
        Some(info) => {
            println!("build information (spore-build section):");
            for (key, value) in info.entries() {
                println!("  {key:<14} {value}");
            }
        }
        None => println!("build information: none (not built by `spore module build`)"),
    }
}

fn build_project(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let built = crate::project::build(&args.dir)?;
    println!(
        "built {} ({} bytes)",
        built.path.display(),
        built.bytes.len()
    );
    println!("hash  {}", built.hash);
    print_build_info(&built.bytes);
    if args.check {
        return check(&CheckArgs {
            file: built.path,
            role: role_arg(built.manifest.module.role),
            genesis: None,
            generated: 64,
            seed: 1,
        });
    }
    Ok(ExitCode::SUCCESS)
}

fn role_arg(role: Role) -> RoleArg {
    match role {
        Role::Validator => RoleArg::Validator,
        Role::Admission => RoleArg::Admission,
        Role::Resolver => RoleArg::Resolver,
    }
}

fn verify_project(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let expected = args.hash.trim().to_ascii_lowercase();
    anyhow::ensure!(
        expected.len() == 64 && expected.bytes().all(|b| b.is_ascii_hexdigit()),
        "--hash must be 64 hex digits (a SHA-256), got `{}`",
        args.hash
    );
    let built = crate::project::verify(&args.dir)?;
    print_build_info(&built.bytes);
    if built.hash == expected {
        println!(
            "verified: a clean rebuild of {} has hash {expected}",
            args.dir.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "MISMATCH: a clean rebuild of {} has hash {}, not {expected}\n\
             (compare the build information above with `spore module check` of the \
             proposed module: a different source digest means different sources, a \
             different toolchain line means a different toolchain)",
            args.dir.display(),
            built.hash
        );
        if built.manifest.module.lang == crate::project::Lang::Python {
            println!(
                "note: Python builds are not yet byte-reproducible (one word of \
                 componentize-py's heap snapshot differs between some builds; \
                 docs/MODULES.md, \"Reproducible builds\"): with the same source digest \
                 and toolchain lines, the module was built from these sources."
            );
        }
        Ok(ExitCode::FAILURE)
    }
}

fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read module {}", path.display()))
}

fn hash(args: &HashArgs) -> anyhow::Result<ExitCode> {
    let bytes = read_module(&args.file)?;
    println!("{}  {}", sha256(&bytes).to_hex(), args.file.display());
    Ok(ExitCode::SUCCESS)
}

/// The result of one call, reduced to what the CLI shows and compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shown {
    pub(crate) fuel_used: u64,
    /// Host fuel the call's host imports used.
    pub(crate) host_fuel_used: u64,
    /// Log lines the call kept, their bytes, and the lines it dropped.
    pub(crate) log_lines: usize,
    pub(crate) log_bytes: usize,
    pub(crate) dropped_logs: u64,
    pub(crate) failure: Option<ModuleFailure>,
    /// Canonical bytes of the value (what a node would commit to).
    pub(crate) canonical: Vec<u8>,
    /// One-line summary.
    pub(crate) summary: String,
    /// JSON form.
    pub(crate) json: serde_json::Value,
}

fn shown<T>(
    report: CallReport<T>,
    canonical: impl Fn(&T) -> Vec<u8>,
    summary: impl Fn(&T) -> String,
    json: impl Fn(&T) -> serde_json::Value,
) -> Shown {
    let host_fuel_used = report.host_fuel_used;
    let log_lines = report.logs.len();
    let log_bytes = report.logs.iter().map(|l| l.message.len()).sum();
    let dropped_logs = report.dropped_logs;
    match &report.result {
        Ok(value) => Shown {
            fuel_used: report.fuel_used,
            host_fuel_used,
            log_lines,
            log_bytes,
            dropped_logs,
            failure: None,
            canonical: canonical(value),
            summary: summary(value),
            json: json(value),
        },
        Err(failure) => Shown {
            fuel_used: report.fuel_used,
            host_fuel_used,
            log_lines,
            log_bytes,
            dropped_logs,
            failure: Some(failure.clone()),
            canonical: spore_core::ops::Outcome::Failed(failure.kind()).canonical_bytes(),
            summary: format!("FAILED: {failure}"),
            json: json!({ "failed": failure.kind(), "detail": failure.to_string() }),
        },
    }
}

/// Run one sample (or user input) through `module` on `runtime`.
pub(crate) fn call_sample(
    runtime: &Runtime,
    module: &Arc<LoadedModule>,
    sample: &Sample,
    ctx: &CallContext,
    snapshot: &Arc<SnapshotView>,
) -> anyhow::Result<Shown> {
    Ok(match sample {
        Sample::Validate(op) => {
            let report = runtime.call_validator_on(module, op, ctx, snapshot)?;
            let outcome = report.outcome();
            let mut s = shown(
                report,
                |_| outcome.canonical_bytes(),
                |v| match v {
                    Ok(bytes) => format!("accepted, {} bytes: {}", bytes.len(), preview(bytes)),
                    Err(r) => format!("rejected ({:?}): {}", r.code, r.reason),
                },
                |_| serde_json::to_value(&outcome).unwrap_or_default(),
            );
            if s.failure.is_none() {
                s.json = serde_json::to_value(&outcome).unwrap_or_default();
            }
            s
        }
        Sample::Admit(request) => shown(
            runtime.call_admission_on(module, request, ctx, snapshot)?,
            Canonical::canonical_bytes,
            |v| {
                format!(
                    "{}: {}",
                    if v.admit { "admit" } else { "refuse" },
                    v.reasons.join("; ")
                )
            },
            |v| json!({ "verdict": v }),
        ),
        Sample::Resolve(_, input) => shown(
            runtime.call_resolver_on(module, input, ctx, snapshot)?,
            Canonical::canonical_bytes,
            |v| match v {
                crate::modules::Resolution::Accept(layer) => format!("accept the {layer} result"),
                crate::modules::Resolution::Escalate(reason) => format!("escalate: {reason}"),
            },
            |v| json!({ "resolution": v }),
        ),
    })
}

/// Short hex preview of result bytes.
pub(crate) fn preview(bytes: &[u8]) -> String {
    if bytes.len() <= 24 {
        hex::encode(bytes)
    } else {
        format!("{}…", hex::encode(&bytes[..24]))
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let role = Role::from(args.role);
    let bytes = read_module(&args.file)?;
    println!("module     {}", args.file.display());
    println!("hash       {}", sha256(&bytes).to_hex());
    println!("size       {} bytes", bytes.len());
    println!("role       {role}");
    match spore_buildkit::buildinfo::BuildInfo::read(&bytes) {
        Some(info) => {
            for (key, value) in info.entries() {
                println!("build      {key} = {value}");
            }
        }
        None => println!("build      no build information recorded"),
    }
    let config = RuntimeConfig::default();
    // Two engines built independently: the self-test compares them.
    let first = Runtime::for_local_tool(config.clone())?;
    let second = Runtime::for_local_tool(config)?;
    let module = match first.load(role, &bytes) {
        Ok(module) => module,
        Err(err) => {
            println!("verdict    UNFIT");
            eprintln!("error: module refused: {err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let twin = second.load(role, &bytes)?;
    println!(
        "imports    {} (all provided by the host)",
        join_or_none(module.imports())
    );
    println!(
        "exports    {} (the {role} world)",
        join_or_none(module.exports())
    );
    let params: Vec<(String, i64)> = match &args.genesis {
        Some(path) => super::genesis::load(path)?.params.entries(),
        None => spore_core::genesis::Params::default().entries(),
    };
    let snapshot = crate::modules::trial::trial_snapshot(params);
    println!(
        "limits     fuel {} per call, output {} bytes ({})",
        first.fuel_budget(role, &snapshot),
        first.output_cap(&snapshot),
        match &args.genesis {
            Some(path) => format!("the cluster's, from {}", path.display()),
            None => "the defaults; --genesis FILE for a cluster's".to_owned(),
        }
    );
    let limits = first.limits(&snapshot);
    let mut unfit = Vec::new();
    let needs = module.needs().against(&limits);
    println!(
        "resources  {} (needed / limit); memory grows to at most {} bytes, a table to {} \
         elements",
        needs
            .iter()
            .map(|e| format!(
                "{} {}/{}",
                e.key.trim_start_matches("timing.max-"),
                e.needed,
                e.limit
            ))
            .collect::<Vec<_>>()
            .join(", "),
        limits.memory_bytes,
        limits.table_elements
    );
    for e in needs.iter().filter(|e| e.needed > e.limit) {
        unfit.push(format!(
            "the module needs {} for {}, the limit is {}: every call would fail",
            e.needed, e.key, e.limit
        ));
    }
    let fixed = samples_for(role);
    let generated = crate::modules::trial::generated_samples(role, args.generated, args.seed);
    println!(
        "self-test  {} sample call(s) and {} generated input(s) (seed {}), each on two \
         independently built engines:",
        fixed.len(),
        generated.len(),
        args.seed
    );
    let mut volume = CallVolume::default();
    let fixed_count = fixed.len();
    for (k, sample) in fixed.iter().chain(generated.iter()).enumerate() {
        let is_generated = k >= fixed_count;
        let ctx = sample_context(sample);
        let started = std::time::Instant::now();
        let a = call_sample(&first, &module, sample, &ctx, &snapshot)?;
        let elapsed = started.elapsed();
        let b = call_sample(&second, &twin, sample, &ctx, &snapshot)?;
        volume.add(&a, elapsed, &sample.label());
        let same = a == b;
        let label = if is_generated {
            format!("generated #{} ({})", k - fixed_count, sample.label())
        } else {
            sample.label()
        };
        // Generated inputs are shown only when they fail or differ.
        if !is_generated || !same || a.failure.is_some() {
            println!(
                "  {:<26} {:>11} fuel  {}  {}",
                label,
                a.fuel_used,
                if same { "identical" } else { "DIFFERENT" },
                a.summary
            );
        }
        if !same {
            unfit.push(format!(
                "{label}: the two engines disagree ({} vs {})",
                a.summary, b.summary
            ));
        }
        if let Some(failure) = &a.failure {
            unfit.push(format!("{label}: the call ended in {failure}"));
        }
    }
    volume.print(first.fuel_budget(role, &snapshot));
    if unfit.is_empty() {
        println!("verdict    FIT: deterministic on every sample, fit for the {role} role");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("verdict    UNFIT");
        for reason in &unfit {
            eprintln!("error: {reason}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// Fuel a call must use for its time to say something about the rate (below it, the
/// fixed cost of instantiating dominates).
const MIN_TIMED_FUEL: u64 = 1_000_000;

/// What the calls of a check cost: time per fuel unit and log volume, worst case.
#[derive(Default)]
struct CallVolume {
    /// Worst nanoseconds per 1,000 fuel among calls of at least [`MIN_TIMED_FUEL`], and
    /// the sample.
    worst_rate: Option<(f64, String)>,
    /// The call that used the most fuel: fuel, time.
    longest: (u64, std::time::Duration),
    /// Most log lines kept in one call, and bytes of them.
    max_lines: usize,
    max_log_bytes: usize,
    /// Most log lines dropped in one call.
    max_dropped: u64,
}

impl CallVolume {
    fn add(&mut self, shown: &Shown, elapsed: std::time::Duration, label: &str) {
        let fuel = shown.fuel_used.saturating_add(shown.host_fuel_used);
        if fuel >= MIN_TIMED_FUEL {
            let rate = elapsed.as_nanos() as f64 * 1_000.0 / fuel as f64;
            if self.worst_rate.as_ref().is_none_or(|(r, _)| rate > *r) {
                self.worst_rate = Some((rate, label.to_owned()));
            }
        }
        if fuel > self.longest.0 {
            self.longest = (fuel, elapsed);
        }
        self.max_lines = self.max_lines.max(shown.log_lines);
        self.max_log_bytes = self.max_log_bytes.max(shown.log_bytes);
        self.max_dropped = self.max_dropped.max(shown.dropped_logs);
    }

    fn print(&self, budget: u64) {
        match &self.worst_rate {
            Some((rate, label)) => {
                // Guest and host fuel are two meters with the same budget each.
                let worst = rate * 2.0 * budget as f64 / 1_000.0 / 1e6;
                println!(
                    "time       worst {rate:.1} ns per 1,000 fuel, guest and host ({label}): a \
                     call that spends both budgets would take about {worst:.0} ms on this machine"
                );
            }
            None => println!(
                "time       every call used less than {MIN_TIMED_FUEL} fuel (at most {} fuel, \
                 {:.2} ms): too short to measure a rate",
                self.longest.0,
                self.longest.1.as_secs_f64() * 1e3
            ),
        }
        println!(
            "log        at most {} line(s), {} byte(s) kept and {} dropped in one call",
            self.max_lines, self.max_log_bytes, self.max_dropped
        );
    }
}

fn join_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{what} {} is not valid", path.display()))
}

fn run_one(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let role = Role::from(args.role);
    let bytes = read_module(&args.file)?;
    let runtime = Runtime::for_local_tool(RuntimeConfig::default())?;
    let module = runtime
        .load(role, &bytes)
        .with_context(|| format!("module {} refused", args.file.display()))?;
    let mut snapshot = match &args.snapshot {
        Some(path) => read_json::<SnapshotSpec>(path, "snapshot")?.to_view(),
        None => (*samples::snapshot()).clone(),
    };
    if let Some(path) = &args.genesis {
        snapshot = snapshot.with_params(super::genesis::load(path)?.params.entries());
    }
    // The budget is the snapshot's `timing.<role>-fuel`, as in a cluster.
    if let Some(fuel) = args.fuel {
        let key = match role {
            Role::Validator => "timing.validator-fuel",
            Role::Admission => "timing.admission-fuel",
            Role::Resolver => "timing.resolver-fuel",
        };
        snapshot =
            snapshot.with_params([(key.to_owned(), i64::try_from(fuel).unwrap_or(i64::MAX))]);
    }
    let snapshot = Arc::new(snapshot);
    let budget = runtime.fuel_budget(role, &snapshot);
    let (sample, ctx) = match role {
        Role::Validator => {
            let op: Operation = read_json(&args.input, "operation")?;
            let ctx = CallContext::for_operation(args.slot, args.epoch, &op);
            (Sample::Validate(op), ctx)
        }
        Role::Admission => {
            let request: NodeAdmission = read_json(&args.input, "admission request")?;
            let ctx = CallContext::new(args.slot, args.epoch, sha256(&canonical_bytes(&request)));
            (Sample::Admit(request), ctx)
        }
        Role::Resolver => {
            let input: ResolverInput = read_json(&args.input, "resolver input")?;
            let ctx = CallContext::new(args.slot, args.epoch, sha256(&serde_json::to_vec(&input)?));
            (Sample::Resolve("input", input), ctx)
        }
    };
    let result = call_sample(&runtime, &module, &sample, &ctx, &snapshot)?;
    if args.json {
        let out = json!({
            "module": module.hash().to_hex(),
            "role": role,
            "slot": ctx.slot,
            "epoch": ctx.epoch,
            "fuel_used": result.fuel_used,
            "fuel_budget": budget,
            "result": result.json,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("module   {} ({role})", module.hash().to_hex());
        println!(
            "input    {} at slot {}, epoch {}",
            sample.label(),
            ctx.slot,
            ctx.epoch
        );
        println!("result   {}", result.summary);
        println!("fuel     {} of {budget}", result.fuel_used);
    }
    if result.failure.is_some() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_samples() {
        for role in Role::ALL {
            assert!(!samples_for(role).is_empty(), "{role}");
        }
    }

    #[test]
    fn run_help_documents_every_input_shape() {
        for needle in [
            "validator",
            "admission",
            "resolver",
            "snapshot",
            "host/examples/inputs",
        ] {
            assert!(RUN_LONG_ABOUT.contains(needle), "{needle}");
        }
    }

    #[test]
    fn unreadable_module_is_a_clear_error() {
        let err = read_module(Path::new("/nonexistent/module.wasm"));
        assert!(err.is_err());
        let text = format!("{:#}", err.err().map(|e| e.to_string()).unwrap_or_default());
        assert!(text.contains("cannot read module"), "{text}");
    }
}
