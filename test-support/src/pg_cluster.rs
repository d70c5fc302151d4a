//! A throwaway PostgreSQL cluster for one test, optionally serving TLS with a certificate from
//! a CA the test made (see [`crate::pg_tls`]).

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::net::free_port;
use crate::os_user::RunAs;
use crate::pg_bin::pg_bin_dir;
use crate::pg_tls::{self, TlsFiles};

/// Name of the superuser `initdb` creates (`-U postgres`); trusted on loopback, no password.
pub const SUPERUSER: &str = "postgres";

/// How often `start` picks a new port when the one it chose was taken in the meantime.
const START_ATTEMPTS: usize = 5;

/// Seconds `pg_ctl` waits for the server to start or stop.
const PG_CTL_TIMEOUT_SECS: &str = "60";

/// Settings appended to `postgresql.conf`: loopback only, sockets in our own directory, and
/// durability off, since the data is thrown away anyway and tests should be fast.
const SETTINGS: &str = "
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 100
log_min_messages = warning
log_min_error_statement = panic
";

/// A PostgreSQL cluster in a fresh temporary directory, listening on `127.0.0.1:<free port>`
/// with `trust` authentication, for one test.
///
/// Dropping it stops the server (`pg_ctl stop -m immediate`) and deletes the directory. A test
/// process that is killed (not unwound) leaves the server running; its data directory is the
/// only thing it touches.
///
/// When the tests run as root (as in CI), `initdb`, `pg_ctl` and the server run as the `postgres`
/// user (or `nobody`), which owns the temporary directory; otherwise as the current user.
pub struct PgCluster {
    /// Holds `data/` (the cluster), `sock/` (unix sockets) and `server.log`.
    dir: TempDir,
    /// Directory of `initdb`, `pg_ctl`, `postgres`.
    bin_dir: PathBuf,
    /// Loopback TCP port; fixed once started, so URLs stay valid across `stop`/`start_again`.
    port: u16,
    /// Who runs the PostgreSQL tools; `None` = the current user.
    run_as: Option<RunAs>,
    /// Whether the server was started and not stopped since; `Drop` only stops a running one.
    running: AtomicBool,
    /// Suffix of the next name handed out by [`PgCluster::fresh_database`].
    next_database: AtomicU32,
    /// The certificates, when the server was started with `ssl = on`.
    tls: Option<TlsFiles>,
}

impl PgCluster {
    /// Creates a cluster with `initdb` and starts it. Blocks for a second or two.
    pub fn start() -> anyhow::Result<PgCluster> {
        Self::start_with(false)
    }

    /// Like [`PgCluster::start`], but the server also speaks TLS (`ssl = on`), with a
    /// certificate for `127.0.0.1` and `localhost` signed by a CA made for this cluster
    /// ([`PgCluster::tls`] says where its PEM is). Clients may still connect without TLS
    /// (`sslmode=disable`): `pg_hba.conf` keeps allowing both.
    pub fn start_tls() -> anyhow::Result<PgCluster> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> anyhow::Result<PgCluster> {
        let bin_dir = pg_bin_dir()?;
        let run_as = RunAs::for_postgres()?;
        let dir = make_dir(run_as.as_ref())?;
        let mut cluster = PgCluster {
            dir,
            bin_dir,
            port: 0,
            run_as,
            running: AtomicBool::new(false),
            next_database: AtomicU32::new(1),
            tls: None,
        };
        if tls {
            cluster.tls = Some(pg_tls::write(cluster.dir.path(), cluster.run_as.as_ref())?);
        }
        cluster.initdb()?;
        cluster.configure()?;

        let mut attempt = 1;
        loop {
            cluster.port = free_port();
            let log_len_before = cluster.log().len();
            match cluster.pg_ctl_start() {
                Ok(()) => return Ok(cluster),
                Err(err) if attempt < START_ATTEMPTS => {
                    let log = cluster.log();
                    let new_log = log.get(log_len_before..).unwrap_or(&log);
                    if !new_log.contains("could not bind") && !new_log.contains("already in use") {
                        return Err(err);
                    }
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the `postgres` database as the superuser:
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// URL of database `database` as the superuser.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// URL of database `database` as the superuser through host name `host` (`127.0.0.1` or
    /// `localhost` match the TLS certificate; any other name does not, but still reaches this
    /// cluster through `hostaddr=127.0.0.1`), with `sslmode=<sslmode>`.
    pub fn url_with(&self, database: &str, host: &str, sslmode: &str) -> String {
        let hostaddr = if host == "127.0.0.1" {
            String::new()
        } else {
            "&hostaddr=127.0.0.1".to_owned()
        };
        format!(
            "postgres://{SUPERUSER}@{host}:{}/{database}?sslmode={sslmode}{hostaddr}",
            self.port
        )
    }

    /// The certificates of a cluster made with [`PgCluster::start_tls`]; `None` otherwise.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// Creates database `name` (letters, digits and `_` only) and returns its URL.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("database name {name:?}: use only ASCII letters, digits and '_'");
        }
        let (client, connection) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connecting to {}", self.url()))?;
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!("create database \"{name}\""))
            .await
            .with_context(|| format!("creating database {name}"))?;
        drop(client);
        let _ = connection.await;
        Ok(self.url_for(name))
    }

    /// Creates a database with a name not used before in this cluster and returns its URL.
    pub async fn fresh_database(&self) -> anyhow::Result<String> {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("test_{n}")).await
    }

