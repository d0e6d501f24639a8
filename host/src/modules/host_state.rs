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
use super::log::LogSink;
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
}

impl HostState {
    /// State for one call of `module` under `config`.
    pub fn new(config: &RuntimeConfig, module: Digest, snapshot: Arc<SnapshotView>) -> Self {
        Self {
            snapshot,
            log: LogSink::new(config.max_log_lines, config.max_log_line_bytes),
            limiter: CallLimiter::new(config),
            module,
        }
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
