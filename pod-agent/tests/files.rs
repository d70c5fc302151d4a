//! File operations and change events through the real daemon, on real files.

mod common;

use agent_protocol::{ErrorCode, Frame};
use common::{Client, Daemon, PROMPT, short};
use sha2::Digest;

fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

async fn put(c: &mut Client, path: &str, data: Vec<u8>) -> Frame {
    c.request(|req| Frame::Put {
        req,
        path: path.into(),
        data: data.into(),
    })
    .await
}

async fn read(c: &mut Client, path: &str) -> Frame {
    c.request(|req| Frame::Read {
        req,
        path: path.into(),
    })
    .await
}

fn assert_refused(frame: &Frame, what: &str) {
    assert!(
        matches!(
            frame,
            Frame::Error {
                code: ErrorCode::InvalidPath,
                ..
            }
        ),
        "{what}: {}",
        short(frame)
    );
}

#[tokio::test]
async fn ten_megabytes_with_every_byte_value_round_trip() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    let data: Vec<u8> = (0..10_000_000u32)
        .map(|i| (i ^ (i >> 8) ^ (i >> 16)) as u8)
        .collect();
    assert!((0..=255u8).all(|b| data.contains(&b)));
    let ok = put(&mut c, "deep/er/big.bin", data.clone()).await;
    assert!(matches!(ok, Frame::Ok { .. }), "{}", short(&ok));
    assert_eq!(
        std::fs::read(daemon.path("deep/er/big.bin")).unwrap(),
        data,
        "on disk"
    );
    let expected = sha256(&data);
    match read(&mut c, "deep/er/big.bin").await {
        Frame::Content {
            sha256: digest,
            data: got,
            ..
        } => {
            assert_eq!(digest, expected, "the agent's hash");
            assert!(got == data, "the content read back");
        }
        other => panic!("{}", short(&other)),
    }
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(daemon.path("deep/er"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["big.bin"]);
}

#[tokio::test]
async fn list_move_and_delete() {
    let daemon = Daemon::start();
    std::fs::create_dir_all(daemon.path("node_modules/pkg")).unwrap();
    std::fs::write(daemon.path("node_modules/pkg/index.js"), "x").unwrap();
    let mut c = daemon.client().await;
    put(&mut c, "a.txt", b"alpha".to_vec()).await;
    put(&mut c, "src/b.py", b"print(1)\n".to_vec()).await;
    let Frame::Listing { entries, .. } = c.request(|req| Frame::List { req }).await else {
        panic!()
    };
    let listed: Vec<_> = entries
        .iter()
        .map(|e| (e.path.as_str(), e.size, e.sha256))
        .collect();
    assert_eq!(
        listed,
        [
            ("a.txt", 5, sha256(b"alpha")),
            ("src/b.py", 9, sha256(b"print(1)\n"))
        ]
    );

    let ok = c
        .request(|req| Frame::Move {
            req,
            from: "src".into(),
            to: "lib/src".into(),
        })
        .await;
    assert!(matches!(ok, Frame::Ok { .. }), "{}", short(&ok));
    assert!(matches!(
        read(&mut c, "lib/src/b.py").await,
        Frame::Content { .. }
    ));
    assert!(matches!(
        read(&mut c, "src/b.py").await,
        Frame::Error {
            code: ErrorCode::NotFound,
            ..
        }
    ));

    let ok = c
        .request(|req| Frame::Delete {
            req,
            path: "lib".into(),
        })
        .await;
    assert!(matches!(ok, Frame::Ok { .. }), "{}", short(&ok));
    assert!(!daemon.path("lib").exists());
    let gone = c
        .request(|req| Frame::Delete {
            req,
            path: "lib".into(),
        })
        .await;
    assert!(matches!(
        gone,
        Frame::Error {
            code: ErrorCode::NotFound,
            ..
        }
    ));
}

#[tokio::test]
async fn paths_outside_the_workspace_are_refused() {
    let daemon = Daemon::start();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s3cret").unwrap();
    std::os::unix::fs::symlink(outside.path(), daemon.path("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", daemon.path("pw")).unwrap();
    std::fs::create_dir(daemon.path("d")).unwrap();
    std::os::unix::fs::symlink("../..", daemon.path("d/up")).unwrap();
    let mut c = daemon.client().await;

    for path in ["../x", "/etc/passwd", "a/../../x", "./a", "a//b", ""] {
        assert_refused(&read(&mut c, path).await, path);
        assert_refused(&put(&mut c, path, b"x".to_vec()).await, path);
    }
    assert_refused(
        &read(&mut c, "link/secret").await,
        "read through a symlinked dir",
    );
    assert_refused(&read(&mut c, "pw").await, "read a symlink to /etc/passwd");
    assert_refused(&read(&mut c, "d/up/ws/pw").await, "read through ../..");
    assert_refused(
        &put(&mut c, "link/new", b"x".to_vec()).await,
        "put through a symlinked dir",
    );
    assert_refused(
        &put(&mut c, "link/sub/new", b"x".to_vec()).await,
        "put creating dirs through a symlink",
    );
    let mv = c
        .request(|req| Frame::Move {
            req,
            from: "pw".into(),
            to: "link/stolen".into(),
        })
        .await;
    assert_refused(&mv, "move into a symlinked dir");
    let del = c
        .request(|req| Frame::Delete {
            req,
            path: "link/secret".into(),
        })
        .await;
    assert_refused(&del, "delete through a symlinked dir");
    let names: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["secret"], "nothing was written outside");
    assert_eq!(
        std::fs::read(outside.path().join("secret")).unwrap(),
        b"s3cret"
    );

    // Putting over the symlink itself replaces the link, never writes through it.
    assert!(matches!(
        put(&mut c, "pw", b"mine".to_vec()).await,
        Frame::Ok { .. }
    ));
    assert!(!daemon.path("pw").is_symlink());
    assert_eq!(std::fs::read(daemon.path("pw")).unwrap(), b"mine");
}

