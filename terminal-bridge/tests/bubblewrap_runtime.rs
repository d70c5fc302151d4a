//! The local runtime against the real bubblewrap and the real `pod-agent`: shells inside
//! sandboxes, driven through the agent protocol, check what the sandbox isolates and limits,
//! and the runtime's lifecycle (ensure, reuse after a restart, stop).
//!
//! Needs `bwrap` on PATH and the `pod-agent` binary built (`cargo build --bins`); the limit
//! tests expect to run as root with writable cgroups (or fall back to rlimits, which must hold
//! the same way).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use terminal_bridge::runtime::bubblewrap::state::{SandboxState, is_running, start_time};
use terminal_bridge::runtime::bubblewrap::{BubblewrapConfig, BubblewrapRuntime, Limits};
use terminal_bridge::runtime::{Runtime, RuntimeError};
use uuid::Uuid;

mod common;

use common::term::Term;

/// A sandbox directory with a runtime over it; kills what is left of its sandboxes on drop,
/// so a failed test leaves nothing running.
struct Fixture {
    dir: tempfile::TempDir,
    config: BubblewrapConfig,
    rt: Arc<BubblewrapRuntime>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_limits(Limits {
            memory_bytes: 512 << 20,
            pids: 128,
            cpu_cores: 1.0,
            tmp_bytes: 64 << 20,
        })
    }

    fn with_limits(limits: Limits) -> Fixture {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let dir = tempfile::Builder::new()
            .prefix("sbx")
            .tempdir_in("/tmp")
            .unwrap();
        // Distinct uid ranges per fixture, so that parallel tests never share a host uid.
        let base = 300_000 + (Uuid::new_v4().as_u128() % 10_000) as u32 * 100;
        let config = BubblewrapConfig {
            bwrap: "bwrap".into(),
            agent: test_support::binary("pod-agent"),
            sandbox_dir: dir.path().to_path_buf(),
            limits,
            start_timeout: Duration::from_secs(30),
            cgroup_parent: "code-exec-sandboxes-test".into(),
            host_uids: base..base + 100,
        };
        let rt = Arc::new(BubblewrapRuntime::new(config.clone()).expect("creating the runtime"));
        Fixture { dir, config, rt }
    }

    /// A second runtime over the same directory, as a restarted bridge would make.
    fn restarted(&self) -> Arc<BubblewrapRuntime> {
        Arc::new(BubblewrapRuntime::new(self.config.clone()).unwrap())
    }

    fn state(&self, session: Uuid) -> SandboxState {
        SandboxState::load(&self.dir.path().join(session.to_string()).join("state.json"))
            .expect("the sandbox has a state file")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some(state) = SandboxState::load(&entry.path().join("state.json")) {
                if state.is_running() {
                    // SAFETY: plain kill of a pid whose start time was just checked.
                    unsafe { libc::kill(state.init_pid, libc::SIGKILL) };
                }
                std::thread::sleep(Duration::from_millis(200));
                for dir in state.cgroups {
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
    }
}

fn init_pid(id: &str) -> i32 {
    id.strip_prefix("bwrap-")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("unexpected sandbox id {id}"))
}

