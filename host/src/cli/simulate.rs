//! `spore simulate`: seeded Byzantine scenarios (being built; see issue 3).

use clap::Args;

/// Arguments of `spore simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {}

/// Run the simulator.
pub fn run(_args: SimulateArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("the simulator is not built yet")
}
