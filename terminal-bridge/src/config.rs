//! The command line, one documented struct; every option also reads an environment variable.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

/// Example shown when `DATABASE_URL` is missing.
const DATABASE_URL_EXAMPLE: &str = "postgres://postgres@127.0.0.1:5433/code_exec";

/// How long one connection attempt may take before it counts as failed, unless the URL sets
/// `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(name = "terminal-bridge", version, about)]
pub struct Cli {
    /// PostgreSQL URL, e.g. postgres://user:password@host:5432/dbname (required). TLS is not
    /// supported yet: use sslmode=disable or prefer.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the embedded database migrations that are not applied yet, then exit.
    Migrate,
    /// Apply the migrations, then serve HTTP until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BRIDGE_LISTEN", default_value = "127.0.0.1:8001")]
    pub listen: SocketAddr,
}

impl Cli {
    /// The database connection settings from `--database-url` / `DATABASE_URL`, with a clear
    /// error when it is missing or malformed.
    pub fn database_config(&self) -> anyhow::Result<tokio_postgres::Config> {
        let Some(url) = self
            .database_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
        else {
            bail!(
                "DATABASE_URL is not set: set it (or pass --database-url) to the PostgreSQL \
                 database to use, e.g. DATABASE_URL={DATABASE_URL_EXAMPLE} (see .env.example)"
            );
        };
        database_config(url)
    }
}

/// Parses a PostgreSQL URL (or key=value string) into connection settings. The error does not
/// repeat the URL, which may hold a password.
pub fn database_config(url: &str) -> anyhow::Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("terminal-bridge");
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap()
    }

    #[test]
    fn serve_defaults_to_loopback_8001() {
        let cli = parse(&["terminal-bridge", "serve"]);
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(args.listen, "127.0.0.1:8001".parse().unwrap());
    }

    #[test]
    fn database_url_may_follow_the_subcommand() {
        let cli = parse(&[
            "terminal-bridge",
            "migrate",
            "--database-url",
            "postgres://u@h:1/d",
        ]);
        let config = cli.database_config().unwrap();
        assert_eq!(config.get_dbname(), Some("d"));
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(config.get_application_name(), Some("terminal-bridge"));
    }

    #[test]
    fn missing_database_url_names_the_variable() {
        let cli = Cli {
            database_url: None,
            command: Command::Migrate,
        };
        let err = cli.database_config().unwrap_err().to_string();
        assert!(err.contains("DATABASE_URL is not set"), "{err}");
    }

    #[test]
    fn malformed_url_does_not_echo_the_password() {
        let err = database_config("postgres://u:secret@h:notaport/d").unwrap_err();
        let err = format!("{err:#}");
        assert!(!err.contains("secret"), "{err}");
    }
}
