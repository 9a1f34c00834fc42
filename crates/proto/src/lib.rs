//! # ferry-proto: the ferry wire protocol, with no I/O
//!
//! Everything two ferry peers agree on, as plain data and pure functions, so
//! it can be tested on byte literals and fuzzed without a network:
//!
//! - [`request`]: what a client asks for, one [`Request`] per QUIC stream.
//! - [`response`]: what the server answers ([`Response`]), the directory
//!   [`Entry`] and the stable [`ErrorCode`]s scripts rely on.
//! - [`frame`]: the length-prefixed CBOR framing (u32 big-endian length, then
//!   the CBOR value) and its 64 KiB limit, checked before any allocation.
//! - [`path`]: [`RemotePath`], the only way a wire path becomes something a
//!   server may touch: root-relative, `/`-separated, with no `..`, NUL,
//!   backslash or empty component, and bounded in length.
//! - [`fingerprint`]: certificate fingerprints as `SHA256:<base64>`.
//! - [`digest`]: BLAKE3 hashes ([`Digest`]) and the [`Trailer`] frame that
//!   carries a file's hash after its bytes.
//!
//! ## The exchange
//!
//! One request is one client-opened bidirectional stream. The client writes a
//! request frame; for [`Request::Put`] exactly `size - offset` file bytes
//! follow (and, when it set `hash`, a [`Trailer`] frame), then FIN; with
//! `size_unknown` (a pipe) the bytes simply run until FIN, and a reset
//! instead commits nothing. The server answers with one response frame; after [`Response::File`] exactly
//! `size - offset` bytes follow (then a [`Trailer`] when it says so), after
//! [`Response::Listing`] a sequence of [`ListChunk`] frames follows; FIN
//! ends both. A listing's chunks hold at most [`LIST_CHUNK_ENTRIES`]
//! entries and fit a frame, so a reader can consume a directory of any
//! size in bounded memory.
//!
//! ## Verification and resume
//!
//! Both ends hash a file's bytes with BLAKE3 as they stream; the receiver
//! compares its hash with the sender's [`Trailer`] before it renames the
//! file into place (`hash_mismatch` otherwise). To resume, the side that
//! holds part of a file names its length (`offset`) and the hash of that
//! part (`prefix`); the other side hashes the same prefix of its copy and
//! goes on from `offset` only when the two agree. Partial files are named
//! by [`partial_name`], so an interrupted transfer's part is found again.
//!
//! ## Security
//!
//! Everything here treats its input as hostile: a frame longer than
//! [`MAX_FRAME_LEN`] is refused before a buffer is allocated, CBOR decoding
//! works on a bounded slice, and no function panics on peer input.

pub mod digest;
pub mod fingerprint;
pub mod frame;
pub mod path;
pub mod request;
pub mod response;

pub use digest::{Digest, Trailer};
pub use fingerprint::Fingerprint;
pub use frame::{FrameError, MAX_FRAME_LEN};
pub use path::{is_partial_name, partial_name, PathError, RemotePath, PART_SUFFIX};
pub use request::{PutRequest, Request};
pub use response::{Entry, ErrorCode, Kind, ListChunk, Response, Timestamp, WireError};

/// The ALPN protocol name ferry negotiates in the TLS handshake.
pub const ALPN: &[u8] = b"ferry/1";

/// The UDP port a server listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 4433;

/// How many entries the server puts into one [`ListChunk`] at most, so that a
/// chunk stays well under [`MAX_FRAME_LEN`] even with 255-byte names.
pub const LIST_CHUNK_ENTRIES: usize = 128;
