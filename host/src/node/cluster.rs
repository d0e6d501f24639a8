//! A local cluster of `spore node run` processes on loopback: keys, genesis, configs,
//! start, kill -9, restart, clients. Used by `spore devnet` and the cluster tests.
//!
//! # Design
//! Everything lives in one directory (`n<i>/node.key`, `n<i>/node.toml`, `n<i>/data`,
//! `n<i>/node.log`, `genesis.json`). Ports are picked free at creation, below the OS's
//! ephemeral range ([`bind_outside_ephemeral`]), each held bound until the cluster is made
//! so that no two nodes are given the same one. Every child process is killed when the
//! [`Cluster`] is dropped, so a panicking test leaves nothing running.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use spore_core::crypto::Keypair;
use spore_core::genesis::{Genesis, GenesisNode, Params};
use spore_core::ops::{MAX_EXPIRY_WINDOW, NodeIdentity, Operation, SignedOperation, Sponsorship};
use spore_core::state::{Actor, Authority, AuthorizedKey, Permission, Policy};
use spore_core::types::{Digest, Hierarchy, NodeId, Slot, TrustBps};

use super::client::Client;
use super::config::{Byzantine, NodeConfig};
use super::keyfile;
use super::proto::{Request, Response, StatusReport};

/// One node of a local cluster.
#[derive(Debug)]
pub struct LocalNode {
    /// Its id.
    pub id: NodeId,
    /// Its name (`n1`, `n2`, ...).
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its client address.
    pub client_addr: SocketAddr,
    /// Its metrics, health and readiness endpoint (HTTP).
    pub metrics_addr: SocketAddr,
    /// Its misbehaviour, if any.
    pub byzantine: Option<Byzantine>,
    child: Option<Child>,
}

/// A local cluster.
#[derive(Debug)]
pub struct Cluster {
    /// The genesis digest (the chain every signed operation names).
    pub chain: Digest,
    /// The governor key named by the genesis (`governor.key` in the cluster folder).
    pub governor: Keypair,
    /// The operator key named by the genesis (`operator.key`).
    pub operator: Keypair,
    /// The client key named by the genesis (`client.key`).
    pub client: Keypair,
    /// The cluster directory.
    pub dir: PathBuf,
    /// The `spore` binary used to start nodes.
    pub binary: PathBuf,
    /// The nodes: the genesis nodes in genesis order, then any joiners.
    pub nodes: Vec<LocalNode>,
    /// The log filter passed to nodes.
    pub log: String,
}

/// Loopback ports for the nodes of one cluster, never the same one twice: every port
/// handed out stays bound (UDP for the QUIC listeners, TCP for the metrics endpoints)
/// until the reservation is dropped (when the cluster or the joiner is made, before any
/// node starts), so the OS cannot give it out again meanwhile. (Found when a bench run
/// failed: a port picked for one node's QUIC listener and released at once came back as
/// another node's client listener.) Ports named in `avoid` (every port of the cluster's
/// nodes when a node joins, running or not) are skipped, and so is every port any
/// reservation of this process handed out before ([`GIVEN`]): a cluster's ports are
/// released before its nodes bind them, and another cluster made meanwhile in the same
/// process (parallel tests) must not draw them.
#[derive(Debug, Default)]
pub(crate) struct Ports {
    udp: Vec<UdpSocket>,
    tcp: Vec<std::net::TcpListener>,
    avoid: std::collections::BTreeSet<u16>,
}

/// Every port a reservation of this process has handed out (never given again).
static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

impl Ports {
    /// Attempts at a port that is not in `avoid` before giving up.
    const ATTEMPTS: usize = 64;

    pub(crate) fn avoiding(ports: impl IntoIterator<Item = u16>) -> Self {
        Ports {
            avoid: ports.into_iter().collect(),
            ..Ports::default()
        }
    }

    /// A free UDP port on loopback, distinct from every other this reservation holds.
    pub(crate) fn udp(&mut self) -> anyhow::Result<u16> {
        let bind = || {
            let socket = bind_outside_ephemeral(|p| UdpSocket::bind(("127.0.0.1", p)))?;
            let port = socket.local_addr()?.port();
            Ok((socket, port))
        };
        Self::draw(&mut self.avoid, &mut self.udp, bind, "UDP")
    }

