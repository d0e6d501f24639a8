//! Module calls for the consensus machine: snapshot of the replicated state, validator
//! (with the admission module for admissions), resolver, and the Byzantine test hook.
//!
//! # Determinism
//! Every input is derived from the replicated state at the slot and from the call
//! context the machine computed (slot, epoch, operation digest, seed), so every honest
//! node runs the same module on the same bytes.
//!
//! # Local faults are not results
//! Only what the module itself ends in (a value, a rejection, a trap, fuel exhaustion, an
//! output-contract breach) is an outcome the node may commit to. A call that cannot run
//! here for a local reason — no active module, the instance pool exhausted, the bytes of a
//! module to judge missing — is a [`LocalFault`]: the driver retries it (fetching missing
//! bytes first) and, if the fault persists, abstains; it never reports the fault as a
//! result, so an honest node is never slashed for its own overload.

use std::sync::Arc;

use spore_core::consensus::{CallContext, LayerResult, ModuleReply, ResolverVerdict};
use spore_core::crypto::Canonical;
use spore_core::ops::{Operation, Outcome, RejectionCode, Role};
use spore_core::state::ReplicatedState;
use spore_core::types::{Digest, View};

use super::config::Byzantine;
use crate::modules::{self, Resolution, Runtime, SnapshotView, convert, trial};

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
    modules::CallContext::from(ctx)
}

/// Module bytes by content hash (the node's store).
pub type ModuleLookup<'a> = &'a dyn Fn(&Digest) -> Option<Vec<u8>>;

/// The modules the replicated state names for the slot a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotModules {
    /// The validator of the slot.
    pub validator: Digest,
    /// The admission module of the slot.
    pub admission: Digest,
    /// The resolver of the slot.
    pub resolver: Digest,
    /// The validator the slot's validator replaced, while it is on probation: a call that
    /// fails is run on it too, and is [`Outcome::Regressed`] only if it does not fail
    /// there ([`ReplicatedState::probation_fallback`]).
    pub fallback: Option<Digest>,
}

impl SlotModules {
    /// The modules `state` names for its next slot (`None` if a role has none).
    pub fn of(state: &ReplicatedState) -> Option<Self> {
        Some(SlotModules {
            validator: state.active_module(Role::Validator)?,
            admission: state.active_module(Role::Admission)?,
            resolver: state.active_module(Role::Resolver)?,
            fallback: state.probation_fallback(),
        })
    }
}

/// The loaded module `hash` for `role`: from the registry, else compiled now from the
/// store's bytes (on the calling worker thread, never the event loop; once per hash, the
/// registry keeps it), else a [`LocalFault::MissingModule`] (the driver fetches the bytes
/// and retries). So a call always runs the module the replicated state names for its slot,
/// exactly from the slot that decided the swap, on every node, whenever its bytes arrive.
pub fn slot_module(
    runtime: &Runtime,
    role: Role,
    hash: Digest,
    lookup: ModuleLookup<'_>,
) -> Result<Arc<crate::modules::LoadedModule>, LocalFault> {
    if let Some(m) = runtime.registry().get(&hash).filter(|m| m.role() == role) {
        return Ok(m);
    }
    let bytes = lookup(&hash).ok_or(LocalFault::MissingModule(hash))?;
    runtime
        .load_verified(role, &bytes, hash)
        .map_err(|e| LocalFault::Unavailable(e.to_string()))
}

/// Why a call could not run on this node: a local condition, never an agreed outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalFault {
    /// The runtime could not run the call here (no active module, pool exhausted, ...).
    #[error("module call unavailable on this node: {0}")]
    Unavailable(String),
    /// The bytes of a module the call must judge are not in the store: fetch, then retry.
    #[error("module {0} bytes missing")]
    MissingModule(Digest),
    /// The call panicked on this node (a bug in the host or the engine): never a result.
    #[error("module call panicked on this node: {0}")]
    Panicked(String),
}

/// Run `call`, turning a panic into [`LocalFault::Panicked`] so that the caller still
/// answers (the default hook has printed the panic already).
pub fn unwound<T>(
    call: impl FnOnce() -> Result<T, LocalFault> + std::panic::UnwindSafe,
) -> Result<T, LocalFault> {
    std::panic::catch_unwind(call).unwrap_or_else(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        Err(LocalFault::Panicked(text))
    })
}

