//! The module registry: content-addressed components, checked, compiled (or loaded from the
//! verified artifact cache) and pre-instantiated once, ready for a fresh store per call.
//!
//! # Design
//! A module is addressed by the SHA-256 of its component bytes. Loading it
//! 1. checks its size and, when the caller addresses it by hash, that the bytes match;
//! 2. obtains a compiled `Component` from the artifact cache (verified before use) or by
//!    compiling within the time and memory bounds of [`super::compile`], then caches it;
//!    each hash is compiled at most once at a time, and a refusal is remembered (a hostile
//!    blob sent again costs nothing);
//! 3. checks its *type*: imports must be a subset of the host interface
//!    (`spore:policy/{types,snapshot,log}@0.1.0`) and exports must be its role's world;
//! 4. links it against the host interface once (`InstancePre`), so a call only instantiates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use spore_core::crypto::sha256;
use spore_core::types::Digest;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::Role;
use super::bindings::admission::AdmissionPre;
use super::bindings::resolver::ResolverPre;
use super::bindings::validator::ValidatorPre;
use super::cache::{ArtifactCache, CacheLookup};
use super::compile::{CompileBounds, compile};
use super::engine::RuntimeConfig;
use super::error::LoadError;
use super::host_state::HostState;
use super::limits::{ModuleLimits, ModuleNeeds};

/// The imports the host provides; anything else is refused.
pub const ALLOWED_IMPORTS: [&str; 3] = [
    "spore:policy/types@0.1.0",
    "spore:policy/snapshot@0.1.0",
    "spore:policy/log@0.1.0",
];

const ALLOWED_IMPORTS_TEXT: &str =
    "spore:policy/types@0.1.0, spore:policy/snapshot@0.1.0 and spore:policy/log@0.1.0";

/// The function a role's world exports.
pub fn world_export(role: Role) -> &'static str {
    match role {
        Role::Validator => "validate",
        Role::Admission => "evaluate",
        Role::Resolver => "resolve",
    }
}

/// A module's pre-instantiated bindings, by role.
#[derive(Clone)]
pub enum RolePre {
    /// A `validator` world component.
    Validator(ValidatorPre<HostState>),
    /// An `admission` world component.
    Admission(AdmissionPre<HostState>),
    /// A `resolver` world component.
    Resolver(ResolverPre<HostState>),
}

/// Where a module's compiled artifact came from on load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactSource {
    /// Compiled now (no cache, or nothing cached).
    Compiled,
    /// Loaded from a verified cache entry.
    Cached,
    /// The cache entry was refused (tampered, corrupt, stale or foreign) and the module
    /// was recompiled from its source; the reason says why.
    Recompiled {
        /// Why the cached artifact was not used.
        reason: String,
    },
}

