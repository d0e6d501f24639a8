//! The node's TOML configuration, with documented defaults.
//!
//! # Design
//! Only what may differ between nodes lives here (key, paths, addresses, timers);
//! everything the cluster must agree on (trust rules, quorum, fuel budgets, modules) is
//! in the genesis and changes only through decided operations. Relative paths are
//! resolved against the directory of the config file. The log level is the global
//! `--log` option (or `SPORE_LOG`), e.g. `spore --log info node run --config node.toml`.
//!
//! ```toml
//! key_file = "node.key"          # written by `spore keygen`
//! genesis_file = "genesis.json"  # written by `spore genesis ...`
//! data_dir = "data"              # redb store and module artifact cache
//! # listen = "127.0.0.1:7000"    # peer QUIC address; default: this node's genesis address
//! client_listen = "127.0.0.1:7100"
//! # metrics_listen = "127.0.0.1:9100"  # /metrics, /health, /ready (off unless set)
//! threads = 0                    # async runtime threads (0: one worker per core)
//! tick_ms = 1                    # clock resolution of the consensus timers
//! [consensus]
//! base_timeout_ms = 1000
//! reveal_grace_ms = 200
//! resend_interval_ms = 300
//! max_batch = 64
//! mempool_ops = 100000             # mempool budgets: operations,
//! mempool_bytes = 67108864         # bytes,
//! mempool_per_submitter = 10000    # and operations per submitter
//! gossip_hold_ms = 10              # most time between bundles of forwarded operations
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`NodeConfig`].
    #[error("invalid config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error.
        source: toml::de::Error,
    },
    /// The config could not be written as TOML.
    #[error("cannot encode config: {0}")]
    Encode(#[from] toml::ser::Error),
}

/// A node's configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's key file (from `spore keygen`). Default `node.key`.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// The signed genesis (JSON, from `spore genesis`). Default `genesis.json`.
    #[serde(default = "default_genesis_file")]
    pub genesis_file: PathBuf,
    /// Directory for the store and the artifact cache. Default `data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Peer-to-peer QUIC listen address; default: this node's address in the genesis.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Client QUIC listen address (submit, status, log, trust). Default 127.0.0.1:7100.
    #[serde(default = "default_client_listen")]
    pub client_listen: SocketAddr,
    /// Address of the HTTP endpoint serving `/metrics` (Prometheus), `/health` and
    /// `/ready`. Default: none (off); the devnet turns it on. Bind it to a private address.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Clock resolution in milliseconds: the consensus machine's clock advances before an
    /// input once this much time passed, and its timer fires at its deadline rounded up to
    /// it (timers are event-driven, never polled). Default 1.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// Consensus timers and batching.
    #[serde(default)]
    pub consensus: ConsensusConfig,
    /// Wall-clock limit of compiling one module, in seconds. Default 60.
    #[serde(default = "default_compile_timeout")]
    pub compile_timeout_secs: u64,
    /// Memory limit (data segment) of the process that compiles one module, in MiB.
    /// Default 2048.
    #[serde(default = "default_compile_memory")]
    pub compile_memory_mib: u64,
    /// Threads of the node's async runtime. 0 (the default): a multi-threaded runtime with
    /// one worker per core, the consensus loop on its own thread (the client port and the
    /// peer transport stay responsive while the loop works, e.g. compiles a module at
    /// start); 1: the loop, the transport and the client port share one thread (no
    /// hand-offs: measured 5% more decided operations on 4 nodes sharing 2 cores); more:
    /// that many workers. Module calls and compilations in the worker process run apart
    /// either way.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Bytes of module blobs, in MiB, the store may hold: an upload that would exceed it
    /// first collects the unreferenced blobs (named by no role's active or previous module,
    /// no pending operation, and not uploaded in the last 10 minutes), and is refused if
    /// that is not enough. Blobs the cluster needs are fetched whatever the quota.
    /// Default 512.
    #[serde(default = "default_module_store")]
    pub module_store_mib: u64,
    /// Test and demo only: make this node misbehave (see [`Byzantine`]). Default none.
    #[serde(default)]
    pub byzantine: Option<Byzantine>,
}

