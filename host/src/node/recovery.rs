//! The node's side of a recovery from a compromised majority (docs/OPERATIONS.md,
//! "Recovering from a fork"): reading a stopped node's store to report where it stands,
//! signing a checkpoint with its key, and installing a recovery certificate.
//!
//! # Design
//! Everything here runs on a *stopped* node's store (redb allows one process at a time),
//! from `spore recover`. The certificate is kept in the store's metadata
//! ([`RECOVERY_META`]); the node applies it when its replay of the log reaches the
//! checkpoint's resume slot (`run::replay`), at every start, so the recovered state is
//! rebuilt the same way each time. Installing removes the abandoned entries (from the
//! resume slot on) and the kept fork proof; the node's own votes stay, so it never
//! signs a vote conflicting with one it signed before (the checkpoint resumes in a view
//! above them).

use std::path::Path;

use anyhow::Context;
use spore_core::consensus::entry::DecidedEntry;
use spore_core::consensus::{Checkpoint, CheckpointSignature, ForkProof, Node, RecoveryCert};
use spore_core::crypto::{Keypair, canonical_bytes};
use spore_core::genesis::Genesis;
use spore_core::state::ReplicatedState;
use spore_core::types::{NodeId, Slot, View};

use super::config::NodeConfig;
use super::keyfile;
use crate::store::Store;

/// Store metadata key of the recovery certificates this node installed, oldest first.
pub const RECOVERY_META: &str = "recoveries";

/// Most certificates kept (each a few KB).
const MAX_KEPT: usize = 64;

/// The recovery certificates kept in `store`, oldest first.
pub fn kept(store: &Store) -> anyhow::Result<Vec<RecoveryCert>> {
    match store.meta(RECOVERY_META)? {
        None => Ok(Vec::new()),
        Some(bytes) => {
            let mut certs: Vec<RecoveryCert> =
                postcard::from_bytes(&bytes).context("decoding the kept recovery certificates")?;
            certs.sort_by_key(|c| c.checkpoint.resume_slot);
            Ok(certs)
        }
    }
}

/// A stopped node opened for recovery: its config, key and store.
pub struct Stopped {
    config: NodeConfig,
    key: Keypair,
    genesis: Genesis,
    store: Store,
}

/// Where a stopped node stands.
#[derive(Debug, Clone)]
pub struct Standing {
    /// The node.
    pub node: NodeId,
    /// The next slot of its history.
    pub next_slot: Slot,
    /// The fork it halted on: the slot and the culprits.
    pub fork: Option<(Slot, Vec<NodeId>)>,
    /// The highest view of any vote this node signed or entry it holds from
    /// `resume_slot` on.
    pub highest_view: View,
    /// The slot to resume at: the fork's slot (or, without a kept fork, the next slot).
    pub resume_slot: Slot,
}

impl Stopped {
    /// Open the node of `config_path` (it must not be running).
    pub fn open(config_path: &Path) -> anyhow::Result<Self> {
        let config = NodeConfig::load(config_path)?;
        let key = keyfile::read(&config.key_file)?;
        let text = std::fs::read_to_string(&config.genesis_file)
            .with_context(|| format!("reading {}", config.genesis_file.display()))?;
        let genesis: Genesis = serde_json::from_str(&text).context("parsing the genesis")?;
        let store = Store::open(config.data_dir.join("node.redb"), key.id())
            .context("opening the store (is the node still running? stop it first)")?;
        Ok(Stopped {
            config,
            key,
            genesis,
            store,
        })
    }

    /// This node's history replayed up to `before` (exclusive; all of it if `None`).
    fn replayed(&self, before: Option<Slot>) -> anyhow::Result<Node<ReplicatedState>> {
        let node = Node::new(
            self.config.consensus.to_core(),
            self.key.clone(),
            ReplicatedState::from_genesis(&self.genesis)?,
        );
        Ok(super::run::replay(&self.store, node, before)?.0)
    }

    /// The fork proof this node halted on, if it keeps one.
    fn fork(&self) -> anyhow::Result<Option<ForkProof>> {
        match self.store.meta(super::driver::FORK_META)? {
            None => Ok(None),
            Some(b) => Ok(Some(
                postcard::from_bytes(&b).context("decoding the kept fork proof")?,
            )),
        }
    }

    /// Where the node stands.
    pub fn standing(&self) -> anyhow::Result<Standing> {
        let node = self.replayed(None)?;
        let fork = self.fork()?;
        let resume_slot = match &fork {
            Some(p) => p.slot(),
            None => node.slot(),
        };
        let mut highest_view = self.highest_view_from(resume_slot)?;
        if let Some(p) = &fork {
            highest_view = highest_view.max(p.first.view).max(p.second.view);
        }
        Ok(Standing {
            node: self.key.id(),
            next_slot: node.slot(),
            fork: fork.map(|p| (p.slot(), p.culprits())),
            highest_view,
            resume_slot,
        })
    }

