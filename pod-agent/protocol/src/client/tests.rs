//! The client against scripted fake agents on in-memory streams.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::fake::{AgentReader, AgentWriter, fake_agent};
use super::*;
use crate::{ExitStatus, PROTOCOL_VERSION, ReadError, encode_to_vec};

/// How long a test waits for something that should happen at once.
const SOON: Duration = Duration::from_secs(10);

/// A client connected to a fake agent speaking `version` and running `script`.
async fn connect<F, Fut>(version: u16, script: F) -> (Client, Events, JoinHandle<()>)
where
    F: FnOnce(AgentReader, AgentWriter) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (stream, agent) = fake_agent(version, script);
    let (client, events) = Client::connect(stream, "test").await.expect("hello");
    (client, events, agent)
}

/// A sink that forwards a stream's events to a channel.
fn sink() -> (
    impl FnMut(StreamEvent) + Send + 'static,
    mpsc::UnboundedReceiver<StreamEvent>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        move |event| {
            let _ = tx.send(event);
        },
        rx,
    )
}

async fn next(rx: &mut mpsc::UnboundedReceiver<StreamEvent>) -> StreamEvent {
    tokio::time::timeout(SOON, rx.recv())
        .await
        .expect("a stream event in time")
        .expect("the sink is alive")
}

/// The next frame the fake agent receives.
async fn frame(r: &mut AgentReader) -> Frame {
    r.read_frame().await.unwrap().expect("a frame")
}

/// The agent's answer to `Open` for whatever stream the client chose.
async fn answer_open(r: &mut AgentReader, w: &mut AgentWriter) -> u32 {
    let Frame::Open { stream, .. } = frame(r).await else {
        panic!("expected Open")
    };
    w.send(&Frame::Opened {
        stream,
        created: true,
        pid: 42,
        replay: 0,
    })
    .await
    .unwrap();
    stream
}

fn output(stream: u32, n: usize) -> Frame {
    Frame::Output {
        stream,
        data: Bytes::from(vec![b'x'; n]),
    }
}

#[tokio::test]
async fn a_hello_naming_a_version_we_do_not_speak_is_refused() {
    for version in [0, PROTOCOL_VERSION + 1] {
        let (stream, _agent) = fake_agent(version, |_r, _w| async {});
        let err = Client::connect(stream, "test")
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(err, HandshakeError::Version { min, max } if min == version && max == version),
            "{err}"
        );
    }
    let (client, _events, _agent) = connect(1, |_r, _w| async {}).await;
    assert_eq!((client.version(), client.agent_software()), (1, "fake"));
}

#[tokio::test]
async fn answers_reach_their_requests_in_any_order() {
    let (client, _events, _agent) = connect(PROTOCOL_VERSION, |mut r, mut w| async move {
        let Frame::Read { req: first, .. } = frame(&mut r).await else {
            panic!()
        };
        let Frame::List { req: second } = frame(&mut r).await else {
            panic!()
        };
        w.send(&Frame::Listing {
            req: second,
            entries: Vec::new(),
        })
        .await
        .unwrap();
        w.send(&Frame::Error {
            req: first,
            code: ErrorCode::NotFound,
            message: "gone".into(),
        })
        .await
        .unwrap();
        std::future::pending::<()>().await;
    })
    .await;
    let (read, list) = tokio::join!(client.read("a"), async {
        tokio::task::yield_now().await;
        client.list().await
    });
    assert_eq!(list.unwrap(), Vec::new());
    assert_eq!(
        read.unwrap_err(),
        ClientError::Remote {
            code: ErrorCode::NotFound,
            message: "gone".into()
        }
    );
}

#[tokio::test]
async fn eof_in_the_middle_of_a_frame_fails_every_waiter_and_stream() {
    let (client, mut events, _agent) = connect(PROTOCOL_VERSION, |mut r, mut w| async move {
        answer_open(&mut r, &mut w).await;
        for _ in 0..2 {
            frame(&mut r).await;
        }
        // Half a frame, then hang up.
        let wire = encode_to_vec(&Frame::Ok { req: 1 }).unwrap();
        w.get_mut()
            .write_all(&wire[..wire.len() - 2])
            .await
            .unwrap();
        w.get_mut().flush().await.unwrap();
    })
    .await;
    let (on_stream, mut stream_events) = sink();
    let (_stream, _) = client.open("main", 80, 24, 1024, on_stream).await.unwrap();
    let (flush, list) =
        tokio::time::timeout(SOON, async { tokio::join!(client.flush(), client.list()) })
            .await
            .expect("no waiter may hang");
    let lost = Closed::Io(ReadError::UnexpectedEof.to_string());
    assert_eq!(flush.unwrap_err(), ClientError::Closed(lost.clone()));
    assert_eq!(list.unwrap_err(), ClientError::Closed(lost.clone()));
    assert_eq!(
        next(&mut stream_events).await,
        StreamEvent::Lost(lost.clone())
    );
    assert_eq!(client.closed(), Some(lost.clone()));
    assert!(events.recv().await.is_none(), "the event queue ends");
    // Later calls fail at once, and the close hooks still hear why.
    assert_eq!(
        client.watch().await.unwrap_err(),
        ClientError::Closed(lost.clone())
    );
    let (hook_tx, hook_rx) = tokio::sync::oneshot::channel();
    client.on_close(move |why| hook_tx.send(why.clone()).unwrap());
    assert_eq!(hook_rx.await.unwrap(), lost);
}

