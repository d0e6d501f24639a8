//! Shared helpers: runtimes and artifacts.

use std::process::Output;
use std::sync::Arc;

use spore::modules::{LoadedModule, Role, Runtime, RuntimeConfig};
use spore_artifacts::Artifact;

/// The runtime role of an artifact.
pub fn role_of(artifact: &Artifact) -> Role {
    match artifact.role {
        spore_artifacts::Role::Validator => Role::Validator,
        spore_artifacts::Role::Admission => Role::Admission,
        spore_artifacts::Role::Resolver => Role::Resolver,
    }
}

/// A runtime with the default (production) configuration and no cache.
pub fn runtime() -> anyhow::Result<Runtime> {
    Ok(Runtime::new(RuntimeConfig::default())?)
}

/// Load and activate `artifact` on `runtime`.
pub fn install(runtime: &Runtime, artifact: &Artifact) -> anyhow::Result<Arc<LoadedModule>> {
    Ok(runtime.install(role_of(artifact), artifact.bytes)?)
}

/// A runtime with every default module installed.
pub fn runtime_with_defaults() -> anyhow::Result<Runtime> {
    let runtime = runtime()?;
    for artifact in [
        spore_artifacts::DEFAULT_VALIDATOR,
        spore_artifacts::SPONSORED_ADMISSION,
        spore_artifacts::HIERARCHY_RESOLVER,
    ] {
        install(&runtime, &artifact)?;
    }
    Ok(runtime)
}

/// A finished command's stdout and stderr, as one text for assertions and messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
