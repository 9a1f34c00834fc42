//! [`RemotePath`]: a validated, normalized path under the served root.

use std::fmt;

/// Longest path accepted, in bytes (Linux's PATH_MAX).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest single component accepted, in bytes (Linux's NAME_MAX).
pub const MAX_NAME_LEN: usize = 255;

/// A path relative to the served root: `/`-separated UTF-8 components, none
/// of them empty, `.`, `..`, or holding a NUL byte or a backslash.
///
/// It is stored without a leading slash (`""` is the root) and displayed with
/// one (`/`, `/a/b`). Holding one proves the path cannot name anything outside
/// the root lexically; the server's storage layer also refuses symlinks that
/// lead out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RemotePath(String);

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A `..` component, which could leave the root.
    #[error("'..' would leave the served root")]
    ParentComponent,
    /// A NUL byte.
    #[error("a remote path may not contain NUL bytes")]
    Nul,
    /// A backslash, which some systems read as a separator.
    #[error("a remote path may not contain backslashes")]
    Backslash,
    /// A name that is not one plain component.
    #[error("'{0}' is not a valid file name")]
    BadName(String),
    /// Longer than [`MAX_PATH_LEN`] or a component longer than
    /// [`MAX_NAME_LEN`].
    #[error("path too long")]
    TooLong,
}

impl RemotePath {
    /// The served root, `/`.
    pub fn root() -> Self {
        RemotePath(String::new())
    }

    /// Parses a path as sent on the wire. A leading `/` is optional (every
    /// wire path is root-relative); empty and `.` components are dropped; `..`
    /// is refused, since clients resolve it before sending.
    pub fn parse(s: &str) -> Result<Self, PathError> {
        Self::root().walk(s, false)
    }

    /// Resolves what a user typed against a working directory, the way a
    /// shell does: absolute when it starts with `/`, else relative to `self`;
    /// `..` steps up, and is refused where it would leave the root.
    pub fn resolve(&self, input: &str) -> Result<Self, PathError> {
        let start = if input.starts_with('/') {
            Self::root()
        } else {
            self.clone()
        };
        start.walk(input, true)
    }

    fn walk(mut self, input: &str, allow_parent: bool) -> Result<Self, PathError> {
        if input.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        for part in input.split('/') {
            match part {
                "" | "." => {}
                ".." if allow_parent && !self.is_root() => self.pop(),
                ".." => return Err(PathError::ParentComponent),
                name => self.push(name)?,
            }
        }
        if self.0.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        Ok(self)
    }

    fn push(&mut self, name: &str) -> Result<(), PathError> {
        check_name(name)?;
        if !self.0.is_empty() {
            self.0.push('/');
        }
        self.0.push_str(name);
        Ok(())
    }

    fn pop(&mut self) {
        let cut = self.0.rfind('/').unwrap_or(0);
        self.0.truncate(cut);
    }

    /// This path with one more component.
    pub fn join(&self, name: &str) -> Result<Self, PathError> {
        if name.contains('/') || name.is_empty() || name == "." || name == ".." {
            return Err(PathError::BadName(name.to_owned()));
        }
        let mut out = self.clone();
        out.push(name)?;
        if out.0.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        Ok(out)
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        if self.is_root() {
            return None;
        }
        let mut p = self.clone();
        p.pop();
        Some(p)
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            return None;
        }
        Some(self.0.rsplit('/').next().unwrap_or(&self.0))
    }

    /// Whether `ancestor` is this path or one of its parents, component by
    /// component (`/a/bc` is not under `/a/b`).
    pub fn starts_with(&self, ancestor: &RemotePath) -> bool {
        ancestor.is_root()
            || self.0 == ancestor.0
            || (self.0.starts_with(&ancestor.0)
                && self.0.as_bytes().get(ancestor.0.len()) == Some(&b'/'))
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The path relative to the root without a leading slash, `""` for the
    /// root: what a filesystem layer opens beneath its root directory.
    pub fn as_relative(&self) -> &str {
        &self.0
    }

    /// The path as sent on the wire, with a leading `/`.
    pub fn to_wire(&self) -> String {
        self.to_string()
    }
}

