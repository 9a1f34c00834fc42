//! Tab completion for the interactive shell: command names, remote paths
//! (by listing the remote directory of the word being typed) and local
//! paths, as the command's arguments call for.
//!
//! rustyline's [`Completer`] is synchronous, while listing a remote
//! directory is async. The shell's whole read-eval loop runs on a blocking
//! thread (see `shell::run`), which is not a runtime worker, so the helper
//! may wait for a listing with [`Handle::block_on`]. Each listing waits at
//! most [`LIST_TIMEOUT`], so a dead connection cannot freeze the prompt.

use std::{cell::RefCell, collections::HashMap, path::Path, rc::Rc, time::Duration};

use ferry_client::{Client, Kind, RemotePath};
use rustyline::{
    completion::{Completer, Pair},
    highlight::Highlighter,
    hint::Hinter,
    validate::Validator,
    Context, Helper,
};
use tokio::runtime::Handle;

use super::command::{self, Args};

/// The longest a completion waits for a remote listing.
const LIST_TIMEOUT: Duration = Duration::from_secs(3);

/// A name in a directory, and whether it is one itself.
#[derive(Debug, Clone)]
struct Name {
    name: String,
    dir: bool,
}

/// The rustyline helper: completion, nothing else.
pub(super) struct ShellHelper {
    handle: Handle,
    client: Option<Client>,
    cwd: RemotePath,
    /// Remote listings made while editing the current line.
    cache: RefCell<HashMap<RemotePath, Rc<Vec<Name>>>>,
}

impl ShellHelper {
    pub(super) fn new(handle: Handle) -> Self {
        ShellHelper {
            handle,
            client: None,
            cwd: RemotePath::root(),
            cache: RefCell::default(),
        }
    }

    /// Called before each prompt: the connection and directory completion
    /// should use, and a fresh cache (the previous command may have changed
    /// what is there).
    pub(super) fn reset(&mut self, client: Option<Client>, cwd: RemotePath) {
        self.client = client;
        self.cwd = cwd;
        self.cache.get_mut().clear();
    }

