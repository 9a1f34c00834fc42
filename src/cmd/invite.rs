//! `invite`: a one-time token with which a new client enrolls itself.

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use ferry_trust::{invites, Access, Role};
use serde_json::json;

use crate::{cli::Global, home, output};

/// Make a one-time invite for a new client.
///
/// Prints the `ferry enroll` command that uses it. The token is shown only
/// now; the server keeps its hash.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The client may stat, list and download only.
    #[arg(long)]
    pub read_only: bool,
    /// How long the invite is valid: 30s, 10m, 2h…
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = super::serve::parse_duration)]
    pub expires: Duration,
    /// The server's state directory [default: FERRY_HOME/server].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

pub(crate) fn run(global: &Global, args: &Args) -> anyhow::Result<bool> {
    let dir = home::server_state(args.certs.clone())?;
    let access = if args.read_only {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    // The server's identity: the client pins it with the token.
    let server = ferry_trust::load_or_generate(&dir, Role::Server)
        .context("cannot load the server's certificate")?;
    let invite = invites::create(&dir, access, args.expires).context("cannot make an invite")?;
    let command = enroll_command("HOST", &invite.token, &server.fingerprint.to_string());
    if global.json {
        let line = json!({
            "token": invite.token,
            "rights": access.as_str(),
            "expires": output::time_iso(ferry_client::Timestamp::from_system(invite.expires)),
            "server_fingerprint": server.fingerprint.to_string(),
            "command": command,
        });
        println!("{line}");
        return Ok(true);
    }
    println!(
        "invite for one client, {access}, valid for {} (until {}):",
        invites::human_duration(args.expires),
        output::time_string(ferry_client::Timestamp::from_system(invite.expires))
    );
    println!("  {command}");
    println!(
        "(HOST is this server's name or address as the client reaches it, with :PORT unless 4433)"
    );
    Ok(true)
}

/// The command a client runs to enroll.
pub(crate) fn enroll_command(host: &str, token: &str, fingerprint: &str) -> String {
    format!("ferry enroll {host} {token} --fingerprint {fingerprint}")
}
