//! One or more example values of every frame, shared by the codec tests and the fuzzer.

use agent_protocol::{ErrorCode, ExitStatus, Frame, ListEntry};
use bytes::Bytes;

pub fn all_bytes() -> Bytes {
    (0..=255u8).cycle().take(1000).collect::<Vec<_>>().into()
}

pub fn frames() -> Vec<Frame> {
    vec![
        Frame::Hello {
            min_version: 1,
            max_version: 3,
            software: "terminal-bridge/0.1 ✓".into(),
        },
        Frame::Ping { nonce: u64::MAX },
        Frame::Pong { nonce: 0 },
        Frame::Error {
            req: 7,
            code: ErrorCode::InvalidPath,
            message: "no".into(),
        },
        Frame::Error {
            req: 0,
            code: ErrorCode::Other(999),
            message: String::new(),
        },
        Frame::Ok { req: 1 },
        Frame::Open {
            stream: 2,
            terminal: "main".into(),
            cols: 80,
            rows: 24,
            window: u32::MAX,
        },
        Frame::Opened {
            stream: 2,
            created: true,
            pid: 42,
            replay: 1234,
        },
        Frame::Input {
            stream: 2,
            data: all_bytes(),
        },
        Frame::Output {
            stream: 2,
            data: Bytes::new(),
        },
        Frame::Output {
            stream: 3,
            data: all_bytes(),
        },
        Frame::Resize {
            stream: 2,
            cols: 200,
            rows: 50,
        },
        Frame::Credit {
            stream: 2,
            bytes: 65536,
        },
        Frame::Detach { stream: 2 },
        Frame::Detached {
            stream: 2,
            reason: "too slow".into(),
        },
        Frame::Exited {
            stream: 2,
            status: ExitStatus::Code(-1),
        },
        Frame::Exited {
            stream: 2,
            status: ExitStatus::Signal(9),
        },
        Frame::Close {
            req: 3,
            terminal: "main".into(),
        },
        Frame::Put {
            req: 4,
            path: "a/b.txt".into(),
            data: all_bytes(),
        },
        Frame::Delete {
            req: 5,
            path: "a".into(),
        },
        Frame::PutIf {
            req: 9,
            path: "dir/new.txt".into(),
            expect: None,
            data: all_bytes(),
        },
        Frame::PutIf {
            req: 10,
            path: "b".into(),
            expect: Some([0xab; 32]),
            data: Bytes::new(),
        },
        Frame::MakeDir {
            req: 13,
            path: "data/raw".into(),
        },
        Frame::DeleteIf {
            req: 11,
            path: "c/d".into(),
            expect: [7; 32],
        },
        Frame::Error {
            req: 12,
            code: ErrorCode::Changed,
            message: "changed".into(),
        },
        Frame::Move {
            req: 6,
            from: "a".into(),
            to: "b/c".into(),
        },
        Frame::Read {
            req: 7,
            path: "x".into(),
        },
        Frame::Content {
            req: 7,
            sha256: [0xab; 32],
            data: all_bytes(),
        },
        Frame::List { req: 8 },
        Frame::Listing {
            req: 8,
            entries: vec![
                ListEntry {
                    path: "a".into(),
                    size: 1,
                    sha256: [1; 32],
                },
                ListEntry {
                    path: "dir/é".into(),
                    size: u64::MAX,
                    sha256: [2; 32],
                },
            ],
        },
        Frame::Listing {
            req: 9,
            entries: vec![],
        },
        Frame::Watch { req: 10 },
        Frame::FileWritten {
            path: "f".into(),
            size: 3,
            sha256: [3; 32],
            content: Some("abc".into()),
        },
        Frame::FileWritten {
            path: "big".into(),
            size: 1 << 40,
            sha256: [4; 32],
            content: None,
        },
        Frame::FileDeleted { path: "f".into() },
        Frame::WatchOverflow,
        Frame::Flush { req: 11 },
        Frame::QueryActivity { req: 12 },
        Frame::Activity {
            req: 12,
            last_input_ago_ms: Some(1500),
            busy: true,
            processes: 2,
            terminals: 1,
            attachments: 3,
        },
        Frame::Activity {
            req: 13,
            last_input_ago_ms: None,
            busy: false,
            processes: 0,
            terminals: 0,
            attachments: 0,
        },
    ]
}