/// Waits until `pid` (started at `start`) is gone.
async fn wait_gone(pid: i32, start: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_running(pid, start) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn write_script(fx: &Fixture, session: Uuid, name: &str, text: &str) {
    std::fs::write(fx.rt.workspace_dir(session).join(name), text).unwrap();
}

#[tokio::test]
async fn concurrent_ensures_start_one_sandbox_and_stop_removes_it() {
    let fx = Fixture::new();
    let session = Uuid::new_v4();
    // Two callers of one runtime and one of a second runtime (another bridge process on the
    // same directory) race.
    let second = fx.restarted();
    let (a, b, c) = tokio::join!(
        fx.rt.ensure(session),
        fx.rt.ensure(session),
        second.ensure(session)
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(a.id, b.id);
    assert_eq!(a.id, c.id);
    assert_eq!(
        [a.created, b.created, c.created]
            .iter()
            .filter(|c| **c)
            .count(),
        1,
        "exactly one call starts it: {a:?} {b:?} {c:?}"
    );
    let again = fx.rt.ensure(session).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.id, a.id);
    assert_eq!(fx.rt.list().await.unwrap(), vec![again.clone()]);

    // Detached from us: its own session, not our process group.
    let state = fx.state(session);
    let bwrap_sid = std::fs::read_to_string(format!("/proc/{}/stat", state.bwrap_pid)).unwrap();
    let sid: i32 = bwrap_sid[bwrap_sid.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sid, state.bwrap_pid, "bwrap leads its own session");

    let mut term = Term::open(fx.rt.as_ref(), session, "main").await;
    term.run("sleep 1000 &").await;
    let sleeper: i32 = term.run("echo $!").await.parse().unwrap();
    assert!(sleeper > 1);
    let pid = init_pid(&a.id);
    let start = start_time(pid).unwrap();
    let cgroups = fx.rt.cgroup_dirs(session);

    fx.rt.stop(session).await.unwrap();
    wait_gone(pid, start).await;
    assert!(!fx.dir.path().join(session.to_string()).exists());
    for dir in cgroups {
        assert!(!dir.exists(), "cgroup {} is left", dir.display());
    }
    assert!(fx.rt.list().await.unwrap().is_empty());
    assert!(matches!(
        fx.rt.connect(session).await,
        Err(RuntimeError::NotRunning)
    ));
    fx.rt.stop(session).await.expect("stopping twice succeeds");
}

#[tokio::test]
async fn the_sandbox_sees_only_its_workspace_and_no_network() {
    let fx = Fixture::new();
    let (one, other) = (Uuid::new_v4(), Uuid::new_v4());
    fx.rt.ensure(one).await.unwrap();
    fx.rt.ensure(other).await.unwrap();
    std::fs::write(
        fx.rt.workspace_dir(other).join("other-secret.txt"),
        "not for one",
    )
    .unwrap();
    let mut term = Term::open(fx.rt.as_ref(), one, "main").await;

    assert_eq!(term.run("id -u; id -g").await, "1000\n1000");
    assert_eq!(term.run("pwd").await, "/workspace");

    let interfaces = term.run("tail -n +3 /proc/net/dev | cut -d: -f1").await;
    assert_eq!(interfaces.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    assert!(
        term.run("ls /sys/class/net 2>&1")
            .await
            .contains("No such file")
    );

    // The host's home and this machine's other directories do not exist inside.
    let host_root: Vec<String> = std::fs::read_dir("/root")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let inside = term.run("ls -A /root 2>&1; ls /work /home 2>&1").await;
    assert!(inside.contains("No such file"), "{inside}");
    for name in &host_root {
        assert!(!inside.contains(name.as_str()), "{name} visible: {inside}");
    }
    let found = term
        .run(
            "find / -path /proc -prune -o -name other-secret.txt -print 2>/dev/null; \
             find / -maxdepth 2 -name 'sbx*' 2>/dev/null; echo done",
        )
        .await;
    assert_eq!(found, "done");
    let processes = term.run("ls /proc | grep -c '^[0-9]'").await;
    assert!(
        processes.parse::<u32>().unwrap() < 10,
        "{processes} processes visible"
    );

    // Read-only system, private writable /tmp, writable workspace.
    let usr = term
        .run("touch /usr/x 2>&1; touch /etc/x 2>&1; touch /x 2>&1")
        .await;
    assert_eq!(usr.matches("Read-only file system").count(), 3, "{usr}");
    assert!(!term.run("cat /etc/shadow 2>&1").await.contains("root:"));
    assert_eq!(term.run("echo t > /tmp/t && cat /tmp/t").await, "t");
    term.run("echo made inside > /workspace/inside.txt").await;
    let host_file = fx.rt.workspace_dir(one).join("inside.txt");
    assert_eq!(
        std::fs::read_to_string(&host_file).unwrap(),
        "made inside\n"
    );
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&host_file).unwrap());
    assert_ne!(
        owner, 0,
        "files made inside belong to the sandbox's host uid"
    );
    assert_eq!(owner, fx.state(one).host_uid);

    // No user namespaces inside (the usual start of a kernel exploit).
    assert!(
        !term
            .run("unshare -Ur true 2>&1 && echo NESTED")
            .await
            .contains("NESTED")
    );

    // The seccomp filter is in force: keyctl and unshare fail with EPERM.
    let status = term.run("grep Seccomp: /proc/self/status").await;
    assert_eq!(
        status.split_whitespace().collect::<Vec<_>>(),
        ["Seccomp:", "2"]
    );
    let errnos = term
        .run(&format!(
            "python3 -c 'import ctypes; c = ctypes.CDLL(None, use_errno=True); \
             print(c.syscall({}, 0, 0, 0, 0, 0), ctypes.get_errno(), \
             c.syscall({}, 0x20000), ctypes.get_errno(), c.getpid() > 0)'",
            libc::SYS_keyctl,
            libc::SYS_unshare
        ))
        .await;
    assert_eq!(errnos, format!("-1 {0} -1 {0} True", libc::EPERM));

    // Nothing the bridge has open reaches the sandbox beyond stdio: the agent (pid 2) holds
    // only its own sockets, devices, inotify and the workspace.
    let fds = term
        .run("for fd in /proc/2/fd/*; do echo \"${fd##*/} $(readlink $fd)\"; done")
        .await;
    assert!(fds.contains("socket:"), "{fds}");
    for line in fds.lines() {
        let (fd, target) = line.split_once(' ').unwrap();
        assert!(
            ["0", "1", "2"].contains(&fd)
                || ["anon_inode:", "socket:", "/dev/", "/workspace"]
                    .iter()
                    .any(|prefix| target.starts_with(prefix)),
            "the agent holds {line}"
        );
    }

    fx.rt.stop(one).await.unwrap();
    fx.rt.stop(other).await.unwrap();
}

