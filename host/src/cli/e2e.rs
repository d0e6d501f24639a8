//! `spore e2e MANIFEST.toml`: a real cluster from a manifest, perturbed on a schedule,
//! then checked.
//!
//! # Manifest
//! ```toml
//! name = "partition-and-heal"
//! nodes = 4            # node processes, n1..nN (n1 the sclerotia anchor)
//! byzantine = 0        # the last ones report wrong validator results
//! [[node]]             # optional, per node: level, starting trust, misbehaviour
//! name = "n3"
//! level = "hyphae"     # sclerotia | rhizomorph | hyphae (default: n1 sclerotia, the
//! trust = 5000         #   rest rhizomorph; trust 8000)
//! behaviour = "withhold-reveal"  # or "wrong-result", as the `byzantine` ones do
//! load_secs = 12       # operations are submitted steadily for this long...
//! rate = 10            # ...at this many per second, to the nodes that are up
//! final_ops = 8        # after the last perturbation: these must all be decided
//! [[step]]
//! at_secs = 3
//! action = "partition" # kill | restart | pause | resume | partition | heal | delay | loss
//! nodes = ["n1", "n2"] # kill/restart/pause/resume: these; partition: one side
//! [[step]]
//! at_secs = 8
//! action = "heal"      # restores links, removes delay and loss
//! [params]             # optional: replicated parameters of the genesis (docs/TRUST.md)
//! "trust.silence-penalty" = 300
//! [expect]
//! excluded = []        # the members that must end excluded (and no other)
//! trust_at_least = { n1 = 8000 }  # final trust bounds, in the honest nodes' state
//! trust_below = { n3 = 5000 }
//! ```
//! `delay` takes `ms`, `loss` takes `percent` (of datagrams, between every pair).
//!
//! # What runs
//! Every node's peer traffic passes through the fault-injecting relay
//! (`cli/e2e_relay.rs`) on loopback; kill is SIGKILL, restart starts the same node again
//! on its store, pause and resume are SIGSTOP and SIGCONT. No clock is touched.
//!
//! # What is checked
//! After the schedule and the final operations: every final operation decided (liveness
//! after healing); every honest node at the same slot with the same state digest and
//! the same decided entries (identical logs); the expected members excluded and no
//! other. The verdict is the exit code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use spore_core::types::{Hierarchy, TrustBps};

use super::client::submit;
use super::devnet::load_op;
use super::e2e_relay::Relays;
use crate::node::client::Client;
use crate::node::cluster::{Cluster, Founder};
use crate::node::config::{Byzantine, NodeConfig};

/// Arguments of `spore e2e`.
#[derive(Debug, Args)]
pub struct E2eArgs {
    /// The manifest (TOML; see `spore e2e --help` and tests/e2e/).
    pub manifest: PathBuf,
    /// Folder for keys, genesis, stores and logs (default: a temporary one, removed
    /// after a passing run).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write an HTML report with plots (trust of every member over slots, throughput
    /// over time, latency distribution, the perturbations and events) into this folder.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// A manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name shown in the output.
    pub name: String,
    /// Node processes.
    pub nodes: usize,
    /// Misbehaving nodes (the last ones).
    #[serde(default)]
    pub byzantine: usize,
    /// Per-node settings; a node not listed keeps the devnet's shape.
    #[serde(default)]
    pub node: Vec<NodeSpec>,
    /// Replicated parameters of the genesis (docs/TRUST.md), each checked against its
    /// range, e.g. `"trust.silence-penalty" = 300`.
    #[serde(default)]
    pub params: BTreeMap<String, i64>,
    /// Seconds of steady load.
    #[serde(default = "default_load_secs")]
    pub load_secs: u64,
    /// Operations per second during the load.
    #[serde(default = "default_rate")]
    pub rate: u64,
    /// Operations submitted after the schedule, all of which must be decided.
    #[serde(default = "default_final_ops")]
    pub final_ops: usize,
    /// The perturbations, in time order.
    #[serde(default)]
    pub step: Vec<Step>,
    /// The expected outcome.
    #[serde(default)]
    pub expect: Expect,
}

