//! Spore's default validator: checks every operation against the snapshot and the
//! configuration, and returns the canonical, deterministic encoding of its effect.
//!
//! A rejection carries the code of the first failed rule and every failed rule's
//! reason, joined with `"; "`, in the order the rules are checked.
//!
//! # Rules
//! - `network-config-change`: 1..=1024 changes; keys are 1..=64 bytes of `[a-z0-9.-]`,
//!   set at most once, inside the namespace of the config type (`quorum.*`, `trust.*`,
//!   `timing.*`, `membership.*`, `transport.*`); `trust.*` keys must be one of the eleven
//!   trust parameters (0..=10000 bps), `quorum.*` one of `quorum.light-weight-bps`
//!   (5000..=9999) and `quorum.min-high-trust` (0..=1000); other keys: `*-bps` in
//!   0..=10000, `*-ticks` / `*-slots` / `*-ms` >= 1, `membership.min-sponsors` in
//!   1..=1000, anything else >= 0. The configuration after the change must keep the trust
//!   ordering rules (`0 < exclusion < critical <= max`, `exclusion <= initial < critical`
//!   so newcomers start below the critical threshold, `exclusion <= readmission <=
//!   critical`, `agreement-gain <= epoch-gain-cap`, `no-reveal-penalty >=
//!   dissent-penalty`, `0 < recovery-per-epoch <= epoch-gain-cap`) and the quorum rules:
//!   the exclusion threshold leaves at least `min(4, eligible)` eligible members, and at
//!   least `quorum.min-high-trust` eligible members have trust >= the critical threshold.
//!   The effective impact is the declared one raised to the config type's minimum
//!   (quorum, trust: critical; membership, transport: high; timing: low).
//! - `trust-modification`: the target is a 32-byte member id; the delta is non-zero and
//!   within +-10000 bps; a recovery grant cannot lower trust, an audit finding or a
//!   misbehaviour report cannot raise it; the justification is 1..=4096 bytes. The new
//!   trust is clamped to `0..=trust.max`.
//! - `node-admission`: every rule of `sponsored-admission` (identity, not yet a member,
//!   sponsors known, eligible, trusted enough, distinct, not the candidate, enough of
//!   them, at the required level), name <= 64 and address <= 256 bytes, at most 1024
//!   sponsors, and the candidate claims no level above its best sponsor's.
//! - `node-exclusion`: the target is a member; evidence payloads are non-empty (<= 1024
//!   pieces); equivocation needs `conflicting-votes` evidence, an invalid reveal needs
//!   `bad-reveal` evidence, low trust needs the target's trust below
//!   `trust.exclusion-threshold`. An exclusion that is not provable (low trust,
//!   unresponsive, governance) of an eligible member must leave at least `min(4,
//!   eligible)` eligible members.
//! - `security-policy-update`: both digests 32 bytes, the new one not all zeros and not
//!   equal to the rollback target; description 1..=4096 bytes.
//! - `service-deployment`: name 1..=64 bytes of `[A-Za-z0-9._-]`, 32-byte artifact
//!   digest, 1..=10000 replicas, non-zero CPU and memory.
//! - `resource-allocation`: target is a valid name, amount > 0.
//! - `maintenance-task`: 1..=1024 distinct, valid component names; window
//!   `[start, end)` non-empty, at most 1,000,000 slots, starting no earlier than the
//!   call's slot.
//! - `performance-optimization`: 1..=1024 distinct, valid metric names; plan 1..=4096
//!   bytes.
//! - `compute`: kind `median-price` is computed by the `median-price` logic; any other
//!   kind is rejected `unsupported`.
//!
//! # Effect encoding (version 1)
//! Every effect is `version: u8 = 1`, `tag: u8` (the operation's case index in the WIT
//! `operation` variant, 0 = network-config-change ... 9 = compute), then the body below.
//! Primitives: integers fixed-width little-endian (`u8`, `u32`, `u64`, `i32`, `i64`);
//! `id` = a node id or digest as exactly 32 raw bytes; `bytes` and `string` = `u32`
//! length then the raw (UTF-8) bytes; `list<T>` = `u32` count then the items; an enum =
//! `u8` case index in its WIT declaration. Lists whose order carries no meaning are
//! sorted (ascending bytewise) so equal effects encode equally.
//!
//! | tag | operation | body |
//! |-----|-----------|------|
//! | 0 | network-config-change | `config-type: enum`, `declared impact: enum`, `effective impact: enum`, `list<(key: string, value: i64)>` sorted by key |
//! | 1 | trust-modification | `target: id`, `reason: enum`, `delta: i32`, `trust before: u32`, `trust after: u32` |
//! | 2 | node-admission | `candidate: id`, `level: enum`, `name: string`, `address: string`, `sponsors: list<id>` sorted |
//! | 3 | node-exclusion | `target: id`, `reason: enum`, `target trust: u32`, `target eligible: u8`, `list<(kind: enum, payload: bytes)>` sorted |
//! | 4 | security-policy-update | `domain: enum`, `new policy: id`, `rollback to: id`, `description: string` |
//! | 5 | service-deployment | `name: string`, `artifact: id`, `replicas: u32`, `strategy: enum`, `cpu-millis: u32`, `memory-mib: u32`, `storage-mib: u32` |
//! | 6 | resource-allocation | `resource: enum`, `target: string`, `amount: u64`, `priority: enum` |
//! | 7 | maintenance-task | `task: enum`, `components: list<string>` sorted, `window start: u64`, `window end: u64` |
//! | 8 | performance-optimization | `kind: enum`, `list<(name: string, target: i64)>` sorted by name, `plan: string` |
//! | 9 | compute | `kind: string`, `output: bytes` (for `median-price`: its 16-byte output) |
//!
//! # Determinism
//! Only the operation, the call context and the snapshot are read; arithmetic is
//! integer; maps are `BTreeMap`s; nothing depends on allocation addresses or hashing.

