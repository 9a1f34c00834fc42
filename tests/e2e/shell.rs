//! `ferry shell`: batch scripts (from `-b FILE` and from a pipe) that use
//! every command and alias, the batch's failure rules, reconnecting after
//! the server restarts, and the interactive shell on a pseudo-terminal.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::util::{names, show, Env, Server};

/// A script that uses every shell command and every alias, checked by
/// [`check_every_command`]. `up.txt` and `up2.log` must exist locally;
/// `a.txt` and `sub/b.bin` remotely.
const EVERY_COMMAND: &str = r#"
# Comments and blank lines are skipped.

pwd
lpwd
ls
ls -l
lsr sub
DIR
list -l sub
lls
lsl -l
cd sub
pwd
crd ..
pwd
CHDIR /sub
pwd
cd
pwd
chdir "sub"
cd /
pwd
mkdir m1
mkrdir m2
MKDIR -p m3/deep
lmkdir l1
mkldir l2
lcd l1
lpwd
cld ..
lpwd
get a.txt
dl sub/b.bin -o l1
DOWNLOAD a.txt -o l2
DWLD '*.txt' -o l2/globbed
Download a.txt -o 'l2/with space/'
put up.txt
ul up.txt --to m1
UPLOAD *.log --to m2
UPLD up.txt --to m3/deep
upld up2.log --to /m3
stat a.txt
info sub/b.bin
mv up.txt moved.txt
MOVE moved.txt m3
move m3/moved.txt m3/renamed.txt
rm m1/up.txt
DELETE m3/renamed.txt
DELF m2/*.log
delete m3/up2.log
rmdir m1
RMDIR m2
help
help dl
?
-rm no-such-file
exit
mkdir after-exit
"#;

/// Splits batch output into (command, its output) at the echoed commands.
fn sections(stdout: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in stdout.lines() {
        if let Some(cmd) = line.strip_prefix("ferry> ") {
            out.push((cmd.to_owned(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        } else {
            panic!("output before the first command: {line:?}\n{stdout}");
        }
    }
    out
}

fn setup_every_command(env: &Env) {
    env.remote_file("a.txt", b"hello");
    env.remote_file("sub/b.bin", &[7u8; 1234]);
    env.local_file("up.txt", b"upload me");
    env.local_file("up2.log", b"log line\n");
}

fn check_every_command(env: &Env, out: &Output) {
    assert!(out.status.success(), "{}", show(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let sections = sections(&stdout);

    // Every line of the script ran and was echoed, in order, up to `exit`.
    let expected: Vec<&str> = EVERY_COMMAND
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take_while(|l| *l != "mkdir after-exit")
        .collect();
    let echoed: Vec<&str> = sections.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(echoed, expected, "{}", show(out));
    let output_of = |cmd: &str, nth: usize| -> &str {
        sections
            .iter()
            .filter(|(c, _)| c == cmd)
            .nth(nth)
            .map_or_else(
                || panic!("no {cmd:?} #{nth} in\n{stdout}"),
                |(_, o)| o.as_str(),
            )
    };

    // Remote and local working directories.
    let pwds: Vec<&str> = sections
        .iter()
        .filter(|(c, _)| c == "pwd")
        .map(|(_, o)| o.trim())
        .collect();
    assert_eq!(pwds, ["/", "/sub", "/", "/sub", "/", "/"], "{stdout}");
    let local = env.local.canonicalize().unwrap();
    let lpwds: Vec<PathBuf> = sections
        .iter()
        .filter(|(c, _)| c == "lpwd")
        .map(|(_, o)| PathBuf::from(o.trim()))
        .collect();
    assert_eq!(lpwds, [local.clone(), local.join("l1"), local.clone()]);

    // Listings: short ones show sizes, long ones kind, size and time.
    let ls = output_of("ls", 0);
    assert!(ls.lines().any(|l| l.trim() == "5  a.txt"), "{ls}");
    assert!(ls.lines().any(|l| l.trim() == "-  sub/"), "{ls}");
    let long = output_of("ls -l", 0);
    let a_line = long.lines().find(|l| l.ends_with(" a.txt")).expect(long);
    assert!(a_line.starts_with("-rw"), "{long}");
    assert!(a_line.contains(" 5  "), "{long}");
    assert!(a_line.contains("20"), "no year in {long}");
    assert!(
        long.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" sub/")),
        "{long}"
    );
    assert_eq!(output_of("lsr sub", 0).trim(), "1234  b.bin");
    assert!(output_of("DIR", 0).contains("a.txt"));
    let list = output_of("list -l sub", 0);
    assert!(
        list.starts_with("-rw") && list.trim_end().ends_with(" b.bin"),
        "{list}"
    );
    assert!(list.contains(" 1234  "), "{list}");
    let lls = output_of("lls", 0);
    assert!(lls.lines().any(|l| l.trim() == "9  up.txt"), "{lls}");
    assert!(lls.lines().any(|l| l.trim() == "9  up2.log"), "{lls}");
    let lsl = output_of("lsl -l", 0);
    assert!(
        lsl.lines()
            .any(|l| l.starts_with("-rw") && l.ends_with(" up.txt")),
        "{lsl}"
    );

    // Directories made on both sides.
    assert!(env.root.join("m3/deep").is_dir());
    assert!(!env.root.join("m1").exists(), "rmdir m1");
    assert!(!env.root.join("m2").exists(), "RMDIR m2");
    assert!(env.local.join("l1").is_dir() && env.local.join("l2").is_dir());

    // Downloads.
    assert_eq!(std::fs::read(env.local.join("a.txt")).unwrap(), b"hello");
    assert_eq!(
        std::fs::read(env.local.join("l1/b.bin")).unwrap(),
        vec![7u8; 1234]
    );
    assert_eq!(std::fs::read(env.local.join("l2/a.txt")).unwrap(), b"hello");
    assert_eq!(names(&env.local.join("l2/globbed")), ["a.txt"]);
    assert_eq!(
        std::fs::read(env.local.join("l2/with space/a.txt")).unwrap(),
        b"hello"
    );

    // Uploads, moves and removals.
    assert_eq!(names(&env.root), ["a.txt", "m3", "sub"]);
    assert_eq!(names(&env.root.join("m3")), ["deep"]);
    assert_eq!(
        std::fs::read(env.root.join("m3/deep/up.txt")).unwrap(),
        b"upload me"
    );
    assert!(
        !env.root.join("after-exit").exists(),
        "the batch went on after exit"
    );

    // stat and info.
    let stat = output_of("stat a.txt", 0);
    assert!(
        stat.contains("kind: file") && stat.contains("size: 5 "),
        "{stat}"
    );
    let info = output_of("info sub/b.bin", 0);
    assert!(info.contains("size: 1234 "), "{info}");

    // help lists every command once, with its aliases as aliases.
    let help = output_of("help", 0);
    for cmd in [
        "pwd", "lpwd", "ls", "lls", "cd", "lcd", "mkdir", "lmkdir", "rmdir", "rm", "mv", "stat",
        "get", "put", "help", "quit",
    ] {
        let rows = help
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(cmd))
            .count();
        assert_eq!(rows, 1, "{cmd} in\n{help}");
    }
    let get = help
        .lines()
        .find(|l| l.trim_start().starts_with("get "))
        .unwrap();
    assert!(get.contains("(aliases: dl, DOWNLOAD, DWLD)"), "{get}");
    for alias in [
        "lsl",
        "lsr",
        "cld",
        "crd",
        "mkldir",
        "mkrdir",
        "dl",
        "ul",
        "info",
        "DIR",
        "LIST",
        "CHDIR",
        "MKDIR",
        "RMDIR",
        "MOVE",
        "DELETE",
        "DELF",
        "DOWNLOAD",
        "DWLD",
        "UPLOAD",
        "UPLD",
        "DISCONNECT",
        "QUIT",
        "exit",
    ] {
        let rows = help
            .lines()
            .filter(|l| {
                l.split("(aliases: ")
                    .nth(1)
                    .is_some_and(|a| a.trim_end_matches(')').split(", ").any(|x| x == alias))
            })
            .count();
        assert_eq!(rows, 1, "alias {alias} in\n{help}");
        assert!(
            !help
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{alias} "))),
            "{alias} has its own row in\n{help}"
        );
    }
    assert!(output_of("help dl", 0).starts_with("get REMOTE..."));
    assert_eq!(output_of("?", 0), help);

    // The '-' line failed, said why, and the batch went on.
    assert!(stderr.contains("no-such-file"), "{stderr}");
}

#[test]
fn batch_file_runs_every_command_and_alias() {
    let env = Env::new();
    setup_every_command(&env);
    let script = env.dir.path().join("script.txt");
    std::fs::write(&script, EVERY_COMMAND).unwrap();
    let out = env
        .cmd()
        .args(["shell", &env.host(), "--accept-new", "-b"])
        .arg(&script)
        .output()
        .unwrap();
    check_every_command(&env, &out);
}

#[test]
fn piped_stdin_runs_every_command_and_alias() {
    let env = Env::new();
    setup_every_command(&env);
    let mut child = env
        .cmd()
        .args(["shell", &env.host(), "--accept-new"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(EVERY_COMMAND.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    check_every_command(&env, &out);
}

#[test]
fn quit_and_its_aliases_end_the_batch() {
    let env = Env::new();
    for (i, quit) in ["quit", "exit", "DISCONNECT", "QUIT", "disconnect", "Quit"]
        .iter()
        .enumerate()
    {
        let script = format!("mkdir before{i}\n{quit}\nmkdir after{i}\n");
        let out = batch(&env, &script);
        assert!(out.status.success(), "{quit}: {}", show(&out));
        assert!(env.root.join(format!("before{i}")).is_dir());
        assert!(
            !env.root.join(format!("after{i}")).exists(),
            "{quit} did not quit"
        );
    }
}

/// Runs `script` through `ferry shell` on stdin.
fn batch(env: &Env, script: &str) -> Output {
    let mut child = env
        .cmd()
        .args(["shell", &env.host(), "--accept-new"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn batch_stops_at_the_first_failure_unless_the_line_starts_with_a_dash() {
    let env = Env::new();
    env.remote_file("a.txt", b"hello");
    let script = "mkdir one\n\
                  -rmdir not-there\n\
                  -frobnicate\n\
                  -cd ..\n\
                  -cd a.txt\n\
                  -get 'unclosed\n\
                  mkdir two\n\
                  cd not-there\n\
                  mkdir three\n";
    let out = batch(&env, script);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(env.root.join("one").is_dir());
    assert!(env.root.join("two").is_dir());
    assert!(
        !env.root.join("three").exists(),
        "the batch went on after a failure"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let echoed: Vec<_> = sections(&stdout).into_iter().map(|(c, _)| c).collect();
    assert_eq!(
        echoed,
        [
            "mkdir one",
            "-rmdir not-there",
            "-frobnicate",
            "-cd ..",
            "-cd a.txt",
            "-get 'unclosed",
            "mkdir two",
            "cd not-there"
        ]
    );
    for said in [
        "not-there",
        "frobnicate: unknown command",
        "would leave the served root",
        "/a.txt: not a directory",
        "unterminated single quote",
        "batch stopped at line 8",
    ] {
        assert!(stderr.contains(said), "no {said:?} in\n{stderr}");
    }
    assert!(!stderr.contains('\x1b'), "escape codes in {stderr:?}");

    // A batch that succeeds exits 0, a clap usage error fails it.
    assert!(batch(&env, "pwd\nls\n").status.success());
    let out = batch(&env, "get -j 0 a.txt\npwd\n");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ferry> pwd"));
}

#[test]
fn json_and_quiet_pass_through() {
    let env = Env::new();
    env.remote_file("a.txt", b"hello");
    let out = env
        .cmd()
        .args(["shell", &env.host(), "--accept-new", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(b"ls\nstat a.txt\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // With --json, stdout carries only JSON (issue 8): the echoed commands
    // are events too.
    let all: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    let commands: Vec<&str> = all
        .iter()
        .filter(|o| o["event"] == "command")
        .filter_map(|o| o["line"].as_str())
        .collect();
    assert_eq!(commands, ["ls", "stat a.txt"], "{stdout}");
    let objects: Vec<&serde_json::Value> = all.iter().filter(|o| o.get("name").is_some()).collect();
    for o in &objects {
        assert_eq!(o["name"], "a.txt");
        assert_eq!(o["size"], 5);
    }

    let out = env
        .cmd()
        .args(["shell", &env.host(), "--accept-new", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(b"get a.txt\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ferry> get a.txt\n");
    assert_eq!(std::fs::read(env.local.join("a.txt")).unwrap(), b"hello");
}

/// Reads a child's stdout lines on a thread.
fn line_reader(stdout: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line equal to `want`; returns the lines before it.
fn wait_for(rx: &mpsc::Receiver<String>, want: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line == want => return seen,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no {want:?}; saw {seen:?}"),
        }
    }
}

#[test]
fn a_lost_connection_is_reported_and_the_next_command_reconnects() {
    let mut env = Env::new();
    env.remote_file("a.txt", b"hello");
    let stderr_path = env.dir.path().join("shell.err");
    let mut child = env
        .cmd()
        .args([
            "shell",
            &env.host(),
            "--accept-new",
            "--connect-timeout",
            "1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let rx = line_reader(child.stdout.take().unwrap());
    let mut send = |line: &str| writeln!(stdin, "{line}").unwrap();

    send("cd /");
    send("pwd");
    wait_for(&rx, "/");

    // The server goes away (gracefully, so the client hears of it).
    let (port, certs, log) = (
        env.server.port,
        env.server.certs.clone(),
        env.server.stderr.clone(),
    );
    Command::new("kill")
        .args(["-TERM", &env.server.child.id().to_string()])
        .status()
        .unwrap();
    env.server.child.wait().unwrap();

    // A command while it is down fails and says why; '-' carries on.
    send("-ls");
    send("pwd");
    wait_for(&rx, "/");

    // It comes back (same certificate, same port): the next command
    // reconnects.
    env.server = Server::start(&env.root, &certs, port, &log);
    send("ls");
    send("pwd");
    let listed = wait_for(&rx, "/");
    assert!(listed.iter().any(|l| l.trim() == "5  a.txt"), "{listed:?}");
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(stderr.contains("connection to 127.0.0.1"), "{stderr}");
    assert!(stderr.contains("was lost"), "{stderr}");
    assert!(stderr.contains("reconnecting to"), "{stderr}");
}

/// Files whose names end in `.ferry-part` under `dir`.
fn partial_files(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.ends_with(".ferry-part"))
        .collect()
}

#[test]
fn the_shell_on_a_terminal_completes_and_survives_ctrl_c() {
    let env = Env::new();
    std::fs::create_dir(env.root.join("sub")).unwrap();
    env.remote_file("sub/inside.txt", b"inside");
    // A sparse file far too big to finish during the test: the transfer is
    // surely still running when Ctrl-C comes, however fast the machine.
    let big = std::fs::File::create(env.root.join("big.bin")).unwrap();
    big.set_len(64 << 30).unwrap();
    drop(big);

    let host = env.host();
    let mut cmd = env.cmd();
    cmd.args(["shell", &host, "--accept-new"])
        .env("TERM", "xterm")
        // The pseudo-terminal, not env.cmd()'s /dev/null.
        .stdin(Stdio::inherit());
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
    let root_prompt = format!("ferry {host}:/> ");
    let sub_prompt = format!("ferry {host}:/sub> ");
    p.exp_string(&root_prompt).unwrap();

    // Tab completes the remote directory: `cd su` + TAB runs `cd sub/`.
    p.send("cd su").unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.exp_string("sub/").unwrap();
    p.send_line("").unwrap();
    p.exp_string(&sub_prompt).unwrap();
    p.send_line("pwd").unwrap();
    p.exp_regex(r"\n/sub\r?\n").unwrap();
    p.exp_string(&sub_prompt).unwrap();

    // Ctrl-C at the prompt drops the line and nothing else.
    p.send("garbage").unwrap();
    p.flush().unwrap();
    p.exp_string("garbage").unwrap();
    p.send_control('c').unwrap();
    p.exp_string(&sub_prompt).unwrap();
    p.send_line("pwd").unwrap();
    let said = p.exp_string(&sub_prompt).unwrap();
    assert!(said.contains("/sub"), "{said:?}");
    assert!(!said.contains("unknown command"), "{said:?}");

    // Ctrl-C during a transfer cancels it and the shell carries on.
    p.send_line("cd /").unwrap();
    p.exp_string(&root_prompt).unwrap();
    p.send_line("get big.bin").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let growing = partial_files(&env.local)
            .iter()
            .any(|n| std::fs::metadata(env.local.join(n)).is_ok_and(|m| m.len() > 0));
        if growing {
            break;
        }
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    p.send_control('c').unwrap();
    p.exp_string("cancelled").unwrap();
    p.exp_string(&root_prompt).unwrap();
    assert!(
        !env.local.join("big.bin").exists(),
        "a partial file under the final name"
    );
    // What arrived is kept, hidden, for the next `get` to resume.
    assert_eq!(partial_files(&env.local), [".big.bin.ferry-part"]);

    // Still usable, connection and all.
    p.send_line("pwd").unwrap();
    p.exp_regex(r"\n/\r?\n").unwrap();
    p.exp_string(&root_prompt).unwrap();
    p.send_line("ls sub").unwrap();
    p.exp_string("inside.txt").unwrap();
    p.exp_string(&root_prompt).unwrap();

    // Local paths complete too: `lcd loc` + TAB runs `lcd localdir/`.
    std::fs::create_dir(env.local.join("localdir")).unwrap();
    p.send("lcd loc").unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.exp_string("localdir/").unwrap();
    p.send_line("").unwrap();
    p.exp_string(&root_prompt).unwrap();
    p.send_line("lpwd").unwrap();
    p.exp_regex(r"/localdir\r?\n").unwrap();
    p.exp_string(&root_prompt).unwrap();

    p.send_line("quit").unwrap();
    p.exp_eof().unwrap();

    // The history was kept under FERRY_HOME.
    let history = std::fs::read_to_string(env.home.join("history")).unwrap();
    assert!(history.contains("cd sub/"), "{history}");
    assert!(history.contains("get big.bin"), "{history}");
}
