//! [`StorageError`]: what a storage backend reports, with the stable wire
//! code each case maps to.

use std::io;

use ferry_proto::{ErrorCode, PathError, RemotePath, WireError};

/// Why a storage operation failed. Every variant names the path involved,
/// and its message is what the client shows.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The path does not exist.
    #[error("{0}: no such file or directory")]
    NotFound(RemotePath),
    /// Something exists where something new was to be made.
    #[error("{0}: already exists")]
    AlreadyExists(RemotePath),
    /// `mkdir -p` found a file in the way.
    #[error("{0}: exists and is not a directory")]
    ExistsNotADirectory(RemotePath),
    /// A directory was expected.
    #[error("{0}: not a directory")]
    NotADirectory(RemotePath),
    /// `rmdir` of something that is not a directory.
    #[error("{0}: not a directory (use rm for files)")]
    RmdirNotADirectory(RemotePath),
    /// A file was expected, but the path is a directory.
    #[error("{0}: is a directory")]
    IsADirectory(RemotePath),
    /// `remove` of a directory.
    #[error("{0}: is a directory (use rmdir)")]
    RemoveDirectory(RemotePath),
    /// The directory is not empty.
    #[error("{0}: directory not empty")]
    NotEmpty(RemotePath),
    /// The operating system (or the bucket) refused access.
    #[error("{0}: permission denied")]
    PermissionDenied(RemotePath),
    /// The storage itself is read-only.
    #[error("{0}: read-only file system")]
    ReadOnly(RemotePath),
    /// The path leads out of the served root (through a symlink).
    #[error("{0}: leads outside the served root")]
    Escapes(RemotePath),
    /// Neither a file nor a directory (a socket, a device, …).
    #[error("{0}: not a regular file")]
    NotRegular(RemotePath),
    /// The root itself cannot be removed or moved.
    #[error("/: the served root cannot be {0}")]
    Root(&'static str),
    /// A directory cannot be moved below itself.
    #[error("{from}: cannot move a directory into itself ({to})")]
    IntoItself {
        /// What was to move.
        from: RemotePath,
        /// Where it would have gone.
        to: RemotePath,
    },
    /// A name that cannot be joined onto a directory.
    #[error("{dir}: {source}")]
    BadName {
        /// The directory.
        dir: RemotePath,
        /// Why the name is refused.
        source: PathError,
    },
    /// A read was asked to start beyond the end of the file.
    #[error("{path}: offset {offset} is beyond the end ({size} bytes)")]
    OffsetBeyondEnd {
        /// The file.
        path: RemotePath,
        /// The offset asked for.
        offset: u64,
        /// The file's size.
        size: u64,
    },
    /// The object was replaced while it was being read (object stores).
    #[error("{0}: the file changed while it was being read")]
    Changed(RemotePath),
    /// A directory too large to move on a store where a move copies every
    /// object.
    #[error("{path}: cannot move a directory of more than {objects} objects or {} MiB on object storage, where a move copies every object; move what it holds in smaller parts", bytes >> 20)]
    TooLargeToMove {
        /// The directory.
        path: RemotePath,
        /// The most objects a move copies.
        objects: usize,
        /// The most bytes a move copies.
        bytes: u64,
    },
    /// The file ended before the bytes its size promised (it shrank while
    /// being read).
    #[error("{0}: the file shrank while it was being read")]
    Shrank(RemotePath),
    /// A finished upload does not hold the size it declared.
    #[error("{path}: wrote {written} bytes, expected {expected}")]
    SizeMismatch {
        /// The destination.
        path: RemotePath,
        /// Bytes in the temporary file.
        written: u64,
        /// Bytes declared.
        expected: u64,
    },
    /// A finished upload does not hash to what the sender computed.
    #[error("{0}: the received bytes do not match the sender's BLAKE3; nothing was replaced")]
    HashMismatch(RemotePath),
    /// A resume's partial is missing, busy, or not a prefix of the source.
    #[error("{0}: the part already uploaded is not a prefix of this source")]
    PrefixMismatch(RemotePath),
    /// Another upload holds the partial file a resume wants.
    #[error("{0}: another upload of this file is in progress")]
    Busy(RemotePath),
    /// Names ending in the partial suffix are ferry's own.
    #[error("{0}: names like this are reserved for ferry's partial files")]
    Reserved(RemotePath),
    /// Any other failure of the underlying system.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: RemotePath,
        /// What the system said.
        source: io::Error,
    },
    /// A blocking task of the backend panicked or was cancelled: a bug.
    #[error("{0}: internal error in the storage backend")]
    Internal(RemotePath),
}

