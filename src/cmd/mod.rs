//! The verbs, one file each: its clap arguments (whose doc comment is its
//! help text, in one place for the one-shot command and the shell) and its
//! `run`. [`Remote`] is every verb that acts on a server, dispatched in one
//! place for both the one-shot commands and the shell; [`Session`] is what
//! such a verb runs with.

pub(crate) mod allow;
pub(crate) mod clients;
pub(crate) mod completions;
pub(crate) mod cp;
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
pub(crate) mod sum;

use anyhow::Context as _;
use clap::Subcommand;
use ferry_client::{glob, Client, RemotePath, RequestError, Target};

use std::time::Duration;

use crate::{cli::Global, config::HostDefaults, output::Output, session, transfer::Cancelled};

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
    Sum(sum::Args),
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
            Remote::Sum(args) => sum::run(session, args).await,
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
    /// What the server's alias in config.toml sets.
    pub defaults: HostDefaults,
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
pub(crate) async fn one_shot(
    global: &Global,
    host: &Target,
    defaults: HostDefaults,
    verb: Remote,
) -> anyhow::Result<bool> {
    let client = session::connect(global, host, &defaults).await?;
    let session = Session {
        client,
        cwd: RemotePath::root(),
        out: Output::new(global),
        defaults,
    };
    let outcome = verb.run(&session).await;
    if matches!(&outcome, Err(e) if e.is::<Cancelled>()) {
        // The cancelled streams' resets can sit behind a full congestion
        // window; the close must reach the server, or it holds the
        // transfers (and their partials' locks) until its idle timeout. On
        // a loaded machine the endpoint may need more than the usual 25 ms
        // to send it.
        session
            .client
            .close_within(Duration::from_millis(200))
            .await;
    } else {
        session.client.close().await;
    }
    outcome
}

/// Runs `op` on every match of each remote pattern (globs expanded, a
/// plain path taken as it is), reporting a failure, or a pattern that
/// matches nothing, and carrying on with the rest; what must stop the whole
/// command is passed on, as with [`each`].
pub(crate) async fn each_match<F, Fut>(
    session: &Session,
    patterns: &[String],
    op: F,
) -> anyhow::Result<bool>
where
    F: Fn(RemotePath) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut ok = true;
    for pattern in patterns {
        let expanded = glob::expand_remote(
            &session.client,
            &session.cwd,
            pattern,
            glob::Limits::default(),
        )
        .await;
        let matches = match expanded {
            Ok(e) if e.matches.is_empty() => Err(RequestError::NoMatch(pattern.clone()).into()),
            Ok(e) => {
                for skipped in &e.skipped {
                    session.out.skipped(skipped);
                }
                Ok(e.matches)
            }
            Err(e) => Err(e.into()),
        };
        match matches {
            Ok(matches) => {
                for m in matches {
                    let path = m.path.to_string();
                    let done = op(m.path).await.map(|()| true);
                    ok &= session.out.report_at(Some(&path), done)?;
                }
            }
            Err(e) => ok &= session.out.report_at(Some(pattern), Err(e))?,
        }
    }
    Ok(ok)
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
        ok &= session.out.report_at(Some(input), result.map(|()| true))?;
    }
    Ok(ok)
}
