//! `spore devnet`: a local cluster of real node processes on loopback, a mixed workload
//! of every operation kind (among them the admission of a node that then joins as a real
//! process, an exclusion and a resolver hot swap) with one node misbehaving, live
//! progress, and a summary with a verdict; and
//! `spore bench`, the same cluster under load measured against the single-node ceiling.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use spore_core::consensus::Decision;
use spore_core::crypto::sha256;
use spore_core::ops::{
    ComputeTask, ExclusionReason, MaintenanceTask, MaintenanceType, NodeAdmission, NodeExclusion,
    NodeIdentity, Operation, OptimizationType, PerformanceMetric, PerformanceOptimization,
    PriorityLevel, ResourceAllocation, ResourceType, SlotWindow, TrustModification, TrustReason,
};
use spore_core::types::{Hierarchy, NodeId};

use super::client::{Example, SwapRole, describe, example, propose, submit};
use crate::node::cluster::Cluster;
use crate::node::proto::{OpDecision, StatusReport};

/// Arguments of `spore devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Number of misbehaving nodes (they report wrong validator results).
    #[arg(long, default_value_t = 1)]
    pub byzantine: usize,
    /// Operations in the load phase (on top of one of every kind).
    #[arg(long, default_value_t = 40)]
    pub ops: usize,
    /// Directory for keys, genesis, stores and logs (default: a fresh temporary one).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Leave the cluster running after the summary (for `spore status` / `submit`).
    #[arg(long)]
    pub keep_running: bool,
    /// Write an HTML report with plots (trust of every member over slots, throughput
    /// over time, latency distribution, events) into this folder (index.html).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// What the run observed.
#[derive(Default)]
struct Record {
    latencies: Vec<Duration>,
    /// When each decided operation was decided, and its latency.
    decisions: Vec<(Instant, Duration)>,
    decided: usize,
    escalated: usize,
    failures: Vec<String>,
}

impl Record {
    fn note(&mut self, label: &str, started: Instant, r: anyhow::Result<Option<OpDecision>>) {
        match r {
            Ok(Some(d)) => {
                self.latencies.push(started.elapsed());
                self.decisions.push((Instant::now(), started.elapsed()));
                self.decided += 1;
                if matches!(d.decision, Decision::Escalated { .. }) {
                    self.escalated += 1;
                }
                println!("  {label:<26} {}", describe(&d));
            }
            Ok(None) => self.failures.push(format!("{label}: no decision")),
            Err(e) => {
                println!("  {label:<26} FAILED: {e:#}");
                self.failures.push(format!("{label}: {e:#}"));
            }
        }
    }
}

/// Whether a status event is one the summary and the report show: a slashing, an
/// exclusion, an admission or a module swap.
pub(crate) fn notable_event(e: &str) -> bool {
    e.contains("excluded") || e.contains("(-") || e.contains("swapped") || e.contains("admitted")
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len()) - 1;
    sorted[i]
}

pub(crate) fn load_op(i: usize) -> Operation {
    match i % 4 {
        0 => Operation::Compute(ComputeTask {
            kind: "median-price".to_owned(),
            input: {
                // Five (reporter, price) reports of 16 bytes each.
                let mut v = Vec::new();
                for k in 0..5u64 {
                    v.extend_from_slice(&k.to_le_bytes());
                    v.extend_from_slice(&(100_000 + (k * 37) as i64 + i as i64).to_le_bytes());
                }
                v
            },
        }),
        1 => Operation::ResourceAllocation(ResourceAllocation {
            resource: ResourceType::Bandwidth,
            target: format!("svc-{i}"),
            amount: 10 + i as u64,
            priority: PriorityLevel::High,
        }),
        2 => Operation::MaintenanceTask(MaintenanceTask {
            task: MaintenanceType::Compaction,
            components: vec![format!("store-{i}")],
            window: SlotWindow {
                start: 10_000 + i as u64,
                end: 10_100 + i as u64,
            },
        }),
        _ => Operation::PerformanceOptimization(PerformanceOptimization {
            kind: OptimizationType::Batching,
            targets: vec![PerformanceMetric {
                name: "p99_latency_ms".to_owned(),
                target: 100 + i as i64,
            }],
            plan: format!("plan {i}"),
        }),
    }
}

