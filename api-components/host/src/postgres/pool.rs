//! Connection pools, one per database address (and TLS settings), shared by every store of
//! the host.
//!
//! - [`PgPools::connect`] parses the address (URL or `key=value` form), checks every
//!   host in it against the component's `allowed_outbound_hosts` ([`HostCheck`]; also
//!   each `hostaddr`, which Spin 4.1 leaves unchecked: the one place this host refuses
//!   more than Spin, since a `hostaddr` would otherwise bypass the allow-list), and
//!   takes a connection from the address's pool. Neither connecting nor waiting for a
//!   free connection can hang: connecting is bounded by the connect timeout, waiting by
//!   the pool wait (by default the connect timeout; the host sets a longer one, since a
//!   busy pool is not an unreachable database), and TCP keepalives notice a peer that
//!   vanished.
//! - A [`PooledClient`] goes back to the pool only after its session has been reset
//!   (open transaction rolled back, settings, temp tables, advisory locks and LISTENs
//!   dropped), so one component's session state never leaks into another's request.
//!   The reset (one round trip, two if a transaction was left open) runs in a
//!   background task when the guest lets go of the connection, so it adds no latency
//!   to a request; a connection that fails to reset is discarded.
//!   Prepared statements survive the reset (they are the statement cache).
//! - TLS as Spin does it (see `tls`): `sslmode=disable` connects without; any other mode
//!   with TLS when the server offers it (`require`: must), always verifying the server's
//!   certificate. A component with `[[client_tls]]` rules, or a guest root certificate,
//!   gets pools of its own.

use super::tls::{self, GuestRoot, PgTls};
use super::wit::Error;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType,
};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::config::{Config, Host, SslMode};
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// Decides whether the component may connect to `(scheme, host, port)`; called with
/// scheme `"postgres"` for every host of an address before connecting.
pub type HostCheck = Arc<dyn Fn(&str, &str, u16) -> bool + Send + Sync>;

/// Pools kept at most; beyond that, the least recently used one is closed.
const MAX_POOLS: usize = 32;
/// How long a returned connection may take to reset before it is discarded instead.
const RESET_TIMEOUT: Duration = Duration::from_secs(5);
/// What `DISCARD ALL` does except dropping prepared statements (the statement cache):
/// run on a connection before it goes back to its pool.
const RESET_SQL: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
     SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";
/// Run first, in the same message as [`RESET_SQL`]: true unless the guest left a
/// transaction open (its start, `now()`, then precedes this statement's). A failed
/// transaction makes it fail instead. Either way the reset is redone after a
/// `ROLLBACK`, which is sent only then, since outside a transaction it logs a warning.
const OUTSIDE_TRANSACTION_SQL: &str = "SELECT now() = statement_timestamp()";
const DEFAULT_PORT: u16 = 5432;
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;

/// One `deadpool_postgres::Pool` per connection address string, shared by all stores.
pub struct PgPools {
    pools: Mutex<HashMap<String, CachedPool>>,
    max_size: usize,
    connect_timeout: Duration,
    /// How long a request waits for a connection when all of a pool's are in use.
    pool_wait: Duration,
    /// Whether a returned connection's session is reset before reuse (see the module docs).
    reset_sessions: bool,
    /// The `[[client_tls]]` rules of the runtime configuration.
    tls: PgTls,
}

struct CachedPool {
    pool: Pool,
    /// For evicting the least recently used pool when there are too many addresses.
    last_used: Instant,
}

impl PgPools {
    /// Pools of at most `max_connections_per_address` connections each; opening a
    /// connection (TCP and start-up) is bounded by `connect_timeout` (an address's own
    /// `connect_timeout` may only shorten it), and so is waiting for a free one unless
    /// [`PgPools::with_pool_wait`] says otherwise.
    pub fn new(max_connections_per_address: usize, connect_timeout: Duration) -> PgPools {
        PgPools {
            pools: Mutex::new(HashMap::new()),
            max_size: max_connections_per_address.max(1),
            connect_timeout,
            pool_wait: connect_timeout,
            reset_sessions: true,
            tls: PgTls::default(),
        }
    }

