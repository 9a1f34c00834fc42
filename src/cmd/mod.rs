//! The verbs, one file each: its clap arguments (whose doc comment is its
//! help text, in one place for the one-shot command and the shell) and its
//! `run`. [`Remote`] is every verb that acts on a server, dispatched in one
//! place for both the one-shot commands and the shell; [`Session`] is what
//! such a verb runs with.

pub(crate) mod allow;
pub(crate) mod clients;
pub(crate) mod enroll;
pub(crate) mod forget;
pub(crate) mod get;
pub(crate) mod id;
pub(crate) mod invite;
pub(crate) mod ls;
pub(crate) mod mkdir;
pub(crate) mod mv;
pub(crate) mod put;
pub(crate) mod revoke;
pub(crate) mod rm;
pub(crate) mod rmdir;
pub(crate) mod serve;
pub(crate) mod stat;

use anyhow::Context as _;
use clap::Subcommand;
use ferry_client::{Client, RemotePath, Target};

use crate::{cli::Global, output::Output, session};

/// A verb that acts on a server.
#[derive(Debug, Subcommand)]
pub(crate) enum Remote {
    Ls(ls::Args),
    Stat(stat::Args),
    Mkdir(mkdir::Args),
    Rmdir(rmdir::Args),
    Rm(rm::Args),
    Mv(mv::Args),
    Get(get::Args),
    Put(put::Args),
}

impl Remote {
    /// Runs the verb; `Ok(false)` when some part of it failed (and was
    /// reported).
    pub(crate) async fn run(self, session: &Session) -> anyhow::Result<bool> {
        match self {
            Remote::Ls(args) => ls::run(session, args).await,
            Remote::Stat(args) => stat::run(session, args).await,
            Remote::Mkdir(args) => mkdir::run(session, args).await,
            Remote::Rmdir(args) => rmdir::run(session, args).await,
            Remote::Rm(args) => rm::run(session, args).await,
            Remote::Mv(args) => mv::run(session, args).await,
            Remote::Get(args) => get::run(session, args).await,
            Remote::Put(args) => put::run(session, args).await,
        }
    }
}

/// What a remote verb runs with.
#[derive(Debug)]
pub(crate) struct Session {
    /// The connection.
    pub client: Client,
    /// The remote working directory paths resolve against (`/` for the
    /// one-shot commands).
    pub cwd: RemotePath,
    /// How results are printed.
    pub out: Output,
}

impl Session {
    /// Resolves a path the user typed against the working directory.
    pub(crate) fn resolve(&self, input: &str) -> anyhow::Result<RemotePath> {
        resolve(&self.cwd, input)
    }
}

/// Resolves a path the user typed against `cwd`.
pub(crate) fn resolve(cwd: &RemotePath, input: &str) -> anyhow::Result<RemotePath> {
    cwd.resolve(input)
        .with_context(|| format!("invalid remote path '{input}'"))
}

/// A one-shot command: connect, run the verb from `/`, close.
pub(crate) async fn one_shot(global: &Global, host: &Target, verb: Remote) -> anyhow::Result<bool> {
    let client = session::connect(global, host).await?;
    let session = Session {
        client,
        cwd: RemotePath::root(),
        out: Output::new(global),
    };
    let outcome = verb.run(&session).await;
    session.client.close().await;
    outcome
}

/// Runs `op` on each path, reporting a failure and carrying on with the
/// rest; what must stop the whole command (Ctrl-C, a closed stdout, a lost
/// connection) is passed on.
pub(crate) async fn each<F, Fut>(
    session: &Session,
    inputs: &[String],
    op: F,
) -> anyhow::Result<bool>
where
    F: Fn(RemotePath) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut ok = true;
    for input in inputs {
        let result = match session.resolve(input) {
            Ok(path) => op(path).await,
            Err(e) => Err(e),
        };
        ok &= session.out.report(result.map(|()| true))?;
    }
    Ok(ok)
}