impl StorageError {
    /// The stable code clients and scripts see.
    pub fn code(&self) -> ErrorCode {
        use StorageError as E;
        match self {
            E::NotFound(_) => ErrorCode::NotFound,
            E::AlreadyExists(_) | E::ExistsNotADirectory(_) => ErrorCode::AlreadyExists,
            E::NotADirectory(_) | E::RmdirNotADirectory(_) => ErrorCode::NotADirectory,
            E::IsADirectory(_) | E::RemoveDirectory(_) => ErrorCode::IsADirectory,
            E::NotEmpty(_) => ErrorCode::NotEmpty,
            E::PermissionDenied(_) => ErrorCode::PermissionDenied,
            E::ReadOnly(_) => ErrorCode::ReadOnly,
            E::Escapes(_)
            | E::NotRegular(_)
            | E::Root(_)
            | E::IntoItself { .. }
            | E::BadName { .. } => ErrorCode::InvalidPath,
            E::OffsetBeyondEnd { .. } => ErrorCode::Protocol,
            E::HashMismatch(_) => ErrorCode::HashMismatch,
            E::PrefixMismatch(_) => ErrorCode::PrefixMismatch,
            E::Reserved(_) => ErrorCode::InvalidPath,
            E::Busy(_) => ErrorCode::Busy,
            E::TooLargeToMove { .. } => ErrorCode::TooLarge,
            E::Shrank(_)
            | E::Changed(_)
            | E::SizeMismatch { .. }
            | E::Io { .. }
            | E::Internal(_) => ErrorCode::Io,
        }
    }

    /// Classifies an I/O error on `path`.
    pub fn from_io(e: io::Error, path: &RemotePath) -> Self {
        use io::ErrorKind as K;
        let path = path.clone();
        // cap-std reports an escape as EXDEV (from RESOLVE_BENEATH) or, where
        // it resolves by hand, with this message.
        if e.raw_os_error() == Some(18) || e.to_string().contains("outside of the filesystem") {
            return StorageError::Escapes(path);
        }
        match e.kind() {
            K::NotFound => StorageError::NotFound(path),
            K::AlreadyExists => StorageError::AlreadyExists(path),
            K::PermissionDenied => StorageError::PermissionDenied(path),
            K::NotADirectory => StorageError::NotADirectory(path),
            K::IsADirectory => StorageError::IsADirectory(path),
            K::DirectoryNotEmpty => StorageError::NotEmpty(path),
            K::ReadOnlyFilesystem => StorageError::ReadOnly(path),
            K::UnexpectedEof => StorageError::Shrank(path),
            _ => StorageError::Io { path, source: e },
        }
    }

    /// A closure for `map_err` that classifies I/O errors on `path`.
    pub fn io(path: &RemotePath) -> impl FnOnce(io::Error) -> Self + '_ {
        move |e| StorageError::from_io(e, path)
    }
}

impl From<StorageError> for WireError {
    fn from(e: StorageError) -> Self {
        WireError::new(e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_their_meaning() {
        let p = RemotePath::parse("/a").unwrap();
        let case = |kind: io::ErrorKind| StorageError::from_io(kind.into(), &p);
        assert_eq!(case(io::ErrorKind::NotFound).code(), ErrorCode::NotFound);
        assert_eq!(
            case(io::ErrorKind::NotFound).to_string(),
            "/a: no such file or directory"
        );
        assert_eq!(
            case(io::ErrorKind::DirectoryNotEmpty).code(),
            ErrorCode::NotEmpty
        );
        let exdev = StorageError::from_io(io::Error::from_raw_os_error(18), &p);
        assert_eq!(exdev.code(), ErrorCode::InvalidPath);
        assert_eq!(exdev.to_string(), "/a: leads outside the served root");
        let other = case(io::ErrorKind::Other);
        assert_eq!(other.code(), ErrorCode::Io);
        let wire = WireError::from(StorageError::Root("removed"));
        assert_eq!(wire.code, ErrorCode::InvalidPath);
        assert_eq!(wire.message, "/: the served root cannot be removed");
    }
}