    /// Sets the `[[client_tls]]` rules (default: none, every TLS connection trusts the
    /// system's certificate authorities).
    pub fn with_tls(mut self, tls: PgTls) -> PgPools {
        self.tls = tls;
        self
    }

    /// Sets how long a request waits for a free connection when every pooled one is in use
    /// (default: the connect timeout). Pools already made keep theirs.
    pub fn with_pool_wait(mut self, wait: Duration) -> PgPools {
        self.pool_wait = wait;
        self
    }

    /// Turns the session reset of returned connections on (the default) or off. Off saves
    /// the PostgreSQL server a round trip of work per request, at the price of one
    /// request's `SET`s, temporary tables or advisory locks being seen by a later one.
    pub fn with_session_reset(mut self, reset: bool) -> PgPools {
        self.reset_sessions = reset;
        self
    }

    /// Checks `address` against `allowed` and takes a connection from its pool, with the
    /// TLS settings of `component` (and `root`, a certificate the guest gave).
    pub(crate) async fn connect(
        &self,
        address: &str,
        allowed: &HostCheck,
        component: &str,
        root: Option<&GuestRoot>,
    ) -> Result<PooledClient, Error> {
        let config = parse_address(address)?;
        let targets = targets(&config)?;
        if let Some((host, port)) = targets
            .iter()
            .find(|(host, port)| !allowed("postgres", host, *port))
        {
            return Err(Error::ConnectionFailed(format!(
                "address postgres://{} is not permitted by allowed_outbound_hosts",
                display_target(host, *port)
            )));
        }
        let key = format!("{address}\u{0}{}", self.tls.pool_key(component, root));
        // Built only for a new pool: it copies the trusted roots.
        let tls = || {
            if config.get_ssl_mode() == SslMode::Disable {
                return Ok(None);
            }
            let hosts: Vec<String> = targets.iter().map(|(h, _)| h.clone()).collect();
            let connector = self.tls.connector(component, &hosts, root).map_err(|e| {
                Error::ConnectionFailed(format!(
                    "cannot set up TLS for {}: {e:#}",
                    hosts.join(", ")
                ))
            })?;
            Ok(Some(connector))
        };
        let pool = self.pool_for(&key, &config, tls)?;
        let object = pool.get().await.map_err(|e| self.pool_error(e, &targets))?;
        Ok(PooledClient {
            object: Some(object),
            reset: self.reset_sessions,
        })
    }

    /// The pool under `key` (the address and TLS settings); if there is none yet, one made
    /// with `config` and the connector `tls` makes (`None`: no TLS).
    fn pool_for(
        &self,
        key: &str,
        config: &Config,
        tls: impl FnOnce() -> Result<Option<tls::PgMakeTls>, Error>,
    ) -> Result<Pool, Error> {
        if let Some(pool) = self.cached(key) {
            return Ok(pool);
        }
        // Outside the lock: other addresses' requests need not wait for it.
        let tls = tls()?;
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = pools.get_mut(key) {
            cached.last_used = Instant::now();
            return Ok(cached.pool.clone());
        }
        let mut config = config.clone();
        let timeout = match config.get_connect_timeout() {
            Some(t) if *t < self.connect_timeout => *t,
            _ => self.connect_timeout,
        };
        config
            .connect_timeout(timeout)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
        if config.get_application_name().is_none() {
            config.application_name("api-host");
        }
        // `Fast`: the reset happens when a connection is returned (see `PooledClient`),
        // so taking one out costs no round trip.
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls {
            Some(tls) => Manager::from_config(config, tls, manager_config),
            None => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(self.max_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.pool_wait))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| Error::Other(format!("cannot create a connection pool: {e}")))?;
        if pools.len() >= MAX_POOLS
            && let Some(oldest) = pools
                .iter()
                .min_by_key(|(_, p)| p.last_used)
                .map(|(k, _)| k.clone())
            && let Some(evicted) = pools.remove(&oldest)
        {
            evicted.pool.close();
        }
        pools.insert(
            key.to_owned(),
            CachedPool {
                pool: pool.clone(),
                last_used: Instant::now(),
            },
        );
        Ok(pool)
    }

    /// The pool under `key`, if there is one (marked as just used).
    fn cached(&self, key: &str) -> Option<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let cached = pools.get_mut(key)?;
        cached.last_used = Instant::now();
        Some(cached.pool.clone())
    }

    fn pool_error(&self, e: PoolError, targets: &[(String, u16)]) -> Error {
        let to = targets
            .iter()
            .map(|(h, p)| display_target(h, *p))
            .collect::<Vec<_>>()
            .join(", ");
        let message = match e {
            PoolError::Timeout(TimeoutType::Wait) => format!(
                "timed out waiting for a free connection to {to}: all {} pooled connections are in use",
                self.max_size
            ),
            PoolError::Timeout(TimeoutType::Create) => format!("timed out connecting to {to}"),
            PoolError::Timeout(TimeoutType::Recycle) => {
                format!("timed out checking a pooled connection to {to}")
            }
            PoolError::Backend(e) => format!("cannot connect to {to}: {}", tls::describe(&e)),
            e => format!("cannot connect to {to}: {e}"),
        };
        tracing::debug!(%message, "postgres connection failed");
        Error::ConnectionFailed(message)
    }
}

