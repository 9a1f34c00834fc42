//! # ferry-server: serve one directory, or one bucket, over QUIC
//!
//! - [`server`]: [`Server::bind`] opens the root, loads or generates the
//!   identity (with `ferry-trust`) and binds the endpoint; [`Server::run`] accepts connections
//!   until its shutdown future resolves, then lets requests in flight finish.
//! - `connection`: one task per connection, which settles who the peer is
//!   (admitted with its name and rights, or refused in words, or let enroll
//!   while an invite is open) and builds its [`context::Context`]; one task
//!   per request stream.
//! - `clients`: the authorized clients (re-read when the file changes;
//!   revoked clients' connections closed), the caps on connections and
//!   requests in flight per client and per address, enrollment and its
//!   rate limit.
//! - `budget`: the memory budget file data is charged to, per client and
//!   server-wide; `watchdog`: answers nobody takes are abandoned.
//! - `request`: reads a request header (within a time limit) and dispatches
//!   it to its operation.
//! - `ops/`: one file per operation (`stat`, `list`, `mkdir`, `rmdir`,
//!   `remove`, `rename`, `get`, `put`, `sum`, `enroll`), each generic over the stream halves
//!   and unit-tested over in-memory pipes.
//! - [`context`]: what every request of a connection is served with: the
//!   storage, the peer and its rights, the limits.
//! - [`storage`]: the [`storage::Storage`] trait, the only way to reach
//!   files, its local backend, and its object-store backend (S3, through
//!   opendal).
//!
//! ## Security assumptions
//!
//! Peers are untrusted. A peer whose certificate fingerprint is not in
//! `authorized_clients` (unless the server admits anyone) reaches no storage
//! call: it is held to QUIC's smallest limits and closed after at most one
//! enrollment request. Admitted clients are capped in connections and
//! requests in flight, and the file data held for them is charged to a
//! budget, so memory stays bounded whatever they do. Every path is parsed into a [`ferry_proto::RemotePath`]
//! before use and then resolved by [`storage`] beneath the root (locally
//! with cap-std, which also refuses symlinks that lead out; in a bucket as
//! keys under the served prefix, where no name of a validated path can
//! reach another prefix or ferry's staging area). Request frames are
//! limited to 64 KiB before allocation; an upload may not carry more bytes
//! than it declared, and one that stalls is abandoned; a bad request is answered on its own stream and never
//! affects other streams or connections. The server holds no per-connection
//! path state. Uploads become visible only when complete. No handler holds a
//! blocking thread while it waits for the network.

mod budget;
mod clients;
mod connection;
pub mod context;
mod ops;
mod request;
pub mod server;
pub mod storage;
mod watchdog;

pub use server::{Config, Root, Server, ServerError};