/// For a module swap the validator accepted: the rejection if the new module is unfit for
/// the role — its bytes do not load as a component of the role (wrong world, foreign
/// imports, not a component), or it fails its trial run on the role's documented samples
/// within the fuel budget ([`crate::modules::trial`]: an infinite loop, a trap, a broken
/// output contract). Every honest node holds the same bytes under the hash and runs the
/// same checks, so they agree; the reason names no engine message, only the hash, the
/// role, the sample and the failure kind. A node that lacks the bytes cannot judge: that
/// is a local fault (fetch and retry), never a verdict.
fn unfit_module_swap(
    runtime: &Runtime,
    op: &Operation,
    snapshot: &SnapshotView,
    lookup: ModuleLookup<'_>,
) -> Result<Option<Outcome>, LocalFault> {
    let Operation::SecurityPolicyUpdate(u) = op else {
        return Ok(None);
    };
    let Some(role) = Role::of_domain(u.domain) else {
        return Ok(None);
    };
    let Some(bytes) = lookup(&u.new_policy) else {
        tracing::info!(hash = %u.new_policy, %role, "module swap: bytes missing, fetching before judging");
        return Err(LocalFault::MissingModule(u.new_policy));
    };
    let reject = |reason: String| {
        Ok(Some(Outcome::Rejected {
            code: RejectionCode::PolicyViolation,
            reason,
        }))
    };
    let Some(module) = load_judged(runtime, role, &bytes, u.new_policy)? else {
        return reject(format!(
            "module {} is not a fit {role} component",
            u.new_policy
        ));
    };
    // The trial runs with the cluster's fuel budget and output cap (the replicated
    // parameters of this slot's snapshot), so every node reaches the same verdict.
    let trial_snapshot = trial::trial_snapshot(snapshot.params().map(|(k, v)| (k.clone(), *v)));
    match trial::trial(runtime, &module, &trial_snapshot)
        .map_err(|e| LocalFault::Unavailable(e.to_string()))
    {
        Ok(None) => Ok(None),
        Ok(Some(why)) => {
            tracing::warn!(hash = %u.new_policy, %role, %why, "module swap refused: failed its trial run");
            reject(format!(
                "module {} failed its trial run as {role}: {why}",
                u.new_policy
            ))
        }
        Err(e) => Err(e),
    }
}

/// Load `bytes` as `hash` for `role`, judged: `None` if they are unfit for it by their
/// own content (invalid, of the wrong world, refused by this binary's rules: the same on
/// every node), a [`LocalFault`] if this host cannot load them now (its cache or compiler
/// unusable, or another runtime error).
fn load_judged(
    runtime: &Runtime,
    role: Role,
    bytes: &[u8],
    hash: Digest,
) -> Result<Option<Arc<crate::modules::LoadedModule>>, LocalFault> {
    use crate::modules::{LoadError, RuntimeError};
    match runtime.load_verified(role, bytes, hash) {
        Ok(m) => Ok(Some(m)),
        Err(
            e @ RuntimeError::Load(
                LoadError::CacheIo { .. }
                | LoadError::CacheTampered { .. }
                | LoadError::CompilerUnavailable(_),
            ),
        ) => Err(LocalFault::Unavailable(e.to_string())),
        Err(RuntimeError::Load(e)) => {
            tracing::warn!(%hash, %role, error = %e, "module unfit: it does not load");
            Ok(None)
        }
        Err(e) => Err(LocalFault::Unavailable(e.to_string())),
    }
}

/// Whether the validator `previous` (the one a validator on probation replaced) fails on
/// `op` too. One that no longer loads, for a reason of its bytes (refused as invalid or
/// of the wrong world by this binary's rules), fails on every input, the same on every
/// node; only a reason of this host (bytes missing, the cache or the compiler unusable,
/// the call unable to run here) is a local fault. Were every load failure a local fault,
/// one client sending an input the new validator fails on would hold the slot for good
/// on every node that could not load the old one.
fn replaced_validator_fails(
    runtime: &Runtime,
    previous: Digest,
    op: &Operation,
    ctx: &modules::CallContext,
    snapshot: &Arc<SnapshotView>,
    lookup: ModuleLookup<'_>,
) -> Result<bool, LocalFault> {
    let module = match runtime
        .registry()
        .get(&previous)
        .filter(|m| m.role() == Role::Validator)
    {
        Some(m) => m,
        None => {
            let bytes = lookup(&previous).ok_or(LocalFault::MissingModule(previous))?;
            match load_judged(runtime, Role::Validator, &bytes, previous)? {
                Some(m) => m,
                None => return Ok(true),
            }
        }
    };
    let report = runtime
        .call_validator_on(&module, op, ctx, snapshot)
        .map_err(|e| LocalFault::Unavailable(e.to_string()))?;
    Ok(matches!(report.outcome(), Outcome::Failed(_)))
}

