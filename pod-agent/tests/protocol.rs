//! Protocol errors: a bad peer gets an error and loses its connection, nobody else notices.

mod common;

use agent_protocol::{ErrorCode, Frame, FrameReader, FrameWriter, encode_to_vec};
use common::{Daemon, PROMPT};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

/// Connects raw, optionally says hello, writes `bytes`, and returns every frame until the
/// agent closes the connection.
async fn send_raw(daemon: &Daemon, hello: bool, bytes: &[u8]) -> Vec<Frame> {
    let stream = UnixStream::connect(&daemon.socket).await.unwrap();
    let (r, w) = stream.into_split();
    let mut reader = FrameReader::new(r);
    let mut writer = FrameWriter::new(w);
    if hello {
        agent_protocol::client_handshake(&mut reader, &mut writer, "bad")
            .await
            .unwrap();
    }
    writer.get_mut().write_all(bytes).await.unwrap();
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, reader.read_frame()).await {
            Ok(Ok(Some(f))) => frames.push(f),
            Ok(_) => return frames,
            Err(_) => panic!("the agent kept the connection open after {frames:?}"),
        }
    }
}

fn is_error(frames: &[Frame], code: ErrorCode) -> bool {
    matches!(frames.last(), Some(Frame::Error { req: 0, code: c, .. }) if *c == code)
}

#[tokio::test]
async fn malformed_frames_close_only_their_own_connection() {
    let daemon = Daemon::start();
    let mut good = daemon.client().await;
    good.open(1, "main").await;
    good.wait_output(1, PROMPT).await;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown type", vec![0, 0, 0, 1, 0xee]),
        ("zero length", vec![0, 0, 0, 0]),
        ("oversized length", vec![0xff, 0xff, 0xff, 0xff]),
        ("truncated field", vec![0, 0, 0, 3, 0x02, 0, 0]),
        ("trailing bytes", {
            let mut v = encode_to_vec(&Frame::Ping { nonce: 1 }).unwrap();
            v[3] += 1;
            v.push(0);
            v
        }),
        (
            "agent-only frame",
            encode_to_vec(&Frame::Output {
                stream: 1,
                data: "x".into(),
            })
            .unwrap(),
        ),
        (
            "second hello",
            encode_to_vec(&Frame::Hello {
                min_version: 1,
                max_version: 1,
                software: String::new(),
            })
            .unwrap(),
        ),
    ];
    for (what, bytes) in cases {
        let frames = send_raw(&daemon, true, &bytes).await;
        assert!(is_error(&frames, ErrorCode::Protocol), "{what}: {frames:?}");
        // The other connection and its terminal still work.
        good.request_ping(7).await;
        good.input(1, "echo $((6*7))\r").await;
        good.wait_output(1, "42\r\n").await;
        good.outputs.clear();
    }

    let before_hello = send_raw(
        &daemon,
        false,
        &encode_to_vec(&Frame::Ping { nonce: 1 }).unwrap(),
    )
    .await;
    assert!(
        is_error(&before_hello, ErrorCode::Protocol),
        "{before_hello:?}"
    );
    let garbage = send_raw(&daemon, false, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(
        garbage.is_empty() || is_error(&garbage, ErrorCode::Protocol),
        "{garbage:?}"
    );
    let future = Frame::Hello {
        min_version: 7,
        max_version: 9,
        software: "future".into(),
    };
    let refused = send_raw(&daemon, false, &encode_to_vec(&future).unwrap()).await;
    assert!(
        is_error(&refused, ErrorCode::UnsupportedVersion),
        "{refused:?}"
    );
    good.request_ping(8).await;
}

#[tokio::test]
async fn stream_errors_do_not_close_the_connection() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    c.input(5, "x").await;
    let err = c
        .wait_frame("Error", |f| matches!(f, Frame::Error { .. }))
        .await;
    assert!(
        matches!(
            err,
            Frame::Error {
                req: 5,
                code: ErrorCode::BadStream,
                ..
            }
        ),
        "{err:?}"
    );
    c.open(1, "t").await;
    c.send(Frame::Open {
        stream: 1,
        terminal: "u".into(),
        cols: 80,
        rows: 24,
        window: 100,
    })
    .await;
    let err = c
        .wait_frame("Error", |f| matches!(f, Frame::Error { .. }))
        .await;
    assert!(
        matches!(
            err,
            Frame::Error {
                req: 1,
                code: ErrorCode::BadStream,
                ..
            }
        ),
        "{err:?}"
    );
    c.request_ping(1).await;
}