    /// Stops the server (`pg_ctl stop -m fast`), keeping its data, port and directory.
    pub fn stop(&self) -> anyhow::Result<()> {
        self.pg_ctl_stop("fast")?;
        self.running.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Starts a stopped server again on the same port with the same data.
    pub fn start_again(&self) -> anyhow::Result<()> {
        self.pg_ctl_start()
    }

    /// Whether the server was started and not stopped since.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log so far (empty if none was written).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn initdb(&self) -> anyhow::Result<()> {
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync"]);
        run(cmd, "initdb")
    }

    fn configure(&self) -> anyhow::Result<()> {
        let conf = self.data_dir().join("postgresql.conf");
        let socket_dir = self.socket_dir().display().to_string().replace('\'', "''");
        // Appending keeps the file's owner (the user that ran initdb).
        let mut file = OpenOptions::new()
            .append(true)
            .open(&conf)
            .with_context(|| format!("opening {}", conf.display()))?;
        write!(
            file,
            "\n# test-support PgCluster\n{SETTINGS}unix_socket_directories = '{socket_dir}'\n"
        )
        .with_context(|| format!("writing {}", conf.display()))?;
        if let Some(tls) = &self.tls {
            let quoted = |path: &Path| path.display().to_string().replace('\'', "''");
            write!(
                file,
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                quoted(&tls.server_cert_pem),
                quoted(&tls.server_key_pem)
            )
            .with_context(|| format!("writing {}", conf.display()))?;
        }
        Ok(())
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", PG_CTL_TIMEOUT_SECS])
            // The port is an option rather than a setting so `start` can retry with another.
            .args(["-o", &format!("-p {}", self.port), "start"]);
        run(cmd, "pg_ctl start").map_err(|err| {
            err.context(format!(
                "starting PostgreSQL on port {}; server log:\n{}",
                self.port,
                tail(&self.log(), 30)
            ))
        })?;
        self.running.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn pg_ctl_stop(&self, mode: &str) -> anyhow::Result<()> {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(self.data_dir()).args([
            "-m",
            mode,
            "-w",
            "-t",
            PG_CTL_TIMEOUT_SECS,
            "stop",
        ]);
        run(cmd, "pg_ctl stop")
    }

    /// A command for one of the PostgreSQL tools, as the right user, isolated from the
    /// caller's libpq environment.
    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(tool));
        // The caller's working directory may be unreadable for the postgres user.
        cmd.current_dir(self.dir.path())
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        for var in [
            "PGDATA",
            "PGPORT",
            "PGHOST",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
        ] {
            cmd.env_remove(var);
        }
        if let Some(user) = &self.run_as {
            user.apply(&mut cmd);
        }
        cmd
    }
}

impl fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCluster")
            .field("url", &self.url())
            .field("dir", &self.dir.path())
            .field("run_as", &self.run_as)
            .field("running", &self.is_running())
            .finish()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- PostgreSQL log ({}) ---\n{}",
                self.log_path().display(),
                tail(&self.log(), 40)
            );
        }
        if self.is_running()
            && let Err(err) = self.pg_ctl_stop("immediate")
        {
            eprintln!(
                "test-support: could not stop PostgreSQL on port {}: {err:#}",
                self.port
            );
        }
        // The TempDir field deletes the directory after this.
    }
}

/// Creates the cluster's temporary directory (and its socket directory), owned by the user
/// that runs the tools.
fn make_dir(run_as: Option<&RunAs>) -> anyhow::Result<TempDir> {
    let mut base = std::env::temp_dir();
    if let Some(user) = run_as
        && !user.can_traverse_to(&base)
    {
        // e.g. TMPDIR under /root: the postgres user could not reach the data directory.
        base = PathBuf::from("/tmp");
    }
    let dir = tempfile::Builder::new()
        .prefix("pg-cluster-")
        .tempdir_in(&base)
        .with_context(|| format!("creating a temporary directory in {}", base.display()))?;
    let sock = dir.path().join("sock");
    std::fs::create_dir(&sock).with_context(|| format!("creating {}", sock.display()))?;
    if let Some(user) = run_as {
        for path in [dir.path(), &sock] {
            chown(path, user)?;
        }
    }
    Ok(dir)
}

fn chown(path: &Path, user: &RunAs) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
        .with_context(|| format!("handing {} to user {}", path.display(), user.name))
}

/// Runs `cmd` to completion; an error carries its output.
fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let output: Output = cmd
        .output()
        .with_context(|| format!("running {what} ({cmd:?})"))?;
    if output.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
