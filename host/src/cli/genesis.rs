//! `spore genesis new|add-node|add-key|sign|verify`: build a genesis file step by step.
//!
//! The file is JSON (the `Genesis` serde form). `new` fills the parameters with their
//! defaults, the module hashes with the embedded default modules and the submission
//! policy with the default one; `add-node` appends a founder; `add-key` names a client
//! key with its roles (governor, operator, client: who may submit what); `sign` adds one
//! founder's signature (signatures cover the content, keys and policy included, so sign
//! after the last change); `verify` exits non-zero unless every founder signed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use spore_core::crypto::sha256;
use spore_core::genesis::{Genesis, GenesisModules, GenesisNode, Params};
use spore_core::state::{Actor, AuthorizedKey};
use spore_core::types::{Hierarchy, NodeId, TrustBps};

use crate::node::keyfile;

/// `spore genesis` subcommands.
#[derive(Debug, Subcommand)]
pub enum GenesisCommand {
    /// Start a genesis file: chain id, default parameters, default module hashes.
    New(NewArgs),
    /// Add a founding node.
    AddNode(AddNodeArgs),
    /// Name a client key (from `spore keygen`) with its roles: governor (trust,
    /// membership, parameters, modules), operator (admissions, authority operations,
    /// module uploads) or client (compute).
    AddKey(AddKeyArgs),
    /// Sign the genesis with a founder's key file.
    Sign(SignArgs),
    /// Check the genesis and every founder's signature; exit 1 if any is bad or missing.
    Verify(FileArg),
}

/// Arguments of `genesis new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Chain id (lowercase letters, digits, `-`, `_`, `.`).
    #[arg(long)]
    pub chain_id: String,
    /// Output file.
    #[arg(long, default_value = "genesis.json")]
    pub out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `genesis add-node`.
#[derive(Debug, Args)]
pub struct AddNodeArgs {
    /// The genesis file.
    #[arg(long, default_value = "genesis.json")]
    pub file: PathBuf,
    /// Node id (hex public key, as printed by `spore keygen`).
    #[arg(long)]
    pub id: NodeId,
    /// Hierarchy level: sclerotia, rhizomorph or hyphae.
    #[arg(long, default_value = "rhizomorph")]
    pub level: Hierarchy,
    /// Initial trust in basis points (0..=10000).
    #[arg(long, default_value_t = 8_000)]
    pub trust: TrustBps,
    /// Human-readable name.
    #[arg(long)]
    pub name: String,
    /// Peer address (host:port) of the node.
    #[arg(long)]
    pub address: String,
}

/// Arguments of `genesis add-key`.
#[derive(Debug, Args)]
pub struct AddKeyArgs {
    /// The genesis file.
    #[arg(long, default_value = "genesis.json")]
    pub file: PathBuf,
    /// The key's id (hex public key, as printed by `spore keygen`).
    #[arg(long)]
    pub id: NodeId,
    /// Who holds it (shown in logs and summaries).
    #[arg(long)]
    pub name: String,
    /// A role: governor, operator or client (repeat for several).
    #[arg(long = "role", required = true, value_parser = parse_role)]
    pub roles: Vec<Actor>,
}

fn parse_role(s: &str) -> Result<Actor, String> {
    match s {
        "governor" => Ok(Actor::Governor),
        "operator" => Ok(Actor::Operator),
        "client" => Ok(Actor::Client),
        other => Err(format!(
            "unknown role {other:?}: expected governor, operator or client"
        )),
    }
}

/// Arguments of `genesis sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The genesis file.
    #[arg(long, default_value = "genesis.json")]
    pub file: PathBuf,
    /// The founder's key file.
    #[arg(long)]
    pub key: PathBuf,
}

/// A genesis file argument.
#[derive(Debug, Args)]
pub struct FileArg {
    /// The genesis file.
    #[arg(long, default_value = "genesis.json")]
    pub file: PathBuf,
}

/// Read a genesis JSON file.
pub fn load(path: &Path) -> anyhow::Result<Genesis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing genesis {}", path.display()))
}

/// Write a genesis JSON file.
pub fn save(path: &Path, genesis: &Genesis) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(genesis)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// The module hashes of the embedded default modules.
pub fn default_modules() -> GenesisModules {
    GenesisModules {
        validator: sha256(spore_artifacts::DEFAULT_VALIDATOR.bytes),
        admission: sha256(spore_artifacts::SPONSORED_ADMISSION.bytes),
        resolver: sha256(spore_artifacts::HIERARCHY_RESOLVER.bytes),
    }
}

/// Run a `spore genesis` subcommand.
pub fn run(cmd: GenesisCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GenesisCommand::New(a) => {
            if a.out.exists() && !a.force {
                anyhow::bail!("{} exists (use --force to overwrite)", a.out.display());
            }
            let g = Genesis::new(a.chain_id, Vec::new(), Params::default(), default_modules());
            save(&a.out, &g)?;
            println!("created {} (chain {})", a.out.display(), g.chain_id);
        }
        GenesisCommand::AddNode(a) => {
            let mut g = load(&a.file)?;
            if g.node(&a.id).is_some() {
                anyhow::bail!("node {} is already in the genesis", a.id.to_hex());
            }
            g.nodes.push(GenesisNode {
                id: a.id,
                level: a.level,
                trust: a.trust,
                name: a.name,
                address: a.address,
            });
            if !g.signatures.is_empty() {
                eprintln!("note: the content changed, existing signatures were dropped");
                g.signatures.clear();
            }
            g.validate_content()?;
            save(&a.file, &g)?;
            println!("{} founders", g.nodes.len());
        }
        GenesisCommand::AddKey(a) => {
            let mut g = load(&a.file)?;
            g.authority.keys.retain(|k| k.id != a.id);
            g.authority.keys.push(AuthorizedKey {
                id: a.id,
                name: a.name,
                roles: a.roles.into_iter().collect(),
            });
            g.authority.keys.sort_by_key(|k| k.id);
            if !g.signatures.is_empty() {
                eprintln!("note: the content changed, existing signatures were dropped");
                g.signatures.clear();
            }
            g.validate_content()?;
            save(&a.file, &g)?;
            println!("{} authorised keys", g.authority.keys.len());
        }
        GenesisCommand::Sign(a) => {
            let mut g = load(&a.file)?;
            let key = keyfile::read(&a.key)?;
            g.sign(&key)?;
            save(&a.file, &g)?;
            println!(
                "signed by {} ({}/{} founders)",
                key.id().to_hex(),
                g.signatures.len(),
                g.nodes.len()
            );
        }
        GenesisCommand::Verify(a) => {
            let g = load(&a.file)?;
            return Ok(match g.verify() {
                Ok(()) => {
                    println!(
                        "OK: chain {} digest {} — {} founders, all signed",
                        g.chain_id,
                        g.digest().to_hex(),
                        g.nodes.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("INVALID: {e}");
                    ExitCode::FAILURE
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
