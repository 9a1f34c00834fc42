//! The command line, as clap sees it. Each verb's arguments and help text
//! live in its own file under `cmd/`; this is only the top level.

use clap::{Args, Parser, Subcommand};
use ferry_client::{Fingerprint, Target};

use crate::{cmd, shell};

/// ferry: encrypted, multiplexed file transfer over QUIC.
///
/// `ferry serve` shares a directory; the other commands reach it. Servers are
/// pinned on first use in FERRY_HOME/known_hosts (FERRY_HOME defaults to the
/// platform's config directory, e.g. ~/.config/ferry). Each client presents
/// its own certificate (`ferry id`); a server admits only the clients its
/// operator allowed (`ferry allow`, or `ferry invite` and `ferry enroll`).
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every client command accepts, before or after the subcommand.
#[derive(Debug, Args, Clone)]
pub(crate) struct Global {
    /// Trust a server that is not yet in known_hosts without asking, and pin it.
    #[arg(long, global = true)]
    pub accept_new: bool,
    /// Trust only the server whose certificate has this fingerprint
    /// (SHA256:…, as `ferry serve` prints it), and pin it if new.
    #[arg(long, global = true, value_name = "SHA256:…")]
    pub fingerprint: Option<Fingerprint>,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print machine-readable results, one JSON object per line.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for the server to answer the handshake.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
}

/// A verb's arguments after the server it acts on.
#[derive(Debug, Args)]
pub(crate) struct OnServer<A: Args> {
    /// Server, as HOST[:PORT] (default port 4433).
    pub host: Target,
    #[command(flatten)]
    pub args: A,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Serve(cmd::serve::Args),
    Shell(shell::Args),
    Ls(OnServer<cmd::ls::Args>),
    Stat(OnServer<cmd::stat::Args>),
    Get(OnServer<cmd::get::Args>),
    Put(OnServer<cmd::put::Args>),
    Rm(OnServer<cmd::rm::Args>),
    Mkdir(OnServer<cmd::mkdir::Args>),
    Rmdir(OnServer<cmd::rmdir::Args>),
    Mv(OnServer<cmd::mv::Args>),
    Forget(cmd::forget::Args),
    Id(cmd::id::Args),
    Enroll(cmd::enroll::Args),
    Allow(cmd::allow::Args),
    Revoke(cmd::revoke::Args),
    Clients(cmd::clients::Args),
    Invite(cmd::invite::Args),
}

impl Command {
    /// Runs the parsed command line; `Ok(false)` when some part failed (the
    /// failure was already reported).
    pub(crate) async fn run(self, global: Global) -> anyhow::Result<bool> {
        use cmd::{one_shot, Remote};
        let (host, verb) = match self {
            Command::Serve(args) => return cmd::serve::run(args).await,
            Command::Shell(args) => return shell::run(&global, args).await,
            Command::Forget(args) => return cmd::forget::run(&args),
            Command::Id(args) => return cmd::id::run(&global, &args),
            Command::Enroll(args) => return cmd::enroll::run(&global, args).await,
            Command::Allow(args) => return cmd::allow::run(&global, args),
            Command::Revoke(args) => return cmd::revoke::run(&global, &args),
            Command::Clients(args) => return cmd::clients::run(&global, &args),
            Command::Invite(args) => return cmd::invite::run(&global, &args),
            // The one-shot `ls` prints the long form, as it always has.
            Command::Ls(OnServer { host, mut args }) => {
                args.long = true;
                (host, Remote::Ls(args))
            }
            Command::Stat(c) => (c.host, Remote::Stat(c.args)),
            Command::Get(c) => (c.host, Remote::Get(c.args)),
            Command::Put(c) => (c.host, Remote::Put(c.args)),
            Command::Rm(c) => (c.host, Remote::Rm(c.args)),
            Command::Mkdir(c) => (c.host, Remote::Mkdir(c.args)),
            Command::Rmdir(c) => (c.host, Remote::Rmdir(c.args)),
            Command::Mv(c) => (c.host, Remote::Mv(c.args)),
        };
        one_shot(&global, &host, verb).await
    }
}
