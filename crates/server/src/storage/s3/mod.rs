//! [`S3Storage`]: a bucket (or a prefix of one) of an S3-compatible object
//! store, served as a tree of files and directories, through opendal.
//!
//! How the tree maps onto objects:
//!
//! - A file `/a/b` is the object `PREFIX/a/b`. Its modification time and
//!   permission bits travel as user metadata (`mtime`, in seconds with a
//!   fraction as rclone writes it, and `mode`, in octal); without them the
//!   object's own Last-Modified and `0644` stand in.
//! - A directory `/a` is a marker object `PREFIX/a/` (empty), or, for trees
//!   written by other tools, any key under `PREFIX/a/`. `mkdir` writes the
//!   marker, `rmdir` removes it once nothing else is under it.
//! - An upload waits as segment objects in a hidden staging area and
//!   becomes its object only at commit, in one step (see `partial.rs` and
//!   `writer.rs`): readers see the previous object until then, and an
//!   upload cut off at any point, the gateway killed included, leaves it
//!   untouched and its bytes findable by any gateway.
//! - Reads are ranged GETs pinned to the ETag seen when the file was
//!   opened, so a download resumes at any offset and never mixes two
//!   versions of an object.
//! - A rename copies and then deletes: for a file, one server-side copy; for
//!   a directory, one per object beneath it, refused beyond
//!   [`S3Limits::move_objects`] objects or [`S3Limits::move_bytes`] bytes.
//!
//! Nothing is kept on the gateway between requests: every gateway of one
//! bucket sees the same tree and the same partial uploads.

mod listing;
mod partial;
mod reader;
mod writer;

use std::{
    collections::BTreeMap,
    fmt, io,
    sync::{Arc, Once},
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use ferry_proto::{is_partial_name, Entry, Kind, RemotePath, Timestamp};
use futures::{StreamExt, TryStreamExt};
use opendal::{layers::RetryLayer, services::S3, ErrorKind, Metadata, Operator};
use tokio::sync::Semaphore;

use self::{
    listing::S3Listing,
    partial::{Chain, Segment, STAGING},
    reader::{ReadAhead, S3Reader},
    writer::S3Writer,
};
use super::{Listing, ReadHandle, Resume, Storage, StorageError, WriteHandle};

/// Where and how to reach a bucket. The credentials come from the
/// environment (see `ferry serve`), never from the command line.
#[derive(Clone)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The key prefix served as the root, without leading or trailing
    /// slashes; empty for the whole bucket.
    pub prefix: String,
    /// The endpoint URL (`http://127.0.0.1:8333`, `https://s3.eu-west-1.amazonaws.com`).
    pub endpoint: String,
    /// The region to sign requests for.
    pub region: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    /// Splits `s3://BUCKET[/PREFIX]` into the bucket and the prefix; `None`
    /// when `url` is not an `s3://` URL at all.
    pub fn parse_url(url: &str) -> Option<Result<(String, String), String>> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c);
        if bucket.is_empty() || !bucket.chars().all(valid) {
            return Some(Err(format!(
                "'{url}': expected s3://BUCKET[/PREFIX] with a bucket name of lower-case letters, digits, '.', '-' and '_'"
            )));
        }
        let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
        if parts.iter().any(|p| *p == "." || *p == "..") {
            return Some(Err(format!("'{url}': the prefix may not hold '.' or '..'")));
        }
        Some(Ok((bucket.to_owned(), parts.join("/"))))
    }

    /// The `s3://BUCKET[/PREFIX]` this serves.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// The bounds the backend works within.
#[derive(Debug, Clone, Copy)]
pub struct S3Limits {
    /// Size of an upload's segments, and of the parts of the multipart
    /// upload that assembles them (at least 5 MiB, S3's smallest part).
    pub segment: usize,
    /// Upload bytes all uploads together may hold in memory before their
    /// segments are complete; past it, uploads write shorter segments.
    pub buffers: usize,
    /// Download bytes all downloads together may fetch ahead of what they
    /// send. A large download that fits fetches four ranges of `segment`
    /// bytes at once; one that does not (or a small file) reads by one GET,
    /// which holds next to nothing.
    pub read_ahead: usize,
    /// The most objects a directory rename copies.
    pub move_objects: usize,
    /// The most bytes a directory rename copies.
    pub move_bytes: u64,
}

