//! What transfers and listings print: plain lines off a terminal, bars on
//! one, JSON for scripts, the `--stats` CSV, and preserved file attributes.

use std::{os::unix::fs::PermissionsExt, time::Duration};

use crate::util::{bytes, json_lines, show, Env};

#[test]
fn off_a_terminal_output_is_plain_lines_without_escape_codes() {
    let env = Env::new();
    for i in 0..5 {
        env.remote_file(&format!("d/f{i}"), &bytes(100_000, i));
    }
    let out = env.run(&["get", &env.host(), "/d/*", "-o", "dl"]);
    assert!(out.status.success(), "{}", show(&out));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !stdout.contains('\x1b') && !stderr.contains('\x1b'),
        "{}",
        show(&out)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "one line per file and a summary: {stdout}");
    for i in 0..5 {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("/d/f{i}  "))),
            "{stdout}"
        );
    }
    assert!(
        lines[5].starts_with("downloaded 5 files, 488.3 KiB in "),
        "{stdout}"
    );

    let out = env.run(&["get", &env.host(), "/d/*", "/missing", "-o", "dl2", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "quiet: {}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/missing: no such file or directory"),
        "failures still reported: {stderr}"
    );
    assert_eq!(
        std::fs::read_dir(env.local.join("dl2")).unwrap().count(),
        5,
        "the rest still arrived"
    );
}

#[test]
fn json_output_parses_back() {
    let env = Env::new();
    env.remote_file("a.bin", &bytes(1234, 1));
    std::fs::create_dir(env.root.join("sub")).unwrap();
    let ls = json_lines(&env.ok(&["ls", &env.host(), "--json"]));
    assert_eq!(ls.len(), 2);
    assert_eq!(ls[0]["name"], "a.bin");
    assert_eq!(ls[0]["path"], "/a.bin");
    assert_eq!(ls[0]["kind"], "file");
    assert_eq!(ls[0]["size"], 1234);
    assert!(
        ls[0]["mtime"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{:?}",
        ls[0]
    );
    assert_eq!(ls[1]["kind"], "dir");

    let stat = json_lines(&env.ok(&["--json", "stat", &env.host(), "/a.bin"]));
    assert_eq!(stat[0]["size"], 1234);

    let get = json_lines(&env.ok(&["get", &env.host(), "/a.bin", "-o", "dl/", "--json"]));
    assert_eq!(get[0]["event"], "file");
    assert_eq!(get[0]["name"], "/a.bin");
    assert_eq!(get[0]["bytes"], 1234);
    assert_eq!(get.last().unwrap()["event"], "summary");
    assert_eq!(get.last().unwrap()["files"], 1);

    let out = env.run(&["get", &env.host(), "/nope", "-o", "dl/", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out.stdout);
    let failure = lines
        .iter()
        .find(|v| v["ok"] == false)
        .expect("a failure object");
    assert_eq!(failure["code"], "not_found");
    assert_eq!(lines.last().unwrap()["failed"], 1);

    env.local_file("up.txt", b"hello");
    let put = json_lines(&env.ok(&["put", &env.host(), "up.txt", "--json"]));
    assert_eq!(put.last().unwrap()["bytes"], 5);
}

#[test]
fn stats_csv_records_monotone_progress() {
    let env = Env::new();
    for i in 0..4 {
        env.remote_file(&format!("s/f{i}"), &bytes(20 << 20, i));
    }
    env.ok(&[
        "get",
        &env.host(),
        "/s/*",
        "-o",
        "dl",
        "--stats",
        "stats.csv",
        "-j",
        "2",
    ]);
    let csv = std::fs::read_to_string(env.local.join("stats.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("seconds,bytes,rate_bps,smoothed_bps,in_flight,rtt_ms")
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|f| f.parse().unwrap_or_else(|_| panic!("{l}")))
                .collect()
        })
        .collect();
    assert!(rows.len() >= 2, "{csv}");
    for pair in rows.windows(2) {
        // The final row may fall in the millisecond of the one before.
        assert!(pair[1][0] >= pair[0][0], "time never goes back: {csv}");
        assert!(pair[1][1] >= pair[0][1], "bytes never decrease: {csv}");
    }
    for row in &rows {
        assert_eq!(row.len(), 6);
        assert!(
            row[2] >= 0.0 && row[3] >= 0.0 && row[4] <= 2.0 && row[5] >= 0.0,
            "{row:?}"
        );
    }
    assert_eq!(
        rows.last().unwrap()[1],
        (80u64 << 20) as f64,
        "all bytes counted: {csv}"
    );
}

#[test]
fn modification_times_always_and_permissions_with_p() {
    let env = Env::new();
    let f = env.remote_file("script.sh", b"#!/bin/sh\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o750)).unwrap();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(t)
        .unwrap();

    env.ok(&["get", &env.host(), "/script.sh", "-o", "plain/"]);
    let m = std::fs::metadata(env.local.join("plain/script.sh")).unwrap();
    assert_eq!(m.modified().unwrap(), t);
    // Issue 8 changes this: a new file keeps the source's bits less the
    // umask, as with scp and sftp (it used to get 0644 whatever the source).
    assert_eq!(
        m.permissions().mode() & 0o777,
        0o750 & !crate::util::umask(),
        "without -p, the source's bits less the umask"
    );

    env.ok(&["get", "-p", &env.host(), "/script.sh", "-o", "kept/"]);
    let m = std::fs::metadata(env.local.join("kept/script.sh")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o750);

    std::fs::create_dir(env.root.join("up")).unwrap();
    env.ok(&["put", "-p", &env.host(), "kept/script.sh", "--to", "/up"]);
    let m = std::fs::metadata(env.root.join("up/script.sh")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o750);
    assert_eq!(m.modified().unwrap(), t);
}

#[test]
fn on_a_terminal_transfers_draw_progress_bars() {
    let env = Env::new();
    env.remote_file("big.bin", &bytes(64 << 20, 3));
    let mut cmd = std::process::Command::new(crate::util::FERRY);
    cmd.env("FERRY_HOME", &env.home)
        .current_dir(&env.local)
        .args(["get", &env.host(), "/big.bin", "-o", "dl/", "--accept-new"]);
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    let all = p.exp_eof().unwrap();
    assert!(all.contains("total"), "a total bar: {all:?}");
    assert!(
        all.contains('\x1b'),
        "drawn with terminal control codes: {all:?}"
    );
    assert!(
        all.contains("downloaded 1 file"),
        "then the summary: {all:?}"
    );
    assert_eq!(
        std::fs::read(env.local.join("dl/big.bin")).unwrap().len(),
        64 << 20
    );
}
