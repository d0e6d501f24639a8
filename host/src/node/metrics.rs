//! The node's metrics in the Prometheus text format, and its health and readiness.
//!
//! # Design
//! Distributions the node observes as they happen (batch sizes, the time between
//! decisions, phase latencies from `phase_clock.rs`, module call latency by role and
//! result, the latency and size of durable commits) live in [`Recorder`], owned by the event loop and updated in place. Everything
//! else is read when a scrape asks: [`render`] builds a fresh registry from the node's
//! [`StatusReport`] (slot, view, mempool, members and trust, modules, refusals), the
//! transport's counters and queues and the store, adds the recorded histograms, and encodes
//! it. So each fact keeps one home (the machine, the transport, the store) and the
//! endpoint only reads it; a scrape costs the loop one status report.
//!
//! Names carry the `spore_` prefix; counters end in `_total`; times are in seconds.

use std::fmt::Write as _;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::proto::StatusReport;
use crate::net::NetMetricsSnapshot;
use crate::net::endpoint::PeerStatus;

/// Labels of one series.
type Labels = Vec<(String, String)>;

/// Distributions the event loop records as they happen.
pub struct Recorder {
    /// Operations per decided slot.
    batch: Histogram,
    /// Seconds between two decisions of this node.
    slot_interval: Histogram,
    /// Module call seconds, by role and result.
    calls: Family<Labels, Histogram>,
    /// Seconds from a slot's proposal to this node's vote of each phase, and to its
    /// decision, by phase.
    phases: Family<Labels, Histogram>,
    /// Seconds of one durable commit (with its sync).
    flush: Histogram,
    /// Records per durable commit.
    flush_records: Histogram,
    /// Decided operations by outcome.
    outcomes: Family<Labels, Counter>,
    /// Trust penalties (decreases) applied, and exclusions.
    penalties: Counter,
    exclusions: Counter,
    last_decision: Option<std::time::Instant>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            batch: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            slot_interval: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            calls: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_005, 2.0, 20))
            }),
            phases: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
            }),
            flush: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            flush_records: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            outcomes: Family::default(),
            penalties: Counter::default(),
            exclusions: Counter::default(),
            last_decision: None,
        }
    }
}

impl Recorder {
    /// A slot was decided with `ops` operations, of which these outcomes.
    pub fn decided(&mut self, ops: usize, outcomes: impl IntoIterator<Item = &'static str>) {
        self.batch.observe(ops as f64);
        let now = std::time::Instant::now();
        if let Some(last) = self.last_decision {
            self.slot_interval
                .observe(now.duration_since(last).as_secs_f64());
        }
        self.last_decision = Some(now);
        for outcome in outcomes {
            self.outcomes
                .get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())])
                .inc();
        }
    }

    /// A module call of `role` ended in `result` after `seconds`.
    pub fn call(&self, role: &str, result: &str, seconds: f64) {
        self.calls
            .get_or_create(&vec![
                ("role".to_owned(), role.to_owned()),
                ("result".to_owned(), result.to_owned()),
            ])
            .observe(seconds);
    }

    /// This node's vote of `phase` (or its decision, `decided`) left it `seconds` after it
    /// first saw the slot's proposal.
    pub fn phase(&self, phase: &str, seconds: f64) {
        self.phases
            .get_or_create(&vec![("phase".to_owned(), phase.to_owned())])
            .observe(seconds);
    }

    /// A durable commit of `records` records took `seconds`.
    pub fn flushed(&self, records: usize, seconds: f64) {
        self.flush.observe(seconds);
        self.flush_records.observe(records as f64);
    }

    /// A trust change: a penalty if trust fell, and whether it excluded the member.
    pub fn trust_change(&self, delta: i64, excluded: bool) {
        if delta < 0 {
            self.penalties.inc();
        }
        if excluded {
            self.exclusions.inc();
        }
    }
}

/// What the store adds to a scrape.
pub struct StoreFacts {
    /// Decided entries held.
    pub decided_entries: u64,
    /// Size of the database file in bytes.
    pub file_bytes: u64,
}