/// Parses a connection address (`postgres://user@host:port/db` or `host=... user=...`),
/// taking libpq's `sslmode=verify-ca`/`verify-full` as `require` (see `tls`).
fn parse_address(address: &str) -> Result<Config, Error> {
    // The parser's messages never quote the address, so a password cannot leak here.
    tls::normalize_sslmode(address)
        .parse()
        .map_err(|e| Error::ConnectionFailed(format!("invalid PostgreSQL address: {e}")))
}

/// Every `(host, port)` the connection may go to: host names and `hostaddr` addresses,
/// each with the port at its index, or the only port, or 5432.
fn targets(config: &Config) -> Result<Vec<(String, u16)>, Error> {
    let ports = config.get_ports();
    let port_at = |i: usize| match ports {
        [] => DEFAULT_PORT,
        [only] => *only,
        many => many.get(i).copied().unwrap_or(DEFAULT_PORT),
    };
    let mut targets = Vec::new();
    for (i, host) in config.get_hosts().iter().enumerate() {
        match host {
            Host::Tcp(name) => targets.push((name.clone(), port_at(i))),
            #[cfg(unix)]
            Host::Unix(_) => {
                return Err(Error::ConnectionFailed(
                    "Unix-domain socket addresses are not supported; give a TCP host".into(),
                ));
            }
        }
    }
    for (i, addr) in config.get_hostaddrs().iter().enumerate() {
        targets.push((addr.to_string(), port_at(i)));
    }
    if targets.is_empty() {
        return Err(Error::ConnectionFailed(
            "the PostgreSQL address names no host".into(),
        ));
    }
    Ok(targets)
}

fn display_target(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A connection checked out of a pool; resets its session and goes back to the pool
/// when dropped (see the module docs).
pub struct PooledClient {
    /// `None` only while being dropped.
    object: Option<Object>,
    /// Reset the session before the connection goes back (else it goes back as it is).
    reset: bool,
}

impl Deref for PooledClient {
    type Target = deadpool_postgres::ClientWrapper;

    fn deref(&self) -> &Self::Target {
        self.object
            .as_ref()
            .expect("a PooledClient holds its connection until dropped")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else {
            return;
        };
        if !self.reset {
            return drop(object);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(reset_and_return(object));
            }
            // No runtime to reset it on: close it rather than pool it dirty.
            Err(_) => drop(Object::take(object)),
        }
    }
}

async fn reset_and_return(object: Object) {
    // Dropping an `Object` returns it to its pool; until the reset succeeded this guard
    // detaches it instead (also if this task is cancelled), which closes the connection.
    struct DetachUnlessReset(Option<Object>);
    impl Drop for DetachUnlessReset {
        fn drop(&mut self) {
            if let Some(object) = self.0.take() {
                drop(Object::take(object));
            }
        }
    }
    let mut guard = DetachUnlessReset(Some(object));
    let Some(client) = guard.0.as_ref() else {
        return;
    };
    match tokio::time::timeout(RESET_TIMEOUT, reset(client)).await {
        Ok(Ok(())) => drop(guard.0.take()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "discarding a PostgreSQL connection that failed to reset")
        }
        Err(_) => tracing::debug!("discarding a PostgreSQL connection that timed out resetting"),
    }
}

