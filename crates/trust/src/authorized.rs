//! The clients a server admits: `authorized_clients` in the server's state
//! directory, one client per line, like SSH's `authorized_keys`:
//!
//! ```text
//! SHA256:<base64 of the certificate's SHA-256> NAME [read-only]
//! ```
//!
//! A line without `read-only` grants read-write (`read-write` may be written
//! out). Blank lines and `#` comments are kept; lines that do not parse are
//! ignored, and reported by [`AuthorizedClients::ignored`] so that the
//! server and `ferry clients` can say so. Every change made here happens
//! under the directory's [`StateLock`] and rewrites the file atomically, so
//! the operator's commands and a running server never lose each other's
//! changes.

use std::{
    fmt, fs, io,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use ferry_proto::Fingerprint;

use crate::{lock::StateLock, pins::PinFile};

/// The file's name inside the server's state directory.
pub const AUTHORIZED_CLIENTS: &str = "authorized_clients";

/// The mark of a read-only client.
pub const READ_ONLY: &str = "read-only";
/// The (optional) mark of a read-write client.
pub const READ_WRITE: &str = "read-write";

/// The longest client name.
pub const MAX_NAME_LEN: usize = 64;

/// Written at the top of a new file.
const HEADER: &str = "\
# ferry: the clients this server admits, one per line:
#   SHA256:<certificate fingerprint> NAME [read-only]
# A line without read-only grants read-write. A running server applies
# changes within seconds. `ferry allow`, `ferry revoke`, `ferry clients`
# and `ferry invite` (all with --certs DIR) manage this file.
";

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read and change the tree.
    ReadWrite,
    /// Stat, list and download only.
    ReadOnly,
}

impl Access {
    /// `read-write` or `read-only`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadWrite => READ_WRITE,
            Access::ReadOnly => READ_ONLY,
        }
    }

    fn parse(word: &str) -> Option<Self> {
        match word {
            READ_ONLY => Some(Access::ReadOnly),
            READ_WRITE => Some(Access::ReadWrite),
            _ => None,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One admitted client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedClient {
    /// Its certificate's fingerprint.
    pub fingerprint: Fingerprint,
    /// Its name, unique in a file written by ferry (hand edits may repeat
    /// one).
    pub name: String,
    /// What it may do.
    pub access: Access,
}

impl AuthorizedClient {
    /// The line that records it.
    fn line(&self) -> String {
        match self.access {
            Access::ReadWrite => format!("{} {}", self.fingerprint, self.name),
            Access::ReadOnly => format!("{} {} {READ_ONLY}", self.fingerprint, self.name),
        }
    }
}

/// A line of the file that is not a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredLine {
    /// Its number, from 1.
    pub number: usize,
    /// Why it was ignored.
    pub why: String,
}

/// How `allow` changed the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// A new line.
    Added(AuthorizedClient),
    /// The client was there with another name or other rights.
    Updated {
        /// As it was.
        before: AuthorizedClient,
        /// As it is now.
        after: AuthorizedClient,
    },
    /// The client was there exactly so.
    Unchanged(AuthorizedClient),
}

/// Why the list could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// The file or its lock could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The name is not usable.
    #[error("'{0}' is not a usable client name: use 1 to {MAX_NAME_LEN} letters, digits and . _ - @ +, not starting with '-'")]
    BadName(String),
    /// Another client has that name.
    #[error("the name '{name}' is taken by {by}; choose another with --name")]
    NameTaken {
        /// The name.
        name: String,
        /// Who has it.
        by: Fingerprint,
    },
    /// Nothing matched a revocation.
    #[error("no client named or with the fingerprint '{0}'")]
    NotFound(String),
}

/// Whether `name` may name a client: 1 to [`MAX_NAME_LEN`] of ASCII
/// letters, digits and `. _ - @ +`, not starting with `-` (it would read as
/// an option), and not a rights keyword.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && !name.starts_with('-')
        && Access::parse(name).is_none()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
}

/// The authorized clients file of one state directory, as read.
#[derive(Debug, Clone)]
pub struct AuthorizedClients {
    file: PinFile,
}

