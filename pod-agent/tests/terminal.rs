//! Terminals through the real daemon: real PTYs, real bash.

mod common;

use agent_protocol::{ExitStatus, Frame};
use common::{Client, Daemon, PROMPT};

#[tokio::test]
async fn echo_computes_42() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    let (created, pid, replay) = c.open(1, "main").await;
    assert!(created);
    assert!(pid > 0);
    assert_eq!(replay, 0);
    c.wait_output(1, PROMPT).await;
    c.input(1, "echo $((6*7))\r").await;
    c.wait_output(1, "42\r\n").await;
}

#[tokio::test]
async fn stty_size_shows_a_resize() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    c.open_sized(1, "main", 80, 24, common::WINDOW).await;
    c.wait_output(1, PROMPT).await;
    c.input(1, "stty size\r").await;
    c.wait_output(1, "24 80\r\n").await;
    c.send(Frame::Resize {
        stream: 1,
        cols: 132,
        rows: 43,
    })
    .await;
    c.input(1, "stty size\r").await;
    c.wait_output(1, "43 132\r\n").await;
}

#[tokio::test]
async fn reattach_replays_earlier_output_once_and_keeps_the_shell() {
    let daemon = Daemon::start();
    let mut first = daemon.client().await;
    let (_, pid, _) = first.open(1, "t").await;
    first.wait_output(1, PROMPT).await;
    first.input(1, "echo pid=$$; echo $((1000+234))\r").await;
    first.wait_output(1, "1234\r\n").await;
    let seen_before = first.text(1);
    assert!(
        seen_before.contains(&format!("pid={pid}\r\n")),
        "{seen_before}"
    );
    drop(first);

    let mut second = daemon.client().await;
    let (created, pid_again, replay) = second.open(7, "t").await;
    assert!(!created, "re-attach must not start a new shell");
    assert_eq!(pid_again, pid);
    assert!(replay > 0);
    second.input(7, "echo pid=$$; echo $((2000+345))\r").await;
    let text = second.wait_output(7, "2345\r\n").await;
    assert_eq!(
        text.matches("1234\r\n").count(),
        1,
        "earlier output replayed exactly once:\n{text}"
    );
    assert_eq!(
        text.matches(&format!("pid={pid}\r\n")).count(),
        2,
        "same shell:\n{text}"
    );
    let replayed = &second.outputs[&7].bytes[..replay as usize];
    assert!(
        replayed.starts_with(seen_before.as_bytes()),
        "the replay starts with what the first client saw"
    );
}

#[tokio::test]
async fn two_attachments_both_see_output() {
    let daemon = Daemon::start();
    let mut a = daemon.client().await;
    let mut b = daemon.client().await;
    a.open(1, "shared").await;
    a.wait_output(1, PROMPT).await;
    let (created, _, _) = b.open(2, "shared").await;
    assert!(!created);
    a.input(1, "echo $((3*111))\r").await;
    a.wait_output(1, "333\r\n").await;
    b.wait_output(2, "333\r\n").await;
    // Input from either attachment reaches the same shell.
    b.input(2, "echo $((4*111))\r").await;
    a.wait_output(1, "444\r\n").await;
    b.wait_output(2, "444\r\n").await;
}

#[tokio::test]
async fn simultaneous_first_opens_start_one_shell() {
    let daemon = Daemon::start();
    for round in 0..5 {
        let id = format!("race-{round}");
        let mut a = daemon.client().await;
        let mut b = daemon.client().await;
        let (ra, rb) = tokio::join!(a.open(1, &id), b.open(1, &id));
        assert_eq!(ra.1, rb.1, "both attached to one shell");
        assert!(
            ra.0 ^ rb.0,
            "exactly one open created the shell: {ra:?} {rb:?}"
        );
    }
}

