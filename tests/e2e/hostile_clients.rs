//! Hostile clients built on quinn and the protocol crate: unread downloads
//! and stalled uploads by the hundred (the server's memory stays within its
//! budget and another client's `ls` is answered), unknown peers (held to
//! QUIC's smallest limits, then closed), and the caps on connections and
//! requests in flight, each with its clear error.

use std::{
    net::SocketAddr,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use ferry_client::{ConnectError, ConnectOptions, ErrorCode, RemotePath, RequestError, Trust};
use ferry_proto::{Fingerprint, Request};
use ferry_trust::{Identity, PinVerifier, Role};

use crate::util::{show, stalled_upload, Env, FERRY};

/// A client identity in `dir`, allowed on `env`'s server under `name`
/// unless `name` is `None`; returns once the running server has re-read
/// its list.
fn identity(env: &Env, dir: &str, name: Option<&str>) -> Arc<Identity> {
    let dir = env.dir.path().join(dir);
    let id = ferry_trust::load_or_generate(&dir, Role::Client).unwrap();
    if let Some(name) = name {
        let out = Command::new(FERRY)
            .args([
                "allow",
                &id.fingerprint.to_string(),
                "--name",
                name,
                "--certs",
            ])
            .arg(&env.server.certs)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        let out = Command::new(FERRY)
            .args(["clients", "--json", "--certs"])
            .arg(&env.server.certs)
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout).lines().count();
        env.server
            .wait_for_log(&format!("changed: {listed} client(s)"));
    }
    Arc::new(id)
}

/// A raw QUIC connection to `env`'s server presenting `id`, with
/// `transport` (ferry's own when `None`).
async fn raw(
    env: &Env,
    id: &Identity,
    transport: Option<quinn::TransportConfig>,
) -> Result<quinn::Connection, quinn::ConnectionError> {
    let (_endpoint, connecting) = start(env, id, transport, [127, 0, 0, 1]);
    connecting.await
}

/// Starts a handshake with `env`'s server from the loopback address `from`.
fn start(
    env: &Env,
    id: &Identity,
    transport: Option<quinn::TransportConfig>,
    from: [u8; 4],
) -> (quinn::Endpoint, quinn::Connecting) {
    let fp: Fingerprint = env.server.fingerprint.parse().unwrap();
    let verifier = Arc::new(PinVerifier::new(
        Some(fp),
        ferry_net::transport::crypto_provider(),
    ));
    let mut config = ferry_trust::client_config(verifier, Some(id), &Default::default()).unwrap();
    if let Some(t) = transport {
        config.transport_config(Arc::new(t));
    }
    let endpoint = quinn::Endpoint::client(SocketAddr::from((from, 0))).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], env.server.port));
    let connecting = endpoint.connect_with(config, addr, "ferry").unwrap();
    (endpoint, connecting)
}

/// Through the client library, presenting `id`.
async fn library(env: &Env, id: &Arc<Identity>) -> Result<ferry_client::Client, ConnectError> {
    ferry_client::connect(
        &env.host().parse().unwrap(),
        &ConnectOptions {
            known_hosts: env.home.join("known_hosts"),
            trust: Trust::AcceptNew,
            timeout: Duration::from_secs(10),
            identity: Some(id.clone()),
            transport: Default::default(),
        },
    )
    .await
}