impl AuthorizedClients {
    /// The file's path for the state directory `dir`.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(AUTHORIZED_CLIENTS)
    }

    /// Reads the list of `dir`; a missing file is an empty list.
    pub fn load(dir: &Path) -> Result<Self, ClientsError> {
        let path = Self::path_in(dir);
        let file = PinFile::load(&path).map_err(|error| ClientsError::Io { path, error })?;
        Ok(AuthorizedClients { file })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Every client, in file order; a fingerprint listed twice counts once
    /// (the first line wins).
    pub fn clients(&self) -> Vec<AuthorizedClient> {
        self.parse().0
    }

    /// The lines that were ignored, and why.
    pub fn ignored(&self) -> Vec<IgnoredLine> {
        self.parse().1
    }

    /// The client with this fingerprint.
    pub fn get(&self, fp: &Fingerprint) -> Option<AuthorizedClient> {
        self.clients().into_iter().find(|c| c.fingerprint == *fp)
    }

    /// Admits `fp` with `access`, under `name` or, without one, a new
    /// `client-N`; a client already listed gets the new rights (and the new
    /// name, if one is given).
    pub fn allow(
        dir: &Path,
        fp: Fingerprint,
        name: Option<&str>,
        access: Access,
    ) -> Result<Allowed, ClientsError> {
        if let Some(name) = name {
            if !valid_name(name) {
                return Err(ClientsError::BadName(name.to_owned()));
            }
        }
        let _lock = lock(dir)?;
        let mut list = Self::load(dir)?;
        let clients = list.clients();
        if let Some(name) = name {
            if let Some(other) = clients
                .iter()
                .find(|c| c.name == name && c.fingerprint != fp)
            {
                return Err(ClientsError::NameTaken {
                    name: name.to_owned(),
                    by: other.fingerprint,
                });
            }
        }
        match clients.iter().find(|c| c.fingerprint == fp) {
            Some(before) => {
                let after = AuthorizedClient {
                    fingerprint: fp,
                    name: name.map_or_else(|| before.name.clone(), str::to_owned),
                    access,
                };
                if after == *before {
                    return Ok(Allowed::Unchanged(after));
                }
                let line = after.line();
                list.edit(|fields| {
                    let hit = parse_line(fields).is_ok_and(|c| c.fingerprint == fp);
                    hit.then(|| Some(line.clone()))
                })?;
                Ok(Allowed::Updated {
                    before: before.clone(),
                    after,
                })
            }
            None => {
                let name = name.map_or_else(|| free_name(&clients, "client", 1), str::to_owned);
                let client = AuthorizedClient {
                    fingerprint: fp,
                    name,
                    access,
                };
                list.append(&client)?;
                Ok(Allowed::Added(client))
            }
        }
    }

    /// Removes the client named `who`, or with the fingerprint `who`;
    /// returns what went.
    pub fn revoke(dir: &Path, who: &str) -> Result<Vec<AuthorizedClient>, ClientsError> {
        let by_fp: Option<Fingerprint> = who.parse().ok();
        let _lock = lock(dir)?;
        let mut list = Self::load(dir)?;
        let gone: Vec<AuthorizedClient> = list
            .clients()
            .into_iter()
            .filter(|c| Some(c.fingerprint) == by_fp || c.name == who)
            .collect();
        if gone.is_empty() {
            return Err(ClientsError::NotFound(who.to_owned()));
        }
        list.edit(|fields| {
            let hit = parse_line(fields)
                .is_ok_and(|c| gone.iter().any(|g| g.fingerprint == c.fingerprint));
            hit.then_some(None)
        })?;
        Ok(gone)
    }

    /// Adds `fp` under a unique name made from `wanted` (or `client-N`),
    /// with `access`: the last step of an enrollment, whose caller holds the
    /// lock. A client already listed is returned as it is.
    pub(crate) fn enroll_locked(
        dir: &Path,
        fp: Fingerprint,
        wanted: Option<&str>,
        access: Access,
    ) -> Result<AuthorizedClient, ClientsError> {
        let mut list = Self::load(dir)?;
        let clients = list.clients();
        if let Some(existing) = clients.iter().find(|c| c.fingerprint == fp) {
            return Ok(existing.clone());
        }
        let name = match wanted.filter(|w| valid_name(w)) {
            Some(w) if !clients.iter().any(|c| c.name == w) => w.to_owned(),
            Some(w) => free_name(&clients, truncate_for_suffix(w), 2),
            None => free_name(&clients, "client", 1),
        };
        let client = AuthorizedClient {
            fingerprint: fp,
            name,
            access,
        };
        list.append(&client)?;
        Ok(client)
    }

    fn append(&mut self, client: &AuthorizedClient) -> Result<(), ClientsError> {
        let path = self.path().to_owned();
        let io = |error| ClientsError::Io {
            path: path.clone(),
            error,
        };
        create_with_header(&path, HEADER).map_err(io)?;
        // Reload: the header may have just been written.
        self.file = PinFile::load(&path).map_err(io)?;
        self.file.append(&[&client.line()]).map_err(io)
    }

    fn edit(
        &mut self,
        change: impl Fn(&[&str]) -> Option<Option<String>>,
    ) -> Result<(), ClientsError> {
        let path = self.path().to_owned();
        self.file
            .edit(change)
            .map(drop)
            .map_err(|error| ClientsError::Io { path, error })
    }

    fn parse(&self) -> (Vec<AuthorizedClient>, Vec<IgnoredLine>) {
        let mut clients: Vec<AuthorizedClient> = Vec::new();
        let mut ignored = Vec::new();
        for (number, fields) in self.file.numbered_records() {
            match parse_line(&fields) {
                Ok(c) if clients.iter().any(|k| k.fingerprint == c.fingerprint) => {
                    ignored.push(IgnoredLine {
                        number,
                        why: format!("{} is listed on an earlier line", c.fingerprint),
                    });
                }
                Ok(c) => clients.push(c),
                Err(why) => ignored.push(IgnoredLine { number, why }),
            }
        }
        (clients, ignored)
    }
}