mod authority;
mod config;
mod encoding;
mod fields;
mod findings;
mod membership;
mod params;
mod policy;
mod trust;

pub use encoding::VERSION;
pub use params::{MIN_ELIGIBLE, TRUST_DEFAULTS};

use spore_guest::{CallContext, Host, Operation, Rejection, RejectionCode, Validator};

/// Variant index of `compute`.
pub const COMPUTE_TAG: u8 = 9;

/// The default validator.
pub struct DefaultValidator;

fn compute<H: Host + ?Sized>(
    host: &H,
    task: &spore_guest::ComputeTask,
) -> Result<Vec<u8>, Rejection> {
    if task.kind != median_price::KIND {
        return Err(Rejection::new(
            RejectionCode::Unsupported,
            format!("unsupported compute kind `{}`", task.kind),
        ));
    }
    let output = median_price::compute(&task.input)?;
    host.debug(&format!("median-price over {} bytes", task.input.len()));
    Ok(encoding::Encoder::new(COMPUTE_TAG)
        .str(&task.kind)
        .bytes(&output)
        .finish())
}

impl Validator for DefaultValidator {
    fn validate<H: Host + ?Sized>(
        host: &H,
        op: Operation,
        ctx: CallContext,
    ) -> Result<Vec<u8>, Rejection> {
        let result = match &op {
            Operation::NetworkConfigChange(c) => config::check(host, c),
            Operation::TrustModification(m) => trust::check(host, m),
            Operation::NodeAdmission(a) => membership::check_admission(host, a),
            Operation::NodeExclusion(x) => membership::check_exclusion(host, x),
            Operation::SecurityPolicyUpdate(u) => policy::check(u),
            Operation::ServiceDeployment(d) => authority::check_deployment(d),
            Operation::ResourceAllocation(a) => authority::check_allocation(a),
            Operation::MaintenanceTask(m) => authority::check_maintenance(m, &ctx),
            Operation::PerformanceOptimization(o) => authority::check_optimization(o),
            Operation::Compute(t) => compute(host, t),
        };
        if let Err(r) = &result {
            host.info(&format!(
                "slot {}: rejected ({}): {}",
                ctx.slot,
                r.code.name(),
                r.reason
            ));
        }
        result
    }
}

spore_guest::export_validator!(DefaultValidator);

#[cfg(test)]
mod tests;