    /// A UDP socket bound on loopback to a port outside `avoid` and every other this
    /// reservation holds, handed over to the caller (the port stays avoided).
    pub(crate) fn udp_socket(&mut self) -> anyhow::Result<UdpSocket> {
        self.udp()?;
        self.udp
            .pop()
            .ok_or_else(|| anyhow::anyhow!("a drawn UDP socket went missing"))
    }

    /// A free TCP port on loopback, distinct from every other this reservation holds.
    pub(crate) fn tcp(&mut self) -> anyhow::Result<u16> {
        let bind = || {
            let listener =
                bind_outside_ephemeral(|p| std::net::TcpListener::bind(("127.0.0.1", p)))?;
            let port = listener.local_addr()?.port();
            Ok((listener, port))
        };
        Self::draw(&mut self.avoid, &mut self.tcp, bind, "TCP")
    }

    /// Bind until the OS gives a port outside `avoid` and [`GIVEN`]; every socket bound
    /// is held.
    fn draw<S>(
        avoid: &mut std::collections::BTreeSet<u16>,
        held: &mut Vec<S>,
        bind: impl Fn() -> std::io::Result<(S, u16)>,
        kind: &str,
    ) -> anyhow::Result<u16> {
        for _ in 0..Self::ATTEMPTS {
            let (socket, port) = bind()?;
            held.push(socket);
            let mut given = GIVEN
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let fresh = !avoid.contains(&port) && given.insert(port);
            avoid.insert(port);
            if fresh {
                return Ok(port);
            }
        }
        anyhow::bail!("no free {kind} port on loopback outside those in use")
    }
}

/// Bind with `bind` to a port below the OS's ephemeral range when it has one (Linux's
/// `ip_local_port_range`), else to any port. A node's port is free between a stop and its
/// restart, and a port of the ephemeral range can meanwhile become the local port of any
/// outgoing socket on the machine (a status client's, another test's): the restarted node
/// then cannot bind it and never answers (seen once in the fork recovery test, whose late
/// node starts after a pause). The OS never hands out ports below that range by itself.
fn bind_outside_ephemeral<S>(bind: impl Fn(u16) -> std::io::Result<S>) -> std::io::Result<S> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|low| *low > 11_024);
    if let Some(low) = low {
        // Spread over the 10,000 ports below the range, from a per-process start.
        let start = u64::from(std::process::id()).wrapping_mul(7_919);
        for _ in 0..64 {
            let n = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(104_729));
            let port = low - 10_000 + (n % 10_000) as u16;
            if let Ok(bound) = bind(port) {
                return Ok(bound);
            }
        }
    }
    bind(0)
}

/// Consensus timers suited to loopback, and the metrics endpoint on.
fn loopback_config(client: SocketAddr, listen: SocketAddr, metrics: SocketAddr) -> NodeConfig {
    let mut c = NodeConfig {
        listen: Some(listen),
        client_listen: client,
        metrics_listen: Some(metrics),
        ..NodeConfig::default()
    };
    // The replicated `timing.max-batch` and the byte budgets bound batches; no local cap
    // below them (so a genesis parameter set for a bench takes effect).
    c.consensus.max_batch = 10_000;
    c.consensus.base_timeout_ms = 1_500;
    c.consensus.reveal_grace_ms = 100;
    c.consensus.resend_interval_ms = 250;
    // Every node of a local cluster shares the machine: one runtime thread each spares
    // the cross-thread wake-ups (measured on 2 cores, n = 7, one session: 969 against
    // 900 ops/s, 254 against 281 us of CPU per operation and node).
    c.threads = 1;
    c
}

/// A founder's place in a cluster's genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Founder {
    /// Hierarchy level.
    pub level: Hierarchy,
    /// Starting trust (bps).
    pub trust: TrustBps,
    /// A deliberate misbehaviour, if any.
    pub behaviour: Option<Byzantine>,
}

