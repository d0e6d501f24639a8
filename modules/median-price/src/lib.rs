//! Spore's `compute` example: the outlier-filtered median of signed price reports.
//!
//! A validator-world module. For `compute` operations of kind [`KIND`]
//! (`"median-price"`) it returns the median of the reported prices after dropping
//! outliers; every other operation is rejected as `unsupported`. The logic is plain Rust
//! ([`median_price`]) so the default validator reuses it and it runs natively in tests
//! and benchmarks.
//!
//! # Input format
//! `N` reports, concatenated, each exactly 16 bytes:
//!
//! | offset | size | field                                     |
//! |--------|------|-------------------------------------------|
//! | 0      | 8    | reporter index, `u64` little-endian         |
//! | 8      | 8    | price, `i64` little-endian (fixed-point)    |
//!
//! Rejected as `malformed`: a length that is not a multiple of 16, zero reports, or the
//! same reporter index twice.
//!
//! # Algorithm (integer only)
//! 1. `median` = the lower median of the prices: sort ascending, take index `(N-1)/2`.
//! 2. `dev_i = |price_i - median|`, computed in `i128` (cannot overflow) and held as
//!    `u128`; `mad` = the lower median of the `dev_i` (same rule).
//! 3. If `mad == 0`, keep every report; otherwise keep report `i` iff
//!    `dev_i <= 3 * mad` (a report exactly at `3 * mad` is kept).
//! 4. `result` = the lower median of the kept prices.
//!
//! # Output format
//! Exactly 16 bytes:
//!
//! | offset | size | field                                  |
//! |--------|------|----------------------------------------|
//! | 0      | 8    | `result`, `i64` little-endian            |
//! | 8      | 4    | kept report count, `u32` little-endian   |
//! | 12     | 4    | dropped report count, `u32` little-endian|
//!
//! # Rejections
//! The reason strings are part of the agreed result, so the C twin reproduces them byte
//! for byte (`{n}` is a decimal integer, no padding):
//!
//! | case | code | reason |
//! |------|------|--------|
//! | length not a multiple of 16 | `malformed` | `input length {len} is not a multiple of 16` |
//! | zero reports | `malformed` | `no price reports` |
//! | duplicate reporter | `malformed` | `reporter {index} reported more than once` (smallest duplicated index) |
//! | compute of another kind | `unsupported` | ``compute kind `{kind}` is not `median-price` `` |
//! | any other operation | `unsupported` | ``median-price only computes `compute` operations`` |
//!
//! # Determinism
//! Integer arithmetic only; sorting is by value, so the order of reports in the input
//! does not change the output. The C twin (`modules/median-price-c`) implements the same
//! rules and must match byte for byte.

use spore_guest::{CallContext, Host, Operation, Rejection, RejectionCode, Validator};

/// The `compute-task.kind` this module computes.
pub const KIND: &str = "median-price";

/// Size in bytes of one price report.
pub const REPORT_LEN: usize = 16;

/// Size in bytes of the encoded output.
pub const OUTPUT_LEN: usize = 16;

/// Outliers are reports farther than this many MADs from the median.
pub const MAD_FACTOR: u128 = 3;

/// Why an input cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MedianError {
    /// The input length is not a multiple of [`REPORT_LEN`].
    #[error("input length {0} is not a multiple of {REPORT_LEN}")]
    Length(usize),
    /// The input holds no report.
    #[error("no price reports")]
    Empty,
    /// Two reports come from the same reporter.
    #[error("reporter {0} reported more than once")]
    DuplicateReporter(u64),
    /// More reports than the output's `u32` counts can hold.
    #[error("too many reports: {0}")]
    TooMany(usize),
}

/// The result of a median computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MedianOutput {
    /// Lower median of the kept prices.
    pub median: i64,
    /// Number of reports kept.
    pub kept: u32,
    /// Number of reports dropped as outliers.
    pub dropped: u32,
}

impl MedianOutput {
    /// The 16-byte output encoding (see the crate docs).
    pub fn encode(&self) -> [u8; OUTPUT_LEN] {
        let mut out = [0u8; OUTPUT_LEN];
        out[0..8].copy_from_slice(&self.median.to_le_bytes());
        out[8..12].copy_from_slice(&self.kept.to_le_bytes());
        out[12..16].copy_from_slice(&self.dropped.to_le_bytes());
        out
    }