impl Default for S3Limits {
    fn default() -> Self {
        S3Limits {
            segment: 8 << 20,
            buffers: 512 << 20,
            read_ahead: 256 << 20,
            move_objects: 1000,
            move_bytes: 4 << 30,
        }
    }
}

/// How many requests one listing or rename has in flight at once.
const FAN_OUT: usize = 32;

/// How many ranged GETs a large download has in flight at once: one GET
/// stream from a store is often slower than the link (rclone's
/// `--multi-thread-streams` default is 4 too).
const READ_AHEAD_PARTS: usize = 4;

/// A bucket served through opendal's S3 service.
#[derive(Clone)]
pub struct S3Storage {
    op: Operator,
    url: String,
    limits: S3Limits,
    /// Memory for upload buffers, in KiB.
    budget: Arc<Semaphore>,
    /// Memory for downloads' read-ahead, in KiB.
    read_ahead: Arc<Semaphore>,
}

impl fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Storage")
            .field("url", &self.url)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl S3Storage {
    /// Sets up the client for `config`; nothing is sent yet (a first
    /// listing, [`Storage::list`] of `/`, shows whether the bucket answers).
    pub fn open(config: &S3Config, limits: S3Limits) -> Result<Self, opendal::Error> {
        static TRANSPORT: Once = Once::new();
        TRANSPORT.call_once(|| {
            // reqwest's rustls uses the process-wide provider: the same ring
            // that ferry's QUIC uses, rather than a second crypto library.
            let _ = rustls::crypto::ring::default_provider().install_default();
            opendal_http_transport_reqwest::install_default();
        });
        let mut builder = S3::default()
            .bucket(&config.bucket)
            .root(&format!("/{}", config.prefix))
            .endpoint(&config.endpoint)
            .region(&config.region)
            .access_key_id(&config.access_key_id)
            .secret_access_key(&config.secret_access_key)
            // Only what ferry was given: no ~/.aws files, no instance
            // metadata service.
            .disable_config_load();
        if let Some(token) = &config.session_token {
            builder = builder.session_token(token);
        }
        // A store may drop a connection or answer 503 Slow Down now and
        // then: requests that failed that way are retried, with backoff
        // (what the AWS SDKs and rclone do too). Repeating a request is
        // safe here: each write sends a whole object or part again, and a
        // copy or delete may be done twice.
        let op = Operator::new(builder)?.layer(
            RetryLayer::new()
                .with_max_times(4)
                .with_min_delay(Duration::from_millis(100))
                .with_jitter(),
        );
        let limits = S3Limits {
            segment: limits.segment.max(5 << 20),
            ..limits
        };
        Ok(S3Storage {
            op,
            url: config.url(),
            budget: Arc::new(Semaphore::new(limits.buffers / 1024)),
            read_ahead: Arc::new(Semaphore::new(limits.read_ahead / 1024)),
            limits,
        })
    }

    /// What a metadata lookup of `path` finds: the file or directory, or
    /// nothing.
    async fn lookup(&self, path: &RemotePath) -> Result<Option<Entry>, StorageError> {
        let name = path.file_name().unwrap_or("/");
        if path.is_root() {
            return Ok(Some(dir_entry(name, None)));
        }
        match self.op.stat(&key(path)).await {
            Ok(meta) => return Ok(Some(file_entry(name, &meta))),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(store_error(path, e)),
        }
        self.dir_lookup(path).await
    }

    /// The directory `path`, if there is one: its marker, or any key under
    /// it; one listing request.
    async fn dir_lookup(&self, path: &RemotePath) -> Result<Option<Entry>, StorageError> {
        let name = path.file_name().unwrap_or("/");
        if path.is_root() {
            return Ok(Some(dir_entry(name, None)));
        }
        let dir = dir_key(path);
        let first = self
            .op
            .lister_with(&dir)
            .limit(1)
            .await
            .map_err(|e| store_error(path, e))?
            .try_next()
            .await
            .map_err(|e| store_error(path, e))?;
        // The marker sorts first; its time is the directory's.
        Ok(first.map(|item| {
            let marker = (item.path() == dir).then(|| item.metadata());
            dir_entry(name, marker)
        }))
    }

    /// Room to fetch ahead for a download of `left` more bytes, if it is
    /// large enough to gain from parallel GETs and the room is free; held
    /// until the download ends.
    fn read_ahead(&self, left: u64) -> Option<ReadAhead> {
        let chunk = self.limits.segment;
        if left < (2 * READ_AHEAD_PARTS * chunk) as u64 {
            return None;
        }
        let kib = u32::try_from(READ_AHEAD_PARTS * chunk / 1024).ok()?;
        let permit = self.read_ahead.clone().try_acquire_many_owned(kib).ok()?;
        Some(ReadAhead {
            chunk,
            _permit: permit,
        })
    }

    /// Insists that `path` is an existing directory.
    async fn require_dir(&self, path: &RemotePath) -> Result<(), StorageError> {
        if self.dir_lookup(path).await?.is_some() {
            return Ok(());
        }
        match self.op.stat(&key(path)).await {
            Ok(_) => Err(StorageError::NotADirectory(path.clone())),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(StorageError::NotFound(path.clone())),
            Err(e) => Err(store_error(path, e)),
        }
    }

    /// The partial file named `name` in `dir`, if it holds any bytes.
    async fn partial_entry(
        &self,
        dir: &RemotePath,
        name: &str,
    ) -> Result<Option<Entry>, StorageError> {
        let prefix = partial::prefix_of(dir, name);
        let found = segments(&self.op, &prefix)
            .await
            .map_err(|e| store_error(dir, e))?;
        let chain = Chain::build(found);
        Ok((chain.len() > 0).then(|| partial_entry(name, &chain)))
    }

    /// The partial files of the directory `dir`, from one listing of its
    /// staging prefix.
    async fn partials_in(&self, dir: &RemotePath) -> Result<Vec<Entry>, StorageError> {
        let prefix = partial::dir_prefix(dir);
        let mut by_name: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
        let mut lister = self
            .op
            .lister_with(&prefix)
            .recursive(true)
            .await
            .map_err(|e| store_error(dir, e))?;
        while let Some(item) = lister.try_next().await.map_err(|e| store_error(dir, e))? {
            let Some(rest) = item.path().strip_prefix(&prefix) else {
                continue;
            };
            let Some((name, _)) = rest.split_once('/') else {
                continue;
            };
            let meta = item.metadata();
            let modified = meta.last_modified().map(SystemTime::from);
            let own = format!("{prefix}{name}/");
            if let Some(s) = Segment::parse(item.path(), &own, meta.content_length(), modified) {
                by_name.entry(name.to_owned()).or_default().push(s);
            }
        }
        Ok(by_name
            .into_iter()
            .filter_map(|(name, segments)| {
                let chain = Chain::build(segments);
                (chain.len() > 0 && is_partial_name(&name)).then(|| partial_entry(&name, &chain))
            })
            .collect())
    }

    /// Renames a directory: copies each object beneath it, then deletes the
    /// originals; refused beyond the limits, before anything is copied.
    async fn rename_dir(&self, from: &RemotePath, to: &RemotePath) -> Result<(), StorageError> {
        let src = dir_key(from);
        let dst = dir_key(to);
        let mut objects = Vec::new();
        let mut bytes = 0;
        let mut lister = self
            .op
            .lister_with(&src)
            .recursive(true)
            .await
            .map_err(|e| store_error(from, e))?;
        while let Some(item) = lister.try_next().await.map_err(|e| store_error(from, e))? {
            bytes += item.metadata().content_length();
            objects.push(item.path().to_owned());
            if objects.len() > self.limits.move_objects || bytes > self.limits.move_bytes {
                return Err(StorageError::TooLargeToMove {
                    path: from.clone(),
                    objects: self.limits.move_objects,
                    bytes: self.limits.move_bytes,
                });
            }
        }
        let mut jobs = Vec::with_capacity(objects.len());
        for key in &objects {
            let target = format!("{dst}{}", &key[src.len()..]);
            let (op, key) = (self.op.clone(), key.clone());
            jobs.push(async move {
                if key.ends_with('/') {
                    op.create_dir(&target).await.map(|_| ())
                } else {
                    op.copy(&key, &target).await.map(|_| ())
                }
            });
        }
        let copies = futures::stream::iter(jobs)
            .buffer_unordered(FAN_OUT)
            .try_collect::<Vec<()>>();
        copies.await.map_err(|e| store_error(to, e))?;
        // The target exists as a directory even when the source had no
        // marker of its own.
        self.op
            .create_dir(&dst)
            .await
            .map_err(|e| store_error(to, e))?;
        delete_tidily(&self.op, objects, &src)
            .await
            .map_err(|e| store_error(from, e))
    }
}

