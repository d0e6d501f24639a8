//! `spore init DIR`: an operator's node set-up in one step: a key (owner-only), a
//! documented config, and, with `--genesis`, the verified genesis the node runs under (as
//! a founder, or as a joiner to be admitted), or, with `--new-genesis`, a new genesis
//! naming this node as its first founder, for the other founders to join and sign.
//!
//! Nothing is overwritten: a folder that already holds a key or a config is refused, and
//! every input (the genesis, the addresses) is checked before the first file is written,
//! so a refused `init` leaves the folder as it was.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use spore_core::genesis::{Genesis, GenesisNode, Params};
use spore_core::types::Hierarchy;

use crate::node::config::NodeConfig;
use crate::node::keyfile;

/// Arguments of `spore init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The node's folder (created if missing; refused if it holds a key or a config).
    pub dir: PathBuf,
    /// Run under this signed genesis: verified, then copied into the folder. A genesis
    /// that does not name this node's key makes it a joiner (see the printed steps).
    #[arg(long, conflicts_with = "new_genesis")]
    pub genesis: Option<PathBuf>,
    /// Start a new genesis with this chain id, naming this node as its first founder
    /// (written unsigned to DIR/genesis.json: add the other founders, then every founder
    /// signs).
    #[arg(long, value_name = "CHAIN_ID")]
    pub new_genesis: Option<String>,
    /// This node's peer address (host:port): its `listen`, and its address in a new
    /// genesis. Needed by a joiner and with `--new-genesis`.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Client address (`spore submit`, `status`, ...). Default 127.0.0.1:7100.
    #[arg(long)]
    pub client_listen: Option<SocketAddr>,
    /// Serve /metrics, /health and /ready on this address (off by default).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// This node's name in a new genesis (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
}

/// The documented default config with the given addresses set.
fn config_text(args: &InitArgs) -> anyhow::Result<String> {
    let mut text = NodeConfig::documented_default();
    let mut set = |commented: &str, line: String| -> anyhow::Result<()> {
        let at = text
            .lines()
            .find(|l| l.starts_with(commented))
            .map(str::to_owned)
            .with_context(|| format!("the documented config lacks {commented}"))?;
        text = text.replacen(&at, &line, 1);
        Ok(())
    };
    if let Some(a) = args.listen {
        set("# listen = ", format!("listen = \"{a}\""))?;
    }
    if let Some(a) = args.client_listen {
        set("client_listen = ", format!("client_listen = \"{a}\""))?;
    }
    if let Some(a) = args.metrics_listen {
        set("# metrics_listen = ", format!("metrics_listen = \"{a}\""))?;
    }
    Ok(text)
}

/// Run `spore init`.
pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    for file in ["node.key", "node.toml"] {
        anyhow::ensure!(
            !dir.join(file).exists(),
            "{} already holds a node ({file}); nothing was changed",
            dir.display()
        );
    }
    // Check every input before writing anything.
    let genesis = match &args.genesis {
        Some(path) => {
            let g = super::genesis::load(path)?;
            g.verify().with_context(|| {
                format!(
                    "{} is not a fully signed genesis; nothing was written",
                    path.display()
                )
            })?;
            Some(g)
        }
        None => None,
    };
    if args.new_genesis.is_some() {
        anyhow::ensure!(
            args.listen.is_some(),
            "--new-genesis needs --listen: the address the genesis gives this node"
        );
    }
    let config = config_text(&args)?;
    // Parses as what it documents (a control of the substitutions above).
    toml::from_str::<NodeConfig>(&config).context("the written config would not parse")?;

    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = keyfile::generate();
    keyfile::write(&dir.join("node.key"), &key, false)?;
    let id = key.id();
    std::fs::write(dir.join("node.toml"), &config)
        .with_context(|| format!("writing {}", dir.join("node.toml").display()))?;
    println!("node id   {}", id.to_hex());
    println!("key       {} (mode 0600)", dir.join("node.key").display());
    println!(
        "config    {} (every setting documented)",
        dir.join("node.toml").display()
    );
    let genesis_path = dir.join("genesis.json");
    let run = format!(
        "spore --log info node run --config {}",
        dir.join("node.toml").display()
    );
    if let Some(g) = genesis {
        super::genesis::save(&genesis_path, &g)?;
        println!(
            "genesis   {} (chain {}, verified)",
            genesis_path.display(),
            g.chain_id
        );
        if g.node(&id).is_some() {
            println!("\nThis node is a founder. Start it with:\n  {run}");
        } else {
            joiner_steps(dir, &id.to_hex(), args.listen, &run);
        }
    } else if let Some(chain) = &args.new_genesis {
        let name = args
            .name
            .clone()
            .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "node".to_owned());
        let address = args.listen.map(|a| a.to_string()).unwrap_or_default();
        let g = Genesis::new(
            chain.clone(),
            vec![GenesisNode {
                id,
                level: Hierarchy::Sclerotia,
                trust: 8_000,
                name,
                address,
            }],
            Params::default(),
            super::genesis::default_modules(),
        );
        super::genesis::save(&genesis_path, &g)?;
        let file = genesis_path.display();
        println!("genesis   {file} (chain {chain}, this node its first founder; unsigned)");
        println!(
            "\nNext: every other founder runs `spore init DIR --listen HOST:PORT` and is added:\n  \
             spore genesis add-node --file {file} --id <ID> --name <NAME> --address <HOST:PORT>\n\
             name a governor key (`spore keygen --out gov.key`):\n  \
             spore genesis add-key --file {file} --id <GOV> --name gov --role governor\n\
             then every founder signs (after the last add-*) and the file is copied to each:\n  \
             spore genesis sign --file {file} --key {}\n  \
             spore genesis verify --file {file}\n\
             and each founder starts its node:\n  {run}",
            dir.join("node.key").display()
        );
    } else {
        println!(
            "\nNext: put the cluster's signed genesis at {} (or run `spore init` with \
             --genesis FILE), then:\n  {run}",
            genesis_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn joiner_steps(dir: &Path, id: &str, listen: Option<SocketAddr>, run: &str) {
    let address = listen.map_or_else(|| "<HOST:PORT>".to_owned(), |a| a.to_string());
    println!(
        "\nThis node is not in the genesis: it joins when the members admit it.\n\
         1. Two members sponsor it (each with its own node key):\n  \
            spore sponsor --config <MEMBER>/node.toml --sponsor-key <MEMBER>/node.key --candidate {id} --address {address} --name <NAME>\n\
         2. An operator or governor submits the admission with the sponsorships:\n  \
            spore submit --config <MEMBER>/node.toml --key gov.key --admit {id} --address {address} \
         --name <NAME> --sponsorship <ID:SIG> --sponsorship <ID:SIG>\n\
         3. Start it (it catches up from slot 0, checking every certificate):\n  {run}"
    );
    if listen.is_none() {
        println!(
            "Note: a joiner needs `listen` (its peer address) in {}",
            dir.join("node.toml").display()
        );
    }
}
