//! The TLS and QUIC configurations of both ends: TLS 1.3 only, ALPN
//! `ferry/1`, no 0-RTT, ferry's transport parameters, and certificates
//! checked by pinning rather than by a CA.

use std::sync::Arc;

use ferry_net::transport::{shared_transport_config, TransportOptions};
use quinn::crypto::rustls::{NoInitialCipherSuite, QuicClientConfig, QuicServerConfig};
use rustls::server::danger::ClientCertVerifier;

use crate::{identity::Identity, server_pin::PinVerifier};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused the settings or the key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The crypto provider offers no cipher suite QUIC can use.
    #[error("TLS configuration: {0}")]
    Quic(#[from] NoInitialCipherSuite),
}

/// The quinn server configuration for `identity`, with the `transport`
/// options (a rate cap). With `clients`, the handshake asks for client
/// certificates and lets that verifier judge them (ferry's is
/// [`crate::ClientVerifier`]); without, it asks for none. The transport
/// starts with the small limits of an unknown peer
/// ([`ferry_net::transport::server_transport_config`]).
pub fn server_config(
    identity: &Identity,
    clients: Option<Arc<dyn ClientCertVerifier>>,
    transport: &TransportOptions,
) -> Result<quinn::ServerConfig, TlsError> {
    let builder =
        rustls::ServerConfig::builder_with_provider(ferry_net::transport::crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match clients {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut tls =
        builder.with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())?;
    tls.alpn_protocols = vec![ferry_proto::ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let quic = QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(ferry_net::transport::server_transport_config(transport));
    Ok(config)
}

/// The quinn client configuration, with the `transport` options: the server
/// is judged by `server` (a pin, or first use), and the client presents
/// `identity` when it has one.
pub fn client_config(
    server: Arc<PinVerifier>,
    identity: Option<&Identity>,
    transport: &TransportOptions,
) -> Result<quinn::ClientConfig, TlsError> {
    let builder =
        rustls::ClientConfig::builder_with_provider(ferry_net::transport::crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(server);
    let mut tls = match identity {
        Some(id) => builder.with_client_auth_cert(vec![id.cert.clone()], id.key.clone_key())?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![ferry_proto::ALPN.to_vec()];
    tls.enable_early_data = false;
    let quic = QuicClientConfig::try_from(tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(shared_transport_config(transport));
    Ok(config)
}

/// The fingerprint of the certificate the peer of `conn` presented, if it
/// presented one.
pub fn peer_fingerprint(conn: &quinn::Connection) -> Option<ferry_proto::Fingerprint> {
    let identity = conn.peer_identity()?;
    let certs = identity
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    certs.first().map(|c| ferry_proto::Fingerprint::of_der(c))
}
