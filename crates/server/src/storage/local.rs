//! [`LocalStorage`]: a directory on this machine.
//!
//! Every access goes through a [`cap_std::fs::Dir`] opened on the served root,
//! which resolves paths beneath it (with `openat2(RESOLVE_BENEATH)` where the
//! kernel has it) and refuses any `..` or symlink that would lead out. Paths
//! arrive already validated as [`RemotePath`]s, so this is a second,
//! independent wall.
//!
//! Filesystem calls block, so each operation, and each chunk read or
//! written, is one trip to tokio's blocking pool; nothing holds a blocking
//! thread while waiting for the network.

use std::{
    fs::FileTimes,
    io,
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use bytes::Bytes;
use cap_std::{
    ambient_authority,
    fs::{Dir, Metadata, MetadataExt, OpenOptions, OpenOptionsExt},
};
use ferry_net::{
    file::{first_chunk, umask, FileSink, FileSource},
    ChunkSink, ChunkSource,
};
use ferry_proto::{
    is_partial_name, partial_name, Digest, Entry, Kind, RemotePath, Timestamp, PART_SUFFIX,
};

use super::{Commit, Listing, ReadHandle, Resume, Storage, StorageError, WriteHandle};

/// How long a resume waits for a partial file that another upload holds.
/// Longer than the idle timeout, after which the server gives up on a client
/// that vanished, and so releases its uploads' partials.
const RESUME_WAIT: Duration = Duration::from_secs(15);

/// A directory served from this machine's filesystem.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: Arc<Dir>,
}

impl LocalStorage {
    /// Opens `root` as the served directory.
    pub fn open(root: &Path) -> io::Result<Self> {
        let root = Dir::open_ambient_dir(root, ambient_authority())?;
        Ok(LocalStorage {
            root: Arc::new(root),
        })
    }

    /// Runs `op` on the blocking pool with the root directory.
    async fn blocking<T, F>(&self, path: &RemotePath, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Arc<Dir>) -> Result<T, StorageError> + Send + 'static,
    {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || op(&root))
            .await
            .map_err(|_| StorageError::Internal(path.clone()))?
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn stat(&self, path: &RemotePath) -> Result<Entry, StorageError> {
        let p = path.clone();
        self.blocking(path, move |root| {
            let name = p.file_name().unwrap_or("/");
            let link = match root.symlink_metadata(rel(&p)) {
                Ok(meta) if meta.file_type().is_symlink() => Some(meta),
                _ => None,
            };
            let target = link.as_ref().and(link_target(root, rel(&p)));
            let followed = root
                .metadata(rel(&p))
                .map_err(|e| StorageError::from_io(e, &p));
            let mut found = match (followed, link) {
                (Ok(meta), _) => entry(name, &meta),
                // A dangling link is shown as the link itself; one that
                // leads out of the root stays an error.
                (Err(StorageError::NotFound(_)), Some(meta)) => entry(name, &meta),
                (Err(e), _) => return Err(e),
            };
            found.target = target;
            Ok(found)
        })
        .await
    }

    async fn list(&self, path: &RemotePath) -> Result<Box<dyn Listing>, StorageError> {
        let p = path.clone();
        let (dir, entries) = self
            .blocking(path, move |root| {
                let dir = open_dir(root, &p)?;
                let entries = dir.entries().map_err(StorageError::io(&p))?;
                Ok((dir, entries))
            })
            .await?;
        Ok(Box::new(LocalListing {
            entries: Some((dir, entries)),
            path: path.clone(),
        }))
    }

    async fn mkdir(&self, path: &RemotePath, parents: bool) -> Result<(), StorageError> {
        refuse_reserved(path)?;
        let p = path.clone();
        self.blocking(path, move |root| {
            if parents {
                if let Ok(meta) = root.metadata(rel(&p)) {
                    return if meta.is_dir() {
                        Ok(())
                    } else {
                        Err(StorageError::ExistsNotADirectory(p))
                    };
                }
                root.create_dir_all(rel(&p))
            } else {
                root.create_dir(rel(&p))
            }
            .map_err(StorageError::io(&p))
        })
        .await
    }

