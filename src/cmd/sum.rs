//! `sum`: the BLAKE3 of remote files, computed by the server, printed as
//! `b3sum` prints local ones.

use std::io::Write;

use ferry_client::{glob, RequestError};
use serde_json::json;

use super::Session;

/// Print the BLAKE3 of remote files (computed by the server) in b3sum's
/// format; globs allowed.
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
            let summed = match session.client.sum(&m.path).await {
                Ok((size, hash)) => {
                    let mut out = std::io::stdout().lock();
                    if session.out.json {
                        let line = json!({"path": m.path.to_string(), "size": size, "hash": hash.to_string()});
                        writeln!(out, "{line}")?;
                    } else {
                        // b3sum: the hash, two spaces, the path.
                        writeln!(out, "{hash}  {}", m.path)?;
                    }
                    Ok(true)
                }
                Err(e) => Err(e.into()),
            };
            ok &= session.out.report(summed)?;
        }
    }
    Ok(ok)
}
