//! `pod-agent connect` relays the protocol byte for byte over stdin/stdout.

mod common;

use std::process::Stdio;

use agent_protocol::{Frame, FrameReader, FrameWriter, client_handshake};
use common::{Daemon, PATIENCE};
use sha2::Digest;
use tokio::process::Command;
use tokio::time::timeout;

#[tokio::test]
async fn connect_relays_both_ways_and_exits_when_either_side_closes() {
    let mut daemon = Daemon::start();
    let mut relay = Command::new(env!("CARGO_BIN_EXE_pod-agent"))
        .arg("connect")
        .arg("--socket")
        .arg(&daemon.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = FrameReader::new(relay.stdout.take().unwrap());
    let mut writer = FrameWriter::new(relay.stdin.take().unwrap());
    client_handshake(&mut reader, &mut writer, "via connect")
        .await
        .unwrap();

    // A terminal: the prompt has no newline, so it also proves nothing waits in a buffer.
    writer
        .send(&Frame::Open {
            stream: 1,
            terminal: "t".into(),
            cols: 80,
            rows: 24,
            window: u32::MAX,
        })
        .await
        .unwrap();
    writer
        .send(&Frame::Input {
            stream: 1,
            data: "echo $((6*7))\r".into(),
        })
        .await
        .unwrap();
    let mut output = Vec::new();
    while !String::from_utf8_lossy(&output).contains("42\r\n") {
        match timeout(PATIENCE, reader.read_frame())
            .await
            .expect("output through connect")
            .unwrap()
        {
            Some(Frame::Output { data, .. }) => output.extend_from_slice(&data),
            Some(_) => {}
            None => panic!("relay closed"),
        }
    }

    // Binary content both ways.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i % 251) as u8 ^ (i >> 11) as u8)
        .collect();
    writer
        .send(&Frame::Put {
            req: 1,
            path: "bin".into(),
            data: data.clone().into(),
        })
        .await
        .unwrap();
    writer
        .send(&Frame::Read {
            req: 2,
            path: "bin".into(),
        })
        .await
        .unwrap();
    loop {
        match timeout(PATIENCE, reader.read_frame())
            .await
            .expect("read answer")
            .unwrap()
        {
            Some(Frame::Content {
                req: 2,
                data: got,
                sha256,
            }) => {
                assert!(got == data);
                assert_eq!(sha256, <[u8; 32]>::from(sha2::Sha256::digest(&data)));
                break;
            }
            Some(Frame::Error { message, .. }) => panic!("{message}"),
            Some(_) => {}
            None => panic!("relay closed"),
        }
    }

    // Closing stdin ends the connection, and the relay exits.
    drop(writer);
    let status = timeout(PATIENCE, relay.wait())
        .await
        .expect("relay exits after stdin closes")
        .unwrap();
    assert!(status.success(), "{status}");

    // A second relay exits when the daemon goes away.
    let mut relay = Command::new(env!("CARGO_BIN_EXE_pod-agent"))
        .arg("connect")
        .arg("--socket")
        .arg(&daemon.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = FrameReader::new(relay.stdout.take().unwrap());
    let mut writer = FrameWriter::new(relay.stdin.take().unwrap());
    client_handshake(&mut reader, &mut writer, "via connect")
        .await
        .unwrap();
    daemon.kill();
    let status = timeout(PATIENCE, relay.wait())
        .await
        .expect("relay exits when the daemon dies")
        .unwrap();
    assert!(status.success(), "{status}");
    drop(writer);
}
