//! The one module that turns a [`RemotePath`] into a filesystem access.
//!
//! Every access goes through a [`cap_std::fs::Dir`] opened on the served root,
//! which resolves paths beneath it (with `openat2(RESOLVE_BENEATH)` where the
//! kernel has it) and refuses any `..` or symlink that would lead out. Paths
//! arrive already validated as [`RemotePath`]s, so this is a second,
//! independent wall. The methods are blocking: handlers call them on tokio's
//! blocking pool. A later object-storage backend replaces this module.

use std::{
    fs::{File, FileTimes},
    io,
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
    time::SystemTime,
};

use cap_std::{
    ambient_authority,
    fs::{Dir, Metadata, MetadataExt, OpenOptions, OpenOptionsExt},
};
use ferry_proto::{Entry, ErrorCode, Kind, RemotePath, Timestamp, WireError};

/// Marks the temporary files of uploads in progress:
/// `.NAME.NONCE.ferry-part`, in the destination's directory.
pub const PART_SUFFIX: &str = ".ferry-part";

/// The served directory.
#[derive(Debug)]
pub struct Storage {
    root: Dir,
}

impl Storage {
    /// Opens `root` as the served directory.
    pub fn open(root: &Path) -> io::Result<Self> {
        let root = Dir::open_ambient_dir(root, ambient_authority())?;
        Ok(Storage { root })
    }

    /// Metadata of `path`, following symlinks that stay inside the root.
    pub fn stat(&self, path: &RemotePath) -> Result<Entry, WireError> {
        let meta = self
            .root
            .metadata(rel(path))
            .map_err(|e| wire_error(&e, path))?;
        Ok(entry(path.file_name().unwrap_or("/"), &meta))
    }

    /// The entries of the directory `path`, read lazily.
    pub fn list(&self, path: &RemotePath) -> Result<Listing, WireError> {
        let dir = self.open_dir(path)?;
        let entries = dir.entries().map_err(|e| wire_error(&e, path))?;
        Ok(Listing { entries })
    }

    /// Creates the directory `path` (with `parents`, its missing parents too,
    /// and an existing directory is fine).
    pub fn mkdir(&self, path: &RemotePath, parents: bool) -> Result<(), WireError> {
        if parents {
            if let Ok(meta) = self.root.metadata(rel(path)) {
                return if meta.is_dir() {
                    Ok(())
                } else {
                    Err(WireError::new(
                        ErrorCode::AlreadyExists,
                        format!("{path}: exists and is not a directory"),
                    ))
                };
            }
            self.root.create_dir_all(rel(path))
        } else {
            self.root.create_dir(rel(path))
        }
        .map_err(|e| wire_error(&e, path))
    }

    /// Removes the empty directory `path`.
    pub fn rmdir(&self, path: &RemotePath) -> Result<(), WireError> {
        if path.is_root() {
            return Err(WireError::new(
                ErrorCode::InvalidPath,
                "/: the served root cannot be removed",
            ));
        }
        let meta = self
            .root
            .symlink_metadata(rel(path))
            .map_err(|e| wire_error(&e, path))?;
        if !meta.is_dir() {
            return Err(WireError::new(
                ErrorCode::NotADirectory,
                format!("{path}: not a directory (use rm for files)"),
            ));
        }
        self.root
            .remove_dir(rel(path))
            .map_err(|e| wire_error(&e, path))
    }

    /// Removes the file (or symlink) `path`; refuses directories.
    pub fn remove(&self, path: &RemotePath) -> Result<(), WireError> {
        let meta = self
            .root
            .symlink_metadata(rel(path))
            .map_err(|e| wire_error(&e, path))?;
        if meta.is_dir() {
            return Err(WireError::new(
                ErrorCode::IsADirectory,
                format!("{path}: is a directory (use rmdir)"),
            ));
        }
        self.root
            .remove_file(rel(path))
            .map_err(|e| wire_error(&e, path))
    }

    /// Renames `from` to `to`, or moves it into `to` when that is an existing
    /// directory. Returns where it ended up.
    pub fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<RemotePath, WireError> {
        let Some(name) = from.file_name() else {
            return Err(WireError::new(
                ErrorCode::InvalidPath,
                "/: the served root cannot be moved",
            ));
        };
        self.root
            .symlink_metadata(rel(from))
            .map_err(|e| wire_error(&e, from))?;
        let target = match self.root.metadata(rel(to)) {
            Ok(meta) if meta.is_dir() => to
                .join(name)
                .map_err(|e| WireError::new(ErrorCode::InvalidPath, format!("{to}: {e}")))?,
            _ => to.clone(),
        };
        if target == *from {
            return Ok(target);
        }
        if target.components().count() > from.components().count()
            && target
                .as_relative()
                .starts_with(&format!("{}/", from.as_relative()))
        {
            return Err(WireError::new(
                ErrorCode::InvalidPath,
                format!("{from}: cannot move a directory into itself ({target})"),
            ));
        }
        self.root
            .rename(rel(from), &self.root, rel(&target))
            .map_err(|e| wire_error(&e, &target))?;
        Ok(target)
    }