const FORK_BOMB: &str = r#"
import os, sys, time
kids = []
try:
    while len(kids) < 100000:
        pid = os.fork()
        if pid == 0:
            time.sleep(300)
            os._exit(0)
        kids.append(pid)
except OSError as err:
    print("FORK-FAILED", len(kids), err.errno, flush=True)
sys.stdin.readline()
for kid in kids:
    os.kill(kid, 9)
for kid in kids:
    os.waitpid(kid, 0)
print("RELEASED", flush=True)
"#;

#[tokio::test]
async fn a_fork_bomb_hits_the_pids_limit_and_others_keep_working() {
    let fx = Fixture::with_limits(Limits {
        memory_bytes: 512 << 20,
        pids: 64,
        cpu_cores: 1.0,
        tmp_bytes: 64 << 20,
    });
    let (bomb, calm) = (Uuid::new_v4(), Uuid::new_v4());
    fx.rt.ensure(bomb).await.unwrap();
    fx.rt.ensure(calm).await.unwrap();
    write_script(&fx, bomb, "bomb.py", FORK_BOMB);
    let mut term = Term::open(fx.rt.as_ref(), bomb, "main").await;
    term.send("python3 bomb.py\n").await;
    term.read_until("FORK-FAILED").await;
    let line = format!("FORK-FAILED{}", term.read_until("\n").await);
    eprintln!("fork bomb: {line}");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"FORK-FAILED"), "{line}");
    let forked: u32 = fields[1].parse().unwrap();
    assert!(forked < 64, "forked {forked} processes past a limit of 64");
    assert_eq!(fields[2], "11", "fork fails with EAGAIN: {line}");

    // While the bomb holds every pid it may have, another sandbox answers.
    let mut other = Term::open(fx.rt.as_ref(), calm, "main").await;
    assert_eq!(other.run("echo calm").await, "calm");
    assert!(!fx.rt.ensure(bomb).await.unwrap().created);

    term.send("\n").await;
    term.read_until("RELEASED").await;
    assert_eq!(term.run("echo recovered").await, "recovered");
    fx.rt.stop(bomb).await.unwrap();
    fx.rt.stop(calm).await.unwrap();
}

const MEMORY_HOG: &str = r#"
chunks = []
for i in range(128):
    chunks.append(b"x" * (16 << 20))
print("ALLOCATED-ALL", flush=True)
"#;

#[tokio::test]
async fn a_memory_hog_is_stopped_and_the_agent_survives() {
    let fx = Fixture::with_limits(Limits {
        memory_bytes: 256 << 20,
        pids: 128,
        cpu_cores: 1.0,
        tmp_bytes: 64 << 20,
    });
    let (hog, calm) = (Uuid::new_v4(), Uuid::new_v4());
    fx.rt.ensure(hog).await.unwrap();
    fx.rt.ensure(calm).await.unwrap();
    write_script(&fx, hog, "hog.py", MEMORY_HOG);
    let mut term = Term::open(fx.rt.as_ref(), hog, "main").await;
    let out = term.run("python3 hog.py 2>&1; echo status=$?").await;
    eprintln!("memory hog: {out}");
    assert!(
        !out.contains("ALLOCATED-ALL"),
        "2 GiB fit in 256 MiB: {out}"
    );
    // Killed by the cgroup's OOM killer (128 + SIGKILL), or MemoryError under rlimits.
    assert!(
        out.ends_with("status=137") || out.contains("MemoryError"),
        "{out}"
    );
    assert_eq!(term.run("echo survived").await, "survived");
    let mut other = Term::open(fx.rt.as_ref(), calm, "main").await;
    assert_eq!(other.run("echo calm").await, "calm");
    fx.rt.stop(hog).await.unwrap();
    fx.rt.stop(calm).await.unwrap();
}