/// Checks one file name: non-empty, no `/`, NUL or backslash, not `.` or
/// `..`, at most [`MAX_NAME_LEN`] bytes.
pub fn check_name(name: &str) -> Result<(), PathError> {
    if name.contains('\0') {
        return Err(PathError::Nul);
    }
    if name.contains('\\') {
        return Err(PathError::Backslash);
    }
    if name == ".." {
        return Err(PathError::ParentComponent);
    }
    if name.is_empty() || name == "." || name.contains('/') {
        return Err(PathError::BadName(name.to_owned()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(PathError::TooLong);
    }
    Ok(())
}

/// Marks partial files: the bytes of a transfer in progress, kept beside
/// their destination until complete.
pub const PART_SUFFIX: &str = ".ferry-part";

/// The name of the partial file for a file called `name`, in the same
/// directory: `.NAME.ferry-part`, the same every time so that an
/// interrupted transfer's part is found again. Names too long for that are
/// cut, with a hash of the whole name kept so that different names still
/// get different partials. At most [`MAX_NAME_LEN`] bytes.
pub fn partial_name(name: &str) -> String {
    let fits = MAX_NAME_LEN - 1 - PART_SUFFIX.len();
    if name.len() <= fits {
        return format!(".{name}{PART_SUFFIX}");
    }
    // FNV-1a: a stable, dependency-free 64-bit tag for the cut name.
    let tag = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut keep = fits - 17;
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!(".{}.{tag:016x}{PART_SUFFIX}", &name[..keep])
}

/// Whether `name` looks like a partial file's name (hidden, with the
/// partial suffix). Such names are reserved: a client may not create them.
pub fn is_partial_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(PART_SUFFIX)
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RemotePath {
        RemotePath::parse(s).unwrap()
    }

    #[test]
    fn parse_normalizes() {
        assert_eq!(p("/").as_relative(), "");
        assert_eq!(p("").as_relative(), "");
        assert_eq!(p("a/b").as_relative(), "a/b");
        assert_eq!(p("//a/./b/").as_relative(), "a/b");
        assert_eq!(p("/a/b").to_string(), "/a/b");
        assert_eq!(p("/").to_string(), "/");
        assert_eq!(p("/ü/ñ").to_string(), "/ü/ñ");
    }

    #[test]
    fn parse_refuses_escapes() {
        assert_eq!(RemotePath::parse("/.."), Err(PathError::ParentComponent));
        assert_eq!(
            RemotePath::parse("a/../../etc"),
            Err(PathError::ParentComponent)
        );
        assert_eq!(RemotePath::parse("a/\0b"), Err(PathError::Nul));
        assert_eq!(RemotePath::parse("..\\..\\x"), Err(PathError::Backslash));
        assert_eq!(
            RemotePath::parse(&"a".repeat(MAX_NAME_LEN + 1)),
            Err(PathError::TooLong)
        );
        assert_eq!(
            RemotePath::parse(&"a/".repeat(MAX_PATH_LEN)),
            Err(PathError::TooLong)
        );
        assert!(RemotePath::parse(&"a".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn resolve_works_like_a_shell() {
        let cwd = p("/home/me");
        assert_eq!(cwd.resolve("x").unwrap(), p("/home/me/x"));
        assert_eq!(cwd.resolve("/x").unwrap(), p("/x"));
        assert_eq!(cwd.resolve("..").unwrap(), p("/home"));
        assert_eq!(cwd.resolve("../..").unwrap(), RemotePath::root());
        assert_eq!(cwd.resolve("../../.."), Err(PathError::ParentComponent));
        assert_eq!(
            RemotePath::root().resolve("/../etc"),
            Err(PathError::ParentComponent)
        );
        assert_eq!(cwd.resolve("./a/../b").unwrap(), p("/home/me/b"));
        assert_eq!(cwd.resolve("").unwrap(), cwd);
        assert_eq!(cwd.resolve("a\\b"), Err(PathError::Backslash));
    }

    #[test]
    fn parts() {
        let x = p("/a/b/c");
        assert_eq!(x.file_name(), Some("c"));
        assert_eq!(x.parent(), Some(p("/a/b")));
        assert_eq!(p("/a").parent(), Some(RemotePath::root()));
        assert_eq!(RemotePath::root().parent(), None);
        assert_eq!(RemotePath::root().file_name(), None);
        assert_eq!(x.components().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(RemotePath::root().components().count(), 0);
        assert_eq!(p("/a").join("b").unwrap(), p("/a/b"));
        assert_eq!(RemotePath::root().join("b").unwrap(), p("/b"));
        assert!(
            x.starts_with(&p("/a/b")) && x.starts_with(&x) && x.starts_with(&RemotePath::root())
        );
        assert!(!p("/a/bc").starts_with(&p("/a/b")) && !p("/a").starts_with(&p("/a/b")));
        for bad in ["", ".", "..", "a/b", "a\0", "a\\b"] {
            assert!(RemotePath::root().join(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn partial_names_are_stable_hidden_and_fit() {
        assert_eq!(partial_name("a.mp4"), ".a.mp4.ferry-part");
        assert!(is_partial_name(&partial_name("a.mp4")));
        assert!(!is_partial_name("a.ferry-part") && !is_partial_name(".a"));
        let long = "é".repeat(127);
        let p = partial_name(&long);
        assert!(p.len() <= MAX_NAME_LEN && is_partial_name(&p), "{p}");
        assert_eq!(p, partial_name(&long));
        let other = format!("{}x", "é".repeat(126));
        assert_ne!(p, partial_name(&other));
        check_name(&p).unwrap();
    }

    #[test]
    fn random_paths_parse_to_safe_paths_or_errors() {
        let alphabet = ['a', '/', '.', '\\', '\0', 'é', ' ', '*'];
        let mut state: u64 = 12345;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((state >> (i % 60)) as usize + i) % alphabet.len()])
                .collect();
            if let Ok(path) = RemotePath::parse(&s) {
                for c in path.components() {
                    assert!(c != ".." && c != "." && !c.is_empty(), "{s:?} -> {path}");
                    assert!(!c.contains('\\') && !c.contains('\0'), "{s:?} -> {path}");
                }
                assert_eq!(
                    RemotePath::parse(&path.to_wire()),
                    Ok(path.clone()),
                    "stable"
                );
            }
        }
    }
}
