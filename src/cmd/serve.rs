//! `ferry serve`: share a directory, or a bucket.

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
    path::PathBuf,
    time::Duration,
};

use anyhow::{bail, Context};
use ferry_net::{congestion::RateLimit, transport::TransportOptions};
use ferry_server::{storage::S3Config, Config, Root, Server};
use ferry_trust::{invites, Access, AuthorizedClients};

use crate::home;

/// Share a directory, or an S3 bucket, over QUIC.
///
/// To serve a bucket, give `s3://BUCKET[/PREFIX]` as the root and the
/// endpoint; the credentials come from the environment variables
/// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for
/// temporary ones), never from the command line. Any number of servers may
/// serve one bucket: give them all the same --certs directory, so that they
/// present the same identity and admit the same clients.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to share, or s3://BUCKET[/PREFIX] to serve a bucket (or
    /// the keys under PREFIX).
    #[arg(default_value = ".", value_name = "ROOT")]
    pub root: PathBuf,
    /// The object store's endpoint, for an s3:// root (e.g.
    /// http://127.0.0.1:8333) [default: AWS, s3.REGION.amazonaws.com over HTTPS].
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// The region to sign requests for, for an s3:// root [default:
    /// AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// UDP address to listen on: PORT (on every address), ADDR:PORT or
    /// NAME:PORT (localhost:4433); port 0 picks a free port [default:
    /// [::]:4433, or 0.0.0.0:4433 without IPv6].
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = parse_listen)]
    pub listen: Option<Listen>,
    /// The server's state directory: its certificate and key (generated on
    /// first start), authorized_clients and invites; give every gateway of
    /// one bucket the same one [default: FERRY_HOME/server].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
    /// Admit any client, with or without a certificate: anyone who can
    /// reach the port can read and change the files. For a trusted LAN only.
    #[arg(long)]
    pub allow_anyone: bool,
    /// Refuse every change (put, rm, mv, mkdir, rmdir) from every client.
    #[arg(long)]
    pub read_only: bool,
    /// How long the partial file of an interrupted upload is kept for a
    /// resume before the server removes it (e.g. 30m, 24h, 168h).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub keep_partials: Duration,
    /// Print only warnings and errors: no banner, no request log.
    #[arg(short, long)]
    pub quiet: bool,
    // The client options, which serving does not use: declared here, hidden,
    // so that clap's global copies of them stay out of `serve --help`.
    #[arg(long, hide = true)]
    accept_new: bool,
    #[arg(long, hide = true)]
    fingerprint: Option<String>,
    #[arg(long, hide = true)]
    json: bool,
    #[arg(long, hide = true)]
    connect_timeout: Option<String>,
}

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listen {
    /// Every address, this port.
    Port(u16),
    /// These addresses (a name may resolve to several), the first that
    /// binds.
    Addrs(Vec<SocketAddr>),
}

/// Parses `PORT`, `ADDR:PORT`, `[V6]:PORT` and `NAME:PORT`.
pub(crate) fn parse_listen(text: &str) -> Result<Listen, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(Listen::Port(port));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Listen::Addrs(vec![addr]));
    }
    let bad = || format!("'{text}' is not PORT, ADDR:PORT or NAME:PORT");
    let (name, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(name, port))
        .map_err(|e| format!("cannot resolve '{name}': {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("'{name}' resolves to no address"));
    }
    Ok(Listen::Addrs(addrs))
}

/// Parses a positive duration: `30s`, `10m`, `2h`, `1h30m` and the like.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = text
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 30s, 10m or 2h"))?;
    Duration::try_from(d)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{text}': the duration must be positive"))
}

