//! Helpers the storage backends' and the operations' tests share.

use ferry_proto::{Digest, RemotePath};

use super::Commit;

/// `s` as a remote path; panics on a bad one.
pub(crate) fn p(s: &str) -> RemotePath {
    RemotePath::parse(s).unwrap()
}

/// BLAKE3 of `bytes`, as the protocol carries it.
pub(crate) fn b3(bytes: &[u8]) -> Digest {
    Digest(*blake3::hash(bytes).as_bytes())
}

/// A commit of `size` bytes with `hash`, keeping no metadata.
pub(crate) fn commit(size: u64, hash: Option<Digest>) -> Commit {
    Commit {
        size,
        mtime: None,
        mode: None,
        new_mode: None,
        hash,
    }
}
