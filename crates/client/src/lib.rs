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
//! Downloads are written to a temporary file beside the destination and
//! renamed over it only once the declared size has arrived, so an
//! interrupted download never replaces a whole file with part of one.
//! This crate prints nothing; the binary owns the terminal.

mod client;
pub mod connect;
mod error;
pub mod glob;
mod target;
pub mod transfer;

pub use client::{Client, Moved, PART_SUFFIX};
pub use connect::{connect, ConnectOptions, Trust};
pub use error::{ConnectError, ProtocolError, RequestError};
pub use target::{Target, TargetParseError};
pub use transfer::{Observer, Options as TransferOptions, Plan, Summary, DEFAULT_JOBS};

pub use ferry_proto::{Entry, ErrorCode, Fingerprint, Kind, RemotePath, Timestamp};
