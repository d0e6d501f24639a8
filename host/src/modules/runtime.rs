//! [`Runtime`]: one engine, registry and active-module table per node, and the three
//! module calls (`validate`, `evaluate`, `resolve`).
//!
//! # Design
//! Every call gets a fresh `Store` (fresh memory, fresh fuel, fresh log) instantiated from
//! the module's `InstancePre` in a pooling-allocator slot. The fuel budget is the role's;
//! fuel used is reported with the result. A call's outcome is either the module's value or
//! a [`ModuleFailure`] — both agreed by every node — while local problems (no active module,
//! instance pool exhausted) are a [`RuntimeError`]. Nothing a module does can make the
//! runtime stop serving further calls.
//!
//! # Limits
//! Output is capped (`max_output_bytes`, 1 MiB by default) after the canonical ABI has
//! lifted it; what can be lifted is itself bounded by the module's memory limit, so a
//! hostile module can make the host copy at most `max_memory_bytes` before it is refused.
//! That holds for a single value (a result, a rejection reason, an escalation), not for a
//! list of strings, whose entries may all name the same bytes: an admission verdict's
//! reasons are counted from their lengths before they are copied (`Capped`).

use std::path::Path;
use std::sync::Arc;

use spore_core::ops::{FailureKind, NodeAdmission, Operation, Outcome};
use spore_core::state::MembershipRules;
use spore_core::types::Digest;
use wasmtime::{Engine, Store, Trap};

use super::Role;
use super::bindings::resolver::{LayerResult as WitLayerResult, Resolution as WitResolution};
use super::bindings::types::Operation as WitOperation;
use super::bindings::types::{CallContext as WitContext, NodeAdmission as WitAdmission};
use super::bindings::{Capped, RawRejection, RawResolution, RawVerdict};
use super::cache::{ArtifactCache, CacheKey};
use super::compile::CompileBounds;
use super::convert::{
    self, CallContext, Resolution, ResolverInput, Verdict, rejection_code_from_wit,
};
use super::engine::{RuntimeConfig, build_engine, compatibility_hash};
use super::error::{ModuleFailure, RuntimeError};
use super::host_state::{HostState, host_linker};
use super::hotswap::ActiveModules;
use super::limits::ModuleLimits;
use super::log::{LogLine, LogPace};
use super::registry::{LoadedModule, Registry, RolePre};
use super::snapshot::SnapshotView;

/// The report of one module call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReport<T> {
    /// Hash of the module that ran the call (from start to end).
    pub module: Digest,
    /// Fuel the call used (instantiation included).
    pub fuel_used: u64,
    /// Host fuel its host imports used (a meter of its own, with the same budget).
    pub host_fuel_used: u64,
    /// The module's value, or its deterministic failure.
    pub result: Result<T, ModuleFailure>,
    /// Lines the module logged (bounded).
    pub logs: Vec<LogLine>,
    /// Lines dropped because the log was full.
    pub dropped_logs: u64,
}

/// What a validator returns: accepted result bytes or a reasoned rejection.
pub type ValidatorResult = Result<Vec<u8>, convert::RejectionData>;

impl<T> CallReport<T> {
    /// Transform the value, keeping everything else.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> CallReport<U> {
        CallReport {
            module: self.module,
            fuel_used: self.fuel_used,
            host_fuel_used: self.host_fuel_used,
            result: self.result.map(f),
            logs: self.logs,
            dropped_logs: self.dropped_logs,
        }
    }
}

impl CallReport<ValidatorResult> {
    /// The agreed outcome of a validator call.
    pub fn outcome(&self) -> Outcome {
        match &self.result {
            Ok(Ok(bytes)) => Outcome::Accepted(bytes.clone()),
            Ok(Err(rejection)) => Outcome::Rejected {
                code: rejection.code,
                reason: rejection.reason.clone(),
            },
            Err(failure) => Outcome::Failed(failure.kind()),
        }
    }
}

impl ModuleFailure {
    /// The agreed failure kind (no free text: identical on every node).
    pub fn kind(&self) -> FailureKind {
        match self {
            ModuleFailure::OutOfFuel { .. } => FailureKind::OutOfFuel,
            ModuleFailure::MemoryLimit { .. } => FailureKind::MemoryLimit,
            ModuleFailure::StackOverflow => FailureKind::StackOverflow,
            ModuleFailure::Trap { .. } => FailureKind::Trap,
            ModuleFailure::OutputTooLarge { .. } => FailureKind::OutputTooLarge,
            ModuleFailure::InvalidOutput => FailureKind::InvalidOutput,
            ModuleFailure::ResourceLimit { .. } => FailureKind::ResourceLimit,
        }
    }
}

