//! Criterion benchmarks of the module runtime, printed together with a summary:
//! - a pre-instantiated call of the median-price compute module (fresh store and instance
//!   from the module's `InstancePre`, call, result lifted) versus the same logic compiled
//!   natively (the `median-price` crate's rlib), and their ratio;
//! - the per-call instantiation time alone, with the pooling allocator;
//! - the time of a hot swap of the active validator.
//!
//! Run with `cargo bench -p spore --bench runtime`.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use spore::modules::host_state::HostState;
use spore::modules::registry::RolePre;
use spore::modules::{Role, Runtime, RuntimeConfig, convert, samples};
use wasmtime::Store;

/// Total time and iterations seen by one benchmark (warm-up included), for the summary.
#[derive(Default)]
struct Tally {
    iters: Cell<u64>,
    total: Cell<Duration>,
}

impl Tally {
    fn mean_ns(&self) -> f64 {
        let iters = self.iters.get().max(1);
        self.total.get().as_nanos() as f64 / iters as f64
    }

    /// Time `iters` runs of `f`, recording them.
    fn time<T>(&self, iters: u64, mut f: impl FnMut() -> T) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        let elapsed = start.elapsed();
        self.iters.set(self.iters.get() + iters);
        self.total.set(self.total.get() + elapsed);
        elapsed
    }
}

fn main() -> anyhow::Result<()> {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let runtime = Runtime::new(RuntimeConfig::default())?;
    let median = runtime.install(Role::Validator, spore_artifacts::MEDIAN_PRICE.bytes)?;
    let default = runtime.load(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes)?;
    let snapshot = samples::snapshot();
    let op = samples::compute_op();
    let ctx = samples::context(&op);
    let input = samples::price_reports();

    // Sanity: both sides compute the same thing before we time them.
    let wasm = runtime.call_validator_on(&median, &op, &ctx, &snapshot)?;
    let native = median_price::median_price(&input).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        wasm.outcome() == spore::core::ops::Outcome::Accepted(native.encode().to_vec()),
        "the module and the native function disagree"
    );

    let (native_t, wasm_t, reuse_t, inst_t, swap_t) = (
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
    );
    let RolePre::Validator(pre) = median.pre() else {
        anyhow::bail!("median-price is a validator");
    };
    let config = runtime.config().clone();
    // For the breakdown: one instance reused across calls (never done in production,
    // where every call gets a fresh store) isolates the call from instantiation.
    let mut reused_store = Store::new(
        runtime.engine(),
        HostState::new(&config, median.hash(), Arc::clone(&snapshot)),
    );
    let reused = pre
        .instantiate(&mut reused_store)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let (op_wit, ctx_wit) = (
        convert::operation_to_wit(
            &op,
            &spore_core::state::MembershipRules::from_params(|k| snapshot.param(k)),
        ),
        convert::context_to_wit(&ctx),
    );
    for _ in 0..2 {
        reused_store
            .set_fuel(config.validator_fuel)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let out = reused
            .call_validate(&mut reused_store, &op_wit, &ctx_wit)
            .map_err(|e| anyhow::anyhow!("a reused instance must serve repeated calls: {e:#}"))?;
        anyhow::ensure!(out.is_ok(), "the reused instance rejected the compute task");
    }

    let mut group = criterion.benchmark_group("median-price");
    group.bench_function("native", |b| {
        b.iter_custom(|iters| {
            native_t.time(iters, || median_price::median_price(black_box(&input)))
        })
    });
    group.bench_function("wasm pre-instantiated call", |b| {
        b.iter_custom(|iters| {
            wasm_t.time(iters, || {
                runtime.call_validator_on(&median, &op, &ctx, &snapshot)
            })
        })
    });
    group.bench_function("wasm call on a reused instance (breakdown only)", |b| {
        b.iter_custom(|iters| {
            reuse_t.time(iters, || {
                reused_store.set_fuel(config.validator_fuel).is_ok()
                    && reused
                        .call_validate(&mut reused_store, &op_wit, &ctx_wit)
                        .is_ok()
            })
        })
    });
    group.finish();

    criterion.bench_function("instantiate (pooling allocator)", |b| {
        b.iter_custom(|iters| {
            inst_t.time(iters, || {
                let state = HostState::new(&config, median.hash(), Arc::clone(&snapshot));
                let mut store = Store::new(runtime.engine(), state);
                pre.instantiate(&mut store).is_ok()
            })
        })
    });

    let mut next = [default.hash(), median.hash()].into_iter().cycle();
    criterion.bench_function("hot swap (activate validator)", |b| {
        b.iter_custom(|iters| {
            swap_t.time(iters, || {
                next.next()
                    .map(|hash| runtime.activate(Role::Validator, hash).is_ok())
            })
        })
    });

    criterion.final_summary();
    let (native_ns, wasm_ns) = (native_t.mean_ns(), wasm_t.mean_ns());
    println!("\n== spore runtime summary (means over every timed iteration) ==");
    println!(
        "median-price, native Rust:                 {:>12.0} ns",
        native_ns
    );
    println!(
        "median-price, wasm pre-instantiated call:  {:>12.0} ns",
        wasm_ns
    );
    println!(
        "ratio wasm / native:                       {:>12.1} x",
        wasm_ns / native_ns.max(1.0)
    );
    println!("  fuel per call: {}", wasm.fuel_used);
    println!(
        "  of which the call alone (reused instance): {:>8.0} ns = {:.1} x native",
        reuse_t.mean_ns(),
        reuse_t.mean_ns() / native_ns.max(1.0)
    );
    println!(
        "instantiation per call (pooling):          {:>12.0} ns",
        inst_t.mean_ns()
    );
    println!(
        "hot swap (activate):                       {:>12.0} ns",
        swap_t.mean_ns()
    );
    Ok(())
}