    /// The entries of a remote directory, from the cache or the server;
    /// empty when it cannot be listed in time.
    fn remote_names(&self, dir: &RemotePath) -> Rc<Vec<Name>> {
        if let Some(names) = self.cache.borrow().get(dir) {
            return names.clone();
        }
        let names = match &self.client {
            Some(client) if !client.is_closed() => {
                let listing = self
                    .handle
                    .block_on(tokio::time::timeout(LIST_TIMEOUT, names_in(client, dir)));
                listing.unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let names = Rc::new(names);
        self.cache.borrow_mut().insert(dir.clone(), names.clone());
        names
    }

    /// Completes a remote path.
    fn remote(&self, word: &str) -> Vec<Pair> {
        let (dir_part, prefix) = split_dir(word);
        let Ok(dir) = self.cwd.resolve(dir_part) else {
            return Vec::new();
        };
        candidates(dir_part, prefix, &self.remote_names(&dir))
    }
}

/// The first [`MAX_NAMES`] names in a remote directory (a huge one is not
/// worth holding for a completion).
async fn names_in(client: &Client, dir: &RemotePath) -> Vec<Name> {
    let mut names = Vec::new();
    let Ok(mut listing) = client.listing(dir).await else {
        return names;
    };
    while let Ok(Some(chunk)) = listing.next_chunk().await {
        names.extend(chunk.into_iter().map(|e| Name {
            dir: e.kind == Kind::Dir,
            name: e.name,
        }));
        if names.len() >= MAX_NAMES {
            break;
        }
    }
    names
}

/// Names of one directory that completion looks at, at most.
const MAX_NAMES: usize = 50_000;

/// Completes a local path.
fn local(word: &str) -> Vec<Pair> {
    let (dir_part, prefix) = split_dir(word);
    let dir = if dir_part.is_empty() {
        Path::new(".")
    } else {
        Path::new(dir_part)
    };
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let names: Vec<Name> = read
        .flatten()
        .filter_map(|item| {
            let name = item.file_name().into_string().ok()?;
            // Follow links: a link to a directory completes like one.
            let dir = std::fs::metadata(item.path()).is_ok_and(|m| m.is_dir());
            Some(Name { name, dir })
        })
        .collect();
    candidates(dir_part, prefix, &names)
}

/// Completes a command name (or alias).
fn commands(word: &str) -> Vec<Pair> {
    let mut out: Vec<Pair> = command::all_names()
        .filter(|name| name.starts_with(word))
        .map(|name| Pair {
            display: name.to_owned(),
            replacement: format!("{name} "),
        })
        .collect();
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out
}

/// `a/b/c` → (`a/b/`, `c`); `c` → (``, `c`).
fn split_dir(word: &str) -> (&str, &str) {
    match word.rfind('/') {
        Some(i) => word.split_at(i + 1),
        None => ("", word),
    }
}

/// The names in a directory that start with `prefix`, as replacements for
/// the whole word (escaped, directories with a trailing `/`). Hidden names
/// only when the prefix asks for them.
fn candidates(dir_part: &str, prefix: &str, names: &[Name]) -> Vec<Pair> {
    let mut out: Vec<Pair> = names
        .iter()
        .filter(|n| {
            n.name.starts_with(prefix) && (!n.name.starts_with('.') || prefix.starts_with('.'))
        })
        // A name with control characters would reach the terminal raw in
        // the edited line; it cannot be typed anyway (a glob reaches it).
        .filter(|n| crate::output::printable(&n.name))
        .map(|n| {
            let slash = if n.dir { "/" } else { "" };
            Pair {
                display: format!("{}{slash}", crate::output::escape(&n.name)),
                replacement: format!(
                    "{}{slash}",
                    command::escape(&format!("{dir_part}{}", n.name))
                ),
            }
        })
        .collect();
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let Some(before) = line.get(..pos) else {
            return Ok((pos, Vec::new()));
        };
        let (words, current) = command::split_for_completion(before);
        let Some(first) = words.first() else {
            // The command word; a leading '-' (carry on after a failure) stays.
            let (dash, word) = match current.text.strip_prefix('-') {
                Some(rest) => (1, rest),
                None => (0, current.text.as_str()),
            };
            return Ok((current.start + dash, commands(word)));
        };
        let name = first.text.strip_prefix('-').unwrap_or(&first.text);
        let Some(spec) = command::lookup(name) else {
            return Ok((current.start, Vec::new()));
        };
        if current.text.starts_with('-') {
            return Ok((current.start, Vec::new()));
        }
        let prev = words
            .last()
            .filter(|_| words.len() > 1)
            .map(|w| w.text.as_str());
        let found = match spec.arg_after(prev) {
            Args::Nothing => Vec::new(),
            Args::Commands => commands(&current.text),
            Args::Local => local(&current.text),
            Args::Remote => self.remote(&current.text),
        };
        Ok((current.start, found))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[(&str, bool)]) -> Vec<Name> {
        list.iter()
            .map(|(n, d)| Name {
                name: (*n).to_owned(),
                dir: *d,
            })
            .collect()
    }

    fn replacements(pairs: Vec<Pair>) -> Vec<String> {
        pairs.into_iter().map(|p| p.replacement).collect()
    }

    #[test]
    fn completes_names_in_a_directory() {
        let dir = names(&[
            ("sub", true),
            ("summer.mp4", false),
            ("other", false),
            (".hidden", false),
            ("my file", false),
        ]);
        assert_eq!(
            replacements(candidates("", "su", &dir)),
            ["sub/", "summer.mp4"]
        );
        assert_eq!(replacements(candidates("a/b/", "o", &dir)), ["a/b/other"]);
        assert_eq!(replacements(candidates("", ".", &dir)), [".hidden"]);
        assert_eq!(replacements(candidates("", "my", &dir)), [r"my\ file"]);
        assert_eq!(candidates("", "", &dir).len(), 4);
        assert_eq!(split_dir("a/b/c"), ("a/b/", "c"));
        assert_eq!(split_dir("/c"), ("/", "c"));
        assert_eq!(split_dir("c"), ("", "c"));
    }

    #[test]
    fn names_that_would_drive_the_terminal_are_not_offered() {
        let dir = names(&[
            ("ok.txt", false),
            ("ok\x1b]0;pwned\x07.txt", false),
            ("ok\n.txt", false),
            ("ok\u{202e}.txt", false),
        ]);
        assert_eq!(replacements(candidates("", "ok", &dir)), ["ok.txt"]);
    }

    #[test]
    fn completes_commands_and_aliases() {
        assert_eq!(replacements(commands("ge")), ["get "]);
        let l: Vec<_> = commands("l").into_iter().map(|p| p.display).collect();
        assert!(
            l.contains(&"lls".to_owned()) && l.contains(&"lsl".to_owned()),
            "{l:?}"
        );
        assert_eq!(replacements(commands("DOWN")), ["DOWNLOAD "]);
    }
}
