//! Starting a node: load key, genesis and store, rebuild the state, start the runtime,
//! the transport and the client listener, then run the loop until SIGINT/SIGTERM.
//!
//! # Design
//! Restart is the normal start: the replicated state is rebuilt by replaying the
//! decided log (stored with certificates) onto the genesis state, the machine is
//! created at the next slot and handed its own persisted votes (`Node::restore`), so it
//! re-sends rather than contradicts them. Missing slots are caught up from peers by
//! certified entries as soon as their messages show the node is behind.

use std::sync::Arc;

use anyhow::Context;
use ed25519_dalek::SigningKey;
use spore_core::consensus::{DecidedEntry, Node, ReplicaState};
use spore_core::crypto::canonical_bytes;
use spore_core::genesis::Genesis;
use spore_core::ops::Role;
use spore_core::state::ReplicatedState;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::client;
use super::config::{Byzantine, NodeConfig};
use super::driver::{
    DecidedIndex, Driver, op_decisions, peer_addresses, prune_decided, stored_votes,
};
use super::keyfile;
use crate::modules::cache::CacheKey;
use crate::modules::compile::CompileBounds;
use crate::modules::{Runtime, RuntimeConfig};
use crate::net::{NodeIdentity, QuicTransport, TransportConfig};
use crate::store::Store;

/// The embedded modules every node stores at start: the genesis defaults. Any other
/// module (e.g. the strict resolver) reaches a node by upload or from its peers.
pub fn embedded_modules() -> Vec<(Role, &'static [u8])> {
    vec![
        (Role::Validator, spore_artifacts::DEFAULT_VALIDATOR.bytes),
        (Role::Admission, spore_artifacts::SPONSORED_ADMISSION.bytes),
        (Role::Resolver, spore_artifacts::HIERARCHY_RESOLVER.bytes),
    ]
}

/// Rebuild the node from its store in one pass over the decided log: the machine on the
/// genesis state replays every stored entry (`Node::restore_log`: state, decided
/// operations, recorded evidence, retained tail, view), and the index of where every
/// operation was decided (to answer resubmissions) is built alongside. Chunked, so a long
/// log is never held in memory at once.
pub(crate) fn restore_node(
    store: &Store,
    node: Node<ReplicatedState>,
) -> anyhow::Result<(Node<ReplicatedState>, DecidedIndex)> {
    replay(store, node, None)
}

/// Replay the stored log into `node` (the slots before `before`, if given), applying each
/// kept recovery certificate when the replay reaches its resume slot.
pub(crate) fn replay(
    store: &Store,
    mut node: Node<ReplicatedState>,
    before: Option<u64>,
) -> anyhow::Result<(Node<ReplicatedState>, DecidedIndex)> {
    let mut decided = DecidedIndex::new();
    // Oldest first; each applies once, when the replay stands right after its slot.
    let mut recoveries = std::collections::VecDeque::from(super::recovery::kept(store)?);
    loop {
        let from = node.slot();
        while let Some(cert) = recoveries
            .front()
            .filter(|c| c.checkpoint.resume_slot == from)
        {
            node.recover(cert).with_context(|| {
                format!(
                    "applying the kept recovery certificate resuming at slot {}",
                    cert.checkpoint.resume_slot
                )
            })?;
            recoveries.pop_front();
        }
        let room = before.map_or(256, |b| b.saturating_sub(from).min(256));
        if room == 0 {
            break;
        }
        let rows = store.decided_range(from, room as usize)?;
        if rows.is_empty() {
            break;
        }
        let mut entries = Vec::with_capacity(rows.len());
        for (slot, bytes) in rows {
            anyhow::ensure!(
                slot == from + entries.len() as u64,
                "decided log has a gap: expected slot {}, found {slot}",
                from + entries.len() as u64
            );
            let entry: DecidedEntry = postcard::from_bytes(&bytes)
                .with_context(|| format!("decoding stored entry {slot}"))?;
            decided.extend(op_decisions(&entry).map(|(d, o)| {
                let expires = entry
                    .batch()
                    .get(o.index as usize)
                    .map_or(0, |op| op.expires);
                (d, (o.slot, o.index, expires))
            }));
            entries.push(entry);
        }
        node.restore_log(entries);
        prune_decided(&mut decided, node.slot());
    }
    Ok((node, decided))
}

