//! The rules of a path inside a session's workspace, shared by the REST components (which
//! answer `400 invalid_path`) and the terminal-bridge (which refuses such paths coming out of a
//! sandbox). At least as strict as `workspace_items_path_shape` of the schema, so a valid path
//! never trips a constraint.

/// Longest workspace path, in bytes.
pub const PATH_MAX_BYTES: usize = 1024;
/// Longest segment (file or folder name) of a workspace path, in bytes (Linux's `NAME_MAX`).
pub const SEGMENT_MAX_BYTES: usize = 255;

/// Why a path was refused: `invalid path: <the broken rule>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path: {0}")]
pub struct InvalidPath(pub String);

/// A checked path inside a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspacePath {
    /// The normalized path: `'/'`-separated, no leading or trailing `'/'`
    /// (`workspace_items.path`).
    pub path: String,
    /// The path of the containing folder; `None` at the top level
    /// (`workspace_items.parent_path`).
    pub parent: Option<String>,
}

impl WorkspacePath {
    /// The last segment: the file or folder name.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Checks a path inside a workspace (already percent-decoded) and normalizes it.
///
/// Rules: relative (no leading `'/'`), `'/'`-separated, no empty, `.` or `..` segments, no NUL
/// or other control characters, at most [`PATH_MAX_BYTES`] in all and [`SEGMENT_MAX_BYTES`] per
/// segment. The only normalization is dropping one trailing `'/'` (`src/app/` names the folder
/// `src/app`); everything else that is not already normal is refused rather than guessed at.
///
/// # Errors
/// [`InvalidPath`] naming the broken rule.
pub fn workspace_path(raw: &str) -> Result<WorkspacePath, InvalidPath> {
    let invalid = |why: &str| InvalidPath(why.to_owned());
    if raw.len() > PATH_MAX_BYTES {
        return Err(invalid(&format!("longer than {PATH_MAX_BYTES} bytes")));
    }
    if raw.is_empty() {
        return Err(invalid("empty"));
    }
    if raw.starts_with('/') {
        return Err(invalid("must be relative (no leading '/')"));
    }
    if raw.chars().any(char::is_control) {
        return Err(invalid("contains NUL or control characters"));
    }
    let path = raw.strip_suffix('/').unwrap_or(raw);
    for segment in path.split('/') {
        match segment {
            "" => return Err(invalid("empty segment ('//' or a trailing '//')")),
            "." | ".." => return Err(invalid("'.' and '..' segments are not allowed")),
            s if s.len() > SEGMENT_MAX_BYTES => {
                return Err(invalid(&format!(
                    "a segment is longer than {SEGMENT_MAX_BYTES} bytes"
                )));
            }
            _ => {}
        }
    }
    let parent = path.rsplit_once('/').map(|(parent, _)| parent.to_owned());
    Ok(WorkspacePath {
        path: path.to_owned(),
        parent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> (String, Option<String>) {
        let p = workspace_path(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        (p.path, p.parent)
    }

    #[test]
    fn valid_paths_and_their_parents() {
        assert_eq!(ok("main.py"), ("main.py".into(), None));
        assert_eq!(
            ok("src/app/main.py"),
            ("src/app/main.py".into(), Some("src/app".into()))
        );
        assert_eq!(ok("src/"), ("src".into(), None));
        assert_eq!(ok("a/b/"), ("a/b".into(), Some("a".into())));
        assert_eq!(ok(".hidden"), (".hidden".into(), None));
        assert_eq!(ok("a/..b/c..d/...").0, "a/..b/c..d/...");
        assert_eq!(ok("with space/ünïcødé 🐍.py").0, "with space/ünïcødé 🐍.py");
        assert_eq!(ok("back\\slash").0, "back\\slash");
        assert_eq!(workspace_path("a/b/c.txt").unwrap().name(), "c.txt");
        assert_eq!(workspace_path("c.txt").unwrap().name(), "c.txt");
    }

    #[test]
    fn length_limits_are_inclusive() {
        let segment = "s".repeat(255);
        assert!(workspace_path(&segment).is_ok());
        assert!(workspace_path(&"s".repeat(256)).is_err());
        // 4 segments of 255 bytes + 3 separators = 1023 bytes; one more byte is 1024.
        let long = [segment.as_str(); 4].join("/");
        assert_eq!(long.len(), 1023);
        assert!(
            workspace_path(&format!("{long}x")).is_err(),
            "segment too long"
        );
        let exact = [
            "c".repeat(255),
            "c".repeat(255),
            "c".repeat(255),
            "c".repeat(254),
            "c".to_owned(),
        ]
        .join("/");
        assert_eq!(exact.len(), 1024);
        assert!(workspace_path(&exact).is_ok());
        assert!(workspace_path(&format!("{exact}d")).is_err());
        // A multi-byte segment is measured in bytes: 128 two-byte characters = 256 bytes.
        assert!(workspace_path(&"é".repeat(127)).is_ok());
        assert!(workspace_path(&"é".repeat(128)).is_err());
    }

    #[test]
    fn invalid_paths() {
        for bad in [
            "",
            "/",
            "/etc/passwd",
            "//x",
            "a//b",
            "a/b//",
            "..",
            "../x",
            "a/../b",
            "a/..",
            ".",
            "./a",
            "a/./b",
            "a/.",
            "a/./",
            "nul\0byte",
            "new\nline",
            "tab\tname",
            "del\u{7f}",
            "c1\u{85}control",
            "esc\u{1b}[31m",
        ] {
            let e = workspace_path(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid path: "), "{bad:?}");
        }
    }

    #[test]
    fn every_valid_path_satisfies_the_database_check() {
        // workspace_items_path_shape, restated: not empty, no leading or trailing '/', no '//',
        // no '.' or '..' segment; and parent_path = path without its last segment.
        for raw in ["a", "a/b", "a/b/", "x.y/z", "...", "a/.b./c"] {
            let p = workspace_path(raw).unwrap();
            assert!(!p.path.is_empty());
            assert!(!p.path.starts_with('/') && !p.path.ends_with('/'));
            assert!(!p.path.contains("//"));
            assert!(p.path.split('/').all(|s| s != "." && s != ".."));
            let expected_parent = p.path.rsplit_once('/').map(|(a, _)| a.to_owned());
            assert_eq!(p.parent, expected_parent);
        }
    }
}
