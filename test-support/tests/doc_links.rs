//! The repository's Markdown documents link to each other, and those links stay true: every
//! relative link names a file or directory that exists, every `#anchor` names a heading of its
//! target (with GitHub's slugs), and no document points outside the repository, neither with a
//! link nor with a `../` path in backticks. Plain std: the files are found by walking the
//! repository from [`test_support::workspace_root`], skipping what builds and tools leave behind.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Directories that hold build output or downloaded tools, never documentation of ours. Names
/// starting with `.` (`.git`, `.local`, `.spin`, ...) are skipped as well.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", "dist"];

/// A place in a document, for messages.
#[derive(Debug, Clone, PartialEq)]
struct Spot {
    line: usize,
    text: String,
}

/// What a Markdown document holds that this test checks.
#[derive(Debug, Default)]
struct Doc {
    /// Slugs of its headings, as GitHub makes them (duplicates numbered `-1`, `-2`, ...).
    anchors: HashSet<String>,
    /// Destinations of its links and images (`[text](dest)`, `[label]: dest`).
    links: Vec<Spot>,
    /// Contents of its code spans that start with `../`: paths named in prose.
    parent_paths: Vec<Spot>,
}

#[test]
fn relative_links_name_existing_files() {
    let errors = check_all(|doc_path, link, target| {
        let (path, _) = split_link(&link.text)?;
        if path.is_empty() {
            return None;
        }
        let resolved = target?;
        (!resolved.exists()).then(|| {
            format!(
                "{}:{}: `{}` names nothing ({} does not exist)",
                doc_path.display(),
                link.line,
                link.text,
                resolved.display()
            )
        })
    });
    assert!(errors.is_empty(), "broken links:\n{}", errors.join("\n"));
}

#[test]
fn anchors_name_headings() {
    let root = test_support::workspace_root();
    let errors = check_all(|doc_path, link, target| {
        let (path, anchor) = split_link(&link.text)?;
        let anchor = anchor?;
        let target = if path.is_empty() {
            root.join(doc_path)
        } else {
            target?.to_path_buf()
        };
        if !is_markdown(&target) {
            // GitHub's line anchors are the only ones other files have.
            return (!is_line_anchor(anchor)).then(|| {
                format!(
                    "{}:{}: `{}`: only #L<n> anchors point into a non-Markdown file",
                    doc_path.display(),
                    link.line,
                    link.text
                )
            });
        }
        let text = fs::read_to_string(&target).ok()?;
        let anchors = parse(&text).anchors;
        (!anchors.contains(&percent_decode(anchor))).then(|| {
            let mut known: Vec<_> = anchors.into_iter().collect();
            known.sort();
            format!(
                "{}:{}: `{}`: no heading with that slug in {} (it has: {})",
                doc_path.display(),
                link.line,
                link.text,
                target.strip_prefix(&root).unwrap_or(&target).display(),
                known.join(", ")
            )
        })
    });
    assert!(errors.is_empty(), "broken anchors:\n{}", errors.join("\n"));
}

