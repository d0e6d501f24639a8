//! Compiling a module's bytes into native code, with a time and a memory bound.
//!
//! # Design
//! Compilation is the one step of loading whose cost the module's author controls beyond
//! its size: Cranelift's time and memory grow with the shape of the code (huge functions,
//! deep nesting), and the bytes arrive from peers and clients. So it runs bounded:
//! - **In a worker process** when [`CompileBounds::worker`] names an executable (a node
//!   names its own binary, whose hidden `spore compile-worker` command is
//!   [`run_worker`]). The worker gets the runtime configuration and the bytes on stdin,
//!   limits its own data segment to [`CompileBounds::max_memory_bytes`]
//!   (`RLIMIT_DATA`: heap and every private writable mapping), builds the same engine,
//!   precompiles, and writes the artifact to stdout. The parent kills it at
//!   [`CompileBounds::timeout`] and reads at most [`artifact_cap`] bytes of output. A
//!   compile that exhausts memory or time costs the worker, never the node.
//! - **On a thread** otherwise (tools and tests, where the running binary is not `spore`):
//!   bounded in time only; a compile that overruns is abandoned to finish in the
//!   background, and its result is discarded.
//!
//! Either way the caller ([`super::registry::Registry`]) compiles each hash once and
//! remembers a failure, so a hostile blob costs one bounded compile per node lifetime.
//! The worker compiles on [`WORKER_COMPILE_THREADS`] threads on every machine, so its
//! memory need does not depend on the core count.
//! Exceeding a bound refuses the module ([`LoadError::CompileBound`]); the defaults are
//! far above what a module within the size cap needs on an idle machine (measured:
//! the 12 MB componentize-js module compiles in ~10 s in a debug build), so honest nodes
//! agree on the verdict unless one is badly overloaded, which costs it a dissent.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::engine::{RuntimeConfig, build_engine};
use super::error::LoadError;

/// Compile threads of a worker, whatever the machine: the engine compiles functions in
/// parallel on a pool sized by default to the CPUs, and each thread holds its own
/// function's compile state, so the memory a compile needs, and with it the verdict of
/// [`CompileBounds::max_memory_bytes`], depended on the core count (a module near the
/// bound refused on a 64-core node and accepted on a 2-core one). A fixed count makes
/// the memory bound a property of the bytes and the engine, not of the machine.
pub const WORKER_COMPILE_THREADS: u32 = 4;

/// The command that starts a compile worker of `exe`, its thread count fixed (the
/// variable is set whatever the node's own environment holds).
fn worker_command(exe: &std::path::Path) -> Command {
    let mut command = Command::new(exe);
    command
        .arg("compile-worker")
        .env("RAYON_NUM_THREADS", WORKER_COMPILE_THREADS.to_string());
    command
}

/// Largest artifact a worker may return, whatever the module's size.
pub const MAX_ARTIFACT_BYTES: usize = 256 << 20;

/// Largest artifact accepted for a module of `module_len` bytes: native code is a few
/// times the size of the wasm it comes from; 16 times, plus 16 MiB, within
/// [`MAX_ARTIFACT_BYTES`].
pub fn artifact_cap(module_len: usize) -> usize {
    module_len
        .saturating_mul(16)
        .saturating_add(16 << 20)
        .min(MAX_ARTIFACT_BYTES)
}

/// Largest request a worker reads (a module within any sane size cap, and the config).
const MAX_REQUEST_BYTES: u64 = 256 << 20;

/// Most bytes of a worker's error output kept for the refusal message.
const MAX_WORKER_ERROR_BYTES: u64 = 4096;

/// The bounds of one compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileBounds {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Data-segment limit of the worker process (ignored without a worker).
    pub max_memory_bytes: u64,
    /// The executable whose `compile-worker` command compiles; `None`: a thread.
    pub worker: Option<PathBuf>,
}

impl Default for CompileBounds {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            max_memory_bytes: 2 << 30,
            worker: None,
        }
    }
}