/// Collects change events until a `Flush` is answered: every change made before the flush.
async fn events_until_flushed(c: &mut Client) -> Vec<Frame> {
    let req = c.req();
    c.send(Frame::Flush { req }).await;
    let mut events = Vec::new();
    loop {
        let f = c.wait_frame("events and the flush's Ok", |_| true).await;
        match f {
            Frame::Ok { req: r } if r == req => return events,
            Frame::FileWritten { .. } | Frame::FileDeleted { .. } | Frame::WatchOverflow => {
                events.push(f)
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_file_created_from_the_shell_is_reported_once() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    assert!(matches!(
        c.request(|req| Frame::Watch { req }).await,
        Frame::Ok { .. }
    ));
    c.open(1, "sh").await;
    c.wait_output(1, PROMPT).await;
    c.input(
        1,
        "mkdir -p pkg/sub && echo hello > pkg/sub/made.txt && echo $((5*5))\r",
    )
    .await;
    c.wait_output(1, "25\r\n").await;
    let event = c
        .wait_frame("FileWritten", |f| matches!(f, Frame::FileWritten { .. }))
        .await;
    let Frame::FileWritten {
        path,
        size,
        sha256: digest,
        content,
    } = event
    else {
        unreachable!()
    };
    assert_eq!((path.as_str(), size), ("pkg/sub/made.txt", 6));
    assert_eq!(digest, sha256(b"hello\n"));
    assert_eq!(content.as_deref(), Some(&b"hello\n"[..]));
    let more = events_until_flushed(&mut c).await;
    assert!(
        more.is_empty(),
        "reported more than once: {:?}",
        more.iter().map(short).collect::<Vec<_>>()
    );

    // Renames and deletions from the shell, and ignored directories.
    c.input(
        1,
        "mv pkg/sub/made.txt moved.txt; mkdir -p __pycache__; echo x > __pycache__/c.pyc\r",
    )
    .await;
    let events: Vec<String> = flushed_after(&mut c, |e| {
        e.iter().any(|f| matches!(f, Frame::FileWritten { .. }))
    })
    .await;
    assert_eq!(events, ["deleted pkg/sub/made.txt", "written moved.txt"]);
    c.input(1, "rm moved.txt\r").await;
    let events = flushed_after(&mut c, |e| !e.is_empty()).await;
    assert_eq!(events, ["deleted moved.txt"]);
}

/// Flushes until the events satisfy `enough`, and returns them sorted as text.
async fn flushed_after(c: &mut Client, enough: impl Fn(&[Frame]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    let mut all = Vec::new();
    loop {
        all.extend(events_until_flushed(c).await);
        if enough(&all) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "events: {:?}",
            all.iter().map(short).collect::<Vec<_>>()
        );
    }
    let mut text: Vec<String> = all
        .iter()
        .map(|f| match f {
            Frame::FileWritten { path, .. } => format!("written {path}"),
            Frame::FileDeleted { path } => format!("deleted {path}"),
            other => short(other),
        })
        .collect();
    text.sort();
    text
}

#[tokio::test]
async fn the_agents_own_writes_are_not_reported() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    assert!(matches!(
        c.request(|req| Frame::Watch { req }).await,
        Frame::Ok { .. }
    ));
    put(&mut c, "mine.txt", b"from the editor".to_vec()).await;
    put(&mut c, "dir/other.txt", b"x".to_vec()).await;
    c.request(|req| Frame::Move {
        req,
        from: "dir/other.txt".into(),
        to: "moved.txt".into(),
    })
    .await;
    c.request(|req| Frame::Delete {
        req,
        path: "dir".into(),
    })
    .await;
    let events = events_until_flushed(&mut c).await;
    assert!(
        events.is_empty(),
        "echoed: {:?}",
        events.iter().map(short).collect::<Vec<_>>()
    );

    // A user's change to the same file is reported.
    std::fs::write(daemon.path("mine.txt"), "from the shell").unwrap();
    let events = flushed_after(&mut c, |e| !e.is_empty()).await;
    assert_eq!(events, ["written mine.txt"]);
}

async fn put_if(c: &mut Client, path: &str, expect: Option<[u8; 32]>, data: &[u8]) -> Frame {
    c.request(|req| Frame::PutIf {
        req,
        path: path.into(),
        expect,
        data: data.to_vec().into(),
    })
    .await
}

fn is_changed(frame: &Frame) -> bool {
    matches!(
        frame,
        Frame::Error {
            code: ErrorCode::Changed,
            ..
        }
    )
}

/// `PutIf` and `DeleteIf` write only over what the client last saw; a file changed in the
/// meantime (here behind the agent's back, before the watcher reported it) is left alone.
#[tokio::test]
async fn conditional_writes_never_overwrite_a_change_they_did_not_expect() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    assert!(matches!(
        c.request(|req| Frame::Watch { req }).await,
        Frame::Ok { .. }
    ));
    // Create-only: refused where something is already there, a folder included.
    assert!(matches!(
        put_if(&mut c, "new/a.txt", None, b"one").await,
        Frame::Ok { .. }
    ));
    assert!(is_changed(&put_if(&mut c, "new/a.txt", None, b"two").await));
    assert!(is_changed(&put_if(&mut c, "new", None, b"two").await));
    assert_eq!(std::fs::read(daemon.path("new/a.txt")).unwrap(), b"one");

    // Replace what was expected: done, and (being the agent's own write) not reported.
    let one = sha256(b"one");
    assert!(matches!(
        put_if(&mut c, "new/a.txt", Some(one), b"three").await,
        Frame::Ok { .. }
    ));
    assert!(events_until_flushed(&mut c).await.is_empty());

    // A change from the sandbox the client has not seen: nothing is written.
    std::fs::write(daemon.path("new/a.txt"), "from the shell").unwrap();
    let three = sha256(b"three");
    assert!(is_changed(
        &put_if(&mut c, "new/a.txt", Some(three), b"four").await
    ));
    assert_eq!(
        std::fs::read(daemon.path("new/a.txt")).unwrap(),
        b"from the shell"
    );
    let refused = c
        .request(|req| Frame::DeleteIf {
            req,
            path: "new/a.txt".into(),
            expect: three,
        })
        .await;
    assert!(is_changed(&refused), "{}", short(&refused));
    assert!(daemon.path("new/a.txt").exists());
    // The shell's change is still reported.
    let events = flushed_after(&mut c, |e| !e.is_empty()).await;
    assert_eq!(events, ["written new/a.txt"]);

    // Once seen, it can be replaced or deleted.
    let shell = sha256(b"from the shell");
    let deleted = c
        .request(|req| Frame::DeleteIf {
            req,
            path: "new/a.txt".into(),
            expect: shell,
        })
        .await;
    assert!(matches!(deleted, Frame::Ok { .. }), "{}", short(&deleted));
    assert!(!daemon.path("new/a.txt").exists());
    let missing = c
        .request(|req| Frame::DeleteIf {
            req,
            path: "new/a.txt".into(),
            expect: shell,
        })
        .await;
    assert!(
        matches!(
            missing,
            Frame::Error {
                code: ErrorCode::NotFound,
                ..
            }
        ),
        "{}",
        short(&missing)
    );
    // A symlink is never what a conditional write expected.
    std::os::unix::fs::symlink("/etc/passwd", daemon.path("link")).unwrap();
    assert!(is_changed(&put_if(&mut c, "link", None, b"x").await));
    assert!(is_changed(
        &put_if(&mut c, "link", Some(sha256(b"x")), b"x").await
    ));
    assert!(daemon.path("link").is_symlink());
}

/// `MakeDir` makes a directory and its parents (an empty folder made in the editor), is
/// idempotent, refuses a file in the way, and never leaves the workspace.
#[tokio::test]
async fn make_dir_creates_folders_only_inside() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    let make = |path: &str| {
        let path = path.to_owned();
        move |req| Frame::MakeDir { req, path }
    };
    for _ in 0..2 {
        let made = c.request(make("data/raw/2026")).await;
        assert!(matches!(made, Frame::Ok { .. }), "{}", short(&made));
    }
    assert!(daemon.path("data/raw/2026").is_dir());
    put(&mut c, "notes.txt", b"x".to_vec()).await;
    let refused = c.request(make("notes.txt")).await;
    assert!(
        matches!(
            refused,
            Frame::Error {
                code: ErrorCode::Io,
                ..
            }
        ),
        "{}",
        short(&refused)
    );
    assert!(daemon.path("notes.txt").is_file());
    assert_refused(&c.request(make("../outside")).await, "a parent path");
    std::os::unix::fs::symlink("/tmp", daemon.path("escape")).unwrap();
    let escaped = c.request(make("escape/made-by-agent")).await;
    assert!(!matches!(escaped, Frame::Ok { .. }), "{}", short(&escaped));
    assert!(!std::path::Path::new("/tmp/made-by-agent").exists());
}
