//! Bad input of every kind: a clear error, a non-zero exit, no data lost,
//! and a server that keeps serving everyone else.

use std::{net::UdpSocket, time::Duration};

use ferry_proto::{ErrorCode, PutRequest, Request, Response};

use crate::util::{is_root, names, show, stalled_upload, Env};

#[test]
fn unknown_host_port_and_absent_server() {
    let env = Env::new();
    let err = env.fails(&["ls", "no-such-host.invalid"]);
    assert!(
        err.contains("cannot resolve host 'no-such-host.invalid'"),
        "{err}"
    );

    // (`127.0.0.1:x` is now HOST:PATH, the path `x`, as issue 8 asks.)
    for bad in ["127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:99999:/x"] {
        let out = env.run(&["ls", bad]);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not HOST[:PORT]"),
            "{}",
            show(&out)
        );
    }

    // A port nobody listens on.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = env.fails(&["ls", &format!("127.0.0.1:{port}"), "--connect-timeout", "1"]);
    // The host answers port unreachable, so this fails at once rather
    // than after the timeout (issue 8).
    assert!(
        err.contains("nothing listens on UDP port") && err.contains("ferry serve"),
        "{err}"
    );
}

#[test]
fn paths_that_try_to_leave_the_root() {
    let env = Env::new();
    let outside = env.dir.path().join("outside.txt");
    std::fs::write(&outside, "secret").unwrap();
    std::os::unix::fs::symlink(&outside, env.root.join("link")).unwrap();
    std::os::unix::fs::symlink(env.dir.path(), env.root.join("updir")).unwrap();

    let err = env.fails(&["get", &env.host(), "../outside.txt"]);
    assert!(err.contains("'..' would leave the served root"), "{err}");
    let err = env.fails(&["ls", &env.host(), "/../.."]);
    assert!(err.contains("'..' would leave the served root"), "{err}");
    // Absolute paths are relative to the served root.
    let err = env.fails(&["get", &env.host(), "/etc/passwd"]);
    assert!(
        err.contains("/etc/passwd: no such file or directory"),
        "{err}"
    );
    // Symlinks that point out are refused.
    let err = env.fails(&["get", &env.host(), "/link"]);
    assert!(
        err.contains("/link: leads outside the served root"),
        "{err}"
    );
    let err = env.fails(&["get", &env.host(), "/updir/outside.txt"]);
    assert!(err.contains("leads outside the served root"), "{err}");
    let err = env.fails(&["put", &env.host(), "/dev/null", "--to", "/updir"]);
    assert!(err.contains("leads outside the served root"), "{err}");
    let err = env.fails(&["mkdir", &env.host(), "/updir/new"]);
    assert!(err.contains("leads outside the served root"), "{err}");
    assert!(!env.dir.path().join("new").exists());
    assert!(!env.local.join("outside.txt").exists());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret");
}

#[test]
fn directories_where_files_are_expected_and_back() {
    let env = Env::new();
    std::fs::create_dir_all(env.root.join("dir/x.bin")).unwrap();
    env.remote_file("file", b"f");
    env.local_file("x.bin", b"local");
    // A remote directory in the way of an upload.
    let err = env.fails(&["put", &env.host(), "x.bin", "--to", "/dir"]);
    assert!(err.contains("/dir/x.bin: is a directory"), "{err}");
    // A remote file where a directory is expected.
    // (A trailing slash says a directory is meant; without it, one file
    // to an existing file's name replaces it, as with scp.)
    let err = env.fails(&["put", &env.host(), "x.bin", "--to", "/file/"]);
    assert!(err.contains("/file: not a directory"), "{err}");
    let err = env.fails(&["ls", &env.host(), "/file/x"]);
    assert!(err.contains("not a directory"), "{err}");
    // A local directory in the way of a download.
    std::fs::create_dir_all(env.local.join("dl/file")).unwrap();
    let err = env.fails(&["get", &env.host(), "/file", "-o", "dl"]);
    assert!(err.contains("dl/file: is a directory"), "{err}");
    assert_eq!(std::fs::read(env.root.join("file")).unwrap(), b"f");
}