#[tokio::test]
async fn answers_to_unknown_ids_are_dropped_without_growing_anything() {
    let (client, _events, _agent) = connect(PROTOCOL_VERSION, |mut r, mut w| async move {
        let stream = answer_open(&mut r, &mut w).await;
        let Frame::Flush { req } = frame(&mut r).await else {
            panic!()
        };
        for stray in 1000..1100 {
            for frame in [
                Frame::Ok { req: stray },
                Frame::Content {
                    req: stray,
                    sha256: [0; 32],
                    data: Bytes::from_static(b"junk"),
                },
                Frame::Error {
                    req: stray,
                    code: ErrorCode::Io,
                    message: "junk".into(),
                },
                Frame::Opened {
                    stream: stray,
                    created: true,
                    pid: 1,
                    replay: 0,
                },
                output(stray, 10),
                Frame::Exited {
                    stream: stray,
                    status: ExitStatus::Code(0),
                },
                // Errors on the real stream that nothing sent on it asked for.
                Frame::Error {
                    req: stream,
                    code: ErrorCode::Io,
                    message: "junk".into(),
                },
            ] {
                w.feed(&frame).unwrap();
            }
        }
        w.feed(&Frame::Ok { req }).unwrap();
        w.flush().await.unwrap();
        std::future::pending::<()>().await;
    })
    .await;
    let (on_stream, mut stream_events) = sink();
    let (_stream, _) = client.open("main", 80, 24, 1024, on_stream).await.unwrap();
    client.flush().await.unwrap();
    {
        let state = client.shared.lock();
        assert!(state.requests.is_empty(), "no waiter left behind");
        assert_eq!(state.streams.len(), 1, "only the stream that was opened");
    }
    assert!(
        stream_events.try_recv().is_err(),
        "no unsolicited error reached the stream"
    );
    assert!(!client.is_closed());
}

#[tokio::test]
async fn a_stream_hears_one_error_per_frame_that_can_draw_one() {
    let (client, _events, _agent) = connect(PROTOCOL_VERSION, |mut r, mut w| async move {
        let stream = answer_open(&mut r, &mut w).await;
        let Frame::Input { .. } = frame(&mut r).await else {
            panic!()
        };
        for _ in 0..3 {
            w.feed(&Frame::Error {
                req: stream,
                code: ErrorCode::TooLarge,
                message: "input queue full".into(),
            })
            .unwrap();
        }
        w.feed(&output(stream, 1)).unwrap();
        w.flush().await.unwrap();
        std::future::pending::<()>().await;
    })
    .await;
    let (on_stream, mut events) = sink();
    let (stream, _) = client.open("main", 80, 24, 1024, on_stream).await.unwrap();
    stream.input(Bytes::from_static(b"ls\n")).unwrap();
    assert_eq!(
        next(&mut events).await,
        StreamEvent::Error {
            code: ErrorCode::TooLarge,
            message: "input queue full".into()
        }
    );
    assert_eq!(
        next(&mut events).await,
        StreamEvent::Output(Bytes::from_static(b"x"))
    );
}

#[tokio::test]
async fn output_is_accepted_within_credit_and_closes_the_connection_beyond_it() {
    let (client, _events, _agent) = connect(PROTOCOL_VERSION, |mut r, mut w| async move {
        let stream = answer_open(&mut r, &mut w).await;
        w.send(&output(stream, 10)).await.unwrap();
        let Frame::Credit { bytes: 5, .. } = frame(&mut r).await else {
            panic!("expected a credit of 5")
        };
        w.send(&output(stream, 5)).await.unwrap();
        w.send(&output(stream, 1)).await.unwrap();
        std::future::pending::<()>().await;
    })
    .await;
    let (on_stream, mut events) = sink();
    let (stream, _) = client.open("main", 80, 24, 10, on_stream).await.unwrap();
    assert_eq!(
        next(&mut events).await,
        StreamEvent::Output(vec![b'x'; 10].into())
    );
    stream.credit(5);
    assert_eq!(
        next(&mut events).await,
        StreamEvent::Output(vec![b'x'; 5].into())
    );
    let StreamEvent::Lost(Closed::Protocol(why)) = next(&mut events).await else {
        panic!("the connection should close")
    };
    assert!(why.contains("beyond its credit"), "{why}");
    assert!(client.is_closed());
}

