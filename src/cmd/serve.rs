//! `ferry serve`: share a directory.

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
    path::PathBuf,
    time::Duration,
};

use anyhow::Context;
use ferry_net::{congestion::RateLimit, transport::TransportOptions};
use ferry_server::{Config, Server};

use crate::home;

/// Share a directory over QUIC.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to share.
    #[arg(default_value = ".")]
    pub root: PathBuf,
    /// UDP address to listen on; port 0 picks a free port [default: [::]:4433,
    /// or 0.0.0.0:4433 without IPv6].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Directory holding the server certificate and key, generated on first
    /// start [default: FERRY_HOME/server].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
    /// How long the partial file of an interrupted upload is kept for a
    /// resume before the server removes it (e.g. 30m, 24h, 168h).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub keep_partials: Duration,
}

/// Parses `30s`, `10m`, `2h`, `1h30m` and the like.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = text
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 30s, 10m or 2h"))?;
    Duration::try_from(d).map_err(|_| format!("'{text}' is negative"))
}

pub(crate) async fn run(args: Args, limit: Option<RateLimit>) -> anyhow::Result<bool> {
    init_logging();
    let certs = match &args.certs {
        Some(dir) => dir.clone(),
        None => home::server_certs()?,
    };
    let server = match args.listen {
        Some(listen) => bind(&args, listen, &certs, limit)?,
        // Dual-stack by default; fall back to IPv4 where IPv6 is off.
        None => bind(&args, SocketAddr::from(([0u16; 8], 4433)), &certs, limit)
            .or_else(|_| bind(&args, SocketAddr::from(([0, 0, 0, 0], 4433)), &certs, limit))?,
    };
    let addr = server.local_addr();
    let fp = server.fingerprint();
    let host = if addr.ip().is_unspecified() {
        "HOST".to_owned()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "ferry serving {}", server.root().display())?;
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
    writeln!(
        out,
        "  connect with: ferry shell {host}:{} --fingerprint {fp}",
        addr.port()
    )?;
    out.flush()?;
    drop(out);
    server.run(shutdown_signal()).await;
    Ok(true)
}

fn bind(
    args: &Args,
    listen: SocketAddr,
    certs: &std::path::Path,
    limit: Option<RateLimit>,
) -> anyhow::Result<Server> {
    Server::bind(&Config {
        root: args.root.clone(),
        listen,
        certs: certs.to_owned(),
        partials_ttl: args.keep_partials,
        transport: TransportOptions { rate_limit: limit },
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

/// Server logs go to stderr; RUST_LOG overrides the default `info`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
