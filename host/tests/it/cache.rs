//! The artifact cache: hits are verified before use; a tampered, corrupt or foreign artifact
//! is refused and recompiled; a module whose bytes do not match its hash is refused.

use spore::core::crypto::sha256;
use spore::core::ops::Outcome;
use spore::modules::{
    ArtifactSource, LoadError, Role, Runtime, RuntimeConfig, RuntimeError, samples,
};

const MODULE: spore_artifacts::Artifact = spore_artifacts::MEDIAN_PRICE;

fn cached_runtime(dir: &std::path::Path) -> anyhow::Result<Runtime> {
    Ok(Runtime::with_cache(RuntimeConfig::default(), dir)?)
}

fn computes(runtime: &Runtime) -> anyhow::Result<()> {
    let module = runtime.install(Role::Validator, MODULE.bytes)?;
    let op = samples::compute_op();
    let report =
        runtime.call_validator_on(&module, &op, &samples::context(&op), &samples::snapshot())?;
    assert!(matches!(report.outcome(), Outcome::Accepted(ref b) if b.len() == 16));
    Ok(())
}

#[test]
fn a_second_node_start_loads_the_verified_artifact() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let first = cached_runtime(dir.path())?;
    let module = first.load(Role::Validator, MODULE.bytes)?;
    assert_eq!(module.source(), &ArtifactSource::Compiled);
    let cache = first
        .registry()
        .cache()
        .ok_or_else(|| anyhow::anyhow!("cache configured"))?;
    assert!(cache.artifact_path(&module.hash()).exists());
    assert!(cache.record_path(&module.hash()).exists());

    let second = cached_runtime(dir.path())?;
    assert_eq!(
        second.load(Role::Validator, MODULE.bytes)?.source(),
        &ArtifactSource::Cached
    );
    computes(&second)
}

#[test]
fn a_tampered_artifact_is_refused_and_recompiled() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hash = cached_runtime(dir.path())?
        .load(Role::Validator, MODULE.bytes)?
        .hash();
    let probe = cached_runtime(dir.path())?;
    let path = probe
        .registry()
        .cache()
        .ok_or_else(|| anyhow::anyhow!("cache configured"))?
        .artifact_path(&hash);
    // Flip one byte in the middle of the compiled code.
    let mut bytes = std::fs::read(&path)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&path, &bytes)?;

    // Auditing the cache refuses the entry with a typed error...
    match probe.registry().load_cached_artifact(&hash) {
        Err(LoadError::CacheTampered { path: p, .. }) => assert_eq!(p, path),
        Err(other) => anyhow::bail!("expected CacheTampered, got {other}"),
        Ok(_) => anyhow::bail!("a tampered artifact was accepted"),
    }
    // ...and loading recompiles from the verified source instead of trusting it.
    let module = probe.load(Role::Validator, MODULE.bytes)?;
    match module.source() {
        ArtifactSource::Recompiled { reason } => assert!(reason.contains("tampered"), "{reason}"),
        other => anyhow::bail!("expected a recompilation, got {other:?}"),
    }
    computes(&probe)?;
    // The entry was rewritten: the next start is a clean, verified hit.
    let third = cached_runtime(dir.path())?;
    assert_eq!(
        third.load(Role::Validator, MODULE.bytes)?.source(),
        &ArtifactSource::Cached
    );
    Ok(())
}