/// Who signed a governance operation: the authorised key by its genesis name, and for an
/// admission the sponsoring members too.
fn signers(cluster: &Cluster, op: &spore_core::ops::SignedOperation) -> String {
    let role = [
        ("governor", &cluster.governor),
        ("operator", &cluster.operator),
        ("client", &cluster.client),
    ]
    .into_iter()
    .find(|(_, k)| k.id() == op.submitter)
    .map_or("unknown key", |(name, _)| name);
    let mut out = format!("signed by {role} {}", op.submitter);
    if let Operation::NodeAdmission(a) = &op.op {
        let names: Vec<String> = a
            .sponsors
            .iter()
            .map(|s| {
                cluster
                    .nodes
                    .iter()
                    .find(|n| n.id == s.sponsor)
                    .map_or_else(|| s.sponsor.to_string(), |n| n.name.clone())
            })
            .collect();
        out.push_str(&format!(", sponsored by {}", names.join(" + ")));
    }
    out
}

fn trust_line(s: &StatusReport, byz: &[NodeId]) -> String {
    s.members
        .iter()
        .map(|m| {
            format!(
                "{}{}={}{}",
                m.name,
                if byz.contains(&m.id) { "*" } else { "" },
                m.trust,
                if m.eligible { "" } else { "(excl)" }
            )
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// Run `spore devnet`.
pub fn run(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    anyhow::ensure!(
        args.byzantine < args.nodes,
        "--byzantine must be below --nodes"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(devnet(args))
}

async fn devnet(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("spore-devnet-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let binary = std::env::current_exe().context("locating the spore binary")?;
    // The last nodes misbehave (never the first: it is the sclerotia anchor).
    let byz_idx: Vec<usize> = (args.nodes - args.byzantine..args.nodes).collect();
    let mut cluster = Cluster::create(&dir, &binary, args.nodes, &byz_idx, "devnet")?;
    let byz: Vec<NodeId> = byz_idx.iter().map(|i| cluster.nodes[*i].id).collect();
    println!(
        "Spore devnet: {} nodes ({} misbehaving: {}) in {}",
        args.nodes,
        args.byzantine,
        byz_idx
            .iter()
            .map(|i| cluster.nodes[*i].name.clone())
            .collect::<Vec<_>>()
            .join(", "),
        dir.display()
    );
    cluster.start_all()?;
    let starting = super::progress::spinner("starting nodes (compiling modules)");
    print!("starting nodes (compiling modules)...");
    for i in 0..args.nodes {
        cluster
            .wait_ready(i, Duration::from_secs(180))
            .await
            .with_context(|| cluster.log_tail(i, 20))?;
        print!(" {}", cluster.nodes[i].name);
    }
    starting.finish_and_clear();
    println!("  ready in {:.1} s", started.elapsed().as_secs_f64());
    println!("metrics (Prometheus), health and readiness of each node:");
    for n in &cluster.nodes {
        println!(
            "  {:<4} http://{addr}/metrics  http://{addr}/health  http://{addr}/ready",
            n.name,
            addr = n.metrics_addr
        );
    }
    let sampler = args.report.as_ref().map(|_| {
        super::devnet_report::Sampler::start(
            cluster.nodes[0].client_addr,
            cluster.nodes[0].id,
            cluster.client.clone(),
            started,
        )
    });
    let first = cluster.status(0).await?;
    let trust_start = trust_line(&first, &byz);
    println!("trust at start: {trust_start}\n");

    // The node the admission below admits: a real process, started once it is a member.
    let joiner_name = format!("n{}", args.nodes + 1);
    let (joiner, joiner_addr) = cluster.add_joiner(&joiner_name)?;
    let mut rec = Record::default();
    let n = args.nodes;
    let wait = Some(Duration::from_secs(60));

    println!("1. One operation of every kind");
    let honest_target = cluster.nodes[1.min(n - 1)].id;
    // Each governance operation is signed by the key the genesis authorises for it (the
    // governor, or the operator with the sponsors' own signatures); the summary says who.
    let mut kinds: Vec<(String, Operation)> = Vec::new();
    for kind in [
        Example::NetworkConfigChange,
        Example::ServiceDeployment,
        Example::ResourceAllocation,
        Example::MaintenanceTask,
        Example::PerformanceOptimization,
        Example::Compute,
    ] {
        let op = example(kind)?;
        kinds.push((op.kind_name().to_owned(), op));
    }
    kinds.push((
        "trust-modification".into(),
        Operation::TrustModification(TrustModification {
            target: honest_target,
            delta_bps: 100,
            reason: TrustReason::RecoveryGrant,
            justification: "recovery grant after a clean audit".to_owned(),
        }),
    ));
    let candidate = NodeIdentity {
        id: cluster.nodes[joiner].id,
        level: Hierarchy::Hyphae,
        name: joiner_name.clone(),
        address: joiner_addr.to_string(),
    };
    let sponsors = cluster.sponsorships(&candidate, &[0, 1])?;
    kinds.push((
        "node-admission".into(),
        Operation::NodeAdmission(NodeAdmission {
            candidate,
            sponsors,
        }),
    ));
    let slot0 = first.slot;
    for (k, (label, op)) in kinds.into_iter().enumerate() {
        let client = cluster.client(k % n).await?;
        let t = Instant::now();
        let signed = cluster.sign(op, slot0);
        let label = format!("{label} [{}]", signers(&cluster, &signed));
        let r = submit(&client, signed, wait).await.map(|(_, d)| d);
        rec.note(&label, t, r);
        client.close().await;
    }

    // The admitted node starts now: the members dial it, it catches up and takes part.
    let admitted = rec.failures.is_empty();
    cluster.start(joiner)?;
    let t = Instant::now();
    let target = cluster.status(0).await?.slot;
    let joined = cluster
        .wait_ready(joiner, Duration::from_secs(60))
        .await
        .and(Ok(()));
    let mut caught_up = None;
    while joined.is_ok() && admitted && t.elapsed() < Duration::from_secs(60) {
        if let Ok(s) = cluster.status(joiner).await
            && s.slot >= target
        {
            caught_up = Some(s.slot);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match caught_up {
        Some(slot) => println!(
            "  {joiner_name} (admitted) started, caught up to slot {slot} in {:.1} s",
            t.elapsed().as_secs_f64()
        ),
        None => rec.failures.push(format!(
            "{joiner_name} did not catch up after its admission: {}",
            cluster.log_tail(joiner, 10)
        )),
    }
    let cluster = Arc::new(cluster);

    println!("\n2. Exclusion of the misbehaving node(s), slashed for dissent so far");
    for id in &byz {
        let client = cluster.client(0).await?;
        let t = Instant::now();
        let op = Operation::NodeExclusion(NodeExclusion {
            target: *id,
            reason: ExclusionReason::GovernanceDecision,
            evidence: Vec::new(),
        });
        let signed = cluster.sign(op, slot0);
        let label = format!("node-exclusion {id} [{}]", signers(&cluster, &signed));
        let r = submit(&client, signed, wait).await.map(|(_, d)| d);
        rec.note(&label, t, r);
        client.close().await;
    }
    let mid = cluster.status(0).await?;
    let trust_mid = trust_line(&mid, &byz);

    println!(
        "\n3. Load: {} operations from concurrent clients, resolver hot swap midway",
        args.ops
    );
    // Load operations answered so far: the hot swap is proposed when half are.
    let done = Arc::new(AtomicUsize::new(0));
    let load = {
        let cluster = cluster.clone();
        let done = done.clone();
        let total = args.ops;
        tokio::spawn(async move {
            let mut out: Vec<(Instant, Duration, anyhow::Result<Option<OpDecision>>)> = Vec::new();
            let mut handles = Vec::new();
            for w in 0..4usize {
                let cluster = cluster.clone();
                let done = done.clone();
                handles.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    let client = match cluster.client(w % n).await {
                        Ok(c) => c,
                        Err(e) => return vec![(Instant::now(), Duration::ZERO, Err(e))],
                    };
                    for i in (w..total).step_by(4) {
                        let t = Instant::now();
                        let op = cluster.sign(load_op(i), slot0);
                        let r = submit(&client, op, wait).await.map(|(_, d)| d);
                        mine.push((t, t.elapsed(), r));
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    client.close().await;
                    mine
                }));
            }
            for h in handles {
                match h.await {
                    Ok(v) => out.extend(v),
                    Err(e) => out.push((
                        Instant::now(),
                        Duration::ZERO,
                        Err(anyhow::anyhow!("worker: {e}")),
                    )),
                }
            }
            out
        })
    };
    while done.load(Ordering::Relaxed) < args.ops / 2 && !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let strict = spore_artifacts::STRICT_RESOLVER.bytes;
    let strict_hash = sha256(strict);
    {
        let governor = cluster.governor.clone();
        let client = cluster.client_as(0, &governor).await?;
        let t = Instant::now();
        let r = propose(
            &client,
            &governor,
            strict.to_vec(),
            SwapRole::Resolver,
            "devnet: strict resolver".into(),
        )
        .await
        .map(Some);
        rec.note(
            &format!("resolver hot swap [governor {}]", governor.id()),
            t,
            r,
        );
        client.close().await;
    }
    let mut last_progress = Instant::now();
    let bar = super::progress::bar(args.ops as u64, "load operations answered");
    while !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        bar.set_position(done.load(Ordering::Relaxed) as u64);
        if last_progress.elapsed() > Duration::from_secs(2) {
            last_progress = Instant::now();
            if let Ok(s) = cluster.status(0).await {
                println!(
                    "  progress: slot {}  view {}  mempool {}  trust {}",
                    s.slot,
                    s.view,
                    s.mempool,
                    trust_line(&s, &byz)
                );
            }
        }
    }
    bar.finish_and_clear();
    let mut load_ok = 0;
    for (at, t, r) in load.await.context("load task")? {
        match r {
            Ok(Some(d)) => {
                rec.latencies.push(t);
                rec.decisions.push((at + t, t));
                rec.decided += 1;
                load_ok += 1;
                if d.decision.is_escalated() {
                    rec.escalated += 1;
                }
            }
            Ok(None) => rec.failures.push("load: no decision".into()),
            Err(e) => rec.failures.push(format!("load: {e:#}")),
        }
    }
    println!("  {load_ok}/{} load operations decided", args.ops);

    // Convergence: every honest node at the same slot with the same state.
    let honest: Vec<usize> = (0..cluster.nodes.len())
        .filter(|i| !byz_idx.contains(i))
        .collect();
    let mut finals = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        finals.clear();
        for i in &honest {
            finals.push(cluster.status(*i).await?);
        }
        let same = finals
            .windows(2)
            .all(|w| w[0].slot == w[1].slot && w[0].state_digest == w[1].state_digest);
        if same || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let end = finals.first().cloned().context("no honest node")?;

    let mut lat = rec.latencies.clone();
    lat.sort();
    println!("\nSummary");
    println!(
        "  operations decided: {} ({} escalated), failures: {}",
        rec.decided,
        rec.escalated,
        rec.failures.len()
    );
    println!(
        "  latency p50 {} ms, p99 {} ms (submit -> decision, via client QUIC)",
        percentile(&lat, 50).as_millis(),
        percentile(&lat, 99).as_millis()
    );
    println!("  slots decided: {}  views: {}", end.slot, end.view);
    println!("  trust at start: {trust_start}");
    println!("  trust after the exclusion: {trust_mid}");
    println!("  trust at end:   {}", trust_line(&end, &byz));
    println!("  slashing and exclusion events:");
    let notable: Vec<(u64, String)> = end
        .events
        .iter()
        .filter(|(_, e)| notable_event(e))
        .cloned()
        .collect();
    for (slot, e) in notable.iter().rev().take(12).rev() {
        println!("    slot {slot:<5} {e}");
    }
    if notable.len() > 12 {
        println!("    ... {} more", notable.len() - 12);
    }
    let swap_slots: Vec<Option<u64>> = finals
        .iter()
        .map(|s| {
            s.modules
                .iter()
                .find(|m| m.role == "resolver" && m.active == strict_hash && m.loaded)
                .map(|m| m.since)
        })
        .collect();
    match swap_slots.first().copied().flatten() {
        Some(slot) => println!(
            "  resolver swapped to strict-resolver at slot {slot} on every honest node: {}",
            swap_slots.iter().all(|s| *s == Some(slot))
        ),
        None => println!("  resolver swap: NOT observed"),
    }

    let mut problems = rec.failures.clone();
    if let (Some(report_dir), Some(sampler)) = (&args.report, sampler) {
        let samples = sampler.finish().await;
        let decisions: Vec<(f64, Duration)> = rec
            .decisions
            .iter()
            .map(|(at, l)| (at.saturating_duration_since(started).as_secs_f64(), *l))
            .collect();
        let figures = vec![
            ("nodes".to_owned(), format!("{} (+1 admitted)", args.nodes)),
            ("misbehaving".to_owned(), args.byzantine.to_string()),
            (
                "operations decided".to_owned(),
                format!("{} ({} escalated)", rec.decided, rec.escalated),
            ),
            ("failures".to_owned(), rec.failures.len().to_string()),
            (
                "latency p50 / p99".to_owned(),
                format!(
                    "{} / {} ms",
                    percentile(&lat, 50).as_millis(),
                    percentile(&lat, 99).as_millis()
                ),
            ),
            (
                "slots decided, views".to_owned(),
                format!("{}, {}", end.slot, end.view),
            ),
            (
                "resolver swap".to_owned(),
                match swap_slots.first().copied().flatten() {
                    Some(slot) => format!("strict-resolver active from slot {slot}"),
                    None => "not observed".to_owned(),
                },
            ),
        ];
        let events: Vec<(String, String)> = notable
            .iter()
            .map(|(slot, e)| (format!("slot {slot}"), e.clone()))
            .collect();
        let page = super::devnet_report::write(
            report_dir,
            "Spore devnet report",
            "spore devnet: real node processes on loopback QUIC with durable stores",
            &super::devnet_report::RunData {
                figures,
                samples: &samples,
                decisions: &decisions,
                events: &events,
                byzantine: &byz,
            },
        )?;
        println!("\nreport: {}", page.display());
    }
    if !finals
        .windows(2)
        .all(|w| w[0].slot == w[1].slot && w[0].state_digest == w[1].state_digest)
    {
        problems.push("honest nodes did not converge to one state".into());
    }
    if swap_slots.is_empty()
        || swap_slots
            .iter()
            .any(|s| s.is_none() || *s != swap_slots[0])
    {
        problems.push("the resolver did not swap at one slot on every honest node".into());
    }
    for id in &byz {
        let row = end.members.iter().find(|m| m.id == *id);
        let start_trust = first.members.iter().find(|m| m.id == *id).map(|m| m.trust);
        match row {
            Some(m) if m.eligible => problems.push(format!("{id} was not excluded")),
            Some(m) if Some(m.trust) >= start_trust => {
                problems.push(format!("{id} was not slashed"))
            }
            None => problems.push(format!("{id} vanished from the membership")),
            _ => {}
        }
    }
    println!(
        "\nverdict: {}  ({:.1} s)",
        if problems.is_empty() {
            "the cluster behaved as expected".to_owned()
        } else {
            format!("UNEXPECTED: {}", problems.join("; "))
        },
        started.elapsed().as_secs_f64()
    );
    let mut cluster =
        Arc::try_unwrap(cluster).map_err(|_| anyhow::anyhow!("cluster still shared"))?;
    if args.keep_running {
        let pids = cluster.detach();
        println!("\nnodes left running (pids {pids:?}); try:");
        let n0 = &cluster.nodes[0];
        println!(
            "  spore status --node {} --node-id {}",
            n0.client_addr,
            n0.id.to_hex()
        );
        println!(
            "  spore status --config {}",
            n0.dir.join("node.toml").display()
        );
        println!(
            "stop them with: kill {}",
            pids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
    } else {
        drop(cluster);
        if args.dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
