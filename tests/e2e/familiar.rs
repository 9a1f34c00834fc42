//! Issue 8, what users of scp, cp, sftp and rsync expect: `HOST:PATH`,
//! `ferry cp`, `-` for stdin and stdout, renames, `ls` flags, filters and
//! dry runs, host aliases, completions, JSON errors, the shell's `~` and
//! `cd -`, `serve`'s options, fast failure, and progress on a terminal.

use std::{
    io::Write,
    os::unix::fs::PermissionsExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::util::{bytes, json_lines, names, show, Env, FERRY};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn piped(env: &Env, args: &[&str], input: &[u8]) -> std::process::Output {
    crate::util::feed(env.cmd().args(args), input)
}

#[test]
fn host_path_forms_and_renames_for_one_source() {
    let env = Env::new();
    let h = env.host();
    env.remote_file("videos/a.mp4", &bytes(700_000, 1));
    env.remote_file("videos/b.mp4", b"b");
    let out = env.ok(&["ls", &format!("{h}:/videos")]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = env.ok(&["stat", &format!("{h}:/videos/a.mp4")]);
    assert!(out.contains("size: 700000"), "{out}");
    env.ok(&["mkdir", &format!("{h}:/made")]);
    assert!(env.root.join("made").is_dir());
    env.ok(&["mv", &format!("{h}:/videos/b.mp4"), "/made/b.mp4"]);
    assert!(env.root.join("made/b.mp4").exists());
    // One source to a name that is not a directory: the new name.
    env.ok(&["get", &format!("{h}:/videos/a.mp4"), "-o", "renamed.mp4"]);
    assert!(std::fs::read(env.local.join("renamed.mp4")).unwrap() == bytes(700_000, 1));
    // Several remote operands may repeat the server.
    env.ok(&[
        "get",
        &format!("{h}:/videos/a.mp4"),
        &format!("{h}:/made/b.mp4"),
        "-o",
        "both",
    ]);
    assert_eq!(names(&env.local.join("both")), ["a.mp4", "b.mp4"]);
    // put: HOST:PATH is the destination; one file to a new name.
    env.local_file("up.txt", b"up");
    env.ok(&["put", &format!("{h}:/made"), "up.txt"]);
    assert_eq!(std::fs::read(env.root.join("made/up.txt")).unwrap(), b"up");
    env.ok(&["put", &h, "up.txt", "--to", "/made/new-name.txt"]);
    assert_eq!(
        std::fs::read(env.root.join("made/new-name.txt")).unwrap(),
        b"up"
    );
    env.ok(&["rm", &format!("{h}:/made/new-name.txt")]);
    assert!(!env.root.join("made/new-name.txt").exists());
    // A directory with -r to a new name takes that name, as with cp -r.
    env.ok(&["get", "-r", &format!("{h}:/made"), "-o", "copy"]);
    assert_eq!(names(&env.local.join("copy")), ["b.mp4", "up.txt"]);
}

#[test]
fn cp_has_scps_shape_and_dash_is_stdin_or_stdout() {
    let env = Env::new();
    let h = env.host();
    let big = bytes(3_000_000, 7);
    env.remote_file("a.mp4", &big);
    env.remote_file("site/index.html", b"<html>");
    env.remote_file("site/css/a.css", b"css");
    env.ok(&["cp", &format!("{h}:/a.mp4"), "./b.mp4"]);
    assert!(std::fs::read(env.local.join("b.mp4")).unwrap() == big);
    std::fs::create_dir(env.local.join("into")).unwrap();
    env.ok(&[
        "cp",
        &format!("{h}:/a.mp4"),
        &format!("{h}:/site/index.html"),
        "into",
    ]);
    assert_eq!(names(&env.local.join("into")), ["a.mp4", "index.html"]);
    env.ok(&["cp", "-r", &format!("{h}:/site"), "./site-copy"]);
    assert_eq!(
        std::fs::read(env.local.join("site-copy/css/a.css")).unwrap(),
        b"css"
    );
    // Up: many into a directory, one to a new name, a tree with -r.
    env.local_file("p1.jpg", b"1");
    env.local_file("p2.jpg", b"2");
    std::fs::create_dir(env.root.join("photos")).unwrap();
    env.ok(&["cp", "p1.jpg", "p2.jpg", &format!("{h}:/photos/")]);
    assert_eq!(names(&env.root.join("photos")), ["p1.jpg", "p2.jpg"]);
    env.ok(&["cp", "p1.jpg", &format!("{h}:/photos/renamed.jpg")]);
    assert_eq!(
        std::fs::read(env.root.join("photos/renamed.jpg")).unwrap(),
        b"1"
    );
    env.ok(&["cp", "-r", "site-copy", &format!("{h}:/site2")]);
    assert_eq!(
        std::fs::read(env.root.join("site2/css/a.css")).unwrap(),
        b"css"
    );

    // `-` as the destination is stdout, byte for byte; so is `get -o -`.
    for args in [
        vec!["cp".to_owned(), format!("{h}:/a.mp4"), "-".into()],
        vec![
            "get".to_owned(),
            h.clone(),
            "/a.mp4".into(),
            "-o".into(),
            "-".into(),
        ],
    ] {
        let out = env.cmd().args(&args).arg("--accept-new").output().unwrap();
        assert!(out.status.success(), "{}", show(&out));
        assert!(out.stdout == big, "{} bytes", out.stdout.len());
    }
    let out = env.run(&["get", &h, "/photos/*.jpg", "-o", "-"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("exactly one file"),
        "{}",
        show(&out)
    );

    // Shapes cp does not take.
    for bad in [
        vec!["cp", "p1.jpg", "elsewhere.jpg"],
        vec!["cp", &format!("{h}:/a.mp4"), &format!("{h}:/b.mp4")],
        vec!["cp", "p1.jpg", &format!("{h}:/a.mp4"), "x/"],
    ] {
        let out = env.run(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", show(&out));
    }
}

#[test]
fn ls_takes_the_shells_flags_and_several_paths() {
    let env = Env::new();
    let h = env.host();
    // One byte, so that `sub/` sorts above it by size on any file system
    // (a directory's size is 10 bytes on btrfs here, 4096 on ext4).
    env.remote_file("small", &[1; 1]);
    env.remote_file("big", &[2; 3 << 20]);
    env.remote_file(".dot", b"hidden");
    env.remote_file("sub/inner", b"i");
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(env.root.join("big"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let order = |out: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect()
    };
    // The one-shot ls prints the long form; dot files only with -a.
    let out = env.ok(&["ls", &h]);
    assert_eq!(order(&out), ["big", "small", "sub/"], "{out}");
    assert!(
        out.lines()
            .all(|l| l.starts_with('-') || l.starts_with('d')),
        "{out}"
    );
    let out = env.ok(&["ls", "-a", &h]);
    assert_eq!(order(&out), [".dot", "big", "small", "sub/"], "{out}");
    let out = env.ok(&["ls", "-S", &h]);
    assert_eq!(order(&out), ["big", "sub/", "small"], "{out}");
    let out = env.ok(&["ls", "-t", &h]);
    assert_eq!(order(&out).last().map(String::as_str), Some("big"), "{out}");
    let out = env.ok(&["ls", "-Sr", &h]);
    assert_eq!(order(&out).last().map(String::as_str), Some("big"), "{out}");
    let out = env.ok(&["ls", "-lh", &h]);
    assert!(out.contains("3.0 MiB") && out.contains(" 1 B "), "{out}");
    let out = env.ok(&["ls", &h, "/sub", "/small"]);
    assert!(
        out.contains("/sub:") && out.contains("/small:") && out.contains("inner"),
        "{out}"
    );
    let out = env.ok(&["ls", "--help", &h]);
    assert!(out.contains("-h") && out.contains("--help"), "{out}");
    // The shell's ls takes them too.
    let out = piped(&env, &["shell", &h, "--accept-new"], b"ls -S -h\nls -a\n");
    assert!(out.status.success(), "{}", show(&out));
    assert!(text(&out.stdout).contains("3.0 MiB  big"), "{}", show(&out));
    assert!(text(&out.stdout).contains(".dot"), "{}", show(&out));
}

#[test]
fn exclude_include_and_dry_runs_change_nothing_they_should_not() {
    let env = Env::new();
    let h = env.host();
    for f in [
        "t/a.txt",
        "t/b.tmp",
        "t/cache/c.txt",
        "t/sub/d.txt",
        "t/sub/e.log",
    ] {
        env.remote_file(f, f.as_bytes());
        env.local_file(f, f.as_bytes());
    }
    env.ok(&[
        "get",
        "-r",
        &h,
        "/t",
        "-o",
        "x/",
        "--exclude",
        "*.tmp",
        "--exclude",
        "cache",
    ]);
    let mut got = Vec::new();
    for d in ["x/t", "x/t/sub"] {
        got.extend(
            names(&env.local.join(d))
                .into_iter()
                .map(|n| format!("{d}/{n}")),
        );
    }
    assert_eq!(
        got,
        ["x/t/a.txt", "x/t/sub", "x/t/sub/d.txt", "x/t/sub/e.log"]
    );
    std::fs::create_dir(env.root.join("up")).unwrap();
    env.ok(&[
        "put",
        "-r",
        &h,
        "t",
        "--to",
        "/up",
        "--include",
        "*.txt",
        "--exclude",
        "sub/e*",
    ]);
    assert_eq!(names(&env.root.join("up/t")), ["a.txt", "cache", "sub"]);
    assert_eq!(names(&env.root.join("up/t/sub")), ["d.txt"]);

    // Dry runs say what would happen and do nothing.
    let before = names(&env.root.join("t"));
    let out = env.ok(&["get", "-n", "-r", &h, "/t", "-o", "dry/"]);
    assert!(
        out.contains("would download /t/a.txt -> dry/t/a.txt"),
        "{out}"
    );
    assert!(out.contains("dry run: would download 5 files"), "{out}");
    assert!(!env.local.join("dry").exists());
    let out = env.ok(&["put", "--dry-run", &h, "t/a.txt", "--to", "/t"]);
    assert!(out.contains("would upload t/a.txt -> /t/a.txt"), "{out}");
    let out = env.ok(&["cp", "-n", "t/a.txt", &format!("{h}:/never.txt")]);
    assert!(out.contains("would upload t/a.txt -> /never.txt"), "{out}");
    assert!(!env.root.join("never.txt").exists());
    let out = env.ok(&["rm", "-n", &h, "/t/*.t*"]);
    assert!(
        out.contains("would remove /t/a.txt") && out.contains("would remove /t/b.tmp"),
        "{out}"
    );
    assert_eq!(names(&env.root.join("t")), before);
    let events = json_lines(&env.ok(&["rm", "-n", &h, "/t/a.txt", "--json"]));
    assert_eq!(events[0]["event"], "dry_run");
    assert_eq!(events[0]["path"], "/t/a.txt");
    let events = json_lines(&env.ok(&["get", "-n", &h, "/t/a.txt", "-o", "j/", "--json"]));
    assert_eq!(events[0]["action"], "download");
    assert_eq!(events.last().unwrap()["dry_run"], true);
    assert!(env.root.join("t/a.txt").exists());
    let out = env.run(&["get", &h, "/t/a.txt", "--exclude", "["]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn host_aliases_from_config_and_completion_scripts() {
    let env = Env::new();
    env.remote_file("sub/file.bin", b"aliased");
    let f = env.remote_file("x.sh", b"#!/bin/sh");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        env.home.join("config.toml"),
        format!(
            "[hosts.nas]\naddress = \"127.0.0.1\"\nport = {}\nfingerprint = \"{}\"\njobs = 2\npreserve = true\n",
            env.server.port, env.server.fingerprint
        ),
    )
    .unwrap();
    // No --accept-new: the alias pins the fingerprint.
    let out = env.cmd().args(["ls", "nas:/sub"]).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(text(&out.stdout).contains("file.bin"), "{}", show(&out));
    let out = env
        .cmd()
        .args(["get", "nas", "/x.sh", "-o", "x.sh"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let mode = std::fs::metadata(env.local.join("x.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the alias's preserve = true");
    let out = env
        .cmd()
        .args(["shell", "nas"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    // A wrong pin in the alias is refused.
    std::fs::write(
        env.home.join("config.toml"),
        format!(
            "[hosts.nas]\naddress = \"127.0.0.1\"\nport = {}\nfingerprint = \"SHA256:{}\"\n",
            env.server.port,
            "A".repeat(43)
        ),
    )
    .unwrap();
    let out = env.cmd().args(["ls", "nas"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    std::fs::write(env.home.join("config.toml"), "[hosts.nas]\nadress = 1\n").unwrap();
    let out = env.cmd().args(["ls", "nas"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stderr).contains("config.toml"), "{}", show(&out));

    // Completion scripts for three shells; bash loads its own.
    for shell in ["bash", "zsh", "fish"] {
        let out = env.ok(&["completions", shell]);
        assert!(
            out.contains("ferry") && out.contains("cp"),
            "{shell}: {out}"
        );
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <({FERRY} completions bash) && complete -p ferry"
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(text(&out.stdout).contains("ferry"), "{}", show(&out));
}

#[test]
fn json_reports_errors_as_events_and_the_json_shell_prints_only_json() {
    let env = Env::new();
    let h = env.host();
    let out = env.run(&["stat", &h, "/missing", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let e = &json_lines(&text(&out.stdout))[0];
    assert_eq!(
        (e["event"].as_str(), e["code"].as_str(), e["path"].as_str()),
        (Some("error"), Some("not_found"), Some("/missing"))
    );
    assert!(
        e["message"].as_str().unwrap().contains("no such file"),
        "{e}"
    );
    let out = env.run(&["ls", "no-such-host.invalid", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&text(&out.stdout))[0]["code"], "connect");
    let out = env.run(&["get", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines(&text(&out.stdout))[0]["code"], "usage");

    env.remote_file("a.txt", b"hello");
    let script = b"pwd\nhelp get\n-bogus\n-cd /nope\nls\nget a.txt\nput -\n";
    let out = piped(&env, &["shell", &h, "--accept-new", "--json"], script);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let events = json_lines(&text(&out.stdout));
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(
        kinds.contains(&"pwd") && kinds.contains(&"help") && kinds.contains(&"summary"),
        "{kinds:?}"
    );
    assert_eq!(
        events.iter().filter(|e| e["event"] == "error").count(),
        4,
        "{events:?}"
    );
}

#[test]
fn the_shell_expands_tilde_and_cd_dash_goes_back() {
    let env = Env::new();
    env.remote_file("one/a.txt", b"a");
    std::fs::create_dir(env.root.join("two")).unwrap();
    let home = env.dir.path().join("userhome");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("up.txt"), b"from home").unwrap();
    let script = b"cd /one\ncd /two\ncd -\npwd\nget a.txt -o ~/dl/\nput ~/up.txt --to /two\nlcd ~\nlpwd\n-cd -\ncd -\npwd\n";
    let mut cmd = env.cmd();
    cmd.args(["shell", &env.host(), "--accept-new"])
        .env("HOME", &home);
    let out = {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(script).unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(out.status.success(), "{}", show(&out));
    let stdout = text(&out.stdout);
    let after = |cmd: &str| -> String {
        let mut lines = stdout.lines().skip_while(|l| *l != format!("ferry> {cmd}"));
        lines.nth(1).unwrap_or_default().to_owned()
    };
    assert_eq!(after("cd -"), "/one", "{stdout}");
    assert_eq!(after("pwd"), "/one", "{stdout}");
    assert_eq!(std::fs::read(home.join("dl/a.txt")).unwrap(), b"a");
    assert_eq!(
        std::fs::read(env.root.join("two/up.txt")).unwrap(),
        b"from home"
    );
    assert_eq!(
        after("lpwd"),
        home.canonicalize().unwrap().display().to_string()
    );
}

/// A UDP port that was free a moment ago.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn serve_lists_only_its_options_takes_port_forms_and_can_be_quiet() {
    let env = Env::new();
    let out = Command::new(FERRY)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = text(&out.stdout);
    for client in [
        "--accept-new",
        "--fingerprint",
        "--json",
        "--connect-timeout",
    ] {
        assert!(!help.contains(client), "{client} in\n{help}");
    }
    assert!(
        help.contains("--listen") && help.contains("--quiet"),
        "{help}"
    );

    for listen in ["PORT", "localhost:PORT"] {
        let port = free_port();
        let log = env.dir.path().join(format!("serve-{port}.log"));
        let mut child = Command::new(FERRY)
            .arg("serve")
            .arg(&env.root)
            .args(["--listen", &listen.replace("PORT", &port.to_string()), "-q"])
            .arg("--certs")
            .arg(env.dir.path().join("certs"))
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let target = if listen == "PORT" {
            format!("127.0.0.1:{port}")
        } else {
            format!("localhost:{port}")
        };
        // Against a hang: the server needs a moment to bind.
        let deadline = Instant::now() + Duration::from_secs(20);
        let listed = loop {
            let out = env.run(&["ls", &target, "--connect-timeout", "2"]);
            if out.status.success() || Instant::now() > deadline {
                break out;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(listed.status.success(), "{listen}: {}", show(&listed));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.stdout.is_empty(),
            "-q prints no banner: {}",
            text(&out.stdout)
        );
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(!logged.contains("INFO"), "-q logs only warnings: {logged}");
    }
}

#[test]
fn nothing_listening_fails_at_once_and_probes_leave_a_real_server_alone() {
    let env = Env::new();
    let port = free_port();
    let start = Instant::now();
    let err = env.fails(&[
        "ls",
        &format!("127.0.0.1:{port}"),
        "--connect-timeout",
        "60",
    ]);
    assert!(err.contains("nothing listens on UDP port"), "{err}");
    // Against a hang, not a speed: without the probe this waits 60 s.
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );

    // Every command probes; a real server drops the probes and serves on.
    let data = bytes(20 << 20, 4);
    env.remote_file("big.bin", &data);
    let mut download = env
        .cmd()
        .args([
            "get",
            &env.host(),
            "/big.bin",
            "-o",
            "dl/",
            "--accept-new",
            "-q",
        ])
        .spawn()
        .unwrap();
    for _ in 0..10 {
        env.ok(&["ls", &env.host()]);
    }
    assert!(download.wait().unwrap().success());
    assert!(std::fs::read(env.local.join("dl/big.bin")).unwrap() == data);
    let log = std::fs::read_to_string(&env.server.stderr).unwrap();
    assert!(!log.contains("WARN") && !log.contains("ERROR"), "{log}");
}

/// Feeds a terminal's whole output to a screen and returns what it shows.
fn screen(raw: &str) -> String {
    let mut parser = vt100::Parser::new(24, 120, 0);
    parser.process(raw.as_bytes());
    parser.screen().contents()
}

/// What rexpect read, back as text: it keeps each byte as a char.
fn decode(read: &str) -> String {
    if read.chars().all(|c| (c as u32) < 256) {
        let bytes: Vec<u8> = read.chars().map(|c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        read.to_owned()
    }
}

#[test]
fn progress_uses_one_unit_system_cuts_long_names_and_leaves_no_stale_bar() {
    let env = Env::new();
    // Off a terminal: lines and summary in IEC units.
    env.remote_file("small.bin", &bytes(3 << 20, 3));
    let out = env.ok(&["get", &env.host(), "/small.bin", "-o", "dl/"]);
    assert!(out.contains("3.0 MiB") && out.contains("MiB/s"), "{out}");
    assert!(!out.contains("MB/s") && !out.contains("kB/s"), "{out}");

    // On a terminal: a long name cut in the middle beside its bar, the same
    // units, and after Ctrl-C no bar left on the screen.
    let long = format!(
        "{}-the-end.bin",
        "a-very-long-directory-and-file-name-".repeat(3)
    );
    let big = std::fs::File::create(env.root.join(&long)).unwrap();
    big.set_len(64 << 30).unwrap();
    drop(big);
    let mut cmd = Command::new(FERRY);
    cmd.env("FERRY_HOME", &env.home)
        .current_dir(&env.local)
        .args([
            "get",
            &env.host(),
            &format!("/{long}"),
            "-o",
            "dl2/",
            "--accept-new",
        ]);
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    let (before, bar) = p.exp_regex(r"-the-end\.bin[^\r\n]*MiB/s").unwrap();
    let drawn = decode(&format!("{before}{bar}"));
    assert!(
        drawn.contains("/a-very-long-…") && drawn.contains("file-name--the-end.bin"),
        "cut in the middle: {drawn:?}"
    );
    assert!(
        !drawn.contains("MB/s") && !drawn.contains("kB/s"),
        "{drawn:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    p.send_control('c').unwrap();
    let rest = decode(&p.exp_eof().unwrap());
    let shown = screen(&format!("{drawn}{rest}"));
    assert!(shown.contains("ferry: cancelled"), "{shown:?}");
    assert!(
        !shown.contains("total") && !shown.contains("ETA") && !shown.contains("the-end"),
        "a stale bar: {shown:?}"
    );
}

#[test]
fn the_help_is_complete() {
    let out = Command::new(FERRY).arg("--help").output().unwrap();
    let help = text(&out.stdout);
    for needed in [
        "serve",
        "shell",
        "ls",
        "stat",
        "get",
        "put",
        "cp",
        "rm",
        "mkdir",
        "rmdir",
        "mv",
        "forget",
        "completions",
        "id",
        "enroll",
        "allow",
        "revoke",
        "clients",
        "invite",
        "HOST:PATH",
        "config.toml",
        "Exit status",
        "--json",
    ] {
        assert!(help.contains(needed), "{needed} missing from\n{help}");
    }
}
