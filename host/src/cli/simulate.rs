//! `spore simulate`: run seeded Byzantine scenarios through the deterministic simulator.
//!
//! Each scenario is a pure function of its parameters and seed; scenario `i` uses seed
//! `--seed + i`. Every scenario is run twice and the two trace hashes are compared, then the
//! invariants (agreement, validity, liveness after healing, honest nodes never slashed under
//! synchrony, detected misbehaviour slashed) are checked. Any failure prints its seed and the
//! exact command that replays it, and the process exits non-zero.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use spore_core::sim::{Behaviour, Scenario, check_scenario};

/// Arguments of `spore simulate`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  spore simulate --nodes 4 --byzantine 1 --behaviour equivocator --seeds 100
  spore simulate --nodes 7 --byzantine 2 --behaviour mixed --seeds 500 --drop 0.1
  spore simulate --nodes 10 --byzantine 3 --behaviour twins --seeds 50 --partition
  spore simulate --nodes 7 --byzantine 2 --behaviour mixed --seeds 1 --seed 1234 --drop 0.1   # replay one run

Behaviours: silent, wrong-result, equivocator, bad-reveal, copycat, replayer, forger,
conflicting-proposer, twins; the governance attackers forged-exclusion, sybil-flood,
anonymous-governor, evidence-replayer, op-replayer; the primary's attackers
omitting-primary, steering-primary, late-copycat, censor; mixed (each Byzantine node picks
one of all these by seed), honest (no faults).

forker (a coalition of MORE than f, e.g. --nodes 4 --byzantine 2) forks the log on
purpose: a run passes when every honest node detects the fork and halts with a proof
naming at least f + 1 culprits, all in the coalition.")]
pub struct SimulateArgs {
    /// Number of nodes in the cluster (n >= 3f + 1).
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Number of Byzantine nodes f.
    #[arg(long, default_value_t = 1)]
    pub byzantine: usize,
    /// Byzantine behaviour: a name from the list below, or `mixed`.
    #[arg(long, default_value = "mixed")]
    pub behaviour: String,
    /// Number of seeded scenarios to run.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// Seed of the first scenario (scenario i uses seed + i).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Probability in 0..=1 that a message is lost before the network stabilises.
    #[arg(long, default_value_t = 0.0)]
    pub drop: f64,
    /// Split the cluster in two for a while before the network stabilises, then heal.
    #[arg(long)]
    pub partition: bool,
    /// Operations submitted per scenario (mixed kinds, every mechanism).
    #[arg(long, default_value_t = 24)]
    pub operations: usize,
    /// Largest batch the primary proposes per slot.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl SimulateArgs {
    /// The scenario for one seed.
    fn scenario(&self, behaviour: Behaviour, seed: u64) -> anyhow::Result<Scenario> {
        let drop_ppm = spore_core::sim::network::Network::ppm_from_fraction(self.drop)
            .with_context(|| format!("--drop must be within 0..=1, got {}", self.drop))?;
        Ok(Scenario {
            nodes: self.nodes,
            byzantine: self.byzantine,
            behaviour,
            seed,
            drop_ppm,
            partition: self.partition,
            operations: self.operations,
            max_batch: self.batch,
            ..Scenario::default()
        })
    }

    /// The command line that replays the scenario with `seed`.
    fn replay_command(&self, seed: u64) -> String {
        let mut cmd = format!(
            "spore simulate --nodes {} --byzantine {} --behaviour {} --seeds 1 --seed {seed} --operations {} --batch {}",
            self.nodes, self.byzantine, self.behaviour, self.operations, self.batch
        );
        if self.drop > 0.0 {
            cmd.push_str(&format!(" --drop {}", self.drop));
        }
        if self.partition {
            cmd.push_str(" --partition");
        }
        cmd
    }
}

