//! Decided operations per second of the consensus core alone: n honest nodes of the real
//! state machine on the simulated network with zero latency (no loss, no partition), for
//! n = 4, 7, 10, with batching (up to 16 operations per slot) and without (1 per slot).
//!
//! Every operation is a compute task, so each takes the Full-BFT path (propose, validator
//! call, sealed commit, reveal, tally, accept, confirm) and consecutive operations may
//! share a batch. A run submits [`OPS`] operations and ends when every node has decided
//! all of them; criterion reports the throughput in operations per second. The figure
//! includes every signature and its verification, the module stand-ins and the
//! simulator's own bookkeeping (event queue, trace hash).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spore_core::sim::workload::WorkloadKind;
use spore_core::sim::{Behaviour, Scenario, run_scenario};

/// Operations per measured run.
const OPS: usize = 64;

fn scenario(nodes: usize, max_batch: usize) -> Scenario {
    Scenario {
        nodes,
        byzantine: 0,
        behaviour: Behaviour::Honest,
        seed: 7,
        operations: OPS,
        workload: WorkloadKind::Compute,
        max_batch,
        min_delay: 0,
        max_delay: 0,
        ..Scenario::default()
    }
}

fn decided_ops_per_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("decided_ops");
    group.sample_size(10);
    group.throughput(Throughput::Elements(OPS as u64));
    for nodes in [4, 7, 10] {
        for (label, batch) in [("batch-1", 1), ("batch-16", 16)] {
            let s = scenario(nodes, batch);
            // A run that does not decide everything would make the figure meaningless.
            let check = run_scenario(&s);
            assert!(
                check.violations.is_empty(),
                "n={nodes} {label}: {:?}",
                check.violations
            );
            assert_eq!(
                check.decided_ops + check.escalated_ops,
                OPS as u64,
                "n={nodes} {label}"
            );
            group.bench_with_input(BenchmarkId::new(label, format!("n{nodes}")), &s, |b, s| {
                b.iter(|| run_scenario(s).decided_slots)
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decided_ops_per_second);
criterion_main!(benches);
