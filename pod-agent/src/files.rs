//! File operations on the workspace (put, delete, move, read, list) and the record of what
//! the workspace holds, which lets the watcher tell the user's changes from the agent's own.
//!
//! Every operation is blocking; callers run them on the blocking pool. Each one that changes
//! the workspace updates the record under the same lock as the change, and the watcher checks
//! a path under that lock too, so a change is either the agent's (recorded, not reported) or
//! the user's (reported), never mistaken for the other.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use agent_protocol::{ErrorCode, ListEntry, Sha256};
use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{Mode, SFlag, fchmod, fstat, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use sha2::Digest;

use crate::workspace::{FileError, INTERNAL_PREFIX, Workspace, components};

/// Size and hash of every regular file the agent knows to be in the workspace.
pub type Known = BTreeMap<String, (u64, Sha256)>;

/// Deepest directory nesting walked or removed.
const MAX_DEPTH: usize = 128;

pub struct Files {
    pub ws: Workspace,
    known: Mutex<Known>,
    /// Largest file `Read` returns (what fits in one frame).
    max_read: u64,
    tmp_counter: AtomicU64,
}

/// What a path holds right now, as the watcher needs it.
pub enum Probe {
    Missing,
    Dir,
    File {
        size: u64,
        sha256: Sha256,
        content: Option<Vec<u8>>,
    },
    /// A symlink, FIFO, device or socket: not synchronised.
    Other,
}

impl Files {
    pub fn new(ws: Workspace, max_read: u64) -> Files {
        Files {
            ws,
            known: Mutex::new(Known::new()),
            max_read,
            tmp_counter: AtomicU64::new(0),
        }
    }

    /// The record, locked. Hold it across a check-and-update.
    pub fn known(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap()
    }

    /// Atomically replaces (or creates) `path` with `data`, creating parent directories.
    pub fn put(&self, path: &str, data: &[u8]) -> Result<(), FileError> {
        let comps = components(path)?;
        let mut known = self.known();
        self.put_locked(&mut known, path, &comps, data)
    }

    /// [`Files::put`] if `path` holds what `expect` says (the file with that hash, or nothing),
    /// else [`ErrorCode::Changed`]. Checked and written under the record's lock, which the
    /// watcher takes too.
    pub fn put_if(
        &self,
        path: &str,
        expect: Option<&Sha256>,
        data: &[u8],
    ) -> Result<(), FileError> {
        let comps = components(path)?;
        let mut known = self.known();
        let now = self.hash_of(path)?;
        if now.as_ref() != expect {
            return Err(changed(path));
        }
        self.put_locked(&mut known, path, &comps, data)
    }

    /// [`Files::delete`] of the file at `path` if its content hashes to `expect`, else
    /// [`ErrorCode::Changed`] (or `NotFound` if nothing is there).
    pub fn delete_if(&self, path: &str, expect: &Sha256) -> Result<(), FileError> {
        let comps = components(path)?;
        let mut known = self.known();
        match self.hash_of(path)? {
            None => Err(FileError::from_errno(path, Errno::ENOENT)),
            Some(now) if now == *expect => self.delete_locked(&mut known, path, &comps),
            Some(_) => Err(changed(path)),
        }
    }

    /// The hash of the regular file at `path`, `None` if nothing is there; anything else (a
    /// directory, a symlink, a FIFO) counts as changed.
    fn hash_of(&self, path: &str) -> Result<Option<Sha256>, FileError> {
        match self.probe(path, 0) {
            Probe::Missing => Ok(None),
            Probe::File { sha256, .. } => Ok(Some(sha256)),
            Probe::Dir | Probe::Other => Err(changed(path)),
        }
    }

    fn put_locked(
        &self,
        known: &mut Known,
        path: &str,
        comps: &[&str],
        data: &[u8],
    ) -> Result<(), FileError> {
        let name = *comps.last().unwrap();
        let parent = self.ws.parent(path, comps, true)?;
        let err = |e| FileError::from_errno(path, e);
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = format!("{INTERNAL_PREFIX}tmp-{}-{n}", std::process::id());
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(
            &parent,
            tmp.as_str(),
            flags,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(err)?;
        let written = (|| {
            // Keep the permissions (say, an executable bit) of the file being replaced.
            if let Ok(st) = fstatat(&parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                && SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
            {
                fchmod(&fd, Mode::from_bits_truncate(st.st_mode & 0o7777))?;
            }
            File::from(fd)
                .write_all(data)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(5)))?;
            renameat(&parent, tmp.as_str(), &parent, name)
        })();
        if let Err(e) = written {
            let _ = unlinkat(&parent, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
            return Err(err(e));
        }
        known.insert(path.to_owned(), (data.len() as u64, sha256(data)));
        Ok(())
    }

    /// Deletes a file, symlink, or directory tree.
    pub fn delete(&self, path: &str) -> Result<(), FileError> {
        let comps = components(path)?;
        let mut known = self.known();
        self.delete_locked(&mut known, path, &comps)
    }

    fn delete_locked(
        &self,
        known: &mut Known,
        path: &str,
        comps: &[&str],
    ) -> Result<(), FileError> {
        let name = *comps.last().unwrap();
        let parent = self.ws.parent(path, comps, false)?;
        let err = |e| FileError::from_errno(path, e);
        let st = fstatat(&parent, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(err)?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
            remove_tree(&parent, name, 0).map_err(err)?;
        } else {
            unlinkat(&parent, name, UnlinkatFlags::NoRemoveDir).map_err(err)?;
        }
        forget(known, path);
        Ok(())
    }

    /// Creates the directory `path` and its missing parents; an existing directory is fine,
    /// anything else at the path is an error.
    pub fn make_dir(&self, path: &str) -> Result<(), FileError> {
        let comps = components(path)?;
        let name = *comps.last().unwrap();
        let parent = self.ws.parent(path, &comps, true)?;
        let err = |e| FileError::from_errno(path, e);
        match mkdirat(&parent, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(err(e)),
        }
        let st = fstatat(&parent, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(err)?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
            return Err(FileError {
                code: ErrorCode::Io,
                message: format!("{path:?}: something other than a directory is there"),
            });
        }
        Ok(())
    }

    /// Renames `from` to `to` (replacing a file at `to`), creating `to`'s parents.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FileError> {
        let from_comps = components(from)?;
        let to_comps = components(to)?;
        let mut known = self.known();
        let from_parent = self.ws.parent(from, &from_comps, false)?;
        let to_parent = self.ws.parent(to, &to_comps, true)?;
        renameat(
            &from_parent,
            *from_comps.last().unwrap(),
            &to_parent,
            *to_comps.last().unwrap(),
        )
        .map_err(|e| FileError::from_errno(from, e))?;
        forget(&mut known, to);
        for k in recorded_under(&known, from) {
            let v = known.remove(&k).expect("just listed");
            known.insert(format!("{to}{}", &k[from.len()..]), v);
        }
        Ok(())
    }

    /// Reads a whole regular file, following symlinks only while they stay inside.
    pub fn read(&self, path: &str) -> Result<(Sha256, Vec<u8>), FileError> {
        components(path)?;
        let fd = self
            .ws
            .open_beneath(
                path,
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
                Mode::empty(),
            )
            .map_err(|e| FileError::from_errno(path, e))?;
        let st = fstat(&fd).map_err(|e| FileError::from_errno(path, e))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(FileError {
                code: ErrorCode::Io,
                message: format!("{path:?}: not a regular file"),
            });
        }
        if st.st_size as u64 > self.max_read {
            return Err(FileError {
                code: ErrorCode::TooLarge,
                message: format!("{path:?}: larger than one frame"),
            });
        }
        let mut data = Vec::with_capacity(st.st_size as usize);
        File::from(fd)
            .take(self.max_read + 1)
            .read_to_end(&mut data)
            .map_err(|e| FileError::from_io(path, e))?;
        if data.len() as u64 > self.max_read {
            return Err(FileError {
                code: ErrorCode::TooLarge,
                message: format!("{path:?}: larger than one frame"),
            });
        }
        Ok((sha256(&data), data))
    }

    /// Every regular file outside ignored directories, with size and hash, sorted by path.
    pub fn list(&self) -> Result<Vec<ListEntry>, FileError> {
        let mut entries = Vec::new();
        self.walk("", &mut |rel, is_dir| {
            if !is_dir && let Probe::File { size, sha256, .. } = self.probe(rel, 0) {
                entries.push(ListEntry {
                    path: rel.to_owned(),
                    size,
                    sha256,
                });
            }
        })?;
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// Calls `visit(rel, is_dir)` for everything beneath directory `rel` ("" for the root),
    /// parents before children, skipping ignored names and not following symlinks.
    pub fn walk(&self, rel: &str, visit: &mut dyn FnMut(&str, bool)) -> Result<(), FileError> {
        let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW;
        let fd = if rel.is_empty() {
            nix::unistd::dup(self.ws.root())
        } else {
            self.ws.open_beneath(rel, flags, Mode::empty())
        }
        .map_err(|e| FileError::from_errno(rel, e))?;
        self.walk_fd(fd, rel, 0, visit);
        Ok(())
    }

    fn walk_fd(&self, fd: OwnedFd, rel: &str, depth: usize, visit: &mut dyn FnMut(&str, bool)) {
        if depth > MAX_DEPTH {
            return;
        }
        let Ok(dir) = Dir::from_fd(fd) else { return };
        for (name, is_dir) in entries(dir) {
            if self.ws.is_ignored_name(&name) {
                continue;
            }
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            visit(&child, is_dir);
            if is_dir
                && let Ok(sub) = self.ws.open_beneath(
                    &child,
                    OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
                    Mode::empty(),
                )
            {
                self.walk_fd(sub, &child, depth + 1, visit);
            }
        }
    }

    /// Looks at `rel` without following a final symlink; reads content up to `content_cap`.
    pub fn probe(&self, rel: &str, content_cap: u64) -> Probe {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        let fd = match self.ws.open_beneath(rel, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ELOOP) => return Probe::Other,
            Err(_) => return Probe::Missing,
        };
        let Ok(st) = fstat(&fd) else {
            return Probe::Missing;
        };
        match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFDIR => return Probe::Dir,
            SFlag::S_IFREG => {}
            _ => return Probe::Other,
        }
        let mut file = File::from(fd);
        let mut hasher = sha2::Sha256::new();
        let mut content = Vec::new();
        let mut size = 0u64;
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return Probe::Missing,
            };
            hasher.update(&buf[..n]);
            if size + n as u64 <= content_cap {
                content.extend_from_slice(&buf[..n]);
            }
            size += n as u64;
        }
        let content = (size <= content_cap).then_some(content);
        Probe::File {
            size,
            sha256: hasher.finalize().into(),
            content,
        }
    }
}