impl Founder {
    /// The devnet's shape: the first node sclerotia, the rest rhizomorph, all at 8000.
    pub fn default_shape(n: usize) -> Vec<Founder> {
        (0..n)
            .map(|i| Founder {
                level: if i == 0 {
                    Hierarchy::Sclerotia
                } else {
                    Hierarchy::Rhizomorph
                },
                trust: 8_000,
                behaviour: None,
            })
            .collect()
    }

    /// [`Founder::default_shape`] with the nodes of `wrong` (0-based) reporting wrong
    /// validator results (the devnet's and the bench's misbehaving nodes).
    pub fn shape_with_wrong_results(n: usize, wrong: &[usize]) -> Vec<Founder> {
        let mut shape = Self::default_shape(n);
        for i in wrong {
            if let Some(f) = shape.get_mut(*i) {
                f.behaviour = Some(Byzantine::WrongResult);
            }
        }
        shape
    }
}

impl Cluster {
    /// Set every node's async runtime threads (the node setting `threads`; 0: one worker
    /// per core) before the nodes start.
    pub fn set_threads(&self, threads: usize) -> anyhow::Result<()> {
        for node in &self.nodes {
            let path = node.dir.join("node.toml");
            let mut config = NodeConfig::load(&path)?;
            config.threads = threads;
            std::fs::write(&path, config.to_toml()?)?;
        }
        Ok(())
    }

    /// Create keys, a signed genesis (first node sclerotia, the rest rhizomorph) and
    /// configs for `n` nodes in `dir`; nodes in `byzantine` (0-based) misbehave.
    pub fn create(
        dir: &Path,
        binary: &Path,
        n: usize,
        byzantine: &[usize],
        chain_id: &str,
    ) -> anyhow::Result<Self> {
        Self::create_with(dir, binary, n, byzantine, chain_id, &[])
    }

    /// [`Cluster::create`] with replicated parameters of the genesis set (each checked
    /// against its range, after the devnet's own settings).
    pub fn create_with(
        dir: &Path,
        binary: &Path,
        n: usize,
        byzantine: &[usize],
        chain_id: &str,
        params: &[(String, i64)],
    ) -> anyhow::Result<Self> {
        let shape = Founder::shape_with_wrong_results(n, byzantine);
        Self::create_shaped(dir, binary, &shape, chain_id, params)
    }

