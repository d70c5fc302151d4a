//! Connections to PostgreSQL.
//!
//! - [`Database`]: where the database is and how to reach it (TLS, see [`tls`]); every
//!   connection of the bridge is opened through it.
//! - [`connect_with_retry`] for start-up: the database may still be starting (the stack script
//!   starts the bridge right after PostgreSQL), so a few failed attempts are expected.
//! - [`Db`] for probes: one shared connection that is re-established after the server went away,
//!   so `/readyz` recovers by itself when the database is back.

pub mod tls;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Mutex;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::{debug, warn};

/// A connection as [`Database::connect_raw`] opens it, for whoever drives it (the listener).
pub type Connection =
    tokio_postgres::Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// The database: connection settings from `DATABASE_URL` and the TLS connector (used unless
/// the URL says `sslmode=disable`). Cheap to clone.
#[derive(Clone)]
pub struct Database {
    config: Config,
    tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the config: it may hold a password.
        f.debug_struct("Database")
            .field("ssl_mode", &self.config.get_ssl_mode())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// `config`, trusting the system's certificate authorities and those in `ca_file`.
    pub fn new(config: Config, ca_file: Option<&Path>) -> anyhow::Result<Database> {
        let extra = match ca_file {
            Some(path) => tls::ca_file(path)?,
            None => Vec::new(),
        };
        Ok(Database {
            config,
            tls: tls::connector(&extra)?,
        })
    }

    /// The connection settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Opens one connection and drives it on a background task.
    pub async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = self.connect_raw().await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                warn!(error = %err, "database connection ended");
            }
        });
        Ok(client)
    }

    /// Opens one connection; the caller drives it.
    pub async fn connect_raw(&self) -> Result<(Client, Connection), tokio_postgres::Error> {
        self.config.connect(self.tls.clone()).await
    }

    /// A pool of connections for request handlers and background tasks (at most `size` at
    /// once).
    pub fn pool(&self, size: usize) -> anyhow::Result<deadpool_postgres::Pool> {
        let manager = deadpool_postgres::Manager::from_config(
            self.config.clone(),
            self.tls.clone(),
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        deadpool_postgres::Pool::builder(manager)
            .max_size(size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("building the database pool")
    }
}

/// How [`connect_with_retry`] retries: `attempts` tries, waiting `first_delay` after the first
/// failure and twice as long after each further one, at most `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Retry {
    /// About half a minute in all: ten attempts, waiting 0.25 s, 0.5 s, ... up to 5 s.
    fn default() -> Self {
        Retry {
            attempts: 10,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl Retry {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Connects, retrying with exponential backoff; the error of the last attempt is returned.
/// A refused server certificate is not retried.
pub async fn connect_with_retry(database: &Database, retry: Retry) -> anyhow::Result<Client> {
    let mut attempt = 1;
    loop {
        match database.connect().await {
            Ok(client) => return Ok(client),
            Err(err) if tls::is_certificate_error(&err) => {
                anyhow::bail!("connecting to the database failed: {}", tls::describe(&err));
            }
            Err(err) if attempt < retry.attempts => {
                let delay = retry.delay_after(attempt);
                warn!(
                    attempt,
                    of = retry.attempts,
                    error = %tls::describe(&err),
                    "database not reachable yet; retrying in {delay:?}"
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(err) => {
                anyhow::bail!(
                    "connecting to the database failed {attempt} times; giving up: {}",
                    tls::describe(&err)
                );
            }
        }
    }
}

/// A shared connection that is re-opened on demand after it was lost.
pub struct Db {
    database: Database,
    /// The current connection, if any; a closed one is replaced on next use. Behind an async
    /// mutex so that concurrent callers wait for one reconnect instead of each opening one.
    client: Mutex<Option<Arc<Client>>>,
}

impl Db {
    /// A `Db` that connects on first use.
    pub fn new(database: Database) -> Db {
        Db {
            database,
            client: Mutex::new(None),
        }
    }

    /// A `Db` that starts with an open connection.
    pub fn with_client(database: Database, client: Client) -> Db {
        Db {
            database,
            client: Mutex::new(Some(Arc::new(client))),
        }
    }

    /// The current connection, reconnecting (once, no retries) if there is none or it closed.
    pub async fn client(&self) -> Result<Arc<Client>, tokio_postgres::Error> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|client| !client.is_closed()) {
            return Ok(Arc::clone(client));
        }
        debug!("opening a database connection");
        *slot = None;
        let client = Arc::new(self.database.connect().await?);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// Runs `select 1`, all of it (including a reconnect) within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), PingError> {
        let round_trip = async {
            let client = self.client().await?;
            client.simple_query("select 1").await.map(drop)
        };
        match tokio::time::timeout(timeout, round_trip).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(PingError::Failed(err)),
            Err(_) => Err(PingError::TimedOut(timeout)),
        }
    }
}

/// Why [`Db::ping`] failed.
#[derive(Debug)]
pub enum PingError {
    /// No answer within the time limit (a hung server or network).
    TimedOut(Duration),
    /// Connecting or querying failed (e.g. connection refused).
    Failed(tokio_postgres::Error),
}

impl std::fmt::Display for PingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PingError::TimedOut(limit) => write!(f, "no answer within {limit:?}"),
            // tokio-postgres's own message is generic ("error connecting to server"); the
            // source says what happened ("Connection refused").
            PingError::Failed(err) => f.write_str(&tls::describe(err)),
        }
    }
}

impl std::error::Error for PingError {}

/// A pool of connections to `database` (at most `size` at once): [`Database::pool`].
pub fn pool(database: &Database, size: usize) -> anyhow::Result<deadpool_postgres::Pool> {
    database.pool(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let retry = Retry::default();
        let delays: Vec<_> = (1..=6).map(|n| retry.delay_after(n)).collect();
        assert_eq!(
            delays,
            [250, 500, 1000, 2000, 4000, 5000].map(Duration::from_millis)
        );
        assert_eq!(retry.delay_after(40), retry.max_delay);
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt() {
        let port = test_support::free_port();
        let config =
            crate::config::database_config(&format!("postgres://u@127.0.0.1:{port}/d")).unwrap();
        let retry = Retry {
            attempts: 3,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let err = connect_with_retry(&config, retry).await.unwrap_err();
        assert!(format!("{err:#}").contains("3 times"), "{err:#}");
    }

    #[tokio::test]
    async fn ping_reports_a_refused_connection() {
        let port = test_support::free_port();
        let config =
            crate::config::database_config(&format!("postgres://u@127.0.0.1:{port}/d")).unwrap();
        let err = Db::new(config)
            .ping(Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, PingError::Failed(_)), "{err}");
    }

    #[tokio::test]
    async fn ping_times_out_on_a_silent_server() {
        // Accepts TCP connections but never speaks PostgreSQL.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _accepting = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let config =
            crate::config::database_config(&format!("postgres://u@127.0.0.1:{port}/d")).unwrap();
        let started = std::time::Instant::now();
        let err = Db::new(config)
            .ping(Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, PingError::TimedOut(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
