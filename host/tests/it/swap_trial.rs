//! Module swaps and local faults as a node's module calls see them: a candidate that
//! fails its trial run on the role's samples is rejected by every node (so a swap to an
//! infinite loop cannot brick the cluster), a candidate whose bytes are missing, or a call
//! that cannot run here, is a local fault (retried, never a result).

use spore::core::consensus::{CallContext, ModuleReply};
use spore::core::crypto::sha256;
use spore::core::ops::{Operation, Outcome, SecurityDomain, SecurityPolicyUpdate};
use spore::core::types::Digest;
use spore::modules::{Role, samples};
use spore::node::calls::{self, LocalFault, SlotModules};

use crate::common::runtime;

fn swap(domain: SecurityDomain, bytes: &[u8]) -> Operation {
    Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
        domain,
        new_policy: sha256(bytes),
        rollback_to: Digest([0; 32]),
        description: "trial".into(),
    })
}

/// Every role named by `hash` (the tests only call the validator).
fn slot(hash: Digest) -> SlotModules {
    SlotModules {
        validator: hash,
        admission: hash,
        resolver: hash,
        fallback: None,
    }
}

fn outcome(reply: ModuleReply) -> anyhow::Result<Outcome> {
    match reply {
        ModuleReply::Validator(o) => Ok(o),
        other => anyhow::bail!("not a validator reply: {other:?}"),
    }
}

#[test]
fn a_swap_to_a_module_that_fails_its_trial_is_rejected() -> anyhow::Result<()> {
    let runtime = runtime()?;
    let v = runtime.load(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes)?;
    runtime.activate(Role::Validator, v.hash())?;
    let snapshot = samples::snapshot();
    for (name, bytes) in [
        ("hostile-loop", spore_artifacts::HOSTILE_LOOP.bytes),
        ("hostile-trap", spore_artifacts::HOSTILE_TRAP.bytes),
        (
            "hostile-memory-bomb",
            spore_artifacts::HOSTILE_MEMORY_BOMB.bytes,
        ),
    ] {
        let op = swap(SecurityDomain::ValidatorModule, bytes);
        let ctx = CallContext::new(5, 0, &op);
        let lookup = |h: &Digest| (*h == sha256(bytes)).then(|| bytes.to_vec());
        let got = outcome(calls::validate(
            &runtime,
            &op,
            &ctx,
            &snapshot,
            &lookup,
            &slot(v.hash()),
            None,
        )?)?;
        match &got {
            Outcome::Rejected { reason, .. } => {
                assert!(reason.contains("trial run"), "{name}: {reason}");
            }
            other => anyhow::bail!("{name}: a swap to it must be rejected, got {other:?}"),
        }
        // Deterministic: the same verdict, byte for byte, on another runtime.
        let other = runtime_with_default()?;
        let again = outcome(calls::validate(
            &other,
            &op,
            &ctx,
            &snapshot,
            &lookup,
            &slot(v.hash()),
            None,
        )?)?;
        assert_eq!(again, got, "{name}");
    }
    // Control: a fit module (the strict resolver for the resolver role) is accepted.
    let strict = spore_artifacts::STRICT_RESOLVER.bytes;
    let op = swap(SecurityDomain::ResolverModule, strict);
    let ctx = CallContext::new(5, 0, &op);
    let lookup = |h: &Digest| (*h == sha256(strict)).then(|| strict.to_vec());
    let got = outcome(calls::validate(
        &runtime,
        &op,
        &ctx,
        &snapshot,
        &lookup,
        &slot(v.hash()),
        None,
    )?)?;
    assert!(got.is_accepted(), "{got:?}");
    Ok(())
}

fn runtime_with_default() -> anyhow::Result<spore::modules::Runtime> {
    let runtime = runtime()?;
    let v = runtime.load(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes)?;
    runtime.activate(Role::Validator, v.hash())?;
    Ok(runtime)
}

#[test]
fn missing_bytes_and_missing_modules_are_local_faults_not_results() -> anyhow::Result<()> {
    let runtime = runtime_with_default()?;
    let v = sha256(spore_artifacts::DEFAULT_VALIDATOR.bytes);
    let snapshot = samples::snapshot();
    // The candidate's bytes are not here: the node fetches and retries, it does not vote.
    let op = swap(
        SecurityDomain::ResolverModule,
        spore_artifacts::STRICT_RESOLVER.bytes,
    );
    let ctx = CallContext::new(5, 0, &op);
    let none = |_: &Digest| None;
    assert!(matches!(
        calls::validate(&runtime, &op, &ctx, &snapshot, &none, &slot(v), None),
        Err(LocalFault::MissingModule(_))
    ));
    // The slot's validator is not loaded here and its bytes are still being fetched: no
    // result (never the answer of whatever module happens to be active).
    let empty = crate::common::runtime()?;
    let op = samples::compute_op();
    let ctx = CallContext::new(5, 0, &op);
    assert!(matches!(
        calls::validate(&empty, &op, &ctx, &snapshot, &none, &slot(v), None),
        Err(LocalFault::MissingModule(h)) if h == v
    ));
    Ok(())
}