/// A loaded, checked, pre-instantiated module.
pub struct LoadedModule {
    hash: Digest,
    role: Role,
    size: usize,
    imports: Vec<String>,
    exports: Vec<String>,
    source: ArtifactSource,
    pre: RolePre,
    needs: ModuleNeeds,
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule")
            .field("hash", &self.hash)
            .field("role", &self.role)
            .field("size", &self.size)
            .field("imports", &self.imports)
            .field("exports", &self.exports)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl LoadedModule {
    /// SHA-256 of the component bytes.
    pub fn hash(&self) -> Digest {
        self.hash
    }
    /// What it needs of the module limits (size, core instances, memories, tables).
    pub fn needs(&self) -> ModuleNeeds {
        self.needs
    }
    /// The role (world) it was loaded for.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
    /// The component's imports (full interface names).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
    /// The component's exports.
    pub fn exports(&self) -> &[String] {
        &self.exports
    }
    /// Where the compiled artifact came from.
    pub fn source(&self) -> &ArtifactSource {
        &self.source
    }
    /// The pre-instantiated bindings.
    pub fn pre(&self) -> &RolePre {
        &self.pre
    }
}

/// Modules loaded on this node, by hash.
pub struct Registry {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<ArtifactCache>,
    config: RuntimeConfig,
    bounds: CompileBounds,
    modules: RwLock<HashMap<Digest, Arc<LoadedModule>>>,
    /// Hashes in `modules`, in the order they were loaded (what [`Registry::prune`] reads).
    order: Mutex<std::collections::VecDeque<Digest>>,
    /// Modules refused when compiled, with the reason (bounded: see [`MAX_REMEMBERED`]).
    refused: Mutex<Refusals>,
    /// Held while compiling, so one hash is never compiled twice at once and compiles
    /// never pile up.
    compiling: Mutex<()>,
    /// The byte bound of [`Registry::prune`] ([`MAX_LOADED_BYTES`] unless lowered).
    max_loaded_bytes: std::sync::atomic::AtomicUsize,
}

/// Most modules a registry keeps loaded beyond those in use ([`Registry::prune`]).
pub const MAX_LOADED: usize = 64;

/// Most component bytes of the modules a registry keeps loaded beyond those in use: the
/// compiled code of a module grows with its bytes, and 64 candidates at the 32 MiB cap
/// held 2 GiB of components and several times that of code.
pub const MAX_LOADED_BYTES: usize = 512 << 20;

/// Most compile refusals remembered (beyond that the oldest entries are forgotten; a blob
/// then costs one more bounded compile).
pub const MAX_REMEMBERED: usize = 1024;

/// Compile refusals, oldest first.
#[derive(Default)]
struct Refusals {
    reasons: HashMap<Digest, String>,
    order: std::collections::VecDeque<Digest>,
}

impl Refusals {
    fn remember(&mut self, hash: Digest, reason: String) {
        if self.reasons.insert(hash, reason).is_none() {
            self.order.push_back(hash);
        }
        while self.order.len() > MAX_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.reasons.remove(&old);
            }
        }
    }
}

impl Registry {
    /// A registry compiling with `engine`, linking against `linker`, caching artifacts in
    /// `cache` if given.
    pub fn new(
        engine: Engine,
        linker: Linker<HostState>,
        cache: Option<ArtifactCache>,
        config: RuntimeConfig,
        bounds: CompileBounds,
    ) -> Self {
        Self {
            engine,
            linker,
            cache,
            config,
            bounds,
            modules: RwLock::new(HashMap::new()),
            order: Mutex::new(std::collections::VecDeque::new()),
            refused: Mutex::new(Refusals::default()),
            compiling: Mutex::new(()),
            max_loaded_bytes: std::sync::atomic::AtomicUsize::new(MAX_LOADED_BYTES),
        }
    }

    /// The compile bounds.
    pub fn bounds(&self) -> &CompileBounds {
        &self.bounds
    }

    /// Set the compile bounds (before loading anything).
    pub fn set_bounds(&mut self, bounds: CompileBounds) {
        self.bounds = bounds;
    }

    /// The artifact cache, if any.
    pub fn cache(&self) -> Option<&ArtifactCache> {
        self.cache.as_ref()
    }

    /// A loaded module by hash.
    pub fn get(&self, hash: &Digest) -> Option<Arc<LoadedModule>> {
        self.modules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(hash)
            .cloned()
    }

