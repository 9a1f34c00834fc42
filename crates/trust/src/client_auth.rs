//! How a server judges a client's certificate: it asks every client for
//! one, accepts any self-signed certificate whose key signed the handshake,
//! and leaves the decision about *who* the client is to the application,
//! which compares the fingerprint with its authorized clients.
//!
//! Rejecting unknown fingerprints here would end the handshake with a bare
//! TLS alert. Letting the handshake finish instead lets the server refuse
//! the client in words (its fingerprint, and what to ask the operator for),
//! and lets a new client present an invite token over the encrypted
//! connection. What the handshake still guarantees is the part TLS is good
//! at: rustls verifies the client's CertificateVerify signature with the key
//! in the certificate (through [`ClientVerifier::verify_tls13_signature`]),
//! so a client cannot claim a fingerprint whose private key it does not hold.
//!
//! A client may also present no certificate at all; the server then knows
//! it has no identity and refuses it unless it serves everyone
//! (`--allow-anyone`).

use std::sync::Arc;

use rustls::{
    client::danger::HandshakeSignatureValid,
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
    DigitallySignedStruct, DistinguishedName, SignatureScheme,
};

/// Requests (without requiring) a client certificate and checks that the
/// client holds its key; see the [module documentation](self).
#[derive(Debug)]
pub struct ClientVerifier {
    provider: Arc<CryptoProvider>,
}

impl ClientVerifier {
    /// A verifier using `provider`'s signature algorithms.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        ClientVerifier { provider }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Self-signed, judged by fingerprint after the handshake: no chain,
        // no names, no validity period to check. The signature over the
        // handshake is checked below.
        Ok(ClientCertVerified::assertion())
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

    use ferry_proto::Fingerprint;
    use rustls::{
        client::ResolvesClientCert,
        pki_types::{CertificateDer, PrivateKeyDer},
        sign::CertifiedKey,
        ClientConnection, ServerConnection, SignatureScheme,
    };

    use super::*;
    use crate::server_pin::PinVerifier;

    /// A client that presents `cert` but signs with whatever key it is
    /// given.
    #[derive(Debug)]
    struct Presents(Arc<CertifiedKey>);

    impl ResolvesClientCert for Presents {
        fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }

        fn has_certs(&self) -> bool {
            true
        }
    }

    fn identity() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let c = rcgen::generate_simple_self_signed(vec!["ferry".into()]).unwrap();
        let key = PrivateKeyDer::try_from(c.signing_key.serialize_der()).unwrap();
        (c.cert.der().clone(), key)
    }

    /// Runs a TLS 1.3 handshake in memory between a server using
    /// [`ClientVerifier`] and a client presenting `client` (a certificate
    /// and the key it signs with), or nothing. Returns the fingerprint the
    /// server saw, or the server's error.
    fn handshake(
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    ) -> Result<Option<Fingerprint>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (server_cert, server_key) = identity();
        let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_client_cert_verifier(Arc::new(ClientVerifier::new(provider.clone())))
            .with_single_cert(vec![server_cert], server_key)
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier::new(None, provider.clone())));
        let client_config = match client {
            Some((cert, key)) => {
                let signer = provider.key_provider.load_private_key(key).unwrap();
                builder.with_client_cert_resolver(Arc::new(Presents(Arc::new(CertifiedKey::new(
                    vec![cert],
                    signer,
                )))))
            }
            None => builder.with_no_client_auth(),
        };
        let mut client =
            ClientConnection::new(Arc::new(client_config), "ferry".try_into().unwrap()).unwrap();
        let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
        for _ in 0..20 {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
            let mut buf = Vec::new();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut buf.as_slice()).unwrap();
            // A client-side failure would show up as the server's error on
            // the next round; the server's verdict is what is tested.
            let _ = client.process_new_packets();
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(server
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| Fingerprint::of_der(c)));
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn a_client_holding_its_key_completes_the_handshake_with_its_fingerprint() {
        let (cert, key) = identity();
        let fp = Fingerprint::of_der(&cert);
        assert_eq!(handshake(Some((cert, key))).unwrap(), Some(fp));
    }

    /// An unknown client is not refused by TLS: the server learns its
    /// fingerprint and refuses it in words, or lets it enroll.
    #[test]
    fn any_self_signed_certificate_passes_tls_and_is_judged_later() {
        let (a, a_key) = identity();
        let (b, b_key) = identity();
        let seen_a = handshake(Some((a.clone(), a_key))).unwrap();
        let seen_b = handshake(Some((b.clone(), b_key))).unwrap();
        assert_eq!(seen_a, Some(Fingerprint::of_der(&a)));
        assert_eq!(seen_b, Some(Fingerprint::of_der(&b)));
        assert_ne!(seen_a, seen_b);
    }

    #[test]
    fn a_client_without_a_certificate_is_seen_without_an_identity() {
        assert_eq!(handshake(None).unwrap(), None);
    }

    /// The fingerprint proves something only because the handshake
    /// signature is checked: a client presenting an authorized certificate
    /// without its private key fails.
    #[test]
    fn an_authorized_certificate_without_its_key_is_refused() {
        let (authorized, _) = identity();
        let (_, thief_key) = identity();
        let err = handshake(Some((authorized, thief_key))).unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
            ),
            "{err:?}"
        );
    }
}
