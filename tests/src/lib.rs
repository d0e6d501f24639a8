//! Helpers for the cluster tests: find (and build) the `spore` binary, start a local
//! cluster of real node processes, and poll it with bounded waits.
//!
//! # Design
//! The tests drive `spore node run` processes through [`spore::node::cluster::Cluster`]
//! (kill on drop). The binary is built with `cargo build -p spore --bin spore` (a no-op
//! when up to date) into the same target directory as the test executable, because a
//! dependency's binaries are not built for another package's tests. Clusters run one at
//! a time ([`serial`]) so the two CI cores are not shared by sixteen processes.
//!
//! Operations are signed by the key the cluster's genesis authorises for them
//! ([`signed`]); [`expect_refused`] asserts that a node turns a submission away at once.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use spore::node::client::Client;
use spore::node::cluster::Cluster;
use spore_core::consensus::DecidedEntry;
use spore_core::ops::{Operation, SignedOperation};
use spore_core::types::Digest;

/// The `spore` binary next to the test executable (built on first use).
pub fn spore_binary() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| build().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

fn build() -> anyhow::Result<PathBuf> {
    if let Ok(bin) = std::env::var("SPORE_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .context("unexpected test executable location")?
        .to_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "spore", "--bin", "spore"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let status = cmd.status().context("running cargo build")?;
    anyhow::ensure!(status.success(), "building the spore binary failed");
    let bin = profile_dir.join(format!("spore{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(bin.exists(), "{} not found", bin.display());
    Ok(bin)
}

/// Run cluster tests one at a time (an async lock: every test has its own runtime, and
/// a failed test does not poison it).
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A started cluster of `n` nodes (those in `byzantine` misbehave) in a temp dir,
/// every node ready.
pub async fn cluster(
    n: usize,
    byzantine: &[usize],
) -> anyhow::Result<(tempfile::TempDir, Cluster)> {
    let dir = tempfile::tempdir()?;
    let mut c = Cluster::create(dir.path(), &spore_binary()?, n, byzantine, "test")?;
    c.log = "info,spore::node::driver=debug".to_owned();
    c.start_all()?;
    for i in 0..n {
        c.wait_ready(i, Duration::from_secs(240))
            .await
            .with_context(|| c.log_tail(i, 30))?;
    }
    Ok((dir, c))
}

/// Every decided entry node `i` holds, from slot 0.
pub async fn full_log(c: &Cluster, i: usize) -> anyhow::Result<Vec<DecidedEntry>> {
    let client = c.client(i).await?;
    let mut out: Vec<DecidedEntry> = Vec::new();
    loop {
        let from = out.last().map_or(0, |e| e.slot + 1);
        let page = client.log(from, 256).await?;
        if page.is_empty() {
            break;
        }
        out.extend(page);
    }
    client.close().await;
    Ok(out)
}

/// The (slot, value digest) sequence of a log.
pub fn values(log: &[DecidedEntry]) -> Vec<(u64, Digest)> {
    log.iter().map(|e| (e.slot, e.value())).collect()
}

/// Poll `f` every 200 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Ok(Some(v)) = f().await {
            return Ok(v);
        }
        anyhow::ensure!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `op` signed by the key the cluster's genesis authorises for it (governor, operator or
/// client), decidable from slot 0 up to the widest expiry window: the test clusters stay
/// far below it, and a node that lags a slot or two never sees the expiry "too far".
pub fn signed(c: &Cluster, op: Operation) -> SignedOperation {
    c.sign(op, 0)
}

/// Submit `op` (following it) and expect the node to refuse it at once (within 5 s, with
/// no decision to wait for); returns the refusal message, which names the reason.
pub async fn expect_refused(client: &Client, op: SignedOperation) -> anyhow::Result<String> {
    let kind = op.op.kind_name();
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        spore::cli::client::submit(client, op, Some(Duration::from_secs(60))),
    )
    .await
    .map_err(|_| anyhow::anyhow!("{kind} was not refused at once"))?;
    match answer {
        Ok(d) => anyhow::bail!("{kind} was accepted: {d:?}"),
        Err(e) => {
            let msg = format!("{e:#}");
            anyhow::ensure!(msg.contains("refused:"), "{kind}: not a refusal: {msg}");
            Ok(msg)
        }
    }
}

/// `component` with a custom section of `extra` bytes appended: the same module (custom
/// sections do not change what it does) with another hash and size, e.g. to make a
/// module larger than a peer frame.
pub fn padded_component(component: &[u8], extra: usize) -> Vec<u8> {
    let name = b"spore-test-padding";
    let mut payload = Vec::with_capacity(extra + name.len() + 8);
    leb128(&mut payload, name.len() as u64);
    payload.extend_from_slice(name);
    payload.extend(std::iter::repeat_n(0u8, extra));
    let mut out = component.to_vec();
    out.push(0); // custom section id
    leb128(&mut out, payload.len() as u64);
    out.extend_from_slice(&payload);
    out
}

/// `component` with an unused core module of `functions` functions appended, each
/// `steps` multiply-and-store steps long: a valid component of the same world that takes
/// the compiler a long time (about a second per 3 MB of such code here, per engine).
pub fn slow_to_compile(component: &[u8], functions: u32, steps: u32) -> Vec<u8> {
    let section = |id: u8, payload: &[u8]| {
        let mut out = vec![id];
        leb128(&mut out, payload.len() as u64);
        out.extend_from_slice(payload);
        out
    };
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    // One type, (i32) -> i32; every function has it.
    module.extend(section(1, &[1, 0x60, 1, 0x7f, 1, 0x7f]));
    let mut funcs = Vec::new();
    leb128(&mut funcs, u64::from(functions));
    funcs.extend(std::iter::repeat_n(0u8, functions as usize));
    module.extend(section(3, &funcs));
    let mut body = vec![0u8]; // no locals beyond the parameter
    for step in 0..steps {
        // local.get 0; i32.const c; i32.mul; local.set 0
        body.extend_from_slice(&[0x20, 0, 0x41, (step * 37 + 11) as u8 & 0x3f, 0x6c, 0x21, 0]);
    }
    body.extend_from_slice(&[0x20, 0, 0x0b]);
    let mut code = Vec::new();
    leb128(&mut code, u64::from(functions));
    for _ in 0..functions {
        leb128(&mut code, body.len() as u64);
        code.extend_from_slice(&body);
    }
    module.extend(section(10, &code));
    let mut out = component.to_vec();
    out.extend(section(1, &module)); // a component's core module section
    out
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Send `request` (a raw HTTP/1.1 request) to a node's metrics endpoint.
pub async fn http_request(
    addr: std::net::SocketAddr,
    request: &str,
) -> anyhow::Result<(u16, String)> {
    Ok(spore::node::http::request(addr, request).await?)
}

/// `GET path` from a node's metrics endpoint.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    Ok(spore::node::http::get(addr, path).await?)
}
