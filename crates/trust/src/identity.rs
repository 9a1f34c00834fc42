//! TLS identities: a self-signed certificate and its key, generated on first
//! use and reused afterwards, so that peers that pinned it keep trusting it.
//! Servers and clients each have one, in files named for their [`Role`].

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use ferry_proto::Fingerprint;
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

use crate::lock::StateLock;

/// Which end an identity belongs to; it names the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `server-cert.pem` and `server-key.pem`.
    Server,
    /// `client-cert.pem` and `client-key.pem`.
    Client,
}

impl Role {
    /// The certificate's file name.
    pub fn cert_file(self) -> &'static str {
        match self {
            Role::Server => "server-cert.pem",
            Role::Client => "client-cert.pem",
        }
    }

    /// The private key's file name (mode 0600).
    pub fn key_file(self) -> &'static str {
        match self {
            Role::Server => "server-key.pem",
            Role::Client => "client-key.pem",
        }
    }
}

/// A certificate, its key and its fingerprint.
#[derive(Debug)]
pub struct Identity {
    /// The DER-encoded certificate.
    pub cert: CertificateDer<'static>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// `SHA256:…` of the certificate.
    pub fingerprint: Fingerprint,
    /// Whether this start generated it.
    pub generated: bool,
}

impl Identity {
    /// The key of the stateless resets a server with this identity sends.
    /// It is derived from the private key, so a restarted server (or another
    /// server with the same identity) tells the clients of connections it no
    /// longer knows that they are gone at once, instead of leaving them to
    /// wait for their idle timeout.
    pub fn reset_key(&self) -> ring::hmac::Key {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"ferry stateless reset key\0");
        ctx.update(self.key.secret_der());
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, ctx.finish().as_ref())
    }
}

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: io::Error,
    },
    /// A file exists but does not hold what it should.
    #[error("{}: not a valid PEM {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// "certificate" or "private key".
        what: &'static str,
    },
    /// Only one of the two files exists: refusing to replace the identity
    /// clients have pinned.
    #[error("{} exists but {} does not; restore it, or delete both to generate a new identity (peers that pinned or authorized the old fingerprint will then refuse this one)", present.display(), missing.display())]
    Incomplete {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// Certificate generation failed.
    #[error("generating a certificate failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Loads the `role`'s identity kept in `dir`, generating and saving a new one
/// when the directory holds none.
///
/// Generation happens under the directory's [`StateLock`], so that several
/// processes starting at once (a batch of first commands) end up with one
/// identity, not a half of each.
pub fn load_or_generate(dir: &Path, role: Role) -> Result<Identity, IdentityError> {
    let cert_path = dir.join(role.cert_file());
    let key_path = dir.join(role.key_file());
    if cert_path.exists() && key_path.exists() {
        return load(&cert_path, &key_path);
    }
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |error| IdentityError::Io { path, error }
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let _lock = StateLock::exclusive(dir).map_err(io_err(&dir.join(crate::lock::LOCK_FILE)))?;
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => load(&cert_path, &key_path),
        (false, false) => generate(dir, &cert_path, &key_path),
        (true, false) => Err(IdentityError::Incomplete {
            present: cert_path,
            missing: key_path,
        }),
        (false, true) => Err(IdentityError::Incomplete {
            present: key_path,
            missing: cert_path,
        }),
    }
}

fn load(cert_path: &Path, key_path: &Path) -> Result<Identity, IdentityError> {
    let cert = CertificateDer::from_pem_file(cert_path).map_err(|_| IdentityError::Invalid {
        path: cert_path.to_owned(),
        what: "certificate",
    })?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|_| IdentityError::Invalid {
        path: key_path.to_owned(),
        what: "private key",
    })?;
    if let Ok(meta) = fs::metadata(key_path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "{} is readable by other users; run: chmod 600 {}",
                key_path.display(),
                key_path.display()
            );
        }
    }
    Ok(Identity {
        fingerprint: Fingerprint::of_der(&cert),
        cert,
        key,
        generated: false,
    })
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<Identity, IdentityError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |error| IdentityError::Io { path, error }
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let host = hostname_hint();
    let certified = rcgen::generate_simple_self_signed(vec![host, "localhost".to_owned()])?;
    // Key first: a certificate without its key is refused at the next start,
    // so a crash between the two writes cannot leave a half identity that
    // looks whole.
    write_new(
        key_path,
        certified.signing_key.serialize_pem().as_bytes(),
        0o600,
    )
    .map_err(io_err(key_path))?;
    write_new(cert_path, certified.cert.pem().as_bytes(), 0o644).map_err(io_err(cert_path))?;
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der()).map_err(|_| {
        IdentityError::Invalid {
            path: key_path.to_owned(),
            what: "private key",
        }
    })?;
    Ok(Identity {
        fingerprint: Fingerprint::of_der(&cert),
        cert,
        key,
        generated: true,
    })
}

/// Writes a file that must not exist yet, with `mode` from its creation on:
/// into a temporary file beside it, renamed into place only when complete,
/// so another process never reads half of it.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".new-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    temp.write_all(contents)?;
    temp.as_file().sync_all()?;
    temp.persist_noclobber(path).map_err(|e| e.error)?;
    Ok(())
}

/// A name for the certificate's subject; clients pin the fingerprint, so it
/// is only a label.
fn hostname_hint() -> String {
    fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
        .unwrap_or_else(|| "ferry".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT_FILE: &str = "server-cert.pem";
    const KEY_FILE: &str = "server-key.pem";

    #[test]
    fn generated_once_then_reused_with_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path(), Role::Server).unwrap();
        assert!(first.generated);
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_generate(dir.path(), Role::Server).unwrap();
        assert!(!second.generated);
        assert_eq!(first.fingerprint, second.fingerprint);
        assert_eq!(first.cert, second.cert);
        // A client identity lives beside it under its own names.
        let client = load_or_generate(dir.path(), Role::Client).unwrap();
        assert!(client.generated);
        assert_ne!(client.fingerprint, first.fingerprint);
        assert!(dir.path().join("client-key.pem").exists());
    }

    #[test]
    fn processes_starting_at_once_share_one_identity() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.path().to_owned();
                std::thread::spawn(move || load_or_generate(&dir, Role::Client).unwrap())
            })
            .collect();
        let ids: Vec<Identity> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(ids.iter().filter(|i| i.generated).count(), 1);
        assert!(ids.iter().all(|i| i.fingerprint == ids[0].fingerprint));
    }

    #[test]
    fn half_an_identity_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_generate(dir.path(), Role::Server).unwrap();
        fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let err = load_or_generate(dir.path(), Role::Server).unwrap_err();
        assert!(matches!(err, IdentityError::Incomplete { .. }), "{err}");
        // Nothing was regenerated behind the operator's back.
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn garbage_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CERT_FILE), "junk").unwrap();
        fs::write(dir.path().join(KEY_FILE), "junk").unwrap();
        let err = load_or_generate(dir.path(), Role::Server).unwrap_err();
        assert!(matches!(err, IdentityError::Invalid { .. }), "{err}");
    }
}
