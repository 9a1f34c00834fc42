//! Glob expansion on the side that holds the files: remote patterns by
//! listing remote directories, local patterns by reading local ones.
//!
//! A pattern is split at `/`. Any component may hold glob syntax
//! (`* ? [ {`); it is matched against the names in the directories reached
//! so far. A component that is exactly `**` matches any number of
//! directories (none included), as in rsync, zsh and globset; a pattern
//! that ends in `**` matches every file below. As in a shell, `*` does not
//! cross `/` and no wildcard matches a leading `.` unless the component
//! starts with one (`**` does not enter hidden directories). Components
//! without glob syntax are taken literally; once a pattern has had a
//! wildcard, they must exist to match, so `/c*/same.txt` yields only the
//! `same.txt` files that are there.
//!
//! Expansion is bounded: at most [`Limits::max_entries`] matches and
//! [`Limits::max_depth`] directories below the pattern's start, each
//! listing read chunk by chunk and only its matches kept. A name in a
//! server's listing that is not a valid file name is skipped and reported
//! ([`Skipped`]), never the end of the whole expansion.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::Arc,
};

use ferry_proto::{Entry, Kind, PathError, RemotePath};
use globset::{GlobBuilder, GlobMatcher};
use tokio::task::JoinSet;

use crate::{Client, RequestError};

/// Listings or stats of one expansion in flight at once.
const CONCURRENCY: usize = 16;

/// How far expansions and recursive walks may go, so that a server (or a
/// filesystem) cannot make the client's memory or time grow without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries (matches, files and directories of a batch) at most.
    pub max_entries: usize,
    /// Directory levels below a starting point at most.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1_000_000,
            max_depth: 256,
        }
    }
}

/// Whether `s` contains glob syntax.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// Why something found along the way was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A symbolic link: recursive copies do not follow links.
    Symlink {
        /// Where it points, if known.
        target: Option<String>,
    },
    /// Neither a regular file, a directory nor a link (a socket, a device,
    /// a FIFO inside a tree).
    NotRegular,
    /// A name in a listing that is not a valid file name.
    BadName(PathError),
}

/// Something left out of an expansion or a walk, reported as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is (for a bad name: its directory, a `/`, and the name).
    pub path: String,
    /// Why.
    pub reason: SkipReason,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            SkipReason::Symlink { target: Some(t) } => {
                write!(f, "{}: skipped symbolic link to {t}", self.path)
            }
            SkipReason::Symlink { target: None } => {
                write!(f, "{}: skipped symbolic link", self.path)
            }
            SkipReason::NotRegular => write!(f, "{}: skipped, not a regular file", self.path),
            SkipReason::BadName(e) => {
                write!(f, "{}: skipped a bad name in the listing ({e})", self.path)
            }
        }
    }
}

fn matcher(component: &str) -> Result<GlobMatcher, RequestError> {
    GlobBuilder::new(component)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|source| RequestError::BadPattern {
            pattern: component.to_owned(),
            source,
        })
}

fn visible(name: &str, component: &str) -> bool {
    !name.starts_with('.') || component.starts_with('.')
}

/// One component of a pattern.
#[derive(Debug)]
enum Part {
    /// Taken literally (`..` steps up).
    Literal(String),
    /// A wildcard component, with the text it came from.
    Glob(GlobMatcher, String),
    /// `**`.
    Any,
}

fn parts(pattern: &str) -> Result<Vec<Part>, RequestError> {
    pattern
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(|c| {
            Ok(if c == "**" {
                Part::Any
            } else if is_glob(c) {
                Part::Glob(matcher(c)?, c.to_owned())
            } else {
                Part::Literal(c.to_owned())
            })
        })
        .collect()
}

/// A remote path that matched, with what its listing (or a stat) said about
/// it (`None` for a path without any wildcard, which may not exist).
#[derive(Debug, Clone)]
pub struct RemoteMatch {
    /// The path.
    pub path: RemotePath,
    /// Its entry from the parent's listing (links not followed), or from a
    /// stat (followed).
    pub entry: Option<Entry>,
}

