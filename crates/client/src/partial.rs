//! The local side of a download's partial file: `.NAME.ferry-part` beside
//! the destination, the same name every time so that an interrupted
//! download is found again and resumed, locked while in use so that two
//! downloads of one destination never share it.

use std::{
    fs::{File, FileTimes},
    io,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use ferry_proto::{partial_name, Timestamp};

use crate::RequestError;

/// A download's partial file, renamed over the destination by
/// [`LocalPartial::finish`]. Dropped unfinished, the findable one stays for
/// a resume (unless empty) and a private one is removed.
#[derive(Debug)]
pub(crate) struct LocalPartial {
    path: PathBuf,
    dest: PathBuf,
    findable: bool,
    done: bool,
}

impl LocalPartial {
    /// Opens, creating it if needed, the partial file of `dest`, and says
    /// how many bytes it already holds. When another download holds it, a
    /// private partial is made instead. Blocking.
    pub(crate) fn open(dest: &Path) -> Result<(Self, File, u64), RequestError> {
        if dest.is_dir() {
            return Err(RequestError::Local {
                path: dest.to_owned(),
                source: io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
            });
        }
        let name = dest
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| RequestError::Unnameable(dest.to_owned()))?;
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let path = dir.join(partial_name(name));
        // 0666 less the umask, as for any new file; `-p` sets the bits later.
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .open(&path)
            .map_err(RequestError::local(&dir))?;
        if file.try_lock().is_ok() {
            let len = file.metadata().map_err(RequestError::local(&path))?.len();
            let partial = LocalPartial {
                path,
                dest: dest.to_owned(),
                findable: true,
                done: false,
            };
            return Ok((partial, file, len));
        }
        drop(file);
        let private = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.chars().take(200).collect::<String>()))
            .suffix(ferry_proto::PART_SUFFIX)
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(RequestError::local(&dir))?;
        let (file, temp) = private.into_parts();
        let path = temp
            .keep()
            .map_err(|e| RequestError::local(&dir)(e.error))?;
        let partial = LocalPartial {
            path,
            dest: dest.to_owned(),
            findable: false,
            done: false,
        };
        Ok((partial, file, 0))
    }

    /// Gives the finished `file` its modification time and permission bits,
    /// then renames it over the destination. The bits are the source's
    /// `mode` exactly with `preserve`; otherwise a new file gets them less
    /// the umask and a file being replaced keeps its own, as with cp and
    /// scp. Blocking.
    pub(crate) fn finish(
        mut self,
        file: File,
        mtime: Option<Timestamp>,
        mode: u32,
        preserve: bool,
    ) -> Result<(), RequestError> {
        let fail = RequestError::local(&self.dest);
        if let Some(t) = mtime.and_then(Timestamp::to_system) {
            file.set_times(FileTimes::new().set_modified(t))
                .map_err(RequestError::local(&self.dest))?;
        }
        let bits = match std::fs::symlink_metadata(&self.dest) {
            _ if preserve => mode & 0o777,
            Ok(old) if old.is_file() => old.permissions().mode() & 0o777,
            _ => mode & 0o777 & !ferry_net::file::umask(),
        };
        file.set_permissions(std::fs::Permissions::from_mode(bits))
            .map_err(RequestError::local(&self.dest))?;
        std::fs::rename(&self.path, &self.dest).map_err(fail)?;
        self.done = true;
        // Closing releases the lock, after the rename.
        drop(file);
        Ok(())
    }

    /// Removes the partial: its bytes are known bad. Blocking.
    pub(crate) fn discard(mut self) {
        let _ = std::fs::remove_file(&self.path);
        self.done = true;
    }
}

impl Drop for LocalPartial {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let empty = std::fs::metadata(&self.path).map_or(true, |m| m.len() == 0);
        if !self.findable || empty {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