#[async_trait]
impl Storage for S3Storage {
    async fn stat(&self, path: &RemotePath) -> Result<Entry, StorageError> {
        if let (Some(name), Some(dir)) = (path.file_name(), path.parent()) {
            if is_partial_name(name) {
                // Only ferry makes such names, and it keeps them in the
                // staging area.
                return self
                    .partial_entry(&dir, name)
                    .await?
                    .ok_or_else(|| StorageError::NotFound(path.clone()));
            }
        }
        self.lookup(path)
            .await?
            .ok_or_else(|| StorageError::NotFound(path.clone()))
    }

    async fn list(&self, path: &RemotePath) -> Result<Box<dyn Listing>, StorageError> {
        let (dir, partials) = tokio::join!(self.lookup(path), self.partials_in(path));
        match dir? {
            Some(e) if e.kind == Kind::Dir => {}
            Some(_) => return Err(StorageError::NotADirectory(path.clone())),
            None => return Err(StorageError::NotFound(path.clone())),
        }
        let lister = self
            .op
            .lister(&dir_key(path))
            .await
            .map_err(|e| store_error(path, e))?;
        Ok(Box::new(S3Listing::new(
            self.op.clone(),
            path.clone(),
            lister,
            partials.unwrap_or_default(),
        )))
    }