#[test]
fn a_foreign_artifact_with_a_forged_record_is_not_trusted() -> anyhow::Result<()> {
    // Someone who can write the cache replaces the artifact with other bytes *and* rewrites
    // the record to match: wasmtime's own header check refuses it, and it is recompiled.
    let dir = tempfile::tempdir()?;
    let runtime = cached_runtime(dir.path())?;
    let hash = runtime.load(Role::Validator, MODULE.bytes)?.hash();
    let cache = runtime
        .registry()
        .cache()
        .ok_or_else(|| anyhow::anyhow!("cache configured"))?;
    let foreign = b"\x7fELF not a wasmtime artifact at all".to_vec();
    let record = std::fs::read_to_string(cache.record_path(&hash))?;
    let real_digest = record
        .lines()
        .find_map(|l| l.strip_prefix("artifact-sha256 "))
        .ok_or_else(|| anyhow::anyhow!("record names the artifact digest: {record}"))?
        .to_owned();
    std::fs::write(cache.artifact_path(&hash), &foreign)?;
    std::fs::write(
        cache.record_path(&hash),
        record.replace(&real_digest, &sha256(&foreign).to_hex()),
    )?;

    let restarted = cached_runtime(dir.path())?;
    let module = restarted.load(Role::Validator, MODULE.bytes)?;
    assert!(
        matches!(module.source(), ArtifactSource::Recompiled { .. }),
        "{:?}",
        module.source()
    );
    computes(&restarted)
}

#[test]
fn a_missing_record_counts_as_tampering() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let runtime = cached_runtime(dir.path())?;
    let hash = runtime.load(Role::Validator, MODULE.bytes)?.hash();
    let record = runtime
        .registry()
        .cache()
        .ok_or_else(|| anyhow::anyhow!("cache configured"))?
        .record_path(&hash);
    std::fs::remove_file(record)?;
    let restarted = cached_runtime(dir.path())?;
    assert!(matches!(
        restarted.registry().load_cached_artifact(&hash),
        Err(LoadError::CacheTampered { .. })
    ));
    assert!(matches!(
        restarted.load(Role::Validator, MODULE.bytes)?.source(),
        ArtifactSource::Recompiled { .. }
    ));
    Ok(())
}

#[test]
fn bytes_that_do_not_match_their_hash_are_refused() -> anyhow::Result<()> {
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let claimed = sha256(spore_artifacts::DEFAULT_VALIDATOR.bytes);
    match runtime.load_verified(Role::Validator, MODULE.bytes, claimed) {
        Err(RuntimeError::Load(LoadError::HashMismatch { expected, actual })) => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, sha256(MODULE.bytes));
        }
        other => anyhow::bail!("expected a hash mismatch, got {other:?}"),
    }
    assert!(
        runtime.registry().get(&sha256(MODULE.bytes)).is_none(),
        "nothing was loaded"
    );
    // The right hash loads.
    let module = runtime.load_verified(Role::Validator, MODULE.bytes, sha256(MODULE.bytes))?;
    assert_eq!(module.hash(), sha256(MODULE.bytes));
    Ok(())
}

#[test]
fn oversized_and_invalid_modules_are_refused() -> anyhow::Result<()> {
    let runtime = Runtime::new(RuntimeConfig::default())?;
    // Past the ceiling of `timing.max-module-bytes`, no node even compiles it.
    let huge = vec![0u8; (32 << 20) + 1];
    assert!(matches!(
        runtime.load(Role::Validator, &huge),
        Err(RuntimeError::Load(LoadError::TooLarge { .. }))
    ));
    assert!(matches!(
        runtime.load(Role::Validator, b"\0asm not really"),
        Err(RuntimeError::Load(LoadError::Invalid(_)))
    ));
    Ok(())
}

