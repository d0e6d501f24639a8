//! The data of one call's `Store`: the snapshot it reads, its log and its limiter.
//!
//! A fresh `HostState` (and store) is made for every call, so nothing a module does in one
//! call can be observed by the next.

use std::sync::Arc;

use spore_core::types::Digest;
use wasmtime::component::{HasSelf, Linker};

use super::bindings;
use super::engine::{CallLimiter, RuntimeConfig};
use super::error::RuntimeError;
use super::limits::ModuleLimits;
use super::log::{LogPace, LogSink};
use super::snapshot::SnapshotView;

/// The host side of one module call.
#[derive(Debug)]
pub struct HostState {
    /// The replicated state at the slot, read-only.
    pub(crate) snapshot: Arc<SnapshotView>,
    /// The call's bounded log.
    pub(crate) log: LogSink,
    /// Memory/table/instance limits of the call.
    pub(crate) limiter: CallLimiter,
    /// Hash of the module being called (for log attribution).
    pub(crate) module: Digest,
    /// Host fuel left for this call: every host import is charged for its work and the
    /// bytes it copies ([`HostState::charge`]), so a call's host time is bounded like its
    /// guest time.
    pub(crate) host_fuel: u64,
    /// Set when a host import found the host fuel spent (the call ends out of fuel).
    pub(crate) host_exhausted: bool,
    /// The pace of module lines written to the node's log, shared by every call of a
    /// runtime; without one, every kept line is written.
    pub(crate) pace: Option<Arc<LogPace>>,
}

/// Host fuel of one host import call, whatever it does (its fixed work: the call, the
/// lookup, the allocation).
pub const HOST_CALL_FUEL: u64 = 1_000;

/// Host fuel per byte a host import copies in or out.
pub const HOST_BYTE_FUEL: u64 = 1;

/// The error a host import returns when the call's host fuel is spent (it traps the call,
/// which the runtime reports as out of fuel).
#[derive(Debug, thiserror::Error)]
#[error("host fuel exhausted")]
pub struct HostFuelExhausted;

impl HostState {
    /// Charge one host import: [`HOST_CALL_FUEL`] plus [`HOST_BYTE_FUEL`] per byte it
    /// copies; traps the call (deterministically: the charge depends only on what the
    /// guest asked) once the host fuel is spent.
    pub(crate) fn charge(&mut self, bytes: usize) -> wasmtime::Result<()> {
        let cost = HOST_CALL_FUEL.saturating_add(
            HOST_BYTE_FUEL.saturating_mul(u64::try_from(bytes).unwrap_or(u64::MAX)),
        );
        if cost > self.host_fuel {
            self.host_fuel = 0;
            self.host_exhausted = true;
            return Err(HostFuelExhausted.into());
        }
        self.host_fuel -= cost;
        Ok(())
    }
}

impl HostState {
    /// State for one call of `module` under `config`.
    pub fn new(config: &RuntimeConfig, module: Digest, snapshot: Arc<SnapshotView>) -> Self {
        Self::with_host_fuel(config, &config.limits, module, snapshot, u64::MAX)
    }

    /// State for one call under `limits` with `host_fuel` for its host imports (the
    /// runtime gives a call as much host fuel as guest fuel).
    pub fn with_host_fuel(
        config: &RuntimeConfig,
        limits: &ModuleLimits,
        module: Digest,
        snapshot: Arc<SnapshotView>,
        host_fuel: u64,
    ) -> Self {
        Self {
            snapshot,
            log: LogSink::new(config.max_log_lines, config.max_log_line_bytes),
            limiter: CallLimiter::new(limits),
            module,
            host_fuel,
            host_exhausted: false,
            pace: None,
        }
    }

    /// Write this call's log lines to the node's log at `pace` (shared across calls).
    #[must_use]
    pub fn paced(mut self, pace: Arc<LogPace>) -> Self {
        self.pace = Some(pace);
        self
    }
}

/// The `types` interface has no functions; its `Host` trait is empty.
impl bindings::types::Host for HostState {}

/// A linker offering exactly the host interface (`types`, `snapshot`, `log`) and nothing
/// else: any other import fails to link, and the registry refuses such modules earlier with
/// a clearer error.
pub fn host_linker(engine: &wasmtime::Engine) -> Result<Linker<HostState>, RuntimeError> {
    let mut linker = Linker::new(engine);
    bindings::validator::Validator::add_to_linker::<HostState, HasSelf<HostState>>(
        &mut linker,
        |state| state,
    )
    .map_err(|err| RuntimeError::Engine(format!("{err:#}")))?;
    Ok(linker)
}