fn lock(dir: &Path) -> Result<StateLock, ClientsError> {
    StateLock::exclusive(dir).map_err(|error| ClientsError::Io {
        path: dir.join(crate::lock::LOCK_FILE),
        error,
    })
}

/// Parses one record: `FINGERPRINT [NAME] [read-only|read-write]`, where a
/// word starting with `#` begins a comment.
fn parse_line(fields: &[&str]) -> Result<AuthorizedClient, String> {
    let mut words = fields.iter().copied().take_while(|w| !w.starts_with('#'));
    let first = words.next().unwrap_or_default();
    let fingerprint: Fingerprint = first
        .parse()
        .map_err(|_| format!("'{}' is not a SHA256:… fingerprint", shorten(first)))?;
    let mut name = None;
    let mut access = None;
    for word in words {
        match Access::parse(word) {
            Some(a) if access.is_none() => access = Some(a),
            None if name.is_none() && access.is_none() && valid_name(word) => {
                name = Some(word.to_owned());
            }
            _ => return Err(format!("unexpected '{}'", shorten(word))),
        }
    }
    Ok(AuthorizedClient {
        // A bare fingerprint still admits its client, under a name made
        // from it.
        name: name.unwrap_or_else(|| short_name(&fingerprint)),
        fingerprint,
        access: access.unwrap_or(Access::ReadWrite),
    })
}

/// `fp-XXXXXXXX`: a name for a line that gives none.
fn short_name(fp: &Fingerprint) -> String {
    let text = fp.to_string();
    let b64 = text.trim_start_matches("SHA256:");
    let short: String = b64
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("fp-{short}")
}

fn shorten(word: &str) -> String {
    let mut s: String = word.chars().take(40).collect();
    if s.len() < word.len() {
        s.push('…');
    }
    s.escape_debug().to_string()
}

