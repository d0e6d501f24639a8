//! `spore bench`: an open-loop benchmark of a real cluster on loopback.
//!
//! # Design
//! Clients submit at a fixed offered rate whatever the cluster does (open loop: each
//! operation is its own task that submits and waits for the decision, at most
//! [`MAX_IN_FLIGHT`] at a time), for a fixed time per step. A light-load step comes first,
//! then a sweep that doubles the offered rate until the decided rate stops following it
//! (saturation), then a step at half of saturation. Each step reports the offered and
//! decided rates, the slots and the mean batch, latency percentiles, and the CPU each node
//! process spent per decided operation (from `/proc/<pid>/stat`).
//!
//! The ceiling is computed in the same run from costs measured on this machine: one
//! validator call and one check of the operation's signature inside a batch of 32 per
//! operation, and one signature check, one signature and one durable write with its sync,
//! charged per operation as a slot spreads them over its batch (a node checks about four
//! votes per member per slot and signs four; it makes about ten durable writes per slot). `ratio` is the saturated decided rate over that ceiling. Everything also goes to
//! a JSON file for plotting (`--json`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;
use spore_core::crypto::sha256;
use spore_core::ops::Operation;

use super::client::submit;
use super::devnet::load_op;
use crate::node::cluster::Cluster;
use crate::node::phase_clock::PHASES;

/// Most operations waiting for their decision at once (beyond it the generator counts
/// the operation as not offered: the step reports what it could offer).
pub const MAX_IN_FLIGHT: u64 = 8_192;

/// Client connections the bench opens to each honest node (each carries at most
/// `MAX_CLIENT_STREAMS` requests at once; a node serves 256 connections).
pub const CONNECTIONS_PER_NODE: usize = 64;

/// Slots of durable writes per decided slot (votes, entry, state): the ceiling's estimate.
const WRITES_PER_SLOT: u32 = 10;

/// The workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Compute operations only (one mechanism).
    Single,
    /// Compute, resource allocation, maintenance and performance operations in turn
    /// (Full BFT and authority paths).
    Mixed,
}

/// Arguments of `spore bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Misbehaving nodes (they report wrong results: outvoted, slashed, excluded).
    #[arg(long, default_value_t = 0)]
    pub byzantine: usize,
    /// The workload.
    #[arg(long, value_enum, default_value = "mixed")]
    pub workload: Workload,
    /// Seconds per step.
    #[arg(long, default_value_t = 5)]
    pub step_secs: u64,
    /// Offered rate of the light-load step (operations/s).
    #[arg(long, default_value_t = 20)]
    pub light_rate: u64,
    /// First offered rate of the sweep (operations/s); doubled each step.
    #[arg(long, default_value_t = 100)]
    pub start_rate: u64,
    /// Highest offered rate the sweep tries.
    #[arg(long, default_value_t = 51_200)]
    pub max_rate: u64,
    /// Write every figure to this JSON file as well.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an HTML report with plots (decided against offered rate, latency against
    /// offered rate, the degradation curve with `--curve`) into this folder (index.html).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// The degradation curve: run the whole bench once for every number of misbehaving
    /// nodes from 0 to `--byzantine` (a fresh cluster each) and print throughput and
    /// latency against it.
    #[arg(long)]
    pub curve: bool,
    /// Set a replicated parameter of the bench cluster's genesis, e.g.
    /// `--param timing.max-output-bytes=4096` (repeatable; ranges in docs/TRUST.md), to
    /// measure what a setting costs or buys.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, i64)>,
    /// Async runtime threads of each node process (the node setting `threads`; 0: one
    /// worker per core). The cluster's default is 1: with every node on one machine, one
    /// thread per node spares the cross-thread wake-ups.
    #[arg(long, default_value_t = 1)]
    pub node_threads: usize,
}