/// How long a local tool (`spore module check`, `build`, `run`, `propose`) lets your own
/// module compile: a slow or busy machine must not call a module unfit. A node's bound
/// (the default, 60 s) is for bytes from peers and clients.
pub const LOCAL_TOOL_TIMEOUT: Duration = Duration::from_secs(600);

impl CompileBounds {
    /// The bounds of a local tool compiling a module its user chose
    /// ([`LOCAL_TOOL_TIMEOUT`], on a thread).
    pub fn local_tool() -> Self {
        Self {
            timeout: LOCAL_TOOL_TIMEOUT,
            ..Self::default()
        }
    }
}

/// What the parent sends a worker.
#[derive(Serialize, Deserialize)]
struct WorkerRequest {
    config: RuntimeConfig,
    max_memory_bytes: u64,
    module: Vec<u8>,
}

/// Compile `bytes` for `engine` (built from `config`) within `bounds`.
pub fn compile(
    engine: &Engine,
    config: &RuntimeConfig,
    bounds: &CompileBounds,
    bytes: &[u8],
) -> Result<Component, LoadError> {
    match &bounds.worker {
        Some(exe) => compile_in_worker(engine, config, bounds, exe, bytes),
        None => compile_on_thread(engine, bounds, bytes),
    }
}

fn compile_on_thread(
    engine: &Engine,
    bounds: &CompileBounds,
    bytes: &[u8],
) -> Result<Component, LoadError> {
    let (tx, rx) = mpsc::sync_channel(1);
    let (engine, owned) = (engine.clone(), bytes.to_vec());
    std::thread::Builder::new()
        .name("spore-compile".into())
        .spawn(move || {
            let _ = tx.send(Component::from_binary(&engine, &owned));
        })
        .map_err(|e| {
            LoadError::CompilerUnavailable(format!("cannot start a compile thread: {e}"))
        })?;
    match rx.recv_timeout(bounds.timeout) {
        Ok(result) => result.map_err(|err| LoadError::Invalid(format!("{err:#}"))),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(timed_out(bounds)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(LoadError::CompileBound(
            "the compile thread ended without a result".into(),
        )),
    }
}

fn timed_out(bounds: &CompileBounds) -> LoadError {
    LoadError::CompileBound(format!(
        "compiling took longer than {} s",
        bounds.timeout.as_secs_f64()
    ))
}

fn compile_in_worker(
    engine: &Engine,
    config: &RuntimeConfig,
    bounds: &CompileBounds,
    exe: &std::path::Path,
    bytes: &[u8],
) -> Result<Component, LoadError> {
    let request = postcard::to_allocvec(&WorkerRequest {
        config: config.clone(),
        max_memory_bytes: bounds.max_memory_bytes,
        module: bytes.to_vec(),
    })
    .map_err(|e| {
        LoadError::CompilerUnavailable(format!("cannot encode the compile request: {e}"))
    })?;
    let spawn_err = |e: std::io::Error| {
        LoadError::CompilerUnavailable(format!(
            "cannot run the compile worker {}: {e}",
            exe.display()
        ))
    };
    let cap = artifact_cap(bytes.len());
    let mut child = worker_command(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(LoadError::CompilerUnavailable(
            "the compile worker has no pipes".into(),
        ));
    };
    // Feed and drain on threads, so neither pipe can block the wait below.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&request);
    });
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout
            .take(u64::try_from(cap).unwrap_or(u64::MAX) + 1)
            .read_to_end(&mut out);
        out
    });
    let errors = std::thread::spawn(move || {
        let mut err = Vec::new();
        let mut stderr = stderr;
        let _ = (&mut stderr)
            .take(MAX_WORKER_ERROR_BYTES)
            .read_to_end(&mut err);
        // Drain the rest so the worker never blocks on a full pipe.
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        String::from_utf8_lossy(&err).trim().to_string()
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= bounds.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = feeder.join();
                let _ = reader.join();
                let _ = errors.join();
                return Err(timed_out(bounds));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(spawn_err(e));
            }
        }
    };
    let _ = feeder.join();
    let artifact = reader.join().unwrap_or_default();
    let message = errors.join().unwrap_or_default();
    if !status.success() {
        // The worker prints `invalid: ...` for a module wasmtime refuses; anything else
        // (killed by the memory limit, a crash) is a bound.
        return Err(match message.strip_prefix("invalid: ") {
            Some(reason) => LoadError::Invalid(reason.to_string()),
            None => LoadError::CompileBound(format!(
                "the compile worker failed ({status}) within {} MiB: {message}",
                bounds.max_memory_bytes >> 20
            )),
        });
    }
    if artifact.len() > cap {
        return Err(LoadError::CompileBound(format!(
            "the compiled artifact exceeds {cap} bytes"
        )));
    }
    deserialize_own(engine, &artifact)
}

