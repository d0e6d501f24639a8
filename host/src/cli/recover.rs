//! `spore recover`: bring the honest members of a forked cluster back to deciding, without
//! the culprits (docs/OPERATIONS.md, "Recovering from a fork").
//!
//! On each remaining member, stopped: `status` (where it stands: the fork, the culprits,
//! the slot to resume at, the highest view it used from there), then `sign` (its signature
//! of the checkpoint every remaining member signs alike); on one machine, `combine` the
//! signatures into a certificate; on each remaining member, `apply` it, then start the
//! node.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use spore_core::consensus::{Checkpoint, CheckpointSignature, RecoveryCert};
use spore_core::types::{NodeId, Slot, View};

use crate::node::recovery::{Stopped, combine};

/// `spore recover` subcommands.
#[derive(Debug, Subcommand)]
pub enum RecoverCommand {
    /// Where a stopped node stands: its fork, the culprits, the slot to resume at, and the
    /// highest view it used from there (the checkpoint must resume above every member's).
    Status(ConfigArg),
    /// Sign the checkpoint with a stopped member's key (writes `{checkpoint, signature}`).
    Sign(SignArgs),
    /// Combine the members' signed checkpoints (all for the same checkpoint) into a
    /// recovery certificate.
    Combine(CombineArgs),
    /// Check a recovery certificate against a stopped member's history and install it;
    /// the node then resumes from it when started.
    Apply(ApplyArgs),
}

/// A node's config file.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The node's config file.
    #[arg(long)]
    pub config: PathBuf,
}

/// Arguments of `spore recover sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The node's config file.
    #[arg(long)]
    pub config: PathBuf,
    /// The slot to resume at: the fork's slot (both sides agree on every slot before it).
    #[arg(long)]
    pub resume_slot: Slot,
    /// A culprit's id (hex; repeat).
    #[arg(long = "culprit", required = true)]
    pub culprits: Vec<NodeId>,
    /// The view the next slot restarts in: above the highest view `status` reports on
    /// every remaining member.
    #[arg(long)]
    pub resume_view: View,
    /// Where to write the signed checkpoint (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `spore recover combine`.
#[derive(Debug, Args)]
pub struct CombineArgs {
    /// The signed checkpoints (from `sign`).
    #[arg(required = true)]
    pub signed: Vec<PathBuf>,
    /// Where to write the certificate (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `spore recover apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The node's config file.
    #[arg(long)]
    pub config: PathBuf,
    /// The recovery certificate (from `combine`).
    #[arg(long)]
    pub certificate: PathBuf,
}

/// A signed checkpoint as `sign` writes it.
#[derive(Debug, Serialize, Deserialize)]
struct SignedCheckpoint {
    checkpoint: Checkpoint,
    signature: CheckpointSignature,
}

fn read<T: serde::de::DeserializeOwned>(path: &PathBuf, what: &str) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {what} {}", path.display()))
}

fn write<T: Serialize>(path: &PathBuf, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Run a `spore recover` subcommand.
pub fn run(cmd: RecoverCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RecoverCommand::Status(a) => {
            let s = Stopped::open(&a.config)?.standing()?;
            println!("node          {}", s.node.to_hex());
            println!("next slot     {}", s.next_slot);
            match &s.fork {
                Some((slot, culprits)) => {
                    println!("fork          at slot {slot}");
                    for c in culprits {
                        println!("culprit       {}", c.to_hex());
                    }
                }
                None => {
                    println!("fork          none kept (an operator may still declare culprits)")
                }
            }
            println!("resume slot   {}", s.resume_slot);
            println!(
                "highest view  {} (from slot {})",
                s.highest_view, s.resume_slot
            );
            let culprits: String = s
                .fork
                .iter()
                .flat_map(|(_, c)| c.iter())
                .map(|c| format!(" --culprit {}", c.to_hex()))
                .collect();
            println!(
                "next          on every remaining member, stopped: spore recover sign --config FILE \
                 --resume-slot {}{culprits} --resume-view V --out signed.json, with V above the \
                 highest view of every remaining member",
                s.resume_slot
            );
            Ok(ExitCode::SUCCESS)
        }
        RecoverCommand::Sign(a) => {
            let (checkpoint, signature) =
                Stopped::open(&a.config)?.sign(a.resume_slot, &a.culprits, a.resume_view)?;
            println!(
                "signed the checkpoint resuming at slot {} (state {}) as {}",
                checkpoint.resume_slot,
                checkpoint.state,
                signature.signer.to_hex()
            );
            write(
                &a.out,
                &SignedCheckpoint {
                    checkpoint,
                    signature,
                },
            )?;
            Ok(ExitCode::SUCCESS)
        }
        RecoverCommand::Combine(a) => {
            let parts = a
                .signed
                .iter()
                .map(|p| {
                    read::<SignedCheckpoint>(p, "signed checkpoint")
                        .map(|s| (s.checkpoint, s.signature))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let cert = combine(parts)?;
            println!(
                "certificate resuming at slot {} with {} signature(s)",
                cert.checkpoint.resume_slot,
                cert.signatures.len()
            );
            write(&a.out, &cert)?;
            Ok(ExitCode::SUCCESS)
        }
        RecoverCommand::Apply(a) => {
            let cert: RecoveryCert = read(&a.certificate, "recovery certificate")?;
            let removed = Stopped::open(&a.config)?.install(&cert)?;
            println!(
                "installed: {removed} abandoned entr{} removed; the node resumes at slot {} in view \
                 {} without {} culprit(s) when started",
                if removed == 1 { "y" } else { "ies" },
                cert.checkpoint.resume_slot,
                cert.checkpoint.resume_view,
                cert.checkpoint.culprits.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
