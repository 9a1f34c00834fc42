//! Trust on first use: pinning, refusal without a terminal, out-of-band
//! fingerprints, and a changed certificate.

use std::process::Stdio;

use crate::util::{show, Env, Server};

#[test]
fn unknown_server_is_refused_without_a_terminal_or_flag() {
    let env = Env::new();
    env.remote_file("f", b"x");
    let out = env.cmd().args(["ls", &env.host()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("authenticity of"), "{err}");
    assert!(
        err.contains(&env.server.fingerprint),
        "shows the fingerprint: {err}"
    );
    assert!(
        err.contains("--accept-new") && err.contains("--fingerprint"),
        "says what to do: {err}"
    );
    assert!(!env.home.join("known_hosts").exists(), "nothing pinned");
}

#[test]
fn accept_new_pins_then_plain_connections_work() {
    let env = Env::new();
    env.remote_file("f", b"x");
    // Global flags work before the subcommand too.
    let out = env
        .cmd()
        .args(["--accept-new", "ls", &env.host()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let known = std::fs::read_to_string(env.home.join("known_hosts")).unwrap();
    assert_eq!(
        known.trim(),
        format!("{} {}", env.host(), env.server.fingerprint)
    );
    let out = env.cmd().args(["ls", &env.host()]).output().unwrap();
    assert!(
        out.status.success(),
        "pinned server accepted: {}",
        show(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(" f"));
}

#[test]
fn fingerprint_flag_accepts_the_right_certificate_only() {
    let env = Env::new();
    let wrong = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
    let out = env
        .cmd()
        .args(["ls", &env.host(), "--fingerprint", wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(wrong) && err.contains(&env.server.fingerprint),
        "{err}"
    );
    assert!(!env.home.join("known_hosts").exists());

    let out = env
        .cmd()
        .args(["ls", &env.host(), "--fingerprint", &env.server.fingerprint])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let known = std::fs::read_to_string(env.home.join("known_hosts")).unwrap();
    assert!(known.contains(&env.server.fingerprint));

    let out = env
        .cmd()
        .args(["ls", &env.host(), "--fingerprint", "SHA256:nonsense!"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed fingerprint is a usage error"
    );
}

#[test]
fn a_changed_certificate_is_refused_loudly_until_forgotten() {
    let mut env = Env::new();
    env.remote_file("f", b"x");
    env.ok(&["ls", &env.host()]);
    let old = env.server.fingerprint.clone();
    let port = env.server.port;

    // The same address comes back with a new identity.
    env.server.stop_now();
    env.authorize(&env.dir.path().join("other-certs"));
    env.server = Server::start(
        &env.root,
        &env.dir.path().join("other-certs"),
        port,
        &env.dir.path().join("new.log"),
    );
    let new = env.server.fingerprint.clone();
    assert_ne!(old, new);

    // Even --accept-new does not override a changed pin.
    let out = env.run(&["ls", &env.host()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HAS CHANGED"), "{err}");
    assert!(
        err.contains(&old) && err.contains(&new),
        "both fingerprints: {err}"
    );
    assert!(
        err.contains(&format!("ferry forget {}", env.host())),
        "how to forget: {err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing was listed"
    );

    let out = env
        .cmd()
        .args(["forget", &env.host()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    env.ok(&["ls", &env.host()]);
    let known = std::fs::read_to_string(env.home.join("known_hosts")).unwrap();
    assert!(known.contains(&new) && !known.contains(&old), "{known}");
}

#[test]
fn server_keeps_its_certificate_across_restarts() {
    let mut env = Env::new();
    env.ok(&["ls", &env.host()]);
    let fp = env.server.fingerprint.clone();
    let port = env.server.port;
    let certs = env.server.certs.clone();
    env.server.stop_now();
    env.server = Server::start(&env.root, &certs, port, &env.dir.path().join("again.log"));
    assert_eq!(env.server.fingerprint, fp);
    let mode = std::fs::metadata(certs.join("server-key.pem")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    // Plain connection, no flags: the pin still matches.
    let out = env.cmd().args(["ls", &env.host()]).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
}

/// On a terminal an unknown server is shown with its fingerprint, and only a
/// `yes` pins it.
#[test]
fn on_a_terminal_the_user_decides() {
    let env = Env::new();
    env.remote_file("visible.txt", b"x");
    let session = |answer: &str| {
        let mut cmd = std::process::Command::new(crate::util::FERRY);
        cmd.env("FERRY_HOME", &env.home).args(["ls", &env.host()]);
        let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
        p.exp_string(&env.server.fingerprint).unwrap();
        p.exp_string("(yes/no)?").unwrap();
        p.send_line(answer).unwrap();
        let rest = p.exp_eof().unwrap();
        let status = p.process().wait().unwrap();
        (rest, status)
    };
    let (rest, status) = session("no");
    assert!(rest.contains("authenticity"), "{rest}");
    assert!(
        !matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    assert!(!env.home.join("known_hosts").exists());

    let (rest, status) = session("yes");
    assert!(rest.contains("visible.txt"), "{rest}");
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    let known = std::fs::read_to_string(env.home.join("known_hosts")).unwrap();
    assert!(known.contains(&env.server.fingerprint));
}