#[test]
fn nothing_points_outside_the_repository() {
    let root = test_support::workspace_root();
    let mut errors = Vec::new();
    for doc_path in markdown_files(&root) {
        let text = fs::read_to_string(root.join(&doc_path)).unwrap();
        let doc = parse(&text);
        let dir = doc_path.parent().unwrap_or(Path::new(""));
        for link in &doc.links {
            let Some((path, _)) = split_link(&link.text) else {
                continue;
            };
            if path.starts_with('/') {
                errors.push(format!(
                    "{}:{}: `{}` is absolute; link relative to the document",
                    doc_path.display(),
                    link.line,
                    link.text
                ));
            } else if !path.is_empty() && inside(dir, &percent_decode(path)).is_none() {
                errors.push(format!(
                    "{}:{}: the link `{}` leaves the repository",
                    doc_path.display(),
                    link.line,
                    link.text
                ));
            }
        }
        for named in &doc.parent_paths {
            if inside(dir, &named.text).is_none() {
                errors.push(format!(
                    "{}:{}: `{}` is a path outside the repository",
                    doc_path.display(),
                    named.line,
                    named.text
                ));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_walk_finds_the_documents() {
    let files = markdown_files(&test_support::workspace_root());
    for expected in ["README.md", "docs/ARCHITECTURE.md", "migrations/README.md"] {
        assert!(
            files.iter().any(|f| f == Path::new(expected)),
            "{expected} not found among {files:?}"
        );
    }
}

#[test]
fn slugs_follow_github() {
    let doc = parse(
        "# Run it\n## `api-host`: a Spin host for this app\n\
         ### Application variables (`spin.toml`)\n## The playground (web/)\n\
         ## Run it\n## Run it\n#### Names, and *why*  \n",
    );
    let mut anchors: Vec<_> = doc.anchors.into_iter().collect();
    anchors.sort();
    assert_eq!(
        anchors,
        [
            "api-host-a-spin-host-for-this-app",
            "application-variables-spintoml",
            "names-and-why",
            "run-it",
            "run-it-1",
            "run-it-2",
            "the-playground-web",
        ]
    );
}

#[test]
fn links_in_code_are_not_links() {
    let doc = parse(
        "See [a](a.md) and `[b](b.md)`.\n\n```md\n[c](c.md)\n# not a heading\n```\n\
         ``[d](d.md) ` still code``, ![e](img/e.png \"title\") [f]: not-a-definition\n\
         [g]: g.md\nA span over\ntwo lines: `../x\ny` and `../shared/ARCHITECTURE.md`.\n",
    );
    let links: Vec<_> = doc.links.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(links, ["a.md", "img/e.png", "g.md"]);
    assert!(doc.anchors.is_empty());
    assert_eq!(
        doc.parent_paths,
        [Spot {
            line: 11,
            text: "../shared/ARCHITECTURE.md".into()
        }]
    );
}

#[test]
fn paths_resolve_lexically_within_the_root() {
    assert_eq!(
        inside(Path::new("terminal-bridge"), "../docs/a.md"),
        Some(PathBuf::from("docs/a.md"))
    );
    assert_eq!(
        inside(Path::new("docs"), "./x/../y"),
        Some(PathBuf::from("docs/y"))
    );
    assert_eq!(inside(Path::new(""), "../shared/ARCHITECTURE.md"), None);
    assert_eq!(inside(Path::new("a"), "../../b"), None);
}

/// Runs `check` on every link of every document, with the link's target resolved inside the
/// repository (absolute, `None` when there is no path part or it leaves the repository, which
/// [`nothing_points_outside_the_repository`] reports), and collects what it reports.
fn check_all(check: impl Fn(&Path, &Spot, Option<&Path>) -> Option<String>) -> Vec<String> {
    let root = test_support::workspace_root();
    let mut errors = Vec::new();
    for doc_path in markdown_files(&root) {
        let text = fs::read_to_string(root.join(&doc_path)).unwrap();
        let dir = doc_path.parent().unwrap_or(Path::new(""));
        for link in parse(&text).links {
            let Some((path, _)) = split_link(&link.text) else {
                continue;
            };
            let target = (!path.is_empty() && !path.starts_with('/'))
                .then(|| inside(dir, &percent_decode(path)))
                .flatten()
                .map(|p| root.join(p));
            errors.extend(check(&doc_path, &link, target.as_deref()));
        }
    }
    errors
}

/// Markdown files under `root`, relative to it, sorted.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
        let entries = fs::read_dir(root.join(dir))
            .unwrap_or_else(|err| panic!("reading {}: {err}", root.join(dir).display()));
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = dir.join(&*name);
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                if !name.starts_with('.') && !SKIPPED_DIRS.contains(&&*name) {
                    walk(root, &path, found);
                }
            } else if kind.is_file() && is_markdown(&path) {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(root, Path::new(""), &mut found);
    found.sort();
    found
}

fn is_markdown(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "md")
}

/// `L12` or `L12-L20`.
fn is_line_anchor(anchor: &str) -> bool {
    let number = |s: &str| {
        s.strip_prefix('L')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match anchor.split_once('-') {
        Some((from, to)) => number(from) && number(to),
        None => number(anchor),
    }
}

/// A link's path and anchor; `None` for links this test does not follow (a URL scheme such as
/// `https:` or `mailto:`, or `//host`).
fn split_link(dest: &str) -> Option<(&str, Option<&str>)> {
    let scheme = dest.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
    });
    if scheme || dest.starts_with("//") {
        return None;
    }
    let dest = dest.split_once('?').map_or(dest, |(path, _)| path);
    Some(match dest.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (dest, None),
    })
}