    async fn rmdir(&self, path: &RemotePath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::Root("removed"));
        }
        let p = path.clone();
        self.blocking(path, move |root| {
            let meta = root
                .symlink_metadata(rel(&p))
                .map_err(StorageError::io(&p))?;
            if !meta.is_dir() {
                return Err(StorageError::RmdirNotADirectory(p));
            }
            root.remove_dir(rel(&p)).map_err(StorageError::io(&p))
        })
        .await
    }

    async fn remove(&self, path: &RemotePath) -> Result<(), StorageError> {
        let p = path.clone();
        self.blocking(path, move |root| {
            let meta = root
                .symlink_metadata(rel(&p))
                .map_err(StorageError::io(&p))?;
            if meta.is_dir() {
                return Err(StorageError::RemoveDirectory(p));
            }
            root.remove_file(rel(&p)).map_err(StorageError::io(&p))
        })
        .await
    }

    async fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<RemotePath, StorageError> {
        let Some(name) = from.file_name().map(str::to_owned) else {
            return Err(StorageError::Root("moved"));
        };
        let (from, to) = (from.clone(), to.clone());
        self.blocking(&from.clone(), move |root| {
            root.symlink_metadata(rel(&from))
                .map_err(StorageError::io(&from))?;
            let target = match root.metadata(rel(&to)) {
                Ok(meta) if meta.is_dir() => to
                    .join(&name)
                    .map_err(|source| StorageError::BadName { dir: to, source })?,
                _ => to,
            };
            refuse_reserved(&target)?;
            if target == from {
                return Ok(target);
            }
            if target.starts_with(&from) {
                return Err(StorageError::IntoItself { from, to: target });
            }
            root.rename(rel(&from), root, rel(&target))
                .map_err(StorageError::io(&target))?;
            Ok(target)
        })
        .await
    }

    async fn open_read(
        &self,
        path: &RemotePath,
        offset: u64,
        hash: bool,
    ) -> Result<Box<dyn ReadHandle>, StorageError> {
        let p = path.clone();
        // Open, stat, hash any prefix and read the first chunk in one trip
        // to the blocking pool: a small file then needs no other.
        let reader = self
            .blocking(path, move |root| LocalReader::open(root, p, offset, hash))
            .await?;
        Ok(Box::new(reader))
    }

    async fn create(
        &self,
        path: &RemotePath,
        resume: Option<Resume>,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        refuse_reserved(path)?;
        // A partial another upload holds is waited for a while when resuming:
        // that upload is usually one whose client vanished (killed, or its
        // network gone), which the server learns at the idle timeout.
        let deadline = tokio::time::Instant::now() + RESUME_WAIT;
        loop {
            let p = path.clone();
            let made = self
                .blocking(path, move |root| LocalWriter::create(root, p, resume))
                .await;
            match made {
                Err(StorageError::Busy(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(StorageError::Busy(p)) => return Err(StorageError::PrefixMismatch(p)),
                other => return other.map(|w| Box::new(w) as Box<dyn WriteHandle>),
            }
        }
    }

    async fn sweep_partials(&self, age: Duration) -> Result<usize, StorageError> {
        self.blocking(&RemotePath::root(), move |root| Ok(sweep(root, age)))
            .await
    }
}

/// Refuses to make a name that only ferry's partial files may have.
fn refuse_reserved(path: &RemotePath) -> Result<(), StorageError> {
    match path.file_name() {
        Some(name) if is_partial_name(name) => Err(StorageError::Reserved(path.clone())),
        _ => Ok(()),
    }
}

/// Removes the partial files under `root` untouched for longer than `age`,
/// except those an upload holds right now. Symlinks are not followed.
fn sweep(root: &Dir, age: Duration) -> usize {
    let Some(cutoff) = SystemTime::now().checked_sub(age) else {
        return 0;
    };
    let mut removed = 0;
    let mut dirs = vec![String::new()];
    while let Some(dir) = dirs.pop() {
        let listing = if dir.is_empty() {
            root.entries()
        } else {
            root.read_dir(&dir)
        };
        let Ok(listing) = listing else { continue };
        for item in listing.flatten() {
            let Ok(kind) = item.file_type() else { continue };
            let name = item.file_name().to_string_lossy().into_owned();
            let rel = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            if kind.is_dir() {
                dirs.push(rel);
            } else if kind.is_file() && is_partial_name(&name) {
                let stale = item
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.into_std() < cutoff);
                let idle = root
                    .open_with(&rel, OpenOptions::new().read(true))
                    .is_ok_and(|f| f.into_std().try_lock().is_ok());
                if stale && idle && root.remove_file(&rel).is_ok() {
                    removed += 1;
                }
            }
        }
    }
    removed
}

