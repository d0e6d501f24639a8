//! `spore module …`: check and run policy modules (being built; see issue 2).

use clap::Subcommand;

/// Module commands.
#[derive(Debug, Subcommand)]
pub enum ModuleCommand {}

/// Run a module command.
pub fn run(cmd: ModuleCommand) -> anyhow::Result<std::process::ExitCode> {
    match cmd {}
}
