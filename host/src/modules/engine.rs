//! The wasmtime engine of a node, configured for determinism, and the per-call limits.
//!
//! # Determinism
//! Every node must compute byte-identical results, so the engine switches off or pins
//! everything that could differ between machines or runs:
//! - **fuel metering** (never wall-clock or epoch interruption): a call stops after the same
//!   number of instructions on every node, and running out is itself an agreed outcome;
//! - **NaN canonicalisation** in Cranelift, so float operations give identical bits;
//! - **relaxed SIMD in deterministic mode**;
//! - **no threads, no shared memory**, no component-model async, no GC proposals;
//! - **replicated limits**: module size, core instances, memories and tables per
//!   component, linear memory and table growth (see [`super::limits`]), and a fixed
//!   maximum wasm stack. The stack limit is in native bytes: the depth at which a
//!   recursion overflows depends on the frames Cranelift makes, which may differ between
//!   CPU architectures and detected CPU features (docs/PROTOCOL.md, "Known limits");
//! - **host faults are not results**: a memory growth the limits allowed that the host
//!   could not make stops the call as a local fault ([`CallLimiter`]), never `-1` to the
//!   module.
//!
//! Instances come from the **pooling allocator**: slots are reserved once per engine, so a
//! call's instantiation is a cheap slot reuse rather than an `mmap`.

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    WasmFeatures,
};

use super::Role;
use super::error::RuntimeError;
use super::limits::ModuleLimits;

/// Limits and budgets of the module runtime. Part of the replicated configuration in a
/// cluster: nodes that disagree on fuel budgets or limits may disagree on outcomes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuntimeConfig {
    /// Fuel budget of one validator call.
    pub validator_fuel: u64,
    /// Fuel budget of one admission call.
    pub admission_fuel: u64,
    /// Fuel budget of one resolver call.
    pub resolver_fuel: u64,
    /// Module limits (size, core instances, memories, tables, memory and table growth)
    /// where a call's snapshot does not name them: local tools without cluster state. A
    /// node's calls always use the replicated values (see [`super::limits`]).
    pub limits: ModuleLimits,
    /// Maximum WebAssembly stack, in bytes.
    pub max_wasm_stack: usize,
    /// Maximum size of a module's output (result bytes; total text of a rejection or
    /// verdict), in bytes.
    pub max_output_bytes: u64,
    /// How many calls may run at the same time (instance slots of the pooling allocator).
    pub max_concurrent_calls: u32,
    /// Maximum number of log lines a call may write; later lines are counted, not kept.
    pub max_log_lines: usize,
    /// Maximum length of one log line in bytes; longer lines are truncated.
    pub max_log_line_bytes: usize,
    /// Module log lines the runtime writes to the node's log per second, over all calls
    /// (bursts up to ten times as many); later lines stay in each call's report and are
    /// counted in a summary line instead. 0 writes none.
    pub log_lines_per_second: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            validator_fuel: 200_000_000,
            admission_fuel: 50_000_000,
            resolver_fuel: 50_000_000,
            limits: ModuleLimits::default(),
            max_wasm_stack: 512 << 10,
            max_output_bytes: 1 << 20,
            max_concurrent_calls: 64,
            max_log_lines: 64,
            max_log_line_bytes: 1024,
            log_lines_per_second: 100,
        }
    }
}

impl RuntimeConfig {
    /// The per-call fuel budget of a role.
    pub fn fuel_for(&self, role: Role) -> u64 {
        match role {
            Role::Validator => self.validator_fuel,
            Role::Admission => self.admission_fuel,
            Role::Resolver => self.resolver_fuel,
        }
    }
}

/// Bytes of each pooled memory and table slot that may be reset in place between calls,
/// where the kernel can report which pages a call dirtied (PAGEMAP_SCAN, Linux 6.7+).
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// How much to keep resident: [`KEEP_RESIDENT_BYTES`] where PAGEMAP_SCAN exists, else
/// nothing. Without it wasmtime would memset the whole resident part on every reset,
/// which costs more than the page faults it saves (measured: 43 µs against 31 µs per call).
fn keep_resident_bytes() -> usize {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (6, 7) {
        KEEP_RESIDENT_BYTES
    } else {
        0
    }
}