/// A directory listing; the iterator travels to the blocking pool and back
/// for each batch.
struct LocalListing {
    /// The directory (to read links in) and its entries.
    entries: Option<(Dir, cap_std::fs::ReadDir)>,
    path: RemotePath,
}

#[async_trait]
impl Listing for LocalListing {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Entry>, StorageError> {
        let Some((dir, mut entries)) = self.entries.take() else {
            return Ok(Vec::new());
        };
        let (entries, batch) = tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(max.min(1024));
            while batch.len() < max {
                let Some(item) = entries.next() else { break };
                // An entry removed while we list it is skipped, as `ls` does.
                let Ok(item) = item else { continue };
                let Ok(meta) = item.metadata() else { continue };
                let file_name = item.file_name();
                let name = file_name.to_string_lossy().into_owned();
                let mut found = entry(&name, &meta);
                if found.kind == Kind::Symlink {
                    found.target = link_target(&dir, &file_name);
                }
                batch.push(found);
            }
            ((dir, entries), batch)
        })
        .await
        .map_err(|_| StorageError::Internal(self.path.clone()))?;
        if !batch.is_empty() {
            self.entries = Some(entries);
        }
        Ok(batch)
    }
}

/// An open file: each read is one trip to the blocking pool. The first
/// chunk was read when the file was opened.
struct LocalReader {
    source: FileSource,
    prefix: Option<Digest>,
    entry: Entry,
    path: RemotePath,
}

impl LocalReader {
    fn open(root: &Dir, path: RemotePath, offset: u64, hash: bool) -> Result<Self, StorageError> {
        let meta = root.metadata(rel(&path)).map_err(StorageError::io(&path))?;
        if meta.is_dir() {
            return Err(StorageError::IsADirectory(path));
        }
        if !meta.is_file() {
            return Err(StorageError::NotRegular(path));
        }
        let file = root.open(rel(&path)).map_err(StorageError::io(&path))?;
        let meta = file.metadata().map_err(StorageError::io(&path))?;
        let entry = entry(path.file_name().unwrap_or("/"), &meta);
        if offset > entry.size {
            return Err(StorageError::OffsetBeyondEnd {
                path,
                offset,
                size: entry.size,
            });
        }
        let first = first_chunk(entry.size, offset);
        let (source, prefix) = FileSource::open(file.into_std(), offset, first, hash)
            .map_err(StorageError::io(&path))?;
        Ok(LocalReader {
            source,
            prefix,
            entry,
            path,
        })
    }
}

#[async_trait]
impl ReadHandle for LocalReader {
    fn entry(&self) -> &Entry {
        &self.entry
    }

    fn prefix(&self) -> Option<Digest> {
        self.prefix
    }

    async fn read(&mut self, len: usize) -> Result<Bytes, StorageError> {
        ChunkSource::read(&mut self.source, len)
            .await
            .map_err(StorageError::io(&self.path))
    }

    fn digest(&self) -> Option<Digest> {
        self.source.digest()
    }
}