    async fn mkdir(&self, path: &RemotePath, parents: bool) -> Result<(), StorageError> {
        refuse_reserved(path)?;
        match self.lookup(path).await? {
            Some(e) if e.kind == Kind::Dir && parents => return Ok(()),
            Some(e) if e.kind != Kind::Dir && parents => {
                return Err(StorageError::ExistsNotADirectory(path.clone()))
            }
            Some(_) => return Err(StorageError::AlreadyExists(path.clone())),
            None => {}
        }
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        if parents {
            // The missing ancestors, outermost first.
            let mut missing = Vec::new();
            let mut at = parent;
            while let Some(up) = at.parent() {
                match self.lookup(&at).await? {
                    Some(e) if e.kind == Kind::Dir => break,
                    Some(_) => return Err(StorageError::ExistsNotADirectory(at)),
                    None => {}
                }
                missing.push(at.clone());
                at = up;
            }
            for dir in missing.iter().rev() {
                refuse_reserved(dir)?;
                self.op
                    .create_dir(&dir_key(dir))
                    .await
                    .map_err(|e| store_error(dir, e))?;
            }
        } else {
            match self.lookup(&parent).await? {
                Some(e) if e.kind == Kind::Dir => {}
                Some(_) => return Err(StorageError::NotADirectory(path.clone())),
                None => return Err(StorageError::NotFound(path.clone())),
            }
        }
        self.op
            .create_dir(&dir_key(path))
            .await
            .map(|_| ())
            .map_err(|e| store_error(path, e))
    }

