//! Reports changes that the user's programs make to the workspace.
//!
//! inotify (through `notify`) only says *which* paths were touched; after a path has been
//! quiet for the debounce interval the watcher looks at it and compares it with the record in
//! [`Files`]: a hash equal to the recorded one (the agent's own `Put`, or a touch that
//! changed nothing) is not reported, so each change is reported once whatever the number of
//! raw events. Directories are watched one by one (not recursively) so ignored trees such as
//! `node_modules` cost no inotify watches; a new directory is watched and then scanned, which
//! catches files created in it before the watch existed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_protocol::Frame;
use bytes::Bytes;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use crate::files::{Files, Probe, forget, recorded_under};
use crate::workspace::INTERNAL_PREFIX;

/// Events queued per subscriber before it is sent `WatchOverflow`.
const SUBSCRIBER_QUEUE: usize = 256;
/// How long a flush waits for its marker before going ahead anyway.
const FLUSH_MARKER_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Watcher {
    cmd_tx: mpsc::UnboundedSender<Command>,
}

enum Command {
    Subscribe(mpsc::Sender<Frame>),
    Flush(oneshot::Sender<()>),
}

struct Subscriber {
    tx: mpsc::Sender<Frame>,
    /// Events were dropped; `WatchOverflow` is owed before the next event.
    overflowed: bool,
}

struct Pending {
    first: Instant,
    last: Instant,
}

struct State {
    files: Arc<Files>,
    inotify: Arc<Mutex<RecommendedWatcher>>,
    debounce: Duration,
    content_cap: u64,
    pending: HashMap<String, Pending>,
    subscribers: Vec<Subscriber>,
    /// Flushes waiting for their marker file's event: (marker number, started, reply).
    flushes: Vec<(u64, Instant, oneshot::Sender<()>)>,
    next_marker: u64,
    marker_seen: u64,
}

impl Watcher {
    /// Records the workspace's current files, watches its directories, and starts reporting.
    pub fn start(
        files: Arc<Files>,
        debounce: Duration,
        content_cap: u64,
    ) -> anyhow::Result<Watcher> {
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let inotify = notify::recommended_watcher(move |res| {
            let _ = raw_tx.send(res);
        })?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let mut state = State {
            files,
            inotify: Arc::new(Mutex::new(inotify)),
            debounce,
            content_cap,
            pending: HashMap::new(),
            subscribers: Vec::new(),
            flushes: Vec::new(),
            next_marker: 1,
            marker_seen: 0,
        };
        // The initial scan records without reporting: the bridge reconciles with `List`.
        state.scan("", &mut Vec::new());
        tokio::spawn(state.run(raw_rx, cmd_rx));
        Ok(Watcher { cmd_tx })
    }

    /// A channel of change events from now on, and a sender into the same channel so the
    /// caller can order its own frames (a flush's `Ok`) after the events.
    pub fn subscribe(&self) -> (mpsc::Sender<Frame>, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let _ = self.cmd_tx.send(Command::Subscribe(tx.clone()));
        (tx, rx)
    }

    /// Resolves once every change made before the call has been handed to the subscribers.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd_tx.send(Command::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl State {
    async fn run(
        mut self,
        mut raw_rx: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
        mut cmd_rx: mpsc::UnboundedReceiver<Command>,
    ) {
        loop {
            let due = self.next_due();
            tokio::select! {
                raw = raw_rx.recv() => match raw {
                    Some(Ok(event)) => self.note(event),
                    Some(Err(e)) => {
                        tracing::warn!("watch error, rescanning: {e}");
                        self.pending.insert(String::new(), Pending { first: Instant::now(), last: Instant::now() });
                    }
                    None => return,
                },
                cmd = cmd_rx.recv() => match cmd {
                    Some(Command::Subscribe(tx)) => self.subscribers.push(Subscriber { tx, overflowed: false }),
                    Some(Command::Flush(reply)) => self.start_flush(reply),
                    None => return,
                },
                _ = sleep_until(due.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))), if due.is_some() => {}
            }
            self.process().await;
        }
    }

    /// Records a raw event's paths as pending, and notes flush markers.
    fn note(&mut self, event: notify::Event) {
        if let EventKind::Access(kind) = event.kind
            && kind != AccessKind::Close(AccessMode::Write)
        {
            return;
        }
        let now = Instant::now();
        if event.need_rescan() {
            self.pending.insert(
                String::new(),
                Pending {
                    first: now,
                    last: now,
                },
            );
        }
        for path in &event.paths {
            let Some(rel) = relative(self.files.ws.root_path(), path) else {
                continue;
            };
            if let Some(n) = rel
                .strip_prefix(INTERNAL_PREFIX)
                .and_then(|r| r.strip_prefix("flush-"))
            {
                self.marker_seen = self.marker_seen.max(n.parse().unwrap_or(0));
                continue;
            }
            if rel.is_empty() || self.files.ws.is_ignored(&rel) {
                continue;
            }
            self.pending
                .entry(rel)
                .and_modify(|p| p.last = now)
                .or_insert(Pending {
                    first: now,
                    last: now,
                });
        }
    }

    fn start_flush(&mut self, reply: oneshot::Sender<()>) {
        let n = self.next_marker;
        self.next_marker += 1;
        // A marker file created after the call: once its event is read, inotify has handed
        // over every earlier event too (one queue, in order).
        let name = format!("{INTERNAL_PREFIX}flush-{n}");
        let ws = &self.files.ws;
        let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW;
        if ws
            .open_beneath(&name, flags, Mode::from_bits_truncate(0o600))
            .is_ok()
        {
            let _ = unlinkat(ws.root(), name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        self.flushes.push((n, Instant::now(), reply));
    }

    fn next_due(&self) -> Option<Instant> {
        let max_wait = (self.debounce * 10).max(Duration::from_secs(1));
        let paths = self
            .pending
            .values()
            .map(|p| (p.last + self.debounce).min(p.first + max_wait));
        let flushes = self
            .flushes
            .iter()
            .map(|(_, t, _)| *t + FLUSH_MARKER_TIMEOUT);
        paths.chain(flushes).min()
    }

    /// Checks the paths whose quiet period is over (all of them if a flush is ready), reports
    /// the changes, then answers the ready flushes.
    async fn process(&mut self) {
        let now = Instant::now();
        let flush_ready = self
            .flushes
            .iter()
            .any(|(n, t, _)| *n <= self.marker_seen || now >= *t + FLUSH_MARKER_TIMEOUT);
        let max_wait = (self.debounce * 10).max(Duration::from_secs(1));
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                flush_ready || now >= p.last + self.debounce || now >= p.first + max_wait
            })
            .map(|(k, _)| k.clone())
            .collect();
        if !due.is_empty() {
            for k in &due {
                self.pending.remove(k);
            }
            let mut checker = self.checker();
            let frames = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                for rel in due {
                    checker.check(&rel, &mut out);
                }
                out
            })
            .await
            .unwrap_or_default();
            self.deliver(frames);
        }
        if flush_ready {
            let marker_seen = self.marker_seen;
            let (ready, waiting) = std::mem::take(&mut self.flushes)
                .into_iter()
                .partition(|(n, t, _)| *n <= marker_seen || now >= *t + FLUSH_MARKER_TIMEOUT);
            self.flushes = waiting;
            for (_, _, reply) in ready {
                let _ = reply.send(());
            }
        }
    }

    fn deliver(&mut self, frames: Vec<Frame>) {
        self.subscribers.retain(|s| !s.tx.is_closed());
        for sub in &mut self.subscribers {
            for frame in &frames {
                if sub.overflowed {
                    if sub.tx.try_send(Frame::WatchOverflow).is_err() {
                        continue;
                    }
                    sub.overflowed = false;
                }
                if sub.tx.try_send(frame.clone()).is_err() {
                    sub.overflowed = true;
                }
            }
        }
    }

    fn checker(&self) -> Checker {
        Checker {
            files: self.files.clone(),
            inotify: self.inotify.clone(),
            content_cap: self.content_cap,
        }
    }

    fn scan(&mut self, rel: &str, out: &mut Vec<Frame>) {
        self.checker().scan(rel, out);
    }
}

