//! Host uids for sandboxes. When the bridge runs as root, each sandbox runs as its own
//! unprivileged host uid (mapped to uid 1000 inside), so that sandboxes cannot signal or read
//! each other even outside their namespaces, and a per-uid limit such as `RLIMIT_NPROC` is
//! per sandbox. A uid is reserved by creating `<dir>/<uid>` exclusively (atomic, also between
//! bridge processes); the file holds the session id.

use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Context;
use uuid::Uuid;

/// The reservation directory of one sandbox directory.
pub struct UidPool {
    dir: PathBuf,
    range: Range<u32>,
}

impl UidPool {
    pub fn new(dir: PathBuf, range: Range<u32>) -> Self {
        UidPool { dir, range }
    }

    /// Reserves a free uid for `session` (or returns the one it already holds).
    pub fn reserve(&self, session: Uuid) -> anyhow::Result<u32> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let me = session.to_string();
        for uid in self.range.clone() {
            let path = self.path(uid);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(me.as_bytes())?;
                    return Ok(uid);
                }
                Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                    if std::fs::read_to_string(&path).is_ok_and(|owner| owner == me) {
                        return Ok(uid);
                    }
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("reserving {}", path.display()));
                }
            }
        }
        anyhow::bail!(
            "all {} sandbox uids are in use (SANDBOX_HOST_UID_COUNT)",
            self.range.len()
        )
    }

    /// Gives `uid` back, if `session` holds it.
    pub fn release(&self, uid: u32, session: Uuid) {
        let path = self.path(uid);
        if std::fs::read_to_string(&path).is_ok_and(|owner| owner == session.to_string()) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Gives back every uid `session` holds.
    pub fn release_session(&self, session: Uuid) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let me = session.to_string();
        for entry in entries.flatten() {
            if std::fs::read_to_string(entry.path()).is_ok_and(|owner| owner == me) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn path(&self, uid: u32) -> PathBuf {
        Path::new(&self.dir).join(uid.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_exclusive_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let pool = UidPool::new(dir.path().join("uids"), 500..502);
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(pool.reserve(a).unwrap(), 500);
        assert_eq!(pool.reserve(b).unwrap(), 501);
        assert_eq!(pool.reserve(a).unwrap(), 500, "a session keeps its uid");
        let err = pool.reserve(c).unwrap_err().to_string();
        assert!(err.contains("in use"), "{err}");
        pool.release(500, b); // not b's: ignored
        assert!(pool.reserve(c).is_err());
        pool.release(500, a);
        assert_eq!(pool.reserve(c).unwrap(), 500);
        pool.release_session(b);
        assert_eq!(pool.reserve(a).unwrap(), 501);
    }
}