/// An upload in progress: a partial file in the destination directory that
/// is renamed over the destination on commit. Normally it is the
/// destination's findable partial (`.NAME.ferry-part`, locked while in use),
/// kept when the upload is interrupted so that a later one can resume it;
/// when another upload holds that one, a private partial with a random name,
/// removed on drop. It holds the file open and nothing else (paths are kept
/// relative to the root), so an upload costs one file descriptor.
struct LocalWriter {
    root: Arc<Dir>,
    /// The partial file, relative to the root.
    temp: String,
    /// Whether `temp` is the findable partial (kept on drop).
    findable: bool,
    path: RemotePath,
    sink: FileSink,
    done: bool,
}

impl LocalWriter {
    fn create(
        root: &Arc<Dir>,
        path: RemotePath,
        resume: Option<Resume>,
    ) -> Result<Self, StorageError> {
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
            return Err(StorageError::IsADirectory(path));
        };
        let meta = root
            .metadata(rel(&parent))
            .map_err(StorageError::io(&parent))?;
        if !meta.is_dir() {
            return Err(StorageError::NotADirectory(parent));
        }
        if let Ok(meta) = root.symlink_metadata(rel(&path)) {
            if meta.is_dir() {
                return Err(StorageError::IsADirectory(path));
            }
        }
        let bad_name = |source| StorageError::BadName {
            dir: parent.clone(),
            source,
        };
        let findable = parent.join(&partial_name(name)).map_err(bad_name)?;
        let temp = findable.as_relative().to_owned();
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        if let Some(resume) = resume {
            return Self::resume(root, path, temp, resume);
        }
        options.create(true).mode(0o644);
        let file = root
            .open_with(&temp, &options)
            .map_err(StorageError::io(&path))?
            .into_std();
        if file.try_lock().is_ok() {
            // A stale partial of an earlier upload is started over.
            file.set_len(0).map_err(StorageError::io(&path))?;
            return Ok(Self::new(root, temp, true, path, FileSink::new(file, true)));
        }
        // Another upload of the same destination holds the findable
        // partial: this one writes a private one.
        drop(file);
        let mut attempt = 0;
        loop {
            let private = parent.join(&part_name(name)).map_err(bad_name)?;
            options.create(false).create_new(true);
            match root.open_with(private.as_relative(), &options) {
                Ok(file) => {
                    let sink = FileSink::new(file.into_std(), true);
                    let temp = private.as_relative().to_owned();
                    return Ok(Self::new(root, temp, false, path, sink));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
                Err(e) => return Err(StorageError::from_io(e, &path)),
            }
        }
    }

    /// Goes on with the findable partial after its first `resume.offset`
    /// bytes, if they hash to `resume.prefix`; otherwise the partial is
    /// removed and the answer is a prefix mismatch.
    fn resume(
        root: &Arc<Dir>,
        path: RemotePath,
        temp: String,
        resume: Resume,
    ) -> Result<Self, StorageError> {
        let mismatch = || StorageError::PrefixMismatch(path.clone());
        let file = match root.open_with(&temp, OpenOptions::new().read(true).write(true)) {
            Ok(file) => file.into_std(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(mismatch()),
            Err(e) => return Err(StorageError::from_io(e, &path)),
        };
        if file.try_lock().is_err() {
            // Another upload is writing it.
            return Err(StorageError::Busy(path));
        }
        let len = file.metadata().map_err(StorageError::io(&path))?.len();
        let kept = if len >= resume.offset {
            FileSink::resume(file, resume.offset)
                .ok()
                .filter(|(_, prefix)| *prefix == resume.prefix)
        } else {
            None
        };
        match kept {
            Some((sink, _)) => Ok(Self::new(root, temp, true, path, sink)),
            None => {
                let _ = root.remove_file(&temp);
                Err(mismatch())
            }
        }
    }

    fn new(
        root: &Arc<Dir>,
        temp: String,
        findable: bool,
        path: RemotePath,
        sink: FileSink,
    ) -> Self {
        LocalWriter {
            root: root.clone(),
            temp,
            findable,
            path,
            sink,
            done: false,
        }
    }
}

#[async_trait]
impl WriteHandle for LocalWriter {
    async fn write(&mut self, chunks: Vec<Bytes>) -> Result<(), StorageError> {
        ChunkSink::write(&mut self.sink, chunks)
            .await
            .map_err(StorageError::io(&self.path))
    }

