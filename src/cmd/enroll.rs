//! `enroll`: present an invite token to be added to a server's authorized
//! clients.

use anyhow::{bail, Context as _};
use ferry_client::{ErrorCode, RequestError, Target};
use ferry_trust::{authorized::valid_name, KnownHosts};

use crate::{cli::Global, config::HostDefaults, home, session};

/// Join a server's authorized clients with a one-time invite.
///
/// `ferry invite` on the server prints the whole command. The server's
/// fingerprint (--fingerprint, or its pin) is checked first, so the token
/// only ever goes to that server.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Server, as HOST[:PORT] (default port 4433).
    pub host: Target,
    /// The invite token.
    // A token an older ferry made may start with `-`.
    #[arg(allow_hyphen_values = true)]
    pub token: String,
    /// The name to be listed under [default: USER@HOSTNAME]; the server
    /// makes it unique.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

pub(crate) async fn run(global: &Global, args: Args) -> anyhow::Result<bool> {
    let known = KnownHosts::load(&home::known_hosts()?).context("cannot read known_hosts")?;
    if global.fingerprint.is_none() && known.get(&args.host.to_string()).is_none() {
        bail!(
            "enroll needs the server's fingerprint, so that the token only goes to that server: \
             add --fingerprint SHA256:… as `ferry invite` printed it"
        );
    }
    if let Some(name) = &args.name {
        if !valid_name(name) {
            bail!("'{name}' is not a usable name: use 1 to 64 letters, digits and . _ - @ +");
        }
    }
    let name = args.name.or_else(default_name);
    let client = session::connect(global, &args.host, &HostDefaults::default()).await?;
    let result = client.enroll(&args.token, name.as_deref()).await;
    client.close().await;
    let (listed, read_only) = match result {
        Ok(done) => done,
        // Closed before the request was read: nothing to redeem it with.
        Err(RequestError::Refused(e)) if e.code == ErrorCode::Unauthorized => bail!(
            "{} has no open invite for this token (it expired, was used, or is for another \
             server); ask its operator for a new one",
            args.host
        ),
        Err(e) => return Err(e.into()),
    };
    if !global.quiet {
        let id = home::client_identity()?;
        println!(
            "enrolled on {} as {listed} ({}); this client is {}",
            args.host,
            if read_only { "read-only" } else { "read-write" },
            id.fingerprint
        );
    }
    Ok(true)
}

/// `USER@HOSTNAME`, when both are known and make a usable name.
fn default_name() -> Option<String> {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()?;
    let host = std::fs::read_to_string("/etc/hostname").ok()?;
    let name = format!("{user}@{}", host.trim());
    valid_name(&name).then_some(name)
}
