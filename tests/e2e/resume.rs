//! Verified and resumed transfers: BLAKE3 end to end, partial files that a
//! re-run resumes (and refuses when they are not a prefix of the source),
//! skipping what is already there, `ferry sum`, reconnecting by itself, and
//! peers that send damaged bytes.

use std::{
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use ferry_proto::{Digest, ErrorCode, Kind, Request};

use crate::{
    hostile::{self, Hostile, Reply},
    util::{b3, bytes, file_events, json_lines, names, show, Env, Server},
};

const BIG: usize = 200 << 20;

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Starts `ferry ARGS --accept-new --json` in the background.
fn spawn(env: &Env, args: &[&str]) -> Child {
    env.cmd()
        .args(args)
        .args(["--accept-new", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills `child` (SIGKILL) once `partial` holds at least `at` bytes. A
/// deadline guards against a hang; a child that finished first leaves
/// nothing to resume, which fails the test loudly.
fn kill_when(child: &mut Child, partial: &Path, at: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while len(partial) < at {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the transfer ended ({status:?}) before it could be interrupted");
        }
        assert!(Instant::now() < deadline, "the transfer never got going");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Runs `ferry ARGS` and kills it half way through a BIG file, once
/// `partial` holds half of it.
fn interrupt(env: &Env, args: &[&str], partial: &Path) {
    let mut child = spawn(env, args);
    kill_when(&mut child, partial, (BIG / 2) as u64);
}

/// Checks the one file event of a re-run: resumed, and how much it sent.
fn resumed(out: &std::process::Output, size: usize) -> u64 {
    assert!(out.status.success(), "{}", show(out));
    let files = file_events(&out.stdout);
    assert_eq!(files.len(), 1, "{}", show(out));
    let f = &files[0];
    let from = f["resumed_from"].as_u64().unwrap();
    let sent = f["bytes"].as_u64().unwrap();
    assert!(from > 0, "resumed: {f}");
    assert_eq!(from + sent, size as u64, "{f}");
    assert!(
        sent as f64 <= 0.55 * size as f64,
        "the re-run sent {sent} of {size} bytes: {f}"
    );
    sent
}

#[test]
fn a_killed_download_resumes_and_sends_little_more_than_the_rest() {
    let env = Env::new();
    let data = bytes(BIG, 21);
    env.remote_file("big.bin", &data);
    let partial = env.local.join("dl/.big.bin.ferry-part");
    interrupt(
        &env,
        &["get", &env.host(), "/big.bin", "-o", "dl/", "-j", "1"],
        &partial,
    );
    assert!(
        !env.local.join("dl/big.bin").exists(),
        "no file under the final name"
    );
    assert!(len(&partial) >= (BIG / 2) as u64);

    let out = env.run(&["get", &env.host(), "/big.bin", "-o", "dl/", "--json"]);
    resumed(&out, BIG);
    let got = std::fs::read(env.local.join("dl/big.bin")).unwrap();
    assert!(got == data, "byte-exact");
    assert_eq!(file_events(&out.stdout)[0]["hash"], b3(&data));
    assert_eq!(
        names(&env.local.join("dl")),
        ["big.bin"],
        "the partial is gone"
    );
}

#[test]
fn a_killed_upload_resumes_and_sends_little_more_than_the_rest() {
    let env = Env::new();
    let data = bytes(BIG, 22);
    env.local_file("big.bin", &data);
    let partial = env.root.join(".big.bin.ferry-part");
    interrupt(&env, &["put", &env.host(), "big.bin", "-j", "1"], &partial);
    assert!(!env.root.join("big.bin").exists());
    // The server holds the killed upload (and its partial) until the
    // connection's idle timeout; the re-run would wait for it anyway, but
    // its wait is bounded, so let the order be explicit.
    env.server.wait_for_log("connection closed: timed out");

    let out = env.run(&["put", &env.host(), "big.bin", "--json"]);
    resumed(&out, BIG);
    assert!(std::fs::read(env.root.join("big.bin")).unwrap() == data);
    assert_eq!(file_events(&out.stdout)[0]["hash"], b3(&data));
    assert_eq!(names(&env.root), ["big.bin"]);
}

/// A byte of the part already there changes between runs (a damaged disk):
/// the prefix hashes differ, the file starts over and ends exact.
#[test]
fn a_damaged_partial_is_detected_and_the_file_starts_over() {
    let env = Env::new();
    let data = bytes(BIG, 23);
    env.remote_file("down.bin", &data);
    env.local_file("up.bin", &data);

    let partial = env.local.join("dl/.down.bin.ferry-part");
    interrupt(
        &env,
        &["get", &env.host(), "/down.bin", "-o", "dl/", "-j", "1"],
        &partial,
    );
    flip(&partial, 12_345);
    let out = env.run(&["get", &env.host(), "/down.bin", "-o", "dl/", "--json"]);
    restarted(&out, BIG);
    assert!(std::fs::read(env.local.join("dl/down.bin")).unwrap() == data);

    let partial = env.root.join(".up.bin.ferry-part");
    interrupt(&env, &["put", &env.host(), "up.bin", "-j", "1"], &partial);
    flip(&partial, 54_321);
    let out = env.run(&["put", &env.host(), "up.bin", "--json"]);
    restarted(&out, BIG);
    assert!(std::fs::read(env.root.join("up.bin")).unwrap() == data);
}

/// The source changes between the runs: the part already there is not a
/// prefix of it any more, so the file starts over, and the output says so.
#[test]
fn a_changed_source_starts_over() {
    let env = Env::new();
    let data = bytes(BIG, 24);
    env.remote_file("big.bin", &data);
    let partial = env.local.join("dl/.big.bin.ferry-part");
    interrupt(
        &env,
        &["get", &env.host(), "/big.bin", "-o", "dl/", "-j", "1"],
        &partial,
    );
    let changed = bytes(BIG, 25);
    env.remote_file("big.bin", &changed);

    let out = env.run(&["get", &env.host(), "/big.bin", "-o", "dl/"]);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("did not match the source: started over"),
        "{text}"
    );
    assert!(std::fs::read(env.local.join("dl/big.bin")).unwrap() == changed);
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

fn restarted(out: &std::process::Output, size: usize) {
    assert!(out.status.success(), "{}", show(out));
    let files = file_events(&out.stdout);
    assert_eq!(files.len(), 1, "{}", show(out));
    assert_eq!(files[0]["restarted"], true, "{}", files[0]);
    assert_eq!(files[0]["resumed_from"], 0);
    assert_eq!(files[0]["bytes"], size as u64);
    let summary = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(summary["restarted"], 1, "{summary}");
}

/// The server is killed in the middle of an upload and comes back: the
/// client reconnects by itself and finishes, resuming the partial.
#[test]
fn a_put_survives_a_server_restart_by_itself() {
    let mut env = Env::new();
    let data = bytes(BIG, 26);
    env.local_file("big.bin", &data);
    let partial = env.root.join(".big.bin.ferry-part");
    let child = spawn(&env, &["put", &env.host(), "big.bin", "-j", "1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while len(&partial) < (BIG / 3) as u64 {
        assert!(Instant::now() < deadline, "the upload never got going");
        std::thread::sleep(Duration::from_millis(1));
    }
    let port = env.server.port;
    let certs = env.server.certs.clone();
    env.server.stop_now();
    env.server = Server::start(&env.root, &certs, port, &env.dir.path().join("again.log"));

    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reconnecting"), "{err}");
    let files = file_events(&out.stdout);
    assert_eq!(files.len(), 1, "{}", show(&out));
    assert!(
        files[0]["resumed_from"].as_u64().unwrap() > 0,
        "{}",
        files[0]
    );
    assert!(std::fs::read(env.root.join("big.bin")).unwrap() == data);
    assert_eq!(names(&env.root), ["big.bin"]);
}

#[test]
fn re_runs_skip_what_is_already_there() {
    let env = Env::new();
    for i in 0..5 {
        env.remote_file(&format!("t/f{i}.bin"), &bytes(10_000 + i, i as u64));
    }
    env.ok(&["get", "-r", &env.host(), "/t", "-o", "dl/"]);
    // Everything is there: nothing is sent again.
    let out = env.run(&["get", "-r", &env.host(), "/t", "-o", "dl/", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let files = file_events(&out.stdout);
    assert_eq!(files.len(), 5);
    assert!(
        files
            .iter()
            .all(|f| f["skipped"] == true && f["bytes"] == 0),
        "{files:?}"
    );
    let summary = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(
        (summary["skipped"].as_u64(), summary["files"].as_u64()),
        (Some(5), Some(0))
    );

    // Same size and time but other bytes: only --checksum sees it.
    let local = env.local.join("dl/t/f3.bin");
    let mtime = std::fs::metadata(&local).unwrap().modified().unwrap();
    let mut changed = std::fs::read(&local).unwrap();
    changed[0] ^= 0xff;
    std::fs::write(&local, &changed).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&local)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let out = env.run(&["get", "-r", &env.host(), "/t", "-o", "dl/", "--json"]);
    let sent: Vec<_> = file_events(&out.stdout)
        .into_iter()
        .filter(|f| f["skipped"] == false)
        .collect();
    assert!(
        sent.is_empty(),
        "the quick check trusts size and time: {sent:?}"
    );
    let out = env.run(&[
        "get",
        "-r",
        &env.host(),
        "/t",
        "-o",
        "dl/",
        "--json",
        "--checksum",
    ]);
    let sent: Vec<_> = file_events(&out.stdout)
        .into_iter()
        .filter(|f| f["skipped"] == false)
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["name"], "/t/f3.bin");
    assert_eq!(std::fs::read(&local).unwrap(), bytes(10_003, 3));

    // A file named on its own is planned without a look at it; its
    // download's answer is enough to skip it.
    let out = env.run(&["get", &env.host(), "/t/f2.bin", "-o", "dl/t/", "--json"]);
    let files = file_events(&out.stdout);
    assert_eq!(files.len(), 1, "{}", show(&out));
    assert_eq!(
        (files[0]["skipped"].as_bool(), files[0]["bytes"].as_u64()),
        (Some(true), Some(0))
    );
    assert_eq!(files[0]["size"], 10_002);

    // Uploads skip the same way; a touched file goes again.
    env.ok(&["put", "-r", &env.host(), "dl/t", "--to", "/"]);
    let out = env.run(&["put", "-r", &env.host(), "dl/t", "--to", "/", "--json"]);
    let summary = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(summary["skipped"], 5, "{summary}");
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(env.local.join("dl/t/f1.bin"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let out = env.run(&["put", "-r", &env.host(), "dl/t", "--to", "/", "--json"]);
    let summary = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(
        (summary["skipped"].as_u64(), summary["files"].as_u64()),
        (Some(4), Some(1))
    );
    let plain = env.ok(&["put", "-r", &env.host(), "dl/t", "--to", "/"]);
    assert!(plain.contains("5 skipped (already there)"), "{plain}");
}

#[test]
fn sum_prints_what_b3sum_prints() {
    let env = Env::new();
    let a = bytes(3_000_000, 7);
    env.remote_file("d/a.bin", &a);
    env.remote_file("d/empty", b"");
    let out = env.ok(&["sum", &env.host(), "/d/a.bin", "/d/empty"]);
    assert_eq!(
        out,
        format!("{}  /d/a.bin\n{}  /d/empty\n", b3(&a), b3(b""))
    );
    let out = env.ok(&["sum", &env.host(), "/d/*", "--json"]);
    let lines = json_lines(out.as_bytes());
    assert_eq!(lines[0]["hash"], b3(&a));
    assert_eq!(lines[0]["size"], 3_000_000);
    let err = env.fails(&["sum", &env.host(), "/d", "/nope"]);
    assert!(
        err.contains("/d: is a directory") && err.contains("/nope: no such file"),
        "{err}"
    );
}

/// Partial files older than `--keep-partials` are removed when the server
/// starts; younger ones stay for a resume.
#[test]
fn the_server_removes_old_partial_files() {
    let mut env = Env::new();
    env.remote_file("sub/.old.bin.ferry-part", b"stale");
    env.remote_file(".young.bin.ferry-part", b"fresh");
    let old = std::time::SystemTime::now() - Duration::from_secs(3 * 3600);
    std::fs::File::options()
        .write(true)
        .open(env.root.join("sub/.old.bin.ferry-part"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let port = env.server.port;
    let certs = env.server.certs.clone();
    env.server.stop_now();
    env.server = Server::start_with(
        &env.root,
        &certs,
        port,
        &env.dir.path().join("again.log"),
        &["--keep-partials", "2h"],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.root.join("sub/.old.bin.ferry-part").exists() {
        assert!(
            Instant::now() < deadline,
            "the old partial was never removed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(env.root.join(".young.bin.ferry-part").exists());
    let out = env.run(&["serve", "--keep-partials", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// A server that flips a byte in flight, or sends a wrong hash: the client
/// refuses the file, renames nothing into place, and keeps no partial.
#[test]
fn a_download_from_a_lying_server_is_refused() {
    let env = Env::new();
    for (case, flip_byte) in [("flipped", true), ("wrong-hash", false)] {
        let data = bytes(300_000, 5);
        let server = Hostile::start(&env.dir.path().join(case), move |req| match req {
            Request::Stat { .. } => hostile::stat("x.bin", Kind::File, data.len() as u64),
            Request::Get { .. } => {
                let mut body = data.clone();
                let hash = if flip_byte {
                    body[1000] ^= 0x10;
                    Digest(*blake3::hash(&data).as_bytes())
                } else {
                    Digest([0x42; 32])
                };
                Reply::Hashed(body, hash)
            }
            _ => hostile::error(ErrorCode::Protocol, "not here"),
        });
        env.local_file("dl/x.bin", b"the good old copy");
        let out = env.run(&["get", &server.host(), "/x.bin", "-o", "dl/", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", show(&out));
        let failure = json_lines(&out.stdout)
            .into_iter()
            .find(|e| e["ok"] == false)
            .unwrap_or_else(|| panic!("{case}: {}", show(&out)));
        assert_eq!(failure["code"], "hash_mismatch", "{case}: {failure}");
        let message = failure["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("do not match the server's BLAKE3"),
            "{case}: {failure}"
        );
        assert_eq!(
            std::fs::read(env.local.join("dl/x.bin")).unwrap(),
            b"the good old copy",
            "{case}"
        );
        assert_eq!(
            names(&env.local.join("dl")),
            ["x.bin"],
            "{case}: no partial kept"
        );
        drop(server);
    }
}

/// A client that flips a byte after hashing: the real server refuses the
/// upload with `hash_mismatch` and the old file stays.
#[test]
fn an_upload_from_a_lying_client_is_refused() {
    use ferry_proto::{Digest, ErrorCode, PutRequest, Request, Response, Trailer};
    let env = Env::new();
    env.remote_file("x.bin", b"the good old copy");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = env.raw_client().await;
        let data = bytes(700_000, 9);
        let hash = Digest(*blake3::hash(&data).as_bytes());
        let (mut send, mut recv) = client.connection().open_bi().await.unwrap();
        let put = Request::Put(PutRequest {
            path: "/x.bin".into(),
            size: data.len() as u64,
            offset: 0,
            prefix: None,
            hash: true,
            mtime: None,
            mode: None,
            new_mode: None,
            size_unknown: false,
        });
        ferry_net::write_frame(&mut send, &put).await.unwrap();
        let mut body = data;
        body[123_456] ^= 0x80;
        send.write_all(&body).await.unwrap();
        ferry_net::write_frame(&mut send, &Trailer { hash })
            .await
            .unwrap();
        send.finish().unwrap();
        let answer: Response = ferry_net::read_frame(&mut recv).await.unwrap().unwrap();
        match answer {
            Response::Error(e) => assert_eq!(e.code, ErrorCode::HashMismatch, "{e}"),
            other => panic!("accepted a damaged upload: {other:?}"),
        }
        client.close().await;
    });
    assert_eq!(
        std::fs::read(env.root.join("x.bin")).unwrap(),
        b"the good old copy"
    );
    assert_eq!(names(&env.root), ["x.bin"], "no partial kept");
}

/// The shell resumes too: a `get` in a batch killed half way, then the same
/// batch again.
#[test]
fn the_shell_resumes_an_interrupted_get() {
    let env = Env::new();
    let data = bytes(BIG, 27);
    env.remote_file("big.bin", &data);
    std::fs::write(env.local.join("script"), "get big.bin -j 1\n").unwrap();
    let partial = env.local.join(".big.bin.ferry-part");
    interrupt(&env, &["shell", &env.host(), "-b", "script"], &partial);
    let out = env.run(&["shell", &env.host(), "-b", "script"]);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(resumed after ") && text.contains("; 1 resumed"),
        "{text}"
    );
    assert!(std::fs::read(env.local.join("big.bin")).unwrap() == data);
}
