//! One attachment's share of a terminal's output: a bounded queue between the terminal's PTY
//! reader (which pushes) and the connection (which pops as its client grants credit).
//!
//! The PTY reader never waits on a socket. It pushes each chunk to every outlet without
//! blocking, and before its next read waits until every outlet is back under its cap; an
//! outlet that does not get there within the stall timeout is cut off. So memory per
//! attachment is bounded by the cap plus one chunk, a slow-but-moving reader slows the shell
//! down like a real terminal would, and a stalled one holds everybody up for at most the
//! stall timeout, once.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use agent_protocol::ExitStatus;
use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Largest `Output` payload an outlet hands out at once.
pub const MAX_OUTPUT_CHUNK: usize = 64 * 1024;

/// Credit value that means "no flow control".
const UNLIMITED: u64 = u64::MAX;

pub struct Outlet {
    state: Mutex<State>,
    /// Wakes the consumer: data, credit or an end arrived.
    readable: Notify,
    /// Wakes the PTY reader: the queue drained below the cap, or the outlet ended.
    room: Notify,
    /// Queue size above which the PTY reader waits for this outlet.
    cap: usize,
}

struct State {
    queue: VecDeque<Bytes>,
    queued: usize,
    /// Output bytes the client still allows us to send.
    credit: u64,
    end: Option<End>,
}

/// Why an outlet stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The shell exited; queued output is still delivered first.
    Exited(ExitStatus),
    /// Detached by the client or cut off by the agent; queued output is dropped.
    Detached(String),
}

/// What the consumer gets next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Data(Bytes),
    End(End),
}

impl Outlet {
    pub fn new(cap: usize, window: u32) -> Self {
        Outlet {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued: 0,
                credit: if window == u32::MAX {
                    UNLIMITED
                } else {
                    window as u64
                },
                end: None,
            }),
            readable: Notify::new(),
            room: Notify::new(),
            cap,
        }
    }

    /// Queues a chunk (never blocks; the caller bounds the overshoot to one chunk by waiting
    /// for [`Outlet::wait_room`] before reading more).
    pub fn push(&self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        let mut s = self.state.lock().unwrap();
        if s.end.is_some() {
            return;
        }
        s.queued += chunk.len();
        s.queue.push_back(chunk);
        drop(s);
        self.readable.notify_one();
    }

    pub fn queued(&self) -> usize {
        self.state.lock().unwrap().queued
    }

    fn has_room(&self) -> bool {
        let s = self.state.lock().unwrap();
        s.queued <= self.cap || s.end.is_some()
    }

    /// Waits until the queue is at or below the cap (or the outlet ended). False if the
    /// deadline passed first.
    pub async fn wait_room(&self, deadline: Instant) -> bool {
        loop {
            let notified = self.room.notified();
            if self.has_room() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.has_room();
            }
        }
    }

    pub fn add_credit(&self, bytes: u32) {
        let mut s = self.state.lock().unwrap();
        if s.credit != UNLIMITED {
            s.credit = s.credit.saturating_add(bytes as u64).min(UNLIMITED - 1);
        }
        drop(s);
        self.readable.notify_one();
    }

    /// Ends the outlet after its queued output (the shell exited).
    pub fn finish(&self, status: ExitStatus) {
        self.end(End::Exited(status));
    }

    /// Ends the outlet now, dropping queued output.
    pub fn detach(&self, reason: impl Into<String>) {
        let mut s = self.state.lock().unwrap();
        s.queue.clear();
        s.queued = 0;
        drop(s);
        self.end(End::Detached(reason.into()));
    }

    fn end(&self, end: End) {
        let mut s = self.state.lock().unwrap();
        if s.end.is_none() {
            s.end = Some(end);
        }
        drop(s);
        self.readable.notify_one();
        self.room.notify_one();
    }

    pub fn is_ended(&self) -> bool {
        self.state.lock().unwrap().end.is_some()
    }

    /// The next piece of output the client has credit for, or the end.
    pub async fn next(&self) -> Next {
        loop {
            let notified = self.readable.notified();
            if let Some(next) = self.try_next() {
                return next;
            }
            notified.await;
        }
    }

    fn try_next(&self) -> Option<Next> {
        let mut s = self.state.lock().unwrap();
        if let Some(End::Detached(reason)) = &s.end {
            return Some(Next::End(End::Detached(reason.clone())));
        }
        if s.queue.is_empty() {
            return s.end.clone().map(Next::End);
        }
        if s.credit == 0 {
            return None;
        }
        let limit = (s.credit.min(MAX_OUTPUT_CHUNK as u64)) as usize;
        let data = take_up_to(&mut s.queue, limit);
        s.queued -= data.len();
        if s.credit != UNLIMITED {
            s.credit -= data.len() as u64;
        }
        let room = s.queued <= self.cap;
        drop(s);
        if room {
            self.room.notify_one();
        }
        Some(Next::Data(data))
    }
}

/// Pops up to `limit` bytes off the front of the queue, without copying when the front
/// chunk alone is enough.
fn take_up_to(queue: &mut VecDeque<Bytes>, limit: usize) -> Bytes {
    let front = queue.front_mut().expect("queue is not empty");
    if front.len() >= limit {
        let out = front.split_to(limit);
        if front.is_empty() {
            queue.pop_front();
        }
        return out;
    }
    if queue.len() == 1 || queue[0].len() + queue[1].len() > limit {
        return queue.pop_front().unwrap();
    }
    let mut out = BytesMut::with_capacity(limit);
    while let Some(front) = queue.front_mut() {
        let room = limit - out.len();
        if room == 0 {
            break;
        }
        if front.len() <= room {
            out.extend_from_slice(&queue.pop_front().unwrap());
        } else {
            out.extend_from_slice(&front.split_to(room));
        }
    }
    out.freeze()
}

/// How long the PTY reader may wait for its outlets before cutting stalled ones off.
pub fn deadline_after(stall: Duration) -> Instant {
    Instant::now() + stall
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credit_limits_what_is_handed_out() {
        let o = Outlet::new(100, 5);
        o.push(Bytes::from_static(b"hello world"));
        assert_eq!(o.next().await, Next::Data(Bytes::from_static(b"hello")));
        assert!(o.try_next().is_none(), "no credit left");
        o.add_credit(100);
        assert_eq!(o.next().await, Next::Data(Bytes::from_static(b" world")));
    }

    #[tokio::test]
    async fn small_chunks_are_coalesced_and_exit_comes_after_the_data() {
        let o = Outlet::new(100, u32::MAX);
        for c in ["a", "b", "c"] {
            o.push(Bytes::from(c));
        }
        o.finish(ExitStatus::Code(3));
        assert_eq!(o.next().await, Next::Data(Bytes::from_static(b"abc")));
        assert_eq!(o.next().await, Next::End(End::Exited(ExitStatus::Code(3))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_outlet_without_credit_times_out_and_detach_drops_the_queue() {
        let o = Outlet::new(4, 0);
        o.push(Bytes::from_static(b"0123456789"));
        assert!(!o.wait_room(deadline_after(Duration::from_secs(2))).await);
        o.detach("too slow");
        assert_eq!(o.queued(), 0);
        assert_eq!(o.next().await, Next::End(End::Detached("too slow".into())));
        assert!(o.wait_room(deadline_after(Duration::from_secs(2))).await);
    }
}
