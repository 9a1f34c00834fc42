//! `ferry serve`: share a directory, or a bucket.

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
    path::PathBuf,
    time::Duration,
};

use anyhow::{bail, Context};
use ferry_server::{storage::S3Config, Config, Root, Server};

use crate::home;

/// Share a directory, or an S3 bucket, over QUIC.
///
/// To serve a bucket, give `s3://BUCKET[/PREFIX]` as the root and the
/// endpoint; the credentials come from the environment variables
/// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for
/// temporary ones), never from the command line. Any number of servers may
/// serve one bucket: give them all the same --certs directory, so that they
/// present the same identity.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to share, or s3://BUCKET[/PREFIX] to serve a bucket (or
    /// the keys under PREFIX).
    #[arg(default_value = ".", value_name = "ROOT")]
    pub root: PathBuf,
    /// The object store's endpoint, for an s3:// root (e.g.
    /// http://127.0.0.1:8333) [default: AWS, https://s3.REGION.amazonaws.com].
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// The region to sign requests for, for an s3:// root [default:
    /// AWS_REGION, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
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

pub(crate) async fn run(args: Args) -> anyhow::Result<bool> {
    init_logging();
    let certs = match &args.certs {
        Some(dir) => dir.clone(),
        None => home::server_certs()?,
    };
    let root = root(&args)?;
    let server = match args.listen {
        Some(listen) => bind(&args, &root, listen, &certs)?,
        // Dual-stack by default; fall back to IPv4 where IPv6 is off.
        None => bind(&args, &root, SocketAddr::from(([0u16; 8], 4433)), &certs)
            .or_else(|_| bind(&args, &root, SocketAddr::from(([0, 0, 0, 0], 4433)), &certs))?,
    };
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
) -> anyhow::Result<Server> {
    Server::bind(&Config {
        root: root.clone(),
        listen,
        certs: certs.to_owned(),
        partials_ttl: args.keep_partials,
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
