//! A deterministic fuzz loop: arbitrary and mutated bytes must decode to a frame or an error,
//! never panic, and whatever decodes must re-encode to something that decodes the same.

mod samples;

use agent_protocol::{decode, decode_slice, encode_to_vec};
use bytes::BytesMut;

/// xorshift64*: tiny, seedable, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn check(input: &[u8]) {
    if let Ok(Some((frame, used))) = decode_slice(input) {
        assert!(used <= input.len());
        let again = encode_to_vec(&frame).expect("a decoded frame re-encodes");
        assert_eq!(decode_slice(&again).unwrap().unwrap().0, frame);
    }
    // The streaming decoder must agree and never panic either.
    let mut buf = BytesMut::from(input);
    while let Ok(Some(_)) = decode(&mut buf) {}
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..20_000 {
        let n = rng.below(64);
        let mut input = rng.bytes(n);
        // Give a good share of inputs a plausible small length prefix and a known type, so the
        // fuzzer gets past the first checks.
        if input.len() >= 5 && rng.below(2) == 0 {
            let len = (input.len() - 4) as u32;
            input[..4].copy_from_slice(&len.to_be_bytes());
            input[4] = [0x01, 0x04, 0x10, 0x13, 0x18, 0x20, 0x24, 0x26, 0x28, 0x31][rng.below(10)];
        }
        check(&input);
    }
}

#[test]
fn mutated_valid_frames_never_panic() {
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let seeds: Vec<Vec<u8>> = samples::frames()
        .iter()
        .map(|f| encode_to_vec(f).unwrap())
        .collect();
    for _ in 0..30_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            match rng.below(5) {
                0 => {
                    let i = rng.below(input.len());
                    input[i] = rng.next() as u8;
                }
                1 => input.truncate(rng.below(input.len() + 1)),
                2 => {
                    let i = rng.below(input.len() + 1);
                    let n = rng.below(8) + 1;
                    let extra = rng.bytes(n);
                    input.splice(i..i, extra);
                }
                3 if input.len() > 4 => {
                    // Rewrite the length prefix to match the body, so field-level checks run.
                    let len = (input.len() - 4) as u32;
                    input[..4].copy_from_slice(&len.to_be_bytes());
                }
                _ => {
                    if input.len() >= 13 {
                        // Corrupt what is often a length field of a string or bytes.
                        let i = 5 + rng.below(input.len() - 12);
                        input[i..i + 4].copy_from_slice(&(rng.next() as u32).to_be_bytes());
                    }
                }
            }
            if input.is_empty() {
                break;
            }
        }
        check(&input);
    }
}

#[test]
fn garbage_after_valid_frames_is_an_error_not_a_panic() {
    let mut rng = Rng(42);
    for frame in samples::frames() {
        let mut input = encode_to_vec(&frame).unwrap();
        input.extend(rng.bytes(32));
        let mut buf = BytesMut::from(&input[..]);
        assert_eq!(decode(&mut buf).unwrap(), Some(frame));
        let _ = decode(&mut buf);
    }
}
