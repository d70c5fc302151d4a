//! What the benchmark runs against, and its cleanup: a throwaway PostgreSQL cluster with a
//! user, a token and sessions made with SQL; the release bridge as its own process; terminado;
//! and the sandboxes the bridge starts, which outlive the bridge by design and are stopped here.
//! With `BRIDGE_RUNTIME=kube` the sandboxes are pods of `test_support::FakeKube`, a fake API
//! server in this process whose pods run the real `pod-agent` (ready at once), and the bridge
//! reaches them as on a cluster: a kubeconfig, `pods/exec` WebSockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use terminal_bridge::runtime::{Runtime, RuntimeArgs, RuntimeKind};
use test_support::{ChildGuard, PgCluster, free_port, wait_for_http};
use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::client::{Kind, Term};

/// A dummy argon2id PHC string (nobody logs in with a password here).
const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

/// Everything started for one run. Fields drop in order: the bridge first (so it starts no
/// more sandboxes), then terminado, then the sandboxes, then the database.
pub struct Setup {
    bridge: ChildGuard,
    pub bridge_addr: SocketAddr,
    terminado: Option<(ChildGuard, SocketAddr)>,
    sandboxes: Sandboxes,
    admin: tokio_postgres::Client,
    pub user: i64,
    pub token: String,
    db_url: String,
    _db: PgCluster,
}

impl Setup {
    pub async fn start() -> anyhow::Result<Setup> {
        let db = tokio::task::spawn_blocking(PgCluster::start).await??;
        let url = db.create_database("bench").await?;
        let kind = runtime_kind();
        let sandboxes = Sandboxes::new(kind).await?;
        let (bridge, bridge_addr) = start_bridge(&url, &sandboxes).await?;
        let terminado = match std::env::var_os("TERMINADO_PYTHON") {
            Some(python) => Some(start_terminado(PathBuf::from(python)).await?),
            None => {
                eprintln!("bench: TERMINADO_PYTHON is not set; terminado is skipped");
                None
            }
        };
        let (admin, connection) = tokio_postgres::connect(&url, NoTls).await?;
        tokio::spawn(connection);
        let user: i64 = admin
            .query_one(
                "insert into users (username, password_hash) values ('bench', $1) returning id",
                &[&PASSWORD_HASH],
            )
            .await?
            .get(0);
        let token = platform_contract::token::generate()?;
        let hash = platform_contract::token::token_sha256(&token);
        admin
            .execute(
                "insert into auth_tokens (user_id, token_sha256, expires_at)
                 values ($1, $2, now() + interval '1 day')",
                &[&user, &hash.as_slice()],
            )
            .await?;
        Ok(Setup {
            bridge,
            bridge_addr,
            db_url: url,
            terminado,
            sandboxes,
            admin,
            user,
            token,
            _db: db,
        })
    }

    /// `local (bubblewrap)` or `process (no sandbox)`.
    pub fn runtime_name(&self) -> String {
        match self.sandboxes.args.kind {
            RuntimeKind::Bubblewrap => "local (bubblewrap sandboxes)".into(),
            RuntimeKind::Process => "process (no sandbox: bwrap does not work here)".into(),
            RuntimeKind::Kube => "kube (pods of a fake API server, over pods/exec)".into(),
        }
    }

    /// Replaces the bridge with a fresh process (SIGTERM, then a new one on a new port); the
    /// sandboxes and their shells keep running, as in a deployment.
    pub async fn restart_bridge(&mut self) -> anyhow::Result<()> {
        let (bridge, addr) = start_bridge(&self.db_url, &self.sandboxes).await?;
        let mut old = std::mem::replace(&mut self.bridge, bridge);
        self.bridge_addr = addr;
        tokio::task::spawn_blocking(move || old.terminate(Duration::from_secs(10))).await??;
        Ok(())
    }

    /// The bridge's process id.
    pub fn bridge_pid(&self) -> u32 {
        self.bridge.id()
    }

    /// A new session of the bench user (its sandbox is not running).
    pub async fn session(&self) -> anyhow::Result<Uuid> {
        Ok(self
            .admin
            .query_one(
                "insert into code_sessions (owner_id, name) values ($1, 'bench') returning id",
                &[&self.user],
            )
            .await?
            .get(0))
    }

    /// Stops a session's sandbox (for the next cold start to start one).
    pub async fn stop_sandbox(&self, session: Uuid) -> anyhow::Result<()> {
        self.sandboxes.stop(session).await
    }