/// The blocking half: looks at paths and compares them with the record.
struct Checker {
    files: Arc<Files>,
    inotify: Arc<Mutex<RecommendedWatcher>>,
    content_cap: u64,
}

impl Checker {
    fn check(&mut self, rel: &str, out: &mut Vec<Frame>) {
        if rel.is_empty() {
            return self.scan("", out);
        }
        let mut known = self.files.known();
        match self.files.probe(rel, self.content_cap) {
            Probe::File {
                size,
                sha256,
                content,
            } => {
                // A directory replaced by a file: what was recorded beneath it is gone.
                for gone in recorded_under(&known, rel).into_iter().filter(|k| k != rel) {
                    known.remove(&gone);
                    out.push(Frame::FileDeleted { path: gone });
                }
                if known.get(rel) != Some(&(size, sha256)) {
                    known.insert(rel.to_owned(), (size, sha256));
                    out.push(Frame::FileWritten {
                        path: rel.to_owned(),
                        size,
                        sha256,
                        content: content.map(Bytes::from),
                    });
                }
            }
            Probe::Dir => {
                if known.remove(rel).is_some() {
                    out.push(Frame::FileDeleted {
                        path: rel.to_owned(),
                    });
                }
                drop(known);
                self.scan(rel, out);
            }
            Probe::Missing | Probe::Other => {
                for gone in forget(&mut known, rel) {
                    out.push(Frame::FileDeleted { path: gone });
                }
            }
        }
    }

    /// Watches directory `rel` and everything beneath it, and reconciles the record with it.
    fn scan(&mut self, rel: &str, out: &mut Vec<Frame>) {
        self.watch(rel);
        let mut files = Vec::new();
        let walked = self.files.walk(rel, &mut |child, is_dir| {
            files.push((child.to_owned(), is_dir))
        });
        if walked.is_err() {
            return;
        }
        for (child, is_dir) in &files {
            if *is_dir {
                self.watch(child);
            }
        }
        for (child, is_dir) in &files {
            if !*is_dir {
                self.check(child, out);
            }
        }
        // Recorded files under `rel` that the walk did not see are gone.
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let seen: HashSet<&str> = files
            .iter()
            .filter(|(_, d)| !d)
            .map(|(f, _)| f.as_str())
            .collect();
        let mut known = self.files.known();
        let stale: Vec<String> = known
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .filter(|k| !seen.contains(k.as_str()))
            .collect();
        for gone in stale {
            known.remove(&gone);
            out.push(Frame::FileDeleted { path: gone });
        }
    }

    fn watch(&self, rel: &str) {
        let path = self.files.ws.root_path().join(rel);
        if let Err(e) = self
            .inotify
            .lock()
            .unwrap()
            .watch(&path, RecursiveMode::NonRecursive)
        {
            tracing::debug!("watch {}: {e}", path.display());
        }
    }
}

/// `path` relative to `root`, as a `/`-separated UTF-8 string.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel: PathBuf = path.strip_prefix(root).ok()?.to_path_buf();
    rel.to_str().map(str::to_owned)
}