/// A swap decided at slot s is in force from slot s+1 on every node, whenever its bytes
/// arrive: a node whose runtime still has the old module active runs the slot's module
/// (fetching it first), never the old one. Control: the module active in the runtime (the
/// old validator) would have accepted the operation the new one rejects.
#[test]
fn a_late_blob_never_changes_the_module_a_slot_runs() -> anyhow::Result<()> {
    let runtime = runtime_with_default()?;
    let snapshot = samples::snapshot();
    let median = spore_artifacts::MEDIAN_PRICE.bytes;
    let new = sha256(median);
    let op = samples::operations()[1].clone(); // a trust modification
    let ctx = CallContext::new(7, 0, &op);
    // Bytes not here yet: a local fault, not the old module's answer.
    let none = |_: &Digest| None;
    assert!(matches!(
        calls::validate(&runtime, &op, &ctx, &snapshot, &none, &slot(new), None),
        Err(LocalFault::MissingModule(h)) if h == new
    ));
    // The bytes arrive: the slot's module answers (median-price rejects the kind) ...
    let lookup = |h: &Digest| (*h == new).then(|| median.to_vec());
    let got = outcome(calls::validate(
        &runtime,
        &op,
        &ctx,
        &snapshot,
        &lookup,
        &slot(new),
        None,
    )?)?;
    assert!(matches!(got, Outcome::Rejected { .. }), "{got:?}");
    // ... where the module still active in this runtime would have accepted it.
    let old = sha256(spore_artifacts::DEFAULT_VALIDATOR.bytes);
    let control = outcome(calls::validate(
        &runtime,
        &op,
        &ctx,
        &snapshot,
        &none,
        &slot(old),
        None,
    )?)?;
    assert!(control.is_accepted(), "{control:?}");
    Ok(())
}

/// With a broken validator active (every call traps), a swap back to the default
/// validator is still judged (by the host and the candidate's trial), not by the broken
/// module: the cluster can always swap a bad validator out.
#[test]
fn swapping_the_validator_back_does_not_depend_on_the_broken_one() -> anyhow::Result<()> {
    let runtime = runtime()?;
    let broken = runtime.load(Role::Validator, spore_artifacts::HOSTILE_TRAP.bytes)?;
    runtime.activate(Role::Validator, broken.hash())?;
    let snapshot = samples::snapshot();
    // Any ordinary operation now fails on this node.
    let op = samples::compute_op();
    let ctx = CallContext::new(5, 0, &op);
    let none = |_: &Digest| None;
    let failed = outcome(calls::validate(
        &runtime,
        &op,
        &ctx,
        &snapshot,
        &none,
        &slot(broken.hash()),
        None,
    )?)?;
    assert!(matches!(failed, Outcome::Failed(_)), "{failed:?}");
    // The swap back to the default validator is accepted all the same.
    let good = spore_artifacts::DEFAULT_VALIDATOR.bytes;
    let op = swap(SecurityDomain::ValidatorModule, good);
    let ctx = CallContext::new(6, 0, &op);
    let lookup = |h: &Digest| (*h == sha256(good)).then(|| good.to_vec());
    let got = outcome(calls::validate(
        &runtime,
        &op,
        &ctx,
        &snapshot,
        &lookup,
        &slot(broken.hash()),
        None,
    )?)?;
    assert!(got.is_accepted(), "{got:?}");
    Ok(())
}

/// A validator on probation that fails is run again as the module it replaced: the
/// failure is `Regressed` (counted against the swap) only if the replaced module does not
/// fail on the same input, so inputs every validator fails on (a client's own
/// pathological operations) cannot roll back a swap. Controls: with a replaced module
/// that fails too, or no probation, the same call is a plain `Failed`.
#[test]
fn a_failure_on_probation_counts_only_where_the_replaced_validator_succeeds() -> anyhow::Result<()>
{
    let runtime = runtime()?;
    let good = runtime.load(Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes)?;
    let trap = runtime.load(Role::Validator, spore_artifacts::HOSTILE_TRAP.bytes)?;
    let looping = runtime.load(Role::Validator, spore_artifacts::HOSTILE_LOOP.bytes)?;
    let snapshot = samples::snapshot();
    let op = samples::compute_op();
    let ctx = CallContext::new(5, 0, &op);
    let lookup = |_: &Digest| None;
    for (fallback, regressed) in [
        (Some(good.hash()), true),
        (Some(looping.hash()), false),
        (None, false),
    ] {
        let modules = SlotModules {
            fallback,
            ..slot(trap.hash())
        };
        let got = outcome(calls::validate(
            &runtime, &op, &ctx, &snapshot, &lookup, &modules, None,
        )?)?;
        match got {
            Outcome::Regressed(_) => assert!(regressed, "{fallback:?}"),
            Outcome::Failed(_) => assert!(!regressed, "{fallback:?}"),
            other => anyhow::bail!("{fallback:?}: {other:?}"),
        }
    }
    // A replaced module that no longer loads, for a reason of its bytes, fails on every
    // input: a plain `Failed`, the same on every node, not a local fault that would hold
    // the slot. Its bytes missing here is a local fault (fetch and retry).
    let wrong = spore_artifacts::HOSTILE_WRONG_WORLD.bytes;
    let wrong_hash = sha256(wrong);
    let modules = SlotModules {
        fallback: Some(wrong_hash),
        ..slot(trap.hash())
    };
    let with_bytes = |h: &Digest| (*h == wrong_hash).then(|| wrong.to_vec());
    let got = outcome(calls::validate(
        &runtime,
        &op,
        &ctx,
        &snapshot,
        &with_bytes,
        &modules,
        None,
    )?)?;
    assert!(matches!(got, Outcome::Failed(_)), "{got:?}");
    let missing = calls::validate(&runtime, &op, &ctx, &snapshot, &lookup, &modules, None);
    assert!(
        matches!(missing, Err(LocalFault::MissingModule(h)) if h == wrong_hash),
        "{missing:?}"
    );
    Ok(())
}