    pub fn url(&self, kind: Kind, session: Uuid, terminal: &str) -> String {
        match kind {
            Kind::Raw => format!(
                "ws://{}/ws/sessions/{session}/terminals/{terminal}?cols=80&rows=24",
                self.bridge_addr
            ),
            Kind::Json => format!("ws://{}/ws", self.bridge_addr),
            Kind::Terminado => {
                let addr = self.terminado.as_ref().map(|(_, addr)| *addr);
                format!("ws://{}/websocket", addr.expect("terminado runs"))
            }
        }
    }

    /// A terminal of `session` through the bridge (started if it does not run).
    pub async fn bridge_terminal(
        &self,
        kind: Kind,
        session: Uuid,
        terminal: &str,
    ) -> anyhow::Result<Term> {
        let url = self.url(kind, session, terminal);
        Term::connect(kind, &url, Some(&self.token), session, terminal).await
    }

    pub fn has_terminado(&self) -> bool {
        self.terminado.is_some()
    }

    /// A new terminado terminal (a new shell).
    pub async fn terminado_terminal(&self) -> anyhow::Result<Term> {
        let url = self.url(Kind::Terminado, Uuid::nil(), "");
        Term::connect(Kind::Terminado, &url, None, Uuid::nil(), "").await
    }

    /// Stops the bridge (SIGTERM), terminado, every sandbox and the database.
    pub async fn stop(mut self) {
        let _ = tokio::task::spawn_blocking(move || {
            let _ = self.bridge.terminate(Duration::from_secs(10));
            drop(self);
        })
        .await;
    }
}

/// Starts the release bridge on a free loopback port and waits until it answers.
async fn start_bridge(
    database_url: &str,
    sandboxes: &Sandboxes,
) -> anyhow::Result<(ChildGuard, SocketAddr)> {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(test_support::binary("terminal-bridge"));
    command
        .args(["serve", "--listen", &listen])
        .env("DATABASE_URL", database_url)
        .env("BRIDGE_RUNTIME", sandboxes.args.kind_name())
        .env("BRIDGE_SANDBOX_DIR", sandboxes.dir.path())
        .env("RUST_LOG", "warn");
    if let Some(cluster) = &sandboxes.cluster {
        command
            .env("KUBECONFIG", cluster.kubeconfig.path())
            .env("KUBERNETES_IN_CLUSTER", "false");
    }
    let mut bridge = ChildGuard::spawn(&mut command)?;
    let healthz = format!("http://{listen}/healthz");
    let waited =
        tokio::task::spawn_blocking(move || wait_for_http(&healthz, Duration::from_secs(60)))
            .await?;
    if let Err(err) = waited {
        let _ = bridge.terminate(Duration::from_secs(1));
        anyhow::bail!("the bridge did not start: {err:#}\n{}", bridge.log());
    }
    Ok((bridge, listen.parse()?))
}

/// The runtime to measure: `BRIDGE_RUNTIME` if set, else `local` when bubblewrap can make a
/// sandbox here, else `process`.
fn runtime_kind() -> RuntimeKind {
    match std::env::var("BRIDGE_RUNTIME").as_deref() {
        Ok("process") => return RuntimeKind::Process,
        Ok("local") => return RuntimeKind::Bubblewrap,
        Ok("kube") => return RuntimeKind::Kube,
        _ => {}
    }
    let works = Command::new("bwrap")
        .args(["--unshare-all", "--ro-bind", "/", "/", "true"])
        .output()
        .is_ok_and(|out| out.status.success());
    if works {
        RuntimeKind::Bubblewrap
    } else {
        eprintln!("bench: bwrap cannot make a sandbox here; measuring the process runtime");
        RuntimeKind::Process
    }
}

trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for RuntimeArgs {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            RuntimeKind::Bubblewrap => "local",
            RuntimeKind::Process => "process",
            RuntimeKind::Kube => "kube",
        }
    }
}

/// The bridge's sandbox directory; dropping it stops every sandbox in it (they are detached
/// from the bridge and would otherwise keep running), then deletes it.
struct Sandboxes {
    dir: tempfile::TempDir,
    args: RuntimeArgs,
    /// The same runtime as the bridge's, on the same directory (its state files and locks
    /// work across processes), to stop sandboxes.
    runtime: Arc<dyn Runtime>,
    /// The fake cluster, for the kube runtime.
    cluster: Option<Cluster>,
}

