//! Resolving client paths inside the workspace without ever leaving it.
//!
//! Client paths are checked lexically first (relative, no `.`/`..`/empty components, no NUL).
//! Then every resolution starts from a descriptor of the workspace root and goes through
//! `openat2(RESOLVE_BENEATH)`: the kernel follows symlinks only while they stay beneath the
//! root, so a symlink pointing outside is refused however it is reached, and a component
//! swapped for a symlink between two calls cannot redirect us (there is no check-then-use
//! gap). Operations on the last component (`renameat`, `unlinkat`, `openat(O_CREAT|O_EXCL)`)
//! act on the entry itself relative to an already-resolved parent descriptor, never through
//! it. On a kernel without `openat2` (or a seccomp filter refusing it) the fallback walks one
//! component at a time with `O_NOFOLLOW`, refusing every symlink.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use agent_protocol::ErrorCode;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{Mode, mkdirat};

/// Names starting with this are the agent's own (temporary files, flush markers): invisible
/// to clients and to the watcher.
pub const INTERNAL_PREFIX: &str = ".pod-agent-";

/// A failed file operation, as sent in `Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub code: ErrorCode,
    pub message: String,
}

impl FileError {
    pub fn invalid(path: &str, why: &str) -> Self {
        FileError {
            code: ErrorCode::InvalidPath,
            message: format!("{path:?}: {why}"),
        }
    }

    pub fn from_errno(path: &str, e: Errno) -> Self {
        let (code, why) = match e {
            Errno::ENOENT => (ErrorCode::NotFound, "no such file or directory".to_owned()),
            Errno::EXDEV | Errno::ELOOP => (
                ErrorCode::InvalidPath,
                "resolves outside the workspace (through a symlink)".to_owned(),
            ),
            Errno::ENOTDIR => (
                ErrorCode::NotFound,
                "a parent is not a directory".to_owned(),
            ),
            Errno::EFBIG => (ErrorCode::TooLarge, "too large".to_owned()),
            e => (ErrorCode::Io, e.desc().to_owned()),
        };
        FileError {
            code,
            message: format!("{path:?}: {why}"),
        }
    }

    pub fn from_io(path: &str, e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => Self::from_errno(path, Errno::from_raw(n)),
            None => FileError {
                code: ErrorCode::Io,
                message: format!("{path:?}: {e}"),
            },
        }
    }
}

/// Checks a client path and splits it into its components.
pub fn components(path: &str) -> Result<Vec<&str>, FileError> {
    if path.is_empty() {
        return Err(FileError::invalid(path, "empty path"));
    }
    if path.starts_with('/') {
        return Err(FileError::invalid(path, "absolute paths are not allowed"));
    }
    if path.len() > 4096 || path.contains('\0') {
        return Err(FileError::invalid(path, "too long or contains NUL"));
    }
    let comps: Vec<&str> = path.split('/').collect();
    for c in &comps {
        match *c {
            "" => return Err(FileError::invalid(path, "empty component")),
            "." | ".." => return Err(FileError::invalid(path, "`.` and `..` are not allowed")),
            c if c.starts_with(INTERNAL_PREFIX) => {
                return Err(FileError::invalid(path, "reserved name"));
            }
            c if c.len() > 255 => return Err(FileError::invalid(path, "component too long")),
            _ => {}
        }
    }
    Ok(comps)
}

/// The workspace root, held open.
pub struct Workspace {
    root: OwnedFd,
    /// Canonical path of the root, to turn watcher paths into relative ones.
    root_path: PathBuf,
    ignore: Vec<String>,
    /// Cleared the first time `openat2` turns out to be unavailable.
    openat2: AtomicBool,
}

impl Workspace {
    pub fn open(root: &Path, ignore: Vec<String>) -> io::Result<Workspace> {
        let root_path = root.canonicalize()?;
        let root = nix::fcntl::open(
            &root_path,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Workspace {
            root,
            root_path,
            ignore,
            openat2: AtomicBool::new(true),
        })
    }

