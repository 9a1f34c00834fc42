//! The command line, as clap sees it.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};
use ferry_client::{Fingerprint, Target, DEFAULT_JOBS};

/// ferry: encrypted, multiplexed file transfer over QUIC.
///
/// `ferry serve` shares a directory; the other commands reach it. Servers are
/// pinned on first use in FERRY_HOME/known_hosts (FERRY_HOME defaults to the
/// platform's config directory, e.g. ~/.config/ferry).
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every client command accepts, before or after the subcommand.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Trust a server that is not yet in known_hosts without asking, and pin it.
    #[arg(long, global = true)]
    pub accept_new: bool,
    /// Trust only the server whose certificate has this fingerprint
    /// (SHA256:…, as `ferry serve` prints it), and pin it if new.
    #[arg(long, global = true, value_name = "SHA256:…")]
    pub fingerprint: Option<Fingerprint>,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print machine-readable results, one JSON object per line.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for the server to answer the handshake.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Cap the transfer rate in bytes per second: 20M is 20 MB/s (K, M, G;
    /// Ki, Mi, Gi). A server caps what it sends; a client what it sends
    /// and receives.
    #[arg(long, global = true, value_name = "RATE")]
    pub limit: Option<ferry_net::congestion::RateLimit>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Share a directory over QUIC.
    Serve(ServeArgs),
    /// Open an interactive shell on a server (reads commands from stdin when
    /// it is not a terminal).
    Shell(ShellArgs),
    /// List a remote directory: kind, size, modification time, name.
    Ls {
        /// Server, as HOST[:PORT] (default port 4433).
        host: Target,
        /// Remote directory or glob (default: /).
        path: Option<String>,
    },
    /// Show metadata of remote paths.
    Stat {
        /// Server, as HOST[:PORT].
        host: Target,
        /// Remote paths.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Download remote files (globs allowed, quoted) into a local directory.
    Get(GetArgs),
    /// Upload local files (globs allowed) into a remote directory.
    Put(PutArgs),
    /// Remove remote files (globs allowed); refuses directories.
    Rm {
        /// Server, as HOST[:PORT].
        host: Target,
        /// Remote files.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Create remote directories.
    Mkdir {
        /// Server, as HOST[:PORT].
        host: Target,
        /// Remote directories.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Create missing parents; an existing directory is not an error.
        #[arg(short, long)]
        parents: bool,
    },
    /// Remove empty remote directories.
    Rmdir {
        /// Server, as HOST[:PORT].
        host: Target,
        /// Remote directories.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Rename a remote path, or move it into an existing directory.
    Mv {
        /// Server, as HOST[:PORT].
        host: Target,
        /// What to move.
        from: String,
        /// New name, or an existing directory to move it into.
        to: String,
    },
    /// Remove a server's pinned certificate from known_hosts (after it
    /// legitimately changed).
    Forget {
        /// Server, as HOST[:PORT].
        host: Target,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
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
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Server, as HOST[:PORT].
    pub host: Target,
    /// Run the commands in FILE, stopping at the first failure unless the
    /// line starts with '-'.
    #[arg(short, long, value_name = "FILE")]
    pub batch: Option<PathBuf>,
}

/// Options shared by get and put.
#[derive(Debug, Args, Clone)]
pub struct TransferArgs {
    /// Copy directories recursively.
    #[arg(short, long)]
    pub recursive: bool,
    /// Files in flight at once.
    #[arg(short, long, default_value_t = DEFAULT_JOBS as u16, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: u16,
    /// Keep Unix permission bits (modification times are always kept).
    #[arg(short, long)]
    pub preserve: bool,
    /// Record the transfer rate over time into FILE (CSV).
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Server, as HOST[:PORT].
    pub host: Target,
    /// Remote files, directories (with -r) or quoted globs.
    #[arg(required = true)]
    pub remote: Vec<String>,
    /// Local directory to download into (created if missing).
    #[arg(short, long, default_value = ".", value_name = "LOCALDIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// Server, as HOST[:PORT].
    pub host: Target,
    /// Local files, directories (with -r) or globs.
    #[arg(required = true)]
    pub local: Vec<String>,
    /// Remote directory to upload into.
    #[arg(long, default_value = "/", value_name = "REMOTEDIR")]
    pub to: String,
    #[command(flatten)]
    pub transfer: TransferArgs,
}
