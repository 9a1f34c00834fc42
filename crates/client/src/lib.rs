//! # ferry-client: talk to a ferry server
//!
//! - [`connect()`]: resolve, handshake, and trust on first use ([`Trust`]),
//!   with the pins and verifiers of `ferry-trust`. [`ConnectOptions`] are
//!   kept by the client, which can [`Client::reconnect`] with them.
//! - [`Client`]: one connection; each operation opens its own stream, so
//!   clones of a client run operations concurrently.
//! - `error`: [`ConnectError`] for making a connection, [`RequestError`]
//!   for an operation on one.
//! - [`transfer`]: batches — plan (globs, `-r`), then move files
//!   concurrently, reporting progress through an [`Observer`].
//! - [`glob`]: pattern expansion on the side that holds the files.
//!
//! ## Security assumptions
//!
//! The server is trusted only through its pinned certificate fingerprint;
//! the TLS handshake signature is still verified, so a server must hold the
//! pinned certificate's key. No request is sent before trust is settled
//! (an invite token included: [`Client::enroll`] runs on a connection whose
//! server matched its pin). The client presents its own identity
//! ([`ConnectOptions::identity`]); a server that refuses it closes the
//! connection with its reason, reported as [`RequestError::Refused`] or
//! [`ConnectError::Refused`].
//! Downloads are written to a partial file beside the destination and
//! renamed over it only once every byte arrived and hashes (BLAKE3) to what
//! the server computed, so an interrupted or damaged download never
//! replaces a whole file with part of one; an interrupted one is resumed
//! the next time, after the server proved the part a prefix of its file.
//! This crate prints nothing; the binary owns the terminal.

mod client;
pub mod connect;
mod error;
pub mod glob;
mod link;
mod listing;
mod partial;
mod pipe;
mod probe;
mod skip;
mod target;
pub mod transfer;

pub use client::{Client, Moved, OVERLAP};
pub use connect::{connect, ConnectOptions, Trust};
pub use error::{ConnectError, ProtocolError, RequestError};
pub use listing::{Listing, MAX_LIST_ENTRIES};
pub use pipe::StreamMeta;
pub use target::{Target, TargetParseError};
pub use transfer::{
    Filter, LocalDest, Observer, Options as TransferOptions, Plan, RemoteDest, Summary,
    DEFAULT_JOBS, DEFAULT_RETRIES,
};

pub use ferry_proto::{
    Digest, Entry, ErrorCode, Fingerprint, Kind, RemotePath, Timestamp, PART_SUFFIX,
};
