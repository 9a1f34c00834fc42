//! Transfers through an emulated link (`shared/tools/wan`: two network
//! namespaces and a forwarder with delay, a rate limit and random loss):
//! through 5 % loss they arrive byte-exact in both directions, and a client
//! whose address changes in the middle of a download carries on. Correctness,
//! not speed: nothing here is timed, save a generous bound so a hang fails
//! instead of blocking CI.
//!
//! Skipped, with a message, where the wan tool, root, `ip` or /dev/net/tun
//! is missing. `FERRY_WAN_TOOL` points at the tool; by default it is
//! `../shared/tools/wan` beside the repository.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::util::FERRY;

/// A command that takes longer than this is hung, not slow.
const HANG: Duration = Duration::from_secs(90);
const SERVER: &str = "10.213.0.2:4433";

fn wan_tool() -> Result<PathBuf, String> {
    let tool = match std::env::var_os("FERRY_WAN_TOOL") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/wan"),
    };
    if !tool.is_file() {
        return Err(format!(
            "no wan tool at {} (set FERRY_WAN_TOOL)",
            tool.display()
        ));
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Err("network namespaces need root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err("no /dev/net/tun".into());
    }
    let ip = Command::new("ip").arg("-V").output();
    if !ip.is_ok_and(|o| o.status.success()) {
        return Err("no `ip` (iproute2)".into());
    }
    Ok(tool)
}

/// The emulated link and the server inside it, torn down when dropped.
struct Link {
    tool: PathBuf,
    name: String,
    server: Option<Child>,
}

impl Link {
    fn up(tool: PathBuf, loss: &str) -> Result<Link, String> {
        Link::up_with(tool, "fl", loss, "50")
    }