/// Whether the node is ready to serve: an eligible member, not halted on a fork, running
/// every module the state names, and connected to enough eligible peers to make, with
/// itself, more than two thirds of the eligible members (a count, not the trust-weighted
/// quorum rule: a readiness probe, not a safety decision).
pub fn ready(status: &StatusReport, peers: &[PeerStatus]) -> bool {
    let eligible: Vec<_> = status.members.iter().filter(|m| m.eligible).collect();
    let me = eligible.iter().any(|m| m.id == status.node);
    let n = eligible.len().max(1);
    let needed = n - (n - 1) / 3;
    let connected = peers
        .iter()
        .filter(|p| p.connected && eligible.iter().any(|m| m.id == p.id))
        .count();
    me && status.fork.is_none()
        && status.modules.iter().all(|m| m.loaded)
        && connected + 1 >= needed
}

fn gauge(r: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    r.register(name, help, g);
}

fn counter(r: &mut Registry, name: &str, help: &str, v: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    r.register(name, help, c);
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Encode every metric of the node.
pub fn render(
    rec: &Recorder,
    status: &StatusReport,
    net: &NetMetricsSnapshot,
    peers: &[PeerStatus],
    store: &StoreFacts,
) -> String {
    let mut r = Registry::with_prefix("spore");
    // Consensus.
    gauge(&mut r, "slot", "Next slot to decide", signed(status.slot));
    gauge(&mut r, "view", "Current view", signed(status.view));
    gauge(
        &mut r,
        "view_changing",
        "1 while a view change is in progress",
        i64::from(status.view_changing),
    );
    gauge(
        &mut r,
        "mempool_operations",
        "Pending operations",
        signed(status.mempool),
    );
    counter(
        &mut r,
        "slots_decided",
        "Slots decided by this process",
        status.decided,
    );
    counter(
        &mut r,
        "view_changes",
        "View changes started by this process",
        status.view_changes,
    );
    counter(
        &mut r,
        "evidence",
        "Misbehaviour proofs seen",
        status.evidence,
    );
    gauge(
        &mut r,
        "fork_halted",
        "1 if this node detected a fork and halted",
        i64::from(status.fork.is_some()),
    );
    let rejected = Family::<Labels, Counter>::default();
    for (reason, n) in &status.rejected {
        rejected
            .get_or_create(&vec![("reason".to_owned(), reason.clone())])
            .inc_by(*n);
    }
    r.register(
        "rejected_messages",
        "Consensus messages refused, by reason",
        rejected,
    );
    r.register(
        "batch_operations",
        "Operations per decided slot",
        rec.batch.clone(),
    );
    r.register(
        "phase_seconds",
        "Time from first seeing a slot's proposal to this node's vote of each phase \
         (commit, reveal, tally as primary, accept, confirm) and to its decision",
        rec.phases.clone(),
    );
    r.register(
        "slot_interval_seconds",
        "Time between two decisions of this node",
        rec.slot_interval.clone(),
    );
    r.register(
        "operations_decided",
        "Decided operations by outcome (accepted, rejected, failed, escalated)",
        rec.outcomes.clone(),
    );
    // Trust.
    let trust = Family::<Labels, Gauge>::default();
    let eligible = Family::<Labels, Gauge>::default();
    for m in &status.members {
        let labels = vec![
            ("member".to_owned(), m.id.to_hex()),
            ("name".to_owned(), label_value(&m.name)),
        ];
        trust.get_or_create(&labels).set(i64::from(m.trust));
        eligible.get_or_create(&labels).set(i64::from(m.eligible));
    }
    r.register("member_trust_bps", "Trust of each member (bps)", trust);
    r.register(
        "member_eligible",
        "1 if the member is eligible (not excluded)",
        eligible,
    );
    r.register(
        "trust_penalties",
        "Trust decreases applied by decided slots",
        rec.penalties.clone(),
    );
    r.register(
        "exclusions",
        "Members excluded by decided slots",
        rec.exclusions.clone(),
    );
    // Modules.
    let active = Family::<Labels, Gauge>::default();
    for m in &status.modules {
        active
            .get_or_create(&vec![
                ("role".to_owned(), m.role.clone()),
                ("hash".to_owned(), m.active.to_hex()),
            ])
            .set(i64::from(m.loaded));
    }
    r.register(
        "module_active",
        "The active module of each role (1 once this node runs it)",
        active,
    );
    r.register(
        "module_call_seconds",
        "Module call time by role and result (ok, a failure kind, or local_fault)",
        rec.calls.clone(),
    );
    counter(
        &mut r,
        "module_calls_abstained",
        "Calls abandoned after repeated local faults (the node abstained)",
        status.abstained_calls,
    );
    let sigs = spore_core::crypto::signature_counts();
    counter(&mut r, "signatures_made", "Signatures made", sigs.made);
    counter(
        &mut r,
        "signatures_checked",
        "Signatures checked in full (curve arithmetic)",
        sigs.checked,
    );
    counter(
        &mut r,
        "signatures_cached",
        "Signature checks answered from the cache of verified signatures",
        sigs.cached,
    );
    counter(
        &mut r,
        "signatures_batched",
        "Signatures confirmed ahead in batch checks that passed",
        sigs.batched,
    );
    counter(
        &mut r,
        "signature_batches",
        "Batch checks of signatures run (passed or split)",
        sigs.batches,
    );
    // Network.
    counter(&mut r, "net_frames_in", "Frames received", net.frames_in);
    counter(&mut r, "net_frames_out", "Frames sent", net.frames_out);
    counter(&mut r, "net_bytes_in", "Frame bytes received", net.bytes_in);
    counter(&mut r, "net_bytes_out", "Frame bytes sent", net.bytes_out);
    counter(
        &mut r,
        "net_rejected_frames",
        "Frames refused (oversized, truncated, undecodable)",
        net.rejected_frames(),
    );
    counter(
        &mut r,
        "net_rejected_non_member",
        "Decoded frames dropped because their sender left the membership",
        net.rejected_non_member,
    );
    counter(
        &mut r,
        "net_connections",
        "Outgoing connections established",
        net.connections,
    );
    counter(
        &mut r,
        "net_refused_by_peer",
        "Outgoing streams a peer stopped (it refused a frame)",
        net.refused_by_peer,
    );
    counter(
        &mut r,
        "net_connections_reset",
        "Outgoing connections ended by a stateless reset (the peer restarted)",
        net.connections_reset,
    );
    counter(
        &mut r,
        "net_handshake_refusals",
        "TLS handshakes refused",
        net.handshake_refusals,
    );
    counter(
        &mut r,
        "net_dropped_queue_full",
        "Queued frames dropped (a peer's queue full, or cleared when it left the membership)",
        net.dropped_queue_full,
    );
    counter(
        &mut r,
        "net_reconnects",
        "Outgoing connections re-established after a loss",
        net.reconnects,
    );
    counter(
        &mut r,
        "net_dropped_module_parts",
        "Module parts from peers dropped (unsolicited, oversized, malformed, substituted)",
        status.dropped_blobs,
    );
    let queued = Family::<Labels, Gauge>::default();
    let connected = Family::<Labels, Gauge>::default();
    for p in peers {
        let labels = vec![("peer".to_owned(), p.id.to_hex())];
        queued.get_or_create(&labels).set(signed(p.queued as u64));
        connected.get_or_create(&labels).set(i64::from(p.connected));
    }
    r.register(
        "net_peer_queue_frames",
        "Frames waiting in each peer's queue",
        queued,
    );
    r.register(
        "net_peer_connected",
        "1 while a connection to the peer is held",
        connected,
    );
    // Store.
    r.register(
        "store_commit_seconds",
        "Durable commit time (one sync per batch of effects)",
        rec.flush.clone(),
    );
    r.register(
        "store_commit_records",
        "Records per durable commit",
        rec.flush_records.clone(),
    );
    gauge(
        &mut r,
        "store_decided_entries",
        "Decided entries in the store",
        signed(store.decided_entries),
    );
    gauge(
        &mut r,
        "store_file_bytes",
        "Size of the store's database file",
        signed(store.file_bytes),
    );
    gauge(
        &mut r,
        "ready",
        "1 if the node is ready (no fork, modules loaded, a quorum of peers connected)",
        i64::from(ready(status, peers)),
    );
    let mut out = String::new();
    if encode(&mut out, &r).is_err() {
        out.clear();
        let _ = writeln!(out, "# metrics could not be encoded");
    }
    out
}

/// `text` as a label value of the text format: the encoder writes label values as they
/// are, so a backslash, a quote or a newline would end the value or the line (a member
/// named `x"} 1` and a newline would add a forged sample). The host admits only plain
/// names (`state::authorize::is_name`); founders' names come from the genesis.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            super::label_value("x\"} 1\nspore_fork_halted 0\n#\\"),
            "x\\\"} 1\\nspore_fork_halted 0\\n#\\\\"
        );
    }
}
