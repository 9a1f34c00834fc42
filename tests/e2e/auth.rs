//! Client authentication through the real binary: identities, unknown
//! clients refused in words, `allow`/`revoke` (live, a shell cut off),
//! enrollment with invites (spent once, expiring, rate-limited), read-only
//! rights, `--allow-anyone`, `--read-only`, and the log naming the client.

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use ferry_client::{ConnectOptions, ErrorCode, RemotePath, RequestError, Trust};

use crate::util::{names, show, Env, Server, FERRY};

/// Another client of the same server, with its own FERRY_HOME.
struct Client {
    home: PathBuf,
    cwd: PathBuf,
}

impl Client {
    fn new(env: &Env, name: &str) -> Client {
        let home = env.dir.path().join(format!("home-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        Client {
            home,
            cwd: env.local.clone(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(FERRY);
        c.env("FERRY_HOME", &self.home)
            .env_remove("RUST_LOG")
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        c
    }

    /// `ferry ARGS --accept-new`.
    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).arg("--accept-new").output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "ferry {args:?}:\n{}", show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "ferry {args:?}:\n{}",
            show(&out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Its fingerprint, from `ferry id`.
    fn id(&self) -> String {
        let out = self.cmd().arg("id").output().unwrap();
        assert!(out.status.success(), "{}", show(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// Runs an operator command (`ferry allow …`) on the server's state
/// directory.
fn operator(env: &Env, args: &[&str]) -> Output {
    Command::new(FERRY)
        .args(args)
        .arg("--certs")
        .arg(&env.server.certs)
        .env("FERRY_HOME", env.dir.path().join("operator"))
        .output()
        .unwrap()
}

fn operator_ok(env: &Env, args: &[&str]) -> String {
    let out = operator(env, args);
    assert!(out.status.success(), "ferry {args:?}:\n{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Repeats `attempt` until it returns true, for at most 10 s: the server
/// applies changes to its files within about a second (a bound against a
/// hang, not a speed).
fn eventually(what: &str, mut attempt: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !attempt() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ferry invite ARGS` → (token, the server fingerprint in the command).
fn invite(env: &Env, args: &[&str]) -> (String, String) {
    let mut all = vec!["invite"];
    all.extend_from_slice(args);
    let out = operator_ok(env, &all);
    let line = out
        .lines()
        .find(|l| l.trim().starts_with("ferry enroll "))
        .unwrap_or_else(|| panic!("no enroll command in:\n{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[2], "HOST", "{line}");
    assert_eq!(words[4], "--fingerprint", "{line}");
    (words[3].to_owned(), words[5].to_owned())
}

#[test]
fn the_client_identity_is_made_once_and_kept_private() {
    let env = Env::new();
    let fp = crate::util::authorize(&env.home, &env.server.certs);
    let again = Client {
        home: env.home.clone(),
        cwd: env.local.clone(),
    }
    .id();
    assert_eq!(fp, again);
    assert!(fp.starts_with("SHA256:") && fp.len() > 40, "{fp}");
    assert_eq!(
        fp.len(),
        env.server.fingerprint.len(),
        "same format as the server's"
    );
    let key = std::fs::metadata(env.home.join("client-key.pem")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    // The identity is what the server sees: the harness allowed it by name.
    env.ok(&["ls", &env.host()]);
    let log = env.server.wait_for_log("connection opened");
    assert!(
        log.contains(&format!("tester ({fp}) at 127.0.0.1:")),
        "the log names the client: {log}"
    );
}

#[test]
fn an_unknown_client_is_refused_in_words_before_touching_any_file() {
    let env = Env::new();
    env.remote_file("secret.txt", b"s");
    let stranger = Client::new(&env, "stranger");
    let fp = stranger.id();
    std::fs::write(env.local.join("up.bin"), b"data").unwrap();

    for args in [
        vec!["ls", &env.host()],
        vec!["get", &env.host(), "/secret.txt"],
        vec!["put", &env.host(), "up.bin"],
        vec!["rm", &env.host(), "/secret.txt"],
    ] {
        let err = stranger.fails(&args);
        assert!(err.contains("does not know client"), "{args:?}: {err}");
        assert!(err.contains(&fp), "shows its own fingerprint: {err}");
        assert!(
            err.contains(&format!("ferry allow {fp}")) && err.contains("invite"),
            "says what to ask for: {err}"
        );
        assert!(
            !err.contains("handshake"),
            "not a bare handshake failure: {err}"
        );
    }
    // Nothing was read or written.
    assert!(!env.local.join("secret.txt").exists());
    assert_eq!(names(&env.root), ["secret.txt"]);
    assert_eq!(std::fs::read(env.root.join("secret.txt")).unwrap(), b"s");

    // The shell reports it at its first command.
    let out = stranger
        .cmd()
        .args(["shell", &env.host(), "--accept-new"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(b"ls\n")?;
            child.wait_with_output()
        })
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not know client") && err.contains(&fp),
        "{err}"
    );
    assert!(!out.status.success());

    let log = env.server.wait_for_log("refused");
    assert!(
        log.contains(&format!("{fp} at 127.0.0.1:")) && log.contains("not an authorized client"),
        "the server logs the refused fingerprint and address: {log}"
    );
}

#[test]
fn allow_and_revoke_apply_to_a_running_server_and_cut_off_a_live_shell() {
    let env = Env::new();
    env.remote_file("a.txt", b"hello");
    let bob = Client::new(&env, "bob");
    let fp = bob.id();
    bob.fails(&["ls", &env.host()]);

    let out = operator_ok(&env, &["allow", &fp, "--name", "bob"]);
    assert!(out.contains("allowed bob"), "{out}");
    // No restart: the server picks the change up by itself.
    eventually("bob is admitted", || {
        bob.run(&["ls", &env.host()]).status.success()
    });
    let listed = operator_ok(&env, &["clients"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("bob ") && l.contains(&fp) && l.contains("read-write")),
        "{listed}"
    );
    let json = Command::new(FERRY)
        .args(["clients", "--json", "--certs"])
        .arg(&env.server.certs)
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bob_json = lines.iter().find(|v| v["name"] == "bob").unwrap();
    assert_eq!(bob_json["fingerprint"], fp.as_str());
    assert_eq!(bob_json["rights"], "read-write");

    // A live shell, then the operator revokes bob.
    let err_path = env.dir.path().join("shell.err");
    let mut shell = bob
        .cmd()
        .args(["shell", &env.host()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = shell.stdin.take().unwrap();
    let stdout = shell.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_line = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(want) => return,
                Ok(_) => {}
                Err(_) => panic!("the shell never printed {want:?}"),
            }
        }
    };
    writeln!(stdin, "-ls").unwrap();
    writeln!(stdin, "pwd").unwrap();
    wait_line("a.txt");

    let out = operator_ok(&env, &["revoke", "bob"]);
    assert!(out.contains(&format!("revoked bob ({fp})")), "{out}");
    // The server closes bob's open connection on its own.
    env.server.wait_for_log("access revoked: connection closed");
    writeln!(stdin, "-ls").unwrap();
    writeln!(stdin, "-ls").unwrap();
    writeln!(stdin, "pwd").unwrap();
    wait_line("/");
    drop(stdin);
    let status = shell.wait().unwrap();
    assert!(status.success(), "every failing line was marked '-'");
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        err.contains("revoked the access"),
        "the live shell was cut off: {err}"
    );
    assert!(
        err.contains("does not know client"),
        "and cannot come back: {err}"
    );
    let log = env.server.log();
    assert!(
        log.contains(&format!("bob ({fp}) at 127.0.0.1:")),
        "the log names the revoked client: {log}"
    );

    // By hand, like authorized_keys: a line without a mark is read-write,
    // `read-only` makes it read-only.
    let file = env.server.certs.join("authorized_clients");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!("{fp} bob-by-hand read-only\n"));
    std::fs::write(&file, text).unwrap();
    eventually("bob is back by hand", || {
        bob.run(&["ls", &env.host()]).status.success()
    });
    let err = bob.fails(&["mkdir", &env.host(), "/new"]);
    assert!(err.contains("read-only"), "{err}");
    assert!(!env.root.join("new").exists());

    let out = operator(&env, &["revoke", "nobody"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn a_read_only_client_reads_and_is_refused_every_change() {
    let env = Env::new();
    env.remote_file("a.txt", b"hello");
    std::fs::create_dir(env.root.join("dir")).unwrap();
    env.local_file("up.bin", b"up");
    let reader = Client::new(&env, "reader");
    let fp = reader.id();
    operator_ok(&env, &["allow", &fp, "--name", "reader", "--read-only"]);
    eventually("reader is admitted", || {
        reader.run(&["ls", &env.host()]).status.success()
    });

    // Reading works.
    reader.ok(&["stat", &env.host(), "/a.txt"]);
    reader.ok(&["get", &env.host(), "/a.txt", "-o", "dl/"]);
    assert_eq!(std::fs::read(env.local.join("dl/a.txt")).unwrap(), b"hello");

    // Every change is refused with read_only.
    let out = reader.run(&["put", &env.host(), "up.bin", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(r#""code":"read_only""#), "{}", show(&out));
    for args in [
        vec!["rm", &env.host(), "/a.txt"],
        vec!["mv", &env.host(), "/a.txt", "/b.txt"],
        vec!["mkdir", &env.host(), "/new"],
        vec!["rmdir", &env.host(), "/dir"],
    ] {
        let err = reader.fails(&args);
        assert!(
            err.contains("this client has read-only access"),
            "{args:?}: {err}"
        );
    }
    let mut want = vec!["a.txt", "dir"];
    want.sort_unstable();
    assert_eq!(names(&env.root), want, "nothing changed");
    assert_eq!(std::fs::read(env.root.join("a.txt")).unwrap(), b"hello");
    // The read-write client is unaffected.
    env.ok(&["mkdir", &env.host(), "/new"]);
}

#[test]
fn enrollment_spends_the_token_once_and_it_expires() {
    let env = Env::new();
    env.remote_file("a.txt", b"hello");
    let alice = Client::new(&env, "alice");
    let fp = alice.id();

    // Another invite stays open throughout, so the server reads every
    // enrollment attempt and says what is wrong with the token.
    let (_spare, _) = invite(&env, &["--expires", "1h"]);

    // Without the server's fingerprint (or a pin) the token is not sent.
    let (token, server_fp) = invite(&env, &[]);
    assert_eq!(server_fp, env.server.fingerprint);
    let out = alice
        .cmd()
        .args(["enroll", &env.host(), &token])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--fingerprint"),
        "{}",
        show(&out)
    );
    // With a wrong one it never reaches the server.
    let wrong = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
    let out = alice
        .cmd()
        .args(["enroll", &env.host(), &token, "--fingerprint", wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(!env.server.log().contains("enroll"), "{}", env.server.log());

    let out = alice
        .cmd()
        .args([
            "enroll",
            &env.host(),
            &token,
            "--fingerprint",
            &server_fp,
            "--name",
            "alice",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("enrolled") && said.contains("alice") && said.contains("read-write"),
        "{said}"
    );
    // Enrolled: pinned and admitted, no flags needed.
    let listing = alice.cmd().args(["ls", &env.host()]).output().unwrap();
    assert!(listing.status.success(), "{}", show(&listing));
    let listed = operator_ok(&env, &["clients"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("alice ") && l.contains(&fp)),
        "{listed}"
    );
    let invites = std::fs::read_to_string(env.server.certs.join("invites")).unwrap();
    assert!(
        !invites.contains(&token),
        "only the hash is kept: {invites}"
    );

    // A second time, by someone else: refused.
    let carol = Client::new(&env, "carol");
    let out = carol
        .cmd()
        .args(["enroll", &env.host(), &token, "--fingerprint", &server_fp])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already used"), "{err}");
    carol.fails(&["ls", &env.host()]);

    // After expiry: refused.
    let (short, _) = invite(&env, &["--expires", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    let out = carol
        .cmd()
        .args(["enroll", &env.host(), &short, "--fingerprint", &server_fp])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expired"), "{err}");
    carol.fails(&["ls", &env.host()]);

    // A read-only invite enrolls a read-only client.
    let (ro, _) = invite(&env, &["--read-only", "--expires", "10m"]);
    let out = carol
        .cmd()
        .args(["enroll", &env.host(), &ro, "--fingerprint", &server_fp])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("read-only"),
        "{}",
        show(&out)
    );
    let err = carol.fails(&["mkdir", &env.host(), "/x"]);
    assert!(err.contains("read-only"), "{err}");

    // Bad durations are usage errors.
    for bad in ["soon", "-5m", "0s"] {
        let out = operator(&env, &["invite", "--expires", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", show(&out));
    }
    let log = env.server.log();
    assert!(log.contains(&format!("enrolled alice ({fp})")), "{log}");
}

/// With no invite open, an unknown client is closed right after its
/// handshake, without the server reading anything from it: a token is then
/// refused without being looked at.
#[test]
fn without_an_open_invite_no_token_is_even_read() {
    let env = Env::new();
    let (token, server_fp) = invite(&env, &[]);
    let alice = Client::new(&env, "alice");
    let enroll = |who: &Client| {
        who.cmd()
            .args(["enroll", &env.host(), &token, "--fingerprint", &server_fp])
            .output()
            .unwrap()
    };
    assert!(enroll(&alice).status.success());
    let bob = Client::new(&env, "bob");
    let out = enroll(&bob);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no open invite for this token"), "{err}");
    let log = env
        .server
        .wait_for_log(&format!("{} at 127.0.0.1", bob.id()));
    assert!(log.contains("refused: not an authorized client"), "{log}");
    assert!(!log.contains("wrong invite token"), "{log}");
}

#[test]
fn wrong_tokens_are_rate_limited() {
    let env = Env::new();
    let (token, server_fp) = invite(&env, &[]);
    let eve = Client::new(&env, "eve");
    let enroll = |token: &str| {
        eve.cmd()
            .args(["enroll", &env.host(), token, "--fingerprint", &server_fp])
            .output()
            .unwrap()
    };
    for i in 0..5 {
        // The first starts like an option (as a token an older ferry made
        // may): it is still a token, and goes to the server.
        let guess = if i == 0 {
            "-dguess".into()
        } else {
            format!("guess{i}")
        };
        let out = enroll(&guess);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not valid"), "{err}");
    }
    // The sixth, even the right one, waits out the window.
    let out = enroll(&token);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("too many wrong invite tokens"), "{err}");
    eve.fails(&["ls", &env.host()]);
    let log = env.server.log();
    assert!(log.contains("wrong invite token from 127.0.0.1"), "{log}");
}

#[test]
fn a_fresh_server_prints_an_invite_that_enrolls_its_first_client() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("first.txt"), b"1").unwrap();
    let server = Server::start(&root, &dir.path().join("certs"), 0, &dir.path().join("log"));
    let banner = server.banner.join("\n");
    assert!(banner.contains("no client is authorized yet"), "{banner}");
    let line = server
        .banner
        .iter()
        .find(|l| l.trim().starts_with("ferry enroll "))
        .unwrap_or_else(|| panic!("{banner}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[2], format!("127.0.0.1:{}", server.port), "{line}");
    assert_eq!(
        words[5], server.fingerprint,
        "next to its fingerprint: {line}"
    );

    // Pasted as printed on a new client.
    let home = dir.path().join("home");
    let out = Command::new(FERRY)
        .args(&words[1..])
        .env("FERRY_HOME", &home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let out = Command::new(FERRY)
        .args(["ls", &format!("127.0.0.1:{}", server.port)])
        .env("FERRY_HOME", &home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("first.txt"));
}

#[test]
fn allow_anyone_admits_clients_with_or_without_a_certificate() {
    let env = Env::new();
    env.remote_file("a.txt", b"hello");
    let dir = env.dir.path();
    let open = Server::start_with(
        &env.root,
        &dir.join("open-certs"),
        0,
        &dir.join("open.log"),
        &["--allow-anyone"],
    );
    let banner = open.banner.join("\n");
    assert!(
        banner.contains("WARNING") && banner.contains("ANYONE who can reach UDP port"),
        "says so loudly: {banner}"
    );
    assert!(
        !banner.contains("ferry enroll"),
        "no invite needed: {banner}"
    );
    let host = format!("127.0.0.1:{}", open.port);
    let stranger = Client::new(&env, "stranger");
    stranger.ok(&["ls", &host]);
    env.local_file("up.txt", b"up");
    stranger.ok(&["put", &host, "up.txt"]);
    assert_eq!(std::fs::read(env.root.join("up.txt")).unwrap(), b"up");

    // A client without any certificate, through the library.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let no_cert = |host: &str| {
        rt.block_on(async {
            let client = ferry_client::connect(
                &host.parse().unwrap(),
                &ConnectOptions {
                    known_hosts: dir.join("nocert_known_hosts"),
                    trust: Trust::AcceptNew,
                    timeout: Duration::from_secs(10),
                    identity: None,
                    transport: Default::default(),
                },
            )
            .await
            .unwrap();
            let result = client.stat(&RemotePath::parse("/a.txt").unwrap()).await;
            client.close().await;
            result
        })
    };
    assert_eq!(no_cert(&host).unwrap().size, 5);
    // The usual server refuses it, in words.
    match no_cert(&env.host()) {
        Err(RequestError::Refused(e)) => {
            assert_eq!(e.code, ErrorCode::Unauthorized);
            assert!(e.message.contains("present a certificate"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_read_only_server_refuses_every_change_from_everyone() {
    let env = Env::new();
    env.remote_file("a.txt", b"hello");
    env.local_file("up.txt", b"up");
    let dir = env.dir.path();
    env.authorize(&dir.join("ro-certs"));
    let ro = Server::start_with(
        &env.root,
        &dir.join("ro-certs"),
        0,
        &dir.join("ro.log"),
        &["--read-only"],
    );
    assert!(
        ro.banner.join("\n").contains("read-only"),
        "{:?}",
        ro.banner
    );
    let host = format!("127.0.0.1:{}", ro.port);
    env.ok(&["get", &host, "/a.txt", "-o", "dl"]);
    let err = env.fails(&["put", &host, "up.txt"]);
    assert!(err.contains("this server is read-only"), "{err}");
    for args in [
        vec!["rm", &host, "/a.txt"],
        vec!["mv", &host, "/a.txt", "/b.txt"],
        vec!["mkdir", &host, "/d"],
    ] {
        let err = env.fails(&args);
        assert!(err.contains("this server is read-only"), "{args:?}: {err}");
    }
    assert_eq!(names(&env.root), ["a.txt"]);

    // Even with --allow-anyone.
    let both = Server::start_with(
        &env.root,
        &dir.join("both-certs"),
        0,
        &dir.join("both.log"),
        &["--allow-anyone", "--read-only"],
    );
    let host = format!("127.0.0.1:{}", both.port);
    let stranger = Client::new(&env, "stranger");
    stranger.ok(&["ls", &host]);
    let err = stranger.fails(&["put", &host, "up.txt"]);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(names(&env.root), ["a.txt"]);
}

/// The operator's commands share the state directory with a running
/// server; a bad fingerprint or name is a clear error.
#[test]
fn operator_commands_check_what_they_are_given() {
    let env = Env::new();
    let out = operator(&env, &["allow", "SHA256:nonsense!"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let fp = Client::new(&env, "x").id();
    let out = operator(&env, &["allow", &fp, "--name", "has space"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a usable client name"));
    let out = operator(&env, &["allow", &fp, "--name", "tester"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("taken"),
        "{}",
        show(&out)
    );
    // A damaged line is reported, and the rest still counts.
    let file = env.server.certs.join("authorized_clients");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("SHA256:broken someone\n");
    std::fs::write(&file, text).unwrap();
    let out = operator(&env, &["clients"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is ignored"),
        "{}",
        show(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("tester"),
        "{}",
        show(&out)
    );
    env.server.wait_for_log("ignored");
    env.ok(&["ls", &env.host()]);
}
