//! Twin test: the Rust `median-price` module and its C, JavaScript and Python twins
//! (`modules/median-price-c`, `-js`, `-py`) run through the host runtime and must agree
//! byte for byte.
//!
//! The C twin comes from `spore-artifacts`; the JavaScript and Python twins are module
//! projects, built here once per test process by `spore::project::build_copy` (the
//! pinned componentizers are fetched into `target/toolchains` on the first run). Every
//! component is loaded into one [`Runtime`] and called with the same operation, context
//! and snapshot. Their agreed outcomes (accepted bytes, or rejection code and
//! reason, or failure kind) must be identical on:
//! - hand-picked edge cases, each also checked against the expected value, so that two
//!   twins that are wrong in the same way still fail;
//! - thousands of seeded pseudo-random inputs (a SplitMix64 generator below), from
//!   several distributions: tight clusters with outliers, ties, the full i64 range,
//!   extreme values, duplicate reporters and malformed lengths;
//! - every non-compute operation of the built-in samples.
//!
//! A disagreement names the case and its seed, so it can be replayed.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail, ensure};
use spore::modules::{LoadedModule, Role, Runtime, RuntimeConfig, SnapshotView, samples};
use spore_core::ops::{ComputeTask, Operation, Outcome, RejectionCode};

/// Seeded pseudo-random cases per distribution.
const RANDOM_CASES: u64 = 400;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough for test inputs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant here.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.abs_diff(lo).wrapping_add(1);
        let offset = if span == 0 {
            self.next()
        } else {
            self.below(span)
        };
        lo.wrapping_add_unsigned(offset)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Encode `(reporter, price)` reports in the module's input format.
fn encode(reports: &[(u64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reports.len() * 16);
    for (reporter, price) in reports {
        out.extend_from_slice(&reporter.to_le_bytes());
        out.extend_from_slice(&price.to_le_bytes());
    }
    out
}

/// The expected output bytes: median (i64 LE), kept (u32 LE), dropped (u32 LE).
fn output(median: i64, kept: u32, dropped: u32) -> Outcome {
    let mut out = median.to_le_bytes().to_vec();
    out.extend_from_slice(&kept.to_le_bytes());
    out.extend_from_slice(&dropped.to_le_bytes());
    Outcome::Accepted(out)
}

fn malformed(reason: &str) -> Outcome {
    Outcome::Rejected {
        code: RejectionCode::Malformed,
        reason: reason.to_owned(),
    }
}

fn unsupported(reason: &str) -> Outcome {
    Outcome::Rejected {
        code: RejectionCode::Unsupported,
        reason: reason.to_owned(),
    }
}

fn compute(kind: &str, input: Vec<u8>) -> Operation {
    Operation::Compute(ComputeTask {
        kind: kind.to_owned(),
        input,
    })
}

fn median_op(reports: &[(u64, i64)]) -> Operation {
    compute("median-price", encode(reports))
}

/// Reporters `0..n` with the given prices.
fn indexed(prices: &[i64]) -> Vec<(u64, i64)> {
    (0u64..).zip(prices.iter().copied()).collect()
}

/// The Rust module and its C twin, loaded into one runtime.
struct Twins {
    runtime: Runtime,
    rust: Arc<LoadedModule>,
    /// The other twins, by name.
    others: Vec<(&'static str, Arc<LoadedModule>)>,
    snapshot: Arc<SnapshotView>,
}

/// Built components by twin name.
type Components = Vec<(&'static str, Vec<u8>)>;

/// The JavaScript and Python twins' components, built once per test process.
fn script_twins() -> Result<&'static [(&'static str, Vec<u8>)]> {
    static BUILT: OnceLock<std::result::Result<Components, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let toolchains =
            spore_buildkit::toolchain::Toolchains::new(root.join("target").join("toolchains"));
        let mut out = Vec::new();
        for name in ["median-price-js", "median-price-py"] {
            let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
            let built = spore::project::build_copy(
                &root.join("modules").join(name),
                scratch.path(),
                &toolchains,
            )
            .map_err(|e| format!("building {name}: {e}"))?;
            out.push((name, built.bytes));
        }
        Ok(out)
    });
    built.as_deref().map_err(|e| anyhow::anyhow!("{e}"))
}