#[tokio::test]
async fn exit_status_close_and_detach() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    c.open(1, "exits").await;
    c.wait_output(1, PROMPT).await;
    c.input(1, "exit 3\r").await;
    let exited = c
        .wait_frame("Exited", |f| matches!(f, Frame::Exited { stream: 1, .. }))
        .await;
    assert_eq!(
        exited,
        Frame::Exited {
            stream: 1,
            status: ExitStatus::Code(3)
        }
    );

    let (_, pid, _) = c.open(2, "closed").await;
    c.wait_output(2, PROMPT).await;
    let ok = c
        .request(|req| Frame::Close {
            req,
            terminal: "closed".into(),
        })
        .await;
    assert!(matches!(ok, Frame::Ok { .. }), "{ok:?}");
    let exited = c
        .wait_frame("Exited after Close", |f| {
            matches!(f, Frame::Exited { stream: 2, .. })
        })
        .await;
    assert!(matches!(
        exited,
        Frame::Exited {
            status: ExitStatus::Signal(_) | ExitStatus::Code(_),
            ..
        }
    ));
    let (created, new_pid, _) = c.open(3, "closed").await;
    assert!(created && new_pid != pid, "a closed id starts a new shell");

    let missing = c
        .request(|req| Frame::Close {
            req,
            terminal: "nope".into(),
        })
        .await;
    assert!(matches!(
        missing,
        Frame::Error {
            code: agent_protocol::ErrorCode::NotFound,
            ..
        }
    ));

    c.send(Frame::Detach { stream: 3 }).await;
    let detached = c
        .wait_frame("Detached", |f| {
            matches!(f, Frame::Detached { stream: 3, .. })
        })
        .await;
    assert!(
        matches!(&detached, Frame::Detached { reason, .. } if reason.contains("client")),
        "{detached:?}"
    );
    // The stream number is free again, and the terminal still runs.
    let (created, again, _) = c.open(3, "closed").await;
    assert!(!created && again == new_pid);
}

#[tokio::test]
async fn idle_terminal_is_closed_after_the_last_detach() {
    let daemon = Daemon::start_with(&["--idle-timeout-secs", "1"]);
    let mut c = daemon.client().await;
    let (_, pid, _) = c.open(1, "idle").await;
    c.wait_output(1, PROMPT).await;
    drop(c);
    let mut c = daemon.client().await;
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        let report = c.request(|req| Frame::QueryActivity { req }).await;
        if matches!(report, Frame::Activity { terminals: 0, .. }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "terminal never timed out: {report:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (created, new_pid, _) = c.open(1, "idle").await;
    assert!(created && new_pid != pid);
}

#[tokio::test]
async fn activity_reports_input_and_running_commands() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    let report = c.request(|req| Frame::QueryActivity { req }).await;
    assert!(
        matches!(
            report,
            Frame::Activity {
                last_input_ago_ms: None,
                busy: false,
                terminals: 0,
                ..
            }
        ),
        "{report:?}"
    );
    c.open(1, "main").await;
    c.wait_output(1, PROMPT).await;
    c.input(1, "sleep 60\r").await;
    let busy = poll_activity(&mut c, |f| matches!(f, Frame::Activity { busy: true, .. })).await;
    assert!(
        matches!(busy, Frame::Activity { last_input_ago_ms: Some(ms), processes: 1.., attachments: 1, .. } if ms < 20_000),
        "{busy:?}"
    );
    // The shell may not have handed the terminal to `sleep` yet when the agent first sees it
    // running (then the ^C reaches the shell, not `sleep`): interrupt until it is gone.
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        c.input(1, "\x03").await;
        let idle = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            poll_activity(&mut c, |f| {
                matches!(
                    f,
                    Frame::Activity {
                        busy: false,
                        processes: 0,
                        ..
                    }
                )
            }),
        )
        .await;
        if idle.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the foreground `sleep` outlived every ^C"
        );
    }
    // A background job keeps the workspace busy although the shell is at its prompt.
    c.input(1, "sleep 60 &\r").await;
    poll_activity(&mut c, |f| {
        matches!(
            f,
            Frame::Activity {
                busy: true,
                processes: 1,
                ..
            }
        )
    })
    .await;
}

async fn poll_activity(c: &mut Client, want: impl Fn(&Frame) -> bool) -> Frame {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        let report = c.request(|req| Frame::QueryActivity { req }).await;
        if want(&report) {
            return report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "activity never matched; last: {report:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
