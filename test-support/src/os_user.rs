//! The OS user that runs the PostgreSQL tools.
//!
//! `initdb` and `postgres` refuse to run as root. Tests run as root in CI, so there the tools run
//! as the `postgres` user (or `nobody` where that does not exist), switched to with
//! [`std::os::unix::process::CommandExt`]: no `sudo`/`su` needed. As any other user they simply
//! run as that user.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// An unprivileged user to run commands as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// Login name, for messages.
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// The user the PostgreSQL tools must run as: `None` means "as the current user" (we are not
    /// root); otherwise `postgres`, or `nobody` if there is no `postgres` user.
    pub fn for_postgres() -> anyhow::Result<Option<RunAs>> {
        if !is_root() {
            return Ok(None);
        }
        ["postgres", "nobody"]
            .iter()
            .find_map(|name| lookup(name))
            .map(Some)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "running as root, but neither a `postgres` nor a `nobody` user exists to run \
                     initdb/pg_ctl as (they refuse to run as root)"
                )
            })
    }

    /// Makes `cmd` run as this user.
    pub fn apply(&self, cmd: &mut Command) {
        // std drops supplementary groups too when a root process sets the uid.
        cmd.uid(self.uid).gid(self.gid);
    }

    /// Whether this user can reach (search) every directory leading to `path`, judging by the
    /// permission bits (no ACLs), so a temporary directory under it can be handed over.
    pub fn can_traverse_to(&self, path: &Path) -> bool {
        path.ancestors().all(|dir| match std::fs::metadata(dir) {
            Ok(meta) => {
                let mode = meta.mode();
                if meta.uid() == self.uid {
                    mode & 0o100 != 0
                } else if meta.gid() == self.gid {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                }
            }
            Err(_) => false,
        })
    }
}

/// Whether this process runs with an effective uid of 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Looks a user up by name in the system's user database (NSS, so not only /etc/passwd).
pub fn lookup(name: &str) -> Option<RunAs> {
    let c_name = CString::new(name).ok()?;
    let mut buf_len = 1024;
    loop {
        let mut buf = vec![0 as libc::c_char; buf_len];
        // SAFETY: an all-zero passwd is a valid value for a plain C struct of integers and
        // pointers; getpwnam_r only writes through the pointers we pass, all of which point to
        // live, correctly sized memory, and the strings it stores in `pwd` point into `buf`,
        // which we do not read (we only copy the integer ids out).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf_len < 1 << 20 {
            buf_len *= 4;
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return Some(RunAs {
            name: name.to_owned(),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_with_uid_zero() {
        let root = lookup("root").expect("every Unix system has root");
        assert_eq!((root.uid, root.gid), (0, 0));
    }

    #[test]
    fn unknown_user_is_none() {
        assert_eq!(lookup("no-such-user-for-sure-42"), None);
        assert_eq!(lookup("nul\0byte"), None);
    }

    #[test]
    fn root_directory_is_traversable_by_anyone() {
        let nobody = RunAs {
            name: "x".into(),
            uid: 65534,
            gid: 65534,
        };
        assert!(nobody.can_traverse_to(Path::new("/")));
    }
}