#[test]
fn unreadable_local_files_and_unwritable_destinations() {
    let env = Env::new();
    env.remote_file("r.txt", b"remote");
    let err = env.fails(&["put", &env.host(), "missing.bin"]);
    assert!(
        err.contains("missing.bin: No such file or directory"),
        "{err}"
    );
    // A socket cannot be opened for reading, even by root.
    let sock = env.local.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let err = env.fails(&["put", &env.host(), "sock"]);
    assert!(err.contains("sock:"), "{err}");
    assert_eq!(names(&env.root), ["r.txt"], "nothing half-uploaded");

    // A destination under a regular file, and one on a read-only filesystem.
    env.local_file("plain", b"p");
    let err = env.fails(&["get", &env.host(), "/r.txt", "-o", "plain/sub/"]);
    assert!(err.contains("plain/sub"), "{err}");
    let err = env.fails(&["get", &env.host(), "/r.txt", "-o", "/proc/ferry-test/"]);
    assert!(err.contains("/proc/ferry-test"), "{err}");

    if !is_root() {
        let locked = env.local_file("locked.bin", b"secret");
        std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .unwrap();
        let err = env.fails(&["put", &env.host(), "locked.bin"]);
        assert!(err.contains("Permission denied"), "{err}");
        let ro = env.local.join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        let err = env.fails(&["get", &env.host(), "/r.txt", "-o", "ro"]);
        assert!(err.contains("Permission denied"), "{err}");
    }
    // The server kept serving throughout.
    env.ok(&["ls", &env.host()]);
}

