//! `ls`: a directory's entries, a file's own entry, or a glob's matches.

use std::io::Write;

use ferry_client::{glob, Kind};

use super::Session;
use crate::output::Style;

/// List remote files with sizes (-l: kind, size, time); globs allowed.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Long format: kind and mode, size, modification time, name.
    #[arg(short = 'l')]
    pub long: bool,
    /// Remote directories, files or globs (default: the working directory).
    pub paths: Vec<String>,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    let paths = if args.paths.is_empty() {
        vec![".".to_owned()]
    } else {
        args.paths
    };
    let mut ok = true;
    for path in &paths {
        if paths.len() > 1 && !session.out.json {
            writeln!(std::io::stdout(), "{path}:")?;
        }
        ok &= session.out.report(list(session, path, args.long).await)?;
    }
    Ok(ok)
}

/// One argument of `ls`, in long (`ls -l`) or short (size and name) form.
async fn list(session: &Session, input: &str, long: bool) -> anyhow::Result<bool> {
    let client = &session.client;
    let style = Style::new(long, session.out.json);
    if glob::is_glob(input) {
        let matches = glob::expand_remote(client, &session.cwd, input).await?;
        if matches.is_empty() {
            anyhow::bail!("{input}: no match");
        }
        let mut entries = Vec::new();
        for m in matches {
            let mut entry = match m.entry {
                Some(e) => e,
                None => client.stat(&m.path).await?,
            };
            entry.name = m.path.to_string();
            entries.push(entry);
        }
        session.out.entries(None, &mut entries, style)?;
        return Ok(true);
    }
    let path = session.resolve(input)?;
    let entry = client.stat(&path).await?;
    if entry.kind == Kind::Dir {
        let mut entries = client.list(&path).await?;
        session.out.entries(Some(&path), &mut entries, style)?;
    } else {
        session
            .out
            .entries(path.parent().as_ref(), &mut [entry], style)?;
    }
    Ok(true)
}