/// Consensus timers (milliseconds) and batching; these may differ between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusConfig {
    /// Progress timeout before a view change, doubled per consecutive view change.
    #[serde(default = "default_base_timeout")]
    pub base_timeout_ms: u64,
    /// How long the primary waits for the remaining commits (before it closes the commit
    /// set) and reveals once a quorum is in; doubled per view like the timeout.
    #[serde(default = "default_reveal_grace")]
    pub reveal_grace_ms: u64,
    /// How often a node re-sends its votes while a slot is undecided.
    #[serde(default = "default_resend")]
    pub resend_interval_ms: u64,
    /// Most operations per batch.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Most pending operations in the mempool.
    #[serde(default = "default_mempool_ops")]
    pub mempool_ops: usize,
    /// Most bytes of pending operations in the mempool.
    #[serde(default = "default_mempool_bytes")]
    pub mempool_bytes: usize,
    /// Most pending operations of one submitter (one key cannot crowd out the others).
    #[serde(default = "default_mempool_per_submitter")]
    pub mempool_per_submitter: usize,
    /// How long after deciding a slot the node listens for absent members before it
    /// attests them (it must exceed the time an honest member needs to be heard).
    #[serde(default = "default_absence_wait")]
    pub absence_wait_ms: u64,
    /// Decided slots the oldest pending operation may wait before the node asks for a
    /// view change (a primary that keeps an operation out is replaced).
    #[serde(default = "default_censor_slots")]
    pub censor_slots: u64,
    /// Most time between two bundles of client operations forwarded to the other
    /// members: the first after a quiet hold leaves at once, later ones wait for the hold
    /// to end (0: every operation forwarded alone; at most [`MAX_GOSSIP_HOLD_MS`]).
    #[serde(default = "default_gossip_hold")]
    pub gossip_hold_ms: u64,
}

/// A deliberate misbehaviour, for the devnet and the cluster tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Byzantine {
    /// Report a wrong validator result for every operation (it is outvoted, slashed for
    /// dissent, and eventually excluded).
    WrongResult,
    /// Commit to its results and never reveal them (the commit-reveal protocol's
    /// withholding attack: it is attested as committed without a reveal, slashed for
    /// that, and eventually excluded).
    WithholdReveal,
}

fn default_key_file() -> PathBuf {
    PathBuf::from("node.key")
}
fn default_genesis_file() -> PathBuf {
    PathBuf::from("genesis.json")
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_client_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7100))
}
fn default_module_store() -> u64 {
    512
}
fn default_threads() -> usize {
    0
}
fn default_tick_ms() -> u64 {
    1
}
fn default_base_timeout() -> u64 {
    1_000
}
fn default_reveal_grace() -> u64 {
    200
}
fn default_resend() -> u64 {
    300
}
fn default_max_batch() -> usize {
    64
}
fn default_mempool_ops() -> usize {
    100_000
}
fn default_mempool_bytes() -> usize {
    64 * 1024 * 1024
}
fn default_mempool_per_submitter() -> usize {
    10_000
}
fn default_absence_wait() -> u64 {
    2_000
}
fn default_censor_slots() -> u64 {
    16
}
/// Longest `gossip_hold_ms` taken (a longer one is cut to it): forwarded operations must
/// reach the other members well before the censorship watch counts them kept out.
pub const MAX_GOSSIP_HOLD_MS: u64 = 1_000;

fn default_gossip_hold() -> u64 {
    spore_core::consensus::Config::default().gossip_hold
}
fn default_compile_timeout() -> u64 {
    60
}
fn default_compile_memory() -> u64 {
    2048
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            base_timeout_ms: default_base_timeout(),
            reveal_grace_ms: default_reveal_grace(),
            resend_interval_ms: default_resend(),
            max_batch: default_max_batch(),
            mempool_ops: default_mempool_ops(),
            mempool_bytes: default_mempool_bytes(),
            mempool_per_submitter: default_mempool_per_submitter(),
            absence_wait_ms: default_absence_wait(),
            censor_slots: default_censor_slots(),
            gossip_hold_ms: default_gossip_hold(),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            key_file: default_key_file(),
            genesis_file: default_genesis_file(),
            data_dir: default_data_dir(),
            listen: None,
            client_listen: default_client_listen(),
            tick_ms: default_tick_ms(),
            consensus: ConsensusConfig::default(),
            compile_timeout_secs: default_compile_timeout(),
            compile_memory_mib: default_compile_memory(),
            threads: default_threads(),
            module_store_mib: default_module_store(),
            metrics_listen: None,
            byzantine: None,
        }
    }
}

impl ConsensusConfig {
    /// The consensus machine's config (other tunables at their defaults).
    pub fn to_core(&self) -> spore_core::consensus::Config {
        spore_core::consensus::Config {
            max_batch: self.max_batch.max(1),
            base_timeout: self.base_timeout_ms.max(1),
            reveal_grace: self.reveal_grace_ms,
            resend_interval: self.resend_interval_ms.max(1),
            mempool_limit: self.mempool_ops.max(1),
            mempool_bytes: self.mempool_bytes.max(1),
            mempool_per_submitter: self.mempool_per_submitter.max(1),
            absence_wait: self.absence_wait_ms,
            censor_slots: self.censor_slots.max(1),
            gossip_hold: self.gossip_hold_ms.min(MAX_GOSSIP_HOLD_MS),
            ..spore_core::consensus::Config::default()
        }
    }
}