/// Raw protocol abuse on one connection, while another stream of the same
/// connection downloads a file: every bad stream gets its own error and the
/// download completes intact.
#[test]
fn malformed_and_oversized_requests_only_fail_their_own_stream() {
    let env = Env::new();
    let big = crate::util::bytes(6 << 20, 9);
    env.remote_file("big.bin", &big);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = env.raw_client().await;
        let conn = client.connection().clone();

        // A download that stays open while the bad requests arrive.
        let (mut dsend, mut drecv) = conn.open_bi().await.unwrap();
        ferry_net::write_frame(
            &mut dsend,
            &Request::Get {
                path: "/big.bin".into(),
                offset: 0,
                prefix: None,
                hash: false,
            },
        )
        .await
        .unwrap();
        dsend.finish().unwrap();
        let head: Response = ferry_net::read_frame(&mut drecv).await.unwrap().unwrap();
        assert!(
            matches!(head, Response::File { size, .. } if size == big.len() as u64),
            "{head:?}"
        );
        let mut first = vec![0u8; 1000];
        drecv.read_exact(&mut first).await.unwrap();

        async fn raw(conn: &quinn::Connection, bytes: &[u8], finish: bool) -> Response {
            let (mut send, mut recv) = conn.open_bi().await.unwrap();
            send.write_all(bytes).await.unwrap();
            if finish {
                send.finish().unwrap();
            }
            let answer = tokio::time::timeout(
                Duration::from_secs(10),
                ferry_net::read_frame::<Response>(&mut recv),
            )
            .await
            .expect("the server answers")
            .expect("readable answer");
            answer.expect("an answer frame")
        }
        fn code(r: &Response) -> ErrorCode {
            match r {
                Response::Error(e) => e.code,
                other => panic!("expected an error, got {other:?}"),
            }
        }

        // Half a header, then silence: answered once the server gives up.
        let (mut stalled_send, mut stalled_recv) = conn.open_bi().await.unwrap();
        stalled_send
            .write_all(b"\x00\x00\x00\x40abc")
            .await
            .unwrap();
        let stalled = tokio::spawn(async move {
            let answer = tokio::time::timeout(
                Duration::from_secs(30),
                ferry_net::read_frame::<Response>(&mut stalled_recv),
            )
            .await;
            drop(stalled_send);
            answer
        });

        // Announces a 1 MB header: refused before it is read.
        let r = raw(&conn, &1_000_000u32.to_be_bytes(), false).await;
        assert_eq!(code(&r), ErrorCode::TooLarge, "{r:?}");
        let r = raw(&conn, &u32::MAX.to_be_bytes(), false).await;
        assert_eq!(code(&r), ErrorCode::TooLarge, "{r:?}");
        // Not CBOR, CBOR of the wrong shape, an unknown op, a cut-off frame.
        let r = raw(&conn, b"\x00\x00\x00\x03abc", true).await;
        assert_eq!(code(&r), ErrorCode::Protocol, "{r:?}");
        let r = raw(&conn, b"\x00\x00\x00\x01\x05", true).await;
        assert_eq!(code(&r), ErrorCode::Protocol, "{r:?}");
        let r = raw(&conn, b"\x00\x00\x00\x0b\xa1\x62op\x67unknown", true).await;
        assert_eq!(code(&r), ErrorCode::Protocol, "{r:?}");
        let r = raw(&conn, b"\x00\x00\x01\x00short", true).await;
        assert_eq!(code(&r), ErrorCode::Protocol, "{r:?}");
        // Wire paths that try to escape.
        for path in ["../etc/passwd", "/a/../../x", "a\\..\\b", "a\0b"] {
            let frame = ferry_proto::frame::encode(&Request::Stat { path: path.into() }).unwrap();
            let r = raw(&conn, &frame, true).await;
            assert_eq!(code(&r), ErrorCode::InvalidPath, "{path:?}: {r:?}");
        }
        // Uploads that carry more or fewer bytes than declared.
        for (declared, sent) in [(10u64, 20usize), (10, 5), (0, 1)] {
            let mut bytes = ferry_proto::frame::encode(&Request::Put(PutRequest {
                path: "/short.bin".into(),
                size: declared,
                offset: 0,
                prefix: None,
                hash: false,
                mtime: None,
                mode: None,
                new_mode: None,
                size_unknown: false,
            }))
            .unwrap();
            bytes.extend(std::iter::repeat_n(b'x', sent));
            let r = raw(&conn, &bytes, true).await;
            assert_eq!(code(&r), ErrorCode::Protocol, "{declared}/{sent}: {r:?}");
        }

        // The download carried on untouched.
        let mut rest = Vec::new();
        while let Some(chunk) = drecv.read_chunk(1 << 20, true).await.unwrap() {
            rest.extend_from_slice(&chunk.bytes);
        }
        first.extend(rest);
        assert!(first == big, "download intact");

        let answer = stalled
            .await
            .unwrap()
            .expect("answered in time")
            .unwrap()
            .unwrap();
        assert_eq!(code(&answer), ErrorCode::Protocol, "{answer:?}");

        // And the same connection still serves ordinary requests.
        let entry = client
            .stat(&ferry_client::RemotePath::parse("/big.bin").unwrap())
            .await
            .unwrap();
        assert_eq!(entry.size, big.len() as u64);
        client.close().await;
    });
    assert_eq!(
        names(&env.root),
        ["big.bin"],
        "no file from the bad uploads"
    );
    let log = std::fs::read_to_string(&env.server.stderr).unwrap();
    assert!(
        log.contains("bad request"),
        "failed requests are logged: {log}"
    );
}

/// Hundreds of uploads that stall right after their header hold no server
/// thread: another client's `ls`, through the real binary, is answered
/// while they are all still pending (before the stall timeout ends them).
#[test]
fn stalled_uploads_do_not_starve_other_clients() {
    let env = Env::new();
    env.remote_file("visible.txt", b"x");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let held = rt.block_on(async {
        let client = env.raw_client().await;
        let conn = client.connection().clone();
        // More than tokio's 512 blocking threads, which a thread per
        // upload would exhaust.
        let mut held = Vec::new();
        for i in 0..600 {
            held.push(stalled_upload(&conn, i).await);
        }
        (client, held)
    });
    let parts = || {
        names(&env.root)
            .iter()
            .filter(|n| n.ends_with(".ferry-part"))
            .count()
    };
    let start = std::time::Instant::now();
    while parts() < 200 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        parts() >= 200,
        "the uploads reached the server: {}",
        parts()
    );

    let mut ls = env
        .cmd()
        .args(["ls", &env.host(), "--accept-new"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A hang, not a speed: the stalled uploads end after 30 s, so an `ls`
    // stuck behind them would only return after that.
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    while ls.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = ls.kill();
            panic!("ls hung behind the stalled uploads");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = ls.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("visible.txt"));
    assert!(parts() > 0, "the stalled uploads were still pending");
    drop(held);
    drop(rt);
}
