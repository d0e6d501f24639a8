//! The `spore` binary: parses the command line and hands it to [`spore::cli`].

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a node allocates and frees small buffers for every
/// message and operation, and glibc's allocator took about a tenth of its CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = spore::cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        spore::cli::LogFormat::Text => logs.init(),
        spore::cli::LogFormat::Json => logs.json().init(),
    }
    match spore::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
