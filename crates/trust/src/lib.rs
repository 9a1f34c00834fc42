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
//! - [`tls`]: the TLS/QUIC configurations of both ends.
//!
//! ## Security assumptions
//!
//! Pinning replaces the CA chain and host-name checks only: rustls still
//! verifies the TLS 1.3 handshake signature, so a peer must hold the private
//! key of the certificate it presents. Key files are created with mode 0600
//! from the start, and an identity with one of its two files missing is
//! refused rather than silently replaced.

pub mod identity;
pub mod pins;
pub mod server_pin;
pub mod tls;

pub use identity::{load_or_generate, Identity, IdentityError, Role};
pub use pins::{KnownHosts, PinFile};
pub use server_pin::PinVerifier;
pub use tls::{client_config, server_config, TlsError};