/// Run the validator on `op` (and, for an admission, the admission module first: a
/// refusal is the agreed rejection; for a module swap, the host's fitness check after).
/// A [`LocalFault`] is not a result: the caller retries or abstains.
pub fn validate(
    runtime: &Runtime,
    op: &Operation,
    ctx: &CallContext,
    snapshot: &Arc<SnapshotView>,
    modules: ModuleLookup<'_>,
    slot_modules: &SlotModules,
    byzantine: Option<Byzantine>,
) -> Result<ModuleReply, LocalFault> {
    let ctx = context(ctx);
    let unavailable = |what: &str, e: crate::modules::RuntimeError| {
        tracing::warn!(error = %e, "{what} module unavailable on this node (local, not a result)");
        LocalFault::Unavailable(e.to_string())
    };
    let outcome = (|| {
        if let Operation::NodeAdmission(request) = op {
            let admission = slot_module(runtime, Role::Admission, slot_modules.admission, modules)?;
            let report = runtime
                .call_admission_on(&admission, request, &ctx, snapshot)
                .map_err(|e| unavailable("admission", e))?;
            match report.result {
                Ok(verdict) if !verdict.admit => {
                    return Ok(Outcome::Rejected {
                        code: RejectionCode::PolicyViolation,
                        reason: verdict.reasons.join("; "),
                    });
                }
                Ok(_) => {}
                Err(failure) => return Ok(Outcome::Failed(failure.kind())),
            }
        }
        // Swapping the validator never depends on the validator being replaced (a
        // broken one would otherwise fail the very swap that removes it): the host judges
        // such a swap itself — the signer's authority was checked before ordering, the
        // candidate gets its trial run below — with the operation's canonical bytes as its
        // effect, the same on every node.
        if let Operation::SecurityPolicyUpdate(u) = op
            && u.domain == spore_core::ops::SecurityDomain::ValidatorModule
        {
            // The effect is the operation's digest: 32 bytes whatever its description, so it
            // is always within the replicated output cap.
            use spore_core::crypto::Canonical;
            return Ok(unfit_module_swap(runtime, op, snapshot, modules)?
                .unwrap_or_else(|| Outcome::Accepted(op.digest().0.to_vec())));
        }
        let validator = slot_module(runtime, Role::Validator, slot_modules.validator, modules)?;
        let report = runtime
            .call_validator_on(&validator, op, &ctx, snapshot)
            .map_err(|e| unavailable("validator", e))?;
        Ok(match report.outcome() {
            Outcome::Accepted(effect) => unfit_module_swap(runtime, op, snapshot, modules)?
                .unwrap_or(Outcome::Accepted(effect)),
            // On probation, a failure counts against the swap only where the module it
            // replaced does not fail on the same input: every node runs both, so every
            // node reaches the same outcome.
            Outcome::Failed(kind) => match slot_modules.fallback {
                Some(previous) if previous != slot_modules.validator => {
                    if replaced_validator_fails(runtime, previous, op, &ctx, snapshot, modules)? {
                        Outcome::Failed(kind)
                    } else {
                        Outcome::Regressed(kind)
                    }
                }
                _ => Outcome::Failed(kind),
            },
            other => other,
        })
    })()?;
    let outcome = match byzantine {
        Some(Byzantine::WrongResult) => {
            let mut bytes = b"byzantine:".to_vec();
            bytes.extend_from_slice(&ctx.slot.to_le_bytes());
            Outcome::Accepted(bytes)
        }
        Some(Byzantine::WithholdReveal) | None => outcome,
    };
    Ok(ModuleReply::Validator(outcome))
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

/// Run the resolver on the three layer results (a [`LocalFault`] is not a verdict).
#[allow(clippy::too_many_arguments)]
pub fn resolve(
    runtime: &Runtime,
    primary: &LayerResult,
    seed: &LayerResult,
    latent: &LayerResult,
    ctx: &CallContext,
    snapshot: &Arc<SnapshotView>,
    modules: ModuleLookup<'_>,
    slot_modules: &SlotModules,
) -> Result<ModuleReply, LocalFault> {
    let resolver = slot_module(runtime, Role::Resolver, slot_modules.resolver, modules)?;
    let input = modules::ResolverInput {
        primary: layer(primary),
        seed: layer(seed),
        latent: layer(latent),
    };
    let verdict = match runtime.call_resolver_on(&resolver, &input, &context(ctx), snapshot) {
        Ok(report) => match report.result {
            Ok(Resolution::Accept(l)) => ResolverVerdict::Accept(l),
            Ok(Resolution::Escalate(reason)) => ResolverVerdict::Escalate(reason),
            Err(failure) => ResolverVerdict::Failed(failure.kind()),
        },
        Err(e) => {
            tracing::warn!(error = %e, "resolver module unavailable on this node (local, not a result)");
            return Err(LocalFault::Unavailable(e.to_string()));
        }
    };
    Ok(ModuleReply::Resolver(verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panicking call is answered as a local fault with its message; a returning one
    /// passes through. (Without `unwound`, the panic ends the blocking task and the call's
    /// answer, and every later one of the batch, never comes.)
    #[test]
    fn a_panicking_call_is_answered_as_a_local_fault() {
        let panicked = unwound::<()>(|| panic!("engine bug {}", 7));
        let plain = unwound::<()>(|| panic!("static text"));
        assert!(matches!(&panicked, Err(LocalFault::Panicked(m)) if m == "engine bug 7"));
        assert!(matches!(&plain, Err(LocalFault::Panicked(m)) if m == "static text"));
        assert!(matches!(unwound(|| Ok::<_, LocalFault>(5)), Ok(5)));
    }
}
