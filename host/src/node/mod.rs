//! The node: the tokio wiring of consensus, module runtime, transport and storage, and
//! its client interface.
//!
//! # Operating a node
//! ```text
//! spore keygen --out node.key                       # prints the node id
//! spore genesis new --chain-id prod --out genesis.json
//! spore genesis add-node --file genesis.json --id <hex> --name a --address 10.0.0.1:7000
//! spore genesis sign --file genesis.json --key node.key   # every founder signs
//! spore genesis verify --file genesis.json                # exit 1 unless all signed
//! spore node default-config > node.toml                   # documented defaults
//! spore --log info node run --config node.toml            # SIGINT/SIGTERM: clean stop
//! spore status --config node.toml    # or --node ADDR --node-id HEX
//! spore submit --config node.toml --file op.json | --example compute | --exclude <id>
//! spore log --config node.toml --from 0
//! spore trust --config node.toml
//! spore module propose strict.wasm --role resolver --config node.toml
//! ```
//! A restart is an ordinary start: the store holds the genesis, every decided entry with
//! its certificate, this node's votes (persisted before they were sent), the records of
//! its prepared certificate and the module blobs; the state is rebuilt by replaying the
//! log, and missed slots are caught up from peers, every certificate checked.
//!
//! # Layout
//! - [`config`]: the TOML node config with documented defaults.
//! - [`keyfile`]: node key files (owner-only permissions).
//! - [`wire`]: node-to-node frames; [`proto`]: the client protocol; [`client`]: the
//!   client listener and the client; [`client_reads`]: the pace of what clients make
//!   the event loop read for them.
//! - [`driver`]: the event loop; [`flusher`]: its durable writes, committed off the loop
//!   (group commit); [`batch_check`]: signatures checked in batches ahead of it; [`calls`]: module calls; [`run`]: start-up and restart.
//! - [`fetch`]: module blobs between nodes, in parts; [`pacing`]: per-peer pacing of
//!   what a node serves on request (module parts, catch-up); [`metrics`], [`http`]: the
//!   Prometheus, health and readiness endpoint.
//! - [`recovery`]: recovering a stopped node after a fork; [`quota`]: which module blobs
//!   an upload may displace.
//! - [`cluster`]: a local multi-process cluster (devnet, cluster tests).
pub mod batch_check;
pub mod calls;
pub mod client;
pub mod client_reads;
pub mod client_share;
pub mod cluster;
pub mod config;
pub mod driver;
pub mod fetch;
pub mod flusher;
pub mod http;
pub mod keyfile;
pub mod metrics;
pub mod pacing;
pub mod phase_clock;
pub mod proto;
pub mod quota;
pub mod recovery;
pub mod run;
pub mod wire;
