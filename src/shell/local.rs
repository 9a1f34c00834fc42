//! The shell's local commands: `lpwd`, `lcd`, `lls` and `lmkdir`.
//!
//! The local working directory is the process's own: `lcd` calls
//! `std::env::set_current_dir`, so that the relative local paths `get` and
//! `put` use resolve against it. That is sound because the shell is one user
//! at one prompt, and nothing else in the process depends on the directory.

use std::{
    fs::Metadata,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use anyhow::Context;
use ferry_client::{glob, Entry, Kind, Timestamp};

use crate::{cli::Global, cmd::Remote, output};

/// `lpwd`.
pub(super) fn lpwd(json: bool) -> anyhow::Result<bool> {
    let dir = std::env::current_dir().context("cannot read the local working directory")?;
    if json {
        output::print_json(&serde_json::json!({
            "event": "lpwd",
            "path": dir.to_string_lossy(),
        }))?;
    } else {
        writeln!(
            std::io::stdout(),
            "{}",
            output::escape(&dir.to_string_lossy())
        )?;
    }
    Ok(true)
}

/// `~` in the local paths of a verb: `get`'s destination, `put`'s files.
pub(super) fn expand_verb(verb: Remote) -> Remote {
    match verb {
        Remote::Get(mut args) => {
            args.output = args.output.map(expand_home);
            Remote::Get(args)
        }
        Remote::Put(mut args) => {
            args.local = args
                .local
                .into_iter()
                .map(|l| {
                    expand_home(PathBuf::from(&l))
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            Remote::Put(args)
        }
        other => other,
    }
}

/// `lcd [DIR]`: to DIR, or to $HOME.
pub(super) fn lcd(dir: Option<PathBuf>) -> anyhow::Result<bool> {
    let dir = match dir {
        Some(dir) => expand_home(dir),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .context("HOME is not set; say which directory")?,
    };
    std::env::set_current_dir(&dir).with_context(|| format!("lcd {}", dir.display()))?;
    Ok(true)
}

/// `lmkdir [-p] DIR...`: reports each failure and carries on.
pub(super) fn lmkdir(dirs: &[PathBuf], parents: bool) -> bool {
    let mut ok = true;
    for dir in dirs {
        let dir = expand_home(dir.clone());
        let made = if parents {
            std::fs::create_dir_all(&dir)
        } else {
            std::fs::create_dir(&dir)
        };
        if let Err(e) = made {
            eprintln!("ferry: lmkdir {}: {e}", dir.display());
            ok = false;
        }
    }
    ok
}

/// `lls [-l] [PATH...]`: a directory's entries, a file's own entry, or a
/// glob's matches, in the same forms as `ls`.
pub(super) fn lls(global: &Global, paths: &[PathBuf], long: bool) -> anyhow::Result<bool> {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut ok = true;
    for path in paths {
        if paths.len() > 1 && !global.json {
            writeln!(std::io::stdout(), "{}:", path.display())?;
        }
        match list(path) {
            Ok(mut entries) => {
                let mut out = std::io::stdout().lock();
                let style = output::Style::new(long, global.json);
                output::print_entries(&mut out, None, &mut entries, style)?;
                out.flush()?;
            }
            Err(e) => {
                output::Output::new(global).error(Some(&path.to_string_lossy()), &e);
                ok = false;
            }
        }
    }
    Ok(ok)
}

/// The entries `lls` shows for one argument.
fn list(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let Some(text) = path.to_str().filter(|t| glob::is_glob(t)) else {
        let path = expand_home(path.to_owned());
        let meta = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?;
        if !meta.is_dir() {
            return Ok(vec![entry(path.display().to_string(), &meta)]);
        }
        let mut entries = Vec::new();
        let read = std::fs::read_dir(&path).with_context(|| format!("{}", path.display()))?;
        for item in read {
            let item = item.with_context(|| format!("{}", path.display()))?;
            // A listing does not follow links, like the server's.
            if let Ok(meta) = item.path().symlink_metadata() {
                let mut found = entry(item.file_name().to_string_lossy().into_owned(), &meta);
                if found.kind == Kind::Symlink {
                    found.target = std::fs::read_link(item.path())
                        .ok()
                        .map(|t| t.to_string_lossy().into_owned());
                }
                entries.push(found);
            }
        }
        return Ok(entries);
    };
    let matches = glob::expand_local(text, glob::Limits::default())?;
    if matches.is_empty() {
        anyhow::bail!("{text}: no match");
    }
    Ok(matches
        .into_iter()
        .filter_map(|m| {
            let meta = m.symlink_metadata().ok()?;
            Some(entry(m.display().to_string(), &meta))
        })
        .collect())
}

/// A local file as the entry type listings print.
fn entry(name: String, meta: &Metadata) -> Entry {
    let file_type = meta.file_type();
    let kind = if file_type.is_dir() {
        Kind::Dir
    } else if file_type.is_file() {
        Kind::File
    } else if file_type.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    };
    Entry {
        name,
        kind,
        size: meta.len(),
        mtime: meta.modified().ok().and_then(Timestamp::from_system),
        mode: meta.permissions().mode() & 0o7777,
        target: None,
    }
}

/// `~` and `~/…` mean the home directory, as in a shell (a trailing `/`
/// is kept: it says a directory is meant).
pub(super) fn expand_home(path: PathBuf) -> PathBuf {
    let Some(home) = std::env::var_os("HOME") else {
        return path;
    };
    let Some(text) = path.to_str() else {
        return path;
    };
    if text == "~" {
        return PathBuf::from(home);
    }
    match text.strip_prefix("~/") {
        Some(rest) => {
            let mut out = home;
            out.push("/");
            out.push(rest);
            PathBuf::from(out)
        }
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_a_directory_a_file_and_a_glob() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("a.txt"), b"hello").unwrap();
        std::fs::write(d.join("b.log"), b"x").unwrap();
        let mut names: Vec<_> = list(d)
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.kind, e.size))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(names[0], ("a.txt".into(), Kind::File, 5));
        assert_eq!(names[1].0, "b.log");
        assert_eq!(names[2].1, Kind::Dir);
        let one = list(&d.join("a.txt")).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].size, 5);
        let globbed = list(&d.join("*.txt")).unwrap();
        assert_eq!(globbed.len(), 1);
        assert!(globbed[0].name.ends_with("a.txt"));
        assert!(list(&d.join("*.none")).is_err());
        assert!(list(&d.join("missing")).is_err());
    }
}