    async fn commit(mut self: Box<Self>, meta: Commit) -> Result<(), StorageError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let sink = std::mem::replace(&mut self.sink, FileSink::closed());
            let hash = sink.digest();
            let io = |e| StorageError::from_io(e, &self.path);
            let file = sink.into_file().map_err(io)?;
            let written = file.metadata().map_err(io)?.len();
            if written != meta.size {
                self.discard_now();
                return Err(StorageError::SizeMismatch {
                    path: self.path.clone(),
                    written,
                    expected: meta.size,
                });
            }
            if meta.hash.is_some() && meta.hash != hash {
                self.discard_now();
                return Err(StorageError::HashMismatch(self.path.clone()));
            }
            if let Some(t) = meta.mtime.and_then(Timestamp::to_system) {
                file.set_times(FileTimes::new().set_modified(t))
                    .map_err(io)?;
            }
            // Never set-user-id, set-group-id or sticky from the wire.
            let mode = match (meta.mode, meta.new_mode) {
                (Some(exact), _) => Some(exact & 0o777),
                (None, Some(new)) => {
                    Some(match self.root.symlink_metadata(self.path.as_relative()) {
                        // Replacing a file keeps its bits, as cp and scp do.
                        Ok(old) if old.is_file() => old.mode() & 0o777,
                        _ => new & 0o777 & !umask(),
                    })
                }
                (None, None) => None,
            };
            if let Some(mode) = mode {
                file.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(io)?;
            }
            self.root
                .rename(&self.temp, &self.root, self.path.as_relative())
                .map_err(io)?;
            self.done = true;
            // Closing the file releases the partial's lock, after the rename.
            drop(file);
            Ok(())
        })
        .await
        .map_err(|_| StorageError::Internal(path))?
    }

    async fn discard(mut self: Box<Self>) {
        let _ = tokio::task::spawn_blocking(move || self.discard_now()).await;
    }
}

impl LocalWriter {
    fn discard_now(&mut self) {
        if !self.done {
            let _ = self.root.remove_file(&self.temp);
            self.done = true;
        }
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // An interrupted upload keeps its findable partial for a resume, if
        // anything arrived.
        let empty = || {
            self.root
                .metadata(&self.temp)
                .map_or(true, |m| m.len() == 0)
        };
        if !self.done && (!self.findable || empty()) {
            self.discard_now();
        }
    }
}

/// Opens the directory `path` beneath the root.
fn open_dir(root: &Dir, path: &RemotePath) -> Result<Dir, StorageError> {
    let meta = root.metadata(rel(path)).map_err(StorageError::io(path))?;
    if !meta.is_dir() {
        return Err(StorageError::NotADirectory(path.clone()));
    }
    root.open_dir(rel(path)).map_err(StorageError::io(path))
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
        target: None,
    }
}

