//! The command line, one documented struct; every option also reads an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::db::Database;

/// Example shown when `DATABASE_URL` is missing.
const DATABASE_URL_EXAMPLE: &str = "postgres://postgres@127.0.0.1:5433/code_exec";

/// How long one connection attempt may take before it counts as failed, unless the URL sets
/// `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(name = "terminal-bridge", version, about)]
pub struct Cli {
    /// PostgreSQL URL, e.g. postgres://user:password@host:5432/dbname?sslmode=require
    /// (required). TLS as the REST hosts (api-host, Spin) do it: sslmode=disable connects
    /// without; any other mode (prefer, the default, require, verify-ca, verify-full) uses TLS
    /// when the server offers it (require and verify-*: or fails) and always verifies the
    /// server's certificate, chain and host name, against the system's certificate authorities
    /// (SSL_CERT_FILE / SSL_CERT_DIR replace those) plus --database-ca-file.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// A PEM file of certificate authorities to trust for the database server's certificate,
    /// besides the system's: the CA of a hosted PostgreSQL or of your own. Used by every
    /// connection (migrate, pooled queries, the LISTEN connection).
    #[arg(long, env = "DATABASE_CA_FILE", global = true)]
    pub database_ca_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the embedded database migrations that are not applied yet, then exit.
    Migrate,
    /// Apply the migrations, then serve HTTP until SIGTERM or Ctrl-C.
    Serve(Box<ServeArgs>),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BRIDGE_LISTEN", default_value = "127.0.0.1:8001")]
    pub listen: SocketAddr,

    /// Database connections for request handlers (token checks, session access).
    #[arg(long, env = "BRIDGE_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,

    #[command(flatten)]
    pub runtime: crate::runtime::config::RuntimeArgs,

    #[command(flatten)]
    pub sync: crate::workspaces::SyncConfig,

    #[command(flatten)]
    pub ws: WsArgs,
}

/// WebSocket limits; see [`crate::ws::WsConfig`].
#[derive(Debug, Args)]
pub struct WsArgs {
    /// Largest WebSocket message a client may send, in bytes.
    #[arg(long, env = "BRIDGE_WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_message_bytes: usize,

    /// Terminal input per connection, in bytes per second.
    #[arg(long, env = "BRIDGE_WS_INPUT_RATE", default_value_t = 64 * 1024)]
    pub ws_input_rate: u64,

    /// Terminal input a connection may send in one burst, in bytes.
    #[arg(long, env = "BRIDGE_WS_INPUT_BURST", default_value_t = 256 * 1024)]
    pub ws_input_burst: u64,

    /// Seconds between pings; a client silent for two intervals is disconnected.
    #[arg(long, env = "BRIDGE_WS_PING_INTERVAL_SECS", default_value_t = 20)]
    pub ws_ping_interval_secs: u64,

    /// Seconds `/ws` waits for the `auth` message when no token came with the request.
    #[arg(long, env = "BRIDGE_WS_AUTH_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_auth_timeout_secs: u64,

    /// Origins allowed to open WebSockets, comma-separated (`*` for any). Unset: pages of
    /// the bridge's own host name only. Requests without `Origin` are always allowed.
    #[arg(long, env = "CORS_ORIGINS")]
    pub cors_origins: Option<String>,

    /// Terminal output in flight per client per terminal, in bytes.
    #[arg(long, env = "BRIDGE_TERMINAL_WINDOW_BYTES", default_value_t = 256 * 1024)]
    pub terminal_window_bytes: u32,

    /// Seconds a shutdown waits for WebSocket clients to be told.
    #[arg(long, env = "BRIDGE_SHUTDOWN_GRACE_SECS", default_value_t = 5)]
    pub shutdown_grace_secs: u64,
}

impl WsArgs {
    pub fn config(&self) -> crate::ws::WsConfig {
        crate::ws::WsConfig {
            max_message_bytes: self.ws_max_message_bytes.max(1024),
            input_rate: self.ws_input_rate.max(1),
            input_burst: self.ws_input_burst,
            ping_interval: Duration::from_secs(self.ws_ping_interval_secs.max(1)),
            auth_timeout: Duration::from_secs(self.ws_auth_timeout_secs.max(1)),
            allowed_origins: crate::ws::parse_origins(self.cors_origins.as_deref()),
            output_window: self.terminal_window_bytes,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
        }
    }
}

impl Cli {
    /// The database of `--database-url` / `DATABASE_URL` and `--database-ca-file` /
    /// `DATABASE_CA_FILE`, with a clear error when the URL is missing or malformed or the CA
    /// file unusable.
    pub fn database(&self) -> anyhow::Result<Database> {
        let config = self.database_config()?;
        Database::new(config, self.database_ca_file.as_deref())
    }

    /// The connection settings from `--database-url` / `DATABASE_URL`.
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
        connection_settings(url)
    }
}

/// The database at `url`, trusting the system's certificate authorities only (no CA file).
pub fn database_config(url: &str) -> anyhow::Result<Database> {
    Database::new(connection_settings(url)?, None)
}

/// Parses a PostgreSQL URL (or key=value string) into connection settings, with libpq's
/// `sslmode=verify-ca`/`verify-full` taken as `require` (see `db::tls`). The error does not
/// repeat the URL, which may hold a password.
pub fn connection_settings(url: &str) -> anyhow::Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = crate::db::tls::normalize_sslmode(url)
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
        let ws = args.ws.config();
        assert_eq!(ws.max_message_bytes, 64 * 1024);
        assert_eq!(ws.ping_interval, Duration::from_secs(20));
        assert_eq!(ws.allowed_origins, None);
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
    fn the_ca_file_may_follow_the_subcommand_and_is_checked() {
        let cli = parse(&[
            "terminal-bridge",
            "migrate",
            "--database-url",
            "postgres://u@h:1/d?sslmode=verify-full",
            "--database-ca-file",
            "/nonexistent/ca.pem",
        ]);
        assert_eq!(
            cli.database_config().unwrap().get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let err = format!("{:#}", cli.database().unwrap_err());
        assert!(
            err.contains("DATABASE_CA_FILE /nonexistent/ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn missing_database_url_names_the_variable() {
        let cli = Cli {
            database_url: None,
            database_ca_file: None,
            command: Command::Migrate,
        };
        let err = cli.database_config().unwrap_err().to_string();
        assert!(err.contains("DATABASE_URL is not set"), "{err}");
    }

    #[test]
    fn malformed_url_does_not_echo_the_password() {
        let err = connection_settings("postgres://u:secret@h:notaport/d").unwrap_err();
        let err = format!("{err:#}");
        assert!(!err.contains("secret"), "{err}");
    }
}