impl Twins {
    /// The twins, loaded (compiled) once per test process: the script twins are large.
    fn load() -> Result<&'static Self> {
        static LOADED: OnceLock<std::result::Result<Twins, String>> = OnceLock::new();
        LOADED
            .get_or_init(|| Twins::load_all().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn load_all() -> Result<Self> {
        // A local tool's compile bound: a debug build on a busy machine compiles the
        // 12-18 MB JS and Python twins in well over the node's 60 s.
        let runtime =
            Runtime::for_local_tool(RuntimeConfig::default()).context("building the runtime")?;
        let rust = runtime
            .load(Role::Validator, spore_artifacts::MEDIAN_PRICE.bytes)
            .context("loading median-price")?;
        let c_artifact = spore_artifacts::median_price_c()
            .context("the C twin median-price-c was not built by spore-artifacts")?;
        let c = runtime
            .load(Role::Validator, c_artifact.bytes)
            .context("loading median-price-c")?;
        let mut others = vec![("c", c)];
        for (name, bytes) in script_twins()? {
            let module = runtime
                .load(Role::Validator, bytes)
                .with_context(|| format!("loading {name}"))?;
            others.push((name, module));
        }
        for (name, module) in &others {
            ensure!(
                rust.hash() != module.hash(),
                "{name}: the twins must be different modules"
            );
        }
        Ok(Self {
            runtime,
            rust,
            others,
            snapshot: samples::snapshot(),
        })
    }

    fn outcome(&self, module: &Arc<LoadedModule>, op: &Operation) -> Result<Outcome> {
        let ctx = samples::context(op);
        let report = self
            .runtime
            .call_validator_on(module, op, &ctx, &self.snapshot)
            .context("runtime refused the call")?;
        Ok(report.outcome())
    }

    /// Run `op` on every twin; fail unless they all agree. Returns the common outcome.
    fn agree(&self, label: &str, op: &Operation) -> Result<Outcome> {
        self.agree_within(label, op, false)
    }

    /// As [`Self::agree`]; with `script_fuel_out`, a script twin (JavaScript, Python) may
    /// instead run out of fuel: an interpreter spends hundreds of times the fuel of
    /// compiled code, so very large inputs exceed the call budget there (a documented
    /// limit, docs/MODULES.md), which is an agreed outcome of its own, never a wrong one.
    fn agree_within(&self, label: &str, op: &Operation, script_fuel_out: bool) -> Result<Outcome> {
        let rust = self.outcome(&self.rust, op)?;
        for (name, module) in &self.others {
            let other = self.outcome(module, op)?;
            let over_budget = script_fuel_out
                && *name != "c"
                && other == Outcome::Failed(spore_core::ops::FailureKind::OutOfFuel);
            if rust != other && !over_budget {
                bail!(
                    "twins disagree on {label}:\n  rust: {rust:?}\n  {name}: {other:?}\n  op:   {op:?}"
                );
            }
        }
        Ok(rust)
    }
}

/// Hand-picked cases with the outcome both twins must produce.
fn edge_cases() -> Vec<(&'static str, Operation, Outcome)> {
    let min = i64::MIN;
    let max = i64::MAX;
    vec![
        ("one report", median_op(&[(7, 42)]), output(42, 1, 0)),
        (
            "two reports: lower median",
            median_op(&indexed(&[10, 20])),
            output(10, 2, 0),
        ),
        (
            "even count: lower median of four",
            median_op(&indexed(&[40, 10, 30, 20])),
            output(20, 4, 0),
        ),
        (
            "all equal: MAD 0 keeps all",
            median_op(&indexed(&[5, 5, 5, 5, 5])),
            output(5, 5, 0),
        ),
        (
            "MAD 0 keeps even far values",
            median_op(&indexed(&[5, 5, 5, 1_000_000, -1_000_000])),
            output(5, 5, 0),
        ),
        (
            "one outlier dropped",
            median_op(&indexed(&[100, 101, 99, 102, 98, 10_000])),
            // median 100, deviations 0,1,1,2,2,9900 -> MAD 1, limit 3: 10_000 dropped;
            // kept 98..=102 -> median 100.
            output(100, 5, 1),
        ),
        (
            "deviation exactly 3*MAD is kept, 3*MAD+1 dropped",
            // median 10; deviations 0,1,1,2,2,6,7 -> MAD 2, limit 6: 16 kept, 3 dropped.
            median_op(&indexed(&[10, 11, 9, 12, 8, 16, 3])),
            output(10, 6, 1),
        ),
        (
            "negative prices",
            median_op(&indexed(&[-5, -1, -3, -2, -4])),
            output(-3, 5, 0),
        ),
        (
            "the two extremes",
            median_op(&indexed(&[max, min])),
            output(min, 2, 0),
        ),
        (
            "extremes around zero: deviations near 2^63",
            // median 0; deviations 0, 2^63, 2^63-1 -> MAD 2^63-1 (> u64::MAX / 3): keep all.
            median_op(&indexed(&[min, 0, max])),
            output(0, 3, 0),
        ),
        (
            "extremes with a tight cluster: both dropped",
            median_op(&indexed(&[min, 1, 2, 3, 4, 5, max])),
            output(3, 5, 2),
        ),
        (
            "all at i64::MIN",
            median_op(&indexed(&[min, min, min])),
            output(min, 3, 0),
        ),
        (
            "extreme reporter indices",
            median_op(&[(u64::MAX, 1), (0, 2), (u64::MAX - 1, 3)]),
            output(2, 3, 0),
        ),
        (
            "empty input",
            compute("median-price", Vec::new()),
            malformed("no price reports"),
        ),
        (
            "one byte",
            compute("median-price", vec![0]),
            malformed("input length 1 is not a multiple of 16"),
        ),
        (
            "fifteen bytes",
            compute("median-price", vec![0xff; 15]),
            malformed("input length 15 is not a multiple of 16"),
        ),
        (
            "one report and one byte",
            compute("median-price", {
                let mut input = encode(&[(1, 1)]);
                input.push(9);
                input
            }),
            malformed("input length 17 is not a multiple of 16"),
        ),
        (
            "duplicate reporter, adjacent",
            median_op(&[(3, 1), (3, 2)]),
            malformed("reporter 3 reported more than once"),
        ),
        (
            "two duplicated reporters: the smallest is named",
            median_op(&[(9, 1), (4, 2), (5, 3), (9, 4), (4, 5)]),
            malformed("reporter 4 reported more than once"),
        ),
        (
            "duplicate reporter u64::MAX",
            median_op(&[(u64::MAX, 1), (0, 2), (u64::MAX, 3)]),
            malformed("reporter 18446744073709551615 reported more than once"),
        ),
        (
            "other compute kind",
            compute("median", encode(&[(1, 1)])),
            unsupported("compute kind `median` is not `median-price`"),
        ),
        (
            "empty compute kind",
            compute("", encode(&[(1, 1)])),
            unsupported("compute kind `` is not `median-price`"),
        ),
        (
            "kind differing in case",
            compute("Median-Price", encode(&[(1, 1)])),
            unsupported("compute kind `Median-Price` is not `median-price`"),
        ),
        (
            "non-ASCII kind",
            compute("médiane-prix ✓", Vec::new()),
            unsupported("compute kind `médiane-prix ✓` is not `median-price`"),
        ),
        (
            "kind with a prefix match",
            compute("median-price-v2", encode(&[(1, 1)])),
            unsupported("compute kind `median-price-v2` is not `median-price`"),
        ),
    ]
}

#[test]
fn twins_agree_on_edge_cases() -> Result<()> {
    let twins = Twins::load()?;
    for (label, op, expected) in edge_cases() {
        let outcome = twins.agree(label, &op)?;
        ensure!(
            outcome == expected,
            "{label}: both twins gave {outcome:?}, expected {expected:?}"
        );
    }
    Ok(())
}

#[test]
fn twins_agree_on_non_compute_operations() -> Result<()> {
    let twins = Twins::load()?;
    let mut checked = 0;
    for op in samples::operations() {
        if matches!(op, Operation::Compute(_)) {
            continue;
        }
        let outcome = twins.agree(op.kind_name(), &op)?;
        ensure!(
            outcome == unsupported("median-price only computes `compute` operations"),
            "{}: {outcome:?}",
            op.kind_name()
        );
        checked += 1;
    }
    ensure!(
        checked >= 9,
        "only {checked} non-compute operations in the samples"
    );
    Ok(())
}

/// How a random case draws its prices.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A tight cluster around a random base, a few far outliers.
    ClusterWithOutliers,
    /// Few distinct values: many ties, MAD often 0.
    Ties,
    /// Uniform over the whole i64 range.
    FullRange,
    /// Mostly i64::MIN / i64::MAX / 0 / ±1.
    Extremes,
}

