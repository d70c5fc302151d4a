//! `terminal-bridge`: command-line entry point. Parses the command line, sets up logging
//! (`RUST_LOG`, default `info`, to stderr) and runs `migrate` or `serve` from the library.

use clap::Parser;
use terminal_bridge::config::{Cli, Command};
use terminal_bridge::{db, migrate, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();

    let database = cli.database_config()?;
    match cli.command {
        Command::Migrate => {
            let mut client = db::connect_with_retry(&database, db::Retry::default()).await?;
            let report = migrate::run(&mut client).await?;
            print!("{}", report_text(&report));
        }
        Command::Serve(args) => serve::run(database, args.listen).await?,
    }
    Ok(())
}

/// What `migrate` prints on stdout.
fn report_text(report: &migrate::Report) -> String {
    let mut text: String = report
        .applied
        .iter()
        .map(|migration| format!("applied {migration}\n"))
        .collect();
    match (&report.current, report.applied.is_empty()) {
        (Some(current), true) => text += &format!("database is up to date at {current}\n"),
        (Some(current), false) => text += &format!("database is now at {current}\n"),
        (None, _) => text += "no migrations to apply\n",
    }
    text
}