/// The matches of a pattern, sorted, and what was skipped on the way.
#[derive(Debug)]
pub struct Expansion<T> {
    /// What matched.
    pub matches: Vec<T>,
    /// What was left out, to report.
    pub skipped: Vec<Skipped>,
}

impl<T> Default for Expansion<T> {
    fn default() -> Self {
        Expansion {
            matches: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// A point reached while expanding: a path and the next part to match.
#[derive(Debug, Clone)]
struct Point {
    path: RemotePath,
    entry: Option<Entry>,
    part: usize,
    depth: usize,
}

/// What one listing or stat gave.
#[derive(Default)]
struct Found {
    next: Vec<Point>,
    matches: Vec<RemoteMatch>,
    skipped: Vec<Skipped>,
}

/// Expands a remote pattern relative to `cwd`. A pattern without glob syntax
/// yields its resolved path unchecked; a glob yields its matches, sorted.
pub async fn expand_remote(
    client: &Client,
    cwd: &RemotePath,
    pattern: &str,
    limits: Limits,
) -> Result<Expansion<RemoteMatch>, RequestError> {
    let bad_path = |source| RequestError::BadPath {
        input: pattern.to_owned(),
        source,
    };
    if !is_glob(pattern) {
        let path = cwd.resolve(pattern).map_err(bad_path)?;
        return Ok(Expansion {
            matches: vec![RemoteMatch { path, entry: None }],
            skipped: Vec::new(),
        });
    }
    let parts = Arc::new(parts(pattern)?);
    let start = if pattern.starts_with('/') {
        RemotePath::root()
    } else {
        cwd.clone()
    };
    let mut out = Expansion::default();
    let mut seen = HashSet::new();
    let mut frontier = vec![Point {
        path: start,
        entry: None,
        part: 0,
        depth: 0,
    }];
    while !frontier.is_empty() {
        let mut tasks = JoinSet::new();
        let mut next = Vec::new();
        for point in frontier {
            if !seen.insert((point.path.clone(), point.part)) {
                continue;
            }
            if point.part == parts.len() {
                out.matches.push(RemoteMatch {
                    path: point.path,
                    entry: point.entry,
                });
                continue;
            }
            if point
                .entry
                .as_ref()
                .is_some_and(|e| !matches!(e.kind, Kind::Dir | Kind::Symlink))
            {
                continue;
            }
            // Literal parts before any listing need no server.
            if let Some(Part::Literal(name)) = parts.get(point.part) {
                let globbed = parts[..point.part]
                    .iter()
                    .any(|p| !matches!(p, Part::Literal(_)));
                let path = point.path.resolve(name).map_err(bad_path)?;
                let last = point.part + 1 == parts.len();
                if !globbed || !last {
                    next.push(Point {
                        path,
                        entry: None,
                        part: point.part + 1,
                        depth: point.depth,
                    });
                    continue;
                }
                // After a wildcard, the last literal part must exist.
                while tasks.len() >= CONCURRENCY {
                    absorb(&mut tasks, &mut next, &mut out).await?;
                }
                let client = client.clone();
                tasks.spawn(async move {
                    let mut found = Found::default();
                    if let Ok(entry) = client.stat(&path).await {
                        found.matches.push(RemoteMatch {
                            path,
                            entry: Some(entry),
                        });
                    }
                    Ok(found)
                });
                continue;
            }
            if point.depth >= limits.max_depth {
                return Err(RequestError::TooDeep {
                    path: point.path.to_string(),
                    limit: limits.max_depth,
                });
            }
            while tasks.len() >= CONCURRENCY {
                absorb(&mut tasks, &mut next, &mut out).await?;
            }
            let client = client.clone();
            let parts = parts.clone();
            tasks.spawn(async move { list_step(&client, point, &parts).await });
        }
        while !tasks.is_empty() {
            absorb(&mut tasks, &mut next, &mut out).await?;
        }
        if out.matches.len() > limits.max_entries {
            return Err(RequestError::TooMany {
                what: pattern.to_owned(),
                limit: limits.max_entries,
            });
        }
        frontier = next;
    }
    out.matches.sort_by(|a, b| a.path.cmp(&b.path));
    out.matches.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}

/// Waits for one task and adds what it found.
async fn absorb(
    tasks: &mut JoinSet<Result<Found, RequestError>>,
    next: &mut Vec<Point>,
    out: &mut Expansion<RemoteMatch>,
) -> Result<(), RequestError> {
    if let Some(done) = tasks.join_next().await {
        let found = done.map_err(RequestError::internal)??;
        next.extend(found.next);
        out.matches.extend(found.matches);
        out.skipped.extend(found.skipped);
    }
    Ok(())
}

/// Lists `point`'s directory and matches its entries against the next
/// part. Directories that cannot be listed simply match nothing; a lost
/// connection is an error.
async fn list_step(client: &Client, point: Point, parts: &[Part]) -> Result<Found, RequestError> {
    let mut found = Found::default();
    let mut listing = match client.listing(&point.path).await {
        Ok(listing) => listing,
        Err(e) if e.is_connection_lost() => return Err(e),
        Err(_) => return Ok(found),
    };
    let last = point.part + 1 == parts.len();
    loop {
        let chunk = match listing.next_chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) if e.is_connection_lost() => return Err(e),
            Err(_) => break,
        };
        for entry in chunk {
            // A bad name is reported whether or not it would match.
            let path = match point.path.join(&entry.name) {
                Ok(path) => path,
                Err(e) => {
                    found.skipped.push(Skipped {
                        path: bad_name_path(&point.path.to_string(), &entry.name),
                        reason: SkipReason::BadName(e),
                    });
                    continue;
                }
            };
            let keep = match &parts[point.part] {
                Part::Glob(glob, text) => visible(&entry.name, text) && glob.is_match(&entry.name),
                // `**` enters visible directories; at the end it matches
                // every file below.
                Part::Any => !entry.name.starts_with('.'),
                Part::Literal(_) => false,
            };
            if !keep {
                continue;
            }
            let depth = point.depth + 1;
            match &parts[point.part] {
                Part::Any => {
                    if entry.kind == Kind::Dir {
                        found.next.push(Point {
                            path,
                            entry: Some(entry),
                            part: point.part,
                            depth,
                        });
                    } else if last {
                        found.matches.push(RemoteMatch {
                            path,
                            entry: Some(entry),
                        });
                    }
                }
                _ => found.next.push(Point {
                    path,
                    entry: Some(entry),
                    part: point.part + 1,
                    depth,
                }),
            }
        }
    }
    // `**` also matches no directory at all.
    if matches!(parts[point.part], Part::Any) && !last {
        found.next.push(Point {
            part: point.part + 1,
            ..point
        });
    }
    Ok(found)
}

/// How a bad name is shown: its directory and the name as sent.
pub fn bad_name_path(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Expands a local pattern. A pattern without glob syntax yields itself
/// unchecked; a glob yields its matches, sorted.
pub fn expand_local(pattern: &str, limits: Limits) -> Result<Vec<PathBuf>, RequestError> {
    if !is_glob(pattern) {
        return Ok(vec![PathBuf::from(pattern)]);
    }
    let parts = parts(pattern)?;
    let start = if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    let mut found = Vec::new();
    let mut stack = vec![(start, 0usize, 0usize, false)];
    let mut seen = HashSet::new();
    while let Some((dir, part, depth, globbed)) = stack.pop() {
        if !seen.insert((dir.clone(), part)) {
            continue;
        }
        if part == parts.len() {
            found.push(dir);
            if found.len() > limits.max_entries {
                return Err(RequestError::TooMany {
                    what: pattern.to_owned(),
                    limit: limits.max_entries,
                });
            }
            continue;
        }
        if let Part::Literal(name) = &parts[part] {
            let path = dir.join(name);
            let last = part + 1 == parts.len();
            if !(globbed && last) || path.symlink_metadata().is_ok() {
                stack.push((path, part + 1, depth, globbed));
            }
            continue;
        }
        if depth >= limits.max_depth {
            return Err(RequestError::TooDeep {
                path: dir.display().to_string(),
                limit: limits.max_depth,
            });
        }
        let listing = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir.as_path()
        };
        let Ok(entries) = std::fs::read_dir(listing) else {
            continue;
        };
        let last = part + 1 == parts.len();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = dir.join(name);
            match &parts[part] {
                Part::Glob(glob, text) => {
                    if visible(name, text) && glob.is_match(name) {
                        stack.push((path, part + 1, depth + 1, true));
                    }
                }
                Part::Any => {
                    if name.starts_with('.') {
                        continue;
                    }
                    let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                    if is_dir {
                        stack.push((path, part, depth + 1, true));
                    } else if last {
                        stack.push((path, part + 1, depth + 1, true));
                    }
                }
                Part::Literal(_) => {}
            }
        }
        if matches!(parts[part], Part::Any) && !last {
            stack.push((dir, part + 1, depth, true));
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_globs_match_like_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/x")).unwrap();
        std::fs::create_dir_all(d.join("b")).unwrap();
        std::fs::create_dir_all(d.join("c1")).unwrap();
        std::fs::create_dir_all(d.join("c2")).unwrap();
        std::fs::create_dir_all(d.join("c3")).unwrap();
        std::fs::create_dir_all(d.join(".hid")).unwrap();
        for f in [
            "a/1.log",
            "a/2.log",
            "a/.h.log",
            "a/x/3.log",
            "b/4.log",
            "b/5.txt",
            "c1/same.txt",
            "c2/same.txt",
            "cfile",
            ".hid/6.log",
        ] {
            std::fs::write(d.join(f), f).unwrap();
        }
        let root = d.to_str().unwrap();
        let names = |pat: &str| -> Vec<String> {
            expand_local(&format!("{root}/{pat}"), Limits::default())
                .unwrap()
                .into_iter()
                .map(|p| p.strip_prefix(d).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names("a/*.log"), ["a/1.log", "a/2.log"]);
        assert_eq!(names("*/*.log"), ["a/1.log", "a/2.log", "b/4.log"]);
        assert_eq!(names("a/.*.log"), ["a/.h.log"]);
        assert_eq!(names("b/*.{txt,log}"), ["b/4.log", "b/5.txt"]);
        assert_eq!(names("[ab]/?.txt"), ["b/5.txt"]);
        assert!(names("c/*").is_empty());
        // A wildcard in the middle: only what exists, files not entered.
        assert_eq!(names("c*/same.txt"), ["c1/same.txt", "c2/same.txt"]);
        // `**`: any number of directories, hidden ones left alone.
        assert_eq!(
            names("**/*.log"),
            ["a/1.log", "a/2.log", "a/x/3.log", "b/4.log"]
        );
        assert_eq!(names("a/**"), ["a/1.log", "a/2.log", "a/x/3.log"]);
        assert!(expand_local("x/[", Limits::default()).is_err());
        let shallow = Limits {
            max_entries: 100,
            max_depth: 1,
        };
        assert!(matches!(
            expand_local(&format!("{root}/**/*.log"), shallow),
            Err(RequestError::TooDeep { .. })
        ));
        let few = Limits {
            max_entries: 2,
            max_depth: 10,
        };
        assert!(matches!(
            expand_local(&format!("{root}/**/*.log"), few),
            Err(RequestError::TooMany { .. })
        ));
    }
}
