//! Issue 8, data and terminal safety: each bug fed the input that
//! triggered it, through the real binary.

use std::{
    io::{Read, Write},
    os::unix::fs::PermissionsExt,
    process::Stdio,
    time::{Duration, Instant},
};

use ferry_proto::{ErrorCode, Kind, Request};

use crate::{
    hostile::{self, Hostile, Reply},
    util::{bytes, names, show, Env},
};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `ferry ARGS --accept-new` with `input` on stdin.
fn with_stdin(env: &Env, args: &[&str], input: &[u8]) -> std::process::Output {
    crate::util::feed(env.cmd().args(args).arg("--accept-new"), input)
}

#[test]
fn pipes_fifos_and_stdin_are_streamed_whole_and_devices_refused() {
    let env = Env::new();
    let data = bytes(3_000_000, 11);

    // A FIFO: it used to arrive as an empty file, with exit 0.
    let fifo = env.local.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let feed = data.clone();
    let fifo_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo_path)
            .unwrap()
            .write_all(&feed)
            .unwrap();
    });
    let out = env.ok(&["put", &env.host(), "fifo", "--to", "/from-fifo"]);
    writer.join().unwrap();
    assert!(out.contains("uploaded 1 file"), "{out}");
    assert!(std::fs::read(env.root.join("from-fifo")).unwrap() == data);

    // /dev/stdin on a pipe, and `-`.
    let out = with_stdin(
        &env,
        &["put", &env.host(), "/dev/stdin", "--to", "/from-dev-stdin"],
        &data,
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(std::fs::read(env.root.join("from-dev-stdin")).unwrap() == data);
    let out = with_stdin(&env, &["put", &env.host(), "-", "--to", "/dash.bin"], &data);
    assert!(out.status.success(), "{}", show(&out));
    assert!(std::fs::read(env.root.join("dash.bin")).unwrap() == data);
    let m = std::fs::metadata(env.root.join("dash.bin")).unwrap();
    assert_eq!(
        m.permissions().mode() & 0o777,
        0o666 & !crate::util::umask()
    );
    let out = with_stdin(
        &env,
        &["cp", "-", &format!("{}:/cp-dash.bin", env.host())],
        b"via cp",
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        std::fs::read(env.root.join("cp-dash.bin")).unwrap(),
        b"via cp"
    );
    // An empty stdin is an empty file, which is what was asked.
    let out = with_stdin(&env, &["put", &env.host(), "-", "--to", "/empty"], b"");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(std::fs::read(env.root.join("empty")).unwrap(), b"");

    // A device is refused, clearly, and nothing is written.
    let err = env.fails(&["put", &env.host(), "/dev/zero", "--to", "/zero"]);
    assert!(err.contains("/dev/zero: not a regular file"), "{err}");
    assert!(!env.root.join("zero").exists());
    // stdin needs a file name.
    let out = with_stdin(&env, &["put", &env.host(), "-", "--to", "/"], b"x");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("name the file"), "{}", show(&out));
    let out = with_stdin(&env, &["put", &env.host(), "-", "fifo", "--to", "/x"], b"x");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn a_killed_stdin_upload_commits_nothing() {
    let env = Env::new();
    env.remote_file("keep.bin", b"the old version");
    let mut child = env
        .cmd()
        .args(["put", &env.host(), "-", "--to", "/keep.bin", "--accept-new"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes(4 << 20, 3)).unwrap();
    // Wait until the server holds some of it, then kill the uploader.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !names(&env.root).iter().any(|n| n.ends_with(".ferry-part")) {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(
        std::fs::read(env.root.join("keep.bin")).unwrap(),
        b"the old version"
    );
    // The partial of a stream cannot be resumed, so it goes when the
    // server lets go of the killed upload, at the idle timeout.
    env.server.wait_for_log("connection closed: timed out");
    let deadline = Instant::now() + Duration::from_secs(20);
    while names(&env.root) != ["keep.bin"] {
        assert!(Instant::now() < deadline, "{:?}", names(&env.root));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn same_named_matches_of_one_batch_are_refused_before_anything_moves() {
    let env = Env::new();
    env.remote_file("c1/same.txt", b"one");
    env.remote_file("c2/same.txt", b"two");
    let err = env.fails(&["get", &env.host(), "/c[12]/same.txt", "-o", "dir"]);
    assert!(
        err.contains("/c1/same.txt and /c2/same.txt would both be written to dir/same.txt"),
        "{err}"
    );
    assert!(
        err.contains("nothing was transferred") && err.contains("-R"),
        "{err}"
    );
    assert!(
        !env.local.join("dir").exists() || names(&env.local.join("dir")).is_empty(),
        "nothing written"
    );
    // -R keeps each source's path: both arrive.
    env.ok(&["get", &env.host(), "/c[12]/same.txt", "-o", "dir", "-R"]);
    assert_eq!(
        std::fs::read(env.local.join("dir/c1/same.txt")).unwrap(),
        b"one"
    );
    assert_eq!(
        std::fs::read(env.local.join("dir/c2/same.txt")).unwrap(),
        b"two"
    );

    // Uploads too, and the JSON form says the same.
    env.local_file("a/x.txt", b"a");
    env.local_file("b/x.txt", b"b");
    std::fs::create_dir(env.root.join("up")).unwrap();
    let out = env.run(&[
        "put",
        &env.host(),
        "a/x.txt",
        "b/x.txt",
        "--to",
        "/up",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let collision = events
        .iter()
        .find(|e| e["event"] == "error" && e["code"] == "usage")
        .unwrap_or_else(|| panic!("{}", stdout(&out)));
    assert_eq!(collision["path"], "/up/x.txt");
    assert!(names(&env.root.join("up")).is_empty());
    // The same file named twice is no collision.
    env.ok(&[
        "get",
        &env.host(),
        "/c1/same.txt",
        "/c1/same.txt",
        "-o",
        "twice/",
    ]);
    assert_eq!(names(&env.local.join("twice")), ["same.txt"]);
}

#[test]
fn wildcards_in_middle_components_and_double_stars_match_what_is_there() {
    let env = Env::new();
    env.remote_file("c1/same.txt", b"1");
    env.remote_file("c2/same.txt", b"2");
    env.remote_file("c3/other.txt", b"3");
    env.remote_file("cfile", b"not a directory");
    env.remote_file("v/a.mp4", b"a");
    env.remote_file("w/x/a.mp4", b"deep");
    env.remote_file("w/x/y/b.mp4", b"deeper");
    env.remote_file(".hidden/c.mp4", b"hidden");
    // Every real match, and no failure for c3 or cfile.
    let out = env.ok(&["get", &env.host(), "/c*/same.txt", "-R", "-o", "m"]);
    assert!(out.contains("downloaded 2 files"), "{out}");
    assert_eq!(names(&env.local.join("m")), ["c1", "c2"]);
    let out = env.ok(&["ls", &env.host(), "/*/a.mp4"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.trim_end().ends_with("/v/a.mp4"), "{out}");
    // ** crosses directories (not hidden ones).
    let out = env.ok(&["get", &env.host(), "/**/*.mp4", "-R", "-o", "all"]);
    assert!(out.contains("downloaded 3 files"), "{out}");
    assert_eq!(
        std::fs::read(env.local.join("all/w/x/y/b.mp4")).unwrap(),
        b"deeper"
    );
    assert!(!env.local.join("all/.hidden").exists());
    // A pattern that matches nothing is still an error.
    let err = env.fails(&["get", &env.host(), "/c*/none.txt", "-o", "none/"]);
    assert!(err.contains("/c*/none.txt: no match"), "{err}");
}

/// Names that try to drive the terminal.
const EVIL: [&str; 3] = [
    "title\x1b]0;pwned\x07.txt",
    "forged\nferry: everything is fine.txt",
    "ret\rclear\x1b[2J\u{9b}2J\u{202e}txt.exe",
];

fn assert_terminal_safe(text: &str) {
    for bad in ['\x1b', '\r', '\x07', '\u{9b}', '\u{202e}'] {
        assert!(
            !text.contains(bad),
            "{bad:?} reached the terminal: {text:?}"
        );
    }
}

#[test]
fn names_and_messages_from_the_server_reach_the_terminal_escaped() {
    let env = Env::new();
    for (i, name) in EVIL.iter().enumerate() {
        env.remote_file(&format!("d/{name}"), &bytes(10 + i, i as u64));
    }
    std::fs::create_dir(env.root.join("dir\x1b[31m")).unwrap();

    // Listings: one line per entry, escaped.
    for args in [
        vec!["ls", &env.host(), "/d"] as Vec<&str>,
        vec!["ls", "-l", &env.host(), "/d/*"],
    ] {
        let out = env.ok(&args);
        assert_terminal_safe(&out);
        assert_eq!(out.lines().count(), 3, "{out:?}");
        assert!(out.contains("title\\x1b]0;pwned\\x07.txt"), "{out}");
        assert!(out.contains("forged\\nferry: everything"), "{out}");
        assert!(out.contains("\\u{202e}"), "{out}");
    }
    // Transfer lines and the summary.
    let out = env.run(&["get", &env.host(), "/d/*", "-o", "dl/"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_terminal_safe(&stdout(&out));
    assert_terminal_safe(&stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 4, "{}", show(&out));
    for name in EVIL {
        assert!(
            env.local.join("dl").join(name).exists(),
            "{name:?} arrived as is"
        );
    }
    // Errors that carry such a name, and the shell's output.
    let out = env.run(&[
        "stat",
        &env.host(),
        "/d/forged\nferry: everything is fine.txt/x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_terminal_safe(&stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", show(&out));
    let out = with_stdin(
        &env,
        &["shell", &env.host()],
        b"cd /dir\x1b[31m\npwd\nls /d\n",
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_terminal_safe(&stdout(&out));
    assert!(stdout(&out).contains("/dir\\x1b[31m"), "{}", show(&out));

    // JSON carries the exact names.
    let out = env.ok(&["ls", &env.host(), "/d", "--json"]);
    assert_terminal_safe(&out);
    let mut got: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = EVIL.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_hostile_servers_messages_are_escaped_too() {
    let env = Env::new();
    let server = Hostile::start(
        &env.dir.path().join("hostile-certs"),
        |request| match request {
            Request::Stat { .. } => hostile::error(
                ErrorCode::NotFound,
                "\x1b[2J\x1b]0;owned\x07gone\r\nferry: all good",
            ),
            _ => hostile::error(ErrorCode::Io, "no"),
        },
    );
    let out = env.run(&["stat", &server.host(), "/x"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_terminal_safe(&stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", show(&out));
    assert!(stderr(&out).contains("\\x1b[2J"), "{}", show(&out));
    let out = env.run(&["stat", &server.host(), "/x", "--json"]);
    let event: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(event["event"], "error");
    assert_eq!(event["code"], "not_found");
    assert_eq!(event["path"], "/x");
    assert!(event["message"].as_str().unwrap().contains("gone"));
}

/// The peak resident memory of a running process so far, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn endless_listings_and_trees_cost_bounded_memory_and_end_with_clear_errors() {
    let env = Env::new();
    const ENTRIES: usize = 2_000_000;
    let server = Hostile::start(
        &env.dir.path().join("hostile-certs"),
        |request| match request {
            Request::Stat { .. } => hostile::stat("d", Kind::Dir, 0),
            Request::List { path } if path == "/many" => {
                Reply::Listing(Box::new((0..ENTRIES / 128).map(|c| {
                    (0..128)
                        .map(|i| hostile::entry(&format!("f{:08}", c * 128 + i), Kind::File, 1))
                        .collect()
                })))
            }
            // Every other directory holds one directory: a tree without end.
            Request::List { .. } => {
                Reply::Listing(Box::new(std::iter::once(vec![hostile::entry(
                    "d",
                    Kind::Dir,
                    0,
                )])))
            }
            _ => hostile::error(ErrorCode::NotFound, "no"),
        },
    );
    // Two million entries stream to the screen: every one is printed, and
    // the client never holds them all (they would take hundreds of MiB).
    let mut ls = env
        .cmd()
        .args(["ls", &server.host(), "/many", "--accept-new"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = ls.id();
    let mut reader = ls.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        let mut lines = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return lines,
                Ok(n) => lines += buf[..n].iter().filter(|b| **b == b'\n').count(),
            }
        }
    });
    let mut peak = 0;
    // Against a hang, not a speed.
    let deadline = Instant::now() + Duration::from_secs(240);
    while ls.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ls hung");
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = ls.wait().unwrap();
    assert!(status.success());
    assert_eq!(counter.join().unwrap(), ENTRIES);
    println!(
        "peak resident memory of ls over {ENTRIES} entries: {} MiB",
        peak / 1024
    );
    assert!(peak > 0 && peak < 150 * 1024, "peak {peak} KiB");

    // A batch stops at its limit, with a clear error, before moving a byte.
    let err = env.fails(&[
        "get",
        "-r",
        &server.host(),
        "/many",
        "-o",
        "m/",
        "--max-files",
        "50000",
    ]);
    assert!(err.contains("more than 50000 entries"), "{err}");
    assert!(!env.local.join("m").exists() || names(&env.local.join("m")).is_empty());
    // An endless tree stops at the depth limit.
    let err = env.fails(&["get", "-r", &server.host(), "/deep", "-o", "deep/"]);
    assert!(err.contains("deeper than 256 directories"), "{err}");
    let err = env.fails(&["ls", &server.host(), "/**/x"]);
    assert!(err.contains("deeper than 256 directories"), "{err}");
}

#[test]
fn one_bad_name_in_a_listing_is_skipped_and_the_rest_transferred() {
    let env = Env::new();
    let server = Hostile::start(
        &env.dir.path().join("hostile-certs"),
        |request| match request {
            Request::Stat { path } if path == "/" => hostile::stat("/", Kind::Dir, 0),
            Request::List { .. } => Reply::Listing(Box::new(std::iter::once(vec![
                hostile::entry("good1.txt", Kind::File, 5),
                hostile::entry("../escape.txt", Kind::File, 5),
                hostile::entry("a/b.txt", Kind::File, 5),
                hostile::entry("nul\0.txt", Kind::File, 5),
                hostile::entry("good2.txt", Kind::File, 5),
            ]))),
            Request::Get { path, .. } if path == "/good1.txt" || path == "/good2.txt" => {
                Reply::File(path.as_bytes()[1..6].to_vec())
            }
            _ => hostile::error(ErrorCode::NotFound, "no"),
        },
    );
    let out = env.run(&["get", &server.host(), "/*.txt", "-o", "dl/"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(names(&env.local.join("dl")), ["good1.txt", "good2.txt"]);
    assert_eq!(
        std::fs::read(env.local.join("dl/good1.txt")).unwrap(),
        b"good1"
    );
    let err = stderr(&out);
    assert!(err.contains("skipped a bad name"), "{err}");
    assert!(
        err.contains("../escape.txt") && err.contains("a/b.txt"),
        "{err}"
    );
    assert!(!env.dir.path().join("escape.txt").exists());
    // And with -r.
    let out = env.run(&["get", "-r", &server.host(), "/", "-o", "tree/"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(names(&env.local.join("tree")), ["good1.txt", "good2.txt"]);
    assert!(
        stderr(&out).contains("skipped a bad name"),
        "{}",
        show(&out)
    );
}

#[test]
fn new_files_keep_the_source_bits_less_the_umask_and_links_are_reported() {
    let env = Env::new();
    let umask = crate::util::umask();
    let f = env.local_file("tool.sh", b"#!/bin/sh\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o751)).unwrap();
    env.ok(&["put", &env.host(), "tool.sh", "--to", "/"]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.root.join("tool.sh")), 0o751 & !umask);
    env.ok(&["get", &env.host(), "/tool.sh", "-o", "back/"]);
    assert_eq!(
        mode(&env.local.join("back/tool.sh")),
        0o751 & !umask & !umask
    );
    // A file being replaced keeps its own bits; -p sets them exactly.
    std::fs::set_permissions(
        env.root.join("tool.sh"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    env.ok(&["put", &env.host(), "tool.sh", "--to", "/"]);
    assert_eq!(mode(&env.root.join("tool.sh")), 0o600);
    env.ok(&["put", "-p", &env.host(), "tool.sh", "--to", "/"]);
    assert_eq!(mode(&env.root.join("tool.sh")), 0o751);

    // Links skipped by -r are reported, both ways; ls -l and stat show them.
    env.remote_file("tree/real.txt", b"r");
    std::os::unix::fs::symlink("real.txt", env.root.join("tree/link")).unwrap();
    std::os::unix::fs::symlink("nowhere", env.root.join("tree/dangling")).unwrap();
    let out = env.run(&["get", "-r", &env.host(), "/tree", "-o", "t/"]);
    assert!(out.status.success(), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains("/tree/link: skipped symbolic link to real.txt"),
        "{err}"
    );
    assert!(
        err.contains("/tree/dangling: skipped symbolic link to nowhere"),
        "{err}"
    );
    assert_eq!(names(&env.local.join("t/tree")), ["real.txt"]);
    std::os::unix::fs::symlink("real.txt", env.local.join("t/tree/locallink")).unwrap();
    let out = env.run(&["put", "-r", &env.host(), "t/tree", "--to", "/again"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        stderr(&out).contains("t/tree/locallink: skipped symbolic link to real.txt"),
        "{}",
        show(&out)
    );

    let out = env.ok(&["ls", "-l", &env.host(), "/tree"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with('l') && l.ends_with("link -> real.txt")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.ends_with("dangling -> nowhere")),
        "{out}"
    );
    let out = env.ok(&["stat", &env.host(), "/tree/link", "/tree/dangling"]);
    assert!(
        out.contains("kind: symlink to a file") && out.contains("target: real.txt"),
        "{out}"
    );
    assert!(out.contains("target: nowhere"), "{out}");
    let out = env.ok(&["ls", &env.host(), "/tree", "--json"]);
    assert!(out.contains(r#""target":"real.txt""#), "{out}");
}
