//! Certificate pinning: the server's certificate is accepted by its
//! fingerprint instead of a CA chain and host name. The handshake signature
//! is still verified, so the server must hold the pinned certificate's key.

use std::sync::{Arc, Mutex};

use ferry_proto::Fingerprint;
use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, ServerName, UnixTime},
    CertificateError, DigitallySignedStruct, SignatureScheme,
};

/// Accepts exactly the `expected` certificate, or, with none expected, any
/// certificate (the caller then decides whether to trust what was seen
/// before sending anything).
#[derive(Debug)]
pub struct PinVerifier {
    expected: Option<Fingerprint>,
    seen: Mutex<Option<Fingerprint>>,
    provider: Arc<CryptoProvider>,
}

impl PinVerifier {
    /// A verifier for `expected` (or for first use, with `None`).
    pub fn new(expected: Option<Fingerprint>, provider: Arc<CryptoProvider>) -> Self {
        PinVerifier {
            expected,
            seen: Mutex::new(None),
            provider,
        }
    }

    /// The fingerprint the server presented, once the handshake got that far.
    pub fn seen(&self) -> Option<Fingerprint> {
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = Fingerprint::of_der(end_entity);
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fp);
        match self.expected {
            Some(expected) if expected != fp => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::{
        pki_types::{CertificateDer, PrivateKeyDer},
        server::{ClientHello, ResolvesServerCert},
        sign::CertifiedKey,
        ClientConnection, ServerConnection,
    };

    use super::*;

    /// A server that presents `cert` but signs with whatever key it is given.
    #[derive(Debug)]
    struct Presents(Arc<CertifiedKey>);

    impl ResolvesServerCert for Presents {
        fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    fn identity() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let c = rcgen::generate_simple_self_signed(vec!["ferry".into()]).unwrap();
        let key = PrivateKeyDer::try_from(c.signing_key.serialize_der()).unwrap();
        (c.cert.der().clone(), key)
    }

    /// Runs a TLS 1.3 handshake in memory; `Err` carries the client's error.
    fn handshake(
        pinned: Option<Fingerprint>,
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signer = provider.key_provider.load_private_key(key).unwrap();
        let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Presents(Arc::new(CertifiedKey::new(
                vec![cert],
                signer,
            )))));
        let client_config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier::new(pinned, provider)))
            .with_no_client_auth();
        let mut client =
            ClientConnection::new(Arc::new(client_config), "ferry".try_into().unwrap()).unwrap();
        let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
        for _ in 0..20 {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut buf.as_slice()).unwrap();
            // A server-side failure shows up as an alert the client reads.
            let _ = server.process_new_packets();
            let mut buf = Vec::new();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn the_pinned_certificate_is_accepted() {
        let (cert, key) = identity();
        let fp = Fingerprint::of_der(&cert);
        handshake(Some(fp), cert.clone(), key.clone_key()).unwrap();
        // First use: anything is accepted, and what was seen is reported.
        handshake(None, cert, key).unwrap();
    }

    #[test]
    fn another_certificate_is_refused() {
        let (cert, _) = identity();
        let (other, other_key) = identity();
        let err = handshake(Some(Fingerprint::of_der(&cert)), other, other_key).unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
            ),
            "{err:?}"
        );
    }

    /// Pinning replaces only the chain and name checks: a server that shows
    /// the pinned certificate without holding its key fails the handshake
    /// signature check.
    #[test]
    fn the_pinned_certificate_without_its_key_is_refused() {
        let (cert, _) = identity();
        let (_, stolen_elsewhere) = identity();
        let err = handshake(Some(Fingerprint::of_der(&cert)), cert, stolen_elsewhere).unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::BadSignature)
            ),
            "{err:?}"
        );
    }
}
