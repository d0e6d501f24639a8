//! Typed errors of the module runtime: per-call module failures (deterministic, agreed by
//! every node) apart from load-time refusals and local host errors.
//!
//! # Design
//! - [`ModuleFailure`]: what a module call ended in when it did not return a value. It is a
//!   pure function of (module, inputs, engine configuration), so every honest node sees the
//!   same one; it maps one-to-one onto the agreed `FailureKind` of the core.
//! - [`LoadError`]: why a module was refused before it could ever run (wrong world,
//!   forbidden import, hash mismatch, tampered cache, ...). Refusals name the culprit.
//! - [`RuntimeError`]: a local problem of this host (no active module, instance pool
//!   exhausted, I/O). It is *not* an agreed outcome: the caller retries or reports it.

use std::path::PathBuf;

use spore_core::types::Digest;

use super::Role;

/// A deterministic failure of one module call. The runtime keeps serving after any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleFailure {
    /// The call used up its fuel budget (e.g. an infinite loop).
    #[error("out of fuel: the call exceeded its budget of {budget} fuel units")]
    OutOfFuel {
        /// The per-call fuel budget of the role.
        budget: u64,
    },
    /// The module tried to grow its memory (or a table) beyond the per-instance limit.
    #[error("memory limit: the module asked for {requested} bytes, the limit is {limit}")]
    MemoryLimit {
        /// Bytes (or table elements) the module asked for in total.
        requested: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The module recursed past the maximum WebAssembly stack size.
    #[error("stack overflow: the module exceeded the maximum wasm stack")]
    StackOverflow,
    /// The module trapped (unreachable, division by zero, out-of-bounds access, ...).
    #[error("trap: {code}")]
    Trap {
        /// wasmtime's name of the trap code, e.g. `unreachable`; stable across nodes.
        code: String,
    },
    /// The module returned more bytes than the host accepts.
    #[error("output too large: {len} bytes, the limit is {limit}")]
    OutputTooLarge {
        /// Size of the returned output in bytes.
        len: u64,
        /// The configured output cap.
        limit: u64,
    },
    /// The module returned a value the host cannot use (e.g. an invalid string encoding or an
    /// out-of-range value lifted from its memory).
    #[error("invalid output: the module returned a value the host could not lift")]
    InvalidOutput,
    /// The module needs more than the replicated module limits allow (its size, core
    /// instances, memories or tables): refused before it instantiates anything.
    #[error("resource limit: the module needs {needed} for {key}, the limit is {limit}")]
    ResourceLimit {
        /// The parameter key of the limit, e.g. `timing.max-core-instances`.
        key: &'static str,
        /// What the module needs.
        needed: u64,
        /// The limit.
        limit: u64,
    },
}

/// Why a module was refused at load time.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The module's bytes do not hash to the hash it was addressed by.
    #[error("hash mismatch: expected {expected}, the bytes hash to {actual}")]
    HashMismatch {
        /// The hash the caller addressed the module by.
        expected: Digest,
        /// SHA-256 of the bytes actually supplied.
        actual: Digest,
    },
    /// The module is larger than the configured maximum module size.
    #[error("module too large: {len} bytes, the limit is {limit}")]
    TooLarge {
        /// Size of the module in bytes.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The bytes are not a valid WebAssembly component (or use a disabled feature).
    #[error("not a valid component: {0}")]
    Invalid(String),
    /// The component does not export the world its role requires.
    #[error("wrong world: a {role} module must export {expected}; this one exports [{found}]")]
    WrongWorld {
        /// The role the module was loaded for.
        role: Role,
        /// The export(s) the role's world requires.
        expected: &'static str,
        /// The component's actual exports, comma-separated.
        found: String,
        /// The type checker's explanation, if the names matched but the types did not.
        detail: Option<String>,
    },
    /// The component imports something the host does not provide.
    #[error("forbidden import `{import}`: modules may import only {allowed}")]
    ForbiddenImport {
        /// The full name of the offending import (e.g. `wasi:sockets/tcp@0.2.0`).
        import: String,
        /// The imports the host offers.
        allowed: &'static str,
    },
    /// A cached compiled artifact failed its integrity check (its recorded SHA-256 does
    /// not match its bytes, or the record is missing or malformed).
    #[error("cached artifact {path} is tampered or corrupt: {reason}")]
    CacheTampered {
        /// The artifact's path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The artifact cache could not be read or written.
    #[error("artifact cache I/O at {path}: {source}")]
    CacheIo {
        /// The path involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Compiling exceeded its time or memory bound (or the worker failed).
    #[error("compile bound: {0}")]
    CompileBound(String),
    /// This host cannot compile right now (the worker cannot be started): a local fault,
    /// not a verdict on the module, and not remembered.
    #[error("the compiler is unavailable on this host: {0}")]
    CompilerUnavailable(String),
    /// Compiling these bytes was refused before; the reason is remembered.
    #[error("refused before: {0}")]
    Refused(String),
    /// The component compiled but could not be linked against the host interface.
    #[error("cannot link the module against the host interface: {0}")]
    Link(String),
}

/// A local error of this host; not an agreed outcome of the call.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No module is active for the role.
    #[error("no active {0} module")]
    NoActiveModule(Role),
    /// No module with this hash is loaded for the role.
    #[error("no {role} module with hash {hash} is loaded")]
    UnknownModule {
        /// The role asked for.
        role: Role,
        /// The hash asked for.
        hash: Digest,
    },
    /// Nothing to roll back to: the role has had only one active module.
    #[error("no previous {0} module to roll back to")]
    NothingToRollBack(Role),
    /// The module was loaded for another role.
    #[error("module {hash} is a {actual} module, not a {expected} module")]
    RoleMismatch {
        /// The module's hash.
        hash: Digest,
        /// The role the caller wanted.
        expected: Role,
        /// The role the module was loaded for.
        actual: Role,
    },
    /// Loading a module failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The engine could not be created with the given configuration.
    #[error("engine configuration rejected: {0}")]
    Engine(String),
    /// Instantiation failed for a local reason (e.g. the instance pool is exhausted by
    /// too many concurrent calls); retry later.
    #[error("cannot instantiate the module on this host: {0}")]
    Instantiate(String),
    /// A call failed for a reason of this host, not of the module (a memory growth within
    /// the limits that the host could not make); retry later.
    #[error("the call failed on this host (not a result of the module): {0}")]
    HostFault(String),
}