/// `KEY=VALUE` with an integer value.
fn parse_param(s: &str) -> Result<(String, i64), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))?;
    let value = value
        .trim()
        .parse::<i64>()
        .map_err(|e| format!("{s:?}: the value is not an integer: {e}"))?;
    Ok((key.trim().to_owned(), value))
}

/// One step of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What the step is: `light`, `sweep`, `half`.
    pub kind: &'static str,
    /// Offered rate (operations/s) the generator aimed at.
    pub target_rate: u64,
    /// Operations offered per second (submitted).
    pub offered: f64,
    /// Operations decided per second.
    pub decided: f64,
    /// Operations decided in the step.
    pub decided_ops: u64,
    /// Operations that failed or were not decided within the timeout.
    pub failed: u64,
    /// Slots decided during the step.
    pub slots: u64,
    /// Decided operations per slot.
    pub mean_batch: f64,
    /// Latency percentiles (ms): submit to decision.
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// CPU microseconds per decided operation, per node (all node processes together
    /// divided by the node count).
    pub cpu_us_per_op_per_node: f64,
    /// What the nodes' metrics endpoints counted during the step (all nodes together).
    pub profile: Profile,
}

/// Work the nodes report on their metrics endpoints, summed over nodes: the difference
/// between the end and the start of a step.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Profile {
    /// Seconds spent in module calls.
    pub module_seconds: f64,
    /// Seconds spent in durable commits (with their sync).
    pub commit_seconds: f64,
    /// Durable commits.
    pub commits: f64,
    /// Signatures checked in full.
    pub checks: f64,
    /// Signature checks answered from the cache.
    pub cached_checks: f64,
    /// Signatures confirmed ahead in batch checks.
    pub batched_checks: f64,
    /// Signatures made.
    pub signatures: f64,
    /// Seconds from seeing a slot's proposal to each phase of
    /// [`crate::node::phase_clock::PHASES`], summed, and how many were measured.
    pub phase_seconds: [f64; 6],
    /// Phases measured, as [`Self::phase_seconds`].
    pub phase_counts: [f64; 6],
}

impl Profile {
    /// Sum the metrics of every node that answers.
    async fn scrape(cluster: &Cluster) -> Profile {
        use crate::node::http::{get, metric_sum};
        let mut p = Profile::default();
        for n in &cluster.nodes {
            let Ok((200, text)) = get(n.metrics_addr, "/metrics").await else {
                continue;
            };
            p.module_seconds += metric_sum(&text, "spore_module_call_seconds_sum");
            p.commit_seconds += metric_sum(&text, "spore_store_commit_seconds_sum");
            p.commits += metric_sum(&text, "spore_store_commit_seconds_count");
            p.checks += metric_sum(&text, "spore_signatures_checked_total");
            p.cached_checks += metric_sum(&text, "spore_signatures_cached_total");
            p.batched_checks += metric_sum(&text, "spore_signatures_batched_total");
            p.signatures += metric_sum(&text, "spore_signatures_made_total");
            for (i, phase) in PHASES.iter().enumerate() {
                let series =
                    |part: &str| format!("spore_phase_seconds_{part}{{phase=\"{phase}\"}}");
                p.phase_seconds[i] += metric_sum(&text, &series("sum"));
                p.phase_counts[i] += metric_sum(&text, &series("count"));
            }
        }
        p
    }

    /// The mean time to each phase measured, in ms (phases never measured left out).
    fn phases_ms(&self) -> Vec<(&'static str, f64)> {
        PHASES
            .iter()
            .zip(self.phase_seconds.iter().zip(&self.phase_counts))
            .filter(|(_, (_, n))| **n > 0.0)
            .map(|(p, (s, n))| (*p, s / n * 1e3))
            .collect()
    }

