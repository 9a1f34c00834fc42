//! What a client asks of a server.
//!
//! Paths travel as strings and are parsed into [`crate::RemotePath`] by the
//! server, so that a bad path is answered with `invalid_path` rather than a
//! generic decoding error.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

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
    },
    /// Upload a file: `size - offset` bytes follow the frame on the stream.
    Put(PutRequest),
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
    /// Where the bytes on the stream start. Only 0 is accepted until verified
    /// resume lands.
    #[serde(default)]
    pub offset: u64,
    /// Modification time to give the file.
    #[serde(default)]
    pub mtime: Option<Timestamp>,
    /// Unix permission bits to give the file.
    #[serde(default)]
    pub mode: Option<u32>,
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
            },
            Request::Put(PutRequest {
                path: "/f".into(),
                size: u64::MAX,
                offset: 0,
                mtime: Some(Timestamp {
                    secs: -5,
                    nanos: 999_999_999,
                }),
                mode: Some(0o644),
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
                offset: 0
            }
        );
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
