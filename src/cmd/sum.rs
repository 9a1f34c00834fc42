//! `sum`: the BLAKE3 of remote files, computed by the server, printed as
//! `b3sum` prints local ones.

use std::io::Write;

use serde_json::json;

use super::{each_match, Session};

/// Print the BLAKE3 of remote files (computed by the server) in b3sum's
/// format; globs allowed.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Remote files or globs.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    each_match(session, &args.paths, |path| async move {
        let (size, hash) = session.client.sum(&path).await?;
        let mut out = std::io::stdout().lock();
        if session.out.json {
            let line = json!({"path": path.to_string(), "size": size, "hash": hash.to_string()});
            writeln!(out, "{line}")?;
        } else {
            // b3sum: the hash, two spaces, the path.
            writeln!(out, "{hash}  {path}")?;
        }
        Ok(())
    })
    .await
}
