//! The part of the suite that runs against both storage backends: a local
//! directory and an S3 bucket (a real S3 server, SeaweedFS, started by
//! `scripts/seaweedfs.sh`; `.ci/run` starts it). Each test `NAME` runs as
//! `backends::NAME::local` and `backends::NAME::s3`; without an S3 server
//! configured the `s3` ones print that they were skipped and pass, unless
//! `FERRY_TEST_S3_REQUIRED` is set.
//!
//! Then what only a bucket has: several gateways over one bucket (one
//! identity, the same admitted clients, uploads resumed through another
//! gateway), and the sweep of old partial uploads in it.

use std::{
    path::PathBuf,
    process::{Child, Output, Stdio},
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;

use crate::util::{authorize, b3, bytes, file_events, json_lines, show, write, Server, FERRY};

/// Which storage the server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Local,
    S3,
}

/// The test S3 server, from the environment `scripts/seaweedfs.sh` writes.
struct S3Env {
    endpoint: String,
    bucket: String,
    key: String,
    secret: String,
}

impl S3Env {
    fn get(test: &str) -> Option<S3Env> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(endpoint) = var("FERRY_TEST_S3_ENDPOINT") else {
            assert!(
                var("FERRY_TEST_S3_REQUIRED").is_none(),
                "FERRY_TEST_S3_REQUIRED is set but FERRY_TEST_S3_ENDPOINT is not"
            );
            eprintln!(
                "skipped {test} on S3: no S3 server configured \
                 (run scripts/seaweedfs.sh start and source target/seaweedfs/env)"
            );
            return None;
        };
        Some(S3Env {
            endpoint,
            bucket: var("FERRY_TEST_S3_BUCKET").expect("FERRY_TEST_S3_BUCKET"),
            key: var("FERRY_TEST_S3_ACCESS_KEY").expect("FERRY_TEST_S3_ACCESS_KEY"),
            secret: var("FERRY_TEST_S3_SECRET_KEY").expect("FERRY_TEST_S3_SECRET_KEY"),
        })
    }
}

/// A scratch world like `util::Env`, whose server serves either backend:
/// `local/` for the client's files, `home/` as FERRY_HOME, `certs/` for the
/// server identity (shared by every gateway started here).
struct World {
    dir: tempfile::TempDir,
    backend: Backend,
    /// The `ROOT` argument of `ferry serve`.
    root: String,
    /// The local root, for the local backend.
    root_dir: Option<PathBuf>,
    s3: Option<S3Env>,
    home: PathBuf,
    local: PathBuf,
    server: Server,
    extra: Vec<String>,
}

impl World {
    fn new(backend: Backend, test: &str) -> Option<World> {
        World::with(backend, test, &[])
    }