#[test]
fn a_keyed_cache_trusts_only_records_made_with_its_key_in_an_owner_only_dir() -> anyhow::Result<()>
{
    use spore::core::crypto::Keypair;
    use spore::modules::cache::CacheKey;
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("artifacts");
    // A directory left open to others is closed on open.
    std::fs::create_dir(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))?;
    let node = CacheKey::of_node(&Keypair::from_seed([7; 32]));
    let keyed = |key: CacheKey| Runtime::with_keyed_cache(RuntimeConfig::default(), &path, key);
    let first = keyed(node.clone())?;
    assert_eq!(
        std::fs::metadata(&path)?.permissions().mode() & 0o777,
        0o700
    );
    let hash = first.load(Role::Validator, MODULE.bytes)?.hash();
    // The same node key: a verified hit.
    assert_eq!(
        keyed(node.clone())?
            .load(Role::Validator, MODULE.bytes)?
            .source(),
        &ArtifactSource::Cached
    );
    // Records written without the node's key (someone who can write the directory but
    // cannot read the key file): refused, recompiled.
    for other in [
        CacheKey::UNKEYED,
        CacheKey::of_node(&Keypair::from_seed([8; 32])),
    ] {
        let probe = keyed(other)?;
        assert!(matches!(
            probe.registry().load_cached_artifact(&hash),
            Err(LoadError::CacheTampered { .. })
        ));
    }
    let unkeyed = Runtime::with_cache(RuntimeConfig::default(), &path)?;
    assert!(matches!(
        unkeyed.load(Role::Validator, MODULE.bytes)?.source(),
        ArtifactSource::Recompiled { .. }
    ));
    // ...and the node, restarted, refuses the entry the unkeyed tool rewrote.
    assert!(matches!(
        keyed(node)?.load(Role::Validator, MODULE.bytes)?.source(),
        ArtifactSource::Recompiled { .. }
    ));
    Ok(())
}

/// `bytes` with a custom section appended: another hash, the same component.
fn variant(bytes: &[u8], i: u32) -> Vec<u8> {
    let name = b"spore-test-variant";
    let mut payload = vec![u8::try_from(name.len()).unwrap_or(0)];
    payload.extend_from_slice(name);
    payload.extend_from_slice(&i.to_le_bytes());
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    out.push(u8::try_from(payload.len()).unwrap_or(0)); // LEB128 size (< 128)
    out.extend_from_slice(&payload);
    out
}

/// A proposer sending many distinct candidates (each loaded for its trial) no longer grows
/// the registry without end: past `MAX_LOADED`, the oldest that nothing holds go; a module
/// held by a caller stays, and a pruned one loads again (from the artifact cache).
/// Control: unpruned, the registry held all 72.
#[test]
fn the_registry_keeps_a_bounded_number_of_unheld_modules() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let runtime = cached_runtime(dir.path())?;
    let bytes = spore_artifacts::HOSTILE_TRAP.bytes;
    let held = runtime.load(Role::Validator, &variant(bytes, 0))?;
    let total = spore::modules::MAX_LOADED as u32 + 8;
    for i in 1..total {
        runtime.load(Role::Validator, &variant(bytes, i))?;
    }
    assert_eq!(runtime.registry().loaded(), spore::modules::MAX_LOADED);
    assert!(
        runtime.registry().get(&held.hash()).is_some(),
        "a held module stays"
    );
    let first = sha256(&variant(bytes, 1));
    assert!(
        runtime.registry().get(&first).is_none(),
        "the oldest unheld went"
    );
    let again = runtime.load(Role::Validator, &variant(bytes, 1))?;
    assert_eq!(again.hash(), first);
    assert_eq!(again.source(), &ArtifactSource::Cached);
    Ok(())
}

/// The modules kept loaded are bounded in bytes as well as in count: with room for four
/// of the candidates' bytes, the fifth load sends the oldest unheld away, a held module
/// staying whatever its age (control: by count alone, all nine stay).
#[test]
fn the_registry_keeps_a_bounded_number_of_bytes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let runtime = cached_runtime(dir.path())?;
    let bytes = spore_artifacts::HOSTILE_TRAP.bytes;
    let size = variant(bytes, 0).len();
    let held = runtime.load(Role::Validator, &variant(bytes, 0))?;
    runtime.registry().limit_loaded_bytes(5 * size);
    for i in 1..9 {
        runtime.load(Role::Validator, &variant(bytes, i))?;
    }
    assert_eq!(runtime.registry().loaded(), 5);
    assert!(
        runtime.registry().get(&held.hash()).is_some(),
        "a held module stays"
    );
    for i in 1..5 {
        let gone = sha256(&variant(bytes, i));
        assert!(
            runtime.registry().get(&gone).is_none(),
            "{i} should have gone"
        );
    }
    assert!(
        runtime
            .registry()
            .get(&sha256(&variant(bytes, 8)))
            .is_some()
    );
    Ok(())
}