/// The recorded paths equal to `path` or beneath it.
pub fn recorded_under(known: &Known, path: &str) -> Vec<String> {
    let prefix = format!("{path}/");
    let mut out: Vec<String> = known
        .contains_key(path)
        .then(|| path.to_owned())
        .into_iter()
        .collect();
    out.extend(
        known
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone()),
    );
    out
}

/// Removes `path` and everything recorded beneath it from the record; returns what it removed.
pub fn forget(known: &mut Known, path: &str) -> Vec<String> {
    let gone = recorded_under(known, path);
    for k in &gone {
        known.remove(k);
    }
    gone
}

/// Names and directory-ness of a directory's entries.
fn entries(mut dir: Dir) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let raw_fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
    // SAFETY: the descriptor stays owned by `dir`, which outlives this borrow.
    let dirfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw_fd) };
    for entry in dir.iter().flatten() {
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            Some(t) => t == Type::Directory,
            None => fstatat(dirfd, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
                .unwrap_or(false),
        };
        out.push((name.to_owned(), is_dir));
    }
    out
}

/// `rm -r` of `name` in `parent`, never following symlinks.
fn remove_tree(parent: &OwnedFd, name: &str, depth: usize) -> nix::Result<()> {
    if depth > MAX_DEPTH {
        return Err(Errno::ELOOP);
    }
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(parent, name, flags, Mode::empty())?;
    let sub = nix::unistd::dup(&fd)?;
    for (child, is_dir) in entries(Dir::from_fd(fd)?) {
        if is_dir {
            remove_tree(&sub, &child, depth + 1)?;
        } else {
            unlinkat(&sub, child.as_str(), UnlinkatFlags::NoRemoveDir)?;
        }
    }
    unlinkat(parent, name, UnlinkatFlags::RemoveDir)
}

/// The answer to a conditional write whose expectation no longer holds.
fn changed(path: &str) -> FileError {
    FileError {
        code: ErrorCode::Changed,
        message: format!("{path:?} changed in the sandbox since it was last synced"),
    }
}

pub fn sha256(data: &[u8]) -> Sha256 {
    sha2::Sha256::digest(data).into()
}