/// `base-N` for the first N from `from` that no client uses (`base` itself
/// counts as N = 1 when `from` is 2).
fn free_name(clients: &[AuthorizedClient], base: &str, from: usize) -> String {
    let taken = |n: &str| clients.iter().any(|c| c.name == n);
    (from..)
        .map(|n| format!("{base}-{n}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_owned())
}

/// Leaves room for a `-N` suffix within [`MAX_NAME_LEN`].
fn truncate_for_suffix(name: &str) -> &str {
    let max = MAX_NAME_LEN - 8;
    if name.len() <= max {
        name
    } else {
        // Names are ASCII (valid_name), so any index is a boundary.
        &name[..max]
    }
}

/// Creates `path` with mode 0600 and `header` if it does not exist yet.
pub(crate) fn create_with_header(path: &Path, header: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(header.as_bytes())?;
            f.sync_all()
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn fp(seed: &[u8]) -> Fingerprint {
        Fingerprint::of_der(seed)
    }

    #[test]
    fn allow_update_and_revoke_by_name_or_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (fp(b"a"), fp(b"b"), fp(b"c"));
        let added =
            AuthorizedClients::allow(dir.path(), a, Some("alice"), Access::ReadWrite).unwrap();
        assert!(matches!(added, Allowed::Added(ref x) if x.name == "alice"));
        let added = AuthorizedClients::allow(dir.path(), b, None, Access::ReadOnly).unwrap();
        assert!(matches!(added, Allowed::Added(ref x) if x.name == "client-1"));
        let added = AuthorizedClients::allow(dir.path(), c, None, Access::ReadWrite).unwrap();
        assert!(matches!(added, Allowed::Added(ref x) if x.name == "client-2"));

        // The file is private, explained, and readable by hand.
        let path = AuthorizedClients::path_in(dir.path());
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# ferry:"), "{text}");
        assert!(text.contains(&format!("\n{a} alice\n")), "{text}");
        assert!(
            text.contains(&format!("\n{b} client-1 read-only\n")),
            "{text}"
        );

        // Same again: unchanged; new rights: updated in place.
        let same = AuthorizedClients::allow(dir.path(), a, None, Access::ReadWrite).unwrap();
        assert!(matches!(same, Allowed::Unchanged(_)));
        let updated = AuthorizedClients::allow(dir.path(), a, None, Access::ReadOnly).unwrap();
        assert!(
            matches!(updated, Allowed::Updated { ref after, .. } if after.access == Access::ReadOnly && after.name == "alice")
        );
        let err =
            AuthorizedClients::allow(dir.path(), c, Some("alice"), Access::ReadOnly).unwrap_err();
        assert!(matches!(err, ClientsError::NameTaken { .. }), "{err}");
        let err =
            AuthorizedClients::allow(dir.path(), c, Some("-x"), Access::ReadOnly).unwrap_err();
        assert!(matches!(err, ClientsError::BadName(_)), "{err}");

        let list = AuthorizedClients::load(dir.path()).unwrap();
        let names: Vec<_> = list.clients().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["alice", "client-1", "client-2"]);

        let gone = AuthorizedClients::revoke(dir.path(), "client-1").unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].fingerprint, b);
        let gone = AuthorizedClients::revoke(dir.path(), &a.to_string()).unwrap();
        assert_eq!(gone[0].name, "alice");
        let err = AuthorizedClients::revoke(dir.path(), "alice").unwrap_err();
        assert!(matches!(err, ClientsError::NotFound(_)), "{err}");
        let list = AuthorizedClients::load(dir.path()).unwrap();
        assert_eq!(list.clients().len(), 1);
        assert_eq!(list.get(&c).unwrap().name, "client-2");
        assert!(list.get(&a).is_none());
        assert!(fs::read_to_string(&path).unwrap().starts_with("# ferry:"));
    }

    #[test]
    fn hand_edited_lines_parse_leniently_and_bad_ones_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c, d) = (fp(b"a"), fp(b"b"), fp(b"c"), fp(b"d"));
        fs::write(
            AuthorizedClients::path_in(dir.path()),
            format!(
                "# mine\n\n  {a}   alice   read-only  # the laptop\n{b}\n{c} carol read-write\n\
                 SHA256:nope bob\n{d} two names\n{a} again\n{d} dave read-only extra\n"
            ),
        )
        .unwrap();
        let list = AuthorizedClients::load(dir.path()).unwrap();
        let clients = list.clients();
        assert_eq!(clients.len(), 3, "{clients:?}");
        assert_eq!(clients[0].access, Access::ReadOnly);
        assert_eq!(clients[0].name, "alice");
        assert_eq!(clients[1].access, Access::ReadWrite);
        assert!(clients[1].name.starts_with("fp-"), "{}", clients[1].name);
        assert_eq!(clients[2].access, Access::ReadWrite);
        let ignored: Vec<usize> = list.ignored().iter().map(|i| i.number).collect();
        assert_eq!(ignored, [6, 7, 8, 9]);
        assert!(
            list.ignored()[0].why.contains("not a SHA256"),
            "{:?}",
            list.ignored()
        );
    }

    #[test]
    fn enrollment_names_are_made_unique() {
        let dir = tempfile::tempdir().unwrap();
        AuthorizedClients::allow(dir.path(), fp(b"a"), Some("bob@pc"), Access::ReadWrite).unwrap();
        let c = AuthorizedClients::enroll_locked(
            dir.path(),
            fp(b"b"),
            Some("bob@pc"),
            Access::ReadOnly,
        )
        .unwrap();
        assert_eq!(c.name, "bob@pc-2");
        let c = AuthorizedClients::enroll_locked(
            dir.path(),
            fp(b"c"),
            Some("bad name\n"),
            Access::ReadOnly,
        )
        .unwrap();
        assert_eq!(c.name, "client-1");
        // Already there: returned as it is.
        let c = AuthorizedClients::enroll_locked(dir.path(), fp(b"a"), Some("x"), Access::ReadOnly)
            .unwrap();
        assert_eq!((c.name.as_str(), c.access), ("bob@pc", Access::ReadWrite));
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8u8)
            .map(|i| {
                let path = dir.path().to_owned();
                std::thread::spawn(move || {
                    for j in 0..10u8 {
                        AuthorizedClients::allow(&path, fp(&[i, j]), None, Access::ReadWrite)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let list = AuthorizedClients::load(dir.path()).unwrap();
        assert_eq!(list.clients().len(), 80);
        assert!(list.ignored().is_empty());
        let mut names: Vec<_> = list.clients().into_iter().map(|c| c.name).collect();
        names.dedup();
        assert_eq!(names.len(), 80, "unique names");
    }

    #[test]
    fn names() {
        for good in ["a", "alice@laptop", "x.y_z-1+2", &"n".repeat(64)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "read-only",
            "read-write",
            "a b",
            "a/b",
            "é",
            "SHA256:x",
            &"n".repeat(65),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