/// Build a deterministic engine for `config`.
///
/// Two engines built from equal configurations on the same host binary produce
/// interchangeable compiled artifacts and identical results. The per-component limits of
/// the instance pool are the *ceilings* of the replicated module limits
/// ([`ModuleLimits::ceilings`]), so every value a cluster may choose fits; a call is held
/// to its snapshot's values before it instantiates anything.
pub fn build_engine(config: &RuntimeConfig) -> Result<Engine, RuntimeError> {
    let ceilings = ModuleLimits::ceilings();
    let per = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let calls = config.max_concurrent_calls;
    // Totals sized for the defaults, not the ceilings: a busy pool is a local fault (the
    // call is retried), never an outcome.
    let defaults = ModuleLimits::default();
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(calls)
        .max_core_instances_per_component(per(ceilings.core_instances))
        .total_core_instances(calls.saturating_mul(per(defaults.core_instances)))
        .max_memories_per_component(per(ceilings.memories))
        // Per core module as well (wasmtime's default is 1 memory and 1 table): what the
        // replicated limits allow a component must fit whichever of its modules holds it.
        .max_memories_per_module(per(ceilings.memories))
        .max_tables_per_module(per(ceilings.tables))
        .total_memories(calls.saturating_mul(per(defaults.memories)))
        .max_tables_per_component(per(ceilings.tables))
        .total_tables(calls.saturating_mul(per(defaults.tables)))
        .table_elements(usize::try_from(ceilings.table_elements).unwrap_or(usize::MAX))
        .max_memory_size(usize::try_from(ceilings.memory_bytes).unwrap_or(usize::MAX))
        // Reset a slot's dirty pages in place (found with Linux's PAGEMAP_SCAN, where the
        // kernel has it) instead of dropping them with madvise: the next call does not
        // page-fault its stack and heap back in. Zeroed either way, so this changes speed
        // only, never what a module sees; without PAGEMAP_SCAN the default applies.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(keep_resident_bytes())
        .table_keep_resident(keep_resident_bytes());

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(false)
        .cranelift_nan_canonicalization(true)
        .cranelift_opt_level(OptLevel::Speed)
        .relaxed_simd_deterministic(true)
        // Threads and shared memory: off (also compiled out: no `threads` feature).
        .wasm_features(
            WasmFeatures::THREADS | WasmFeatures::SHARED_EVERYTHING_THREADS,
            false,
        )
        .shared_memory(false)
        .wasm_memory64(false)
        .wasm_gc(false)
        .wasm_stack_switching(false)
        .max_wasm_stack(config.max_wasm_stack)
        .parallel_compilation(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        // Compiled artifacts are cached by the registry, keyed by content hash.
        .cache(None);
    Engine::new(&wasm).map_err(|err| RuntimeError::Engine(format!("{err:#}")))
}

/// A stable, hex-encoded SHA-256 of the engine's precompilation compatibility hash:
/// artifacts compiled by an engine with a different value must not be loaded.
pub fn compatibility_hash(engine: &Engine) -> String {
    use std::hash::Hash;
    let mut hasher = Sha256Hasher(sha2::Sha256::default());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    // The host binary's version is part of it too: a rebuilt host may change codegen.
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    use sha2::Digest as _;
    hex::encode(hasher.0.finalize())
}

/// A `std::hash::Hasher` that feeds SHA-256, so the compatibility hash is stable across
/// processes and Rust versions (unlike `DefaultHasher`).
struct Sha256Hasher(sha2::Sha256);

impl std::hash::Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        use sha2::Digest as _;
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        use sha2::Digest as _;
        self.0.update(bytes);
    }
}

