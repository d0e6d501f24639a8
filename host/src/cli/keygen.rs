//! `spore keygen`: create a key file (owner-only permissions) and print its id: a node's
//! key, or a client key that a genesis names with roles (`spore genesis add-key`) and that
//! `spore submit --key` and `spore module propose --key` sign with.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::node::keyfile;

/// Arguments of `spore keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key (mode 0600).
    #[arg(long, default_value = "node.key")]
    pub out: PathBuf,
    /// Overwrite an existing key file (the old identity is lost).
    #[arg(long)]
    pub force: bool,
}

/// Run `spore keygen`.
pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = keyfile::generate();
    keyfile::write(&args.out, &key, args.force)?;
    println!("{}", key.id().to_hex());
    eprintln!("wrote {} (mode 0600)", args.out.display());
    Ok(ExitCode::SUCCESS)
}