    /// Load `bytes` as a module of `role`. If `expected` is given the bytes must hash to it.
    /// Loading the same bytes again returns the already loaded module.
    pub fn load(
        &self,
        role: Role,
        bytes: &[u8],
        expected: Option<Digest>,
    ) -> Result<Arc<LoadedModule>, LoadError> {
        // The ceiling, not the cluster's current limit: a call is held to that limit (a
        // deterministic failure), while loading is only this node's work.
        let ceiling = usize::try_from(ModuleLimits::ceilings().module_bytes).unwrap_or(usize::MAX);
        if bytes.len() > ceiling {
            return Err(LoadError::TooLarge {
                len: bytes.len(),
                limit: ceiling,
            });
        }
        let hash = sha256(bytes);
        if let Some(expected) = expected
            && expected != hash
        {
            return Err(LoadError::HashMismatch {
                expected,
                actual: hash,
            });
        }
        let loaded_as = |loaded: Arc<LoadedModule>| {
            if loaded.role != role {
                return Err(LoadError::WrongWorld {
                    role,
                    expected: world_export(role),
                    found: loaded.exports.join(", "),
                    detail: Some(format!("already loaded as a {} module", loaded.role)),
                });
            }
            Ok(loaded)
        };
        if let Some(loaded) = self.get(&hash) {
            return loaded_as(loaded);
        }
        if let Some(reason) = self.refused_reason(&hash) {
            return Err(LoadError::Refused(reason));
        }
        // One load at a time past this point: a second caller with the same bytes finds
        // the first one's module (or its remembered refusal) instead of compiling again.
        let _one_at_a_time = self
            .compiling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(loaded) = self.get(&hash) {
            return loaded_as(loaded);
        }
        let (component, source) = self.compile(&hash, bytes)?;
        // The memory image now, not at the first instantiation of a call: creating it
        // (a memfd here) can fail for this host's reasons, which must be a local fault of
        // the load, not something a call could take for the module's doing.
        component
            .initialize_copy_on_write_image()
            .map_err(|e| LoadError::CompilerUnavailable(format!("memory image: {e:#}")))?;
        let (imports, exports) = check_type(&self.engine, &component, role)?;
        let pre = self.link(&component, role, &exports)?;
        let needs = ModuleNeeds::of(&component, bytes);
        let module = Arc::new(LoadedModule {
            hash,
            role,
            size: bytes.len(),
            imports,
            exports,
            source,
            pre,
            needs,
        });
        self.modules
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(hash, Arc::clone(&module));
        self.order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(hash);
        self.prune();
        Ok(module)
    }

    /// Keep at most [`MAX_LOADED`] modules of [`MAX_LOADED_BYTES`] together: past either,
    /// the oldest loaded that nothing else
    /// holds go (the active modules and the rollback targets are held by the runtime, a
    /// module in a call by the call). Every candidate a proposer sends for a trial is
    /// loaded; unpruned, a proposer sending many distinct candidates grew the registry,
    /// compiled code and all, without end. A pruned module is loaded again from the store
    /// (and the artifact cache) if a slot names it (`node::calls::slot_module`).
    fn prune(&self) {
        let mut modules = self
            .modules
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut order = self
            .order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        order.retain(|h| modules.contains_key(h));
        let max_bytes = self
            .max_loaded_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut count = modules.len();
        let mut bytes = modules
            .values()
            .fold(0usize, |sum, m| sum.saturating_add(m.size));
        order.retain(|h| {
            if count <= MAX_LOADED && bytes <= max_bytes {
                return true;
            }
            let unheld = modules
                .get(h)
                .filter(|m| Arc::strong_count(m) == 1)
                .map(|m| m.size);
            if let Some(size) = unheld {
                modules.remove(h);
                count -= 1;
                bytes = bytes.saturating_sub(size);
            }
            unheld.is_none()
        });
    }

    /// Lower the byte bound of the modules kept loaded beyond those in use (a node short
    /// of memory; tests), and prune to it.
    pub fn limit_loaded_bytes(&self, max: usize) {
        self.max_loaded_bytes
            .store(max, std::sync::atomic::Ordering::Relaxed);
        self.prune();
    }

    /// How many modules are loaded.
    pub fn loaded(&self) -> usize {
        self.modules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Why compiling `hash` was refused before, if it was.
    pub fn refused_reason(&self, hash: &Digest) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .reasons
            .get(hash)
            .cloned()
    }

    /// Forget a remembered refusal of `hash`, so that the next load compiles it again
    /// (once: a new refusal is remembered again). The node calls it when the cluster
    /// decided to swap that module in: a quorum compiled it within its bounds, and a
    /// refusal from a compile bound depends on the machine and its load at the time
    /// (kept, this node would abstain on every call of the module until it restarted).
    pub fn forget_refusal(&self, hash: &Digest) {
        let mut refused = self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if refused.reasons.remove(hash).is_some() {
            refused.order.retain(|h| h != hash);
        }
    }

    /// Only from the cache, refusing a tampered entry: used to audit a cache.
    pub fn load_cached_artifact(&self, hash: &Digest) -> Result<Option<Component>, LoadError> {
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        match cache.lookup(&self.engine, hash)? {
            CacheLookup::Hit(component) => Ok(Some(component)),
            CacheLookup::Miss | CacheLookup::Stale(_) => Ok(None),
        }
    }

