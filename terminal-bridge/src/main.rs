//! `terminal-bridge`: command-line entry point. Parses the command line, sets up logging
//! (`RUST_LOG`, default `info`, to stderr) and runs `migrate` or `serve` from the library.

use std::io::IsTerminal;

use clap::Parser;
use terminal_bridge::config::{Cli, Command};
use terminal_bridge::{db, migrate, serve};
use tracing_subscriber::EnvFilter;

/// Log filter when `RUST_LOG` is not set. tokio-postgres logs server notices at info, such as
/// refinery's "relation ... already exists, skipping" on every start.
const DEFAULT_LOG: &str = "info,tokio_postgres=warn";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_LOG.into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let database = cli.database()?;
    match cli.command {
        Command::Migrate => {
            let mut client = db::connect_with_retry(&database, db::Retry::default()).await?;
            let report = migrate::run(&mut client).await?;
            print!("{report}");
        }
        Command::Serve(args) => serve::run(database, *args).await?,
    }
    Ok(())
}
