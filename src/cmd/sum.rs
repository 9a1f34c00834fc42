//! `sum`: the BLAKE3 of remote files, computed by the server, printed as
//! `b3sum` prints local ones.

use std::io::Write;

use serde_json::json;

use super::{each_match, Session};
use crate::output::{escape, print_json};

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
        if session.out.json {
            print_json(&json!({"path": path.to_string(), "size": size, "hash": hash.to_string()}))?;
        } else {
            // b3sum: the hash, two spaces, the path (escaped like every
            // name that comes from a server).
            writeln!(
                std::io::stdout().lock(),
                "{hash}  {}",
                escape(&path.to_string())
            )?;
        }
        Ok(())
    })
    .await
}