fn default_load_secs() -> u64 {
    10
}
fn default_rate() -> u64 {
    10
}
fn default_final_ops() -> usize {
    8
}

/// One node's place in the genesis and its behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Which node (`n1`..).
    pub name: String,
    /// Hierarchy level.
    #[serde(default)]
    pub level: Option<Hierarchy>,
    /// Starting trust (bps; the genesis rules apply: at least the exclusion threshold).
    #[serde(default)]
    pub trust: Option<TrustBps>,
    /// A deliberate misbehaviour (the node is then not honest): `wrong-result` or
    /// `withhold-reveal`.
    #[serde(default)]
    pub behaviour: Option<Byzantine>,
}

/// One perturbation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Seconds after the load starts.
    pub at_secs: f64,
    /// What to do.
    pub action: Action,
    /// The nodes it applies to (names).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// `delay`: milliseconds.
    #[serde(default)]
    pub ms: u64,
    /// `loss`: percent of datagrams.
    #[serde(default)]
    pub percent: u8,
}

/// A perturbation's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// SIGKILL.
    Kill,
    /// Start a killed node again on its store.
    Restart,
    /// SIGSTOP.
    Pause,
    /// SIGCONT.
    Resume,
    /// Cut every link between `nodes` and the rest.
    Partition,
    /// Restore every link, remove delay and loss.
    Heal,
    /// Delay every datagram by `ms`.
    Delay,
    /// Drop `percent` of datagrams.
    Loss,
}

/// The expected outcome.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Members that must end excluded (and no other).
    #[serde(default)]
    pub excluded: Vec<String>,
    /// Members whose final trust must be at least this.
    #[serde(default)]
    pub trust_at_least: BTreeMap<String, TrustBps>,
    /// Members whose final trust must be below this.
    #[serde(default)]
    pub trust_below: BTreeMap<String, TrustBps>,
}

impl Manifest {
    /// Read and check a manifest.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let m: Manifest =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        anyhow::ensure!(
            (1..=16).contains(&m.nodes),
            "nodes = {}: between 1 and 16",
            m.nodes
        );
        anyhow::ensure!(
            m.byzantine <= m.nodes,
            "byzantine = {} is more than the {} nodes",
            m.byzantine,
            m.nodes
        );
        let mut named = std::collections::BTreeSet::new();
        for spec in &m.node {
            m.index(&spec.name)?;
            anyhow::ensure!(
                named.insert(spec.name.as_str()),
                "node `{}` is listed twice",
                spec.name
            );
        }
        let bad = m.misbehaving().len();
        anyhow::ensure!(
            m.nodes > 3 * bad,
            "{bad} misbehaving: a cluster of at least {} nodes needed",
            3 * bad + 1
        );
        anyhow::ensure!((1..=1000).contains(&m.rate), "rate = {}: 1..=1000", m.rate);
        anyhow::ensure!(
            m.load_secs <= 600,
            "load_secs = {}: at most 600",
            m.load_secs
        );
        for s in &m.step {
            anyhow::ensure!(
                s.at_secs >= 0.0 && s.at_secs.is_finite(),
                "at_secs = {}: a time from the start of the load",
                s.at_secs
            );
            for name in &s.nodes {
                m.index(name)?;
            }
            let needs_nodes = matches!(
                s.action,
                Action::Kill | Action::Restart | Action::Pause | Action::Resume | Action::Partition
            );
            anyhow::ensure!(
                !needs_nodes || !s.nodes.is_empty(),
                "a {:?} step needs nodes = [...]",
                s.action
            );
        }
        let bounded = m
            .expect
            .trust_at_least
            .keys()
            .chain(m.expect.trust_below.keys());
        for name in m.expect.excluded.iter().chain(bounded) {
            m.index(name)?;
        }
        Ok(m)
    }

    /// The misbehaving nodes (0-based), as [`Self::founders`] gives them a behaviour.
    pub fn misbehaving(&self) -> Vec<usize> {
        self.founders()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.behaviour.is_some())
            .map(|(i, _)| i)
            .collect()
    }

    /// Every founder's level, starting trust and misbehaviour: the devnet's shape, the
    /// last `byzantine` nodes reporting wrong results, changed where a `[[node]]` says so.
    pub fn founders(&self) -> Vec<Founder> {
        let last: Vec<usize> = (self.nodes.saturating_sub(self.byzantine)..self.nodes).collect();
        let mut shape = Founder::shape_with_wrong_results(self.nodes, &last);
        for spec in &self.node {
            if let Ok(i) = self.index(&spec.name) {
                if let Some(level) = spec.level {
                    shape[i].level = level;
                }
                if let Some(trust) = spec.trust {
                    shape[i].trust = trust;
                }
                if spec.behaviour.is_some() {
                    shape[i].behaviour = spec.behaviour;
                }
            }
        }
        shape
    }

    /// The 0-based index of node `name`, written exactly `n1`..`nN` (so that each node has
    /// one name, the one its status rows carry).
    fn index(&self, name: &str) -> anyhow::Result<usize> {
        (0..self.nodes)
            .find(|i| format!("n{}", i + 1) == name)
            .with_context(|| format!("no node `{name}` (nodes are n1..n{})", self.nodes))
    }
}