/// Load an artifact our own worker just produced.
#[allow(unsafe_code)]
fn deserialize_own(engine: &Engine, artifact: &[u8]) -> Result<Component, LoadError> {
    // SAFETY: `Component::deserialize` requires bytes produced by `Engine::precompile_*` of
    // a compatible wasmtime. These are the stdout of the compile worker this function's
    // caller started from the node's own executable, with the same runtime configuration
    // (so the same engine settings), read whole from a pipe only it holds; wasmtime also
    // checks the header (version, target, engine flags) and refuses a mismatch.
    unsafe { Component::deserialize(engine, artifact) }.map_err(|e| {
        let why = format!("{e:#}");
        // The instance pool checks every module of the component against its limits when
        // it is loaded (defined memories and tables per module, a memory's minimum size,
        // the instance sizes): a property of the bytes and of the engine's settings, the
        // same on every node, so a refusal like an invalid module's, remembered. Reported
        // as a local fault, it was retried forever and every node abstained on the swap
        // that named such a module (a stall). Any other failure here is this host's.
        if why.contains("pooling allocator") {
            LoadError::Invalid(format!(
                "it does not fit the runtime's instance limits: {why}"
            ))
        } else {
            LoadError::CompilerUnavailable(format!("the worker's artifact does not load: {why}"))
        }
    })
}

/// The worker's side (`spore compile-worker`): read a request on stdin, limit this
/// process's data segment, compile, write the artifact to stdout.
pub fn run_worker() -> ExitCode {
    let fail = |prefix: &str, message: String| {
        eprintln!("{prefix}{message}");
        ExitCode::FAILURE
    };
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin()
        .take(MAX_REQUEST_BYTES)
        .read_to_end(&mut input)
    {
        return fail("", format!("reading the request: {e}"));
    }
    let request: WorkerRequest = match postcard::from_bytes(&input) {
        Ok(r) => r,
        Err(e) => return fail("", format!("decoding the request: {e}")),
    };
    drop(input);
    let limit = rustix::process::Rlimit {
        current: Some(request.max_memory_bytes),
        maximum: Some(request.max_memory_bytes),
    };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Data, limit) {
        return fail("", format!("cannot limit memory: {e}"));
    }
    let engine = match build_engine(&request.config) {
        Ok(e) => e,
        Err(e) => return fail("", format!("engine: {e}")),
    };
    let artifact = match engine.precompile_component(&request.module) {
        Ok(a) => a,
        Err(e) => return fail("invalid: ", format!("{e:#}")),
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(&artifact).and_then(|()| out.flush()) {
        return fail("", format!("writing the artifact: {e}"));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worker's compile pool has a fixed size, set on its command whatever the
    /// parent's environment says, so its memory bound judges the bytes, not the machine's
    /// core count (control: a command built without `worker_command` carries no setting,
    /// and the pool follows the CPUs).
    #[test]
    fn a_worker_compiles_on_a_fixed_number_of_threads() {
        let command = worker_command(std::path::Path::new("spore"));
        let threads: Vec<_> = command
            .get_envs()
            .filter(|(k, _)| *k == "RAYON_NUM_THREADS")
            .map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(threads, [Some(WORKER_COMPILE_THREADS.to_string())]);
        assert_eq!(command.get_args().collect::<Vec<_>>(), ["compile-worker"]);
    }
}
