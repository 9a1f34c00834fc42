//! The server's TLS and QUIC configuration.
//!
//! Client authentication will plug in here: replace `with_no_client_auth()`
//! with a client-certificate verifier that admits authorized fingerprints.

use std::sync::Arc;

use quinn::crypto::rustls::QuicServerConfig;

use crate::identity::Identity;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct TlsError(String);

/// Builds the quinn server configuration for `identity`: TLS 1.3 only, ALPN
/// `ferry/1`, no 0-RTT, ferry's transport parameters.
pub fn server_config(identity: &Identity) -> Result<quinn::ServerConfig, TlsError> {
    let mut tls =
        rustls::ServerConfig::builder_with_provider(ferry_net::transport::crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())
            .map_err(|e| TlsError(e.to_string()))?;
    tls.alpn_protocols = vec![ferry_proto::ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let quic = QuicServerConfig::try_from(tls).map_err(|e| TlsError(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(ferry_net::transport::shared_transport_config());
    Ok(config)
}
