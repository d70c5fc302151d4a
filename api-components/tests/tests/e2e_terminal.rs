//! End to end (issue 5 item 7): a user registers and logs in through REST, creates a session,
//! and works in its shell over the real terminal-bridge's WebSocket, with files in a real
//! PostgreSQL, through api-host with the real components. The user's story runs on both
//! runtimes: sandboxes in real bubblewrap, and pods of a fake API server (issue 6 item 3);
//! the isolation checks are bubblewrap's own.

mod common;
mod e2e;

use std::time::{Duration, Instant};

use common::{Host, each_host};
use e2e::ws::{Ws, close_code};
use e2e::{Backend, E2e, SandboxLimits, on_each_backend};
use serde_json::json;

on_each_backend! {
    a_user_runs_code_and_files_flow_both_ways,
    viewers_watch_and_strangers_are_refused,
    the_shell_survives_reconnects_and_a_killed_bridge,
    a_rest_shutdown_saves_the_last_edit,
}

/// How long a shell edit may take to be readable through REST.
const SYNC_LIMIT: Duration = Duration::from_secs(1);

async fn a_user_runs_code_and_files_flow_both_ways(backend: Backend, host: Host) {
    let e2e = E2e::on(backend, host).await;
    let token = e2e.user("alice").await;
    let session = e2e.session(&token).await;
    let mut ws = e2e.connect(&token).await;
    ws.open(session).await;

    assert_eq!(ws.run(session, "python3 -c \"print(6*7)\"").await, "42");

    // REST -> shell.
    e2e.write_file(
        &token,
        session,
        "notes/from_rest.txt",
        "written through REST",
    )
    .await;
    let started = Instant::now();
    loop {
        let seen = ws.run(session, "cat notes/from_rest.txt 2>&1").await;
        if seen == "written through REST" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the shell sees {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Shell -> REST, within a second of the command finishing.
    ws.run(session, "echo hi > x.txt").await;
    let took = e2e
        .wait_file(&token, session, "x.txt", "hi\n", Duration::from_secs(20))
        .await;
    eprintln!("shell edit readable through REST after {took:?}");
    assert!(
        took < SYNC_LIMIT,
        "the shell edit took {took:?} to reach REST"
    );

    // Two clients of one terminal see the same output.
    let mut second = e2e.connect(&token).await;
    second.open(session).await;
    ws.type_in(session, "echo \"both-$((20+22))\"\n").await;
    ws.wait_output("main", "both-42").await;
    second.wait_output("main", "both-42").await;
    // And the second one types into the same shell.
    let pid = ws.run(session, "echo $$").await;
    assert_eq!(second.run(session, "echo $$").await, pid);
}

async fn viewers_watch_and_strangers_are_refused(backend: Backend, host: Host) {
    let e2e = E2e::on(backend, host).await;
    let owner = e2e.user("owner").await;
    let viewer = e2e.user("viewer").await;
    let stranger = e2e.user("stranger").await;
    let session = e2e.session(&owner).await;
    e2e.share(&owner, session, "viewer", "viewer").await;

    let mut ws = e2e.connect(&owner).await;
    ws.open(session).await;
    let mut watching = e2e.connect(&viewer).await;
    watching.open(session).await;

    ws.type_in(session, "echo \"seen-by-$((1+1))\"\n").await;
    watching.wait_output("main", "seen-by-2").await;

    // The viewer types: an error, and nothing runs.
    watching
        .type_in(session, "echo \"viewer-ran-$((2+3))\"\n")
        .await;
    let error = watching.next_of("error").await;
    assert_eq!(error["code"], "forbidden", "{error}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    assert_eq!(ws.run(session, "echo after").await, "after");
    assert!(
        !ws.output["main"].contains("viewer-ran-5"),
        "the viewer's input ran: {}",
        ws.output["main"]
    );

    // A stranger's open of someone else's session.
    let mut foreign = e2e.connect(&stranger).await;
    foreign
        .send(json!({"type": "open", "sessionId": session, "terminalId": "main"}))
        .await;
    let error = foreign.next_of_any(&["opened", "error"]).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "not_found", "{error}");
    foreign
        .send(json!({"type": "terminal_input", "sessionId": session, "input": "echo x\n"}))
        .await;
    let error = foreign.next_of_any(&["terminal_output", "error"]).await;
    assert_eq!(error["code"], "not_found", "{error}");

    // A bad token, and a token revoked by a REST logout.
    let mut bad = Ws::connect(&e2e.ws_url("cep_not-a-real-token")).await;
    assert_eq!(close_code(&bad.closed().await), 4401);
    let r = e2e
        .rest(&stranger, reqwest::Method::POST, "/api/users/logout", None)
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let mut revoked = Ws::connect(&e2e.ws_url(&stranger)).await;
    assert_eq!(close_code(&revoked.closed().await), 4401);
}

async fn the_shell_survives_reconnects_and_a_killed_bridge(backend: Backend, host: Host) {
    let mut e2e = E2e::on(backend, host).await;
    let token = e2e.user("carol").await;
    let session = e2e.session(&token).await;

    let mut ws = e2e.connect(&token).await;
    ws.open(session).await;
    let pid = ws.run(session, "echo $$").await;
    assert!(pid.parse::<u32>().is_ok(), "{pid:?}");
    ws.run(session, "echo \"history-$((6*7))\"").await;
    drop(ws);

    // Reconnect: the scrollback comes back, and it is the same shell.
    let mut ws = e2e.connect(&token).await;
    let opened = ws.open(session).await;
    assert_eq!(opened["created"], false, "{opened}");
    assert!(opened["replayed"].as_u64().unwrap() > 0, "{opened}");
    ws.wait_output("main", "history-42").await;
    assert_eq!(ws.run(session, "echo $$").await, pid);

    // A file written just before a kill -9 of the bridge.
    ws.run(session, "echo 'made before the kill' > last.txt")
        .await;
    e2e.kill_bridge();
    drop(ws);
    e2e.start_bridge();

    let mut ws = e2e.connect(&token).await;
    let opened = ws.open(session).await;
    assert_eq!(opened["created"], false, "{opened}");
    assert_eq!(ws.run(session, "echo $$").await, pid);
    if let Some(fake) = e2e.fake() {
        // The restarted bridge found the session's pod: still the one made at the start.
        let created = fake
            .requests()
            .iter()
            .filter(|r| r.starts_with(&format!("POST /api/v1/namespaces/{}/pods", e2e::NS)))
            .count();
        assert_eq!(created, 1, "{:#?}", fake.requests());
    }
    e2e.wait_file(
        &token,
        session,
        "last.txt",
        "made before the kill\n",
        Duration::from_secs(30),
    )
    .await;
    // And the sync flows again after the restart.
    ws.run(session, "echo again > again.txt").await;
    e2e.wait_file(
        &token,
        session,
        "again.txt",
        "again\n",
        Duration::from_secs(30),
    )
    .await;
}

#[each_host(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_has_no_network_and_sees_no_other_files(host: Host) {
    let e2e = E2e::start(host).await;
    let token = e2e.user("dave").await;
    let mine = e2e.session(&token).await;
    let other = e2e.session(&token).await;
    e2e.write_file(&token, other, "secret.txt", "other workspace")
        .await;
    e2e.write_file(&token, mine, "mine.txt", "my file").await;

    let mut ws = e2e.connect(&token).await;
    ws.open(mine).await;
    // The other sandbox has its file (so there is something to find).
    let mut peek = e2e.connect(&token).await;
    peek.open(other).await;
    assert_eq!(peek.run(other, "cat secret.txt").await, "other workspace");

    // The interfaces of the sandbox's network namespace: /sys/class/net where /sys is
    // mounted, and /proc/net/dev (the reader's namespace) in any case.
    let interfaces = ws
        .run(
            mine,
            "(ls /sys/class/net 2>/dev/null; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ') \
             | sort -u",
        )
        .await;
    assert_eq!(interfaces, "lo");
    assert_eq!(ws.run(mine, "ls /workspace").await, "mine.txt");
    let search = ws
        .run(
            mine,
            "find / \\( -path /proc -o -path /sys -o -path /usr \\) -prune -o -name secret.txt \
             -print 2>/dev/null; echo \"found-done\"",
        )
        .await;
    assert_eq!(search, "found-done", "another workspace's file is visible");
    let host_path = e2e.sandbox_dir().join(other.to_string()).join("workspace");
    let direct = ws
        .run(
            mine,
            &format!("cat {}/secret.txt 2>&1", host_path.display()),
        )
        .await;
    assert!(direct.contains("No such file"), "{direct}");
    let root = ws.run(mine, "ls -A /root 2>&1 | head -3").await;
    assert!(
        root.is_empty() || root.contains("No such file") || root.contains("Permission denied"),
        "the host's /root is visible: {root}"
    );
    let sandboxes = ws.run(mine, "ls /tmp /home 2>&1").await;
    assert!(!sandboxes.contains("e2e"), "{sandboxes}");
}

const FORK_BOMB: &str = "import os, sys, time
children = []
try:
    for _ in range(100000):
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        children.append(pid)
except OSError as err:
    print('FORK-REFUSED', len(children), err.errno, flush=True)
sys.stdin.readline()
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print('BOMB-OVER', flush=True)
";

const MEMORY_HOG: &str = "blocks = [b'x' * (32 << 20) for _ in range(64)]
print('GOT-2-GIB', flush=True)
";

#[each_host(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_and_a_memory_hog_are_contained(host: Host) {
    let e2e = E2e::with_limits(
        host,
        SandboxLimits {
            memory_mb: 256,
            pids: 64,
        },
    )
    .await;
    let token = e2e.user("erin").await;
    let noisy = e2e.session(&token).await;
    let calm = e2e.session(&token).await;
    e2e.write_file(&token, noisy, "bomb.py", FORK_BOMB).await;
    e2e.write_file(&token, noisy, "hog.py", MEMORY_HOG).await;

    let mut bad = e2e.connect(&token).await;
    bad.open(noisy).await;
    let mut good = e2e.connect(&token).await;
    good.open(calm).await;
    assert_eq!(good.run(calm, "echo ready").await, "ready");

    bad.type_in(noisy, "python3 bomb.py\n").await;
    let line = bad.wait_line("FORK-REFUSED ").await;
    let forked: u32 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(forked < 64, "{line}: past a pids limit of 64");
    // While the bomb holds every process it may have, the other session answers.
    let started = Instant::now();
    assert_eq!(good.run(calm, "echo still-here").await, "still-here");
    eprintln!(
        "the calm session answered in {:?} during the fork bomb",
        started.elapsed()
    );
    bad.type_in(noisy, "\n").await;
    bad.wait_output("main", "BOMB-OVER").await;

    let out = bad
        .run(
            noisy,
            "python3 hog.py 2>&1 | tail -1; echo \"status=${PIPESTATUS[0]}\"",
        )
        .await;
    assert!(!out.contains("GOT-2-GIB"), "2 GiB fit in 256 MiB: {out}");
    assert!(
        out.contains("status=137") || out.contains("MemoryError"),
        "{out}"
    );
    assert_eq!(good.run(calm, "echo unharmed").await, "unharmed");
    assert_eq!(bad.run(noisy, "echo recovered").await, "recovered");
}

async fn a_rest_shutdown_saves_the_last_edit(backend: Backend, host: Host) {
    let e2e = E2e::on(backend, host).await;
    let token = e2e.user("frank").await;
    let session = e2e.session(&token).await;
    let mut ws = e2e.connect(&token).await;
    ws.open(session).await;
    assert_eq!(ws.run(session, "echo up").await, "up");

    ws.run(session, "echo 'the last edit' > final.txt").await;
    let r = e2e
        .rest(
            &token,
            reqwest::Method::POST,
            &format!("/api/workspace/{session}/shutdown"),
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    // Clients hear the sandbox stop.
    loop {
        let status = ws.next_of("workspace_status").await;
        if status["state"] == "stopped" {
            break;
        }
    }
    let started = Instant::now();
    loop {
        let r = e2e
            .rest(
                &token,
                reqwest::Method::GET,
                &format!("/api/workspace/{session}/status"),
                None,
            )
            .await;
        if r.body["observed_state"] == "stopped" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not stopped: {r:?}\n{}",
            e2e.bridge_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        e2e.read_file(&token, session, "final.txt").await.as_deref(),
        Some("the last edit\n")
    );
}