/// Run the node described by `config` until SIGINT or SIGTERM.
pub async fn run(config: NodeConfig) -> anyhow::Result<()> {
    let key = keyfile::read(&config.key_file)?;
    let id = key.id();
    let genesis_text = std::fs::read_to_string(&config.genesis_file)
        .with_context(|| format!("reading {}", config.genesis_file.display()))?;
    let genesis: Genesis = serde_json::from_str(&genesis_text).context("parsing the genesis")?;
    genesis.verify().context("the genesis does not verify")?;
    std::fs::create_dir_all(&config.data_dir)?;
    let store = Arc::new(Store::open(config.data_dir.join("node.redb"), id)?);
    let genesis_bytes = canonical_bytes(&genesis);
    match store.genesis()? {
        Some(stored) => anyhow::ensure!(
            stored == genesis_bytes,
            "the store belongs to another genesis"
        ),
        None => store.put_genesis(&genesis_bytes)?,
    }
    let mut runtime = Runtime::with_keyed_cache(
        RuntimeConfig::default(),
        config.data_dir.join("artifacts"),
        CacheKey::of_node(&key),
    )
    .context("starting the module runtime")?;
    runtime.set_compile_bounds(CompileBounds {
        timeout: std::time::Duration::from_secs(config.compile_timeout_secs.max(1)),
        max_memory_bytes: config.compile_memory_mib.max(64).saturating_mul(1 << 20),
        worker: Some(std::env::current_exe().context("locating this executable")?),
    });
    let runtime = Arc::new(runtime);
    for (_, bytes) in embedded_modules() {
        store.put_module(bytes)?;
    }
    let mut node = Node::new(
        config.consensus.to_core(),
        key.clone(),
        ReplicatedState::from_genesis(&genesis)?,
    );
    if config.byzantine == Some(Byzantine::WithholdReveal) {
        node = node.withholding_reveals();
    }
    let (mut node, decided) = restore_node(&store, node)?;
    let state = node.state();
    let resumed = state.next_slot();
    if !state.is_member(&id) {
        // A joiner: it has no vote until a decided admission names its key. The members
        // contact it at the address the admission names once they have decided it; from
        // their first vote it learns that it is behind and catches up, checking every
        // certificate, and takes part from the admission's slot on.
        anyhow::ensure!(
            config.listen.is_some(),
            "this node ({}) is not a member of the cluster at slot {resumed}; to join, \
             set `listen` to the address its node admission names",
            id.to_hex()
        );
        warn!(
            node = %id,
            slot = resumed,
            "not a member yet: waiting for the members to decide this node's admission \
             and contact it, then catching up"
        );
    }
    let listen = match config.listen {
        Some(a) => a,
        None => state
            .member(&id)
            .map(|m| m.address.clone())
            .unwrap_or_default()
            .parse()
            .context("this node's genesis address is not host:port; set `listen`")?,
    };
    let identity = NodeIdentity::new(&SigningKey::from_bytes(&key.seed()))?;
    let client_identity = NodeIdentity::new(&SigningKey::from_bytes(&key.seed()))?;
    let net = QuicTransport::bind(
        identity,
        listen,
        peer_addresses(state),
        TransportConfig::default(),
    )?;
    let client_endpoint = quinn::Endpoint::server(
        client::server_config(&client_identity, net.metrics())?,
        config.client_listen,
    )
    .with_context(|| format!("binding the client listener {}", config.client_listen))?;
    let votes = stored_votes(&store, resumed)?;
    info!(node = %id, slot = resumed, votes = votes.len(), %listen, client = %config.client_listen, "node starting");
    let mut initial = node.restore(votes);
    if let Some(bytes) = store.meta(super::driver::FORK_META)? {
        let proof: spore_core::consensus::ForkProof =
            postcard::from_bytes(&bytes).context("decoding the stored fork proof")?;
        match node.adopt_fork(proof) {
            Ok(effects) => {
                warn!(
                    "this node halted on a fork before it stopped and stays halted (docs/OPERATIONS.md, \"Forks\")"
                );
                initial.extend(effects);
            }
            Err(e) => warn!(error = %e, "the stored fork proof no longer verifies; ignored"),
        }
    }
    let (scrape_tx, scrapes) = mpsc::channel(16);
    let metrics_server = match config.metrics_listen {
        Some(addr) => Some(
            super::http::serve(addr, scrape_tx)
                .await
                .with_context(|| format!("binding the metrics listener {addr}"))?
                .1,
        ),
        None => {
            drop(scrape_tx);
            None
        }
    };
    let (calls_tx, calls_rx) = mpsc::channel(1024);
    let (uploaders_tx, uploaders) = watch::channel(std::sync::Arc::new(
        node.state()
            .keys_with(spore_core::state::Permission::ModuleUpload),
    ));
    let server = tokio::spawn(client::serve(client_endpoint.clone(), calls_tx, uploaders));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown requested");
        stop_tx.send_replace(true);
    });
    if let Some(b) = config.byzantine {
        warn!(behaviour = ?b, "this node misbehaves on purpose (test/demo)");
    }
    let driver = Driver {
        node,
        store,
        net,
        runtime,
        byzantine: config.byzantine,
        clients: calls_rx,
        shutdown: stop_rx,
        scrapes,
        crash_at: super::driver::CrashAt::from_env(),
        module_quota: config.module_store_mib.saturating_mul(1 << 20),
        tick_ms: config.tick_ms,
        initial,
        decided,
        uploaders: uploaders_tx,
    };
    let net = driver.run().await?;
    client_endpoint.close(0u32.into(), b"shutdown");
    server.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    net.shutdown().await;
    info!("node stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