    async fn rmdir(&self, path: &RemotePath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::Root("removed"));
        }
        match self.lookup(path).await? {
            Some(e) if e.kind == Kind::Dir => {}
            Some(_) => return Err(StorageError::RmdirNotADirectory(path.clone())),
            None => return Err(StorageError::NotFound(path.clone())),
        }
        let marker = dir_key(path);
        let mut lister = self
            .op
            .lister_with(&marker)
            .limit(2)
            .await
            .map_err(|e| store_error(path, e))?;
        while let Some(item) = lister.try_next().await.map_err(|e| store_error(path, e))? {
            if item.path() != marker {
                return Err(StorageError::NotEmpty(path.clone()));
            }
        }
        self.op
            .delete(&marker)
            .await
            .map_err(|e| store_error(path, e))
    }

    async fn remove(&self, path: &RemotePath) -> Result<(), StorageError> {
        if let (Some(name), Some(dir)) = (path.file_name(), path.parent()) {
            if is_partial_name(name) {
                let removed = delete_prefix(&self.op, &partial::prefix_of(&dir, name))
                    .await
                    .map_err(|e| store_error(path, e))?;
                if removed > 0 {
                    return Ok(());
                }
            }
        }
        match self.lookup(path).await? {
            Some(e) if e.kind == Kind::Dir => Err(StorageError::RemoveDirectory(path.clone())),
            Some(_) => self
                .op
                .delete(&key(path))
                .await
                .map_err(|e| store_error(path, e)),
            None => Err(StorageError::NotFound(path.clone())),
        }
    }

    async fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<RemotePath, StorageError> {
        let Some(name) = from.file_name().map(str::to_owned) else {
            return Err(StorageError::Root("moved"));
        };
        let Some(source) = self.lookup(from).await? else {
            return Err(StorageError::NotFound(from.clone()));
        };
        let existing = self.lookup(to).await?;
        let (target, existing) = match existing {
            Some(e) if e.kind == Kind::Dir => {
                let target = to.join(&name).map_err(|source| StorageError::BadName {
                    dir: to.clone(),
                    source,
                })?;
                let inner = self.lookup(&target).await?;
                (target, inner)
            }
            other => (to.clone(), other),
        };
        refuse_reserved(&target)?;
        if target == *from {
            return Ok(target);
        }
        if target.starts_with(from) {
            return Err(StorageError::IntoItself {
                from: from.clone(),
                to: target,
            });
        }
        if let Some(parent) = target.parent() {
            self.require_dir(&parent).await.map_err(|e| match e {
                StorageError::NotFound(_) => StorageError::NotFound(target.clone()),
                other => other,
            })?;
        }
        if source.kind == Kind::Dir {
            match existing {
                Some(e) if e.kind != Kind::Dir => {
                    return Err(StorageError::NotADirectory(target));
                }
                Some(_) => {
                    // Like rename(2): an empty directory is replaced, a
                    // full one is not.
                    self.rmdir(&target).await?;
                }
                None => {}
            }
            self.rename_dir(from, &target).await?;
        } else {
            if existing.is_some_and(|e| e.kind == Kind::Dir) {
                return Err(StorageError::IsADirectory(target));
            }
            self.op
                .copy(&key(from), &key(&target))
                .await
                .map_err(|e| store_error(&target, e))?;
            self.op
                .delete(&key(from))
                .await
                .map_err(|e| store_error(from, e))?;
        }
        Ok(target)
    }

    async fn open_read(
        &self,
        path: &RemotePath,
        offset: u64,
        hash: bool,
    ) -> Result<Box<dyn ReadHandle>, StorageError> {
        if path.is_root() {
            return Err(StorageError::IsADirectory(path.clone()));
        }
        let meta = match self.op.stat(&key(path)).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(match self.dir_lookup(path).await? {
                    Some(_) => StorageError::IsADirectory(path.clone()),
                    None => StorageError::NotFound(path.clone()),
                });
            }
            Err(e) => return Err(store_error(path, e)),
        };
        let entry = file_entry(path.file_name().unwrap_or("/"), &meta);
        if offset > entry.size {
            return Err(StorageError::OffsetBeyondEnd {
                path: path.clone(),
                offset,
                size: entry.size,
            });
        }
        let etag = meta.etag().map(str::to_owned);
        let ahead = self.read_ahead(entry.size - offset);
        let reader = S3Reader::open(
            self.op.clone(),
            path.clone(),
            entry,
            etag,
            (offset, hash),
            ahead,
        )
        .await?;
        Ok(Box::new(reader))
    }

    async fn create(
        &self,
        path: &RemotePath,
        resume: Option<Resume>,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        refuse_reserved(path)?;
        let (Some(parent), Some(prefix)) = (path.parent(), partial::prefix_for(path)) else {
            return Err(StorageError::IsADirectory(path.clone()));
        };
        let (parent_ok, here) = tokio::join!(self.require_dir(&parent), self.dir_lookup(path));
        parent_ok?;
        if here?.is_some() {
            return Err(StorageError::IsADirectory(path.clone()));
        }
        let writer = S3Writer::new(
            self.op.clone(),
            path.clone(),
            key(path),
            prefix.clone(),
            self.limits.segment,
            self.budget.clone(),
        );
        let writer = match resume {
            None => writer,
            Some(resume) => {
                let chain = Chain::build(
                    segments(&self.op, writer.prefix())
                        .await
                        .map_err(|e| store_error(path, e))?,
                );
                match writer.resume(chain, resume).await {
                    Ok(w) => w,
                    Err(e @ StorageError::PrefixMismatch(_)) => {
                        // A part that does not fit is dropped, so that the
                        // fresh start that follows is clean.
                        let _ = delete_prefix(&self.op, &prefix).await;
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(Box::new(writer))
    }

    async fn sweep_partials(&self, age: Duration) -> Result<usize, StorageError> {
        let root = RemotePath::root();
        let Some(cutoff) = SystemTime::now().checked_sub(age) else {
            return Ok(0);
        };
        // Each partial: its objects, and when the newest was written.
        let mut partials: BTreeMap<String, (Vec<String>, Option<SystemTime>)> = BTreeMap::new();
        let staging = format!("{STAGING}/");
        let mut lister = self
            .op
            .lister_with(&staging)
            .recursive(true)
            .await
            .map_err(|e| store_error(&root, e))?;
        while let Some(item) = lister.try_next().await.map_err(|e| store_error(&root, e))? {
            let key = item.path();
            let Some(rest) = key.strip_prefix(&staging) else {
                continue;
            };
            // STAGING/<dir tag>/<partial name>/…: one partial.
            let mut parts = rest.splitn(3, '/');
            let group = match (parts.next(), parts.next()) {
                (Some(tag), Some(name)) => format!("{tag}/{name}"),
                _ => rest.to_owned(),
            };
            let modified = item.metadata().last_modified().map(SystemTime::from);
            let slot = partials.entry(group).or_default();
            slot.0.push(key.to_owned());
            slot.1 = slot.1.max(modified);
        }
        let mut removed = 0;
        for (keys, newest) in partials.into_values() {
            if newest.is_some_and(|t| t < cutoff)
                && delete_tidily(&self.op, keys, &staging).await.is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The segments under a partial's `prefix`.
async fn segments(op: &Operator, prefix: &str) -> Result<Vec<Segment>, opendal::Error> {
    let mut found = Vec::new();
    let mut lister = op.lister_with(prefix).recursive(true).await?;
    while let Some(item) = lister.try_next().await? {
        let meta = item.metadata();
        if meta.is_file() {
            let modified = meta.last_modified().map(SystemTime::from);
            if let Some(s) = Segment::parse(item.path(), prefix, meta.content_length(), modified) {
                found.push(s);
            }
        }
    }
    Ok(found)
}

/// Deletes every object under `prefix`, and the staging area's directories
/// above it that this leaves empty; returns how many objects there were.
async fn delete_prefix(op: &Operator, prefix: &str) -> Result<usize, opendal::Error> {
    let mut keys = Vec::new();
    let mut lister = op.lister_with(prefix).recursive(true).await?;
    while let Some(item) = lister.try_next().await? {
        keys.push(item.path().to_owned());
    }
    let n = keys.len();
    if n > 0 {
        delete_tidily(op, keys, &format!("{STAGING}/")).await?;
    }
    Ok(n)
}

/// Deletes `keys`: the objects first, then every directory above them down
/// to `floor` (included), deepest first, one depth at a time (a batch
/// delete has no order). Stores with real directories (SeaweedFS) keep a
/// directory once it is empty, until its own key is deleted; deleting a
/// directory that still holds something does nothing there, and a key that
/// does not exist is no error anywhere, so this is safe on every store.
async fn delete_tidily(
    op: &Operator,
    keys: Vec<String>,
    floor: &str,
) -> Result<(), opendal::Error> {
    for stage in tidy(keys, floor) {
        op.delete_iter(stage).await?;
    }
    Ok(())
}

/// The stages of [`delete_tidily`].
fn tidy(keys: Vec<String>, floor: &str) -> Vec<Vec<String>> {
    let mut dirs = std::collections::BTreeSet::new();
    for key in &keys {
        let mut end = key.trim_end_matches('/').len();
        while let Some(slash) = key[..end].rfind('/') {
            let dir = &key[..=slash];
            if !dir.starts_with(floor) {
                break;
            }
            dirs.insert(dir.to_owned());
            end = slash;
        }
    }
    let (files, markers): (Vec<String>, Vec<String>) =
        keys.into_iter().partition(|k| !k.ends_with('/'));
    dirs.extend(markers);
    let mut by_depth: BTreeMap<std::cmp::Reverse<usize>, Vec<String>> = BTreeMap::new();
    for dir in dirs {
        by_depth
            .entry(std::cmp::Reverse(dir.matches('/').count()))
            .or_default()
            .push(dir);
    }
    std::iter::once(files)
        .filter(|f| !f.is_empty())
        .chain(by_depth.into_values())
        .collect()
}

/// Refuses to make a name that only ferry's partial files may have.
fn refuse_reserved(path: &RemotePath) -> Result<(), StorageError> {
    match path.file_name() {
        Some(name) if is_partial_name(name) => Err(StorageError::Reserved(path.clone())),
        _ => Ok(()),
    }
}

/// The object key of a file (relative to the served prefix).
fn key(path: &RemotePath) -> String {
    path.as_relative().to_owned()
}

/// The key of a directory's marker, which is also the prefix of what it
/// holds: `a/b/`, or empty for the root.
fn dir_key(path: &RemotePath) -> String {
    if path.is_root() {
        String::new()
    } else {
        format!("{}/", path.as_relative())
    }
}

/// Reads `mtime` as rclone writes it: seconds since the epoch, with an
/// optional fraction.
fn parse_mtime(text: &str) -> Option<Timestamp> {
    let (secs, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let secs: i64 = secs.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(Timestamp { secs, nanos })
}

/// Writes `mtime` as rclone does: seconds, and the fraction without
/// trailing zeros.
fn format_mtime(t: Timestamp) -> String {
    if t.nanos == 0 {
        t.secs.to_string()
    } else {
        let frac = format!("{:09}", t.nanos);
        format!("{}.{}", t.secs, frac.trim_end_matches('0'))
    }
}

/// The user metadata that carries a file's modification time and mode.
fn user_metadata(mtime: Option<Timestamp>, mode: Option<u32>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(t) = mtime {
        out.push(("mtime".to_owned(), format_mtime(t)));
    }
    if let Some(mode) = mode {
        // Never set-user-id, set-group-id or sticky from the wire.
        out.push(("mode".to_owned(), format!("{:o}", mode & 0o777)));
    }
    out
}

/// The permission bits an object carries in its user metadata, if any.
fn stored_mode(meta: &Metadata) -> Option<u32> {
    meta.user_metadata()
        .and_then(|u| u.get("mode"))
        .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
        .map(|m| m & 0o777)
}

fn file_entry(name: &str, meta: &Metadata) -> Entry {
    let user = meta.user_metadata();
    let mtime = user
        .as_ref()
        .and_then(|u| u.get("mtime"))
        .and_then(parse_mtime)
        .or_else(|| {
            meta.last_modified()
                .and_then(|t| Timestamp::from_system(t.into()))
        });
    let mode = stored_mode(meta).unwrap_or(0o644);
    Entry {
        name: name.to_owned(),
        kind: Kind::File,
        size: meta.content_length(),
        mtime,
        mode,
        target: None,
    }
}

fn dir_entry(name: &str, marker: Option<&Metadata>) -> Entry {
    Entry {
        name: name.to_owned(),
        kind: Kind::Dir,
        size: 0,
        mtime: marker
            .and_then(Metadata::last_modified)
            .and_then(|t| Timestamp::from_system(t.into())),
        mode: 0o755,
        target: None,
    }
}

fn partial_entry(name: &str, chain: &Chain) -> Entry {
    Entry {
        name: name.to_owned(),
        kind: Kind::File,
        size: chain.len(),
        mtime: chain.modified.and_then(Timestamp::from_system),
        mode: 0o644,
        target: None,
    }
}

/// Classifies an object-store error on `path`. The client is told the
/// kind of failure; the full error, with the request, goes to the log.
fn store_error(path: &RemotePath, e: opendal::Error) -> StorageError {
    let path = path.clone();
    match e.kind() {
        ErrorKind::NotFound => StorageError::NotFound(path),
        ErrorKind::PermissionDenied => StorageError::PermissionDenied(path),
        ErrorKind::AlreadyExists => StorageError::AlreadyExists(path),
        ErrorKind::IsADirectory => StorageError::IsADirectory(path),
        ErrorKind::NotADirectory => StorageError::NotADirectory(path),
        ErrorKind::ConditionNotMatch => StorageError::Changed(path),
        kind => {
            tracing::warn!("{path}: object store: {e}");
            StorageError::Io {
                path,
                source: io::Error::other(format!("object store: {kind}: {}", e.message())),
            }
        }
    }
}

#[cfg(test)]
mod tests;
