//! `ferry serve`: share a directory.

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
    path::PathBuf,
};

use anyhow::Context;
use ferry_server::{Config, Server};
use ferry_trust::{invites, Access, AuthorizedClients};

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
    /// The server's state directory: its certificate and key (generated on
    /// first start), authorized_clients and invites [default:
    /// FERRY_HOME/server].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
    /// Admit any client, with or without a certificate: anyone who can
    /// reach the port can read and change the files. For a trusted LAN only.
    #[arg(long)]
    pub allow_anyone: bool,
    /// Refuse every change (put, rm, mv, mkdir, rmdir) from every client.
    #[arg(long)]
    pub read_only: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<bool> {
    init_logging();
    let certs = home::server_state(args.certs.clone())?;
    let bind = |listen| bind(&args, listen, &certs);
    let server = match args.listen {
        Some(listen) => bind(listen)?,
        // Dual-stack by default; fall back to IPv4 where IPv6 is off.
        None => bind(SocketAddr::from(([0u16; 8], 4433)))
            .or_else(|_| bind(SocketAddr::from(([0, 0, 0, 0], 4433))))?,
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
    let host_port = format!("{host}:{}", addr.port());
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
    if args.read_only {
        writeln!(out, "  read-only: every change is refused")?;
    }
    if args.allow_anyone {
        let what = if args.read_only {
            "read every file"
        } else {
            "read, change and delete every file"
        };
        let warning = format!(
            "--allow-anyone: ANYONE who can reach UDP port {} can {what} under {}, \
             without a certificate",
            addr.port(),
            server.root().display()
        );
        writeln!(out, "  WARNING: {warning}")?;
        tracing::warn!("{warning}");
    } else {
        let listed = server.authorized_clients();
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

fn bind(args: &Args, listen: SocketAddr, certs: &std::path::Path) -> anyhow::Result<Server> {
    Server::bind(&Config {
        root: args.root.clone(),
        listen,
        certs: certs.to_owned(),
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