    /// [`Cluster::create_with`] with each founder's level, starting trust and
    /// misbehaviour given (`founders[i]` is node `n{i+1}`); the genesis is checked as
    /// every node checks it, so a shape no cluster could start from is refused here with
    /// the reason.
    pub fn create_shaped(
        dir: &Path,
        binary: &Path,
        founders_shape: &[Founder],
        chain_id: &str,
        params: &[(String, i64)],
    ) -> anyhow::Result<Self> {
        let n = founders_shape.len();
        anyhow::ensure!(n >= 1, "a cluster needs at least one node");
        let misbehaving = founders_shape
            .iter()
            .filter(|f| f.behaviour.is_some())
            .count();
        let mut keys = Vec::new();
        let mut founders = Vec::new();
        let mut nodes = Vec::new();
        let mut ports = Ports::default();
        for (i, shape) in founders_shape.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let ndir = dir.join(&name);
            std::fs::create_dir_all(&ndir)?;
            let key = keyfile::generate();
            keyfile::write(&ndir.join("node.key"), &key, true)?;
            let listen = SocketAddr::from(([127, 0, 0, 1], ports.udp()?));
            let client = SocketAddr::from(([127, 0, 0, 1], ports.udp()?));
            let metrics = SocketAddr::from(([127, 0, 0, 1], ports.tcp()?));
            let mut config = loopback_config(client, listen, metrics);
            config.genesis_file = PathBuf::from("../genesis.json");
            config.byzantine = shape.behaviour;
            std::fs::write(ndir.join("node.toml"), config.to_toml()?)?;
            founders.push(GenesisNode {
                id: key.id(),
                level: shape.level,
                trust: shape.trust,
                name: name.clone(),
                address: listen.to_string(),
            });
            nodes.push(LocalNode {
                id: key.id(),
                name,
                dir: ndir,
                client_addr: client,
                metrics_addr: metrics,
                byzantine: config.byzantine,
                child: None,
            });
            keys.push(key);
        }
        // The cluster's authorised keys: a governor, an operator and a client.
        let grant = |name: &str, role: Actor| -> anyhow::Result<(Keypair, AuthorizedKey)> {
            let key = keyfile::generate();
            keyfile::write(&dir.join(format!("{name}.key")), &key, true)?;
            let id = key.id();
            let roles = std::collections::BTreeSet::from([role]);
            Ok((
                key,
                AuthorizedKey {
                    id,
                    name: name.to_owned(),
                    roles,
                },
            ))
        };
        let (governor, g) = grant("governor", Actor::Governor)?;
        let (operator, o) = grant("operator", Actor::Operator)?;
        let (client, c) = grant("client", Actor::Client)?;
        let mut authorized = vec![g, o, c];
        authorized.sort_by_key(|k| k.id);
        let mut genesis_params = Params::default();
        // The devnet's governor may remove every misbehaving node within one epoch.
        genesis_params.set(
            "membership.max-removals-per-epoch",
            i64::try_from(misbehaving.max(1)).unwrap_or(1),
        )?;
        for (key, value) in params {
            genesis_params
                .set(key, *value)
                .with_context(|| format!("genesis parameter {key} = {value}"))?;
        }
        let mut genesis = Genesis::new(
            chain_id,
            founders,
            genesis_params,
            crate::cli::genesis::default_modules(),
        );
        genesis.authority = Authority {
            keys: authorized,
            policy: Policy::default(),
        };
        for key in &keys {
            genesis.sign(key)?;
        }
        genesis
            .verify()
            .context("the cluster's genesis is one no node would start from")?;
        crate::cli::genesis::save(&dir.join("genesis.json"), &genesis)?;
        Ok(Cluster {
            chain: genesis.digest(),
            governor,
            operator,
            client,
            dir: dir.to_owned(),
            binary: binary.to_owned(),
            nodes,
            log: "info".to_owned(),
        })
    }

    /// Prepare a node that is not in the genesis (key, ports, config in `<name>/`), to be
    /// admitted by a decided node admission and then started: it follows the cluster
    /// once the members contact it. Returns its index and its peer address (the address
    /// its admission must name).
    pub fn add_joiner(&mut self, name: &str) -> anyhow::Result<(usize, SocketAddr)> {
        anyhow::ensure!(
            self.nodes.iter().all(|n| n.name != name),
            "a node named {name} exists already"
        );
        let ndir = self.dir.join(name);
        std::fs::create_dir_all(&ndir)?;
        let key = keyfile::generate();
        keyfile::write(&ndir.join("node.key"), &key, true)?;
        // Every port of the cluster's nodes, stopped ones included: their peer listeners
        // from their configs, beside their client and metrics ports.
        let mut taken = Vec::new();
        for n in &self.nodes {
            taken.extend([n.client_addr.port(), n.metrics_addr.port()]);
            let config = NodeConfig::load(&n.dir.join("node.toml"))?;
            taken.extend(config.listen.map(|a| a.port()));
        }
        let mut ports = Ports::avoiding(taken);
        let listen = SocketAddr::from(([127, 0, 0, 1], ports.udp()?));
        let client = SocketAddr::from(([127, 0, 0, 1], ports.udp()?));
        let metrics = SocketAddr::from(([127, 0, 0, 1], ports.tcp()?));
        let mut config = loopback_config(client, listen, metrics);
        config.genesis_file = PathBuf::from("../genesis.json");
        std::fs::write(ndir.join("node.toml"), config.to_toml()?)?;
        self.nodes.push(LocalNode {
            id: key.id(),
            name: name.to_owned(),
            dir: ndir,
            client_addr: client,
            metrics_addr: metrics,
            byzantine: None,
            child: None,
        });
        Ok((self.nodes.len() - 1, listen))
    }

    /// The key of node `i` (to sign operations or forge traffic in tests).
    pub fn key(&self, i: usize) -> anyhow::Result<Keypair> {
        Ok(keyfile::read(&self.node(i)?.dir.join("node.key"))?)
    }

    fn node(&self, i: usize) -> anyhow::Result<&LocalNode> {
        self.nodes.get(i).context("no such node")
    }

    /// Start node `i` (a separate process; output to `n<i>/node.log`).
    pub fn start(&mut self, i: usize) -> anyhow::Result<()> {
        self.start_with_env(i, &[])
    }

    /// Start node `i` with extra environment variables (e.g. the crash hook of
    /// [`CRASH_ENV`](super::driver::CRASH_ENV)).
    pub fn start_with_env(&mut self, i: usize, env: &[(&str, &str)]) -> anyhow::Result<()> {
        let binary = self.binary.clone();
        let log = self.log.clone();
        let node = self.nodes.get_mut(i).context("no such node")?;
        anyhow::ensure!(node.child.is_none(), "{} is already running", node.name);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("node.log"))?;
        let child = Command::new(&binary)
            .arg("--log")
            .arg(&log)
            .args(["node", "run", "--config"])
            .arg(node.dir.join("node.toml"))
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        node.child = Some(child);
        Ok(())
    }

    /// Start every node.
    pub fn start_all(&mut self) -> anyhow::Result<()> {
        for i in 0..self.nodes.len() {
            self.start(i)?;
        }
        Ok(())
    }

    /// The process id of node `i`, if it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes.get(i)?.child.as_ref().map(Child::id)
    }

    /// Whether node `i`'s process has exited (it crashed or stopped); reaps it.
    pub fn exited(&mut self, i: usize) -> anyhow::Result<bool> {
        let node = self.nodes.get_mut(i).context("no such node")?;
        let Some(child) = node.child.as_mut() else {
            return Ok(true);
        };
        if child.try_wait()?.is_some() {
            node.child = None;
            return Ok(true);
        }
        Ok(false)
    }

    /// SIGKILL node `i` and reap it.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        let node = self.nodes.get_mut(i).context("no such node")?;
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// Ask node `i` to stop with SIGTERM and wait up to `limit` for it to exit; returns
    /// its exit code (`None` if it was killed because it did not stop in time).
    pub fn terminate(&mut self, i: usize, limit: Duration) -> anyhow::Result<Option<i32>> {
        let node = self.nodes.get_mut(i).context("no such node")?;
        let Some(mut child) = node.child.take() else {
            return Ok(None);
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        anyhow::ensure!(sent.success(), "kill -TERM failed");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status.code());
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Leave every process running when the cluster is dropped (`devnet --keep-running`).
    pub fn detach(&mut self) -> Vec<u32> {
        self.nodes
            .iter_mut()
            .filter_map(|n| n.child.take().map(|c| c.id()))
            .collect()
    }

    /// Whether node `i`'s process is running.
    pub fn is_running(&mut self, i: usize) -> bool {
        self.nodes
            .get_mut(i)
            .and_then(|n| n.child.as_mut())
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// A client connected to node `i` (as the cluster's client key).
    pub async fn client(&self, i: usize) -> anyhow::Result<Client> {
        let n = self.node(i)?;
        Ok(Client::connect(n.client_addr, n.id, &self.client).await?)
    }

    /// A client connected to node `i` as the holder of `key`.
    pub async fn client_as(&self, i: usize, key: &Keypair) -> anyhow::Result<Client> {
        let n = self.node(i)?;
        Ok(Client::connect(n.client_addr, n.id, key).await?)
    }

    /// The authorised key the default policy has sign `op` (client, operator or governor).
    pub fn signer_for(&self, op: &Operation) -> &Keypair {
        match Permission::of(op).default_role() {
            Actor::Client => &self.client,
            Actor::Operator => &self.operator,
            Actor::Governor | Actor::Member => &self.governor,
        }
    }

    /// `op` signed by [`Self::signer_for`], valid for the widest window from `slot` (the
    /// cluster's current slot, or 0 early on).
    pub fn sign(&self, op: Operation, slot: Slot) -> SignedOperation {
        let key = self.signer_for(&op).clone();
        SignedOperation::sign(op, self.chain, slot.saturating_add(MAX_EXPIRY_WINDOW), &key)
    }

    /// Sponsorships of `candidate` by the member nodes `sponsors` (their node keys).
    pub fn sponsorships(
        &self,
        candidate: &NodeIdentity,
        sponsors: &[usize],
    ) -> anyhow::Result<Vec<Sponsorship>> {
        sponsors
            .iter()
            .map(|i| Ok(Sponsorship::sign(&self.chain, candidate, &self.key(*i)?)))
            .collect()
    }

    /// Node `i`'s status.
    pub async fn status(&self, i: usize) -> anyhow::Result<StatusReport> {
        let c = self.client(i).await?;
        let s = match c.call_one(&Request::Status).await? {
            Response::Status(s) => *s,
            other => anyhow::bail!("unexpected answer {other:?}"),
        };
        c.close().await;
        Ok(s)
    }

    /// Wait until node `i` answers its status (within `limit`).
    pub async fn wait_ready(&self, i: usize, limit: Duration) -> anyhow::Result<StatusReport> {
        let start = Instant::now();
        loop {
            match self.status(i).await {
                Ok(s) if s.modules.iter().all(|m| m.loaded) => return Ok(s),
                Ok(_) | Err(_) if start.elapsed() < limit => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(_) => anyhow::bail!(
                    "{} did not load its modules; the end of its log:\n{}",
                    self.node(i)?.name,
                    self.log_tail(i, 40)
                ),
                Err(e) => {
                    return Err(e.context(format!(
                        "{} is not ready; the end of its log:\n{}",
                        self.node(i)?.name,
                        self.log_tail(i, 40)
                    )));
                }
            }
        }
    }

    /// The tail of node `i`'s log (for failure reports).
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let Ok(n) = self.node(i) else {
            return String::new();
        };
        let text = std::fs::read_to_string(n.dir.join("node.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            let _ = self.kill(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports of one reservation never repeat, though the OS hands out loopback ports at
    /// random. Control: with each socket dropped at once (the old `free_port`), 400 UDP
    /// draws repeat a port in almost every run (the birthday bound over ~28,000 ports).
    #[test]
    fn a_reservation_never_hands_out_a_port_twice() -> anyhow::Result<()> {
        let mut ports = Ports::default();
        let mut udp = std::collections::BTreeSet::new();
        for _ in 0..400 {
            assert!(udp.insert(ports.udp()?), "a UDP port handed out twice");
        }
        let mut tcp = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let port = ports.tcp()?;
            assert!(
                tcp.insert(port) && !udp.contains(&port),
                "a port handed out twice"
            );
        }
        // Ports to avoid are never handed out: with every port avoided there is none to
        // give (control: a reservation that ignored `avoid` would return one).
        let mut none = Ports::avoiding(0..=u16::MAX);
        assert!(none.udp().is_err() && none.tcp().is_err());
        assert!(none.udp_socket().is_err());
        // A socket handed over (the e2e relay's upstreams) has a port of its own, and the
        // reservation keeps avoiding it after the socket is gone (control: a hand-over
        // that forgot the port fails the `avoid` check).
        for _ in 0..200 {
            let socket = ports.udp_socket()?;
            let port = socket.local_addr()?.port();
            assert!(udp.insert(port), "a handed-over port handed out again");
            drop(socket);
            assert!(ports.avoid.contains(&port), "a handed-over port forgotten");
        }
        for _ in 0..200 {
            assert!(udp.insert(ports.udp()?), "a UDP port handed out twice");
        }
        // A second reservation of the process never draws a port the first handed out,
        // even once the first is dropped and its sockets closed (control: without
        // `GIVEN`, the OS hands released ports out again).
        drop(ports);
        let mut other = Ports::default();
        for _ in 0..400 {
            let port = other.udp()?;
            assert!(
                !udp.contains(&port) && !tcp.contains(&port),
                "another reservation drew a port already handed out"
            );
        }
        Ok(())
    }
}