    fn compile(
        &self,
        hash: &Digest,
        bytes: &[u8],
    ) -> Result<(Component, ArtifactSource), LoadError> {
        // The shape first, before the cache too: an artifact cached before the rule is
        // refused alike (a function of the bytes, the same on every node).
        if let Some(reason) = super::limits::refused_shape(bytes) {
            return Err(LoadError::Invalid(reason));
        }
        let mut source = ArtifactSource::Compiled;
        if let Some(cache) = &self.cache {
            match cache.lookup(&self.engine, hash) {
                Ok(CacheLookup::Hit(component)) => return Ok((component, ArtifactSource::Cached)),
                Ok(CacheLookup::Miss) => {}
                Ok(CacheLookup::Stale(reason)) => {
                    tracing::info!(module = %hash, %reason, "stale cached artifact; recompiling");
                    source = ArtifactSource::Recompiled { reason };
                }
                Err(err @ LoadError::CacheTampered { .. }) => {
                    tracing::warn!(module = %hash, error = %err, "refusing cached artifact; recompiling");
                    cache.evict(hash);
                    source = ArtifactSource::Recompiled {
                        reason: err.to_string(),
                    };
                }
                Err(err) => return Err(err),
            }
        }
        if let Some(reason) = self.refused_reason(hash) {
            return Err(LoadError::Refused(reason));
        }
        let component = match compile(&self.engine, &self.config, &self.bounds, bytes) {
            Ok(c) => c,
            Err(err @ LoadError::CompilerUnavailable(_)) => return Err(err),
            Err(err) => {
                let mut refused = self
                    .refused
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                refused.remember(*hash, err.to_string());
                return Err(err);
            }
        };
        if let Some(cache) = &self.cache
            && let Err(err) = cache.store(hash, &component)
        {
            // A cache that cannot be written costs compile time, never correctness.
            tracing::warn!(module = %hash, error = %err, "cannot cache the compiled artifact");
        }
        Ok((component, source))
    }

    fn link(
        &self,
        component: &Component,
        role: Role,
        exports: &[String],
    ) -> Result<RolePre, LoadError> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|err| LoadError::Link(format!("{err:#}")))?;
        let wrong_world = |err: wasmtime::Error| LoadError::WrongWorld {
            role,
            expected: world_export(role),
            found: exports.join(", "),
            detail: Some(format!("{err:#}")),
        };
        Ok(match role {
            Role::Validator => RolePre::Validator(ValidatorPre::new(pre).map_err(wrong_world)?),
            Role::Admission => RolePre::Admission(AdmissionPre::new(pre).map_err(wrong_world)?),
            Role::Resolver => RolePre::Resolver(ResolverPre::new(pre).map_err(wrong_world)?),
        })
    }
}

/// Check a component's imports and exports against `role`; return their names.
pub fn check_type(
    engine: &Engine,
    component: &Component,
    role: Role,
) -> Result<(Vec<String>, Vec<String>), LoadError> {
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    if let Some(forbidden) = imports
        .iter()
        .find(|name| !ALLOWED_IMPORTS.contains(&name.as_str()))
    {
        return Err(LoadError::ForbiddenImport {
            import: forbidden.clone(),
            allowed: ALLOWED_IMPORTS_TEXT,
        });
    }
    let wanted = world_export(role);
    if !exports.iter().any(|name| name == wanted) {
        return Err(LoadError::WrongWorld {
            role,
            expected: wanted,
            found: exports.join(", "),
            detail: None,
        });
    }
    // One role per component: the registry keeps a module by hash, loaded as one role, so
    // a component exporting two roles' functions would be fit for whichever role a node
    // happened to load it as first, and refused as the other (nodes that judged a trial
    // of it as a resolver would refuse it as a validator, nodes that restarted would not).
    if let Some(other) = Role::ALL
        .into_iter()
        .filter(|r| *r != role)
        .map(world_export)
        .find(|other| exports.iter().any(|name| name == other))
    {
        return Err(LoadError::WrongWorld {
            role,
            expected: wanted,
            found: exports.join(", "),
            detail: Some(format!(
                "it also exports `{other}`, another role's function: a component serves one role"
            )),
        });
    }
    Ok((imports, exports))
}
