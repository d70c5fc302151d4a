//! The daemon's terminals by client-chosen id: open-or-attach, close, and the activity report.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, Weak};

use agent_protocol::Frame;

use crate::activity::{Activity, session_members};
use crate::fanout::Outlet;
use crate::reaper::Reaper;
use crate::terminal::{Terminal, TerminalSettings};

pub struct Registry {
    /// Held across looking up *and* spawning, so two simultaneous first opens of one id
    /// start one shell. Spawning is a fork+exec, so the lock is held for milliseconds.
    terminals: Mutex<HashMap<String, Arc<Terminal>>>,
    settings: Arc<TerminalSettings>,
    reaper: Arc<Reaper>,
    pub activity: Activity,
}

/// A new attachment, as `Opened` describes it.
pub struct Attached {
    pub terminal: Arc<Terminal>,
    pub outlet: Arc<Outlet>,
    pub created: bool,
    pub replay: u32,
}

impl Registry {
    pub fn new(settings: TerminalSettings, reaper: Arc<Reaper>) -> Arc<Registry> {
        Arc::new(Registry {
            terminals: Mutex::new(HashMap::new()),
            settings: Arc::new(settings),
            reaper,
            activity: Activity::default(),
        })
    }

    /// Attaches to terminal `id`, starting its shell first if it is not running.
    pub fn open(
        self: &Arc<Self>,
        id: &str,
        cols: u16,
        rows: u16,
        window: u32,
    ) -> io::Result<Attached> {
        let mut terminals = self.terminals.lock().unwrap();
        if let Some(terminal) = terminals.get(id)
            && let Some((outlet, replay)) = terminal.attach(window)
        {
            return Ok(Attached {
                terminal: terminal.clone(),
                outlet,
                created: false,
                replay,
            });
        }
        let registry: Weak<Registry> = Arc::downgrade(self);
        let terminal = Terminal::spawn(
            id.to_owned(),
            cols,
            rows,
            self.settings.clone(),
            &self.reaper,
            Box::new(move |t| {
                if let Some(r) = registry.upgrade() {
                    r.remove(t);
                }
            }),
        )?;
        let (outlet, replay) = terminal
            .attach(window)
            .expect("a new terminal accepts attachments");
        terminals.insert(id.to_owned(), terminal.clone());
        Ok(Attached {
            terminal,
            outlet,
            created: true,
            replay,
        })
    }

    /// Closes terminal `id`; false if there is none. The id is free for a new shell at once.
    pub fn close(&self, id: &str) -> bool {
        match self.terminals.lock().unwrap().remove(id) {
            Some(t) => {
                t.close();
                true
            }
            None => false,
        }
    }

    /// Closes every terminal (daemon shutdown).
    pub fn close_all(&self) {
        for (_, t) in self.terminals.lock().unwrap().drain() {
            t.close();
        }
    }

    fn remove(&self, terminal: &Arc<Terminal>) {
        let mut terminals = self.terminals.lock().unwrap();
        if terminals
            .get(&terminal.id)
            .is_some_and(|t| Arc::ptr_eq(t, terminal))
        {
            terminals.remove(&terminal.id);
        }
    }

    pub fn list(&self) -> Vec<Arc<Terminal>> {
        self.terminals.lock().unwrap().values().cloned().collect()
    }

    /// The `Activity` answer to `QueryActivity{req}`.
    pub fn activity_report(&self, req: u32) -> Frame {
        let terminals = self.list();
        let mut busy = false;
        let mut processes = 0;
        let mut attachments = 0;
        for t in &terminals {
            busy |= t.foreground_busy();
            processes += session_members(t.pid as i32).len() as u32;
            attachments += t.attachments() as u32;
        }
        Frame::Activity {
            req,
            last_input_ago_ms: self.activity.last_input_ago().map(|d| d.as_millis() as u64),
            busy: busy || processes > 0,
            processes,
            terminals: terminals.len() as u32,
            attachments,
        }
    }
}
