//! `cp`: copy between this machine and a server in scp's shape.

use std::path::PathBuf;

use ferry_client::RemotePath;

use super::Session;
use crate::{
    cli::{split_remote, Global, UsageError},
    config::HostArg,
    output::Output,
    session,
    transfer::TransferArgs,
};

/// Copy files between this machine and a server, as scp does.
///
/// Each operand is HOST[:PORT]:PATH on a server (or ALIAS:PATH), a local
/// path, or `-`: stdin as the one source, stdout as the destination. Many
/// sources go into a directory; one source to a DST that is not an existing
/// directory (nor ends in '/') takes that name. All sources are on one
/// side, the destination on the other. A local path with a ':' before any
/// '/' needs a leading ./
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to copy, then where to: SRC... DST.
    #[arg(required = true, num_args = 2.., value_name = "SRC... DST")]
    pub operands: Vec<String>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// One operand, classified.
enum Side {
    Local(String),
    Remote { host: String, path: String },
}

fn side(operand: &str) -> Side {
    if operand == "-" {
        return Side::Local(operand.to_owned());
    }
    match split_remote(operand, true) {
        Some((host, path)) => Side::Remote { host, path },
        None => Side::Local(operand.to_owned()),
    }
}

pub(crate) async fn run(global: &Global, args: Args) -> anyhow::Result<bool> {
    let usage = |m: &str| -> anyhow::Error { UsageError(m.to_owned()).into() };
    let Some((dst, srcs)) = args.operands.split_last() else {
        return Err(usage("cp needs SRC... DST"));
    };
    let srcs: Vec<Side> = srcs.iter().map(|s| side(s)).collect();
    let dst = side(dst);
    let mut hosts: Vec<&str> = srcs
        .iter()
        .filter_map(|s| match s {
            Side::Remote { host, .. } => Some(host.as_str()),
            Side::Local(_) => None,
        })
        .collect();
    let remote_sources = hosts.len();
    hosts.dedup();
    match (&dst, remote_sources) {
        (Side::Local(_), 0) => Err(usage(
            "cp copies between this machine and a server: name one side as HOST:PATH \
             (a local path with ':' needs a leading ./)",
        )),
        (Side::Remote { .. }, n) if n > 0 => Err(usage(
            "cp copies between this machine and a server, not between two remote paths",
        )),
        (Side::Local(_), n) if n < srcs.len() => Err(usage(
            "the sources of cp must all be on one side: all HOST:PATH or all local",
        )),
        (Side::Local(_), _) if hosts.len() > 1 => {
            Err(usage("the sources of cp must all be on the same server"))
        }
        (Side::Local(local), _) => {
            let host = hosts[0].to_owned();
            let paths: Vec<String> = srcs
                .into_iter()
                .map(|s| match s {
                    Side::Remote { path, .. } if path.is_empty() => "/".to_owned(),
                    Side::Remote { path, .. } | Side::Local(path) => path,
                })
                .collect();
            let output = PathBuf::from(local);
            let session = connect(global, &host).await?;
            let outcome =
                super::get::transfer(&session, &paths, Some(output), &args.transfer).await;
            session.client.close().await;
            outcome
        }
        (Side::Remote { host, path }, _) => {
            let locals: Vec<String> = srcs
                .into_iter()
                .map(|s| match s {
                    Side::Local(p) | Side::Remote { path: p, .. } => p,
                })
                .collect();
            let to = if path.is_empty() { "/" } else { path.as_str() };
            let session = connect(global, host).await?;
            let outcome = super::put::transfer(&session, &locals, Some(to), &args.transfer).await;
            session.client.close().await;
            outcome
        }
    }
}

/// Connects to the server an operand names, for a session rooted at `/`.
async fn connect(global: &Global, host: &str) -> anyhow::Result<Session> {
    let arg: HostArg = host.parse().map_err(|e| UsageError(format!("{e}")))?;
    let (target, defaults) = session::resolve(&arg)?;
    let client = session::connect(global, &target, &defaults).await?;
    Ok(Session {
        client,
        cwd: RemotePath::root(),
        out: Output::new(global),
        defaults,
    })
}
