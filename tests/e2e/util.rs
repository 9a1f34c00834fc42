//! The harness: a scratch directory, a real `ferry serve` process on
//! 127.0.0.1 with a free port, and ready `ferry` client commands.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

pub(crate) const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A running server process, killed (by its PID) when dropped.
pub(crate) struct Server {
    pub child: Child,
    pub port: u16,
    pub fingerprint: String,
    pub certs: PathBuf,
    pub stderr: PathBuf,
}

impl Server {
    /// Starts `ferry serve ROOT --listen 127.0.0.1:PORT --certs CERTS` and
    /// waits for it to print its address and fingerprint.
    pub(crate) fn start(root: &Path, certs: &Path, port: u16, log: &Path) -> Server {
        Server::start_with(root, certs, port, log, &[])
    }

    /// [`Server::start`] with more arguments for `ferry serve`.
    pub(crate) fn start_with(
        root: &Path,
        certs: &Path,
        port: u16,
        log: &Path,
        extra: &[&str],
    ) -> Server {
        Server::start_env(root.to_str().unwrap(), certs, port, log, extra, &[])
    }

    /// [`Server::start_with`] for any ROOT argument (a directory or an
    /// `s3://` URL), with environment variables for the server.
    pub(crate) fn start_env(
        root: &str,
        certs: &Path,
        port: u16,
        log: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let stderr = std::fs::File::create(log).expect("server log");
        let mut child = Command::new(FERRY)
            .args(["serve", root, "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--certs")
            .arg(certs)
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start ferry serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut port, mut fingerprint) = (None, None);
        while port.is_none() || fingerprint.is_none() {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
                let _ = child.kill();
                panic!(
                    "server did not start: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            };
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if let Some(fp) = line.trim().strip_prefix("fingerprint ") {
                fingerprint = fp.split_whitespace().next().map(str::to_owned);
            }
        }
        Server {
            child,
            port: port.unwrap(),
            fingerprint: fingerprint.unwrap(),
            certs: certs.to_owned(),
            stderr: log.to_owned(),
        }
    }

    /// Kills the server at once (SIGKILL) and waits for it.
    pub(crate) fn stop_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch world: `root/` served by a live server, `home/` as FERRY_HOME,
/// `local/` for the client's files.
pub(crate) struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub local: PathBuf,
    pub server: Server,
}

impl Env {
    pub(crate) fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let home = dir.path().join("home");
        let local = dir.path().join("local");
        for d in [&root, &home, &local] {
            std::fs::create_dir_all(d).unwrap();
        }
        let server = Server::start(
            &root,
            &dir.path().join("certs"),
            0,
            &dir.path().join("server.log"),
        );
        Env {
            dir,
            root,
            home,
            local,
            server,
        }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    /// A `ferry` command with FERRY_HOME set, run from `local/`, stdin closed.
    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(FERRY);
        c.env("FERRY_HOME", &self.home)
            .env_remove("RUST_LOG")
            .current_dir(&self.local)
            .stdin(Stdio::null());
        c
    }

    /// Runs `ferry ARGS --accept-new` and returns its output.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .arg("--accept-new")
            .output()
            .expect("run ferry")
    }

    /// Runs `ferry ARGS --accept-new` and insists that it succeeds.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ferry {args:?} failed:\n{}",
            show(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `ferry ARGS --accept-new`, insists that it fails, and returns
    /// its stderr.
    pub(crate) fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "ferry {args:?} should have failed:\n{}",
            show(&out)
        );
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Writes a file under the served root.
    pub(crate) fn remote_file(&self, rel: &str, contents: &[u8]) -> PathBuf {
        write(&self.root.join(rel), contents)
    }

    /// Writes a file under the client's local directory.
    pub(crate) fn local_file(&self, rel: &str, contents: &[u8]) -> PathBuf {
        write(&self.local.join(rel), contents)
    }
}

pub(crate) fn write(path: &Path, contents: &[u8]) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, contents).unwrap();
    path.to_owned()
}

/// Deterministic pseudo-random bytes (xorshift), so contents differ per
/// file and per position.
pub(crate) fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Everything a failed command said, for assertion messages.
pub(crate) fn show(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Names in a directory (sorted), including hidden ones.
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Whether this process runs as root (file modes do not stop root).
pub(crate) fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}
