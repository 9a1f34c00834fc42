//! Where ferry keeps its state: `FERRY_HOME`, else the platform's config
//! directory (`~/.config/ferry` on Linux).

use std::path::PathBuf;

use anyhow::Context;

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

/// The server's default certificate directory.
pub(crate) fn server_certs() -> anyhow::Result<PathBuf> {
    Ok(dir()?.join("server"))
}

/// The shell's history file.
pub(crate) fn history() -> anyhow::Result<PathBuf> {
    Ok(dir()?.join("history"))
}
