//! Glob expansion on the side that holds the files: remote patterns by
//! listing remote directories, local patterns by reading local ones.
//!
//! A pattern is split at `/`; each component with glob syntax (`* ? [ {`)
//! is matched against the names in the directories reached so far, the
//! others are taken literally. As in a shell, `*` does not cross `/` and
//! does not match a leading `.` unless the pattern component starts with one.

use std::path::{Path, PathBuf};

use ferry_proto::{Entry, Kind, RemotePath};
use globset::{GlobBuilder, GlobMatcher};

use crate::{Client, RequestError};

/// Whether `s` contains glob syntax.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
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

/// A remote path that matched, with what its listing said about it (`None`
/// for paths taken literally, which may not exist).
#[derive(Debug, Clone)]
pub struct RemoteMatch {
    /// The path.
    pub path: RemotePath,
    /// Its entry from the parent's listing (symlinks not followed).
    pub entry: Option<Entry>,
}

/// Expands a remote pattern relative to `cwd`. A pattern without glob syntax
/// yields its resolved path unchecked; a glob yields its matches, sorted.
pub async fn expand_remote(
    client: &Client,
    cwd: &RemotePath,
    pattern: &str,
) -> Result<Vec<RemoteMatch>, RequestError> {
    let bad_path = |source| RequestError::BadPath {
        input: pattern.to_owned(),
        source,
    };
    if !is_glob(pattern) {
        let path = cwd.resolve(pattern).map_err(bad_path)?;
        return Ok(vec![RemoteMatch { path, entry: None }]);
    }
    let start = if pattern.starts_with('/') {
        RemotePath::root()
    } else {
        cwd.clone()
    };
    let mut found = vec![RemoteMatch {
        path: start,
        entry: None,
    }];
    for component in pattern.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let mut next = Vec::new();
        if !is_glob(component) {
            for m in found {
                let path = m.path.resolve(component).map_err(bad_path)?;
                next.push(RemoteMatch { path, entry: None });
            }
        } else {
            let glob = matcher(component)?;
            for m in found {
                if matches!(&m.entry, Some(e) if e.kind == Kind::File) {
                    continue;
                }
                // Directories that cannot be listed simply match nothing.
                let Ok(entries) = client.list(&m.path).await else {
                    continue;
                };
                for entry in entries {
                    if visible(&entry.name, component) && glob.is_match(&entry.name) {
                        let path = m.path.join(&entry.name).map_err(bad_path)?;
                        next.push(RemoteMatch {
                            path,
                            entry: Some(entry),
                        });
                    }
                }
            }
        }
        found = next;
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Expands a local pattern. A pattern without glob syntax yields itself
/// unchecked; a glob yields its matches, sorted.
pub fn expand_local(pattern: &str) -> Result<Vec<PathBuf>, RequestError> {
    if !is_glob(pattern) {
        return Ok(vec![PathBuf::from(pattern)]);
    }
    let mut found = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for component in pattern.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if !is_glob(component) {
            found.iter_mut().for_each(|p| p.push(component));
            continue;
        }
        let glob = matcher(component)?;
        let mut next = Vec::new();
        for dir in &found {
            let listing = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir.as_path()
            };
            let Ok(entries) = std::fs::read_dir(listing) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if visible(name, component) && glob.is_match(name) {
                    next.push(dir.join(name));
                }
            }
        }
        found = next;
    }
    found.sort();
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
        for f in [
            "a/1.log",
            "a/2.log",
            "a/.h.log",
            "a/x/3.log",
            "b/4.log",
            "b/5.txt",
        ] {
            std::fs::write(d.join(f), f).unwrap();
        }
        let root = d.to_str().unwrap();
        let names = |pat: &str| -> Vec<String> {
            expand_local(&format!("{root}/{pat}"))
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
        assert!(expand_local("x/[").is_err());
    }
}