    pub fn root(&self) -> &OwnedFd {
        &self.root
    }

    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// True for paths with an ignored or internal component.
    pub fn is_ignored(&self, rel: &str) -> bool {
        rel.split('/').any(|c| self.is_ignored_name(c))
    }

    pub fn is_ignored_name(&self, name: &str) -> bool {
        name.starts_with(INTERNAL_PREFIX) || self.ignore.iter().any(|i| i == name)
    }

    /// Opens `rel` (already checked by [`components`]) beneath the root.
    pub fn open_beneath(&self, rel: &str, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
        let flags = flags | OFlag::O_CLOEXEC;
        if self.openat2.load(Ordering::Relaxed) {
            let how = OpenHow::new()
                .flags(flags)
                .mode(mode)
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
            match openat2(&self.root, rel, how) {
                Err(Errno::ENOSYS | Errno::EPERM) => {
                    tracing::warn!("openat2 unavailable: refusing all symlinks in client paths");
                    self.openat2.store(false, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        let (parents, last) = match rel.rsplit_once('/') {
            Some((p, l)) => (Some(p), l),
            None => (None, rel),
        };
        let dir_flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut dir = nix::unistd::dup(&self.root)?;
        for comp in parents.into_iter().flat_map(|p| p.split('/')) {
            dir = openat(&dir, comp, dir_flags, Mode::empty())?;
        }
        openat(&dir, last, flags | OFlag::O_NOFOLLOW, mode)
    }

    /// The directory holding the last of `comps`, creating missing parents if `create`.
    pub fn parent(&self, path: &str, comps: &[&str], create: bool) -> Result<OwnedFd, FileError> {
        let dir_flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY;
        let parents = &comps[..comps.len() - 1];
        if parents.is_empty() {
            return nix::unistd::dup(&self.root).map_err(|e| FileError::from_errno(path, e));
        }
        match self.open_beneath(&parents.join("/"), dir_flags, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) if create => {}
            Err(e) => return Err(FileError::from_errno(path, e)),
        }
        // Create the chain one directory at a time, each made relative to the descriptor of
        // its parent and then re-resolved from the root.
        let mut dir = nix::unistd::dup(&self.root).map_err(|e| FileError::from_errno(path, e))?;
        for i in 0..parents.len() {
            match mkdirat(&dir, parents[i], Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(FileError::from_errno(path, e)),
            }
            dir = self
                .open_beneath(&parents[..=i].join("/"), dir_flags, Mode::empty())
                .map_err(|e| FileError::from_errno(path, e))?;
        }
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_checks() {
        assert_eq!(components("a/b.txt").unwrap(), vec!["a", "b.txt"]);
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "./a",
            "a//b",
            "a/",
            "a/\0",
            ".pod-agent-tmp",
        ] {
            let err = components(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidPath, "{bad:?}");
        }
    }

    #[test]
    fn symlinks_are_followed_only_while_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/f"), "x").unwrap();
        std::os::unix::fs::symlink("real", root.join("inside")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("real/up")).unwrap();
        let ws = Workspace::open(root, vec![]).unwrap();
        let rd = OFlag::O_RDONLY;
        assert!(ws.open_beneath("real/f", rd, Mode::empty()).is_ok());
        let via_link = ws.open_beneath("inside/f", rd, Mode::empty());
        // Followed with openat2, refused by the no-openat2 fallback: never an escape.
        assert!(matches!(
            via_link,
            Ok(_) | Err(Errno::ELOOP | Errno::ENOTDIR)
        ));
        for escape in ["out/secret", "real/up/etc/passwd"] {
            let err = ws.open_beneath(escape, rd, Mode::empty()).unwrap_err();
            assert_eq!(
                FileError::from_errno(escape, err).code,
                ErrorCode::InvalidPath,
                "{escape}"
            );
        }
        let err = ws.parent("out/new", &["out", "new"], true).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidPath);
        assert!(!outside.path().join("new").exists());
    }
}
