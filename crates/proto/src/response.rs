//! What a server answers, the entries it lists and the errors it reports.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Digest;

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Response {
    /// The operation succeeded and has nothing to report.
    Ok,
    /// Metadata, for `stat`.
    Stat {
        /// The entry; its name is the last component of the path.
        entry: Entry,
    },
    /// A listing follows as [`ListChunk`] frames until FIN.
    Listing,
    /// A file follows: exactly `size - offset` bytes, then, with
    /// `trailer`, a [`crate::Trailer`] frame, then FIN.
    File {
        /// The file's whole size.
        size: u64,
        /// Its modification time.
        mtime: Option<Timestamp>,
        /// Its Unix permission bits.
        mode: u32,
        /// Where the bytes start: the offset asked for when the client's
        /// prefix matched, else 0 (the client must start over).
        #[serde(default)]
        offset: u64,
        /// Whether a [`crate::Trailer`] follows the bytes.
        #[serde(default)]
        trailer: bool,
    },
    /// A file's BLAKE3, for [`crate::Request::Sum`].
    Sum {
        /// Its size.
        size: u64,
        /// BLAKE3 of its bytes.
        hash: Digest,
    },
    /// The client is enrolled: the server lists it under `name`.
    Enrolled {
        /// Its name in the server's authorized clients.
        name: String,
        /// Whether it may only read.
        read_only: bool,
    },
    /// The operation failed.
    Error(WireError),
}

/// Part of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListChunk {
    /// At most [`crate::LIST_CHUNK_ENTRIES`] entries.
    pub entries: Vec<Entry>,
}

/// One directory entry, or the metadata of one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// File name (no slashes).
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub mtime: Option<Timestamp>,
    /// Unix permission bits (0 where unknown).
    pub mode: u32,
    /// Where a symbolic link points, as stored in the link, when this path
    /// is one. In a listing its kind is then [`Kind::Symlink`]; in a `stat`
    /// answer, which follows links, the kind is what it leads to, or
    /// [`Kind::Symlink`] when it leads nowhere the server can go. Absent
    /// from older servers' answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (listings do not follow links).
    Symlink,
    /// Anything else: sockets, devices, fifos.
    Other,
}

impl Kind {
    /// The one-letter mark `ls -l` uses.
    pub fn mark(self) -> char {
        match self {
            Kind::File => '-',
            Kind::Dir => 'd',
            Kind::Symlink => 'l',
            Kind::Other => '?',
        }
    }

    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Other => "other",
        }
    }
}

/// A point in time as seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before).
    pub secs: i64,
    /// Nanoseconds within the second, below 10^9.
    pub nanos: u32,
}

impl Timestamp {
    /// Converts from a system time; `None` when it is out of range.
    pub fn from_system(t: std::time::SystemTime) -> Option<Self> {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Some(Timestamp {
                secs: i64::try_from(d.as_secs()).ok()?,
                nanos: d.subsec_nanos(),
            }),
            Err(e) => {
                let d = e.duration();
                let mut secs = -i64::try_from(d.as_secs()).ok()?;
                let mut nanos = d.subsec_nanos();
                if nanos > 0 {
                    secs = secs.checked_sub(1)?;
                    nanos = 1_000_000_000 - nanos;
                }
                Some(Timestamp { secs, nanos })
            }
        }
    }

    /// Converts to a system time; `None` when it is out of range or invalid.
    pub fn to_system(self) -> Option<std::time::SystemTime> {
        if self.nanos >= 1_000_000_000 {
            return None;
        }
        let epoch = std::time::UNIX_EPOCH;
        if self.secs >= 0 {
            epoch.checked_add(std::time::Duration::new(self.secs as u64, self.nanos))
        } else {
            epoch
                .checked_sub(std::time::Duration::from_secs(self.secs.unsigned_abs()))?
                .checked_add(std::time::Duration::from_nanos(self.nanos.into()))
        }
    }
}

/// An error as it travels: a stable code for scripts, a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What happened, for a person.
    pub message: String,
}

impl WireError {
    /// Builds an error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WireError {
            code,
            message: message.into(),
        }
    }
}

/// The stable error codes; scripts may match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The path does not exist.
    NotFound,
    /// The target exists already.
    AlreadyExists,
    /// A directory was expected.
    NotADirectory,
    /// A file was expected, but the path is a directory.
    IsADirectory,
    /// The directory is not empty.
    NotEmpty,
    /// The operating system refused access.
    PermissionDenied,
    /// The path is malformed or leaves the served root.
    InvalidPath,
    /// The server is too busy.
    Busy,
    /// The server is read-only.
    ReadOnly,
    /// The client is not authorized.
    Unauthorized,
    /// Something is larger than allowed.
    TooLarge,
    /// The received bytes do not hash to what the sender computed: nothing
    /// was renamed into place.
    HashMismatch,
    /// A resumed upload's part already on the server is not a prefix of the
    /// source as it is now: start over from offset 0.
    PrefixMismatch,
    /// The peer broke the protocol.
    Protocol,
    /// Any other I/O failure.
    Io,
}