    /// A world whose server also gets the `extra` arguments.
    fn with(backend: Backend, test: &str, extra: &[&str]) -> Option<World> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (root, root_dir, s3) = match backend {
            Backend::Local => {
                let root = dir.path().join("root");
                std::fs::create_dir_all(&root).unwrap();
                (root.to_str().unwrap().to_owned(), Some(root), None)
            }
            Backend::S3 => {
                let s3 = S3Env::get(test)?;
                let nanos = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                (
                    format!("s3://{}/e2e-{test}-{nanos}", s3.bucket),
                    None,
                    Some(s3),
                )
            }
        };
        let home = dir.path().join("home");
        let local = dir.path().join("local");
        for d in [&home, &local] {
            std::fs::create_dir_all(d).unwrap();
        }
        // The client is allowed in the state directory every gateway reads.
        authorize(&home, &dir.path().join("certs"));
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let server = start_gateway(&root, s3.as_ref(), &extra, dir.path(), "server.log");
        Some(World {
            dir,
            backend,
            root,
            root_dir,
            s3,
            home,
            local,
            server,
            extra,
        })
    }

    /// Starts another server over the same root, with the same identity.
    fn gateway(&self, log: &str) -> Server {
        start_gateway(
            &self.root,
            self.s3.as_ref(),
            &self.extra,
            self.dir.path(),
            log,
        )
    }

    fn host(&self) -> String {
        host(&self.server)
    }

    fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(FERRY);
        c.env("FERRY_HOME", &self.home)
            .env_remove("RUST_LOG")
            .current_dir(&self.local)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .arg("--accept-new")
            .output()
            .expect("run ferry")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{:?}: ferry {args:?} failed:\n{}",
            self.backend,
            show(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{:?}: ferry {args:?} should have failed:\n{}",
            self.backend,
            show(&out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn local_file(&self, rel: &str, contents: &[u8]) -> PathBuf {
        write(&self.local.join(rel), contents)
    }

    /// Runs `ferry ARGS --accept-new` with `input` on its stdin.
    fn with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        crate::util::feed(self.cmd().args(args).arg("--accept-new"), input)
    }

    /// Starts `ferry ARGS --accept-new --json` in the background.
    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd()
            .args(args)
            .args(["--accept-new", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The remote file's bytes, fetched into a fresh local directory.
    fn fetch(&self, host: &str, remote: &str) -> Vec<u8> {
        let name = remote.rsplit('/').next().unwrap();
        let dir = tempfile::tempdir_in(&self.local).unwrap();
        self.ok(&["get", host, remote, "-o", dir.path().to_str().unwrap()]);
        std::fs::read(dir.path().join(name)).unwrap()
    }

    /// The size of a remote path, or `None` when it is not there.
    fn remote_size(&self, host: &str, remote: &str) -> Option<u64> {
        if let (Some(root), Backend::Local) = (&self.root_dir, self.backend) {
            // Faster than a client process, for the fast local backend.
            return std::fs::metadata(root.join(remote.trim_start_matches('/')))
                .ok()
                .map(|m| m.len());
        }
        let out = self.run(&["stat", host, remote, "--json"]);
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["size"].as_u64()
    }

    /// Kills `child` (SIGKILL) once the remote `partial` holds at least `at`
    /// bytes. A deadline guards against a hang.
    fn kill_when(&self, child: &mut Child, host: &str, partial: &str, at: u64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.remote_size(host, partial).unwrap_or(0) < at {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the transfer ended ({status:?}) before it could be interrupted");
            }
            assert!(Instant::now() < deadline, "the transfer never got going");
            // Each look is a `ferry stat` process and a connection: a few
            // dozen a second, not hundreds.
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// `ferry serve ROOT` with the backend's arguments and credentials, its
/// state directory (identity, authorized clients, invites) `dir/certs`.
fn start_gateway(
    root: &str,
    s3: Option<&S3Env>,
    extra: &[String],
    dir: &std::path::Path,
    log: &str,
) -> Server {
    let mut args: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut env = Vec::new();
    if let Some(s3) = s3 {
        args.extend(["--s3-endpoint", &s3.endpoint]);
        env.push(("AWS_ACCESS_KEY_ID", s3.key.as_str()));
        env.push(("AWS_SECRET_ACCESS_KEY", s3.secret.as_str()));
    }
    Server::start_env(root, &dir.join("certs"), 0, &dir.join(log), &args, &env)
}

fn host(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

/// Runs the test body `$name(Backend)` once per backend.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn local() {
                super::$name(super::Backend::Local);
            }
            #[test]
            fn s3() {
                super::$name(super::Backend::S3);
            }
        }
    };
}

both!(every_command);
both!(a_100_mib_round_trip_is_byte_exact);
both!(a_concurrent_batch_round_trips_and_is_skipped_when_run_again);
both!(a_killed_upload_leaves_the_old_file_and_resumes);

/// Every client command, one-shot and in the shell, with its errors.
fn every_command(backend: Backend) {
    let Some(w) = World::new(backend, "commands") else {
        return;
    };
    let h = w.host();
    w.ok(&["mkdir", &h, "/d"]);
    assert!(w.fails(&["mkdir", &h, "/d"]).contains("/d: already exists"));
    assert!(w
        .fails(&["mkdir", &h, "/m/n"])
        .contains("/m/n: no such file or directory"));
    w.ok(&["mkdir", "-p", &h, "/x/y/z", "/d"]);
    let text = bytes(5000, 1);
    let bin = bytes(9 << 20, 2);
    w.local_file("a.txt", &text);
    w.local_file("b.bin", &bin);
    w.local_file("héllo wörld.txt", b"unicode and spaces");
    w.ok(&["put", &h, "a.txt", "b.bin", "héllo wörld.txt", "--to", "/d"]);

    let ls = w.ok(&["ls", &h]);
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(lines.len(), 2, "{ls}");
    assert!(
        lines[0].starts_with("drwx") && lines[0].ends_with("d/"),
        "{ls}"
    );
    assert!(lines[1].ends_with("x/"), "{ls}");
    let ls = w.ok(&["ls", &h, "/d"]);
    assert!(ls.contains("  5000  ") && ls.contains("a.txt"), "{ls}");
    assert!(ls.contains(&(9u64 << 20).to_string()), "{ls}");
    assert!(ls.contains("héllo wörld.txt"), "{ls}");
    assert!(!ls.contains("ferry-part"), "{ls}");
    let st = w.ok(&["stat", &h, "/d/a.txt"]);
    assert!(
        st.contains("kind: file") && st.contains("size: 5000"),
        "{st}"
    );
    let st = w.ok(&["stat", &h, "/x/y"]);
    assert!(st.contains("kind: dir"), "{st}");
    let sum = w.ok(&["sum", &h, "/d/*.bin"]);
    assert_eq!(sum.trim(), format!("{}  /d/b.bin", b3(&bin)));

    w.ok(&["get", &h, "/d/*", "-o", "dl/"]);
    assert!(std::fs::read(w.local.join("dl/b.bin")).unwrap() == bin);
    assert_eq!(std::fs::read(w.local.join("dl/a.txt")).unwrap(), text);
    assert_eq!(
        std::fs::read(w.local.join("dl/héllo wörld.txt")).unwrap(),
        b"unicode and spaces"
    );

    // mv: a rename, into a directory, a directory.
    w.ok(&["mv", &h, "/d/a.txt", "/d/c.txt"]);
    w.ok(&["mv", &h, "/d/c.txt", "/x"]);
    w.ok(&["mv", &h, "/x", "/x2"]);
    assert_eq!(w.fetch(&h, "/x2/c.txt"), text);
    assert!(w
        .fails(&["stat", &h, "/x"])
        .contains("/x: no such file or directory"));
    assert!(w
        .fails(&["mv", &h, "/x2", "/x2/y/in"])
        .contains("into itself"));
    assert!(w
        .fails(&["mv", &h, "/nope", "/x"])
        .contains("/nope: no such file or directory"));

    // rm and rmdir.
    assert!(w
        .fails(&["rm", &h, "/d"])
        .contains("/d: is a directory (use rmdir)"));
    assert!(w
        .fails(&["rmdir", &h, "/x2"])
        .contains("/x2: directory not empty"));
    assert!(w
        .fails(&["rmdir", &h, "/x2/c.txt"])
        .contains("/x2/c.txt: not a directory"));
    w.ok(&["rm", &h, "/x2/c.txt", "/d/*.bin"]);
    w.ok(&["rmdir", &h, "/x2/y/z", "/x2/y", "/x2"]);
    assert!(w
        .fails(&["rmdir", &h, "/"])
        .contains("root cannot be removed"));
    assert!(w
        .fails(&["get", &h, "/gone.bin"])
        .contains("no such file or directory"));

    // Names ferry keeps for itself stay its own.
    assert!(w
        .fails(&["mkdir", &h, "/.ferry-uploads.ferry-part"])
        .contains("reserved"));

    // cp, scp's shape, both ways; and stdin, whose size is unknown until
    // its end (past one 8 MiB segment of the bucket's staging area), or
    // empty.
    w.ok(&["cp", "a.txt", &format!("{h}:/d/copied.txt")]);
    w.ok(&["cp", &format!("{h}:/d/copied.txt"), "copied-back.txt"]);
    assert_eq!(
        std::fs::read(w.local.join("copied-back.txt")).unwrap(),
        text
    );
    let piped = bytes(12 << 20, 9);
    for (to, data) in [("/d/piped.bin", &piped[..]), ("/d/empty", &[][..])] {
        let out = w.with_stdin(&["put", &h, "-", "--to", to], data);
        assert!(out.status.success(), "{}", show(&out));
        assert!(w.fetch(&h, to) == data, "{to}");
    }
    w.ok(&["rm", &h, "/d/copied.txt", "/d/piped.bin", "/d/empty"]);

    // The shell, with a batch file.
    w.local_file(
        "batch",
        b"cd /d\npwd\nput a.txt\nls\nget a.txt -o shelled/\nrm a.txt\n",
    );
    let out = w.ok(&["shell", &h, "-b", "batch"]);
    assert!(out.contains("/d"), "{out}");
    assert_eq!(std::fs::read(w.local.join("shelled/a.txt")).unwrap(), text);

    let ls = w.ok(&["ls", &h, "/d"]);
    assert_eq!(ls.lines().count(), 1, "{ls}");
    assert!(ls.trim_end().ends_with("héllo wörld.txt"), "{ls}");
    let ls = w.ok(&["ls", &h]);
    assert_eq!(ls.lines().count(), 1, "only /d is left: {ls}");
}

/// 100 MiB up and down again, byte for byte, with the hashes agreeing.
fn a_100_mib_round_trip_is_byte_exact(backend: Backend) {
    let Some(w) = World::new(backend, "big") else {
        return;
    };
    let h = w.host();
    let data = bytes(100 << 20, 3);
    w.local_file("big.bin", &data);
    let out = w.run(&["put", &h, "big.bin", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(file_events(&out.stdout)[0]["hash"], b3(&data));
    let out = w.run(&["get", &h, "/big.bin", "-o", "dl/", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(file_events(&out.stdout)[0]["hash"], b3(&data));
    assert!(std::fs::read(w.local.join("dl/big.bin")).unwrap() == data);
    assert_eq!(
        w.ok(&["sum", &h, "/big.bin"]).trim(),
        format!("{}  /big.bin", b3(&data))
    );
    assert_eq!(w.remote_size(&h, "/big.bin"), Some(100 << 20));
    // Ranged reads: a download resumes in the middle.
    let partial = w.local.join("dl2/.big.bin.ferry-part");
    write(&partial, &data[..(60 << 20)]);
    let out = w.run(&["get", &h, "/big.bin", "-o", "dl2/", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let f = &file_events(&out.stdout)[0];
    assert!(f["resumed_from"].as_u64().unwrap() >= 58 << 20, "{f}");
    assert!(std::fs::read(w.local.join("dl2/big.bin")).unwrap() == data);
}

/// A tree of many files, small and large, both ways at once with `-r -j 32`;
/// run again, everything is skipped (modification times survive the trip).
fn a_concurrent_batch_round_trips_and_is_skipped_when_run_again(backend: Backend) {
    let Some(w) = World::new(backend, "batch") else {
        return;
    };
    let h = w.host();
    let mut files = Vec::new();
    for i in 0..120u64 {
        let size = match i % 40 {
            0 => 0,
            1 => 9 << 20,
            n => 1000 * n as usize,
        };
        let rel = format!("tree/d{}/f{i}.bin", i % 6);
        files.push((rel.clone(), bytes(size, 100 + i)));
        w.local_file(&rel, &files.last().unwrap().1);
    }
    w.ok(&["put", &h, "-r", "tree", "-j", "32"]);
    w.ok(&["get", &h, "-r", "/tree", "-o", "back/", "-j", "32"]);
    for (rel, data) in &files {
        assert!(
            std::fs::read(w.local.join("back").join(rel)).unwrap() == *data,
            "{rel}"
        );
    }
    // Both ways again: everything is already there.
    for again in [
        &["put", &h, "-r", "tree", "-j", "32", "--json"][..],
        &["get", &h, "-r", "/tree", "-o", "back/", "--json"],
    ] {
        let out = w.run(again);
        assert!(out.status.success(), "{}", show(&out));
        let summary = json_lines(&out.stdout).pop().unwrap();
        assert_eq!(
            summary["skipped"].as_u64(),
            Some(files.len() as u64),
            "{again:?}: {summary}"
        );
    }
}

/// An upload killed half way leaves the previous version in place, whole;
/// the re-run resumes it and sends little more than the rest.
fn a_killed_upload_leaves_the_old_file_and_resumes(backend: Backend) {
    let Some(w) = World::new(backend, "killed") else {
        return;
    };
    let h = w.host();
    let old = bytes(3 << 20, 4);
    w.local_file("big.bin", &old);
    w.ok(&["put", &h, "big.bin"]);
    let new = bytes(100 << 20, 5);
    w.local_file("big.bin", &new);
    let mut child = w.spawn(&["put", &h, "big.bin", "-j", "1", "--retries", "0"]);
    w.kill_when(&mut child, &h, "/.big.bin.ferry-part", 40 << 20);
    assert!(w.fetch(&h, "/big.bin") == old, "the old version is intact");
    assert_eq!(w.remote_size(&h, "/big.bin"), Some(3 << 20));
    // The server lets go of the killed upload at the idle timeout.
    w.server.wait_for_log("connection closed: timed out");

    let out = w.run(&["put", &h, "big.bin", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let f = &file_events(&out.stdout)[0];
    let from = f["resumed_from"].as_u64().unwrap();
    let sent = f["bytes"].as_u64().unwrap();
    assert!(from >= 30 << 20, "resumed: {f}");
    assert_eq!(from + sent, 100 << 20, "{f}");
    assert!(w.fetch(&h, "/big.bin") == new);
    let ls = w.ok(&["ls", &h]);
    assert_eq!(ls.lines().count(), 1, "no partial is left: {ls}");
}

/// Two gateways over one bucket: the same identity, the same tree, and an
/// upload cut off by killing one gateway finishes through the other.
#[test]
fn two_gateways_serve_one_bucket() {
    let Some(mut w) = World::new(Backend::S3, "gateways") else {
        return;
    };
    let b = w.gateway("b.log");
    let (ha, hb) = (w.host(), host(&b));
    assert_eq!(
        w.server.fingerprint, b.fingerprint,
        "one identity behind one name"
    );
    // A client that pins the identity out of band reaches either.
    for h in [&ha, &hb] {
        let out = w
            .cmd()
            .args(["ls", h, "--fingerprint", &w.server.fingerprint])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
    }

    let data = bytes(20 << 20, 6);
    w.local_file("f.bin", &data);
    w.ok(&["put", &ha, "f.bin", "--to", "/"]);
    assert!(
        w.fetch(&hb, "/f.bin") == data,
        "put through one, get through the other"
    );
    w.ok(&["mkdir", &hb, "/made-on-b"]);
    assert!(w.ok(&["ls", &ha]).contains("made-on-b/"));

    // Kill gateway A in the middle of an upload; finish through B.
    let new = bytes(100 << 20, 7);
    w.local_file("f.bin", &new);
    let mut child = w.spawn(&["put", &ha, "f.bin", "-j", "1", "--retries", "0"]);
    w.kill_when_server(&mut child, &hb, "/.f.bin.ferry-part", 40 << 20);
    assert!(w.fetch(&hb, "/f.bin") == data, "the old version is intact");
    let out = w.run(&["put", &hb, "f.bin", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let f = &file_events(&out.stdout)[0];
    assert!(f["resumed_from"].as_u64().unwrap() >= 30 << 20, "{f}");
    assert!(w.fetch(&hb, "/f.bin") == new);

    // A gateway started afterwards has the same identity and sees it all.
    let c = w.gateway("c.log");
    assert_eq!(c.fingerprint, b.fingerprint);
    assert_eq!(
        w.ok(&["sum", &host(&c), "/f.bin"]).trim(),
        format!("{}  /f.bin", b3(&new))
    );
}

/// Gateways given one `--certs DIR` admit the same clients: one `ferry
/// allow` into it admits a client on every gateway, already running or not;
/// a client enrolled through one gateway is admitted by the others, and its
/// invite is spent for all of them.
#[test]
fn gateways_of_one_bucket_admit_the_same_clients() {
    let Some(w) = World::new(Backend::S3, "admit") else {
        return;
    };
    let b = w.gateway("b.log");
    let hosts = [w.host(), host(&b)];
    let certs = w.dir.path().join("certs");
    let fp = w.server.fingerprint.clone();
    let client = |name: &str| {
        let home = w.dir.path().join(format!("home-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        home
    };
    let ferry = |home: &std::path::Path, args: &[&str]| {
        std::process::Command::new(FERRY)
            .args(args)
            .env("FERRY_HOME", home)
            .env_remove("RUST_LOG")
            .current_dir(&w.local)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let operator = |args: &[&str]| {
        let out = ferry(
            &w.dir.path().join("operator"),
            &[args, &["--certs", certs.to_str().unwrap()]].concat(),
        );
        assert!(out.status.success(), "ferry {args:?}: {}", show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ls = |home: &std::path::Path, h: &str| ferry(home, &["ls", h, "--fingerprint", &fp]);

    // Unknown to both; allowed once, in the shared directory, admitted by
    // both (a running server rereads the file within about a second).
    let carol = client("carol");
    let out = ferry(&carol, &["id"]);
    assert!(out.status.success(), "{}", show(&out));
    let carol_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    for h in &hosts {
        let out = ls(&carol, h);
        assert!(!out.status.success(), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("does not know client"),
            "{}",
            show(&out)
        );
    }
    operator(&["allow", &carol_id, "--name", "carol"]);
    for h in &hosts {
        eventually(&format!("carol admitted by {h}"), || {
            ls(&carol, h).status.success()
        });
    }

    // Enrolled through B, admitted by A; the token is spent for A too.
    let out = operator(&["invite"]);
    let line = out
        .lines()
        .find(|l| l.trim().starts_with("ferry enroll "))
        .unwrap_or_else(|| panic!("no enroll command in:\n{out}"));
    let token = line.split_whitespace().nth(3).unwrap().to_owned();
    let dave = client("dave");
    let out = ferry(
        &dave,
        &[
            "enroll",
            &hosts[1],
            &token,
            "--fingerprint",
            &fp,
            "--name",
            "dave",
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    eventually("dave admitted by A", || {
        ls(&dave, &hosts[0]).status.success()
    });
    let erin = client("erin");
    let out = ferry(&erin, &["enroll", &hosts[0], &token, "--fingerprint", &fp]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no open invite"),
        "{}",
        show(&out)
    );
    assert!(!ls(&erin, &hosts[0]).status.success());

    // A gateway started later reads the same list.
    let c = w.gateway("c.log");
    for home in [&carol, &dave] {
        let out = ls(home, &host(&c));
        assert!(out.status.success(), "{}", show(&out));
    }
}

/// Repeats `attempt` until it returns true, for at most 10 s: a server
/// applies changes to its state directory within about a second (a bound
/// against a hang, not a speed).
fn eventually(what: &str, mut attempt: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !attempt() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl World {
    /// Kills this world's server (SIGKILL) once the `partial`, seen through
    /// the gateway `via`, holds at least `at` bytes; then the client.
    fn kill_when_server(&mut self, child: &mut Child, via: &str, partial: &str, at: u64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.remote_size(via, partial).unwrap_or(0) < at {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the transfer ended ({status:?}) before it could be interrupted");
            }
            assert!(Instant::now() < deadline, "the transfer never got going");
            // Each look is a `ferry stat` process and a connection: a few
            // dozen a second, not hundreds.
            std::thread::sleep(Duration::from_millis(20));
        }
        self.server.stop_now();
        let out = child_output(child);
        assert!(!out.status.success(), "the upload cannot have finished");
    }
}

fn child_output(child: &mut Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        // A client whose server vanished gives up within its idle timeout.
        assert!(Instant::now() < deadline, "the client hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr).unwrap();
    }
    Output {
        status: child.wait().unwrap(),
        stdout: Vec::new(),
        stderr: stderr.into_bytes(),
    }
}

/// Partial uploads older than `--keep-partials` are removed from the
/// bucket by the sweep.
#[test]
fn old_partials_in_a_bucket_are_swept() {
    let Some(w) = World::with(Backend::S3, "sweep", &["--keep-partials", "2s"]) else {
        return;
    };
    let h = w.host();
    w.local_file("f.bin", &bytes(100 << 20, 8));
    let mut child = w.spawn(&["put", &h, "f.bin", "-j", "1", "--retries", "0"]);
    w.kill_when(&mut child, &h, "/.f.bin.ferry-part", 8 << 20);
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.remote_size(&h, "/.f.bin.ferry-part").is_some() {
        // The sweep runs every 2 s here; the killed client's upload is let
        // go by the server within its idle timeout.
        assert!(Instant::now() < deadline, "the partial was never swept");
        std::thread::sleep(Duration::from_millis(200));
    }
    let ls = w.ok(&["ls", &h]);
    assert!(ls.trim().is_empty(), "{ls}");
}

/// `ferry serve s3://…` says what is missing or wrong, and stops.
#[test]
fn serving_a_bucket_needs_credentials_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |args: &[&str], env: &[(&str, &str)]| {
        std::process::Command::new(FERRY)
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--certs"])
            .arg(dir.path().join("certs"))
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let err = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let out = serve(&["s3://bucket", "--s3-endpoint", "http://127.0.0.1:9"], &[]);
    assert!(!out.status.success());
    assert!(err(&out).contains("AWS_ACCESS_KEY_ID"), "{}", err(&out));
    let out = serve(
        &[dir.path().to_str().unwrap(), "--s3-endpoint", "http://x"],
        &[],
    );
    assert!(!out.status.success());
    assert!(err(&out).contains("s3://BUCKET"), "{}", err(&out));
    let out = serve(&["s3://Bad_Bucket"], &[]);
    assert!(!out.status.success());
    assert!(err(&out).contains("bucket name"), "{}", err(&out));

    let Some(s3) = S3Env::get("credentials") else {
        return;
    };
    let url = format!("s3://{}", s3.bucket);
    let out = serve(
        &[&url, "--s3-endpoint", &s3.endpoint],
        &[
            ("AWS_ACCESS_KEY_ID", &s3.key),
            ("AWS_SECRET_ACCESS_KEY", "wrong"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        err(&out).contains(&format!("cannot serve {url}")),
        "{}",
        err(&out)
    );
}