#[tokio::test]
async fn a_restarted_runtime_finds_the_sandbox_and_its_shell() {
    let fx = Fixture::new();
    let session = Uuid::new_v4();
    let first = fx.rt.ensure(session).await.unwrap();
    let mut term = Term::open(fx.rt.as_ref(), session, "main").await;
    assert!(term.created);
    let shell = term.run("echo $$").await;
    drop(term);

    let rt = fx.restarted();
    assert_eq!(
        rt.list()
            .await
            .unwrap()
            .iter()
            .map(|s| s.session)
            .collect::<Vec<_>>(),
        [session]
    );
    let again = rt.ensure(session).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.id, first.id);
    let mut term = Term::open(rt.as_ref(), session, "main").await;
    assert!(
        !term.created,
        "the terminal is re-attached, not started again"
    );
    assert_eq!(term.pid.to_string(), shell);
    assert_eq!(term.run("echo $$").await, shell);

    let pid = init_pid(&again.id);
    let start = start_time(pid).unwrap();
    rt.stop(session).await.unwrap();
    wait_gone(pid, start).await;
    assert!(fx.rt.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_dead_sandbox_is_cleaned_up_and_replaced() {
    let fx = Fixture::new();
    let session = Uuid::new_v4();
    let first = fx.rt.ensure(session).await.unwrap();
    let pid = init_pid(&first.id);
    let start = start_time(pid).unwrap();
    // SAFETY: plain kill of the sandbox's init.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_gone(pid, start).await;
    assert!(fx.rt.list().await.unwrap().is_empty());
    assert!(matches!(
        fx.rt.connect(session).await,
        Err(RuntimeError::NotRunning)
    ));

    let second = fx.restarted().ensure(session).await.unwrap();
    assert!(second.created);
    assert_ne!(second.id, first.id);
    let mut term = Term::open(fx.rt.as_ref(), session, "main").await;
    assert_eq!(term.run("echo back").await, "back");
    fx.rt.stop(session).await.unwrap();
}

#[tokio::test]
async fn an_agent_that_does_not_start_is_reported_as_unavailable() {
    let mut fx = Fixture::new();
    fx.config.agent = PathBuf::from("/usr/bin/true");
    let rt = fx.restarted();
    let session = Uuid::new_v4();
    let err = rt.ensure(session).await.unwrap_err();
    let RuntimeError::Unavailable(message) = err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(message.contains("exited during start-up"), "{message}");
    assert!(!Path::new(&fx.dir.path().join(session.to_string())).exists());
    assert!(rt.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_limits_are_written_to_the_sandboxs_cgroups() {
    let fx = Fixture::with_limits(Limits {
        memory_bytes: 300 << 20,
        pids: 77,
        cpu_cores: 0.5,
        tmp_bytes: 64 << 20,
    });
    let session = Uuid::new_v4();
    let sandbox = fx.rt.ensure(session).await.unwrap();
    let dirs = fx.rt.cgroup_dirs(session);
    assert!(
        !dirs.is_empty(),
        "no cgroups used: these tests expect root and writable cgroups"
    );
    let read = |file: &str| {
        dirs.iter()
            .find_map(|dir| std::fs::read_to_string(dir.join(file)).ok())
            .map(|text| text.trim().to_string())
    };
    assert_eq!(read("pids.max").as_deref(), Some("77"));
    match read("memory.max") {
        Some(max) => assert_eq!(max, (300u64 << 20).to_string()),
        None => assert_eq!(
            read("memory.limit_in_bytes"),
            Some((300u64 << 20).to_string())
        ),
    }
    match read("cpu.max") {
        Some(max) => assert_eq!(max, "50000 100000"),
        None => assert_eq!(read("cpu.cfs_quota_us").as_deref(), Some("50000")),
    }
    // Every process of the sandbox, bwrap included, is in them.
    let init = init_pid(&sandbox.id);
    for dir in &dirs {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|pid| pid == init.to_string()),
            "{init} not in {}",
            dir.display()
        );
    }
    fx.rt.stop(session).await.unwrap();
}

#[tokio::test]
async fn without_cgroups_rlimits_hold_processes_and_memory() {
    let mut fx = Fixture::with_limits(Limits {
        memory_bytes: 256 << 20,
        pids: 64,
        cpu_cores: 1.0,
        tmp_bytes: 64 << 20,
    });
    fx.config.cgroup_parent = String::new();
    let rt = fx.restarted();
    let session = Uuid::new_v4();
    rt.ensure(session).await.unwrap();
    assert!(rt.cgroup_dirs(session).is_empty());
    write_script(&fx, session, "hog.py", MEMORY_HOG);
    write_script(&fx, session, "bomb.py", FORK_BOMB);
    let mut term = Term::open(rt.as_ref(), session, "main").await;
    let out = term.run("python3 hog.py 2>&1; echo status=$?").await;
    assert!(
        out.contains("MemoryError") && out.ends_with("status=1"),
        "{out}"
    );
    term.send("python3 bomb.py\n").await;
    term.read_until("FORK-FAILED").await;
    let line = term.read_until("\n").await;
    let forked: u32 = line.split_whitespace().next().unwrap().parse().unwrap();
    assert!(forked < 64, "{line}");
    term.send("\n").await;
    term.read_until("RELEASED").await;
    assert_eq!(term.run("echo fine").await, "fine");
    rt.stop(session).await.unwrap();
}

/// Set for the helper process of `a_sandbox_outlives_a_killed_bridge`: the sandbox directory.
const HELPER_DIR: &str = "LOCAL_RUNTIME_TEST_HELPER_DIR";

#[tokio::test]
#[ignore = "helper process of a_sandbox_outlives_a_killed_bridge, run by it"]
async fn helper_bridge_that_starts_a_sandbox_and_waits() {
    let dir = std::env::var(HELPER_DIR).expect("run by a_sandbox_outlives_a_killed_bridge");
    let session: Uuid = std::env::var("LOCAL_RUNTIME_TEST_SESSION")
        .unwrap()
        .parse()
        .unwrap();
    let mut config = Fixture::new().config.clone();
    config.sandbox_dir = dir.into();
    let rt = BubblewrapRuntime::new(config).unwrap();
    let sandbox = rt.ensure(session).await.unwrap();
    let mut term = Term::open(&rt, session, "main").await;
    println!("READY {} {}", sandbox.id, term.run("echo $$").await);
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn a_sandbox_outlives_a_killed_bridge() {
    use std::io::BufRead;
    let fx = Fixture::new();
    let session = Uuid::new_v4();
    let mut bridge = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "helper_bridge_that_starts_a_sandbox_and_waits",
            "--nocapture",
        ])
        .env(HELPER_DIR, fx.dir.path())
        .env("LOCAL_RUNTIME_TEST_SESSION", session.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(bridge.stdout.take().unwrap()).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.starts_with("READY "))
        .expect("the helper bridge started a sandbox");
    let fields: Vec<&str> = ready.split_whitespace().collect();
    let (id, shell) = (fields[1].to_string(), fields[2].to_string());

    // SIGKILL: the bridge gets no chance to clean up or to signal anything.
    bridge.kill().unwrap();
    bridge.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let listed = fx.rt.list().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);
    let sandbox = fx.rt.ensure(session).await.unwrap();
    assert!(!sandbox.created);
    let mut term = Term::open(fx.rt.as_ref(), session, "main").await;
    assert!(!term.created);
    assert_eq!(term.run("echo $$").await, shell);
    fx.rt.stop(session).await.unwrap();
}

#[test]
fn build_makes_the_runtime_asked_for_and_explains_a_missing_bwrap() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = terminal_bridge::runtime::RuntimeArgs::defaults();
    args.sandbox_dir = dir.path().join("sandboxes");
    args.agent_bin = Some(test_support::binary("pod-agent"));
    args.cgroup_parent = "code-exec-sandboxes-test".into();
    assert_eq!(
        terminal_bridge::runtime::build(&args).unwrap().name(),
        "local"
    );

    args.kind = terminal_bridge::runtime::RuntimeKind::Process;
    assert_eq!(
        terminal_bridge::runtime::build(&args).unwrap().name(),
        "process"
    );

    args.kind = terminal_bridge::runtime::RuntimeKind::Bubblewrap;
    args.bwrap = dir.path().join("no-bwrap-here");
    let err = terminal_bridge::runtime::build(&args)
        .err()
        .expect("no bwrap, no local runtime")
        .to_string();
    assert!(err.contains("apt-get install bubblewrap"), "{err}");

    args.bwrap = "bwrap".into();
    args.agent_bin = Some(dir.path().join("no-agent-here"));
    let err = terminal_bridge::runtime::build(&args)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("BRIDGE_AGENT_BIN"), "{err}");
}