/// What the link `path` holds, as text (not followed, wherever it points).
fn link_target(dir: &Dir, path: impl AsRef<Path>) -> Option<String> {
    dir.read_link_contents(path)
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

/// A private partial's name for an upload of `name`: `.NAME.NONCE` and the
/// partial suffix, at most 255 bytes.
fn part_name(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
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

#[cfg(test)]
mod tests {
    use ferry_net::CHUNK_SIZE;
    use ferry_proto::ErrorCode;

    use super::*;
    use crate::storage::testing::{b3, commit, p};

    async fn count(s: &LocalStorage, dir: &str) -> usize {
        let mut listing = s.list(&p(dir)).await.unwrap();
        let mut n = 0;
        loop {
            let batch = listing.next_batch(2).await.unwrap();
            if batch.is_empty() {
                return n;
            }
            n += batch.len();
        }
    }

    #[tokio::test]
    async fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.path().join("pw")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.path().join("up")).unwrap();
        let s = LocalStorage::open(root.path()).unwrap();
        for path in ["/out/secret", "/pw", "/up/etc/passwd"] {
            let err = s.open_read(&p(path), 0, false).await.err().unwrap();
            assert_eq!(err.code(), ErrorCode::InvalidPath, "{path}: {err}");
        }
        let err = s.list(&p("/out")).await.err().unwrap();
        assert_eq!(err.code(), ErrorCode::InvalidPath);
        assert!(s.create(&p("/out/new"), None).await.is_err());
        assert!(!outside.path().join("new").exists());
        // The link itself may still be listed and removed.
        assert_eq!(count(&s, "/").await, 3);
        s.remove(&p("/pw")).await.unwrap();
        assert!(std::path::Path::new("/etc/passwd").exists());
    }

    #[tokio::test]
    async fn partials_are_kept_for_resume_and_dropped_when_bad() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), "old").unwrap();
        let s = LocalStorage::open(root.path()).unwrap();
        let names = || {
            let mut v: Vec<String> = std::fs::read_dir(root.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };

        // Interrupted: the old file stays, the part is kept under its
        // findable name.
        let mut w = s.create(&p("/f"), None).await.unwrap();
        w.write(vec![Bytes::from_static(b"new!")]).await.unwrap();
        drop(w);
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");
        assert_eq!(names(), [".f.ferry-part", "f"]);

        // Resumed after its first 2 bytes, when they hash right.
        let bad = Resume {
            offset: 2,
            prefix: b3(b"xx"),
        };
        let err = s.create(&p("/f"), Some(bad)).await.err().unwrap();
        assert_eq!(err.code(), ErrorCode::PrefixMismatch);
        assert_eq!(names(), ["f"], "a mismatched part is dropped");

        let mut w = s.create(&p("/f"), None).await.unwrap();
        w.write(vec![Bytes::from_static(b"ne")]).await.unwrap();
        drop(w);
        let good = Resume {
            offset: 2,
            prefix: b3(b"ne"),
        };
        let mut w = s.create(&p("/f"), Some(good)).await.unwrap();
        w.write(vec![Bytes::from_static(b"w!")]).await.unwrap();
        // The wrong hash: refused, the part is gone, the old file stays.
        let err = w.commit(commit(4, Some(b3(b"nope")))).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::HashMismatch);
        assert_eq!(names(), ["f"]);
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");

        // The wrong size: refused the same way.
        let mut w = s.create(&p("/f"), None).await.unwrap();
        w.write(vec![Bytes::from_static(b"new!")]).await.unwrap();
        let err = w.commit(commit(5, None)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Io);
        assert_eq!(names(), ["f"]);

        // A second upload of the same file while one holds the partial
        // writes a private one, which never outlives it.
        let mut first = s.create(&p("/f"), None).await.unwrap();
        first.write(vec![Bytes::from_static(b"a")]).await.unwrap();
        let mut second = s.create(&p("/f"), None).await.unwrap();
        second.write(vec![Bytes::from_static(b"b")]).await.unwrap();
        assert_eq!(names().len(), 3, "{:?}", names());
        drop(second);
        assert_eq!(names(), [".f.ferry-part", "f"]);
        first.discard().await;
        assert_eq!(names(), ["f"]);

        // Whole and right: it replaces the file, with its metadata.
        let mut w = s.create(&p("/f"), None).await.unwrap();
        w.write(vec![Bytes::from_static(b"ne"), Bytes::from_static(b"w!")])
            .await
            .unwrap();
        let mtime = Timestamp {
            secs: 1_000_000_000,
            nanos: 0,
        };
        w.commit(Commit {
            size: 4,
            mtime: Some(mtime),
            mode: Some(0o4755),
            new_mode: None,
            hash: Some(b3(b"new!")),
        })
        .await
        .unwrap();
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"new!");
        let e = s.stat(&p("/f")).await.unwrap();
        assert_eq!(e.mtime, Some(mtime));
        assert_eq!(e.mode, 0o755);
        assert_eq!(names(), ["f"]);
        assert_eq!(s.sum(&p("/f")).await.unwrap(), (4, b3(b"new!")));

        // Partial names are ferry's own.
        let err = s.create(&p("/.x.ferry-part"), None).await.err().unwrap();
        assert_eq!(err.code(), ErrorCode::InvalidPath);
        assert!(s.mkdir(&p("/.d.ferry-part"), false).await.is_err());
        assert!(s.rename(&p("/f"), &p("/.f.ferry-part")).await.is_err());
    }

    #[tokio::test]
    async fn the_sweep_removes_only_old_idle_partials() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a/b")).unwrap();
        for p in [
            "a/.old.ferry-part",
            "a/b/.old2.ferry-part",
            ".new.ferry-part",
        ] {
            std::fs::write(root.path().join(p), "x").unwrap();
        }
        std::fs::write(root.path().join("a/keep.ferry-part"), "not hidden").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3 * 86400);
        for p in [
            "a/.old.ferry-part",
            "a/b/.old2.ferry-part",
            "a/keep.ferry-part",
        ] {
            std::fs::File::options()
                .write(true)
                .open(root.path().join(p))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let s = LocalStorage::open(root.path()).unwrap();
        let removed = s.sweep_partials(Duration::from_secs(86400)).await.unwrap();
        assert_eq!(removed, 2);
        assert!(root.path().join(".new.ferry-part").exists());
        assert!(root.path().join("a/keep.ferry-part").exists());
        assert!(!root.path().join("a/.old.ferry-part").exists());
    }

    #[tokio::test]
    async fn reads_start_at_the_offset_and_notice_a_shrunk_file() {
        let root = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(CHUNK_SIZE * 2 + 10)).map(|i| i as u8).collect();
        std::fs::write(root.path().join("f"), &data).unwrap();
        let s = LocalStorage::open(root.path()).unwrap();
        let mut r = s.open_read(&p("/f"), 7, true).await.unwrap();
        assert_eq!(r.prefix(), Some(b3(&data[..7])));
        assert_eq!(r.entry().size, data.len() as u64);
        let mut got = Vec::new();
        for len in [
            3,
            CHUNK_SIZE,
            CHUNK_SIZE,
            data.len() - 7 - 3 - 2 * CHUNK_SIZE,
        ] {
            got.extend_from_slice(&r.read(len).await.unwrap());
        }
        assert!(got == data[7..]);
        let err = s
            .open_read(&p("/f"), data.len() as u64 + 1, false)
            .await
            .err()
            .unwrap();
        assert_eq!(err.code(), ErrorCode::Protocol);

        let mut r = s.open_read(&p("/f"), 0, false).await.unwrap();
        std::fs::write(root.path().join("f"), b"short").unwrap();
        r.read(CHUNK_SIZE).await.unwrap();
        let err = r.read(CHUNK_SIZE).await.unwrap_err();
        assert!(matches!(err, StorageError::Shrank(_)), "{err}");
    }

    #[test]
    fn part_names_fit_and_differ() {
        let long = "é".repeat(127);
        let a = part_name(&long);
        assert!(a.len() <= 255);
        assert!(a.ends_with(PART_SUFFIX));
        assert_ne!(part_name("x"), part_name("x"));
    }

    #[tokio::test]
    async fn rename_into_directory_and_not_into_itself() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("d/sub")).unwrap();
        std::fs::write(root.path().join("f"), "x").unwrap();
        let s = LocalStorage::open(root.path()).unwrap();
        assert_eq!(s.rename(&p("/f"), &p("/d")).await.unwrap(), p("/d/f"));
        assert!(root.path().join("d/f").exists());
        let err = s.rename(&p("/d"), &p("/d/sub")).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidPath);
        assert_eq!(
            s.rename(&RemotePath::root(), &p("/x"))
                .await
                .unwrap_err()
                .code(),
            ErrorCode::InvalidPath
        );
        assert_eq!(
            s.rmdir(&RemotePath::root()).await.unwrap_err().to_string(),
            "/: the served root cannot be removed"
        );
    }
}
