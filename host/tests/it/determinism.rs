//! Determinism: the same call on two separately built runtimes gives identical bytes, fuel
//! and logs, for every default module and every sample.

use spore::modules::{Role, Runtime, RuntimeConfig, samples};

fn two_runtimes() -> anyhow::Result<(Runtime, Runtime)> {
    Ok((
        Runtime::new(RuntimeConfig::default())?,
        Runtime::new(RuntimeConfig::default())?,
    ))
}

#[test]
fn validators_agree_across_engines() -> anyhow::Result<()> {
    let (a, b) = two_runtimes()?;
    let snapshot = samples::snapshot();
    for artifact in [
        spore_artifacts::DEFAULT_VALIDATOR,
        spore_artifacts::MEDIAN_PRICE,
    ] {
        let ma = a.load(Role::Validator, artifact.bytes)?;
        let mb = b.load(Role::Validator, artifact.bytes)?;
        for op in samples::operations()
            .into_iter()
            .chain(samples::invalid_operations())
        {
            let ctx = samples::context(&op);
            let ra = a.call_validator_on(&ma, &op, &ctx, &snapshot)?;
            let rb = b.call_validator_on(&mb, &op, &ctx, &snapshot)?;
            assert_eq!(ra, rb, "{} on {}", artifact.name, op.kind_name());
            assert!(ra.fuel_used > 0);
            // And again on the same runtime: a fresh store per call, nothing carried over.
            assert_eq!(a.call_validator_on(&ma, &op, &ctx, &snapshot)?, ra);
        }
    }
    Ok(())
}

#[test]
fn admission_and_resolvers_agree_across_engines() -> anyhow::Result<()> {
    let (a, b) = two_runtimes()?;
    let snapshot = samples::snapshot();
    let ctx = samples::context_for(b"determinism");
    let (ma, mb) = (
        a.load(Role::Admission, spore_artifacts::SPONSORED_ADMISSION.bytes)?,
        b.load(Role::Admission, spore_artifacts::SPONSORED_ADMISSION.bytes)?,
    );
    let request = samples::admission_request();
    assert_eq!(
        a.call_admission_on(&ma, &request, &ctx, &snapshot)?,
        b.call_admission_on(&mb, &request, &ctx, &snapshot)?
    );
    for artifact in [
        spore_artifacts::HIERARCHY_RESOLVER,
        spore_artifacts::STRICT_RESOLVER,
    ] {
        let ma = a.load(Role::Resolver, artifact.bytes)?;
        let mb = b.load(Role::Resolver, artifact.bytes)?;
        for input in [
            samples::resolver_unanimous(),
            samples::resolver_split(),
            samples::resolver_contested(),
        ] {
            assert_eq!(
                a.call_resolver_on(&ma, &input, &ctx, &snapshot)?,
                b.call_resolver_on(&mb, &input, &ctx, &snapshot)?,
                "{}",
                artifact.name
            );
        }
    }
    Ok(())
}

#[test]
fn failures_and_their_fuel_agree_across_engines() -> anyhow::Result<()> {
    let (a, b) = two_runtimes()?;
    let snapshot = samples::snapshot();
    let op = samples::compute_op();
    let ctx = samples::context(&op);
    for artifact in [
        spore_artifacts::HOSTILE_LOOP,
        spore_artifacts::HOSTILE_TRAP,
        spore_artifacts::HOSTILE_MEMORY_BOMB,
        spore_artifacts::HOSTILE_OVERSIZED,
    ] {
        let ma = a.load(Role::Validator, artifact.bytes)?;
        let mb = b.load(Role::Validator, artifact.bytes)?;
        let ra = a.call_validator_on(&ma, &op, &ctx, &snapshot)?;
        let rb = b.call_validator_on(&mb, &op, &ctx, &snapshot)?;
        assert!(ra.result.is_err(), "{}", artifact.name);
        assert_eq!(ra, rb, "{}", artifact.name);
    }
    Ok(())
}