    fn minus(self, o: Profile) -> Profile {
        Profile {
            module_seconds: self.module_seconds - o.module_seconds,
            commit_seconds: self.commit_seconds - o.commit_seconds,
            commits: self.commits - o.commits,
            checks: self.checks - o.checks,
            cached_checks: self.cached_checks - o.cached_checks,
            batched_checks: self.batched_checks - o.batched_checks,
            signatures: self.signatures - o.signatures,
            phase_seconds: std::array::from_fn(|i| self.phase_seconds[i] - o.phase_seconds[i]),
            phase_counts: std::array::from_fn(|i| self.phase_counts[i] - o.phase_counts[i]),
        }
    }
}

/// The costs measured in this run and the ceiling made of them.
#[derive(Debug, Clone, Serialize)]
pub struct Costs {
    /// One validator module call (us).
    pub module_call_us: f64,
    /// One signature check (us).
    pub verify_us: f64,
    /// One signature checked inside a batch of 32 (us).
    pub batch_verify_us: f64,
    /// One signature (us).
    pub sign_us: f64,
    /// One durable write with its sync (us).
    pub durable_write_us: f64,
    /// Signatures a node checks per slot.
    pub verifies_per_slot: u32,
    /// Signatures a node makes per slot.
    pub signs_per_slot: u32,
    /// Durable writes per slot.
    pub writes_per_slot: u32,
    /// Mean batch the ceiling assumes (the saturated step's).
    pub batch: f64,
    /// CPU per operation per node the ceiling charges (us).
    pub per_op_us: f64,
    /// Operations/s one node could decide at that cost on one core.
    pub ceiling: f64,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Nodes.
    pub nodes: usize,
    /// Misbehaving nodes.
    pub byzantine: usize,
    /// Workload.
    pub workload: Workload,
    /// Every step in order.
    pub steps: Vec<Step>,
    /// The highest decided rate of the sweep.
    pub saturation: f64,
    /// The measured costs and the ceiling.
    pub costs: Costs,
    /// `saturation / costs.ceiling`.
    pub ratio: f64,
}

/// Run `spore bench`.
pub fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.nodes >= 1, "need at least one node");
    anyhow::ensure!(
        args.nodes > 3 * args.byzantine,
        "--byzantine {} needs at least {} nodes",
        args.byzantine,
        3 * args.byzantine + 1
    );
    anyhow::ensure!(args.step_secs >= 1, "--step-secs must be at least 1");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_all(args))
}

