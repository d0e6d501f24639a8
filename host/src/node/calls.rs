//! Module calls for the consensus machine: snapshot of the replicated state, validator
//! (with the admission module for admissions), resolver, and the Byzantine test hook.
//!
//! # Determinism
//! Every input is derived from the replicated state at the slot and from the call
//! context the machine computed (slot, epoch, operation digest, seed), so every honest
//! node runs the same module on the same bytes.

use std::sync::Arc;

use spore_core::consensus::{CallContext, LayerResult, ModuleReply, ResolverVerdict};
use spore_core::crypto::Canonical;
use spore_core::ops::{FailureKind, Operation, Outcome, RejectionCode, Role};
use spore_core::state::ReplicatedState;
use spore_core::types::{Digest, View};

use super::config::Byzantine;
use crate::modules::{self, Resolution, Runtime, SnapshotView, convert};

/// The module snapshot of `state` in `view`.
pub fn snapshot(state: &ReplicatedState, view: View) -> Arc<SnapshotView> {
    let snap = state.snapshot(view);
    let members = snap
        .members
        .iter()
        .map(|m| convert::member_view(m.id, m.level, m.trust, m.eligible, m.layer));
    SnapshotView::new(members, snap.params.iter().cloned()).shared()
}

fn context(ctx: &CallContext) -> modules::CallContext {
    modules::CallContext {
        slot: ctx.slot,
        epoch: ctx.epoch,
        op_digest: ctx.op_digest,
        seed: ctx.seed,
    }
}

/// Module bytes by content hash (the node's store).
pub type ModuleLookup<'a> = &'a dyn Fn(&Digest) -> Option<Vec<u8>>;

/// For a module swap the validator accepted: the rejection if the new module's bytes do
/// not load as a component of the role (wrong world, foreign imports, not a component).
/// Every honest node holds the same bytes under the hash and runs the same checks, so
/// they agree; the reason names no engine message, only the hash and the role. A node
/// that lacks the bytes cannot judge and keeps the validator's verdict.
fn unfit_module_swap(
    runtime: &Runtime,
    op: &Operation,
    lookup: ModuleLookup<'_>,
) -> Option<Outcome> {
    let Operation::SecurityPolicyUpdate(u) = op else {
        return None;
    };
    let role = Role::of_domain(u.domain)?;
    let Some(bytes) = lookup(&u.new_policy) else {
        tracing::warn!(hash = %u.new_policy, %role, "module swap: bytes missing, fitness not checked");
        return None;
    };
    match runtime.load_verified(role, &bytes, u.new_policy) {
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(hash = %u.new_policy, %role, error = %e, "module swap refused: unfit module");
            Some(Outcome::Rejected {
                code: RejectionCode::PolicyViolation,
                reason: format!("module {} is not a fit {role} component", u.new_policy),
            })
        }
    }
}

/// Run the validator on `op` (and, for an admission, the admission module first: a
/// refusal is the agreed rejection; for a module swap, the host's fitness check after).
pub fn validate(
    runtime: &Runtime,
    op: &Operation,
    ctx: &CallContext,
    snapshot: &Arc<SnapshotView>,
    modules: ModuleLookup<'_>,
    byzantine: Option<Byzantine>,
) -> ModuleReply {
    let ctx = context(ctx);
    let outcome = (|| {
        if let Operation::NodeAdmission(request) = op {
            match runtime.call_admission(request, &ctx, snapshot) {
                Ok(report) => match report.result {
                    Ok(verdict) if !verdict.admit => {
                        return Outcome::Rejected {
                            code: RejectionCode::PolicyViolation,
                            reason: verdict.reasons.join("; "),
                        };
                    }
                    Ok(_) => {}
                    Err(failure) => return Outcome::Failed(failure.kind()),
                },
                Err(e) => {
                    tracing::error!(error = %e, "admission module unavailable");
                    return Outcome::Failed(FailureKind::Trap);
                }
            }
        }
        match runtime.call_validator(op, &ctx, snapshot) {
            Ok(report) => match report.outcome() {
                Outcome::Accepted(effect) => {
                    unfit_module_swap(runtime, op, modules).unwrap_or(Outcome::Accepted(effect))
                }
                other => other,
            },
            Err(e) => {
                tracing::error!(error = %e, "validator module unavailable");
                Outcome::Failed(FailureKind::Trap)
            }
        }
    })();
    let outcome = match byzantine {
        Some(Byzantine::WrongResult) => {
            let mut bytes = b"byzantine:".to_vec();
            bytes.extend_from_slice(&ctx.slot.to_le_bytes());
            Outcome::Accepted(bytes)
        }
        None => outcome,
    };
    ModuleReply::Validator(outcome)
}

fn layer(r: &LayerResult) -> modules::LayerResult {
    modules::LayerResult {
        layer: r.layer,
        result: r.result.as_ref().map(|o| match o {
            Outcome::Accepted(bytes) => bytes.clone(),
            other => other.canonical_bytes(),
        }),
        confidence: r.confidence,
        agreement: r.agreement,
    }
}

/// Run the resolver on the three layer results.
pub fn resolve(
    runtime: &Runtime,
    primary: &LayerResult,
    seed: &LayerResult,
    latent: &LayerResult,
    ctx: &CallContext,
    snapshot: &Arc<SnapshotView>,
) -> ModuleReply {
    let input = modules::ResolverInput {
        primary: layer(primary),
        seed: layer(seed),
        latent: layer(latent),
    };
    let verdict = match runtime.call_resolver(&input, &context(ctx), snapshot) {
        Ok(report) => match report.result {
            Ok(Resolution::Accept(l)) => ResolverVerdict::Accept(l),
            Ok(Resolution::Escalate(reason)) => ResolverVerdict::Escalate(reason),
            Err(failure) => ResolverVerdict::Failed(failure.kind()),
        },
        Err(e) => {
            tracing::error!(error = %e, "resolver module unavailable");
            ResolverVerdict::Failed(FailureKind::Trap)
        }
    };
    ModuleReply::Resolver(verdict)
}