    /// Opens the regular file `path` for reading; returns it and its entry
    /// (taken from the open file, so size and content agree).
    pub fn open_read(&self, path: &RemotePath) -> Result<(File, Entry), WireError> {
        let meta = self
            .root
            .metadata(rel(path))
            .map_err(|e| wire_error(&e, path))?;
        if meta.is_dir() {
            return Err(WireError::new(
                ErrorCode::IsADirectory,
                format!("{path}: is a directory"),
            ));
        }
        if !meta.is_file() {
            return Err(WireError::new(
                ErrorCode::InvalidPath,
                format!("{path}: not a regular file"),
            ));
        }
        let file = self
            .root
            .open(rel(path))
            .map_err(|e| wire_error(&e, path))?;
        let meta = file.metadata().map_err(|e| wire_error(&e, path))?;
        let name = path.file_name().unwrap_or("/");
        Ok((file.into_std(), entry(name, &meta)))
    }

    /// Starts writing `path`: creates a temporary file beside it that becomes
    /// `path` only on [`PartialFile::commit`].
    pub fn create_partial(&self, path: &RemotePath) -> Result<(PartialFile, File), WireError> {
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
            return Err(WireError::new(ErrorCode::IsADirectory, "/: is a directory"));
        };
        let dir = self.open_dir(&parent)?;
        match dir.symlink_metadata(name) {
            Ok(meta) if meta.is_dir() => {
                return Err(WireError::new(
                    ErrorCode::IsADirectory,
                    format!("{path}: is a directory"),
                ))
            }
            _ => {}
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true).mode(0o644);
        let mut attempt = 0;
        loop {
            let temp = part_name(name);
            match dir.open_with(&temp, &options) {
                Ok(file) => {
                    let partial = PartialFile {
                        dir,
                        temp,
                        name: name.to_owned(),
                        path: path.clone(),
                        committed: false,
                    };
                    return Ok((partial, file.into_std()));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
                Err(e) => return Err(wire_error(&e, path)),
            }
        }
    }

    fn open_dir(&self, path: &RemotePath) -> Result<Dir, WireError> {
        let meta = self
            .root
            .metadata(rel(path))
            .map_err(|e| wire_error(&e, path))?;
        if !meta.is_dir() {
            return Err(WireError::new(
                ErrorCode::NotADirectory,
                format!("{path}: not a directory"),
            ));
        }
        self.root
            .open_dir(rel(path))
            .map_err(|e| wire_error(&e, path))
    }
}

/// A directory's entries, read as they are consumed.
#[derive(Debug)]
pub struct Listing {
    entries: cap_std::fs::ReadDir,
}

impl Iterator for Listing {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            let item = self.entries.next()?;
            // An entry removed while we list it is skipped, as `ls` does.
            let Ok(item) = item else { continue };
            let Ok(meta) = item.metadata() else { continue };
            let name = item.file_name().to_string_lossy().into_owned();
            return Some(entry(&name, &meta));
        }
    }
}

/// An upload in progress: a temporary file in the destination directory that
/// is renamed over the destination on commit and removed if dropped before.
#[derive(Debug)]
pub struct PartialFile {
    dir: Dir,
    temp: String,
    name: String,
    path: RemotePath,
    committed: bool,
}

impl PartialFile {
    /// Checks that `file` holds `size` bytes, gives it `mtime` and `mode`,
    /// and renames it into place atomically.
    pub fn commit(
        mut self,
        file: File,
        size: u64,
        mtime: Option<Timestamp>,
        mode: Option<u32>,
    ) -> Result<(), WireError> {
        let path = self.path.clone();
        let fail = |e: io::Error| wire_error(&e, &path);
        let actual = file.metadata().map_err(fail)?.len();
        if actual != size {
            return Err(WireError::new(
                ErrorCode::Io,
                format!("{path}: wrote {actual} bytes, expected {size}"),
            ));
        }
        if let Some(t) = mtime.and_then(Timestamp::to_system) {
            file.set_times(FileTimes::new().set_modified(t))
                .map_err(fail)?;
        }
        if let Some(mode) = mode {
            // Never set-user-id, set-group-id or sticky from the wire.
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
                .map_err(fail)?;
        }
        drop(file);
        self.dir
            .rename(&self.temp, &self.dir, &self.name)
            .map_err(fail)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.dir.remove_file(&self.temp);
        }
    }
}

/// The path to hand to cap-std: `.` for the root.
fn rel(path: &RemotePath) -> &str {
    if path.is_root() {
        "."
    } else {
        path.as_relative()
    }
}

