//! `rm`: remove remote files, expanding globs.

use ferry_client::{glob, RequestError};

use super::Session;

/// Remove remote files (globs allowed); refuses directories.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Remote files or globs.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    let mut ok = true;
    for pattern in &args.paths {
        let matches = match glob::expand_remote(&session.client, &session.cwd, pattern).await {
            Ok(m) if m.is_empty() => Err(RequestError::NoMatch(pattern.clone())),
            other => other,
        };
        let matches = match matches {
            Ok(m) => m,
            Err(e) => {
                ok &= session.out.report(Err(e.into()))?;
                continue;
            }
        };
        for m in matches {
            let removed = session.client.remove(&m.path).await;
            ok &= session
                .out
                .report(removed.map(|()| true).map_err(Into::into))?;
        }
    }
    Ok(ok)
}
