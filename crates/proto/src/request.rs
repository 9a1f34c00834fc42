//! What a client asks of a server.
//!
//! Paths travel as strings and are parsed into [`crate::RemotePath`] by the
//! server, so that a bad path is answered with `invalid_path` rather than a
//! generic decoding error.

use serde::{Deserialize, Serialize};

use crate::{Digest, Timestamp};

/// One request; it opens its own bidirectional stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Metadata of one path (symlinks inside the root are followed).
    Stat {
        /// Root-relative path.
        path: String,
    },
    /// The entries of a directory, answered by [`crate::Response::Listing`]
    /// and a sequence of [`crate::ListChunk`] frames.
    List {
        /// Root-relative path of the directory.
        path: String,
    },
    /// Create a directory.
    Mkdir {
        /// Root-relative path of the new directory.
        path: String,
        /// Create missing parents and accept an existing directory.
        #[serde(default)]
        parents: bool,
    },
    /// Remove an empty directory.
    Rmdir {
        /// Root-relative path.
        path: String,
    },
    /// Remove a file (or a symlink); refuses directories.
    Remove {
        /// Root-relative path.
        path: String,
    },
    /// Rename `from` to `to`; when `to` is an existing directory, move `from`
    /// into it under its own name.
    Rename {
        /// Source path.
        from: String,
        /// Destination path or directory.
        to: String,
    },
    /// Download a file, answered by [`crate::Response::File`] and its bytes.
    Get {
        /// Root-relative path of the file.
        path: String,
        /// Where to start reading; bytes before it are not sent.
        #[serde(default)]
        offset: u64,
        /// To resume: the BLAKE3 of the `offset` bytes the client already
        /// has. The server starts at `offset` only if its file's first
        /// `offset` bytes hash the same; otherwise it sends the whole file.
        #[serde(default)]
        prefix: Option<Digest>,
        /// Ask for a [`crate::Trailer`] with the whole file's BLAKE3 after
        /// the bytes.
        #[serde(default)]
        hash: bool,
    },
    /// Upload a file: `size - offset` bytes follow the frame on the stream.
    Put(PutRequest),
    /// The BLAKE3 of a file, computed by the server, answered by
    /// [`crate::Response::Sum`].
    Sum {
        /// Root-relative path of the file.
        path: String,
    },
    /// Add this client to the server's authorized clients with a one-time
    /// invite token, answered by [`crate::Response::Enrolled`]. The only
    /// request a server accepts from a client it does not know yet.
    Enroll {
        /// The token `ferry invite` printed.
        token: String,
        /// The name the client asks to be listed under; the server makes it
        /// unique, or picks one when there is none.
        #[serde(default)]
        name: Option<String>,
    },
}

/// An upload: the file bytes follow the request frame until FIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRequest {
    /// Root-relative destination path (its parent must exist).
    pub path: String,
    /// Final size of the file; a stream that carries fewer or more bytes is
    /// refused and leaves no file behind.
    pub size: u64,
    /// Where the bytes on the stream start. Above 0 the upload resumes the
    /// server's partial file of this destination, whose first `offset`
    /// bytes must hash to `prefix`.
    #[serde(default)]
    pub offset: u64,
    /// With an `offset`: the BLAKE3 of the source's first `offset` bytes.
    #[serde(default)]
    pub prefix: Option<Digest>,
    /// A [`crate::Trailer`] with the whole file's BLAKE3 follows the bytes;
    /// the server commits the file only if its own hash matches.
    #[serde(default)]
    pub hash: bool,
    /// Modification time to give the file.
    #[serde(default)]
    pub mtime: Option<Timestamp>,
    /// Unix permission bits to give the file, exactly (`-p`).
    #[serde(default)]
    pub mode: Option<u32>,
    /// Without `mode`: the source's permission bits, for a file that does
    /// not exist yet, which gets them less the server's umask (as with scp
    /// and sftp); a file that exists keeps its own bits. Servers that do not
    /// know the field give new files their default bits.
    #[serde(default)]
    pub new_mode: Option<u32>,
    /// The sender does not know the size (a pipe, stdin): `size` is ignored,
    /// the bytes run until the stream's FIN, which alone commits them (a
    /// reset or a lost connection leaves nothing), and no trailer follows
    /// (`hash` and `offset` must be unset). A server that does not know the
    /// field sees more bytes than the declared size 0 and refuses the upload,
    /// so nothing is ever committed short.
    #[serde(default)]
    pub size_unknown: bool,
}

