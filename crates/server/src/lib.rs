//! # ferry-server: serve one directory over QUIC
//!
//! - [`server`]: [`Server::bind`] opens the root, loads or generates the
//!   identity and binds the endpoint; [`Server::run`] accepts connections
//!   until its shutdown future resolves, then lets requests in flight finish.
//! - `connection`: one task per connection; one task per request stream.
//! - `handler`: reads a request frame and dispatches it; the quick
//!   metadata operations (stat, mkdir, rmdir, rm, mv) live there,
//!   the streaming ones in `list`, `get` and `put`.
//! - [`storage`]: the only module that touches the filesystem.
//! - [`identity`] and [`tls`]: the self-signed certificate and TLS set-up.
//!
//! ## Security assumptions
//!
//! Peers are untrusted. Every path is parsed into a [`ferry_proto::RemotePath`]
//! before use and then resolved by [`storage`] beneath the root with
//! cap-std, which also refuses symlinks that lead out. Request frames are
//! limited to 64 KiB before allocation; an upload may not carry more bytes
//! than it declared; a bad request is answered on its own stream and never
//! affects other streams or connections. The server holds no per-connection
//! path state. Uploads are written to a temporary file and renamed into place
//! only when complete.

mod connection;
mod get;
mod handler;
pub mod identity;
mod list;
mod put;
pub mod server;
pub mod storage;
pub mod tls;

pub use server::{Config, Server, ServerError};