    /// Refuse a resume view at or below a view this node voted in (or holds an entry of)
    /// from `resume_slot` on: resuming there could make it sign a vote that conflicts with
    /// one it signed before.
    fn check_resume_view(&self, resume_slot: Slot, resume_view: View) -> anyhow::Result<()> {
        let highest = self.highest_view_from(resume_slot)?;
        anyhow::ensure!(
            resume_view > highest && resume_view < u64::MAX / 2,
            "the resume view {resume_view} must be above {highest}, the highest view this node \
             used from slot {resume_slot} on (`spore recover status`)"
        );
        Ok(())
    }

    /// The highest view of a vote this node signed or an entry it holds from `slot` on,
    /// and of any vote it pruned (of whatever slot: a pruned vote's slot is not kept, and
    /// the store's guard no longer holds it, so a view change signed in an abandoned
    /// slot and pruned since could otherwise be signed again differently).
    fn highest_view_from(&self, slot: Slot) -> anyhow::Result<View> {
        let mut highest = self
            .store
            .votes_from(slot)?
            .iter()
            .map(|(k, _)| k.view)
            .max()
            .unwrap_or(0)
            .max(self.store.pruned_vote_view());
        for (_, bytes) in self.store.decided_range(slot, usize::MAX)? {
            if let Ok(e) = postcard::from_bytes::<DecidedEntry>(&bytes) {
                highest = highest.max(e.view);
            }
        }
        Ok(highest)
    }

    /// The checkpoint of this node's history before `resume_slot`, excluding `culprits`,
    /// resuming in `resume_view`, and this node's signature of it.
    pub fn sign(
        &self,
        resume_slot: Slot,
        culprits: &[NodeId],
        resume_view: View,
    ) -> anyhow::Result<(Checkpoint, CheckpointSignature)> {
        self.check_resume_view(resume_slot, resume_view)?;
        let node = self.replayed(Some(resume_slot))?;
        anyhow::ensure!(
            node.slot() == resume_slot,
            "this node's history ends before slot {resume_slot} (it stands at slot {})",
            node.slot()
        );
        let mut culprits = culprits.to_vec();
        culprits.sort();
        culprits.dedup();
        let checkpoint = Checkpoint {
            chain: node.state().genesis_digest(),
            resume_slot,
            state: node.state().state_digest(),
            culprits,
            resume_view,
        };
        let signature = CheckpointSignature::sign(&checkpoint, &self.key);
        Ok((checkpoint, signature))
    }

    /// Check `cert` against this node's history and install it: the entries from its
    /// resume slot on are removed, the certificate kept, the fork proof dropped. Returns how many
    /// entries were removed.
    pub fn install(&self, cert: &RecoveryCert) -> anyhow::Result<u64> {
        let cp = &cert.checkpoint;
        self.check_resume_view(cp.resume_slot, cp.resume_view)?;
        let node = self.replayed(Some(cp.resume_slot))?;
        cert.verify(node.state())
            .context("the recovery certificate does not hold for this node's history")?;
        let mut certs = kept(&self.store)?;
        anyhow::ensure!(
            !certs.iter().any(|c| c.checkpoint == *cp),
            "this certificate is installed already"
        );
        // A recovery at an earlier slot replaces the ones at or after it: their slots are
        // abandoned too, and their checkpoints no longer describe this history.
        certs.retain(|c| c.checkpoint.resume_slot < cp.resume_slot);
        anyhow::ensure!(certs.len() < MAX_KEPT, "too many recoveries kept");
        certs.push(cert.clone());
        let bytes = canonical_bytes(&certs);
        let removed = self.store.write(|w| {
            let removed = w.truncate_decided_from(cp.resume_slot)?;
            w.set_meta(RECOVERY_META, &bytes)?;
            w.delete_meta(super::driver::FORK_META)?;
            Ok(removed)
        })?;
        // The node must start from the certificate: check the replay does.
        let resumed = self.replayed(None)?;
        anyhow::ensure!(
            resumed.slot() == cp.resume_slot && resumed.fork().is_none(),
            "after installing, the node stands at slot {}",
            resumed.slot()
        );
        Ok(removed)
    }
}

/// Combine signatures of one checkpoint into a certificate (checked when installed).
pub fn combine(parts: Vec<(Checkpoint, CheckpointSignature)>) -> anyhow::Result<RecoveryCert> {
    let Some((first, _)) = parts.first() else {
        anyhow::bail!("no signed checkpoint given");
    };
    let checkpoint = first.clone();
    let mut signatures = Vec::new();
    for (cp, sig) in parts {
        anyhow::ensure!(
            cp == checkpoint,
            "{} signed another checkpoint (slot {}, state {}, culprits {:?}, view {}) than the first (slot {}, state {}, culprits {:?}, view {})",
            sig.signer,
            cp.resume_slot,
            cp.state,
            cp.culprits,
            cp.resume_view,
            checkpoint.resume_slot,
            checkpoint.state,
            checkpoint.culprits,
            checkpoint.resume_view
        );
        if !signatures
            .iter()
            .any(|s: &CheckpointSignature| s.signer == sig.signer)
        {
            signatures.push(sig);
        }
    }
    Ok(RecoveryCert {
        checkpoint,
        signatures,
    })
}