/// The module runtime of a node.
pub struct Runtime {
    config: RuntimeConfig,
    engine: Engine,
    registry: Registry,
    active: ActiveModules,
    /// How fast module log lines reach the node's log, over all calls.
    log_pace: Arc<LogPace>,
}

impl Runtime {
    /// A runtime without an artifact cache (every load compiles).
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        Self::build(config, None)
    }

    /// A runtime caching compiled artifacts in `dir` (records detect corruption only).
    pub fn with_cache(config: RuntimeConfig, dir: impl AsRef<Path>) -> Result<Self, RuntimeError> {
        Self::build(config, Some((dir.as_ref(), CacheKey::UNKEYED)))
    }

    /// A runtime caching compiled artifacts in `dir`, records keyed by `key` (a node's).
    pub fn with_keyed_cache(
        config: RuntimeConfig,
        dir: impl AsRef<Path>,
        key: CacheKey,
    ) -> Result<Self, RuntimeError> {
        Self::build(config, Some((dir.as_ref(), key)))
    }

    fn build(
        config: RuntimeConfig,
        cache: Option<(&Path, CacheKey)>,
    ) -> Result<Self, RuntimeError> {
        let engine = build_engine(&config)?;
        let linker = host_linker(&engine)?;
        let cache = cache
            .map(|(dir, key)| ArtifactCache::open(dir, compatibility_hash(&engine), key))
            .transpose()?;
        let registry = Registry::new(
            engine.clone(),
            linker,
            cache,
            config.clone(),
            CompileBounds::default(),
        );
        Ok(Self {
            log_pace: Arc::new(LogPace::new(config.log_lines_per_second)),
            config,
            engine,
            registry,
            active: ActiveModules::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The engine (one per node).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A runtime for a local tool: [`Self::new`] with the local tool's compile bounds
    /// ([`CompileBounds::local_tool`]).
    pub fn for_local_tool(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let mut runtime = Self::new(config)?;
        runtime.set_compile_bounds(CompileBounds::local_tool());
        Ok(runtime)
    }

    /// Bound compilation by `bounds` (a node sets its own binary as the worker).
    pub fn set_compile_bounds(&mut self, bounds: CompileBounds) {
        self.registry.set_bounds(bounds);
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Load (check, compile or fetch from cache, pre-instantiate) a module for `role`.
    pub fn load(&self, role: Role, bytes: &[u8]) -> Result<Arc<LoadedModule>, RuntimeError> {
        Ok(self.registry.load(role, bytes, None)?)
    }

    /// Load a module addressed by `hash`; refused if the bytes do not hash to it.
    pub fn load_verified(
        &self,
        role: Role,
        bytes: &[u8],
        hash: Digest,
    ) -> Result<Arc<LoadedModule>, RuntimeError> {
        Ok(self.registry.load(role, bytes, Some(hash))?)
    }

    /// Make the loaded module `hash` the active module of `role`. Calls already running
    /// finish on the module they started with. Returns the previously active hash.
    pub fn activate(&self, role: Role, hash: Digest) -> Result<Option<Digest>, RuntimeError> {
        let module = self.module_for(role, &hash)?;
        Ok(self.active.activate(module))
    }

    /// Load `bytes` for `role` and activate it; returns the module.
    pub fn install(&self, role: Role, bytes: &[u8]) -> Result<Arc<LoadedModule>, RuntimeError> {
        let module = self.load(role, bytes)?;
        self.active.activate(Arc::clone(&module));
        Ok(module)
    }

    /// Reactivate the previous module of `role`; returns the hash now active.
    pub fn rollback(&self, role: Role) -> Result<Digest, RuntimeError> {
        self.active.rollback(role)
    }

    /// The active module of `role`.
    pub fn active(&self, role: Role) -> Option<Arc<LoadedModule>> {
        self.active.current(role)
    }

    /// The module a rollback of `role` would restore.
    pub fn previous(&self, role: Role) -> Option<Arc<LoadedModule>> {
        self.active.previous(role)
    }

    fn module_for(&self, role: Role, hash: &Digest) -> Result<Arc<LoadedModule>, RuntimeError> {
        let module = self
            .registry
            .get(hash)
            .ok_or(RuntimeError::UnknownModule { role, hash: *hash })?;
        if module.role() != role {
            return Err(RuntimeError::RoleMismatch {
                hash: *hash,
                expected: role,
                actual: module.role(),
            });
        }
        Ok(module)
    }

    fn active_for(&self, role: Role) -> Result<Arc<LoadedModule>, RuntimeError> {
        self.active
            .current(role)
            .ok_or(RuntimeError::NoActiveModule(role))
    }

    /// Run the active validator on `op`.
    pub fn call_validator(
        &self,
        op: &Operation,
        ctx: &CallContext,
        snapshot: &Arc<SnapshotView>,
    ) -> Result<CallReport<ValidatorResult>, RuntimeError> {
        let module = self.active_for(Role::Validator)?;
        self.call_validator_on(&module, op, ctx, snapshot)
    }

    /// Run a specific loaded validator on `op` (e.g. `spore module run`, twin tests).
    pub fn call_validator_on(
        &self,
        module: &Arc<LoadedModule>,
        op: &Operation,
        ctx: &CallContext,
        snapshot: &Arc<SnapshotView>,
    ) -> Result<CallReport<ValidatorResult>, RuntimeError> {
        let RolePre::Validator(pre) = module.pre() else {
            return Err(role_mismatch(module, Role::Validator));
        };
        let rules = MembershipRules::from_params(|k| snapshot.param(k));
        let op = convert::operation_to_wit(op, &rules);
        let ctx = convert::context_to_wit(ctx);
        let cap = self.output_cap(snapshot);
        self.call(module, snapshot, |store| {
            let instance = pre
                .instance_pre()
                .instantiate(&mut *store)
                .map_err(Phase::Instantiate)?;
            // The typed export by hand, not the generated `call_validate`: that copies the
            // whole output before the host can see its length (see `Capped`).
            let validate = instance
                .get_typed_func::<(&WitOperation, &WitContext), (Result<Capped<Vec<u8>>, RawRejection>,)>(
                    &mut *store,
                    "validate",
                )
                .map_err(Phase::Call)?;
            let (out,) = validate
                .call(&mut *store, (&op, &ctx))
                .map_err(Phase::Call)?;
            Ok(match out {
                Ok(bytes) => {
                    let bytes = within(bytes, cap)?;
                    check_output(bytes.len(), cap)?;
                    Ok(bytes)
                }
                Err(rejection) => {
                    let reason = within(rejection.reason, cap)?;
                    check_output(reason.len(), cap)?;
                    Err(convert::RejectionData {
                        code: rejection_code_from_wit(rejection.code),
                        reason,
                    })
                }
            })
        })
    }

    /// Run the active admission module on `request`.
    pub fn call_admission(
        &self,
        request: &NodeAdmission,
        ctx: &CallContext,
        snapshot: &Arc<SnapshotView>,
    ) -> Result<CallReport<Verdict>, RuntimeError> {
        let module = self.active_for(Role::Admission)?;
        self.call_admission_on(&module, request, ctx, snapshot)
    }

    /// Run a specific loaded admission module on `request`.
    pub fn call_admission_on(
        &self,
        module: &Arc<LoadedModule>,
        request: &NodeAdmission,
        ctx: &CallContext,
        snapshot: &Arc<SnapshotView>,
    ) -> Result<CallReport<Verdict>, RuntimeError> {
        let RolePre::Admission(pre) = module.pre() else {
            return Err(role_mismatch(module, Role::Admission));
        };
        let rules = MembershipRules::from_params(|k| snapshot.param(k));
        let request = convert::admission_to_wit(request, &rules);
        let ctx = convert::context_to_wit(ctx);
        let cap = self.output_cap(snapshot);
        self.call(module, snapshot, |store| {
            let instance = pre
                .instance_pre()
                .instantiate(&mut *store)
                .map_err(Phase::Instantiate)?;
            // The typed export by hand, not the generated `call_evaluate`: that lifts
            // every reason before the host can count them (see `Capped`).
            let evaluate = instance
                .get_typed_func::<(&WitAdmission, &WitContext), (RawVerdict,)>(
                    &mut *store,
                    "evaluate",
                )
                .map_err(Phase::Call)?;
            let (raw,) = evaluate
                .call(&mut *store, (&request, &ctx))
                .map_err(Phase::Call)?;
            let reasons = within(raw.reasons, cap)?;
            // Counted as the outcome carries them: joined with "; ".
            let joined = reasons
                .iter()
                .map(String::len)
                .sum::<usize>()
                .saturating_add(reasons.len().saturating_sub(1).saturating_mul(2));
            check_output(joined, cap)?;
            Ok(Verdict {
                admit: raw.admit,
                reasons,
            })
        })
    }

    /// Run the active resolver on the three layer results.
    pub fn call_resolver(
        &self,
        input: &ResolverInput,
        ctx: &CallContext,
        snapshot: &Arc<SnapshotView>,
    ) -> Result<CallReport<Resolution>, RuntimeError> {
        let module = self.active_for(Role::Resolver)?;
        self.call_resolver_on(&module, input, ctx, snapshot)
    }

    /// Run a specific loaded resolver on the three layer results.
    pub fn call_resolver_on(
        &self,
        module: &Arc<LoadedModule>,
        input: &ResolverInput,
        ctx: &CallContext,
        snapshot: &Arc<SnapshotView>,
    ) -> Result<CallReport<Resolution>, RuntimeError> {
        let RolePre::Resolver(pre) = module.pre() else {
            return Err(role_mismatch(module, Role::Resolver));
        };
        let primary = convert::layer_result_to_wit(&input.primary);
        let seed = convert::layer_result_to_wit(&input.seed);
        let latent = convert::layer_result_to_wit(&input.latent);
        let ctx = convert::context_to_wit(ctx);
        let cap = self.output_cap(snapshot);
        self.call(module, snapshot, |store| {
            let instance = pre
                .instance_pre()
                .instantiate(&mut *store)
                .map_err(Phase::Instantiate)?;
            // By hand, for the escalation's reason (see `Capped`).
            let resolve = instance
                .get_typed_func::<(
                    &WitLayerResult,
                    &WitLayerResult,
                    &WitLayerResult,
                    &WitContext,
                ), (RawResolution,)>(&mut *store, "resolve")
                .map_err(Phase::Call)?;
            let (resolution,) = resolve
                .call(&mut *store, (&primary, &seed, &latent, &ctx))
                .map_err(Phase::Call)?;
            Ok(match resolution {
                RawResolution::Accept(layer) => {
                    convert::resolution_from_wit(WitResolution::Accept(layer))
                }
                RawResolution::Escalate(reason) => {
                    let reason = within(reason, cap)?;
                    check_output(reason.len(), cap)?;
                    convert::resolution_from_wit(WitResolution::Escalate(reason))
                }
            })
        })
    }

    /// The fuel budget of a call of `role`: the replicated `timing.<role>-fuel` when the
    /// snapshot names it (a node's calls always do, so every node runs every call with the
    /// same budget), else this runtime's configured budget (local tools).
    pub fn fuel_budget(&self, role: Role, snapshot: &SnapshotView) -> u64 {
        let key = match role {
            Role::Validator => "timing.validator-fuel",
            Role::Admission => "timing.admission-fuel",
            Role::Resolver => "timing.resolver-fuel",
        };
        snapshot
            .param(key)
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or_else(|| self.config.fuel_for(role))
    }

    /// The output cap of a call: the replicated `timing.max-output-bytes` when the
    /// snapshot names it, else this runtime's configured cap.
    pub fn output_cap(&self, snapshot: &SnapshotView) -> u64 {
        snapshot
            .param("timing.max-output-bytes")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(self.config.max_output_bytes)
    }

    /// The module limits of a call: the replicated `timing.max-*` limits the snapshot
    /// names (a node's calls always name them), else this runtime's configured ones.
    pub fn limits(&self, snapshot: &SnapshotView) -> ModuleLimits {
        self.config.limits.in_snapshot(snapshot)
    }

    /// Run `body` in a fresh store for `module` and classify how it ended.
    fn call<T>(
        &self,
        module: &Arc<LoadedModule>,
        snapshot: &Arc<SnapshotView>,
        body: impl FnOnce(&mut Store<HostState>) -> Result<T, Phase>,
    ) -> Result<CallReport<T>, RuntimeError> {
        let budget = self.fuel_budget(module.role(), snapshot);
        let limits = self.limits(snapshot);
        if let Some(over) = module.needs().exceeded(&limits) {
            // Decided by the bytes and the replicated limits alone: the same on every node.
            return Ok(CallReport {
                module: module.hash(),
                fuel_used: 0,
                host_fuel_used: 0,
                result: Err(ModuleFailure::ResourceLimit {
                    key: over.key,
                    needed: over.needed,
                    limit: over.limit,
                }),
                logs: Vec::new(),
                dropped_logs: 0,
            });
        }
        // Host imports draw on their own meter with the same budget: guest and host time
        // of a call are each bounded by its fuel.
        let state = HostState::with_host_fuel(
            &self.config,
            &limits,
            module.hash(),
            Arc::clone(snapshot),
            budget,
        )
        .paced(Arc::clone(&self.log_pace));
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store
            .set_fuel(budget)
            .map_err(|err| RuntimeError::Engine(format!("{err:#}")))?;
        let outcome = body(&mut store);
        let remaining = store.get_fuel().unwrap_or(0);
        let fuel_used = budget.saturating_sub(remaining);
        let refused = store.data().limiter.refused;
        if let Some(fault) = store.data().limiter.host_fault.clone() {
            // A growth the limits allowed failed on this host: not a result.
            return Err(RuntimeError::HostFault(fault));
        }
        let result = match outcome {
            Ok(value) => Ok(value),
            Err(_) if store.data().host_exhausted => Err(ModuleFailure::OutOfFuel { budget }),
            Err(phase) => Err(classify(phase, budget, refused)?),
        };
        let host_fuel_used = budget.saturating_sub(store.data().host_fuel);
        let (logs, dropped_logs) = std::mem::take(&mut store.data_mut().log).into_parts();
        Ok(CallReport {
            module: module.hash(),
            fuel_used,
            host_fuel_used,
            result,
            logs,
            dropped_logs,
        })
    }
}

/// Where a call failed.
enum Phase {
    /// While instantiating (a start function trapping, a memory limit, or a local pool
    /// limit).
    Instantiate(wasmtime::Error),
    /// While running the export or lifting its result.
    Call(wasmtime::Error),
    /// The module returned, but its output broke a host rule.
    Output(ModuleFailure),
}

/// What a capped output holds, or the failure its length is.
fn within<T>(output: Capped<T>, cap: u64) -> Result<T, Phase> {
    match output {
        Capped::Within(value) => Ok(value),
        Capped::Over(len) => Err(Phase::Output(ModuleFailure::OutputTooLarge {
            len,
            limit: cap,
        })),
    }
}

fn check_output(len: usize, cap: u64) -> Result<(), Phase> {
    let len = len as u64;
    if len > cap {
        return Err(Phase::Output(ModuleFailure::OutputTooLarge {
            len,
            limit: cap,
        }));
    }
    Ok(())
}

/// Map a failed call to its deterministic failure, or to a local error.
fn classify(
    phase: Phase,
    budget: u64,
    refused: Option<(u64, u64)>,
) -> Result<ModuleFailure, RuntimeError> {
    let (err, instantiating) = match phase {
        Phase::Output(failure) => return Ok(failure),
        Phase::Instantiate(err) => (err, true),
        Phase::Call(err) => (err, false),
    };
    // This host's condition, whatever the module did before: every pooling slot busy, an
    // allocation or a mapping the host could not make (wasmtime boxes a trap with a
    // fallible allocation, so even a trap arrives as out-of-memory then). Not a result.
    if host_condition(&err) {
        return Err(if instantiating {
            RuntimeError::Instantiate(format!("{err:#}"))
        } else {
            RuntimeError::HostFault(format!("{err:#}"))
        });
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return Ok(match (trap, refused) {
            (Trap::OutOfFuel, _) => ModuleFailure::OutOfFuel { budget },
            (Trap::StackOverflow, _) => ModuleFailure::StackOverflow,
            // The guest trapped after a refused growth: the limit is the cause.
            (_, Some((requested, limit))) => ModuleFailure::MemoryLimit { requested, limit },
            (other, None) => ModuleFailure::Trap {
                code: format!("{other:?}"),
            },
        });
    }
    if let Some((requested, limit)) = refused {
        // While instantiating, only the refusal itself is the module's doing: a memory or
        // table whose initial size exceeds the limit. A start function's refused growth
        // followed by another failure is that failure.
        if !instantiating || creation_refused(&err) {
            return Ok(ModuleFailure::MemoryLimit { requested, limit });
        }
    }
    if instantiating {
        // Neither a trap nor this host's condition: the module's doing, the same on every
        // node (a start function handing a host import a string that is not UTF-8, or a
        // pointer outside its memory). Such failures used to be reported as local faults,
        // and every node abstained on every call of such a module for good.
        return Ok(ModuleFailure::Trap {
            code: format!("instantiation failed: {err:#}"),
        });
    }
    // The export returned but its value could not be lifted (bad string encoding, bad
    // discriminant, out-of-bounds list): the module's fault, deterministic.
    Ok(ModuleFailure::InvalidOutput)
}

/// Whether `err` is a condition of this host rather than of the module: the instance
/// pool out of slots, an allocation that failed, a system call that failed.
fn host_condition(err: &wasmtime::Error) -> bool {
    // `is` walks wasmtime's own context chain only; `chain` follows every `source()` too,
    // into errors of other crates that wrap an I/O error (a memfd that could not be
    // created for a memory image, the process out of descriptors).
    err.is::<wasmtime::PoolConcurrencyLimitError>()
        || err.is::<wasmtime::OutOfMemory>()
        || err.chain().any(|e| {
            e.is::<std::io::Error>()
                || e.is::<rustix::io::Errno>()
                || e.is::<wasmtime::OutOfMemory>()
        })
}

/// What wasmtime reports when the limiter refuses a memory or table at creation (its
/// initial size), the only instantiation failure a refusal causes.
const CREATION_REFUSED: [&str; 2] = ["exceeds memory limits", "exceeds table limits"];

fn creation_refused(err: &wasmtime::Error) -> bool {
    let text = format!("{err:#}");
    CREATION_REFUSED.iter().any(|marker| text.contains(marker))
}

fn role_mismatch(module: &LoadedModule, expected: Role) -> RuntimeError {
    RuntimeError::RoleMismatch {
        hash: module.hash(),
        expected,
        actual: module.role(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused growth explains an instantiation failure only when the failure is the
    /// refusal (a memory or table too large at creation); a condition of this host (an
    /// allocation or a system call that failed, the pool out of slots) is a local fault
    /// whatever the module did before it, in either phase; any other instantiation
    /// failure is the module's doing (a start function handing a host import a string
    /// that is not UTF-8), the same on every node, never a local fault that would make
    /// every node abstain for good. Controls: each of the three rules, switched off,
    /// fails one of the assertions below.
    #[test]
    fn instantiation_failures_are_judged_by_their_cause() {
        let refused = Some((2 << 20, 1 << 20));
        let host = || wasmtime::Error::new(std::io::Error::other("mmap failed"));
        let oom = || wasmtime::Error::new(wasmtime::OutOfMemory::new(1 << 20));
        let errno = || wasmtime::Error::new(rustix::io::Errno::NOMEM).context("mprotect failed");
        /// An error of another crate wrapping an I/O error as its `source()` (memfd's).
        #[derive(Debug)]
        struct Wrapped(std::io::Error);
        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "cannot create a memfd")
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let wrapped = wasmtime::Error::new(Wrapped(std::io::Error::other("EMFILE")));
        for (label, err) in [
            ("io", host()),
            ("oom", oom()),
            ("errno", errno()),
            ("wrapped", wrapped),
        ] {
            assert!(
                matches!(
                    classify(Phase::Instantiate(err), 10, refused),
                    Err(RuntimeError::Instantiate(_))
                ),
                "{label}"
            );
        }
        assert!(matches!(
            classify(Phase::Call(oom()), 10, None),
            Err(RuntimeError::HostFault(_))
        ));
        let creation =
            wasmtime::format_err!("memory minimum size of 32 pages exceeds memory limits");
        assert!(matches!(
            classify(Phase::Instantiate(creation), 10, refused),
            Ok(ModuleFailure::MemoryLimit { .. })
        ));
        let table = wasmtime::format_err!("table minimum size of 9 elements exceeds table limits");
        assert!(matches!(
            classify(Phase::Instantiate(table), 10, refused),
            Ok(ModuleFailure::MemoryLimit { .. })
        ));
        // The module's own doing while instantiating: a failure of its own, refused
        // growth or not.
        let lift = || wasmtime::format_err!("invalid utf-8 sequence of 1 bytes from index 0");
        for r in [refused, None] {
            assert!(matches!(
                classify(Phase::Instantiate(lift()), 10, r),
                Ok(ModuleFailure::Trap { .. })
            ));
        }
        // While running, a refused growth followed by any failure is the module's.
        assert!(matches!(
            classify(Phase::Call(lift()), 10, refused),
            Ok(ModuleFailure::MemoryLimit { .. })
        ));
    }
}
