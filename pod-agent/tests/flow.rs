//! Flow control: credit limits what a client receives, and a stalled attachment can neither
//! grow the agent's memory nor starve the other attachments.

mod common;

use std::time::Instant;

use agent_protocol::{Frame, FrameWriter, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
use common::{Client, Daemon, PROMPT};
use tokio::net::UnixStream;

#[tokio::test]
async fn output_never_exceeds_the_granted_credit() {
    let daemon = Daemon::start();
    let mut c = daemon.client().await;
    // Open with a 10-byte window and no automatic top-up: read raw frames.
    c.send(Frame::Open {
        stream: 1,
        terminal: "t".into(),
        cols: 80,
        rows: 24,
        window: 10,
    })
    .await;
    let mut other = daemon.client().await;
    other.open(2, "t").await;
    other.input(2, "echo $((6*7))\r").await;
    other.wait_output(2, "42\r\n").await;
    // Our stream got at most 10 bytes. (A Pong proves the agent has had time to send more.)
    c.auto_credit = false;
    c.request_ping(9).await;
    let got = c.outputs.get(&1).map_or(0, |o| o.total);
    assert!(got <= 10, "received {got} bytes with a window of 10");
    // Credit lets the rest through.
    c.auto_credit = true;
    c.send(Frame::Credit {
        stream: 1,
        bytes: 1 << 20,
    })
    .await;
    c.wait_output(1, "42\r\n").await;
}

#[tokio::test]
async fn a_stalled_attachment_is_cut_off_while_the_shell_prints_100_mb() {
    const TOTAL: u64 = 100_000_000;
    let daemon = Daemon::start();

    // The stalled client: says hello, attaches with unlimited credit, then reads nothing.
    let stalled = UnixStream::connect(&daemon.socket).await.unwrap();
    let (stalled_r, stalled_w) = stalled.into_split();
    let mut stalled_w = FrameWriter::new(stalled_w);
    stalled_w
        .send(&Frame::Hello {
            min_version: MIN_PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            software: "stall".into(),
        })
        .await
        .unwrap();
    stalled_w
        .send(&Frame::Open {
            stream: 1,
            terminal: "big".into(),
            cols: 80,
            rows: 24,
            window: u32::MAX,
        })
        .await
        .unwrap();

    let mut fast = daemon.client().await;
    fast.counting = true;
    fast.open(1, "big").await;
    fast.wait_output(1, PROMPT).await;
    let started = Instant::now();
    fast.input(
        1,
        &format!("head -c {TOTAL} /dev/zero | tr '\\0' a; echo; echo $((40+2))DONE\r"),
    )
    .await;
    fast.wait_output(1, "42DONE").await;
    let elapsed = started.elapsed();
    let out = &fast.outputs[&1];
    assert_eq!(
        out.longest_a_run, TOTAL,
        "the live attachment received every byte"
    );

    let peak_kib = daemon.memory_kib("VmHWM");
    eprintln!(
        "100 MB in {:.1} s ({:.0} MB/s) with a stalled attachment; daemon peak RSS {} KiB",
        elapsed.as_secs_f64(),
        TOTAL as f64 / 1e6 / elapsed.as_secs_f64(),
        peak_kib
    );
    assert!(peak_kib < 64 * 1024, "daemon peak RSS {peak_kib} KiB");

    // The stalled client, once it reads, finds a little output and then the reason it was cut.
    let mut stalled = Client::raw(stalled_r, stalled_w.into_inner());
    let detached = stalled
        .wait_frame("Detached", |f| matches!(f, Frame::Detached { .. }))
        .await;
    let received = stalled.outputs.get(&1).map_or(0, |o| o.total);
    assert!(
        received < TOTAL / 10,
        "the stalled attachment got {received} bytes"
    );
    assert!(
        matches!(&detached, Frame::Detached { stream: 1, reason } if reason.contains("cut off")),
        "{detached:?}"
    );
}