/// Run the simulator.
pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let behaviour: Behaviour = args.behaviour.parse().map_err(anyhow::Error::msg)?;
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if behaviour != Behaviour::Forker && args.nodes < 3 * args.byzantine + 1 {
        bail!(
            "--byzantine {} is too many for --nodes {}: BFT needs n >= 3f + 1",
            args.byzantine,
            args.nodes
        );
    }
    // Validate the shared parameters once, before the first run.
    args.scenario(behaviour, args.seed)?
        .validate()
        .map_err(anyhow::Error::msg)?;

    let mut totals = Totals::default();
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    for i in 0..args.seeds {
        let seed = args.seed.wrapping_add(i);
        let scenario = args.scenario(behaviour, seed)?;
        // Each scenario runs twice: a differing trace hash is itself a violation.
        let report = check_scenario(&scenario);
        totals.runs += 1;
        totals.decided_slots += report.decided_slots;
        totals.decided_ops += report.decided_ops;
        totals.escalated += report.escalated_ops;
        for (reason, count) in &report.escalation_reasons {
            *totals.reasons.entry(reason.clone()).or_default() += count;
        }
        totals.safety += report.safety_violations();
        totals.liveness += report.liveness_failures();
        totals.slashed_honest += report.slashed_honest.len() as u64;
        totals.other += report.other_violations();
        let failed = if behaviour == Behaviour::Forker {
            // Beyond f, safety is lost by design: what must hold is that every honest node
            // detects the fork and names at least f + 1 culprits, all in the coalition.
            let forked = report.safety_violations() > 0;
            totals.forks += u64::from(forked);
            let f = (args.nodes.saturating_sub(1)) / 3;
            let coalition: Vec<_> = report.byzantine.iter().map(|(id, _)| *id).collect();
            let not_recovered = report
                .violations
                .iter()
                .any(|v| matches!(v, spore_core::sim::Violation::NotRecovered { .. }));
            totals.recovered += u64::from(forked && !not_recovered && report.recovered.is_some());
            forked
                && (report.forks.len() < report.nodes.len()
                    || not_recovered
                    || report
                        .forks
                        .values()
                        .any(|c| c.len() <= f || c.iter().any(|id| !coalition.contains(id))))
        } else {
            !report.violations.is_empty()
        };
        if failed {
            failures.push((seed, report));
        }
        if !args.quiet {
            progress(i + 1, args.seeds, failures.len());
        }
    }
    if !args.quiet {
        eprintln!();
    }
    let elapsed = started.elapsed();

    println!(
        "simulate: n={} f={} behaviour={} drop={} partition={} seeds {}..{}",
        args.nodes,
        args.byzantine,
        args.behaviour,
        args.drop,
        args.partition,
        args.seed,
        args.seed.wrapping_add(args.seeds)
    );
    println!("  runs                     {}", totals.runs);
    println!("  decided slots            {}", totals.decided_slots);
    println!("  decided operations       {}", totals.decided_ops);
    println!("  escalated operations     {}", totals.escalated);
    let mut reasons: Vec<(&String, &u64)> = totals.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (reason, count) in reasons.iter().take(6) {
        println!("    {count:>8}  {reason}");
    }
    println!("  safety violations        {}", totals.safety);
    println!("  liveness failures        {}", totals.liveness);
    println!("  slashed honest nodes     {}", totals.slashed_honest);
    println!("  other violations         {}", totals.other);
    if behaviour == Behaviour::Forker {
        println!(
            "  forked runs              {} (each must be detected by every honest node)",
            totals.forks
        );
        println!(
            "  recovered runs           {} (the honest nodes decided again from a checkpoint)",
            totals.recovered
        );
    }
    println!("  wall time                {:.2}s", elapsed.as_secs_f64());
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    println!("\n{} failing run(s):", failures.len());
    for (seed, report) in &failures {
        println!("- seed {seed} (byzantine: {:?}):", report.byzantine);
        for v in &report.violations {
            println!("    {v}");
        }
        for n in &report.nodes {
            println!("    {n}");
        }
        println!("  replay: {}", args.replay_command(*seed));
    }
    Ok(ExitCode::FAILURE)
}

/// Sums over every run.
#[derive(Debug, Default)]
struct Totals {
    runs: u64,
    decided_slots: u64,
    decided_ops: u64,
    escalated: u64,
    reasons: std::collections::BTreeMap<String, u64>,
    safety: u64,
    liveness: u64,
    slashed_honest: u64,
    other: u64,
    forks: u64,
    recovered: u64,
}

/// Redraw the progress bar on stderr; when stderr is not a terminal (a log file, CI),
/// one plain line per tenth of the runs instead.
fn progress(done: u64, total: u64, failed: usize) {
    use std::io::IsTerminal;
    const WIDTH: u64 = 40;
    let mut err = std::io::stderr().lock();
    // A failed progress write is harmless; the summary goes to stdout.
    if !err.is_terminal() {
        let step = (total / 10).max(1);
        if done.is_multiple_of(step) || done == total {
            let _ = writeln!(err, "{done}/{total} runs, {failed} failing");
        }
        return;
    }
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '.' })
        .collect();
    let _ = write!(err, "\r[{bar}] {done}/{total} runs, {failed} failing");
    let _ = err.flush();
}
