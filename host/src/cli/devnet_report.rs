//! The report of a run (`spore devnet --report DIR`, `spore e2e --report DIR`): what a
//! sampler saw of the cluster
//! during the run (slot and every member's trust, from an honest node's status every
//! 200 ms) and what the clients saw (when each operation was decided, and its latency),
//! drawn as an HTML page with plots (cli/report.rs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use spore_core::crypto::Keypair;
use spore_core::types::NodeId;

use super::report::{Report, Section, Series};
use crate::node::client::Client;
use crate::node::proto::{Request, Response, StatusReport};

/// One status sample.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the run started.
    pub at: f64,
    /// Next slot to decide.
    pub slot: u64,
    /// Every member: name, id, trust (bps), eligible.
    pub members: Vec<(String, NodeId, u32, bool)>,
}

impl Sample {
    fn of(at: f64, s: &StatusReport) -> Self {
        Self {
            at,
            slot: s.slot,
            members: s
                .members
                .iter()
                .map(|m| (m.name.clone(), m.id, m.trust, m.eligible))
                .collect(),
        }
    }
}

/// Samples an honest node's status until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Start sampling the status of the node at `addr` (id `id`, as the holder of `key`)
    /// every 200 ms, times relative to `epoch`; reconnects when the node goes away (a
    /// killed or paused node leaves a gap, not an end).
    pub fn start(addr: SocketAddr, id: NodeId, key: Keypair, epoch: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut client: Option<Client> = None;
            while !flag.load(Ordering::Relaxed) {
                if client.is_none() {
                    let connect = Client::connect(addr, id, &key);
                    client = tokio::time::timeout(Duration::from_secs(1), connect)
                        .await
                        .ok()
                        .and_then(Result::ok);
                }
                if let Some(c) = &client {
                    let call = c.call_one(&Request::Status);
                    match tokio::time::timeout(Duration::from_secs(1), call).await {
                        Ok(Ok(Response::Status(s))) => {
                            samples.push(Sample::of(epoch.elapsed().as_secs_f64(), &s));
                        }
                        _ => client = None,
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if let Some(c) = client {
                c.close().await;
            }
            samples
        });
        Self { stop, task }
    }

    /// Stop and return the samples.
    pub async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

/// Everything the report shows.
pub struct RunData<'a> {
    /// Key figures, in order.
    pub figures: Vec<(String, String)>,
    /// Status samples.
    pub samples: &'a [Sample],
    /// Each decided operation: seconds since the start at which it was decided, latency.
    pub decisions: &'a [(f64, Duration)],
    /// Events: when (a slot, or a time for a perturbation) and what.
    pub events: &'a [(String, String)],
    /// Misbehaving members.
    pub byzantine: &'a [NodeId],
}

/// Write the report into `dir`; returns the page.
pub fn write(
    dir: &Path,
    title: &str,
    subtitle: &str,
    data: &RunData<'_>,
) -> anyhow::Result<PathBuf> {
    let mut report = Report::new(title, subtitle);
    report.push(Section::Figures("Run".into(), data.figures.clone()));

    // Trust of every member over slots (members that appear later start later).
    let mut series: Vec<(NodeId, Series)> = Vec::new();
    for sample in data.samples {
        for (name, id, trust, _) in &sample.members {
            let index = match series.iter().position(|(sid, _)| sid == id) {
                Some(i) => i,
                None => {
                    let mark = if data.byzantine.contains(id) {
                        " (misbehaving)"
                    } else {
                        ""
                    };
                    series.push((
                        *id,
                        Series {
                            label: format!("{name}{mark}"),
                            points: Vec::new(),
                        },
                    ));
                    series.len() - 1
                }
            };
            series[index]
                .1
                .points
                .push((sample.slot as f64, f64::from(*trust)));
        }
    }
    report.push(Section::Lines {
        title: "Trust of every member over slots".into(),
        x: "slot".into(),
        y: "trust (bps)".into(),
        series: series.into_iter().map(|(_, s)| s).collect(),
    });

    // Throughput over time: operations decided per second (client view) and slots
    // decided per second (the sampled node's view), in 1 s buckets.
    let end = data
        .samples
        .last()
        .map(|s| s.at)
        .into_iter()
        .chain(data.decisions.iter().map(|d| d.0))
        .fold(0.0f64, f64::max);
    let buckets = end.ceil().max(1.0) as usize;
    let mut ops = vec![0u32; buckets];
    for (at, _) in data.decisions {
        ops[(at.floor().max(0.0) as usize).min(buckets - 1)] += 1;
    }
    let mut slots = Vec::new();
    for w in data.samples.windows(2) {
        let dt = w[1].at - w[0].at;
        if dt > 0.0 {
            slots.push((w[1].at, w[1].slot.saturating_sub(w[0].slot) as f64 / dt));
        }
    }
    report.push(Section::Lines {
        title: "Throughput over time".into(),
        x: "seconds since start".into(),
        y: "per second".into(),
        series: vec![
            Series {
                label: "operations decided/s (clients)".into(),
                points: ops
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (i as f64 + 0.5, f64::from(*c)))
                    .collect(),
            },
            Series {
                label: "slots decided/s (first node)".into(),
                points: slots,
            },
        ],
    });
    report.push(Section::Histogram {
        title: "Latency distribution (submit to decision)".into(),
        x: "milliseconds".into(),
        values: data
            .decisions
            .iter()
            .map(|(_, l)| l.as_secs_f64() * 1e3)
            .collect(),
    });
    report.push(Section::Table(
        "Events (perturbations, slashing, exclusion, admission, swaps)".into(),
        vec!["when".into(), "event".into()],
        data.events
            .iter()
            .map(|(when, e)| vec![when.clone(), e.clone()])
            .collect(),
    ));
    report.write(dir)
}