/// Resets the session in one round trip, or two when the guest left a transaction open.
async fn reset(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    let first = client
        .simple_query(&format!("{OUTSIDE_TRANSACTION_SQL}; {RESET_SQL}"))
        .await;
    let outside_transaction = first.is_ok_and(|messages| {
        messages
            .iter()
            .any(|m| matches!(m, SimpleQueryMessage::Row(row) if row.get(0) == Some("t")))
    });
    if !outside_transaction {
        client
            .simple_query(&format!("ROLLBACK; {RESET_SQL}"))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_text(e: Error) -> String {
        match e {
            Error::ConnectionFailed(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn targets_of_url_and_key_value_addresses() {
        let c = parse_address("postgres://u:secret@db.example:6543/app").unwrap();
        assert_eq!(targets(&c).unwrap(), [("db.example".to_string(), 6543)]);
        let c = parse_address("host=a,b port=1,2 user=u").unwrap();
        assert_eq!(
            targets(&c).unwrap(),
            [("a".to_string(), 1), ("b".to_string(), 2)]
        );
        let c = parse_address("host=db hostaddr=10.0.0.7 dbname=x").unwrap();
        assert_eq!(
            targets(&c).unwrap(),
            [("db".to_string(), 5432), ("10.0.0.7".to_string(), 5432)]
        );
        let c = parse_address("postgresql://[::1]/x").unwrap();
        assert_eq!(targets(&c).unwrap(), [("::1".to_string(), 5432)]);
    }

    #[test]
    fn ssl_modes_unix_sockets_and_garbage() {
        let mode = |a: &str| parse_address(a).unwrap().get_ssl_mode();
        assert_eq!(mode("postgres://h/db"), SslMode::Prefer);
        assert_eq!(mode("postgres://h/db?sslmode=require"), SslMode::Require);
        assert_eq!(
            mode("postgres://h/db?sslmode=verify-full"),
            SslMode::Require
        );
        assert_eq!(mode("host=h sslmode=verify-ca user=u"), SslMode::Require);
        assert!(parse_address("postgres://h/db?sslmode=sometimes").is_err());
        let e = parse_address("postgres://u:hunter2@h:notaport/db").unwrap_err();
        assert!(!error_text(e).contains("hunter2"));
        let c = parse_address("host=/var/run/postgresql dbname=x").unwrap();
        assert!(error_text(targets(&c).unwrap_err()).contains("Unix-domain"));
        assert!(parse_address("postgres://h/db?sslmode=disable").is_ok());
    }

    #[tokio::test]
    async fn refuses_hosts_not_allowed() {
        let pools = PgPools::new(2, Duration::from_millis(200));
        let allowed: HostCheck =
            Arc::new(|scheme, host, port| scheme == "postgres" && host == "ok" && port == 5432);
        let Err(e) = pools
            .connect("host=ok,evil user=u", &allowed, "c", None)
            .await
        else {
            panic!("connected")
        };
        assert_eq!(
            error_text(e),
            "address postgres://evil:5432 is not permitted by allowed_outbound_hosts"
        );
        assert!(
            pools.pools.lock().unwrap().is_empty(),
            "no pool for a refused address"
        );
    }

    #[tokio::test]
    async fn connecting_to_nothing_fails_fast() {
        // Nothing listens on port 1 of localhost: refused (or timed out) quickly.
        let pools = PgPools::new(2, Duration::from_millis(500));
        let allowed: HostCheck = Arc::new(|_, _, _| true);
        let started = Instant::now();
        let Err(e) = pools
            .connect("postgres://u@127.0.0.1:1/db", &allowed, "c", None)
            .await
        else {
            panic!("connected")
        };
        assert!(error_text(e).contains("127.0.0.1:1"));
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