fn entry(name: &str, meta: &Metadata) -> Entry {
    let kind = if meta.is_dir() {
        Kind::Dir
    } else if meta.is_file() {
        Kind::File
    } else if meta.file_type().is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    };
    let mtime = u32::try_from(meta.mtime_nsec())
        .ok()
        .map(|nanos| Timestamp {
            secs: meta.mtime(),
            nanos,
        });
    Entry {
        name: name.to_owned(),
        kind,
        size: meta.len(),
        mtime,
        mode: meta.mode() & 0o7777,
    }
}

/// A fresh temporary name for an upload of `name`, at most 255 bytes.
fn part_name(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let nonce = (u64::from(std::process::id()) << 32 | u64::from(nanos))
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut keep = name.len().min(255 - 1 - 1 - 16 - PART_SUFFIX.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!(".{}.{nonce:016x}{PART_SUFFIX}", &name[..keep])
}

/// Maps an I/O error on `path` to a wire error with a stable code and a
/// message that names the path.
pub fn wire_error(e: &io::Error, path: &RemotePath) -> WireError {
    use io::ErrorKind as K;
    let escape = e.raw_os_error() == Some(18) // EXDEV from RESOLVE_BENEATH
        || e.to_string().contains("outside of the filesystem");
    let (code, what) = match e.kind() {
        _ if escape => (
            ErrorCode::InvalidPath,
            "leads outside the served root".to_owned(),
        ),
        K::NotFound => (ErrorCode::NotFound, "no such file or directory".to_owned()),
        K::AlreadyExists => (ErrorCode::AlreadyExists, "already exists".to_owned()),
        K::PermissionDenied => (ErrorCode::PermissionDenied, "permission denied".to_owned()),
        K::NotADirectory => (ErrorCode::NotADirectory, "not a directory".to_owned()),
        K::IsADirectory => (ErrorCode::IsADirectory, "is a directory".to_owned()),
        K::DirectoryNotEmpty => (ErrorCode::NotEmpty, "directory not empty".to_owned()),
        K::ReadOnlyFilesystem => (ErrorCode::ReadOnly, "read-only file system".to_owned()),
        _ => (ErrorCode::Io, e.to_string()),
    };
    WireError::new(code, format!("{path}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RemotePath {
        RemotePath::parse(s).unwrap()
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.path().join("pw")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.path().join("up")).unwrap();
        let s = Storage::open(root.path()).unwrap();
        for path in ["/out/secret", "/pw", "/up/etc/passwd"] {
            let err = s.open_read(&p(path)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidPath, "{path}: {err}");
        }
        assert_eq!(s.list(&p("/out")).unwrap_err().code, ErrorCode::InvalidPath);
        assert!(s.create_partial(&p("/out/new")).is_err());
        assert!(!outside.path().join("new").exists());
        // The link itself may still be listed and removed.
        assert_eq!(s.list(&RemotePath::root()).unwrap().count(), 3);
        s.remove(&p("/pw")).unwrap();
        assert!(std::path::Path::new("/etc/passwd").exists());
    }

    #[test]
    fn partial_files_vanish_unless_committed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), "old").unwrap();
        let s = Storage::open(root.path()).unwrap();
        let (partial, mut file) = s.create_partial(&p("/f")).unwrap();
        std::io::Write::write_all(&mut file, b"new!").unwrap();
        drop(file);
        drop(partial);
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);

        let (partial, mut file) = s.create_partial(&p("/f")).unwrap();
        std::io::Write::write_all(&mut file, b"new!").unwrap();
        let err = partial
            .commit(file.try_clone().unwrap(), 5, None, None)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Io);
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");

        let (partial, mut file) = s.create_partial(&p("/f")).unwrap();
        std::io::Write::write_all(&mut file, b"new!").unwrap();
        let mtime = Timestamp {
            secs: 1_000_000_000,
            nanos: 0,
        };
        partial.commit(file, 4, Some(mtime), Some(0o4755)).unwrap();
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"new!");
        let e = s.stat(&p("/f")).unwrap();
        assert_eq!(e.mtime, Some(mtime));
        assert_eq!(e.mode, 0o755);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn part_names_fit_and_differ() {
        let long = "é".repeat(127);
        let a = part_name(&long);
        assert!(a.len() <= 255);
        assert!(a.ends_with(PART_SUFFIX));
        assert_ne!(part_name("x"), part_name("x"));
    }

    #[test]
    fn rename_into_directory_and_not_into_itself() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("d/sub")).unwrap();
        std::fs::write(root.path().join("f"), "x").unwrap();
        let s = Storage::open(root.path()).unwrap();
        assert_eq!(s.rename(&p("/f"), &p("/d")).unwrap(), p("/d/f"));
        assert!(root.path().join("d/f").exists());
        let err = s.rename(&p("/d"), &p("/d/sub")).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidPath);
        assert_eq!(
            s.rename(&RemotePath::root(), &p("/x")).unwrap_err().code,
            ErrorCode::InvalidPath
        );
    }
}
