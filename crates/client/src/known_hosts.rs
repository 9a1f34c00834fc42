//! The `known_hosts` file: which certificate each server presented the first
//! time it was trusted, one `HOST:PORT SHA256:…` line per server.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use ferry_proto::Fingerprint;

/// The pinned servers, as read from one file.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    path: PathBuf,
    entries: Vec<(String, Fingerprint)>,
}

impl KnownHosts {
    /// Reads `path`; a missing file is an empty list. Lines that do not
    /// parse (comments, damage) are kept in the file but ignored.
    pub fn load(path: &Path) -> io::Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let entries = text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let host = words.next()?;
                let fp = words.next()?.parse().ok()?;
                Some((host.to_owned(), fp))
            })
            .collect();
        Ok(KnownHosts {
            path: path.to_owned(),
            entries,
        })
    }

    /// The file this list was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pinned fingerprint of `host` (a `HOST:PORT` key), and its line
    /// number in the file.
    pub fn get(&self, host: &str) -> Option<Fingerprint> {
        self.entries
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, fp)| *fp)
    }

    /// Pins `host` to `fp`, appending to the file (created with its
    /// directory if needed).
    pub fn add(&mut self, host: &str, fp: Fingerprint) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{host} {fp}")?;
        file.sync_all()?;
        self.entries.push((host.to_owned(), fp));
        Ok(())
    }

    /// Removes every pin of `host`; returns how many lines went.
    pub fn remove(&mut self, host: &str) -> io::Result<usize> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        let mut kept = String::with_capacity(text.len());
        for line in text.lines() {
            if line.split_whitespace().next() == Some(host) {
                removed += 1;
            } else {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        if removed > 0 {
            // Write beside and rename, so a crash never leaves half a file.
            let dir = self.path.parent().unwrap_or(Path::new("."));
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            temp.write_all(kept.as_bytes())?;
            temp.as_file().sync_all()?;
            temp.persist(&self.path).map_err(|e| e.error)?;
            self.entries.retain(|(h, _)| h != host);
        }
        Ok(removed)
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
    fn damaged_lines_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let good = Fingerprint::of_der(b"x");
        fs::write(
            &path,
            format!("# comment\nbroken\nh:1 SHA256:zz\nh:2 {good}\n"),
        )
        .unwrap();
        let kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.get("h:1"), None);
        assert_eq!(kh.get("h:2"), Some(good));
    }
}
