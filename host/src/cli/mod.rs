//! The `spore` command line: one file per command family, dispatched from here.

pub mod bench;
pub mod client;
pub mod demo;
pub mod devnet;
pub mod devnet_report;
pub mod e2e;
pub mod e2e_relay;
pub mod genesis;
pub mod init;
pub mod keygen;
pub mod module;
pub mod node;
pub mod progress;
pub mod recover;
pub mod report;
pub mod simulate;

use clap::{Parser, Subcommand};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Spore: a Byzantine-fault-tolerant host for sandboxed WebAssembly policy modules.
#[derive(Debug, Parser)]
#[command(name = "spore", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `spore=debug`.
    #[arg(long, global = true, env = "SPORE_LOG", default_value = "warn")]
    pub log: String,

    /// Log line format on stderr: `text` for people, `json` (one object per line:
    /// timestamp, level, target, message and fields) for log collectors.
    #[arg(long, global = true, env = "SPORE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tour the module runtime on the embedded modules: every operation kind, admission,
    /// a resolver hot swap with rollback, and every hostile module's typed failure.
    Demo(demo::DemoArgs),
    /// Check, run and inspect WebAssembly policy modules.
    #[command(subcommand)]
    Module(module::ModuleCommand),
    /// Run seeded Byzantine scenarios through the deterministic simulator.
    Simulate(simulate::SimulateArgs),
    /// Set up a node in one step: a key, a documented config and, with `--genesis`, the
    /// verified genesis it runs under (or, with `--new-genesis`, a new one it founds).
    Init(init::InitArgs),
    /// Create a key file (owner-only permissions) and print its id: a node key or a
    /// client key (named with roles by `spore genesis add-key`).
    Keygen(keygen::KeygenArgs),
    /// Sign a sponsorship of a candidate with a member's node key; prints `ID:SIGNATURE`
    /// for `spore submit --admit ... --sponsorship`.
    Sponsor(client::SponsorArgs),
    /// Build, sign and verify a genesis file.
    #[command(subcommand)]
    Genesis(genesis::GenesisCommand),
    /// Run a node.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Submit an operation to a node and wait for its decision.
    Submit(Box<client::SubmitArgs>),
    /// Show a node's status: slot, view, primary, members, trust, active modules.
    Status(client::StatusArgs),
    /// Show the decided log with certificates.
    Log(client::LogArgs),
    /// Show the trust ledger.
    Trust(client::StatusArgs),
    /// Run a local cluster of real node processes with a mixed workload, one node
    /// misbehaving, a resolver hot swap, and a summary.
    Devnet(devnet::DevnetArgs),
    /// Run a real cluster from a manifest, perturb it on a schedule (kill, restart,
    /// pause, resume, partition, heal, delay, loss) and check liveness after healing,
    /// identical logs on the honest nodes and the trust outcome (tests/e2e/ has examples).
    E2e(e2e::E2eArgs),
    /// Open-loop benchmark of a real cluster on loopback: a light-load step, a rate sweep
    /// to saturation and a step at half of it (decided rate, batch, latency, CPU per
    /// operation), next to a ceiling computed from costs measured in the same run.
    Bench(bench::BenchArgs),
    /// Bring the honest members of a forked cluster back to deciding without the
    /// culprits: status, sign, combine, apply (docs/OPERATIONS.md, "Recovering from a
    /// fork").
    #[command(subcommand)]
    Recover(recover::RecoverCommand),
    /// Compile one module for a node (internal: a node runs it as a bounded child process;
    /// reads the request on stdin, writes the artifact to stdout).
    #[command(hide = true)]
    CompileWorker,
}

/// Parse the command line and run the command; the process exit code comes from the result.
pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Module(cmd) => module::run(cmd),
        Command::Simulate(args) => simulate::run(args),
        Command::Init(args) => init::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Genesis(cmd) => genesis::run(cmd),
        Command::Node(cmd) => node::run(cmd),
        Command::Submit(args) => client::run_submit(*args),
        Command::Sponsor(args) => client::run_sponsor(args),
        Command::Status(args) => client::run_status(args, false),
        Command::Log(args) => client::run_log(args),
        Command::Trust(args) => client::run_status(args, true),
        Command::Devnet(args) => devnet::run(args),
        Command::Bench(args) => bench::bench(args),
        Command::E2e(args) => e2e::run(args),
        Command::Recover(cmd) => recover::run(cmd),
        Command::CompileWorker => Ok(crate::modules::compile::run_worker()),
    }
}
