//! Where ferry keeps its state: `FERRY_HOME`, else the platform's config
//! directory (`~/.config/ferry` on Linux).

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use ferry_trust::{Identity, Role};

/// The state directory.
pub(crate) fn dir() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("FERRY_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    directories::ProjectDirs::from("", "", "ferry")
        .map(|d| d.config_dir().to_owned())
        .context("cannot find a config directory; set FERRY_HOME")
}

/// The client's pinned servers.
pub(crate) fn known_hosts() -> anyhow::Result<PathBuf> {
    Ok(dir()?.join("known_hosts"))
}

/// The server's default state directory: certificate, authorized clients,
/// invites.
pub(crate) fn server_certs() -> anyhow::Result<PathBuf> {
    Ok(dir()?.join("server"))
}

/// The server state directory `--certs` names, or the default.
pub(crate) fn server_state(certs: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match certs {
        Some(dir) => Ok(dir),
        None => server_certs(),
    }
}

/// This client's identity (`client-cert.pem`, `client-key.pem` in the
/// state directory), made on first use.
pub(crate) fn client_identity() -> anyhow::Result<Arc<Identity>> {
    let dir = dir()?;
    let identity = ferry_trust::load_or_generate(&dir, Role::Client)
        .context("cannot load or make this client's identity")?;
    Ok(Arc::new(identity))
}

/// The shell's history file.
pub(crate) fn history() -> anyhow::Result<PathBuf> {
    Ok(dir()?.join("history"))
}
