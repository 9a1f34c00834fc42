//! # ferry-trust: who each end is, and whom it trusts
//!
//! Both ends of ferry prove themselves with self-signed certificates and
//! trust each other by pinned fingerprints, as SSH does with host keys,
//! rather than through a certificate authority.
//!
//! - [`identity`]: a certificate and key made with rcgen on first use and
//!   kept (key file mode 0600), for a server or a client ([`Role`]).
//! - [`pins`]: files of pinned fingerprints, one record per line, editable
//!   by hand: [`PinFile`], and on it [`KnownHosts`] (the servers a client
//!   trusts).
//! - [`server_pin`]: [`PinVerifier`], how a client judges a server's
//!   certificate: by its pinned fingerprint, or recorded for a first-use
//!   decision.
//! - [`client_auth`]: [`ClientVerifier`], how a server judges a client's
//!   certificate: any self-signed one whose key signed the handshake; who
//!   the client is, the server decides by its fingerprint.
//! - [`authorized`]: [`AuthorizedClients`], the server's `authorized_clients`
//!   file (fingerprint, name, rights per line), like `authorized_keys`.
//! - [`invites`]: one-time invite tokens, kept as hashes, that let a new
//!   client add itself ([`invites::enroll`]).
//! - [`lock`]: [`StateLock`], the advisory lock that serializes changes to a
//!   state directory between processes.
//! - [`tls`]: the TLS/QUIC configurations of both ends.
//!
//! ## Security assumptions
//!
//! Pinning replaces the CA chain and host-name checks only: rustls still
//! verifies the TLS 1.3 handshake signature, on both sides, so a peer must
//! hold the private key of the certificate it presents. Key files are created
//! with mode 0600 from the start, and an identity with one of its two files
//! missing is refused rather than silently replaced. Invite tokens are 192
//! random bits; only their SHA-256 is stored, compared in constant time, and
//! a token is spent once, under the state directory's lock. The files a
//! server's state directory holds are trusted: whoever can write them can
//! admit clients.

pub mod authorized;
pub mod client_auth;
pub mod identity;
pub mod invites;
pub mod lock;
pub mod pins;
pub mod server_pin;
pub mod tls;

pub use authorized::{Access, AuthorizedClient, AuthorizedClients, ClientsError};
pub use client_auth::ClientVerifier;
pub use identity::{load_or_generate, Identity, IdentityError, Role};
pub use invites::{Enrolled, Invite, InviteError};
pub use lock::StateLock;
pub use pins::{KnownHosts, PinFile};
pub use server_pin::PinVerifier;
pub use tls::{client_config, peer_fingerprint, server_config, TlsError};
