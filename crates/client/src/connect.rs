//! Connecting: resolve, handshake with the pinning verifier, and decide trust
//! on first use before any request is sent.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use ferry_proto::Fingerprint;
use quinn::crypto::rustls::QuicClientConfig;

use crate::{known_hosts::KnownHosts, verifier::PinVerifier, Client, ClientError, Target};

/// Asks a person whether to trust a new server, given its `host:port` and
/// fingerprint; `true` pins it.
pub type AskFn = Box<dyn FnOnce(&str, &Fingerprint) -> bool + Send>;

/// Whether to trust a server whose certificate is not pinned yet.
pub enum Trust {
    /// Pin it without asking (`--accept-new`).
    AcceptNew,
    /// Accept exactly this certificate (`--fingerprint`), and pin it if the
    /// host has no pin yet.
    Fingerprint(Fingerprint),
    /// Ask this function (a terminal prompt), with the `host:port` and the
    /// fingerprint; `true` pins it.
    Ask(AskFn),
    /// Refuse unknown servers (no terminal to ask on).
    RefuseUnknown,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::AcceptNew => f.write_str("AcceptNew"),
            Trust::Fingerprint(fp) => write!(f, "Fingerprint({fp})"),
            Trust::Ask(_) => f.write_str("Ask"),
            Trust::RefuseUnknown => f.write_str("RefuseUnknown"),
        }
    }
}

/// How to connect.
#[derive(Debug)]
pub struct ConnectOptions {
    /// The `known_hosts` file.
    pub known_hosts: PathBuf,
    /// What to do with an unknown server.
    pub trust: Trust,
    /// How long to wait for the handshake.
    pub timeout: Duration,
}

/// Connects to `target`, verifying or pinning its certificate.
pub async fn connect(target: &Target, options: ConnectOptions) -> Result<Client, ClientError> {
    let key = target.to_string();
    let kh_err = |path: PathBuf| move |error| ClientError::KnownHosts { path, error };
    let mut known =
        KnownHosts::load(&options.known_hosts).map_err(kh_err(options.known_hosts.clone()))?;
    let pinned = known.get(&key);
    let expected = match &options.trust {
        Trust::Fingerprint(fp) => Some(*fp),
        _ => pinned,
    };

    let addr = resolve(target).await?;
    let provider = ferry_net::transport::crypto_provider();
    let verifier = Arc::new(PinVerifier::new(expected, provider.clone()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| connect_err(&key, e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    tls.alpn_protocols = vec![ferry_proto::ALPN.to_vec()];
    tls.enable_early_data = false;
    let quic = QuicClientConfig::try_from(tls).map_err(|e| connect_err(&key, e))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(ferry_net::transport::shared_transport_config());

    let bind: SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let socket = ferry_net::transport::bind_udp(bind).map_err(|e| connect_err(&key, e))?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| connect_err(&key, "no async runtime (call inside tokio)"))?;
    let endpoint = quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, runtime)
        .map_err(|e| connect_err(&key, e))?;
    // Pinning replaces the host-name check, so the name only has to be
    // syntactically valid.
    let server_name = if rustls::pki_types::ServerName::try_from(target.host.as_str()).is_ok() {
        target.host.as_str()
    } else {
        "ferry"
    };
    let connecting = endpoint
        .connect_with(config, addr, server_name)
        .map_err(|e| connect_err(&key, e))?;
    let conn = match tokio::time::timeout(options.timeout, connecting).await {
        Err(_) => {
            return Err(ClientError::Timeout {
                target: key,
                port: target.port,
                after: options.timeout,
            })
        }
        Ok(Err(e)) => {
            return Err(match (expected, verifier.seen()) {
                (Some(expected), Some(actual)) if expected != actual => match options.trust {
                    Trust::Fingerprint(_) => ClientError::FingerprintMismatch {
                        target: key,
                        expected,
                        actual,
                    },
                    _ => ClientError::HostKeyChanged {
                        target: key,
                        expected,
                        actual,
                        known_hosts: options.known_hosts,
                    },
                },
                _ => connect_err(&key, e),
            })
        }
        Ok(Ok(conn)) => conn,
    };
    let seen = verifier
        .seen()
        .ok_or_else(|| connect_err(&key, "the server presented no certificate"))?;

    if pinned.is_none() {
        let trusted = match options.trust {
            Trust::AcceptNew | Trust::Fingerprint(_) => true,
            Trust::Ask(ask) => ask(&key, &seen),
            Trust::RefuseUnknown => false,
        };
        if !trusted {
            conn.close(ferry_net::codes::DONE, b"server not trusted");
            return Err(ClientError::Untrusted {
                target: key.clone(),
                fingerprint: seen,
                hint: format!(
                    "Check the fingerprint with the server's operator (`ferry serve` prints it), then\n\
                     re-run with --fingerprint {seen} (or --accept-new to trust it as it is)."
                ),
            });
        }
        known
            .add(&key, seen)
            .map_err(kh_err(options.known_hosts.clone()))?;
    }
    Ok(Client::new(endpoint, conn, target.clone()))
}

async fn resolve(target: &Target) -> Result<SocketAddr, ClientError> {
    let mut addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| ClientError::Resolve {
            host: target.host.clone(),
            reason: e.to_string(),
        })?;
    addrs.next().ok_or_else(|| ClientError::Resolve {
        host: target.host.clone(),
        reason: "no addresses found".into(),
    })
}

fn connect_err(target: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Connect {
        target: target.to_owned(),
        reason: e.to_string(),
    }
}
