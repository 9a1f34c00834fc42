//! Files of pinned fingerprints, one record per line, readable and editable
//! by hand: [`PinFile`] is the shared mechanics (parse, append, rewrite
//! atomically), [`KnownHosts`] the client's list of servers.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use ferry_proto::Fingerprint;

/// A text file of records, one per line, fields separated by whitespace.
/// Blank lines and lines starting with `#` are comments; they, and lines the
/// owner cannot parse, are kept in the file untouched.
#[derive(Debug, Clone)]
pub struct PinFile {
    path: PathBuf,
    text: String,
}

impl PinFile {
    /// Reads `path`; a missing file is an empty one.
    pub fn load(path: &Path) -> io::Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(PinFile {
            path: path.to_owned(),
            text,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The records: each non-comment line split into its fields.
    pub fn records(&self) -> impl Iterator<Item = Vec<&str>> {
        self.text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect())
    }

    /// The records with their line numbers (from 1).
    pub fn numbered_records(&self) -> impl Iterator<Item = (usize, Vec<&str>)> {
        self.text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .map(|(n, l)| (n, l.split_whitespace().collect()))
    }

    /// Appends one record (creating the file and its directory if needed)
    /// and flushes it to disk.
    pub fn append(&mut self, fields: &[&str]) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let line = fields.join(" ");
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            writeln!(file)?;
            self.text.push('\n');
        }
        writeln!(file, "{line}")?;
        file.sync_all()?;
        self.text.push_str(&line);
        self.text.push('\n');
        Ok(())
    }

    /// Removes every record for which `drop` says so, rewriting the file
    /// beside itself and renaming it into place so a crash never leaves half
    /// a file; returns how many went. Comments stay.
    pub fn remove(&mut self, drop: impl Fn(&[&str]) -> bool) -> io::Result<usize> {
        self.edit(|fields| if drop(fields) { Some(None) } else { None })
    }

    /// Rewrites the file (atomically, as [`PinFile::remove`] does) with each
    /// record for which `change` returns `Some` replaced by that line, or
    /// dropped for `Some(None)`; returns how many records changed. Comments,
    /// and records `change` leaves alone, stay as they were.
    pub fn edit(
        &mut self,
        change: impl Fn(&[&str]) -> Option<Option<String>>,
    ) -> io::Result<usize> {
        // Re-read: another process may have appended since we loaded.
        let fresh = PinFile::load(&self.path)?;
        let mut changed = 0;
        let mut kept = String::with_capacity(fresh.text.len());
        for line in fresh.text.lines() {
            let trimmed = line.trim();
            let fields: Vec<&str> = trimmed.split_whitespace().collect();
            let edit = if trimmed.is_empty() || trimmed.starts_with('#') {
                None
            } else {
                change(&fields)
            };
            match edit {
                None => {
                    kept.push_str(line);
                    kept.push('\n');
                }
                Some(replacement) => {
                    changed += 1;
                    if let Some(new) = replacement {
                        kept.push_str(&new);
                        kept.push('\n');
                    }
                }
            }
        }
        if changed > 0 {
            self.write_all(&kept)?;
        }
        self.text = kept;
        Ok(changed)
    }

    /// Replaces the whole file, atomically, keeping its permissions.
    fn write_all(&self, text: &str) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        temp.write_all(text.as_bytes())?;
        temp.as_file().sync_all()?;
        if let Ok(meta) = fs::metadata(&self.path) {
            // Keep the file's permissions (an authorized list may be 0600).
            let _ = fs::set_permissions(temp.path(), meta.permissions());
        }
        temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The servers a client has pinned: `HOST:PORT SHA256:…` per line, like
/// SSH's `known_hosts`.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    file: PinFile,
}

impl KnownHosts {
    /// Reads `path`; a missing file is an empty list. Lines that do not
    /// parse (comments, damage) are kept in the file but ignored.
    pub fn load(path: &Path) -> io::Result<Self> {
        Ok(KnownHosts {
            file: PinFile::load(path)?,
        })
    }

    /// The file this list was read from.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The pinned fingerprint of `host` (a `HOST:PORT` key).
    pub fn get(&self, host: &str) -> Option<Fingerprint> {
        self.file.records().find_map(|fields| match fields[..] {
            [h, fp, ..] if h == host => fp.parse().ok(),
            _ => None,
        })
    }

    /// Pins `host` to `fp`, appending to the file (created with its
    /// directory if needed).
    pub fn add(&mut self, host: &str, fp: Fingerprint) -> io::Result<()> {
        self.file.append(&[host, &fp.to_string()])
    }

    /// Removes every pin of `host`; returns how many lines went.
    pub fn remove(&mut self, host: &str) -> io::Result<usize> {
        self.file.remove(|fields| fields.first() == Some(&host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_get_remove_survive_reloading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        let mut kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.get("a:1"), None);
        let fa = Fingerprint::of_der(b"a");
        let fb = Fingerprint::of_der(b"b");
        kh.add("a:1", fa).unwrap();
        kh.add("[::1]:2", fb).unwrap();
        let mut kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.get("a:1"), Some(fa));
        assert_eq!(kh.get("[::1]:2"), Some(fb));
        assert_eq!(kh.remove("a:1").unwrap(), 1);
        let kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.get("a:1"), None);
        assert_eq!(kh.get("[::1]:2"), Some(fb));
    }

    #[test]
    fn damaged_lines_are_ignored_and_comments_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let good = Fingerprint::of_der(b"x");
        fs::write(
            &path,
            format!("# comment\nbroken\nh:1 SHA256:zz\nh:2 {good}\nh:3 {good}"),
        )
        .unwrap();
        let mut kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.get("h:1"), None);
        assert_eq!(kh.get("h:2"), Some(good));
        kh.add("h:4", good).unwrap();
        assert_eq!(kh.remove("h:2").unwrap(), 1);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# comment\nbroken\nh:1 SHA256:zz\nh:3 "),
            "{text}"
        );
        assert!(text.ends_with(&format!("h:4 {good}\n")), "{text}");
    }
}