const SHAPES: [Shape; 4] = [
    Shape::ClusterWithOutliers,
    Shape::Ties,
    Shape::FullRange,
    Shape::Extremes,
];

fn price(rng: &mut SplitMix64, shape: Shape, base: i64) -> i64 {
    match shape {
        Shape::ClusterWithOutliers => {
            if rng.chance(10) {
                rng.between(i64::MIN / 2, i64::MAX / 2)
            } else {
                base.saturating_add(rng.between(-1_000, 1_000))
            }
        }
        Shape::Ties => base.saturating_add(rng.between(-2, 2)),
        Shape::FullRange => rng.next() as i64,
        Shape::Extremes => match rng.below(6) {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => 0,
            3 => 1,
            4 => -1,
            _ => rng.next() as i64,
        },
    }
}

/// One seeded random operation: mostly well-formed reports, sometimes with a duplicate
/// reporter or a truncated / extended input.
fn random_op(seed: u64, shape: Shape) -> Operation {
    let mut rng = SplitMix64(seed);
    let n = match rng.below(10) {
        0 => 1 + rng.below(3),
        1..=6 => 1 + rng.below(40),
        _ => 1 + rng.below(300),
    };
    let base = rng.between(-1_000_000_000, 1_000_000_000);
    // Distinct reporters: a random start and random positive strides (wrapping).
    let mut reporter = rng.next();
    let mut reports = Vec::new();
    for _ in 0..n {
        reports.push((reporter, price(&mut rng, shape, base)));
        reporter = reporter.wrapping_add(1 + rng.below(1 << 20));
    }
    if n > 1 && rng.chance(8) {
        let from = rng.below(n) as usize;
        let to = rng.below(n) as usize;
        if from != to {
            reports[to].0 = reports[from].0;
        }
    }
    let mut input = encode(&reports);
    if rng.chance(8) {
        if rng.chance(50) {
            let cut = 1 + rng.below(15) as usize;
            input.truncate(input.len().saturating_sub(cut));
        } else {
            for _ in 0..1 + rng.below(15) {
                input.push(rng.next() as u8);
            }
        }
    }
    compute("median-price", input)
}