#[tokio::test]
async fn a_stream_opened_without_flow_control_takes_any_output() {
    let (client, _events, _agent) = connect(PROTOCOL_VERSION, |mut r, mut w| async move {
        let stream = answer_open(&mut r, &mut w).await;
        for _ in 0..4 {
            w.send(&output(stream, 1 << 20)).await.unwrap();
        }
        w.send(&Frame::Exited {
            stream,
            status: ExitStatus::Code(3),
        })
        .await
        .unwrap();
        std::future::pending::<()>().await;
    })
    .await;
    let (on_stream, mut events) = sink();
    let (stream, _) = client
        .open("main", 80, 24, u32::MAX, on_stream)
        .await
        .unwrap();
    for _ in 0..4 {
        assert!(matches!(next(&mut events).await, StreamEvent::Output(d) if d.len() == 1 << 20));
    }
    assert_eq!(
        next(&mut events).await,
        StreamEvent::Exited(ExitStatus::Code(3))
    );
    assert!(
        client.shared.lock().streams.is_empty(),
        "an ended stream is forgotten"
    );
    drop(stream);
    assert!(!client.is_closed());
}

#[tokio::test]
async fn dropping_a_stream_detaches_it_and_a_refused_open_fails() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let (client, _events, _agent) = connect(PROTOCOL_VERSION, |mut r, mut w| async move {
        answer_open(&mut r, &mut w).await;
        let Frame::Open { stream, .. } = frame(&mut r).await else {
            panic!()
        };
        w.send(&Frame::Error {
            req: stream,
            code: ErrorCode::Spawn,
            message: "no shell".into(),
        })
        .await
        .unwrap();
        while let Ok(Some(frame)) = r.read_frame().await {
            seen_tx.send(frame).unwrap();
        }
    })
    .await;
    let (on_stream, _events) = sink();
    let (stream, opened) = client.open("main", 80, 24, 1024, on_stream).await.unwrap();
    assert_eq!(opened.pid, 42);
    let (on_other, _other) = sink();
    let err = client
        .open("other", 80, 24, 1024, on_other)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::Remote {
            code: ErrorCode::Spawn,
            message: "no shell".into()
        }
    );
    let id = stream.id();
    drop(stream);
    let detach = tokio::time::timeout(SOON, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        detach,
        Frame::Detach { stream: id },
        "only the open stream detaches"
    );
}

#[tokio::test]
async fn a_request_given_up_forgets_its_waiter() {
    let (client, _events, _agent) = connect(PROTOCOL_VERSION, |mut r, _w| async move {
        while let Ok(Some(_)) = r.read_frame().await {}
    })
    .await;
    let gave_up = tokio::time::timeout(Duration::from_millis(50), client.list()).await;
    assert!(gave_up.is_err());
    assert!(client.shared.lock().requests.is_empty());
}

#[tokio::test]
async fn pings_are_answered() {
    let (_client, _events, agent) = connect(PROTOCOL_VERSION, |mut r, mut w| async move {
        w.send(&Frame::Ping { nonce: 7 }).await.unwrap();
        assert_eq!(frame(&mut r).await, Frame::Pong { nonce: 7 });
    })
    .await;
    tokio::time::timeout(SOON, agent).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_delivers_what_was_queued_then_ends_the_stream() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let (client, _events, _agent) = connect(PROTOCOL_VERSION, |mut r, mut w| async move {
        let stream = answer_open(&mut r, &mut w).await;
        assert_eq!(stream, 1);
        while let Ok(Some(frame)) = r.read_frame().await {
            seen_tx.send(frame).unwrap();
        }
    })
    .await;
    let (on_stream, mut events) = sink();
    let (stream, _) = client.open("main", 80, 24, 1024, on_stream).await.unwrap();
    stream.input(Bytes::from_static(b"exit\n")).unwrap();
    client.shutdown(SOON).await;
    assert_eq!(next(&mut events).await, StreamEvent::Lost(Closed::Shutdown));
    assert!(matches!(seen.recv().await, Some(Frame::Input { .. })));
    assert!(
        seen.recv().await.is_none(),
        "the agent saw the end of the stream"
    );
    assert_eq!(
        stream.input(Bytes::new()).unwrap_err(),
        ClientError::Closed(Closed::Shutdown)
    );
}

#[tokio::test]
async fn a_flood_of_file_events_becomes_one_overflow() {
    let extra = 50;
    let (client, mut events, agent) = connect(PROTOCOL_VERSION, move |_r, mut w| async move {
        for i in 0..MAX_QUEUED_EVENTS + extra {
            w.feed(&Frame::FileDeleted {
                path: format!("f{i}"),
            })
            .unwrap();
        }
        w.flush().await.unwrap();
        std::future::pending::<()>().await;
    })
    .await;
    // Nothing is taken until the reader has queued all it will queue.
    let deadline = tokio::time::Instant::now() + SOON;
    while events.len() < MAX_QUEUED_EVENTS + 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue never filled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut received = 0;
    let mut overflows = 0;
    while received + overflows < MAX_QUEUED_EVENTS + 1 {
        match events.recv().await.unwrap() {
            FileEvent::Deleted { .. } => received += 1,
            FileEvent::Overflow => overflows += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((received, overflows), (MAX_QUEUED_EVENTS, 1));
    assert!(
        events.try_recv().is_none(),
        "events after the overflow were kept"
    );
    assert!(events.is_empty());
    agent.abort();
    drop(client);
}