impl NodeConfig {
    /// Parse a config from TOML text (paths left as written).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Load `path`, resolving relative paths against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.key_file,
            &mut config.genesis_file,
            &mut config.data_dir,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// The default config as TOML text with every setting explained (what
    /// `spore node default-config` prints; parsing it gives [`NodeConfig::default`]).
    pub fn documented_default() -> String {
        let d = NodeConfig::default();
        let c = &d.consensus;
        format!(
            r#"# Spore node configuration. Every setting is optional; the values shown are the
# defaults. Relative paths are resolved against this file's directory.

# The node's ed25519 key (from `spore keygen`; keep it owner-only).
key_file = "{key}"
# The signed genesis (from `spore genesis`); it fixes members, parameters and modules.
genesis_file = "{genesis}"
# The redb store (decided log, own votes, trust, module blobs) and the artifact cache.
data_dir = "{data}"
# Peer-to-peer QUIC address to listen on. Default: this node's address in the genesis.
# Required for a node that joins after the genesis (the address its admission names).
# listen = "0.0.0.0:7000"
# Client QUIC address (`spore submit`, `status`, `log`, `trust`, `module propose`).
client_listen = "{client}"
# HTTP endpoint for /metrics (Prometheus), /health and /ready; off unless set. Bind it
# to a private address: it is for the operator's scraper.
# metrics_listen = "127.0.0.1:9100"
# Clock resolution of the consensus timers, in milliseconds (timers fire at their
# deadline rounded up to it; they are event-driven, never polled).
tick_ms = {tick}
# Wall-clock bound, in seconds, of compiling one module (done in a child process of
# this binary). A module that exceeds it is refused, and the refusal remembered.
compile_timeout_secs = {ctime}
# Memory bound, in MiB, of the process that compiles one module.
compile_memory_mib = {cmem}
# Threads of the node's async runtime: 0 = one worker per core (the client port and the
# transport stay responsive while the loop works); 1 = everything on one thread (no
# hand-offs, a little faster); more = that many workers.
threads = {threads}
# Module blobs the store may hold, in MiB: an upload beyond it first collects blobs no
# role, pending operation or recent upload names, and is refused if that is not enough.
module_store_mib = {mstore}

# Consensus timers (milliseconds) and batching; they may differ between nodes.
[consensus]
# Progress timeout before a view change (doubled per consecutive view change).
base_timeout_ms = {base}
# How long the primary waits for the remaining commits (then closes the commit set) and
# reveals once a quorum is in.
reveal_grace_ms = {grace}
# How often votes are re-sent while a slot is undecided.
resend_interval_ms = {resend}
# Most operations per slot.
max_batch = {batch}
# Most pending operations in the mempool.
mempool_ops = {mops}
# Most bytes of pending operations in the mempool.
mempool_bytes = {mbytes}
# Most pending operations of one submitter (one key cannot crowd out the others).
mempool_per_submitter = {mper}
# How long after deciding a slot to listen for absent members before attesting them.
absence_wait_ms = {absence}
# Decided slots the oldest pending operation may wait before asking for a view change.
censor_slots = {censor}
"#,
            key = d.key_file.display(),
            genesis = d.genesis_file.display(),
            data = d.data_dir.display(),
            client = d.client_listen,
            tick = d.tick_ms,
            ctime = d.compile_timeout_secs,
            cmem = d.compile_memory_mib,
            threads = d.threads,
            mstore = d.module_store_mib,
            base = c.base_timeout_ms,
            grace = c.reveal_grace_ms,
            resend = c.resend_interval_ms,
            batch = c.max_batch,
            mops = c.mempool_ops,
            mbytes = c.mempool_bytes,
            mper = c.mempool_per_submitter,
            absence = c.absence_wait_ms,
            censor = c.censor_slots,
        )
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        Ok(toml::to_string_pretty(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_documented_defaults() -> anyhow::Result<()> {
        let c = NodeConfig::from_toml("", Path::new("x.toml"))?;
        assert_eq!(c, NodeConfig::default());
        assert_eq!(c.client_listen.port(), 7100);
        assert_eq!(c.consensus.to_core().base_timeout, 1_000);
        Ok(())
    }

    #[test]
    fn the_documented_default_parses_to_the_defaults() -> anyhow::Result<()> {
        let text = NodeConfig::documented_default();
        assert_eq!(
            NodeConfig::from_toml(&text, Path::new("x.toml"))?,
            NodeConfig::default()
        );
        // Every field is explained: each `key =` line follows a comment line.
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate().skip(1) {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(lines[i - 1].starts_with('#'), "undocumented: {line}");
            }
        }
        Ok(())
    }

    #[test]
    fn round_trips_and_resolves_relative_paths() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut c = NodeConfig {
            listen: Some("127.0.0.1:9000".parse()?),
            byzantine: Some(Byzantine::WrongResult),
            ..NodeConfig::default()
        };
        c.consensus.max_batch = 8;
        let path = dir.path().join("node.toml");
        std::fs::write(&path, c.to_toml()?)?;
        let loaded = NodeConfig::load(&path)?;
        assert_eq!(loaded.key_file, dir.path().join("node.key"));
        assert_eq!(loaded.consensus.max_batch, 8);
        assert_eq!(loaded.byzantine, Some(Byzantine::WrongResult));
        Ok(())
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(NodeConfig::from_toml("colour = 3", Path::new("x.toml")).is_err());
    }
}
