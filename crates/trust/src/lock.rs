//! An advisory lock on a state directory, so that processes sharing it (the
//! operator's commands and a running server, or two clients started at
//! once) change its files one at a time.

use std::{
    fs, io,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use rustix::fs::{flock, FlockOperation};

/// The lock file's name inside the directory it guards.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive `flock` on `DIR/.lock`, released when dropped (or when the
/// process dies, so a crash never leaves the directory locked).
#[derive(Debug)]
pub struct StateLock {
    _file: fs::File,
}

impl StateLock {
    /// Waits for the lock of `dir`, creating the directory and the lock
    /// file if needed.
    pub fn exclusive(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(lock_path(dir))?;
        flock(&file, FlockOperation::LockExclusive)?;
        Ok(StateLock { _file: file })
    }
}

fn lock_path(dir: &Path) -> PathBuf {
    dir.join(LOCK_FILE)
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            atomic::{AtomicBool, Ordering},
            Arc,
        },
        time::Duration,
    };

    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::exclusive(dir.path()).unwrap();
        let got = Arc::new(AtomicBool::new(false));
        let flag = got.clone();
        let path = dir.path().to_owned();
        let waiter = std::thread::spawn(move || {
            let _second = StateLock::exclusive(&path).unwrap();
            flag.store(true, Ordering::SeqCst);
        });
        // Not a speed: the waiter must still be blocked while we hold it.
        std::thread::sleep(Duration::from_millis(100));
        assert!(!got.load(Ordering::SeqCst));
        drop(first);
        waiter.join().unwrap();
        assert!(got.load(Ordering::SeqCst));
    }
}