/// One bench run, or the degradation curve of several.
async fn run_all(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let faults: Vec<usize> = if args.curve {
        (0..=args.byzantine).collect()
    } else {
        vec![args.byzantine]
    };
    let mut results = Vec::new();
    for f in faults {
        results.push(run(&args, f).await?);
        println!();
    }
    if args.curve {
        println!(
            "degradation ({} nodes, {:?} workload): misbehaving nodes against throughput and latency",
            args.nodes, args.workload
        );
        println!(
            "  {:>2}  {:>12}  {:>10}  {:>14}  {:>14}",
            "f", "saturation/s", "vs f = 0", "light p50/p99", "half p50/p99"
        );
        let base = results.first().map_or(1.0, |r| r.saturation.max(1e-9));
        for r in &results {
            let (light, half) = (r.steps.first(), r.steps.last());
            println!(
                "  {:>2}  {:>12.1}  {:>9.0}%  {:>6.1}/{:>5.1} ms  {:>6.1}/{:>5.1} ms",
                r.byzantine,
                r.saturation,
                100.0 * r.saturation / base,
                light.map_or(0.0, |s| s.p50_ms),
                light.map_or(0.0, |s| s.p99_ms),
                half.map_or(0.0, |s| s.p50_ms),
                half.map_or(0.0, |s| s.p99_ms),
            );
        }
    }
    if let Some(path) = &args.json {
        let text = if args.curve {
            serde_json::to_string_pretty(&results)?
        } else {
            serde_json::to_string_pretty(&results.first())?
        };
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    if let Some(dir) = &args.report {
        let page = write_report(dir, &args, &results)?;
        println!("report: {}", page.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The bench's HTML report (cli/report.rs).
fn write_report(
    dir: &std::path::Path,
    args: &BenchArgs,
    results: &[BenchResult],
) -> anyhow::Result<PathBuf> {
    use super::report::{Report, Section, Series};
    let mut report = Report::new(
        "Spore bench report",
        format!(
            "{} nodes, {:?} workload, {} s steps: open-loop rate sweep of a real loopback cluster",
            args.nodes, args.workload, args.step_secs
        ),
    );
    for r in results {
        let c = &r.costs;
        report.push(Section::Figures(
            format!("{} misbehaving", r.byzantine),
            vec![
                (
                    "saturation".into(),
                    format!("{:.0} decided ops/s", r.saturation),
                ),
                (
                    "in-run ceiling".into(),
                    format!("{:.0} ops/s (ratio {:.2})", c.ceiling, r.ratio),
                ),
                ("mean batch at saturation".into(), format!("{:.1}", c.batch)),
                ("module call".into(), format!("{:.1} us", c.module_call_us)),
                (
                    "signature check / signature".into(),
                    format!("{:.1} / {:.1} us", c.verify_us, c.sign_us),
                ),
                (
                    "durable write".into(),
                    format!("{:.0} us", c.durable_write_us),
                ),
            ],
        ));
    }
    let sweep = |r: &BenchResult, f: fn(&Step) -> f64| -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = r.steps.iter().map(|s| (s.offered, f(s))).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    };
    let mut decided: Vec<Series> = results
        .iter()
        .map(|r| Series {
            label: format!("decided, f = {}", r.byzantine),
            points: sweep(r, |s| s.decided),
        })
        .collect();
    let top = results
        .iter()
        .flat_map(|r| r.steps.iter().map(|s| s.offered))
        .fold(0.0f64, f64::max);
    decided.push(Series {
        label: "offered (ideal)".into(),
        points: vec![(0.0, 0.0), (top, top)],
    });
    report.push(Section::Lines {
        title: "Decided against offered rate".into(),
        x: "offered operations/s".into(),
        y: "decided operations/s".into(),
        series: decided,
    });
    let mut latency = Vec::new();
    for r in results {
        latency.push(Series {
            label: format!("p50, f = {}", r.byzantine),
            points: sweep(r, |s| s.p50_ms),
        });
        latency.push(Series {
            label: format!("p99, f = {}", r.byzantine),
            points: sweep(r, |s| s.p99_ms),
        });
    }
    report.push(Section::Lines {
        title: "Latency against offered rate".into(),
        x: "offered operations/s".into(),
        y: "milliseconds (submit to decision)".into(),
        series: latency,
    });
    if results.len() > 1 {
        report.push(Section::Lines {
            title: "Degradation: saturation against misbehaving nodes".into(),
            x: "misbehaving nodes".into(),
            y: "decided operations/s".into(),
            series: vec![Series {
                label: "saturation".into(),
                points: results
                    .iter()
                    .map(|r| (r.byzantine as f64, r.saturation))
                    .collect(),
            }],
        });
    }
    let header = [
        "f",
        "step",
        "target/s",
        "offered/s",
        "decided/s",
        "slots",
        "batch",
        "p50 ms",
        "p99 ms",
        "CPU us/op/node",
    ];
    let rows = results
        .iter()
        .flat_map(|r| {
            r.steps.iter().map(move |s| {
                vec![
                    r.byzantine.to_string(),
                    s.kind.to_owned(),
                    s.target_rate.to_string(),
                    format!("{:.0}", s.offered),
                    format!("{:.0}", s.decided),
                    s.slots.to_string(),
                    format!("{:.1}", s.mean_batch),
                    format!("{:.1}", s.p50_ms),
                    format!("{:.1}", s.p99_ms),
                    format!("{:.0}", s.cpu_us_per_op_per_node),
                ]
            })
        })
        .collect();
    report.push(Section::Table(
        "Every step".into(),
        header.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    ));
    report.write(dir)
}

fn operation(workload: Workload, i: usize) -> Operation {
    match workload {
        Workload::Single => load_op(4 * i),
        Workload::Mixed => load_op(i),
    }
}

/// CPU time (utime + stime) of a process, in microseconds.
fn cpu_us(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let total = ticks(11) + ticks(12);
    // Clock ticks are 100 per second on Linux.
    total * 10_000
}

fn percentile_ms(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// One run with `byzantine` misbehaving nodes: a fresh cluster, the steps, the costs.
async fn run(args: &BenchArgs, byzantine: usize) -> anyhow::Result<BenchResult> {
    let dir = std::env::temp_dir().join(format!("spore-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let binary = std::env::current_exe().context("locating the spore binary")?;
    let misbehaving: Vec<usize> = (args.nodes - byzantine..args.nodes).collect();
    let mut cluster = Cluster::create_with(
        &dir,
        &binary,
        args.nodes,
        &misbehaving,
        "bench",
        &args.params,
    )?;
    cluster.log = "warn".to_owned();
    cluster.set_threads(args.node_threads)?;
    cluster.start_all()?;
    let starting = super::progress::spinner(format!("starting {} nodes", args.nodes));
    for i in 0..args.nodes {
        cluster
            .wait_ready(i, Duration::from_secs(180))
            .await
            .with_context(|| cluster.log_tail(i, 20))?;
    }
    starting.finish_and_clear();
    let genesis = crate::cli::genesis::load(&dir.join("genesis.json"))?;
    let cluster = Arc::new(cluster);
    let honest: Vec<usize> = (0..args.nodes - byzantine).collect();
    // Enough connections that the requests in flight never cap the offered rate: a node
    // serves MAX_CLIENT_STREAMS requests per connection at once, and each waits for its
    // decision (a closed loop of 8 per connection would cut batches to what 8 x nodes
    // clients keep in flight).
    let per_node = CONNECTIONS_PER_NODE;
    let mut clients = Vec::new();
    for _ in 0..per_node {
        for i in &honest {
            clients.push(Arc::new(cluster.client(*i).await?));
        }
    }
    println!(
        "bench: {} nodes ({} misbehaving) on loopback, {:?} workload, {} s per step{}",
        args.nodes,
        byzantine,
        args.workload,
        args.step_secs,
        args.params
            .iter()
            .map(|(k, v)| format!(", {k} = {v}"))
            .collect::<String>()
    );
    let next = Arc::new(AtomicU64::new(0));
    let mut steps = Vec::new();
    let step = |kind: &'static str, rate: u64| {
        let (cluster, clients, next) = (cluster.clone(), clients.clone(), next.clone());
        let pids: Vec<u32> = (0..args.nodes).filter_map(|i| cluster.pid(i)).collect();
        let (secs, workload, nodes) = (args.step_secs, args.workload, args.nodes);
        async move {
            run_step(
                kind, rate, secs, workload, nodes, &cluster, &clients, &next, &pids,
            )
            .await
        }
    };
    let light = step("light", args.light_rate).await?;
    print_step(&light);
    let phases = light.profile.phases_ms();
    if !phases.is_empty() {
        println!(
            "  phases at light load, mean ms from a node's first sight of the proposal: {} (the rest of p50: submission, forwarding to the primary, the answer)",
            phases
                .iter()
                .map(|(p, ms)| format!("{p} {ms:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    steps.push(light);
    let mut rate = args.start_rate.max(1);
    let mut saturation: Option<Step> = None;
    while rate <= args.max_rate {
        let s = step("sweep", rate).await?;
        print_step(&s);
        let saturated = s.decided < 0.8 * s.offered || s.failed > 0;
        if saturation
            .as_ref()
            .is_none_or(|best| s.decided > best.decided)
        {
            saturation = Some(s.clone());
        }
        steps.push(s);
        if saturated {
            break;
        }
        rate = rate.saturating_mul(2);
    }
    let sat = saturation.context("the sweep ran no step")?;
    let half_rate = ((sat.decided / 2.0) as u64).max(1);
    let half = step("half", half_rate).await?;
    print_step(&half);
    steps.push(half);
    for c in clients {
        if let Ok(c) = Arc::try_unwrap(c) {
            c.close().await;
        }
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);

    let costs = measure_costs(&genesis, args.nodes, sat.mean_batch.max(1.0))?;
    let ratio = sat.decided / costs.ceiling.max(1e-9);
    println!(
        "costs:    validator call {:.1} us, signature check {:.1} us alone or {:.1} us in a batch of 32, signature {:.1} us, durable write {:.1} us",
        costs.module_call_us,
        costs.verify_us,
        costs.batch_verify_us,
        costs.sign_us,
        costs.durable_write_us
    );
    println!(
        "ceiling:  {:.0} operations/s: per operation and node {:.1} us = call + its signature checked in a batch + ({} checks + {} signatures + {} writes) per slot / batch {:.1}",
        costs.ceiling,
        costs.per_op_us,
        costs.verifies_per_slot,
        costs.signs_per_slot,
        costs.writes_per_slot,
        costs.batch
    );
    println!(
        "result:   saturation {:.1} decided operations/s; light load p50 {:.1} ms p99 {:.1} ms; half of saturation p50 {:.1} ms p99 {:.1} ms",
        sat.decided,
        steps[0].p50_ms,
        steps[0].p99_ms,
        steps[steps.len() - 1].p50_ms,
        steps[steps.len() - 1].p99_ms
    );
    println!("ratio:    saturation / ceiling = {ratio:.3}");
    print_breakdown(&sat, &costs, args.nodes);
    Ok(BenchResult {
        nodes: args.nodes,
        byzantine,
        workload: args.workload,
        steps,
        saturation: sat.decided,
        costs,
        ratio,
    })
}

/// Where a node's CPU went at saturation, per decided operation: what its metrics
/// endpoint measured (module call time) or counted (signatures, priced at the costs
/// measured in this run), the rest by difference; and the durable commits beside it
/// (their time is mostly waiting for the disk, not CPU).
fn print_breakdown(sat: &Step, costs: &Costs, nodes: usize) {
    let ops = sat.decided_ops as f64;
    if ops <= 0.0 {
        return;
    }
    let per = |v: f64| v / ops / nodes as f64;
    let p = &sat.profile;
    let module = per(p.module_seconds) * 1e6;
    let checks = per(p.checks) * costs.verify_us + per(p.batched_checks) * costs.batch_verify_us;
    let signs = per(p.signatures) * costs.sign_us;
    let rest = (sat.cpu_us_per_op_per_node - module - checks - signs).max(0.0);
    println!(
        "cpu:      at saturation, per operation and node {:.1} us = module calls {module:.1} + signature checks {checks:.1} ({:.2} alone, {:.2} in batches, {:.2} cached) + signatures {signs:.1} ({:.2}) + the rest {rest:.1} (network, encoding, hashing, consensus logic, store)",
        sat.cpu_us_per_op_per_node,
        per(p.checks),
        per(p.batched_checks),
        per(p.cached_checks),
        per(p.signatures),
    );
    if p.commits > 0.0 {
        println!(
            "store:    {:.2} durable commits per operation and node, {:.2} ms each on average ({:.1} us of commit time per operation and node)",
            per(p.commits),
            p.commit_seconds / p.commits * 1e3,
            per(p.commit_seconds) * 1e6
        );
    }
}

fn print_step(s: &Step) {
    println!(
        "  {:<6} offered {:>8.1}/s  decided {:>8.1}/s  failed {:>5}  slots {:>5}  batch {:>6.1}  p50 {:>8.1} ms  p99 {:>8.1} ms  cpu {:>8.1} us/op/node",
        s.kind,
        s.offered,
        s.decided,
        s.failed,
        s.slots,
        s.mean_batch,
        s.p50_ms,
        s.p99_ms,
        s.cpu_us_per_op_per_node
    );
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    kind: &'static str,
    rate: u64,
    secs: u64,
    workload: Workload,
    nodes: usize,
    cluster: &Arc<Cluster>,
    clients: &[Arc<crate::node::client::Client>],
    next: &Arc<AtomicU64>,
    pids: &[u32],
) -> anyhow::Result<Step> {
    let slot0 = cluster.status(0).await?.slot;
    let profile0 = Profile::scrape(cluster).await;
    let cpu0: u64 = pids.iter().map(|p| cpu_us(*p)).sum();
    let in_flight = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let duration = Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut offered = 0u64;
    let mut tick = tokio::time::interval(interval.max(Duration::from_micros(20)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let per_tick = if interval < Duration::from_micros(20) {
        (Duration::from_micros(20).as_secs_f64() / interval.as_secs_f64()).ceil() as u64
    } else {
        1
    };
    let bar = super::progress::bar(secs, format!("{kind} step at {rate}/s"));
    while started.elapsed() < duration {
        tick.tick().await;
        bar.set_position(started.elapsed().as_secs().min(secs));
        for _ in 0..per_tick {
            if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                continue;
            }
            let i = next.fetch_add(1, Ordering::Relaxed) as usize;
            let op = cluster.sign(operation(workload, 10_000 + i), 0);
            let client = clients[i % clients.len()].clone();
            let in_flight = in_flight.clone();
            in_flight.fetch_add(1, Ordering::Relaxed);
            offered += 1;
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let r = submit(&client, op, Some(Duration::from_secs(30))).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
                match r {
                    Ok((_, Some(_))) => Some((t.elapsed(), Instant::now())),
                    _ => None,
                }
            }));
        }
    }
    let offered_secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut lat = Vec::new();
    let mut failed = 0u64;
    let mut last = started;
    for t in tasks {
        match t.await {
            Ok(Some((l, at))) => {
                lat.push(l);
                last = last.max(at);
            }
            _ => failed += 1,
        }
    }
    let span = last.duration_since(started).as_secs_f64().max(offered_secs);
    let cpu1: u64 = pids.iter().map(|p| cpu_us(*p)).sum();
    let profile = Profile::scrape(cluster).await.minus(profile0);
    let slot1 = cluster.status(0).await?.slot;
    lat.sort();
    let decided = lat.len() as u64;
    let slots = slot1.saturating_sub(slot0);
    Ok(Step {
        kind,
        target_rate: rate,
        offered: offered as f64 / offered_secs,
        decided: decided as f64 / span,
        decided_ops: decided,
        failed,
        slots,
        mean_batch: if slots == 0 {
            0.0
        } else {
            decided as f64 / slots as f64
        },
        p50_ms: percentile_ms(&lat, 50),
        p99_ms: percentile_ms(&lat, 99),
        cpu_us_per_op_per_node: if decided == 0 {
            0.0
        } else {
            cpu1.saturating_sub(cpu0) as f64 / decided as f64 / nodes as f64
        },
        profile,
    })
}

/// Measure one validator call, one signature check and one signature, and one durable
/// write with its sync, on this machine now; the ceiling charges them per operation as a
/// slot of `batch` operations spreads them.
fn measure_costs(
    genesis: &spore_core::genesis::Genesis,
    nodes: usize,
    batch: f64,
) -> anyhow::Result<Costs> {
    let state = spore_core::state::ReplicatedState::from_genesis(genesis)?;
    let snapshot = crate::node::calls::snapshot(&state, 0);
    let runtime = crate::modules::Runtime::new(crate::modules::RuntimeConfig::default())?;
    let module = runtime.load(
        crate::modules::Role::Validator,
        spore_artifacts::DEFAULT_VALIDATOR.bytes,
    )?;
    runtime.activate(crate::modules::Role::Validator, module.hash())?;
    let slot_modules = crate::node::calls::SlotModules {
        validator: module.hash(),
        admission: module.hash(),
        resolver: module.hash(),
        fallback: None,
    };
    let ops: Vec<Operation> = (0..400).map(|i| load_op(20_000 + i)).collect();
    let t = Instant::now();
    for (i, op) in ops.iter().enumerate() {
        let ctx = spore_core::consensus::CallContext::new(i as u64, 0, op);
        let _ = crate::node::calls::validate(
            &runtime,
            op,
            &ctx,
            &snapshot,
            &|_| None,
            &slot_modules,
            None,
        );
    }
    let module_call_us = t.elapsed().as_secs_f64() * 1e6 / ops.len() as f64;
    let key = spore_core::crypto::Keypair::from_seed([3; 32]);
    let confirm = |slot| spore_core::consensus::Confirm {
        slot,
        view: 0,
        value: sha256(b"bench"),
    };
    let n = 2_000u64;
    let t = Instant::now();
    let votes: Vec<_> = (0..n)
        .map(|s| spore_core::crypto::Signed::new(confirm(s), &key))
        .collect();
    let sign_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    // The full check, never the cache of verified signatures (an earlier run in this
    // process checked the same votes).
    spore_core::crypto::set_verify_caching(false);
    let t = Instant::now();
    let checked: Result<(), _> = votes.iter().try_for_each(|v| v.verify());
    let verify_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    spore_core::crypto::set_verify_caching(true);
    checked?;
    // Votes' signatures in batches of 32, as the node checks what has arrived; under a
    // key of this run only, so none is remembered yet (a `--curve` measures again).
    let mut seed = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
    let fresh = spore_core::crypto::Keypair::from_seed(seed);
    let claims: Vec<_> = (0..n)
        .map(|s| spore_core::crypto::Signed::new(confirm(s), &fresh).claim())
        .collect();
    let mut rng = rand_core::OsRng;
    let t = Instant::now();
    let confirmed: usize = claims
        .chunks(32)
        .map(|part| spore_core::crypto::verify_batch(part, &mut rng))
        .sum();
    let batch_verify_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    anyhow::ensure!(
        confirmed == claims.len(),
        "batch check confirmed {confirmed} of {}",
        claims.len()
    );
    let dir = tempfile_dir()?;
    let store = crate::store::Store::open(
        dir.join("bench.redb"),
        spore_core::crypto::Keypair::from_seed([4; 32]).id(),
    )?;
    let writes = 200u64;
    let t = Instant::now();
    for s in 0..writes {
        store.put_decided(s, &[7u8; 512])?;
    }
    let durable_write_us = t.elapsed().as_secs_f64() * 1e6 / writes as f64;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    // Per slot a node checks the proposal, the commit set, the tally and about four votes
    // per member (commit, reveal, accept, confirm); it signs its four and, as primary, a
    // share of the proposal, commit set and tally.
    let verifies_per_slot = 4 * nodes as u32 + 3;
    let signs_per_slot = 5;
    let per_op_us = module_call_us
        + batch_verify_us
        + (f64::from(verifies_per_slot) * verify_us
            + f64::from(signs_per_slot) * sign_us
            + f64::from(WRITES_PER_SLOT) * durable_write_us)
            / batch;
    Ok(Costs {
        module_call_us,
        verify_us,
        batch_verify_us,
        sign_us,
        durable_write_us,
        verifies_per_slot,
        signs_per_slot,
        writes_per_slot: WRITES_PER_SLOT,
        batch,
        per_op_us,
        ceiling: 1e6 / per_op_us.max(1e-3),
    })
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("spore-bench-costs-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
