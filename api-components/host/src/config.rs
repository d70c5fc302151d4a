//! Command-line and environment configuration of `api-host`.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

fn parse_duration_ms(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|e| format!("{s:?}: {e} (milliseconds)"))
}

/// Serves the HTTP-triggered components of a Spin manifest.
#[derive(Debug, Clone, Parser)]
#[command(name = "api-host", version, about)]
pub struct Config {
    /// The Spin manifest (version 2).
    #[arg(long, env = "API_HOST_MANIFEST", default_value = "spin.toml")]
    pub manifest: PathBuf,

    /// Address to listen on.
    #[arg(long, env = "API_HOST_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Maximum linear memory of one component instance, in MiB.
    #[arg(long, env = "API_HOST_MEMORY_LIMIT_MIB", default_value_t = 128)]
    pub memory_limit_mib: usize,

    /// Time a request may take before it is answered 504 and its instance is dropped, in ms.
    #[arg(long = "request-timeout-ms", env = "API_HOST_REQUEST_TIMEOUT_MS", default_value = "30000", value_parser = parse_duration_ms)]
    pub request_timeout: Duration,

    /// Requests one instance serves before it is replaced (Spin reuses WASI 0.3 instances).
    #[arg(long, env = "API_HOST_MAX_INSTANCE_REUSE", default_value_t = 1000)]
    pub max_instance_reuse: usize,

    /// Requests one instance serves at the same time.
    #[arg(long, env = "API_HOST_MAX_INSTANCE_CONCURRENCY", default_value_t = 16)]
    pub max_instance_concurrency: usize,

    /// How long an idle instance is kept for reuse, in ms.
    #[arg(long = "idle-instance-timeout-ms", env = "API_HOST_IDLE_INSTANCE_TIMEOUT_MS", default_value = "60000", value_parser = parse_duration_ms)]
    pub idle_instance_timeout: Duration,

    /// Requests served at once by the whole host; more wait for a slot.
    #[arg(long, env = "API_HOST_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    pub max_concurrent_requests: usize,

    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, env = "API_HOST_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Timeout of outbound HTTP connects and reads when the component sets none, in ms.
    #[arg(long = "outbound-timeout-ms", env = "API_HOST_OUTBOUND_TIMEOUT_MS", default_value = "10000", value_parser = parse_duration_ms)]
    pub outbound_timeout: Duration,

    /// PostgreSQL connections kept per database address.
    #[arg(long, env = "API_HOST_PG_POOL_SIZE", default_value_t = 16)]
    pub pg_pool_size: usize,

    /// Timeout of opening a PostgreSQL connection, in ms.
    #[arg(long = "pg-connect-timeout-ms", env = "API_HOST_PG_CONNECT_TIMEOUT_MS", default_value = "2000", value_parser = parse_duration_ms)]
    pub pg_connect_timeout: Duration,

    /// How long a request waits for a pooled PostgreSQL connection when all are in use, in
    /// ms; then it answers 503. Longer than the connect timeout: requests holding the
    /// connections (e.g. logins hashing a password) are busy, not lost.
    #[arg(long = "pg-pool-wait-ms", env = "API_HOST_PG_POOL_WAIT_MS", default_value = "10000", value_parser = parse_duration_ms)]
    pub pg_pool_wait: Duration,

    /// Reset a PostgreSQL session (settings, temporary tables, advisory locks, open
    /// transaction) when a component lets its connection go, before another request
    /// reuses it. `false` saves the database server work per request.
    #[arg(long, env = "API_HOST_PG_RESET_SESSIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub pg_reset_sessions: bool,

    /// Runtime configuration file in Spin's format (the file `spin up --runtime-config-file`
    /// takes). api-host reads its `[[client_tls]]` entries: the certificate authorities (and
    /// client certificate) of PostgreSQL connections per component and host. Without it, TLS
    /// connections trust the system's authorities (`SSL_CERT_FILE` replaces them, as in Spin).
    #[arg(long, env = "API_HOST_RUNTIME_CONFIG_FILE")]
    pub runtime_config_file: Option<PathBuf>,

    /// Where compiled components are cached (keyed by the .wasm's SHA-256 and the engine).
    /// Default: `$XDG_CACHE_HOME/api-host` or `~/.cache/api-host`.
    #[arg(long, env = "API_HOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl Config {
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("api-host")
    }
}