    fn up_with(tool: PathBuf, tag: &str, loss: &str, rate_mbit: &str) -> Result<Link, String> {
        // Our own name, so parallel runs and people's links are left alone.
        let name = format!("{tag}{}", std::process::id() % 100_000);
        let out = Command::new(&tool)
            .args([
                "up",
                "--name",
                &name,
                "--delay-ms",
                "5",
                "--rate-mbit",
                rate_mbit,
            ])
            .args(["--loss", loss, "--max-seconds", "300"])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
        let link = Link {
            tool,
            name,
            server: None,
        };
        if !out.status.success() {
            return Err(format!(
                "wan up failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(link)
    }

    fn exec(&self, side: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &format!("{}-{side}", self.name), FERRY]);
        c
    }

    fn serve(&mut self, root: &Path, certs: &Path) {
        let mut child = self
            .exec("b")
            .args([
                "serve",
                root.to_str().unwrap(),
                "--listen",
                SERVER,
                "--certs",
            ])
            .arg(certs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ferry serve in the namespace");
        let stdout = child.stdout.take().expect("stdout");
        self.server = Some(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.trim().starts_with("listening on") => return,
                Ok(_) => {}
                Err(_) => panic!("the server in {}-b did not start", self.name),
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = Command::new(&self.tool)
            .args(["down", "--name", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `cmd` to completion, failing the test if it hangs or fails.
fn run(mut cmd: Command, what: &str) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferry");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            assert!(status.success(), "{what} failed ({status}): {err}");
            return;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {HANG:?} through the lossy link");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Deterministic bytes that do not compress or repeat in step with packets.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

#[test]
fn transfers_through_five_percent_loss_arrive_byte_exact() {
    let tool = match wan_tool() {
        Ok(tool) => tool,
        Err(why) => {
            println!("SKIPPED lossy-link test: {why}");
            return;
        }
    };
    let mut link = match Link::up(tool, "0.05") {
        Ok(link) => link,
        Err(why) => {
            println!("SKIPPED lossy-link test: {why}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let small = root.join("small");
    std::fs::create_dir_all(&small).unwrap();
    std::fs::create_dir_all(root.join("up")).unwrap();
    let big = pattern(2 << 20, 7);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    for i in 0..20u64 {
        std::fs::write(
            small.join(format!("s{i}.bin")),
            pattern(20_000 + i as usize * 997, i),
        )
        .unwrap();
    }
    let upload = tmp.path().join("upload.bin");
    std::fs::write(&upload, pattern(1 << 20, 99)).unwrap();
    crate::util::authorize(&tmp.path().join("home"), &tmp.path().join("certs"));
    link.serve(&root, &tmp.path().join("certs"));

    let out = tmp.path().join("out");
    let home = tmp.path().join("home");
    let mut get = link.exec("a");
    get.args(["get", SERVER, "/big.bin", "/small/*", "-o"])
        .arg(&out)
        .args(["--accept-new", "-q"])
        .env("FERRY_HOME", &home);
    run(get, "get through 5 % loss");
    assert!(
        std::fs::read(out.join("big.bin")).unwrap() == big,
        "big.bin differs"
    );
    for i in 0..20u64 {
        let name = format!("s{i}.bin");
        let got = std::fs::read(out.join(&name)).unwrap();
        assert!(
            got == std::fs::read(small.join(&name)).unwrap(),
            "{name} differs"
        );
    }

    let mut put = link.exec("a");
    put.args(["put", SERVER])
        .arg(&upload)
        .args(["--to", "/up", "--accept-new", "-q"])
        .env("FERRY_HOME", &home);
    run(put, "put through 5 % loss");
    assert!(
        std::fs::read(root.join("up/upload.bin")).unwrap() == std::fs::read(&upload).unwrap(),
        "uploaded file differs"
    );
}

/// Runs `ip ARGS` inside the namespace of `side`.
fn ip_in(link: &Link, side: &str, args: &[&str]) {
    let ns = format!("{}-{side}", link.name);
    let status = Command::new("ip")
        .args(["netns", "exec", &ns, "ip"])
        .args(args)
        .status()
        .expect("run ip");
    assert!(status.success(), "ip {args:?} in {ns}");
}

/// The client's address changes in the middle of a download (as when a
/// laptop moves from Wi-Fi to cable): the same connection carries on, with
/// no reconnect and no resume, and the file arrives whole. The longest
/// pause in the download's progress around the move is printed: it should
/// be about a second, the keep-alive interval, after which the client's
/// next packet leaves from its new address.
#[test]
fn a_download_survives_a_change_of_the_clients_address() {
    let tool = match wan_tool() {
        Ok(tool) => tool,
        Err(why) => {
            println!("SKIPPED address-change test: {why}");
            return;
        }
    };
    let mut link = match Link::up_with(tool, "fm", "0", "40") {
        Ok(link) => link,
        Err(why) => {
            println!("SKIPPED address-change test: {why}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    // 24 MiB at 40 Mbit/s: about five seconds on the wire.
    let data = pattern(24 << 20, 5);
    std::fs::write(root.join("big.bin"), &data).unwrap();
    crate::util::authorize(&tmp.path().join("home"), &tmp.path().join("certs"));
    link.serve(&root, &tmp.path().join("certs"));

    let out = tmp.path().join("out");
    let mut get = link.exec("a");
    get.args(["get", SERVER, "/big.bin", "-o"])
        .arg(format!("{}/", out.display()))
        .args(["--accept-new", "--json"])
        .env("FERRY_HOME", tmp.path().join("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = get.spawn().expect("spawn ferry get");
    let partial = out.join(".big.bin.ferry-part");
    let len = || std::fs::metadata(&partial).map_or(0, |m| m.len());
    let start = Instant::now();
    while len() < (6 << 20) {
        assert!(start.elapsed() < HANG, "the download never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the download ended early"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Move: the new address first, then the old one goes. (Without
    // promote_secondaries, removing the first address of a subnet removes
    // the others too.)
    let dev = format!("{}-a", link.name);
    let status = Command::new("ip")
        .args(["netns", "exec", &format!("{}-a", link.name)])
        .args([
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{dev}.promote_secondaries=1"),
        ])
        .status()
        .expect("run sysctl");
    assert!(status.success(), "sysctl promote_secondaries");
    ip_in(&link, "a", &["addr", "add", "10.213.0.3/24", "dev", &dev]);
    ip_in(&link, "a", &["addr", "del", "10.213.0.1/24", "dev", &dev]);
    let moved = Instant::now();
    let (mut last, mut last_growth, mut longest) = (len(), moved, Duration::ZERO);
    while child.try_wait().unwrap().is_none() {
        assert!(moved.elapsed() < HANG, "the download hung after the move");
        let now = len();
        if now != last {
            longest = longest.max(last_growth.elapsed());
            (last, last_growth) = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    println!(
        "address change: the download paused for at most {:.2} s",
        longest.as_secs_f64()
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(
        !err.contains("reconnecting"),
        "the same connection went on: {err}"
    );
    let event = String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|l| l.contains("\"event\":\"file\""))
        .map(str::to_owned)
        .expect("a file event");
    assert!(event.contains("\"resumed_from\":0"), "{event}");
    assert!(std::fs::read(out.join("big.bin")).unwrap() == data);
}
