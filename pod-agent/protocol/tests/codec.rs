//! Round trips of every frame, and the specific malformed inputs the decoder must refuse.

mod samples;

use agent_protocol::{
    DecodeError, EncodeError, Frame, FrameReader, FrameWriter, MAX_FRAME_LEN, ReadError, decode,
    decode_slice, encode_to_vec,
};
use bytes::{Bytes, BytesMut};

#[test]
fn every_frame_round_trips() {
    for frame in samples::frames() {
        let wire = encode_to_vec(&frame).unwrap();
        let len = u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize;
        assert_eq!(len + 4, wire.len(), "length prefix of {frame:?}");
        assert_eq!(wire[4], frame.kind());
        let (back, used) = decode_slice(&wire).unwrap().expect("complete frame");
        assert_eq!(used, wire.len());
        assert_eq!(back, frame);
    }
}

#[test]
fn frames_decode_from_a_stream_fed_one_byte_at_a_time() {
    let frames = samples::frames();
    let mut wire = Vec::new();
    for f in &frames {
        wire.extend(encode_to_vec(f).unwrap());
    }
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for b in wire {
        buf.extend_from_slice(&[b]);
        while let Some(f) = decode(&mut buf).unwrap() {
            out.push(f);
        }
    }
    assert_eq!(out, frames);
    assert!(buf.is_empty());
}

#[test]
fn every_proper_prefix_is_incomplete() {
    for frame in samples::frames() {
        let wire = encode_to_vec(&frame).unwrap();
        for cut in 0..wire.len() {
            assert_eq!(
                decode_slice(&wire[..cut]),
                Ok(None),
                "{frame:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn oversized_length_is_refused_before_the_body_arrives() {
    let len = (MAX_FRAME_LEN + 1) as u32;
    assert_eq!(
        decode_slice(&len.to_be_bytes()),
        Err(DecodeError::TooLarge(MAX_FRAME_LEN + 1))
    );
    assert_eq!(
        decode_slice(&u32::MAX.to_be_bytes()),
        Err(DecodeError::TooLarge(u32::MAX as usize))
    );
    assert_eq!(decode_slice(&[0, 0, 0, 0]), Err(DecodeError::Empty));
}

#[test]
fn unknown_type_trailing_bytes_and_bad_fields_are_errors() {
    assert_eq!(
        decode_slice(&[0, 0, 0, 1, 0xee]),
        Err(DecodeError::UnknownType(0xee))
    );
    // Ping with 9 bytes of fields instead of 8.
    let mut ping = vec![0, 0, 0, 10, 0x02];
    ping.extend([0; 9]);
    assert_eq!(
        decode_slice(&ping),
        Err(DecodeError::TrailingBytes {
            kind: 0x02,
            extra: 1
        })
    );
    // Ping with 7 bytes.
    let mut short = vec![0, 0, 0, 8, 0x02];
    short.extend([0; 7]);
    assert!(matches!(
        decode_slice(&short),
        Err(DecodeError::Truncated { kind: 0x02, .. })
    ));
    // Opened whose bool is 2.
    let mut opened = encode_to_vec(&Frame::Opened {
        stream: 1,
        created: true,
        pid: 1,
        replay: 0,
    })
    .unwrap();
    opened[9] = 2;
    assert!(matches!(
        decode_slice(&opened),
        Err(DecodeError::InvalidValue { .. })
    ));
    // Detached whose reason is not UTF-8.
    let mut det = encode_to_vec(&Frame::Detached {
        stream: 1,
        reason: "ab".into(),
    })
    .unwrap();
    det[13] = 0xff;
    assert!(matches!(
        decode_slice(&det),
        Err(DecodeError::InvalidUtf8 { .. })
    ));
    // Hello without the magic.
    let mut hello = encode_to_vec(&Frame::Hello {
        min_version: 1,
        max_version: 1,
        software: String::new(),
    })
    .unwrap();
    hello[5] = b'X';
    assert_eq!(decode_slice(&hello), Err(DecodeError::BadMagic));
    // A string length running past the end of the body.
    let mut put = encode_to_vec(&Frame::Put {
        req: 1,
        path: "p".into(),
        data: Bytes::new(),
    })
    .unwrap();
    put[9..13].copy_from_slice(&1000u32.to_be_bytes());
    assert!(matches!(
        decode_slice(&put),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn listing_with_a_huge_count_does_not_allocate_it() {
    let mut wire = vec![0, 0, 0, 9, 0x26, 0, 0, 0, 1];
    wire.extend(u32::MAX.to_be_bytes());
    assert!(matches!(
        decode_slice(&wire),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn encoding_a_frame_over_the_limit_fails_cleanly() {
    let data = Bytes::from(vec![0u8; MAX_FRAME_LEN]);
    let err = encode_to_vec(&Frame::Output { stream: 1, data }).unwrap_err();
    assert!(matches!(err, EncodeError::TooLarge(_)));
}

#[tokio::test]
async fn reader_and_writer_carry_frames_over_a_stream() {
    let (a, b) = tokio::io::duplex(1024);
    let frames = samples::frames();
    let sent = frames.clone();
    let writer = tokio::spawn(async move {
        let mut w = FrameWriter::new(a);
        for f in &sent {
            w.feed(f).unwrap();
        }
        w.flush().await.unwrap();
    });
    let mut r = FrameReader::new(b);
    let mut got = Vec::new();
    while let Some(f) = r.read_frame().await.unwrap() {
        got.push(f);
    }
    writer.await.unwrap();
    assert_eq!(got, frames);
}

#[tokio::test]
async fn reader_reports_a_frame_cut_by_end_of_stream() {
    let wire = encode_to_vec(&Frame::Ping { nonce: 5 }).unwrap();
    let mut r = FrameReader::new(&wire[..wire.len() - 1]);
    assert!(matches!(
        r.read_frame().await,
        Err(ReadError::UnexpectedEof)
    ));
    let mut r = FrameReader::new(&[0xff, 0xff, 0xff, 0xff][..]);
    assert!(matches!(
        r.read_frame().await,
        Err(ReadError::Decode(DecodeError::TooLarge(_)))
    ));
}