/// `relative`, taken from the repository directory `dir`, as a path relative to the repository
/// root; `None` when it climbs above the root.
fn inside(dir: &Path, relative: &str) -> Option<PathBuf> {
    let mut parts: Vec<_> = dir.components().collect();
    for component in Path::new(relative).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(_) => parts.push(component),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads headings, links and `../` code spans, skipping fenced code blocks and code spans.
fn parse(text: &str) -> Doc {
    let mut doc = Doc::default();
    let mut seen_slugs: std::collections::HashMap<String, usize> = Default::default();
    // Fenced blocks become empty lines, so line numbers stay right for the prose scan below.
    let mut prose = String::with_capacity(text.len());
    let mut fence: Option<(char, usize)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        let run = |c: char| trimmed.chars().take_while(|&x| x == c).count();
        match fence {
            Some((c, len)) => {
                if indent < 4 && run(c) >= len && trimmed.trim_start_matches(c).trim().is_empty() {
                    fence = None;
                }
                prose.push('\n');
                continue;
            }
            None if indent < 4 && (run('`') >= 3 || run('~') >= 3) => {
                let c = trimmed.chars().next().unwrap();
                fence = Some((c, run(c)));
                prose.push('\n');
                continue;
            }
            None => {}
        }
        if let Some(heading) = heading_text(line) {
            let slug = slug(&heading);
            let n = seen_slugs.entry(slug.clone()).or_insert(0);
            let slug = if *n == 0 { slug } else { format!("{slug}-{n}") };
            *n += 1;
            doc.anchors.insert(slug);
        }
        if let Some(dest) = reference_definition(line) {
            doc.links.push(Spot {
                line: prose.matches('\n').count() + 1,
                text: dest.to_owned(),
            });
            prose.push('\n');
            continue;
        }
        prose.push_str(line);
        prose.push('\n');
    }
    scan_prose(&prose, &mut doc);
    doc.links.sort_by_key(|link| link.line);
    doc
}

/// The text of an ATX heading (`## Title ##`), without its markers.
fn heading_text(line: &str) -> Option<String> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let level = trimmed.chars().take_while(|&c| c == '#').count();
    let rest = &trimmed[level..];
    if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let rest = rest.trim();
    let without_closing = rest.trim_end_matches('#');
    let rest = if without_closing.is_empty() || without_closing.ends_with([' ', '\t']) {
        without_closing.trim_end()
    } else {
        rest
    };
    Some(rest.to_owned())
}

/// GitHub's heading anchor: the heading's text as rendered (code spans, emphasis and links
/// reduced to their text), lower-cased, with everything but letters, digits, `-`, `_` and
/// spaces removed and spaces turned into `-`.
fn slug(heading: &str) -> String {
    let mut rendered = String::new();
    let mut chars = heading.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A link's text stays, its destination goes.
            ']' if chars.peek() == Some(&'(') => {
                for d in chars.by_ref() {
                    if d == ')' {
                        break;
                    }
                }
            }
            '*' | '`' | '[' | ']' => {}
            _ => rendered.push(c),
        }
    }
    rendered
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The destination of a link reference definition (`[label]: dest`).
fn reference_definition(line: &str) -> Option<&str> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 || !trimmed.starts_with('[') || trimmed.starts_with("[^") {
        return None;
    }
    let close = trimmed.find("]:")?;
    let dest = trimmed[close + 2..].split_whitespace().next()?;
    Some(dest.trim_start_matches('<').trim_end_matches('>'))
}

/// Finds inline links and images (`](dest)`) and code spans in prose.
fn scan_prose(prose: &str, doc: &mut Doc) {
    let bytes = prose.as_bytes();
    let line_of = |at: usize| prose[..at].matches('\n').count() + 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => {
                let run = bytes[i..].iter().take_while(|&&b| b == b'`').count();
                let start = i + run;
                match find_closing_run(&bytes[start..], run) {
                    Some(len) => {
                        let content = prose[start..start + len].replace('\n', " ");
                        let content = content.trim();
                        if content.starts_with("../") && !content.contains(char::is_whitespace) {
                            doc.parent_paths.push(Spot {
                                line: line_of(i),
                                text: content.to_owned(),
                            });
                        }
                        i = start + len + run;
                    }
                    None => i = start,
                }
            }
            b']' if bytes.get(i + 1) == Some(&b'(') => {
                let start = i + 2;
                let rest = &prose[start..];
                let dest = if let Some(angled) = rest.strip_prefix('<') {
                    angled.split('>').next().unwrap_or("")
                } else {
                    let mut depth = 0usize;
                    let end = rest
                        .char_indices()
                        .find(|&(_, c)| match c {
                            '(' => {
                                depth += 1;
                                false
                            }
                            ')' if depth == 0 => true,
                            ')' => {
                                depth -= 1;
                                false
                            }
                            c => c.is_whitespace(),
                        })
                        .map_or(rest.len(), |(at, _)| at);
                    &rest[..end]
                };
                if !dest.is_empty() {
                    doc.links.push(Spot {
                        line: line_of(i),
                        text: dest.to_owned(),
                    });
                }
                i = start;
            }
            _ => i += 1,
        }
    }
}

/// Length of the code span's content before the next run of exactly `run` backticks.
fn find_closing_run(bytes: &[u8], run: usize) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let len = bytes[i..].iter().take_while(|&&b| b == b'`').count();
            if len == run {
                return Some(i);
            }
            i += len;
        } else {
            i += 1;
        }
    }
    None
}