    /// Decode a 16-byte output; `None` if `bytes` is not exactly 16 bytes long.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; OUTPUT_LEN] = bytes.try_into().ok()?;
        let [
            m0,
            m1,
            m2,
            m3,
            m4,
            m5,
            m6,
            m7,
            k0,
            k1,
            k2,
            k3,
            d0,
            d1,
            d2,
            d3,
        ] = *bytes;
        Some(Self {
            median: i64::from_le_bytes([m0, m1, m2, m3, m4, m5, m6, m7]),
            kept: u32::from_le_bytes([k0, k1, k2, k3]),
            dropped: u32::from_le_bytes([d0, d1, d2, d3]),
        })
    }
}

/// Encode reports `(reporter, price)` in the input format.
pub fn encode_reports(reports: &[(u64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reports.len() * REPORT_LEN);
    for (reporter, price) in reports {
        out.extend_from_slice(&reporter.to_le_bytes());
        out.extend_from_slice(&price.to_le_bytes());
    }
    out
}

/// Parse the input into `(reporter, price)` pairs.
pub fn decode_reports(input: &[u8]) -> Result<Vec<(u64, i64)>, MedianError> {
    if !input.len().is_multiple_of(REPORT_LEN) {
        return Err(MedianError::Length(input.len()));
    }
    let reports: Vec<(u64, i64)> = input
        .chunks_exact(REPORT_LEN)
        .map(|c| {
            let mut reporter = [0u8; 8];
            let mut price = [0u8; 8];
            reporter.copy_from_slice(&c[0..8]);
            price.copy_from_slice(&c[8..16]);
            (u64::from_le_bytes(reporter), i64::from_le_bytes(price))
        })
        .collect();
    if reports.is_empty() {
        return Err(MedianError::Empty);
    }
    if u32::try_from(reports.len()).is_err() {
        return Err(MedianError::TooMany(reports.len()));
    }
    let mut reporters: Vec<u64> = reports.iter().map(|(r, _)| *r).collect();
    reporters.sort_unstable();
    if let Some(w) = reporters.windows(2).find(|w| w[0] == w[1]) {
        return Err(MedianError::DuplicateReporter(w[0]));
    }
    Ok(reports)
}

/// Lower median of a non-empty, sorted slice.
fn lower_median<T: Copy>(sorted: &[T]) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get(last / 2).copied()
}

/// Compute the outlier-filtered median of the reports in `input` (see the crate docs).
pub fn median_price(input: &[u8]) -> Result<MedianOutput, MedianError> {
    let reports = decode_reports(input)?;
    let mut prices: Vec<i64> = reports.iter().map(|(_, p)| *p).collect();
    prices.sort_unstable();
    let median = lower_median(&prices).ok_or(MedianError::Empty)?;

    let deviation = |p: i64| (i128::from(p) - i128::from(median)).unsigned_abs();
    let mut deviations: Vec<u128> = prices.iter().map(|p| deviation(*p)).collect();
    deviations.sort_unstable();
    let mad = lower_median(&deviations).ok_or(MedianError::Empty)?;

    let kept: Vec<i64> = if mad == 0 {
        prices
    } else {
        let limit = mad.saturating_mul(MAD_FACTOR);
        // `prices` is sorted, so the filtered vector is sorted too.
        prices
            .into_iter()
            .filter(|p| deviation(*p) <= limit)
            .collect()
    };
    // The median itself has deviation 0, so at least one report is always kept.
    let result = lower_median(&kept).ok_or(MedianError::Empty)?;
    let kept_count = u32::try_from(kept.len()).map_err(|_| MedianError::TooMany(kept.len()))?;
    let total = u32::try_from(reports.len()).map_err(|_| MedianError::TooMany(reports.len()))?;
    Ok(MedianOutput {
        median: result,
        kept: kept_count,
        dropped: total - kept_count,
    })
}

/// The encoded output for `input`, or a `malformed` rejection.
pub fn compute(input: &[u8]) -> Result<Vec<u8>, Rejection> {
    median_price(input)
        .map(|out| out.encode().to_vec())
        .map_err(|e| Rejection::new(RejectionCode::Malformed, e.to_string()))
}

/// The median-price validator.
pub struct MedianPrice;

impl Validator for MedianPrice {
    fn validate<H: Host + ?Sized>(
        _host: &H,
        op: Operation,
        _ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        match op {
            Operation::Compute(task) if task.kind == KIND => compute(&task.input),
            Operation::Compute(task) => Err(Rejection::new(
                RejectionCode::Unsupported,
                format!("compute kind `{}` is not `{KIND}`", task.kind),
            )),
            _ => Err(Rejection::new(
                RejectionCode::Unsupported,
                "median-price only computes `compute` operations",
            )),
        }
    }
}

#[cfg(feature = "export")]
spore_guest::export_validator!(MedianPrice);

#[cfg(test)]
mod tests;
