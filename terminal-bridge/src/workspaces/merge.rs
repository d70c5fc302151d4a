//! The sync rule, as one pure function: given what the sandbox holds, what PostgreSQL holds and
//! the *base* (what both held when this sandbox was last in sync), decide which side wins.
//!
//! - Only the sandbox changed since the base: the sandbox wins (a shell edit, written to
//!   PostgreSQL as a new version; a shell deletion, deleted there).
//! - Only PostgreSQL changed: PostgreSQL wins (a REST edit, pushed into the sandbox).
//! - Both changed (a shell edit and a REST edit racing on one file, or edits on both sides
//!   while no bridge watched): PostgreSQL keeps its content at the path, and the sandbox's
//!   content is saved beside it as a *conflict copy* (`name.shell-conflict-N.ext`), in
//!   PostgreSQL and in the sandbox. An edit against a deletion keeps the edit (a deleted file
//!   comes back rather than an edit being lost). Nothing is ever lost.
//!
//! "Changed" compares version *and* hash, because a path deleted and created again starts at
//! version 1 again.

use agent_protocol::Sha256;

/// A file's revision in PostgreSQL (or the base).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rev {
    pub version: i64,
    pub sha256: Sha256,
}

/// What to do about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Both sides agree; only the base needs to follow.
    Same,
    /// Write the sandbox's state (content or absence) to PostgreSQL.
    ToPg,
    /// Write PostgreSQL's state (content or absence) into the sandbox.
    ToSandbox,
    /// Save the sandbox's content as a conflict copy, then write PostgreSQL's into the sandbox.
    Conflict,
}

/// See the module documentation.
pub fn decide(sandbox: Option<&Sha256>, pg: Option<&Rev>, base: Option<&Rev>) -> Decision {
    let agree = match (sandbox, pg) {
        (None, None) => true,
        (Some(s), Some(p)) => *s == p.sha256,
        _ => false,
    };
    if agree {
        return Decision::Same;
    }
    let pg_unchanged = match (pg, base) {
        (None, None) => true,
        (Some(p), Some(b)) => p == b,
        _ => false,
    };
    let sandbox_unchanged = match (sandbox, base) {
        (None, None) => true,
        (Some(s), Some(b)) => *s == b.sha256,
        _ => false,
    };
    if pg_unchanged {
        Decision::ToPg
    } else if sandbox_unchanged {
        Decision::ToSandbox
    } else {
        match (sandbox, pg) {
            // The shell deleted what REST changed: restore REST's version.
            (None, _) => Decision::ToSandbox,
            // REST deleted what the shell changed: keep the edit.
            (_, None) => Decision::ToPg,
            (Some(_), Some(_)) => Decision::Conflict,
        }
    }
}

/// The `n`-th conflict copy's path of `path`: `dir/name.shell-conflict-n.ext`.
pub fn conflict_path(path: &str, n: u32) -> String {
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, path),
    };
    let renamed = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}.shell-conflict-{n}.{ext}"),
        _ => format!("{name}.shell-conflict-{n}"),
    };
    match dir {
        Some(dir) => format!("{dir}/{renamed}"),
        None => renamed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    const A: Sha256 = [1; 32];
    const B: Sha256 = [2; 32];
    const C: Sha256 = [3; 32];

    fn rev(version: i64, sha256: Sha256) -> Rev {
        Rev { version, sha256 }
    }

    #[test]
    fn one_sided_changes_win() {
        // Shell edit.
        assert_eq!(decide(Some(&B), Some(&rev(1, A)), Some(&rev(1, A))), ToPg);
        // New shell file.
        assert_eq!(decide(Some(&B), None, None), ToPg);
        // Shell deletion.
        assert_eq!(decide(None, Some(&rev(1, A)), Some(&rev(1, A))), ToPg);
        // REST edit.
        assert_eq!(
            decide(Some(&A), Some(&rev(2, B)), Some(&rev(1, A))),
            ToSandbox
        );
        // REST creation.
        assert_eq!(decide(None, Some(&rev(1, B)), None), ToSandbox);
        // REST deletion.
        assert_eq!(decide(Some(&A), None, Some(&rev(1, A))), ToSandbox);
        // Agreement.
        assert_eq!(decide(Some(&A), Some(&rev(3, A)), Some(&rev(1, B))), Same);
        assert_eq!(decide(None, None, Some(&rev(1, B))), Same);
    }

    #[test]
    fn recreated_path_counts_as_changed() {
        // REST deleted and re-created the file: version 1 again, other content.
        assert_eq!(
            decide(Some(&A), Some(&rev(1, B)), Some(&rev(1, A))),
            ToSandbox
        );
    }

    #[test]
    fn both_sides_changed_loses_nothing() {
        assert_eq!(
            decide(Some(&C), Some(&rev(2, B)), Some(&rev(1, A))),
            Conflict
        );
        assert_eq!(decide(Some(&C), Some(&rev(1, B)), None), Conflict);
        assert_eq!(decide(None, Some(&rev(2, B)), Some(&rev(1, A))), ToSandbox);
        assert_eq!(decide(Some(&C), None, Some(&rev(1, A))), ToPg);
    }

    #[test]
    fn conflict_copies_keep_the_extension() {
        assert_eq!(conflict_path("a/main.py", 1), "a/main.shell-conflict-1.py");
        assert_eq!(conflict_path("Makefile", 2), "Makefile.shell-conflict-2");
        assert_eq!(conflict_path("d/.env", 1), "d/.env.shell-conflict-1");
    }
}
