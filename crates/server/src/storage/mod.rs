//! Storage behind one small trait: the only way handlers reach files.
//!
//! - [`Storage`]: metadata operations, listings, and owned handles for
//!   reading ([`ReadHandle`]) and writing ([`WriteHandle`]) file bodies.
//! - [`StorageError`] (in `error.rs`): what a backend reports, each case with
//!   its stable wire code.
//! - [`LocalStorage`] (in `local.rs`): a directory on this machine, through
//!   cap-std beneath the root.
//! - [`S3Storage`] (in `s3/`): a bucket of an S3-compatible object store,
//!   through opendal; its module doc says how files, directories and
//!   partial uploads map onto objects.
//!
//! The contract every backend keeps:
//!
//! - Paths arrive as [`RemotePath`]s, already free of `..` and other
//!   escapes; a backend must also refuse anything that would lead outside
//!   its root by other means (symlinks).
//! - A [`WriteHandle`] makes its file appear under the final name only on
//!   [`WriteHandle::commit`], atomically, and only when the bytes hash to
//!   what the sender computed: readers see the previous version (or
//!   nothing) until then. Dropping it uncommitted leaves the previous
//!   version as it was, and keeps what was written as the destination's
//!   partial file, which a later [`Storage::create`] with a [`Resume`] goes
//!   on with once the part's hash proves it is a prefix of the source.
//! - Handles hash what they read or write with BLAKE3 (from byte 0, even
//!   when they start at an offset), so that neither end reads a file twice.
//! - Handles do their work per call and hold nothing blocked in between, so a
//!   slow peer costs memory for at most one chunk, never a thread. A backend
//!   over an object store implements reads as ranged reads and writes as
//!   multipart uploads.

mod error;
mod local;
mod s3;
#[cfg(test)]
pub(crate) mod testing;

use std::{fmt, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use ferry_net::{ChunkSink, ChunkSource};
use ferry_proto::{Digest, Entry, RemotePath, Timestamp};

pub use self::{
    error::StorageError,
    local::LocalStorage,
    s3::{S3Config, S3Limits, S3Storage},
};
#[cfg(test)]
pub(crate) use ferry_net::file::umask;

/// A tree of files and directories that ferry serves.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug + 'static {
    /// Metadata of `path`, following symlinks that stay inside the root.
    async fn stat(&self, path: &RemotePath) -> Result<Entry, StorageError>;

    /// The entries of the directory `path`, read as they are consumed.
    async fn list(&self, path: &RemotePath) -> Result<Box<dyn Listing>, StorageError>;

    /// Creates the directory `path`; with `parents`, its missing parents
    /// too, and an existing directory is fine.
    async fn mkdir(&self, path: &RemotePath, parents: bool) -> Result<(), StorageError>;

    /// Removes the empty directory `path`.
    async fn rmdir(&self, path: &RemotePath) -> Result<(), StorageError>;

    /// Removes the file (or symlink) `path`; refuses directories.
    async fn remove(&self, path: &RemotePath) -> Result<(), StorageError>;

    /// Renames `from` to `to`, or moves it into `to` when that is an
    /// existing directory; returns where it ended up.
    async fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<RemotePath, StorageError>;

    /// Opens the regular file `path` for reading from `offset` on. With
    /// `hash`, the handle hashes the file from byte 0: the part before
    /// `offset` as it opens ([`ReadHandle::prefix`]), the rest as it reads.
    async fn open_read(
        &self,
        path: &RemotePath,
        offset: u64,
        hash: bool,
    ) -> Result<Box<dyn ReadHandle>, StorageError>;

    /// Starts writing `path`, whose parent must exist. Nothing appears under
    /// `path` until the handle is committed. Without `resume` the write
    /// starts from nothing; with it, it goes on with the destination's
    /// partial file after its first `resume.offset` bytes, provided they
    /// hash to `resume.prefix` (else [`StorageError::PrefixMismatch`], and
    /// the partial is dropped so that a fresh start is clean).
    async fn create(
        &self,
        path: &RemotePath,
        resume: Option<Resume>,
    ) -> Result<Box<dyn WriteHandle>, StorageError>;

    /// The size and BLAKE3 of the regular file `path`.
    async fn sum(&self, path: &RemotePath) -> Result<(u64, Digest), StorageError> {
        let mut file = self.open_read(path, 0, true).await?;
        let size = file.entry().size;
        let mut left = size;
        while left > 0 {
            let n = left.min(ferry_net::CHUNK_SIZE as u64) as usize;
            file.read(n).await?;
            left -= n as u64;
        }
        let hash = file
            .digest()
            .ok_or_else(|| StorageError::Internal(path.clone()))?;
        Ok((size, hash))
    }

    /// Removes partial files untouched for longer than `age`; returns how
    /// many went.
    async fn sweep_partials(&self, age: Duration) -> Result<usize, StorageError>;
}