/// Per-store resource limiter: refuses growth past the call's limits the standard way
/// (`memory.grow` returns -1, so a module may recover and e.g. allocate less) and remembers
/// that it did: if the call then fails (typically the guest's allocator aborts), the
/// failure is reported as [`ModuleFailure::MemoryLimit`].
///
/// [`ModuleFailure::MemoryLimit`]: super::error::ModuleFailure::MemoryLimit
///
/// Counts of instances, memories and tables are checked before instantiation against the
/// call's replicated limits ([`super::limits::ModuleNeeds`]); here they are only held to
/// the ceilings.
#[derive(Debug, Clone)]
pub struct CallLimiter {
    max_memory_bytes: u64,
    max_table_elements: u64,
    ceilings: ModuleLimits,
    /// Set when a growth request was refused: (requested, limit).
    pub(crate) refused: Option<(u64, u64)>,
    /// Set when a growth this limiter allowed failed on the host (an `mprotect` refused
    /// under strict overcommit, the process out of mappings): the call is a local fault,
    /// never a result, since another node would have grown.
    pub(crate) host_fault: Option<String>,
}

impl CallLimiter {
    /// A limiter for one call under `limits`.
    pub fn new(limits: &ModuleLimits) -> Self {
        Self {
            max_memory_bytes: limits.memory_bytes,
            max_table_elements: limits.table_elements,
            ceilings: ModuleLimits::ceilings(),
            refused: None,
            host_fault: None,
        }
    }

    /// Whether growing to `desired` stays within `limit`; records the first refusal.
    fn allow(&mut self, desired: u64, limit: u64) -> bool {
        if desired <= limit {
            return true;
        }
        self.refused.get_or_insert((desired, limit));
        false
    }
}

/// What wasmtime reports when a growth exceeds what the memory's index type can address
/// (checked before the limiter is asked): the module's doing, deterministic.
const TYPE_LIMIT: &str = "memory growth exceeds memory type's limits";

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The module's own declared maximum refuses deterministically here, so that a
        // growth this limiter allows can fail afterwards only on the host.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        Ok(self.allow(desired as u64, self.max_memory_bytes))
    }

    /// A growth failed after the checks: past the memory type's range (the module's
    /// doing: `memory.grow` returns -1 as the standard says), or on the host, which must
    /// not reach the module as -1 (it could allocate less and return another value than
    /// every other node): the call stops with an error and is marked a host fault.
    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        let text = format!("{error:#}");
        if text.contains(TYPE_LIMIT) {
            return Ok(());
        }
        self.host_fault.get_or_insert(text);
        Err(error)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.allow(desired as u64, self.max_table_elements))
    }

    fn instances(&self) -> usize {
        usize::try_from(self.ceilings.core_instances).unwrap_or(usize::MAX)
    }

    fn tables(&self) -> usize {
        usize::try_from(self.ceilings.tables).unwrap_or(usize::MAX)
    }

    fn memories(&self) -> usize {
        usize::try_from(self.ceilings.memories).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter;

    use super::*;

    /// A growth past the memory type's range (the module's doing) stays the standard -1;
    /// a growth the limiter allowed that fails afterwards is the host's: an error, marked,
    /// never -1 to the module. The control is the type-range failure, which must not be
    /// marked (with every failure marked, a module asking for 2^32 pages would make every
    /// node report a local fault instead of agreeing on -1).
    #[test]
    fn a_host_side_growth_failure_is_a_fault_not_a_result() {
        let mut limiter = CallLimiter::new(&ModuleLimits::default());
        let type_limit = wasmtime::format_err!("{TYPE_LIMIT}");
        assert!(limiter.memory_grow_failed(type_limit).is_ok());
        assert_eq!(limiter.host_fault, None);
        let host = wasmtime::format_err!("mprotect failed: Cannot allocate memory");
        assert!(limiter.memory_grow_failed(host).is_err());
        assert!(
            limiter
                .host_fault
                .as_deref()
                .is_some_and(|f| f.contains("mprotect"))
        );
    }

    /// The module's declared maximum refuses in the limiter itself (so that only a host
    /// failure can follow an allowed growth), without counting as the cluster's limit.
    #[test]
    fn the_declared_maximum_refuses_before_the_host_is_asked() -> wasmtime::Result<()> {
        let mut limiter = CallLimiter::new(&ModuleLimits::default());
        assert!(!limiter.memory_growing(0, 2 << 16, Some(1 << 16))?);
        assert_eq!(limiter.refused, None);
        assert!(limiter.memory_growing(0, 1 << 16, Some(1 << 16))?);
        Ok(())
    }
}