/// The peak resident memory of process `pid`, in KiB (`VmHWM`).
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `ferry ls` through the real binary, which must answer before a
/// deadline: the hostile streams stall for 30 s, so an `ls` stuck behind
/// them would only return after that (a bound against a hang, not a
/// speed).
fn ls_is_answered(env: &Env, want: &str) {
    let mut ls = env
        .cmd()
        .args(["ls", &env.host(), "--accept-new"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(25);
    while ls.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = ls.kill();
            panic!("ls hung behind the hostile client");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = ls.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(want),
        "{}",
        show(&out)
    );
}

/// The load test (a few seconds): one connection holds 300 downloads it
/// never reads (with flow-control windows of 1 KiB, so the server can send
/// next to nothing) and 300 uploads stalled after their header. Without a
/// budget each download served holds two 512 KiB chunks in the server; with
/// it, the file data held for one client stays within 64 MiB. Another
/// client lists meanwhile. Prints the server's peak memory
/// (`cargo test --test e2e unread_downloads -- --nocapture`).
#[test]
fn unread_downloads_and_stalled_uploads_keep_the_server_within_its_budget() {
    let env = Env::new();
    env.remote_file("visible.txt", b"x");
    env.remote_file("big.bin", &crate::util::bytes(4 << 20, 3));
    let hostile = identity(&env, "hostile", Some("hostile"));
    let started = Instant::now();
    let before = peak_kib(env.server.child.id());
    let parts = || {
        crate::util::names(&env.root)
            .iter()
            .filter(|n| n.ends_with(".ferry-part"))
            .count()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let held = rt.block_on(async {
        let mut t = quinn::TransportConfig::default();
        t.stream_receive_window(quinn::VarInt::from_u32(1024))
            .receive_window(quinn::VarInt::from_u32(300 * 1024));
        let conn = raw(&env, &hostile, Some(t)).await.unwrap();
        // The server serves 256 file bodies per connection at once: 100
        // uploads first, then the downloads (156 of them served, the rest
        // waiting), then 200 more uploads, which wait too.
        let mut held = Vec::new();
        for i in 0..100 {
            held.push(stalled_upload(&conn, i).await);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while parts() < 100 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(parts(), 100, "the first uploads reached the server");
        for _ in 0..300 {
            let (mut send, recv) = conn.open_bi().await.unwrap();
            let get = Request::Get {
                path: "/big.bin".into(),
                offset: 0,
                prefix: None,
                hash: false,
            };
            ferry_net::write_frame(&mut send, &get).await.unwrap();
            send.finish().unwrap();
            held.push((send, recv));
        }
        for i in 100..300 {
            held.push(stalled_upload(&conn, i).await);
        }
        (conn, held)
    });
    // Let the server take up every stream and read what it may.
    std::thread::sleep(Duration::from_secs(3));
    ls_is_answered(&env, "visible.txt");
    let peak = peak_kib(env.server.child.id());
    eprintln!(
        "server peak memory (VmHWM): {:.1} MiB with 300 unread downloads of 4 MiB and \
         300 stalled uploads on one connection (before: {:.1} MiB; {:.1} s)",
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
        started.elapsed().as_secs_f64()
    );
    // The budget is 64 MiB for this client (and the server starts at about
    // 10 MiB). Without it, each of the 156 downloads served holds two
    // 512 KiB chunks: the same test then peaks at 160-170 MiB.
    assert!(
        peak < 128 * 1024,
        "server peak memory {} MiB is over budget",
        peak / 1024
    );
    drop(held);
    drop(rt);
}

/// A peer the server does not know cannot make it buffer more than QUIC's
/// initial 64 KiB, even while an invite is open and the server waits for
/// its enrollment request; then it is closed, with the reason.
#[test]
fn an_unknown_peer_costs_nothing_but_its_handshake() {
    let env = Env::new();
    env.remote_file("visible.txt", b"x");
    // An open invite: the server gives unknown peers one request's time.
    let out = Command::new(FERRY)
        .args(["invite", "--certs"])
        .arg(&env.server.certs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stranger = identity(&env, "stranger", None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conn = raw(&env, &stranger, None).await.unwrap();
        // The first stream, the one the server reads, announces a request
        // and never completes it; ten more try to push 1 MiB each.
        let (mut first, _first_recv) = conn.open_bi().await.unwrap();
        first.write_all(&60_000u32.to_be_bytes()).await.unwrap();
        first.write_all(b"partial").await.unwrap();
        let mut writers = Vec::new();
        for _ in 0..10 {
            let conn = conn.clone();
            writers.push(tokio::spawn(async move {
                let (mut send, _recv) = conn.open_bi().await?;
                send.write_all(&vec![1u8; 1 << 20]).await?;
                Ok::<_, quinn::WriteError>(())
            }));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sent = conn.stats().udp_tx.bytes;
        assert!(
            sent < 256 * 1024,
            "flow control held 10 MiB of writes to about 64 KiB: {sent} bytes sent"
        );
        // Closed by the server once its time is up (10 s), with the reason
        // (a deadline against a hang).
        let closed = tokio::time::timeout(Duration::from_secs(20), conn.closed())
            .await
            .expect("the server closes the connection");
        match closed {
            quinn::ConnectionError::ApplicationClosed(c) => {
                assert_eq!(c.error_code, ferry_net::codes::UNAUTHORIZED);
                let reason = String::from_utf8_lossy(&c.reason);
                assert!(reason.contains("does not know client"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        for w in writers {
            assert!(w.await.unwrap().is_err(), "no write of 1 MiB got through");
        }
    });
    ls_is_answered(&env, "visible.txt");
}

/// One client identity may hold 16 connections; one address 32 (the 33rd
/// is refused before its handshake). Each limit is reported in words.
#[test]
fn connections_are_capped_per_client_and_per_address() {
    let env = Env::new();
    env.remote_file("f", b"x");
    let a = identity(&env, "a", Some("a"));
    let b = identity(&env, "b", Some("b"));
    let root = RemotePath::parse("/f").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let kept = rt.block_on(async {
        let mut kept = Vec::new();
        for _ in 0..16 {
            let c = library(&env, &a).await.unwrap();
            c.stat(&root).await.unwrap();
            kept.push(c);
        }
        // The 17th of the same client: admitted by TLS, then closed with
        // the reason.
        let extra = library(&env, &a).await.unwrap();
        match extra.stat(&root).await {
            Err(RequestError::Refused(e)) => {
                assert_eq!(e.code, ErrorCode::Busy);
                assert!(
                    e.message
                        .contains("too many connections from this client (limit 16)"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Another client from the same address fills it up to 32.
        for _ in 0..16 {
            let c = library(&env, &b).await.unwrap();
            c.stat(&root).await.unwrap();
            kept.push(c);
        }
        match library(&env, &b).await {
            Err(e @ ConnectError::Busy { .. }) => {
                assert!(e.to_string().contains("refused the connection"), "{e}");
            }
            Ok(_) => panic!("a 33rd connection from one address was admitted"),
            Err(e) => panic!("{e}"),
        }
        kept
    });
    // Through the binary too.
    let err = env.fails(&["ls", &env.host()]);
    assert!(err.contains("too many connections open"), "{err}");
    // Closed as a command closes them: each close gets a moment to leave
    // (dropping them alone may leave the server waiting for its idle
    // timeout, on a loaded machine).
    rt.block_on(async {
        for c in &kept {
            c.close().await;
        }
    });
    drop(kept);
    drop(rt);
    // Once they are gone, connections are admitted again (the server sees
    // the closes within moments).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.run(&["ls", &env.host()]).status.success() {
        assert!(Instant::now() < deadline, "the slots never came back");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = env.server.log();
    assert!(
        log.contains("too many connections from this address"),
        "{log}"
    );
    assert!(
        log.contains("refused: too many connections from this client"),
        "{log}"
    );
}

/// Requests in flight: 1024 per client identity (over all its
/// connections) and 2048 per address; the request over the cap is answered
/// `busy`, in words, and the others carry on.
#[test]
fn requests_in_flight_are_capped_per_client_and_per_address() {
    let env = Env::new();
    env.remote_file("f", b"x");
    let a = identity(&env, "a", Some("a"));
    let b = identity(&env, "b", Some("b"));
    let c = identity(&env, "c", Some("c"));
    let path = RemotePath::parse("/f").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut held = Vec::new();
        // a: one request on one connection, then 1024 on another (the most
        // one connection may open): exactly one of those is over a's cap.
        let a2 = raw(&env, &a, None).await.unwrap();
        held.push(stalled_upload(&a2, 0).await);
        let a1 = raw(&env, &a, None).await.unwrap();
        let mut streams = Vec::new();
        for i in 0..1024 {
            streams.push(stalled_upload(&a1, 1 + i).await);
        }
        let (busy, a_open) = first_answer(streams).await;
        assert!(busy.contains("from this client (limit 1024)"), "{busy}");

        // c: one request; then b fills the address: 1024 + 1 + 1023 of b's
        // 1024 make 2048, and b's last is over the address's cap.
        let c1 = library(&env, &c).await.unwrap();
        let c_held = stalled_upload(c1.connection(), 5000).await;
        let b1 = raw(&env, &b, None).await.unwrap();
        let mut streams = Vec::new();
        for i in 0..1024 {
            streams.push(stalled_upload(&b1, 2000 + i).await);
        }
        let (busy, b_open) = first_answer(streams).await;
        assert!(busy.contains("from 127.0.0.1 (limit 2048)"), "{busy}");

        // When a's requests end, c is served again, on the same connection.
        a1.close(ferry_net::codes::DONE, b"bye");
        a2.close(ferry_net::codes::DONE, b"bye");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match c1.stat(&path).await {
                Ok(_) => break,
                Err(RequestError::Remote(e)) if e.code == ErrorCode::Busy => {
                    assert!(Instant::now() < deadline, "slots never came back");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        drop((c_held, held, a_open, b_open));
    });
    let log = env.server.log();
    assert!(
        log.contains("request refused: too many requests in flight"),
        "{log}"
    );
}

/// The streams of a batch of requests, kept open (sending halves, and
/// the tasks still waiting for the other answers).
type Open = (Vec<quinn::SendStream>, tokio::task::JoinSet<()>);

/// Waits (up to 20 s, against a hang) for the first of `streams` to be
/// answered, which must be a `busy` refusal; returns its message, and the
/// streams, still open.
async fn first_answer(streams: Vec<(quinn::SendStream, quinn::RecvStream)>) -> (String, Open) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let mut waiting = tokio::task::JoinSet::new();
    let mut sends = Vec::new();
    for (send, mut recv) in streams {
        sends.push(send);
        let tx = tx.clone();
        waiting.spawn(async move {
            let answer = ferry_net::read_frame::<ferry_proto::Response>(&mut recv).await;
            let _ = tx.send(answer.map_err(|e| e.to_string())).await;
            // Hold the stream until the test lets go.
            std::future::pending::<()>().await;
        });
    }
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("one request is refused at once")
        .unwrap();
    let message = match first {
        Ok(Some(ferry_proto::Response::Error(e))) if e.code == ErrorCode::Busy => e.message,
        other => panic!("{other:?}"),
    };
    (message, (sends, waiting))
}

/// A client-side verifier that blocks until its gate closes: the client
/// has sent its first flight, got the server's, and then goes quiet. It
/// says on `reached` when it gets there: by then the server has taken the
/// connection in and counts it against its address.
#[derive(Debug)]
struct Stall {
    gate: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
    reached: std::sync::mpsc::Sender<()>,
}

impl rustls::client::danger::ServerCertVerifier for Stall {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let _ = self.reached.send(());
        let gate = self
            .gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = gate.recv();
        Err(rustls::Error::General("released".into()))
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("unused".into()))
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("unused".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        ferry_net::transport::crypto_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Starts, on its own thread, a handshake from `from` that stalls in the
/// middle until `gate` is dropped, and says on `reached` once the server
/// has answered it.
fn stalled_handshake(
    env: &Env,
    from: [u8; 4],
    gate: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
    reached: std::sync::mpsc::Sender<()>,
) -> std::thread::JoinHandle<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], env.server.port));
    std::thread::spawn(move || {
        let mut tls =
            rustls::ClientConfig::builder_with_provider(ferry_net::transport::crypto_provider())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Stall { gate, reached }))
                .with_no_client_auth();
        tls.alpn_protocols = vec![ferry_proto::ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let config = quinn::ClientConfig::new(Arc::new(quic));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let endpoint = quinn::Endpoint::client(SocketAddr::from((from, 0))).unwrap();
            let _ = endpoint.connect_with(config, addr, "ferry").unwrap().await;
        });
    })
}

/// Peers that start a handshake and go quiet (as spoofed source addresses
/// do: they never answer) hold their slot for at most 10 s; while 64 such
/// handshakes are pending, a new peer must first prove that it owns its
/// address (a QUIC Retry), which a real client does without noticing.
#[test]
fn stalled_handshakes_time_out_and_a_flood_turns_on_address_validation() {
    let _alone = crate::util::alone();
    let env = Env::new();
    env.remote_file("visible.txt", b"x");
    let id = env.identity();
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    let (reached, arrivals) = std::sync::mpsc::channel::<()>();
    // 64 handshakes that never finish, 32 from each of two loopback
    // addresses (the per-address cap).
    let stalled: Vec<_> = (0..64u8)
        .map(|i| stalled_handshake(&env, [127, 0, 0, 2 + i / 32], gate.clone(), reached.clone()))
        .collect();
    drop(reached);
    // Probing before all 64 are in would race them for 127.0.0.2's last
    // slot, so wait until the server has answered every one. The probe
    // must come before the first of them reaches its 10 s timeout: all
    // must be in within 5 s of the first (generous for a loaded machine).
    assert!(
        arrivals.recv_timeout(Duration::from_secs(20)).is_ok(),
        "no stalled handshake reached the server"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    for n in 1..64 {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            arrivals.recv_timeout(left).is_ok(),
            "only {n} of the 64 stalled handshakes reached the server within 5 s"
        );
    }
    // 127.0.0.2 has its 32 connections (pending handshakes count): a new
    // one from there is refused, after its Retry.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let attempt = rt.block_on(async {
        let (_endpoint, connecting) = start(&env, &id, None, [127, 0, 0, 2]);
        connecting.await
    });
    match attempt {
        Err(quinn::ConnectionError::ConnectionClosed(c))
            if c.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED => {}
        other => panic!("127.0.0.2 is full, yet: {other:?}"),
    }
    // A real client still gets in, after proving its address.
    ls_is_answered(&env, "visible.txt");
    let log = env
        .server
        .wait_for_log("must first prove their address (QUIC Retry)");
    assert!(log.contains("64 handshakes in progress"), "{log}");
    // The stalled handshakes are dropped, and their slots come back.
    env.server
        .wait_for_log("handshake not done within 10 s: dropped");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let again = rt.block_on(async {
            let (_endpoint, connecting) = start(&env, &id, None, [127, 0, 0, 2]);
            let conn = connecting.await?;
            conn.close(ferry_net::codes::DONE, b"bye");
            Ok::<_, quinn::ConnectionError>(())
        });
        if again.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "127.0.0.2 never got a slot back: {again:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(release);
    for t in stalled {
        t.join().unwrap();
    }
}