pub(crate) async fn run(args: Args, quiet: bool, limit: Option<RateLimit>) -> anyhow::Result<bool> {
    init_logging(quiet);
    let certs = home::server_state(args.certs.clone())?;
    // Dual-stack by default; fall back to IPv4 where IPv6 is off.
    let any = |port| {
        vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0, 0, 0, 0], port)),
        ]
    };
    let root = root(&args)?;
    let addrs = match &args.listen {
        None => any(4433),
        Some(Listen::Port(port)) => any(*port),
        Some(Listen::Addrs(addrs)) => addrs.clone(),
    };
    let mut bound = Err(anyhow::anyhow!("no address to listen on"));
    for addr in addrs {
        bound = bind(&args, &root, addr, &certs, limit);
        if bound.is_ok() {
            break;
        }
    }
    let server = bound?;
    server
        .check_storage()
        .await
        .context("cannot start the server")?;
    let addr = server.local_addr();
    let fp = server.fingerprint();
    let host = if addr.ip().is_unspecified() {
        "HOST".to_owned()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let host_port = format!("{host}:{}", addr.port());
    let listed = server.authorized_clients();
    let anyone_warning = args.allow_anyone.then(|| {
        let what = if args.read_only {
            "read every file"
        } else {
            "read, change and delete every file"
        };
        format!(
            "--allow-anyone: ANYONE who can reach UDP port {} can {what} under {}, \
             without a certificate",
            addr.port(),
            server.served()
        )
    });
    if let Some(warning) = &anyone_warning {
        tracing::warn!("{warning}");
    }
    if quiet {
        if anyone_warning.is_none() && listed == 0 {
            tracing::warn!(
                "no client is authorized yet: run `ferry invite --certs {}` or `ferry allow` to admit one",
                certs.display()
            );
        }
        server.run(shutdown_signal()).await;
        return Ok(true);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ferry serving {}", server.served())?;
    writeln!(out, "  listening on {addr}")?;
    writeln!(
        out,
        "  fingerprint {fp}{}",
        if server.generated_identity() {
            format!(" (new certificate in {})", certs.display())
        } else {
            String::new()
        }
    )?;
    if args.read_only {
        writeln!(out, "  read-only: every change is refused")?;
    }
    if let Some(warning) = &anyone_warning {
        writeln!(out, "  WARNING: {warning}")?;
    } else {
        writeln!(
            out,
            "  {listed} authorized client(s) in {}",
            AuthorizedClients::path_in(&certs).display()
        )?;
        if listed == 0 {
            // A fresh server: one invite, so the first client is one
            // copy-paste away.
            let invite = invites::create(&certs, Access::ReadWrite, invites::DEFAULT_VALIDITY)
                .context("cannot make the first invite")?;
            writeln!(
                out,
                "  no client is authorized yet; to enroll one (read-write; once, within {}), run on it:",
                invites::human_duration(invites::DEFAULT_VALIDITY)
            )?;
            writeln!(
                out,
                "    {}",
                super::invite::enroll_command(&host_port, &invite.token, &fp.to_string())
            )?;
        }
    }
    writeln!(
        out,
        "  connect with: ferry shell {host_port} --fingerprint {fp}"
    )?;
    out.flush()?;
    drop(out);
    server.run(shutdown_signal()).await;
    Ok(true)
}

/// The directory, or the bucket with its endpoint and credentials.
fn root(args: &Args) -> anyhow::Result<Root> {
    let text = args.root.to_string_lossy();
    let Some(parsed) = S3Config::parse_url(&text) else {
        if args.s3_endpoint.is_some() || args.s3_region.is_some() {
            bail!("--s3-endpoint and --s3-region go with an s3://BUCKET root, not a directory");
        }
        return Ok(Root::Dir(args.root.clone()));
    };
    let (bucket, prefix) = parsed.map_err(anyhow::Error::msg)?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(access_key_id), Some(secret_access_key)) =
        (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
    else {
        bail!(
            "serving {text} needs the bucket's credentials in the environment: \
             set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        );
    };
    let region = args
        .s3_region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let endpoint = args
        .s3_endpoint
        .clone()
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
    Ok(Root::Bucket(S3Config {
        bucket,
        prefix,
        endpoint,
        region,
        access_key_id,
        secret_access_key,
        session_token: env("AWS_SESSION_TOKEN"),
    }))
}

fn bind(
    args: &Args,
    root: &Root,
    listen: SocketAddr,
    certs: &std::path::Path,
    limit: Option<RateLimit>,
) -> anyhow::Result<Server> {
    Server::bind(&Config {
        root: root.clone(),
        listen,
        certs: certs.to_owned(),
        partials_ttl: args.keep_partials,
        transport: TransportOptions { rate_limit: limit },
        allow_anyone: args.allow_anyone,
        read_only: args.read_only,
    })
    .context("cannot start the server")
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Server logs go to stderr; RUST_LOG overrides the default `info` (`warn`
/// with -q).
fn init_logging(quiet: bool) {
    let level = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