/// A fake API server and a kubeconfig pointing at it.
struct Cluster {
    /// Kept for its lifetime: dropping it stops the server and kills the pods' agents.
    _fake: test_support::FakeKube,
    kubeconfig: tempfile::NamedTempFile,
}

impl Sandboxes {
    async fn new(kind: RuntimeKind) -> anyhow::Result<Sandboxes> {
        // Short, so the agents' socket paths fit.
        let dir = tempfile::Builder::new()
            .prefix("bench-sb-")
            .tempdir_in("/tmp")?;
        let mut args = RuntimeArgs::defaults();
        args.kind = kind;
        args.sandbox_dir = dir.path().to_path_buf();
        args.agent_bin = Some(test_support::binary("pod-agent"));
        if kind != RuntimeKind::Kube {
            let runtime = terminal_bridge::runtime::build(&args)?;
            return Ok(Sandboxes {
                dir,
                args,
                runtime,
                cluster: None,
            });
        }
        let fake = test_support::FakeKube::start(&test_support::binary("pod-agent")).await;
        // Pods are ready and gone at once: what is measured is the bridge's path, not a
        // kubelet's.
        fake.set_fate(test_support::Fate::Ready {
            after: Duration::ZERO,
        });
        fake.set_terminating_for(Duration::ZERO);
        let kubeconfig = fake.kubeconfig(&args.kube.namespace);
        let runtime = Arc::new(terminal_bridge::runtime::KubeRuntime::new(
            args.kube.settings()?,
            terminal_bridge::runtime::kube::settings::ClientSource::Config(kube::Config::new(
                fake.url().parse()?,
            )),
        ));
        Ok(Sandboxes {
            dir,
            args,
            runtime,
            cluster: Some(Cluster {
                _fake: fake,
                kubeconfig,
            }),
        })
    }

    async fn stop(&self, session: Uuid) -> anyhow::Result<()> {
        self.runtime
            .stop(session)
            .await
            .context("stopping a sandbox")?;
        Ok(())
    }

    /// Stops every sandbox whose directory is in `dir` (the fake cluster kills its pods'
    /// agents itself when it goes).
    fn stop_all(&self) -> anyhow::Result<()> {
        if self.cluster.is_some() {
            return Ok(());
        }
        let runtime = Arc::clone(&self.runtime);
        let dir = self.dir.path().to_path_buf();
        // Drop may run inside the tokio runtime: use a thread with a runtime of its own.
        std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                for entry in std::fs::read_dir(&dir)?.flatten() {
                    let name = entry.file_name();
                    if let Some(session) = name.to_str().and_then(|n| Uuid::parse_str(n).ok()) {
                        runtime.stop(session).await?;
                    }
                }
                Ok(())
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the cleanup thread panicked"))?
    }
}

impl Drop for Sandboxes {
    fn drop(&mut self) {
        if let Err(err) = self.stop_all() {
            eprintln!(
                "bench: could not stop the sandboxes in {}: {err:#}",
                self.dir.path().display()
            );
        }
    }
}

/// Starts terminado's launcher on a free loopback port and waits until it accepts.
async fn start_terminado(python: PathBuf) -> anyhow::Result<(ChildGuard, SocketAddr)> {
    let script = test_support::workspace_root().join("terminal-bridge/bench/terminado_server.py");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let mut child = ChildGuard::spawn(
        Command::new(&python)
            .arg(&script)
            .arg(addr.port().to_string())
            .env("PS1", "bench$ ")
            .env("HISTFILE", "/dev/null"),
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if child.child_mut().try_wait()?.is_some() || Instant::now() > deadline {
            anyhow::bail!("terminado did not start:\n{}", child.log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((child, addr))
}

/// Raises the soft limit on open files to at least `want` (up to the hard limit); the bridge,
/// started later, inherits it.
pub fn raise_fd_limit(want: u64) -> anyhow::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write to / read from a valid rlimit struct.
    unsafe {
        anyhow::ensure!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0,
            "getrlimit failed"
        );
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            anyhow::ensure!(
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0,
                "setrlimit failed"
            );
        }
    }
    anyhow::ensure!(
        limit.rlim_cur >= want,
        "only {} open files allowed (hard limit); the benchmark needs {want}: raise `ulimit -Hn` \
         or lower BENCH_CONNECTIONS",
        limit.rlim_cur
    );
    Ok(())
}

/// Resolves with the name of the first SIGINT or SIGTERM.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
