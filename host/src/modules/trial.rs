//! The documented sample calls of every role, and the trial run a node gives a candidate
//! module before it votes for swapping it in.
//!
//! # Design
//! [`samples_for`] is the fixed, documented set of inputs of a role (docs/MODULES.md,
//! "Sample inputs"): every operation kind and three invalid operations for a validator,
//! the sample admission for an admission module, a unanimous, a split and a contested set
//! of layer results for a resolver, all against the built-in four-member snapshot, each
//! with a call context derived from its own bytes. `spore module check` runs them, and so
//! does [`trial`]: a candidate that traps, runs out of fuel or breaks its output contract
//! on any of them is unfit, and every honest node, running the same bytes on the same
//! samples with the same fuel, reaches the same verdict. A module that passes the trial can
//! still fail on other inputs; that is what the rollback after activation is for.

use std::sync::Arc;

use spore_core::crypto::canonical_bytes;
use spore_core::ops::{NodeAdmission, Operation};

use super::{
    CallContext, LoadedModule, ResolverInput, Role, Runtime, RuntimeError, SnapshotView, samples,
};

/// One sample call of a role.
#[derive(Debug, Clone)]
pub enum Sample {
    /// A validator call.
    Validate(Operation),
    /// An admission call.
    Admit(NodeAdmission),
    /// A resolver call, with a label.
    Resolve(&'static str, ResolverInput),
}

impl Sample {
    /// A short label (the operation kind, or the resolver case).
    pub fn label(&self) -> String {
        match self {
            Sample::Validate(op) => op.kind_name().to_owned(),
            Sample::Admit(_) => "node-admission".to_owned(),
            Sample::Resolve(label, _) => (*label).to_owned(),
        }
    }
}

/// The built-in samples of a role.
pub fn samples_for(role: Role) -> Vec<Sample> {
    match role {
        Role::Validator => samples::operations()
            .into_iter()
            .chain(samples::invalid_operations())
            .map(Sample::Validate)
            .collect(),
        Role::Admission => vec![Sample::Admit(samples::admission_request())],
        Role::Resolver => vec![
            Sample::Resolve("unanimous", samples::resolver_unanimous()),
            Sample::Resolve("split", samples::resolver_split()),
            Sample::Resolve("contested", samples::resolver_contested()),
        ],
    }
}

/// Most bytes of a generated admission request or resolver input (an operation is
/// bounded by its own decoder).
const MAX_GENERATED_BYTES: usize = 64 * 1024;

/// `count` inputs for `role` generated from its samples, deterministically from `seed`:
/// each is a sample's canonical bytes with a few bytes overwritten, inserted or removed,
/// kept if it still decodes (so the module sees odd but well-formed values: other kinds,
/// lengths, levels, trust scores, strings, outcomes). `spore module check` runs them
/// besides the fixed samples, so a module that misbehaves on inputs its author did not
/// think of is caught before a cluster votes on it.
pub fn generated_samples(role: Role, count: usize, seed: u64) -> Vec<Sample> {
    let bases: Vec<(Sample, Vec<u8>)> = samples_for(role)
        .into_iter()
        .map(|s| {
            let bytes = match &s {
                Sample::Validate(op) => canonical_bytes(op),
                Sample::Admit(request) => canonical_bytes(request),
                Sample::Resolve(_, input) => canonical_bytes(input),
            };
            (s, bytes)
        })
        .collect();
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    if bases.is_empty() {
        return out;
    }
    let pick = |n: u64, len: usize| usize::try_from(n % (len.max(1) as u64)).unwrap_or(0);
    for _ in 0..count.saturating_mul(64) {
        if out.len() >= count {
            break;
        }
        let (base, bytes) = &bases[pick(next(), bases.len())];
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = pick(next(), b.len());
            match next() % 4 {
                0 | 1 if !b.is_empty() => b[at] = next() as u8,
                2 => b.insert(at, next() as u8),
                _ if !b.is_empty() => {
                    b.remove(at);
                }
                _ => {}
            }
        }
        if !seen.insert(b.clone()) {
            continue;
        }
        let decoded = match base {
            Sample::Validate(_) => Operation::decode(&b).ok().map(Sample::Validate),
            Sample::Admit(_) if b.len() <= MAX_GENERATED_BYTES => {
                postcard::from_bytes::<NodeAdmission>(&b)
                    .ok()
                    .map(Sample::Admit)
            }
            Sample::Resolve(..) if b.len() <= MAX_GENERATED_BYTES => {
                postcard::from_bytes::<ResolverInput>(&b)
                    .ok()
                    .map(|i| Sample::Resolve("generated", i))
            }
            _ => None,
        };
        out.extend(decoded);
    }
    out
}

/// The call context of a sample (derived from its own bytes).
pub fn sample_context(sample: &Sample) -> CallContext {
    match sample {
        Sample::Validate(op) => samples::context(op),
        Sample::Admit(request) => samples::context_for(&canonical_bytes(request)),
        Sample::Resolve(label, _) => samples::context_for(label.as_bytes()),
    }
}

/// The snapshot a trial runs against: the sample members, and the parameters `params`
/// (a node passes its replicated ones, so the fuel budget and output cap of the trial are
/// the cluster's, the same on every node) over the sample's own.
pub fn trial_snapshot(params: impl IntoIterator<Item = (String, i64)>) -> Arc<SnapshotView> {
    let mut all: std::collections::BTreeMap<String, i64> = samples::params().into_iter().collect();
    all.extend(params);
    SnapshotView::new(samples::members(), all).shared()
}

/// Run every sample of `module`'s role through it against `snapshot` (see
/// [`trial_snapshot`]): `Ok(None)` if it passes them all, `Ok(Some(why))` naming the first
/// failing sample and the failure kind (deterministic: no engine message), or a local
/// runtime error (not a verdict).
pub fn trial(
    runtime: &Runtime,
    module: &Arc<LoadedModule>,
    snapshot: &Arc<SnapshotView>,
) -> Result<Option<String>, RuntimeError> {
    for sample in samples_for(module.role()) {
        let ctx = sample_context(&sample);
        let failure = match &sample {
            Sample::Validate(op) => runtime
                .call_validator_on(module, op, &ctx, snapshot)?
                .result
                .err(),
            Sample::Admit(request) => runtime
                .call_admission_on(module, request, &ctx, snapshot)?
                .result
                .err(),
            Sample::Resolve(_, input) => runtime
                .call_resolver_on(module, input, &ctx, snapshot)?
                .result
                .err(),
        };
        if let Some(f) = failure {
            return Ok(Some(format!("sample {}: {:?}", sample.label(), f.kind())));
        }
    }
    Ok(None)
}