impl ErrorCode {
    /// The code as it appears on the wire and in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::NotADirectory => "not_a_directory",
            ErrorCode::IsADirectory => "is_a_directory",
            ErrorCode::NotEmpty => "not_empty",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::Busy => "busy",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::HashMismatch => "hash_mismatch",
            ErrorCode::PrefixMismatch => "prefix_mismatch",
            ErrorCode::Protocol => "protocol",
            ErrorCode::Io => "io",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, decode_body, encode};

    #[test]
    fn every_response_round_trips() {
        let entry = Entry {
            name: "a.bin".into(),
            kind: Kind::File,
            size: 1 << 40,
            mtime: Some(Timestamp {
                secs: 1_700_000_000,
                nanos: 5,
            }),
            mode: 0o100644,
            target: None,
        };
        let all = [
            Response::Ok,
            Response::Stat {
                entry: entry.clone(),
            },
            Response::Listing,
            Response::File {
                size: 3,
                mtime: None,
                mode: 0o600,
                offset: 1,
                trailer: true,
            },
            Response::Sum {
                size: 5,
                hash: Digest([3; 32]),
            },
            Response::Enrolled {
                name: "alice".into(),
                read_only: true,
            },
            Response::Error(WireError::new(ErrorCode::NotEmpty, "dir not empty")),
        ];
        for r in all {
            let bytes = encode(&r).unwrap();
            assert_eq!(decode::<Response>(&bytes).unwrap().unwrap().0, r);
        }
        let chunk = ListChunk {
            entries: vec![entry; crate::LIST_CHUNK_ENTRIES],
        };
        let bytes = encode(&chunk).unwrap();
        assert_eq!(decode::<ListChunk>(&bytes).unwrap().unwrap().0, chunk);
    }

    #[test]
    fn a_full_chunk_of_longest_names_fits_a_frame() {
        let entry = Entry {
            name: "n".repeat(255),
            kind: Kind::Other,
            size: u64::MAX,
            mtime: Some(Timestamp {
                secs: i64::MIN,
                nanos: 999_999_999,
            }),
            mode: u32::MAX,
            target: None,
        };
        let chunk = ListChunk {
            entries: vec![entry; crate::LIST_CHUNK_ENTRIES],
        };
        assert!(encode(&chunk).is_ok());
    }

    #[test]
    fn link_targets_are_optional_both_ways() {
        // An entry from an older server, without `target`.
        let old = Entry {
            name: "l".into(),
            kind: Kind::Symlink,
            size: 3,
            mtime: None,
            mode: 0o777,
            target: None,
        };
        let bytes = encode(&old).unwrap();
        assert_eq!(decode::<Entry>(&bytes).unwrap().unwrap().0, old);
        let new = Entry {
            target: Some("../a b".into()),
            ..old.clone()
        };
        let bytes = encode(&new).unwrap();
        assert_eq!(decode::<Entry>(&bytes).unwrap().unwrap().0, new);
        // {"name": "l", "kind": "symlink", "size": 3, "mtime": null,
        //  "mode": 511, "extra": 1}: unknown fields from newer peers are
        // ignored.
        let body = b"\xa6\x64name\x61l\x64kind\x67symlink\x64size\x03\x65mtime\xf6\x64mode\x19\x01\xff\x65extra\x01";
        assert_eq!(decode_body::<Entry>(body).unwrap(), old);
    }

    #[test]
    fn error_codes_are_the_documented_strings() {
        // {"status": "error", "code": "not_found", "message": "m"}
        let body = b"\xa3\x66status\x65error\x64code\x69not_found\x67message\x61m";
        let r: Response = decode_body(body).unwrap();
        assert_eq!(r, Response::Error(WireError::new(ErrorCode::NotFound, "m")));
        let unknown = b"\xa3\x66status\x65error\x64code\x63zzz\x67message\x61m";
        assert!(decode_body::<Response>(unknown).is_err());
    }

    #[test]
    fn timestamps_convert_both_ways() {
        use std::time::{Duration, UNIX_EPOCH};
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_700_000_000, 123),
            UNIX_EPOCH - Duration::new(10, 1),
        ] {
            let ts = Timestamp::from_system(t).unwrap();
            assert!(ts.nanos < 1_000_000_000);
            assert_eq!(ts.to_system(), Some(t));
        }
        assert_eq!(
            Timestamp {
                secs: 0,
                nanos: 2_000_000_000
            }
            .to_system(),
            None
        );
    }
}