impl Request {
    /// The name of the operation, for logs.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Stat { .. } => "stat",
            Request::List { .. } => "list",
            Request::Mkdir { .. } => "mkdir",
            Request::Rmdir { .. } => "rmdir",
            Request::Remove { .. } => "remove",
            Request::Rename { .. } => "rename",
            Request::Get { .. } => "get",
            Request::Put(_) => "put",
            Request::Sum { .. } => "sum",
            Request::Enroll { .. } => "enroll",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, encode};

    #[test]
    fn every_request_round_trips() {
        let all = [
            Request::Stat { path: "/".into() },
            Request::List { path: "/d".into() },
            Request::Mkdir {
                path: "/d/e".into(),
                parents: true,
            },
            Request::Rmdir { path: "/d".into() },
            Request::Remove { path: "/f".into() },
            Request::Rename {
                from: "/a".into(),
                to: "/b".into(),
            },
            Request::Get {
                path: "/f".into(),
                offset: 7,
                prefix: Some(Digest([9; 32])),
                hash: true,
            },
            Request::Sum { path: "/f".into() },
            Request::Put(PutRequest {
                path: "/f".into(),
                size: u64::MAX,
                offset: 3,
                prefix: Some(Digest([1; 32])),
                hash: true,
                mtime: Some(Timestamp {
                    secs: -5,
                    nanos: 999_999_999,
                }),
                mode: Some(0o644),
                new_mode: None,
                size_unknown: false,
            }),
            Request::Enroll {
                token: "tok".into(),
                name: Some("alice@laptop".into()),
            },
            Request::Enroll {
                token: "tok".into(),
                name: None,
            },
        ];
        for req in all {
            let bytes = encode(&req).unwrap();
            assert_eq!(decode::<Request>(&bytes).unwrap().unwrap().0, req);
        }
    }

    #[test]
    fn optional_fields_default() {
        // {"op": "get", "path": "/f"}: no offset.
        let body = b"\xa2\x62op\x63get\x64path\x62/f";
        let req: Request = crate::frame::decode_body(body).unwrap();
        assert_eq!(
            req,
            Request::Get {
                path: "/f".into(),
                offset: 0,
                prefix: None,
                hash: false,
            }
        );
    }

    #[test]
    fn a_put_in_the_older_layout_decodes_with_defaults() {
        // {"op": "put", "path": "/f", "size": 3}: no offset, hash, mode,
        // new_mode or size_unknown, as older clients send it.
        let body = b"\xa3\x62op\x63put\x64path\x62/f\x64size\x03";
        let req: Request = crate::frame::decode_body(body).unwrap();
        let Request::Put(put) = req else {
            panic!("{req:?}")
        };
        assert_eq!((put.size, put.new_mode, put.size_unknown), (3, None, false));
        assert_eq!((put.offset, put.hash, put.mode), (0, false, None));
    }

    #[test]
    fn wrong_field_types_are_malformed() {
        // {"op": "stat", "path": 5}
        let body = b"\xa2\x62op\x64stat\x64path\x05";
        assert!(crate::frame::decode_body::<Request>(body).is_err());
        // {"op": "put", "path": "/f"}: size missing.
        let body = b"\xa2\x62op\x63put\x64path\x62/f";
        assert!(crate::frame::decode_body::<Request>(body).is_err());
    }
}