#[test]
fn twins_agree_on_seeded_random_inputs() -> Result<()> {
    let twins = Twins::load()?;
    let (mut accepted, mut with_dropped, mut rejected) = (0u32, 0u32, 0u32);
    for (s, shape) in SHAPES.iter().enumerate() {
        for i in 0..RANDOM_CASES {
            let seed = 0x5eed_0000_0000 + ((s as u64) << 32) + i;
            let op = random_op(seed, *shape);
            let label = format!("{shape:?} seed {seed:#x}");
            match twins.agree(&label, &op)? {
                Outcome::Accepted(bytes) => {
                    ensure!(
                        bytes.len() == 16,
                        "{label}: output of {} bytes",
                        bytes.len()
                    );
                    accepted += 1;
                    if bytes[12..16] != [0; 4] {
                        with_dropped += 1;
                    }
                }
                Outcome::Rejected { code, .. } => {
                    ensure!(
                        code == RejectionCode::Malformed,
                        "{label}: rejected {code:?}"
                    );
                    rejected += 1;
                }
                Outcome::Failed(kind) | Outcome::Regressed(kind) => {
                    bail!("{label}: both twins failed with {kind:?}")
                }
            }
        }
    }
    // The generator must exercise every path, or agreement proves little.
    ensure!(accepted > 1000, "only {accepted} accepted random cases");
    ensure!(
        with_dropped > 100,
        "only {with_dropped} random cases dropped outliers"
    );
    ensure!(rejected > 50, "only {rejected} malformed random cases");
    Ok(())
}

#[test]
fn report_order_does_not_change_the_result() -> Result<()> {
    let twins = Twins::load()?;
    let mut rng = SplitMix64(0x0bde_75ee_d000);
    let mut reports: Vec<(u64, i64)> = (0..64)
        .map(|i| (i, price(&mut rng, Shape::ClusterWithOutliers, 10_000)))
        .collect();
    let first = twins.agree("sorted reporters", &median_op(&reports))?;
    ensure!(matches!(first, Outcome::Accepted(_)), "{first:?}");
    for round in 0..8 {
        // Fisher-Yates shuffle.
        for i in (1..reports.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            reports.swap(i, j);
        }
        let again = twins.agree(&format!("shuffle {round}"), &median_op(&reports))?;
        ensure!(again == first, "shuffle {round}: {again:?} != {first:?}");
    }
    Ok(())
}

#[test]
fn twins_agree_on_a_large_input() -> Result<()> {
    let twins = Twins::load()?;
    let mut rng = SplitMix64(0x1a2e_5eed);
    let reports: Vec<(u64, i64)> = (0..20_000)
        .map(|i| {
            (
                i * 7 + 3,
                price(&mut rng, Shape::ClusterWithOutliers, -42_000),
            )
        })
        .collect();
    let outcome = twins.agree_within("20 000 reports", &median_op(&reports), true)?;
    let Outcome::Accepted(bytes) = outcome else {
        bail!("20 000 reports: {outcome:?}");
    };
    ensure!(bytes.len() == 16, "output of {} bytes", bytes.len());
    let kept = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let dropped = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    ensure!(kept + dropped == 20_000, "kept {kept} + dropped {dropped}");
    ensure!(dropped > 0, "the 10% outliers must be dropped");
    Ok(())
}