/// Run `spore e2e`.
pub fn run(args: E2eArgs) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.manifest)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(e2e(manifest, args.dir, args.report))
}

async fn e2e(
    m: Manifest,
    dir: Option<PathBuf>,
    report: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("spore-e2e-{}-{}", m.name, std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let binary = std::env::current_exe().context("locating the spore binary")?;
    let byz = m.misbehaving();
    let mut cluster = Cluster::create_shaped(
        &dir,
        &binary,
        &m.founders(),
        &format!("e2e-{}", m.name),
        &m.params
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect::<Vec<_>>(),
    )?;
    // Each node listens on a private port; the genesis address is the relay's. The
    // private ports are fresh, distinct from each other and from every port of the
    // cluster (the relays take the advertised ones).
    let genesis = crate::cli::genesis::load(&dir.join("genesis.json"))?;
    let mut advertised = Vec::new();
    for node in &cluster.nodes {
        let addr: std::net::SocketAddr = genesis
            .nodes
            .iter()
            .find(|g| g.id == node.id)
            .context("a node missing from its genesis")?
            .address
            .parse()?;
        advertised.push(addr);
    }
    let mut ports = crate::node::cluster::Ports::avoiding(
        cluster
            .nodes
            .iter()
            .flat_map(|n| [n.client_addr.port(), n.metrics_addr.port()])
            .chain(advertised.iter().map(std::net::SocketAddr::port)),
    );
    let mut private = Vec::new();
    for node in &cluster.nodes {
        let path = node.dir.join("node.toml");
        let mut config = NodeConfig::load(&path)?;
        let own = std::net::SocketAddr::from(([127, 0, 0, 1], ports.udp()?));
        config.listen = Some(own);
        std::fs::write(&path, config.to_toml()?)?;
        private.push(own);
    }
    let relays = Relays::start(&advertised, &private, &mut ports).await?;
    drop(ports);
    println!(
        "e2e {}: {} nodes ({} misbehaving), peer traffic through the fault relay, in {}",
        m.name,
        m.nodes,
        byz.len(),
        dir.display()
    );
    cluster.start_all()?;
    for i in 0..m.nodes {
        cluster
            .wait_ready(i, Duration::from_secs(180))
            .await
            .with_context(|| cluster.log_tail(i, 20))?;
    }
    println!("  ready in {:.1} s", started.elapsed().as_secs_f64());
    let sampler = report.as_ref().map(|_| {
        super::devnet_report::Sampler::start(
            cluster.nodes[0].client_addr,
            cluster.nodes[0].id,
            cluster.client.clone(),
            started,
        )
    });
    let byz_ids: Vec<spore_core::types::NodeId> =
        byz.iter().map(|i| cluster.nodes[*i].id).collect();
    let decisions = Arc::new(std::sync::Mutex::new(Vec::<(f64, Duration)>::new()));
    let mut events: Vec<(String, String)> = Vec::new();
    let cluster = Arc::new(tokio::sync::Mutex::new(cluster));

    // Steady load on every node that answers, for load_secs.
    let submitted = Arc::new(AtomicU64::new(0));
    let decided = Arc::new(AtomicU64::new(0));
    let load = {
        let (cluster, submitted, decided) = (cluster.clone(), submitted.clone(), decided.clone());
        let decisions = decisions.clone();
        let (secs, rate, n) = (m.load_secs, m.rate, m.nodes);
        tokio::spawn(async move {
            let t0 = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            let mut i = 0usize;
            let mut inflight = Vec::new();
            while t0.elapsed() < Duration::from_secs(secs) {
                tick.tick().await;
                // Sign and read the address under the lock; connect outside it (a
                // paused or killed node must not hold up the schedule).
                let (op, addr, id, key) = {
                    let c = cluster.lock().await;
                    let node = &c.nodes[i % n];
                    (
                        c.sign(load_op(i), 0),
                        node.client_addr,
                        node.id,
                        c.client.clone(),
                    )
                };
                i += 1;
                submitted.fetch_add(1, Ordering::Relaxed);
                let decided = decided.clone();
                let decisions = decisions.clone();
                inflight.push(tokio::spawn(async move {
                    let connect = Client::connect(addr, id, &key);
                    let Ok(Ok(client)) =
                        tokio::time::timeout(Duration::from_secs(5), connect).await
                    else {
                        return;
                    };
                    let t = Instant::now();
                    if let Ok((_, Some(_))) =
                        submit(&client, op, Some(Duration::from_secs(20))).await
                    {
                        decided.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut d) = decisions.lock() {
                            d.push((started.elapsed().as_secs_f64(), t.elapsed()));
                        }
                    }
                    client.close().await;
                }));
            }
            for t in inflight {
                let _ = t.await;
            }
        })
    };

    // The schedule.
    let t0 = Instant::now();
    let mut steps = m.step.clone();
    steps.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    for s in &steps {
        let at = Duration::from_secs_f64(s.at_secs);
        if let Some(wait) = at.checked_sub(t0.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let targets: Vec<usize> = s
            .nodes
            .iter()
            .map(|n| m.index(n))
            .collect::<Result<_, _>>()?;
        let mut c = cluster.lock().await;
        match s.action {
            Action::Kill => {
                for i in &targets {
                    c.kill(*i)?;
                }
            }
            Action::Restart => {
                for i in &targets {
                    c.start(*i)?;
                }
            }
            Action::Pause | Action::Resume => {
                let signal = if s.action == Action::Pause {
                    "-STOP"
                } else {
                    "-CONT"
                };
                for i in &targets {
                    let pid = c
                        .pid(*i)
                        .with_context(|| format!("{} is not running", s.nodes.join(",")))?;
                    let status = std::process::Command::new("kill")
                        .args([signal, &pid.to_string()])
                        .status()?;
                    anyhow::ensure!(status.success(), "kill {signal} {pid} failed");
                }
            }
            Action::Partition => lock(&relays).partition(&targets, m.nodes),
            Action::Heal => lock(&relays).heal(),
            Action::Delay => lock(&relays).set_delay(Duration::from_millis(s.ms)),
            Action::Loss => lock(&relays).set_loss(s.percent, 0x5eed),
        }
        events.push((
            format!("{:.1} s", started.elapsed().as_secs_f64()),
            format!("{:?} {}", s.action, s.nodes.join(",")),
        ));
        println!(
            "  {:>6.1} s  {:?} {}{}",
            t0.elapsed().as_secs_f64(),
            s.action,
            s.nodes.join(","),
            match s.action {
                Action::Delay => format!("{} ms", s.ms),
                Action::Loss => format!("{}%", s.percent),
                _ => String::new(),
            }
        );
    }
    load.await.context("load task")?;
    println!(
        "  load: {} of {} operations decided during the schedule",
        decided.load(Ordering::Relaxed),
        submitted.load(Ordering::Relaxed)
    );

    let mut problems = Vec::new();
    // Liveness after healing: the final operations, to the first honest running node.
    let honest: Vec<usize> = (0..m.nodes).filter(|i| !byz.contains(i)).collect();
    {
        let c = cluster.lock().await;
        let mut running = Vec::new();
        for i in &honest {
            if c.pid(*i).is_some() {
                running.push(*i);
            }
        }
        let target = *running.first().context("no honest node is running")?;
        let client = Arc::new(c.client(target).await?);
        let mut tasks = Vec::new();
        for k in 0..m.final_ops {
            let op = c.sign(load_op(100_000 + k), 0);
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                submit(&client, op, Some(Duration::from_secs(60))).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if matches!(t.await, Ok(Ok((_, Some(_))))) {
                ok += 1;
            }
        }
        println!(
            "  after the schedule: {ok}/{} final operations decided",
            m.final_ops
        );
        if ok < m.final_ops {
            problems.push(format!(
                "only {ok} of {} final operations decided",
                m.final_ops
            ));
        }
        if let Ok(client) = Arc::try_unwrap(client) {
            client.close().await;
        }
    }

    // Convergence and identical logs on the honest nodes.
    let deadline = Instant::now() + Duration::from_secs(60);
    let finals = loop {
        let c = cluster.lock().await;
        let mut finals = Vec::new();
        for i in &honest {
            if let Ok(s) = c.status(*i).await {
                finals.push((*i, s));
            }
        }
        if converged(&finals, honest.len()) || Instant::now() > deadline {
            break finals;
        }
        drop(c);
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    if !converged(&finals, honest.len()) {
        problems.push("the honest nodes did not converge to one slot and state".into());
    } else {
        let c = cluster.lock().await;
        let mut logs = Vec::new();
        for (i, _) in &finals {
            logs.push(decided_log(&c, *i).await?);
        }
        if !logs.windows(2).all(|w| w[0] == w[1]) {
            problems.push("the honest nodes' decided logs differ".into());
        }
        println!(
            "  honest nodes agree: slot {}, {} decided entries compared",
            finals[0].1.slot,
            logs.first().map_or(0, Vec::len)
        );
    }
    // The trust outcome (the honest nodes agree on it: their states were compared above).
    if let Some((_, s)) = finals.first() {
        let named = m
            .expect
            .excluded
            .iter()
            .chain(m.expect.trust_at_least.keys())
            .chain(m.expect.trust_below.keys());
        for name in named {
            if !s.members.iter().any(|r| &r.name == name) {
                problems.push(format!("{name} is not a member at the end"));
            }
        }
        let mut members: Vec<_> = s.members.iter().collect();
        members.sort_by_key(|r| m.index(&r.name).unwrap_or(usize::MAX));
        let rows: Vec<String> = members
            .iter()
            .map(|r| {
                let state = if r.eligible { "" } else { " excluded" };
                format!("{} {} {}{state}", r.name, r.level, r.trust)
            })
            .collect();
        println!("  trust: {}", rows.join(", "));
        for row in &s.members {
            let name = &row.name;
            let expected = m.expect.excluded.contains(name);
            if expected == row.eligible {
                problems.push(format!(
                    "{name} is {} but the manifest expects it {}",
                    if row.eligible { "eligible" } else { "excluded" },
                    if expected { "excluded" } else { "eligible" }
                ));
            }
            if let Some(min) = m
                .expect
                .trust_at_least
                .get(name)
                .filter(|t| row.trust < **t)
            {
                problems.push(format!("{name} ends at trust {}, below {min}", row.trust));
            }
            if let Some(max) = m.expect.trust_below.get(name).filter(|t| row.trust >= **t) {
                problems.push(format!(
                    "{name} ends at trust {}, not below {max}",
                    row.trust
                ));
            }
        }
    }
    let verdict = if problems.is_empty() {
        "passed".to_owned()
    } else {
        format!("FAILED: {}", problems.join("; "))
    };
    drop(relays);
    if let (Some(report_dir), Some(sampler)) = (&report, sampler) {
        let samples = sampler.finish().await;
        if let Some((_, s)) = finals.first() {
            for (slot, e) in &s.events {
                if super::devnet::notable_event(e) {
                    events.push((format!("slot {slot}"), e.clone()));
                }
            }
        }
        let decisions = decisions.lock().map(|d| d.clone()).unwrap_or_default();
        let figures = vec![
            ("manifest".to_owned(), m.name.clone()),
            (
                "nodes".to_owned(),
                format!("{} ({} misbehaving)", m.nodes, byz.len()),
            ),
            (
                "load".to_owned(),
                format!(
                    "{} of {} operations decided during the schedule",
                    decided.load(Ordering::Relaxed),
                    submitted.load(Ordering::Relaxed)
                ),
            ),
            ("verdict".to_owned(), verdict.clone()),
        ];
        let page = super::devnet_report::write(
            report_dir,
            &format!("Spore e2e report: {}", m.name),
            "spore e2e: real node processes, peer traffic through the fault relay",
            &super::devnet_report::RunData {
                figures,
                samples: &samples,
                decisions: &decisions,
                events: &events,
                byzantine: &byz_ids,
            },
        )?;
        println!("report: {}", page.display());
    }
    println!(
        "verdict: {verdict}  ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    drop(cluster);
    if problems.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("  logs kept in {}", dir.display());
        Ok(ExitCode::FAILURE)
    }
}

fn lock(relays: &Relays) -> std::sync::MutexGuard<'_, super::e2e_relay::Faults> {
    relays
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether every one of `expected` honest nodes answered and all stand at one slot with
/// one state digest.
fn converged(finals: &[(usize, crate::node::proto::StatusReport)], expected: usize) -> bool {
    finals.len() == expected
        && finals
            .windows(2)
            .all(|w| w[0].1.slot == w[1].1.slot && w[0].1.state_digest == w[1].1.state_digest)
}

/// Node `i`'s decided log as (slot, encoded decided tally) pairs.
async fn decided_log(c: &Cluster, i: usize) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    let client = c.client(i).await?;
    let mut out = Vec::new();
    let mut from = 0;
    loop {
        let entries = client.log(from, 256).await?;
        let Some(last) = entries.last().map(|e| e.slot) else {
            break;
        };
        for e in entries {
            out.push((e.slot, postcard::to_allocvec(&e.tally)?));
        }
        from = last + 1;
    }
    client.close().await;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text)?;
        Manifest::load(&path)
    }

    #[test]
    fn manifests_are_checked_before_anything_starts() -> anyhow::Result<()> {
        let m = parse(
            "name = \"x\"\nnodes = 4\nbyzantine = 1\n[[step]]\nat_secs = 2\naction = \"pause\"\nnodes = [\"n2\"]\n[expect]\nexcluded = [\"n4\"]\n",
        )?;
        assert_eq!(
            (m.nodes, m.byzantine, m.step[0].action),
            (4, 1, Action::Pause)
        );
        assert_eq!(m.index("n4")?, 3);
        for (bad, why) in [
            (
                "name = \"x\"\nnodes = 3\nbyzantine = 1\n",
                "at least 4 nodes",
            ),
            (
                "name = \"x\"\nnodes = 4\n[[step]]\nat_secs = 1\naction = \"kill\"\n",
                "needs nodes",
            ),
            (
                "name = \"x\"\nnodes = 4\n[[step]]\nat_secs = 1\naction = \"explode\"\n",
                "explode",
            ),
            (
                "name = \"x\"\nnodes = 4\n[expect]\nexcluded = [\"n0\"]\n",
                "no node `n0`",
            ),
            ("name = \"x\"\nnodes = 4\nsurprise = 1\n", "surprise"),
            (
                "name = \"x\"\nnodes = 4\nbyzantine = 1\n[[node]]\nname = \"n1\"\nbehaviour = \"wrong-result\"\n",
                "2 misbehaving: a cluster of at least 7",
            ),
            (
                "name = \"x\"\nnodes = 4\n[[node]]\nname = \"n2\"\n[[node]]\nname = \"n2\"\n",
                "listed twice",
            ),
            (
                "name = \"x\"\nnodes = 4\n[[node]]\nname = \"n2\"\nlevel = \"king\"\n",
                "king",
            ),
            (
                "name = \"x\"\nnodes = 4\n[[node]]\nname = \"n02\"\n",
                "no node `n02`",
            ),
            (
                "name = \"x\"\nnodes = 4\n[expect]\ntrust_below = { n5 = 3000 }\n",
                "no node `n5`",
            ),
        ] {
            let err = format!("{:#}", parse(bad).expect_err(bad));
            assert!(err.contains(why), "{bad}: {err}");
        }
        Ok(())
    }

    /// `[[node]]` entries shape the genesis the cluster starts from, and a shape no node
    /// would start from is refused before any process runs, with the genesis rule named.
    #[test]
    fn node_entries_shape_the_genesis() -> anyhow::Result<()> {
        let m = parse(concat!(
            "name = \"x\"\nnodes = 4\nbyzantine = 0\n",
            "[[node]]\nname = \"n3\"\nlevel = \"hyphae\"\ntrust = 6000\n",
            "[[node]]\nname = \"n4\"\nbehaviour = \"wrong-result\"\ntrust = 4000\n",
            "[expect]\nexcluded = [\"n4\"]\ntrust_at_least = { n1 = 8000 }\n",
        ))?;
        assert_eq!(m.misbehaving(), vec![3]);
        let shape = m.founders();
        assert_eq!(
            shape.iter().map(|f| (f.level, f.trust)).collect::<Vec<_>>(),
            vec![
                (Hierarchy::Sclerotia, 8_000),
                (Hierarchy::Rhizomorph, 8_000),
                (Hierarchy::Hyphae, 6_000),
                (Hierarchy::Rhizomorph, 4_000),
            ]
        );
        let dir = tempfile::tempdir()?;
        let binary = Path::new("spore");
        let c = Cluster::create_shaped(dir.path(), binary, &shape, "x", &[])?;
        let genesis = crate::cli::genesis::load(&dir.path().join("genesis.json"))?;
        let got: Vec<(Hierarchy, TrustBps)> = c
            .nodes
            .iter()
            .map(|n| {
                let g = genesis.nodes.iter().find(|g| g.id == n.id);
                g.map_or((Hierarchy::Hyphae, 0), |g| (g.level, g.trust))
            })
            .collect();
        assert_eq!(
            got,
            shape.iter().map(|f| (f.level, f.trust)).collect::<Vec<_>>()
        );
        assert_eq!(
            c.nodes.iter().map(|n| n.byzantine).collect::<Vec<_>>(),
            vec![None, None, None, Some(Byzantine::WrongResult)]
        );
        // A replicated parameter out of its range is refused with its name.
        let bad = parse("name = \"x\"\nnodes = 4\n[params]\n\"trust.max\" = 0\n")?;
        assert_eq!(bad.params.get("trust.max"), Some(&0));
        let params: Vec<(String, i64)> = bad.params.into_iter().collect();
        let third = tempfile::tempdir()?;
        let err = Cluster::create_shaped(third.path(), binary, &shape, "x", &params)
            .err()
            .context("trust.max = 0 was accepted")?;
        assert!(format!("{err:#}").contains("trust.max"), "{err:#}");
        // Below the exclusion threshold: no genesis admits it.
        let mut low = shape.clone();
        low[1].trust = 100;
        let other = tempfile::tempdir()?;
        let err = Cluster::create_shaped(other.path(), binary, &low, "x", &[])
            .err()
            .context("a founder under the exclusion threshold was admitted")?;
        let text = format!("{err:#}");
        assert!(text.contains("no node would start from"), "{text}");
        assert!(text.contains("100"), "{text}");
        Ok(())
    }
}
