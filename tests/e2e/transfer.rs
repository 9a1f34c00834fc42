//! get and put: byte-exact files of any size, concurrent batches, trees,
//! and interruptions that must never leave half a file under a final name.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::util::{bytes, names, show, write, Env, Server};

fn same_file(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(
        x.len() == y.len() && x == y,
        "{} and {} differ ({} vs {} bytes)",
        a.display(),
        b.display(),
        x.len(),
        y.len()
    );
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn a_100_mib_file_goes_up_and_down_byte_exact() {
    let env = Env::new();
    let src = env.local_file("big.bin", &bytes(100 << 20, 1));
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    std::fs::File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_modified(old)
        .unwrap();

    let out = env.ok(&["put", &env.host(), "big.bin", "--to", "/"]);
    assert!(out.contains("uploaded 1 file"), "{out}");
    same_file(&src, &env.root.join("big.bin"));
    assert_eq!(
        mtime(&env.root.join("big.bin")),
        old,
        "upload keeps the modification time"
    );

    let out = env.ok(&["get", &env.host(), "/big.bin", "-o", "dl/"]);
    assert!(out.contains("downloaded 1 file"), "{out}");
    same_file(&src, &env.local.join("dl/big.bin"));
    assert_eq!(
        mtime(&env.local.join("dl/big.bin")),
        old,
        "download keeps the modification time"
    );
    assert_eq!(
        names(&env.local.join("dl")),
        ["big.bin"],
        "no temporary file left"
    );
    assert_eq!(names(&env.root), ["big.bin"]);
}

#[test]
fn a_glob_batch_downloads_concurrently_and_exactly() {
    let env = Env::new();
    // Sizes around the 512 KiB chunk boundary, empty and tiny files.
    let sizes = [
        0usize,
        1,
        100,
        4096,
        524_287,
        524_288,
        524_289,
        1 << 20,
        3_000_000,
    ];
    for i in 0..24 {
        env.remote_file(
            &format!("videos/clip{i:02}.mp4"),
            &bytes(sizes[i % sizes.len()], i as u64),
        );
    }
    env.remote_file("videos/notes.txt", b"not a video");
    env.remote_file("videos/.hidden.mp4", b"hidden");
    let out = env.ok(&["get", &env.host(), "videos/*.mp4", "-o", "dl", "-j", "6"]);
    assert!(out.contains("downloaded 24 files"), "{out}");
    let got = names(&env.local.join("dl"));
    assert_eq!(got.len(), 24, "{got:?}");
    for i in 0..24 {
        let name = format!("clip{i:02}.mp4");
        same_file(
            &env.root.join("videos").join(&name),
            &env.local.join("dl").join(&name),
        );
    }
}

#[test]
fn put_uploads_files_and_local_globs_into_a_directory() {
    let env = Env::new();
    env.local_file("a.bin", &bytes(700_000, 1));
    env.local_file("b.bin", &bytes(10, 2));
    for i in 0..20 {
        env.local_file(&format!("logs/{i}.log"), &bytes(1000 * i, i as u64));
    }
    env.local_file("logs/skip.txt", b"no");
    std::fs::create_dir(env.root.join("backups")).unwrap();
    let out = env.ok(&[
        "put",
        &env.host(),
        "a.bin",
        "b.bin",
        "logs/*.log",
        "--to",
        "backups/",
    ]);
    assert!(out.contains("uploaded 22 files"), "{out}");
    let got = names(&env.root.join("backups"));
    assert_eq!(got.len(), 22, "{got:?}");
    same_file(&env.local.join("a.bin"), &env.root.join("backups/a.bin"));
    for i in 0..20 {
        same_file(
            &env.local.join(format!("logs/{i}.log")),
            &env.root.join(format!("backups/{i}.log")),
        );
    }
    let err = env.fails(&["put", &env.host(), "a.bin", "--to", "/missing/"]);
    assert!(err.contains("/missing: no such file or directory"), "{err}");
}

#[test]
fn recursive_trees_of_500_files_copy_both_ways() {
    let env = Env::new();
    let mut count = 0;
    for a in 0..5 {
        for b in 0..10 {
            for c in 0..10 {
                let size = (a * 997 + b * 101 + c * 13) % 5000;
                write(
                    &env.local.join(format!("tree/d{a}/e{b}/f{c}.dat")),
                    &bytes(size, count),
                );
                count += 1;
            }
        }
    }
    std::fs::create_dir_all(env.local.join("tree/empty")).unwrap();
    let out = env.ok(&["put", "-r", &env.host(), "tree", "--to", "/"]);
    assert!(out.contains("uploaded 500 files"), "{out}");
    let out = env.ok(&["get", "-r", &env.host(), "/tree", "-o", "back/", "-j", "32"]);
    assert!(out.contains("downloaded 500 files"), "{out}");
    for a in 0..5 {
        for b in 0..10 {
            for c in 0..10 {
                let rel = format!("tree/d{a}/e{b}/f{c}.dat");
                same_file(&env.local.join(&rel), &env.root.join(&rel));
                same_file(&env.local.join(&rel), &env.local.join("back").join(&rel));
            }
        }
    }
    assert!(
        env.root.join("tree/empty").is_dir(),
        "empty directories come along"
    );
    assert!(env.local.join("back/tree/empty").is_dir());
    let err = env.fails(&["get", &env.host(), "/tree", "-o", "nor/"]);
    assert!(err.contains("/tree: is a directory (use -r)"), "{err}");
    let err = env.fails(&["put", &env.host(), "tree", "--to", "/"]);
    assert!(err.contains("tree: is a directory (use -r)"), "{err}");
}

/// Waits until `dir` holds an upload's temporary file with some bytes in it.
fn wait_for_partial(dir: &Path, deadline: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".ferry-part") && e.metadata().is_ok_and(|m| m.len() > (8 << 20)) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn sparse(path: &Path, len: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
}

/// Starts `ferry put` of a 2 GiB (sparse) local file over a small remote
/// `data.bin`, and waits until the server's temporary file is growing.
fn start_big_upload(env: &Env) -> std::process::Child {
    env.remote_file("data.bin", b"the old version");
    sparse(&env.local.join("data.bin"), 2 << 30);
    let child = env
        .cmd()
        .args([
            "put",
            &env.host(),
            "data.bin",
            "--to",
            "/",
            "--accept-new",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_partial(&env.root, Duration::from_secs(30)),
        "upload never started"
    );
    child
}

#[test]
fn an_interrupted_upload_leaves_the_old_file_readable_and_whole() {
    let env = Env::new();
    let child = start_big_upload(&env);

    // While the upload runs, readers get the previous version.
    env.ok(&["get", &env.host(), "/data.bin", "-o", "during/"]);
    assert_eq!(
        std::fs::read(env.local.join("during/data.bin")).unwrap(),
        b"the old version"
    );

    // Ctrl-C: the client cancels, the server drops its temporary file.
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert_eq!(
        std::fs::read(env.root.join("data.bin")).unwrap(),
        b"the old version"
    );
    // What arrived is kept, hidden, for the next upload to resume.
    let start = Instant::now();
    while names(&env.root).len() != 2 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(names(&env.root), [".data.bin.ferry-part", "data.bin"]);
}

#[test]
fn a_killed_uploader_never_replaces_the_file() {
    let env = Env::new();
    let mut child = start_big_upload(&env);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        std::fs::read(env.root.join("data.bin")).unwrap(),
        b"the old version"
    );
    // Whatever is left is a hidden temporary file, never the final name.
    for name in names(&env.root) {
        assert!(
            name == "data.bin" || name.ends_with(".ferry-part"),
            "{name}"
        );
    }
    // And the server carries on serving.
    let out = env.ok(&["ls", &env.host()]);
    assert!(out.contains("data.bin"), "{out}");
}

#[test]
fn a_download_cut_off_by_the_server_leaves_the_local_file_alone() {
    let mut env = Env::new();
    sparse(&env.root.join("data.bin"), 2 << 30);
    write(&env.local.join("dl/data.bin"), b"local copy");
    let child = env
        .cmd()
        .args([
            "get",
            &env.host(),
            "/data.bin",
            "-o",
            "dl",
            "--accept-new",
            "-q",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_partial(&env.local.join("dl"), Duration::from_secs(30)),
        "download never started"
    );
    env.server.stop_now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data.bin"), "{err}");
    assert_eq!(
        std::fs::read(env.local.join("dl/data.bin")).unwrap(),
        b"local copy"
    );
    assert_eq!(
        names(&env.local.join("dl")),
        [".data.bin.ferry-part", "data.bin"],
        "what arrived is kept, hidden, for a resume"
    );
}

/// SIGTERM stops the server gracefully: a download in flight completes.
#[test]
fn the_server_lets_transfers_in_flight_finish_on_shutdown() {
    let mut env = Env::new();
    // --limit keeps the download in flight for about 3 s after its first
    // 8 MiB whatever the machine's speed: well inside the server's 10 s of
    // grace, and never over before the signal.
    let data = bytes(64 << 20, 5);
    env.remote_file("big.bin", &data);
    let child = env
        .cmd()
        .args([
            "get",
            &env.host(),
            "/big.bin",
            "-o",
            "dl/",
            "--accept-new",
            "-q",
            "--limit",
            "16M",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::create_dir_all(env.local.join("dl")).unwrap();
    assert!(
        wait_for_partial(&env.local.join("dl"), Duration::from_secs(30)),
        "download never started"
    );
    Command::new("kill")
        .args(["-TERM", &env.server.child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        std::fs::read(env.local.join("dl/big.bin")).unwrap() == data,
        "complete and exact"
    );
    let status = env.server.child.wait().unwrap();
    assert!(status.success(), "server exits cleanly: {status:?}");
    let log = std::fs::read_to_string(&env.server.stderr).unwrap();
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
}

/// `--limit` holds a transfer to its rate on loopback too, where the round
/// trip is far too short for a window to do it: whether the client caps
/// what it receives or sends, or the server what it sends. Only a lower
/// bound on the time is checked (the cap cannot be beaten), and the rate
/// reached is printed.
#[test]
fn limit_caps_the_rate_on_loopback() {
    let mut env = Env::new();
    let data = bytes(6_000_000, 31);
    env.remote_file("f.bin", &data);
    env.local_file("up.bin", &data);
    fn timed(env: &Env, args: &[&str]) -> f64 {
        let start = Instant::now();
        env.ok(args);
        start.elapsed().as_secs_f64()
    }
    // 6 MB at 2 MB/s: 3 s, less at most the bucket's 100 ms of burst.
    let secs = timed(
        &env,
        &["get", &env.host(), "/f.bin", "-o", "a/", "--limit", "2M"],
    );
    println!("get --limit 2M: {:.2} MB/s", 6.0 / secs);
    assert!(secs >= 2.8, "6 MB in {secs:.2} s under --limit 2M");
    assert!(std::fs::read(env.local.join("a/f.bin")).unwrap() == data);
    let secs = timed(
        &env,
        &["put", &env.host(), "up.bin", "--to", "/", "--limit", "2M"],
    );
    println!("put --limit 2M: {:.2} MB/s", 6.0 / secs);
    assert!(secs >= 2.8, "6 MB in {secs:.2} s under --limit 2M");

    let port = env.server.port;
    let certs = env.server.certs.clone();
    env.server.stop_now();
    env.server = Server::start_with(
        &env.root,
        &certs,
        port,
        &env.dir.path().join("limited.log"),
        &["--limit", "2M"],
    );
    let secs = timed(&env, &["get", &env.host(), "/f.bin", "-o", "b/"]);
    println!("serve --limit 2M: {:.2} MB/s", 6.0 / secs);
    assert!(secs >= 2.8, "6 MB in {secs:.2} s from serve --limit 2M");
    assert!(std::fs::read(env.local.join("b/f.bin")).unwrap() == data);
}
