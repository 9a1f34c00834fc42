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

/// Held by the tests that must not share the machine with each other: an
/// emulated link's forwarder runs at real-time priority and takes most of a
/// core, and two of them beside a handshake flood left too little CPU for
/// the tests' hang bounds on a 2-core machine.
pub(crate) fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that panicked while holding it leaves nothing to clean up.
    ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running server process, killed (by its PID) when dropped.
pub(crate) struct Server {
    pub child: Child,
    pub port: u16,
    pub fingerprint: String,
    pub certs: PathBuf,
    pub stderr: PathBuf,
    /// What it printed at start, up to its `connect with:` line.
    pub banner: Vec<String>,
}

impl Server {
    /// Starts `ferry serve ROOT --listen 127.0.0.1:PORT --certs CERTS` and
    /// waits for it to print its address and fingerprint.
    pub(crate) fn start(root: &Path, certs: &Path, port: u16, log: &Path) -> Server {
        Server::start_with(root, certs, port, log, &[])
    }

    /// [`Server::start`] with more `ferry serve` options.
    pub(crate) fn start_with(
        root: &Path,
        certs: &Path,
        port: u16,
        log: &Path,
        options: &[&str],
    ) -> Server {
        Server::start_env(root.to_str().unwrap(), certs, port, log, options, &[])
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
        let (mut port, mut fingerprint, mut banner) = (None, None, Vec::new());
        while banner
            .last()
            .is_none_or(|l: &String| !l.trim().starts_with("connect with:"))
        {
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
            banner.push(line);
        }
        Server {
            child,
            port: port.expect("a 'listening on' line"),
            fingerprint: fingerprint.expect("a 'fingerprint' line"),
            certs: certs.to_owned(),
            stderr: log.to_owned(),
            banner,
        }
    }

    /// The server's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits (up to 20 s, against a hang) until the log contains `want`.
    pub(crate) fn wait_for_log(&self, want: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            if log.contains(want) {
                return log;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server never logged {want:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
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
        let certs = dir.path().join("certs");
        authorize(&home, &certs);
        let server = Server::start(&root, &certs, 0, &dir.path().join("server.log"));
        Env {
            dir,
            root,
            home,
            local,
            server,
        }
    }

    /// Allows this environment's client on the server whose state directory
    /// is `certs` (before a server with new certificates starts there).
    pub(crate) fn authorize(&self, certs: &Path) {
        authorize(&self.home, certs);
    }

    /// This environment's client identity, for tests that connect through
    /// the library.
    pub(crate) fn identity(&self) -> std::sync::Arc<ferry_trust::Identity> {
        std::sync::Arc::new(
            ferry_trust::load_or_generate(&self.home, ferry_trust::Role::Client).unwrap(),
        )
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

    /// A library connection to the server, trusting it on first use, for
    /// tests that speak the raw protocol on its QUIC connection.
    pub(crate) async fn raw_client(&self) -> ferry_client::Client {
        let target = self.host().parse().expect("host");
        let options = ferry_client::ConnectOptions {
            known_hosts: self.home.join("known_hosts"),
            trust: ferry_client::Trust::AcceptNew,
            timeout: Duration::from_secs(10),
            identity: Some(self.identity()),
            transport: Default::default(),
        };
        ferry_client::connect(&target, &options)
            .await
            .expect("connect")
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

/// Makes the client identity of FERRY_HOME `home` (`ferry id`) and allows
/// it, read-write, on the server whose state directory is `certs`
/// (`ferry allow`): what an operator does before the first connection.
pub(crate) fn authorize(home: &Path, certs: &Path) -> String {
    let id = Command::new(FERRY)
        .arg("id")
        .env("FERRY_HOME", home)
        .output()
        .expect("run ferry id");
    assert!(id.status.success(), "ferry id: {}", show(&id));
    let fp = String::from_utf8_lossy(&id.stdout).trim().to_owned();
    let allow = Command::new(FERRY)
        .args(["allow", &fp, "--name", "tester", "--certs"])
        .arg(certs)
        .env("FERRY_HOME", home)
        .output()
        .expect("run ferry allow");
    assert!(allow.status.success(), "ferry allow: {}", show(&allow));
    fp
}

/// Opens an upload of 1 MiB and sends its header and 100 bytes, then
/// nothing.
pub(crate) async fn stalled_upload(
    conn: &quinn::Connection,
    i: usize,
) -> (quinn::SendStream, quinn::RecvStream) {
    let (mut send, recv) = conn.open_bi().await.unwrap();
    let put = ferry_proto::Request::Put(ferry_proto::PutRequest {
        path: format!("/stalled{i}.bin"),
        size: 1 << 20,
        offset: 0,
        prefix: None,
        hash: false,
        mtime: None,
        mode: None,
        new_mode: None,
        size_unknown: false,
    });
    ferry_net::write_frame(&mut send, &put).await.unwrap();
    send.write_all(&[7u8; 100]).await.unwrap();
    (send, recv)
}

/// Runs `cmd` with `input` on its stdin (written from a thread, so a command
/// that fills its stdout first cannot deadlock) and returns its output.
pub(crate) fn feed(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ferry");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &data);
    });
    let out = child.wait_with_output().expect("wait for ferry");
    writer.join().expect("stdin writer");
    out
}

/// The BLAKE3 of `data`, in hex, as `b3sum` and `ferry sum` print it.
pub(crate) fn b3(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// The JSON values of a command's output, one per line.
pub(crate) fn json_lines(out: &(impl AsRef<[u8]> + ?Sized)) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out.as_ref())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// The per-file events of a `--json` transfer's output.
pub(crate) fn file_events(out: &(impl AsRef<[u8]> + ?Sized)) -> Vec<serde_json::Value> {
    json_lines(out)
        .into_iter()
        .filter(|e| e["event"] == "file")
        .collect()
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

/// This process's umask, as /proc says (022 where it does not).
pub(crate) fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}
