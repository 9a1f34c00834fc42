//! Storage behind one small trait: the only way handlers reach files.
//!
//! - [`Storage`]: metadata operations, listings, and owned handles for
//!   reading ([`ReadHandle`]) and writing ([`WriteHandle`]) file bodies.
//! - [`StorageError`] (in `error.rs`): what a backend reports, each case with
//!   its stable wire code.
//! - [`LocalStorage`] (in `local.rs`): a directory on this machine, through
//!   cap-std beneath the root.
//!
//! The contract every backend keeps:
//!
//! - Paths arrive as [`RemotePath`]s, already free of `..` and other
//!   escapes; a backend must also refuse anything that would lead outside
//!   its root by other means (symlinks).
//! - A [`WriteHandle`] makes its file appear under the final name only on
//!   [`WriteHandle::commit`], atomically: readers see the previous version
//!   (or nothing) until then. Dropping it uncommitted aborts the write and
//!   leaves the previous version as it was.
//! - Handles do their work per call and hold nothing blocked in between, so a
//!   slow peer costs memory for at most one chunk, never a thread. A backend
//!   over an object store implements reads as ranged reads and writes as
//!   multipart uploads.

mod error;
mod local;

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_net::{ChunkSink, ChunkSource};
use ferry_proto::{Entry, RemotePath, Timestamp};

pub use self::{error::StorageError, local::LocalStorage, local::PART_SUFFIX};

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

    /// Opens the regular file `path` for reading from `offset` on.
    async fn open_read(
        &self,
        path: &RemotePath,
        offset: u64,
    ) -> Result<Box<dyn ReadHandle>, StorageError>;

    /// Starts writing `path`, whose parent must exist. Nothing appears under
    /// `path` until the handle is committed.
    async fn create(&self, path: &RemotePath) -> Result<Box<dyn WriteHandle>, StorageError>;
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

    /// The next `len` bytes. A file that ends first (it shrank) is
    /// [`StorageError::Shrank`].
    async fn read(&mut self, len: usize) -> Result<Bytes, StorageError>;
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
}

/// A file being written. Dropping it before [`WriteHandle::commit`] aborts
/// the write: the previous version stays as it was.
#[async_trait]
pub trait WriteHandle: Send {
    /// Appends every byte of `chunks`.
    async fn write(&mut self, chunks: Vec<Bytes>) -> Result<(), StorageError>;

    /// Checks the size, applies the metadata, and makes the file appear
    /// under its final name atomically.
    async fn commit(self: Box<Self>, meta: Commit) -> Result<(), StorageError>;
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