/// Where a resumed upload goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// How many bytes of the partial to keep.
    pub offset: u64,
    /// The BLAKE3 those bytes must have.
    pub prefix: Digest,
}

/// A directory's entries, in the backend's order.
#[async_trait]
pub trait Listing: Send {
    /// Up to `max` more entries; empty once every entry was returned.
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Entry>, StorageError>;
}

/// An open file being read front to back.
#[async_trait]
pub trait ReadHandle: Send {
    /// The file's metadata, taken when it was opened (so size and content
    /// agree).
    fn entry(&self) -> &Entry;

    /// The BLAKE3 of the bytes before the offset it was opened at, when
    /// hashing.
    fn prefix(&self) -> Option<Digest>;

    /// The next `len` bytes. A file that ends first (it shrank) is
    /// [`StorageError::Shrank`].
    async fn read(&mut self, len: usize) -> Result<Bytes, StorageError>;

    /// The BLAKE3 of the file from byte 0 to where reading got, when
    /// hashing.
    fn digest(&self) -> Option<Digest>;
}

/// What a finished upload is given as it becomes visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// The size the sender declared; any other size is refused.
    pub size: u64,
    /// Modification time to give the file.
    pub mtime: Option<Timestamp>,
    /// Permission bits to give the file (only the 0o777 bits are used).
    pub mode: Option<u32>,
    /// Without `mode`: bits for a file that does not exist yet, less the
    /// server's umask; an existing file keeps its own.
    pub new_mode: Option<u32>,
    /// The BLAKE3 the sender computed; a file that hashes otherwise is
    /// refused ([`StorageError::HashMismatch`]) and its partial removed.
    pub hash: Option<Digest>,
}

/// A file being written. Dropping it before [`WriteHandle::commit`] leaves
/// the previous version as it was and keeps the bytes written as the
/// destination's partial file, for a later resume.
#[async_trait]
pub trait WriteHandle: Send {
    /// Appends every byte of `chunks`.
    async fn write(&mut self, chunks: Vec<Bytes>) -> Result<(), StorageError>;

    /// Checks the size and hash, applies the metadata, and makes the file
    /// appear under its final name atomically.
    async fn commit(self: Box<Self>, meta: Commit) -> Result<(), StorageError>;

    /// Gives up and removes the partial file: its bytes are known bad.
    async fn discard(self: Box<Self>);
}

impl<'a> ChunkSource for Box<dyn ReadHandle + 'a> {
    type Error = StorageError;

    async fn read(&mut self, len: usize) -> Result<Bytes, StorageError> {
        ReadHandle::read(self.as_mut(), len).await
    }
}

impl<'a> ChunkSink for Box<dyn WriteHandle + 'a> {
    type Error = StorageError;

    async fn write(&mut self, chunks: Vec<Bytes>) -> Result<(), StorageError> {
        WriteHandle::write(self.as_mut(), chunks).await
    }
}
