//! `spore node run --config FILE`: run a node until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::node::config::{Byzantine, NodeConfig};

/// `spore node` subcommands.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Run a node (logs go to stderr; set the level with `--log info`).
    Run(RunArgs),
    /// Print a config file with every setting at its default, each one explained.
    DefaultConfig,
}

/// Arguments of `spore node run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The node's TOML config file.
    #[arg(long)]
    pub config: PathBuf,
    /// Test/demo only: make this node misbehave.
    #[arg(long, hide = true, value_enum)]
    pub byzantine_behaviour: Option<Byzantine>,
}

/// Run a `spore node` subcommand.
pub fn run(cmd: NodeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NodeCommand::DefaultConfig => {
            print!("{}", NodeConfig::documented_default());
            Ok(ExitCode::SUCCESS)
        }
        NodeCommand::Run(args) => {
            let mut config = NodeConfig::load(&args.config)?;
            if args.byzantine_behaviour.is_some() {
                config.byzantine = args.byzantine_behaviour;
            }
            let rt = match config.threads {
                1 => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?,
                0 => tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?,
                n => tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(n)
                    .enable_all()
                    .build()?,
            };
            rt.block_on(crate::node::run::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
