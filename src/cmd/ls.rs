//! `ls`: a directory's entries, a file's own entry, or a glob's matches.
//!
//! A directory's listing arrives in chunks and is printed as it comes once
//! it is larger than [`SORT_LIMIT`] entries, so a directory of any size is
//! listed in bounded memory; smaller ones are sorted first, as `ls` does.

use std::io::Write;

use ferry_client::{
    glob::{self, SkipReason, Skipped},
    Entry, Kind, RemotePath,
};

use super::Session;
use crate::output::{Format, Style};

/// Entries sorted before printing at most; a bigger directory is printed
/// in the server's order, as it arrives.
pub(crate) const SORT_LIMIT: usize = 100_000;

/// List remote files with sizes (-l: kind, size, time); globs allowed.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub(crate) struct Args {
    /// Long format: kind and mode, size, modification time, name (and where
    /// a symbolic link points).
    #[arg(short = 'l')]
    pub long: bool,
    /// Sizes for people: 1.5 MiB.
    #[arg(short = 'h')]
    pub human: bool,
    /// Newest first.
    #[arg(short = 't', conflicts_with = "by_size")]
    pub by_time: bool,
    /// Largest first.
    #[arg(short = 'S')]
    pub by_size: bool,
    /// Reverse the order.
    #[arg(short = 'r')]
    pub reverse: bool,
    /// Show names that start with '.' too.
    #[arg(short = 'a')]
    pub all: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Remote directories, files or globs (default: the working directory).
    pub paths: Vec<String>,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    let paths = if args.paths.is_empty() {
        vec![".".to_owned()]
    } else {
        args.paths.clone()
    };
    let mut ok = true;
    for (i, path) in paths.iter().enumerate() {
        if paths.len() > 1 && !session.out.json {
            let mut out = std::io::stdout().lock();
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{}:", crate::output::escape(path))?;
        }
        let listed = list(session, path, &args).await;
        ok &= session.out.report_at(Some(path), listed)?;
    }
    Ok(ok)
}

impl Args {
    fn format(&self, json: bool) -> Format {
        Format {
            style: Style::new(self.long, json),
            human: self.human,
            width: 1,
        }
    }

    fn sort(&self, entries: &mut [Entry]) {
        entries.sort_by(|a, b| {
            let order = if self.by_time {
                b.mtime.cmp(&a.mtime)
            } else if self.by_size {
                b.size.cmp(&a.size)
            } else {
                std::cmp::Ordering::Equal
            };
            order.then_with(|| a.name.cmp(&b.name))
        });
        if self.reverse {
            entries.reverse();
        }
    }
}

/// One argument of `ls`.
async fn list(session: &Session, input: &str, args: &Args) -> anyhow::Result<bool> {
    let client = &session.client;
    let format = args.format(session.out.json);
    if glob::is_glob(input) {
        let found = glob::expand_remote(
            client,
            &session.cwd,
            input,
            glob::Limits {
                max_entries: SORT_LIMIT,
                ..glob::Limits::default()
            },
        )
        .await?;
        for skipped in &found.skipped {
            session.out.skipped(skipped);
        }
        if found.matches.is_empty() {
            anyhow::bail!("{input}: no match");
        }
        let mut entries = Vec::new();
        for m in found.matches {
            let mut entry = match m.entry {
                Some(e) => e,
                None => client.stat(&m.path).await?,
            };
            entry.name = m.path.to_string();
            entries.push(entry);
        }
        args.sort(&mut entries);
        let format = format.fit(&entries);
        let mut out = std::io::stdout().lock();
        for e in &entries {
            format.print(&mut out, None, e)?;
        }
        out.flush()?;
        return Ok(true);
    }
    let path = session.resolve(input)?;
    let entry = client.stat(&path).await?;
    if entry.kind != Kind::Dir {
        let format = format.fit(std::slice::from_ref(&entry));
        let mut out = std::io::stdout().lock();
        format.print(&mut out, path.parent().as_ref(), &entry)?;
        return Ok(true);
    }
    directory(session, &path, args, format).await
}

/// A directory's entries, sorted when there are few enough, else printed
/// as they arrive.
async fn directory(
    session: &Session,
    path: &RemotePath,
    args: &Args,
    format: Format,
) -> anyhow::Result<bool> {
    let mut listing = session.client.listing(path).await?;
    let mut held: Vec<Entry> = Vec::new();
    let mut streaming: Option<Format> = None;
    while let Some(chunk) = listing.next_chunk().await? {
        let mut out = std::io::stdout().lock();
        for entry in chunk {
            if let Err(e) = path.join(&entry.name) {
                session.out.skipped(&Skipped {
                    path: glob::bad_name_path(&path.to_string(), &entry.name),
                    reason: SkipReason::BadName(e),
                });
                continue;
            }
            if !args.all && entry.name.starts_with('.') {
                continue;
            }
            if let Some(format) = &streaming {
                format.print(&mut out, Some(path), &entry)?;
                continue;
            }
            held.push(entry);
            if held.len() > SORT_LIMIT {
                session.out.warn(&format!(
                    "{path}: more than {SORT_LIMIT} entries; printing them in the server's order as they arrive"
                ));
                let wide = format.fit(&held);
                for e in held.drain(..) {
                    wide.print(&mut out, Some(path), &e)?;
                }
                streaming = Some(wide);
            }
        }
        out.flush()?;
    }
    if streaming.is_none() {
        args.sort(&mut held);
        let format = format.fit(&held);
        let mut out = std::io::stdout().lock();
        for e in &held {
            format.print(&mut out, Some(path), e)?;
        }
        out.flush()?;
    }
    Ok(true)
}
