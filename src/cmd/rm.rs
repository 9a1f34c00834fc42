//! `rm`: remove remote files, expanding globs.

use ferry_client::{glob, RequestError};
use serde_json::json;

use super::Session;
use crate::output::{escape, print_json};

/// Remove remote files (globs allowed); refuses directories.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print what would be removed, and remove nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Remote files or globs.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    let mut ok = true;
    for pattern in &args.paths {
        let expanded = glob::expand_remote(
            &session.client,
            &session.cwd,
            pattern,
            glob::Limits::default(),
        )
        .await;
        let matches = match expanded {
            Ok(e) if e.matches.is_empty() => Err(RequestError::NoMatch(pattern.clone())),
            Ok(e) => {
                for skipped in &e.skipped {
                    session.out.skipped(skipped);
                }
                Ok(e.matches)
            }
            Err(e) => Err(e),
        };
        let matches = match matches {
            Ok(m) => m,
            Err(e) => {
                ok &= session.out.report_at(Some(pattern), Err(e.into()))?;
                continue;
            }
        };
        for m in matches {
            let path = m.path.to_string();
            if args.dry_run {
                // Only what exists, and is not a directory, would go.
                let found = match m.entry {
                    Some(entry) => Ok(entry),
                    None => session.client.stat(&m.path).await,
                };
                let checked = match found {
                    Ok(e) if e.kind == ferry_client::Kind::Dir => {
                        Err(anyhow::anyhow!("{path}: is a directory (use rmdir)"))
                    }
                    Ok(_) => Ok(true),
                    Err(e) => Err(e.into()),
                };
                if matches!(checked, Ok(true)) {
                    if session.out.json {
                        print_json(&json!({"event": "dry_run", "action": "remove", "path": path}))?;
                    } else if !session.out.quiet {
                        println!("would remove {}", escape(&path));
                    }
                }
                ok &= session.out.report_at(Some(&path), checked)?;
                continue;
            }
            let removed = session.client.remove(&m.path).await;
            ok &= session
                .out
                .report_at(Some(&path), removed.map(|()| true).map_err(Into::into))?;
        }
    }
    Ok(ok)
}
