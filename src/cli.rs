//! The command line, as clap sees it. Each verb's arguments and help text
//! live in its own file under `cmd/`; this is the top level: the global
//! options, the `HOST:PATH` forms (rewritten into `HOST PATH` before clap
//! parses, so that every verb keeps its own simple arguments), and the
//! help of the server-side commands, which leaves out the client options.

use std::ffi::OsString;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use ferry_client::Fingerprint;

use crate::{
    cmd,
    config::HostArg,
    output::{self, Output},
    session, shell,
};

/// ferry: encrypted, multiplexed file transfer over QUIC.
///
/// `ferry serve` shares a directory; the other commands reach it. Servers are
/// pinned on first use in FERRY_HOME/known_hosts (FERRY_HOME defaults to the
/// platform's config directory, e.g. ~/.config/ferry). Each client presents
/// its own certificate (`ferry id`); a server admits only the clients its
/// operator allowed (`ferry allow`, or `ferry invite` and `ferry enroll`).
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_long_help = AFTER_HELP
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Servers and paths:
  HOST is a host name or address with an optional :PORT (default 4433;
  IPv6 as [ADDR]:PORT), or an alias from FERRY_HOME/config.toml.
  HOST:PATH gives the first remote path with the server, as scp does:
    ferry ls nas:/videos         ferry get nas:/a.mp4 -o b.mp4
    ferry put nas:/backups *.log ferry rm nas:/tmp/x.part
  Remote paths may hold wildcards in any component (quote them): * ? [..] {a,b}
  and ** for any number of directories.

Copying like scp:
  ferry cp nas:/videos/a.mp4 .          ferry cp *.jpg nas:/photos/
  ferry cp -r nas:/site ./site-copy     ferry cp nas:/logs/today.log -
  tar c dir | ferry cp - nas:/backup/dir.tar

Configuration (FERRY_HOME/config.toml):
  [hosts.nas]
  address = \"192.168.1.20\"
  port = 4433
  fingerprint = \"SHA256:...\"
  jobs = 8
  preserve = true
  connect_timeout = 5

Exit status: 0 success, 1 something failed (each failure is reported),
2 usage error, 130 cancelled (Ctrl-C).";

/// Options every client command accepts, before or after the subcommand.
#[derive(Debug, Args, Clone)]
pub(crate) struct Global {
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
    /// Print machine-readable results, one JSON object per line on stdout,
    /// errors included ({"event":"error","code":…,"message":…,"path":…}).
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for the server to answer the handshake [default: 10].
    #[arg(long, global = true, value_name = "SECS")]
    pub connect_timeout: Option<u64>,
    /// Cap the transfer rate in bytes per second: 20M is 20 MB/s (K, M, G;
    /// Ki, Mi, Gi). A server caps what it sends; a client what it sends
    /// and receives.
    #[arg(long, global = true, value_name = "RATE")]
    pub limit: Option<ferry_net::congestion::RateLimit>,
}

/// A verb's arguments after the server it acts on.
#[derive(Debug, Args)]
pub(crate) struct OnServer<A: Args> {
    /// Server, as HOST[:PORT] or an alias from config.toml; HOST:PATH also
    /// gives the first remote path.
    #[arg(value_name = "HOST")]
    pub host: HostArg,
    #[command(flatten)]
    pub args: A,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Serve(cmd::serve::Args),
    Shell(shell::Args),
    Ls(OnServer<cmd::ls::Args>),
    Stat(OnServer<cmd::stat::Args>),
    Get(OnServer<cmd::get::Args>),
    Put(OnServer<cmd::put::Args>),
    Cp(cmd::cp::Args),
    Rm(OnServer<cmd::rm::Args>),
    Mkdir(OnServer<cmd::mkdir::Args>),
    Rmdir(OnServer<cmd::rmdir::Args>),
    Mv(OnServer<cmd::mv::Args>),
    Sum(OnServer<cmd::sum::Args>),
    Forget(cmd::forget::Args),
    Completions(cmd::completions::Args),
    Id(cmd::id::Args),
    Enroll(cmd::enroll::Args),
    Allow(cmd::allow::Args),
    Revoke(cmd::revoke::Args),
    Clients(cmd::clients::Args),
    Invite(cmd::invite::Args),
}

/// A usage error found after clap parsed (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

impl Command {
    /// Runs the parsed command line; `Ok(false)` when some part failed (the
    /// failure was already reported).
    pub(crate) async fn run(self, global: Global) -> anyhow::Result<bool> {
        use cmd::{one_shot, Remote};
        let (host, verb) = match self {
            Command::Serve(args) => {
                let quiet = args.quiet || global.quiet;
                return cmd::serve::run(args, quiet, global.limit).await;
            }
            Command::Shell(args) => return shell::run(&global, args).await,
            Command::Forget(args) => return cmd::forget::run(&args),
            Command::Completions(args) => return cmd::completions::run(&args),
            Command::Cp(args) => return cmd::cp::run(&global, args).await,
            Command::Id(args) => return cmd::id::run(&global, &args),
            Command::Enroll(args) => return cmd::enroll::run(&global, args).await,
            Command::Allow(args) => return cmd::allow::run(&global, args),
            Command::Revoke(args) => return cmd::revoke::run(&global, &args),
            Command::Clients(args) => return cmd::clients::run(&global, &args),
            Command::Invite(args) => return cmd::invite::run(&global, &args),
            // The one-shot `ls` prints the long form, as it always has.
            Command::Ls(OnServer { host, mut args }) => {
                args.long = true;
                (host, Remote::Ls(args))
            }
            Command::Stat(c) => (c.host, Remote::Stat(c.args)),
            Command::Get(c) => (c.host, Remote::Get(c.args)),
            Command::Put(c) => (c.host, Remote::Put(c.args)),
            Command::Rm(c) => (c.host, Remote::Rm(c.args)),
            Command::Mkdir(c) => (c.host, Remote::Mkdir(c.args)),
            Command::Rmdir(c) => (c.host, Remote::Rmdir(c.args)),
            Command::Mv(c) => (c.host, Remote::Mv(c.args)),
            Command::Sum(c) => (c.host, Remote::Sum(c.args)),
        };
        let (target, defaults) = session::resolve(&host)?;
        one_shot(&global, &target, defaults, verb).await
    }
}

/// The whole command line's definition. The verbs that act on a server
/// take their help text from their own arguments' doc comments (shared with
/// the shell), not from [`OnServer`].
pub(crate) fn command() -> clap::Command {
    use clap::Subcommand as _;
    let verbs = cmd::Remote::augment_subcommands(clap::Command::new("verbs"));
    let mut cmd = Cli::command();
    for verb in verbs.get_subcommands() {
        let (about, long) = (verb.get_about().cloned(), verb.get_long_about().cloned());
        cmd = cmd.mut_subcommand(verb.get_name(), |sub| {
            let sub = match about {
                Some(about) => sub.about(about),
                None => sub,
            };
            match long {
                Some(long) => sub.long_about(long),
                None => sub,
            }
        });
    }
    cmd
}

/// Parses the process's command line: the `HOST:PATH` forms first, then
/// clap. With `--json`, a usage error is a JSON event on stdout.
pub(crate) fn parse() -> Cli {
    let args = rewrite(&command(), std::env::args_os().collect());
    let json = args.iter().any(|a| a == "--json");
    let parsed = command()
        .try_get_matches_from(&args)
        .and_then(|mut m| Cli::from_arg_matches_mut(&mut m));
    match parsed {
        Ok(cli) => cli,
        Err(e) if json && e.use_stderr() => {
            let message = e.kind().as_str().map_or_else(
                || e.to_string().trim().to_owned(),
                |kind| format!("{kind}: {}", e.to_string().trim()),
            );
            let _ = output::print_json(&output::error_event(None, "usage", &message));
            std::process::exit(2);
        }
        Err(e) => e.exit(),
    }
}

/// The verbs whose first operand is a server.
const ON_SERVER: [&str; 9] = [
    "ls", "stat", "get", "put", "rm", "mkdir", "rmdir", "mv", "shell",
];

/// Rewrites `VERB HOST:PATH …` into `VERB HOST PATH …` (for `put`, into
/// `put HOST --to PATH …`), and drops the `HOST:` of later remote operands
/// that repeat it (`get nas:/a nas:/b`). clap's own definition says which
/// options take a value, so operands are found exactly.
pub(crate) fn rewrite(cmd: &clap::Command, args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut iter = args.into_iter();
    out.extend(iter.next());
    let mut sub: Option<&clap::Command> = None;
    let mut verb = String::new();
    let mut host: Option<String> = None;
    let mut operands = 0usize;
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str().map(str::to_owned) else {
            out.push(arg);
            if sub.is_some() {
                operands += 1;
            }
            continue;
        };
        let current = sub.unwrap_or(cmd);
        if text == "--" {
            out.push(arg);
            out.extend(iter);
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            out.push(arg);
            let name = long.split('=').next().unwrap_or(long);
            let takes = current
                .get_arguments()
                .find(|a| a.get_long() == Some(name))
                .is_some_and(|a| a.get_action().takes_values());
            if takes && !long.contains('=') {
                out.extend(iter.next());
            }
            continue;
        }
        if text.len() > 1 && text.starts_with('-') {
            out.push(arg);
            let shorts: Vec<char> = text.chars().skip(1).collect();
            for (i, c) in shorts.iter().enumerate() {
                let takes = current
                    .get_arguments()
                    .find(|a| a.get_short() == Some(*c))
                    .is_some_and(|a| a.get_action().takes_values());
                if takes {
                    if i + 1 == shorts.len() {
                        out.extend(iter.next());
                    }
                    break;
                }
            }
            continue;
        }
        let Some(current_sub) = sub else {
            sub = cmd.find_subcommand(&text);
            verb.clone_from(&text);
            out.push(arg);
            continue;
        };
        let _ = current_sub;
        operands += 1;
        if !ON_SERVER.contains(&verb.as_str()) {
            out.push(arg);
            continue;
        }
        if operands == 1 {
            match split_remote(&text, false) {
                Some((server, path)) if verb != "shell" => {
                    let path = if path.is_empty() {
                        "/".to_owned()
                    } else {
                        path
                    };
                    out.push(server.clone().into());
                    if verb == "put" {
                        out.push("--to".into());
                    }
                    out.push(path.into());
                    host = Some(server);
                }
                _ => {
                    host = Some(text);
                    out.push(arg);
                }
            }
            continue;
        }
        // Later remote operands may repeat the server (not put's: local).
        let repeated = host
            .as_ref()
            .filter(|_| verb != "put")
            .and_then(|h| text.strip_prefix(&format!("{h}:")).map(str::to_owned));
        match repeated {
            Some(path) => out.push(path.into()),
            None => out.push(arg),
        }
    }
    out
}

/// Splits `HOST[:PORT]:PATH` into the server (`HOST` or `HOST:PORT`) and
/// the path. `None` for what is no remote path: no colon, a `/` before the
/// first colon (a local path), a bare IPv6 address, or, unless `path_needed`,
/// a `HOST:PORT` alone. With `path_needed` (cp's operands), `HOST:123` is
/// the path `123` on HOST, as with scp; `HOST:PORT:` names the port.
pub(crate) fn split_remote(s: &str, path_needed: bool) -> Option<(String, String)> {
    let (host, rest) = if let Some(inner) = s.strip_prefix('[') {
        let close = inner.find(']')?;
        let rest = inner[close + 1..].strip_prefix(':')?;
        (&s[..close + 2], rest)
    } else {
        if s.parse::<std::net::Ipv6Addr>().is_ok() {
            return None;
        }
        let colon = s.find(':')?;
        let host = &s[..colon];
        if host.is_empty() || host.contains('/') {
            return None;
        }
        (host, &s[colon + 1..])
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if let Some((port, path)) = rest.split_once(':') {
        if digits(port) {
            return Some((format!("{host}:{port}"), path.to_owned()));
        }
    }
    if digits(rest) && !path_needed {
        return None;
    }
    Some((host.to_owned(), rest.to_owned()))
}

/// Prints a top-level failure as the output mode says.
pub(crate) fn report_failure(global: &Global, e: &anyhow::Error) {
    Output::new(global).error(None, e);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let args = line.split_whitespace().map(OsString::from).collect();
        rewrite(&command(), args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn host_path_forms_become_operands() {
        assert_eq!(words("ferry ls nas:/v"), ["ferry", "ls", "nas", "/v"]);
        assert_eq!(
            words("ferry --json get -j 4 nas:4000:/a.mp4 nas:4000:/b -o x"),
            ["ferry", "--json", "get", "-j", "4", "nas:4000", "/a.mp4", "/b", "-o", "x"]
        );
        assert_eq!(
            words("ferry put -r nas:/backups a b"),
            ["ferry", "put", "-r", "nas", "--to", "/backups", "a", "b"]
        );
        assert_eq!(words("ferry ls nas:4433"), ["ferry", "ls", "nas:4433"]);
        assert_eq!(words("ferry ls nas"), ["ferry", "ls", "nas"]);
        assert_eq!(
            words("ferry mv [::1]:9:/a /b"),
            ["ferry", "mv", "[::1]:9", "/a", "/b"]
        );
        // put's later operands are local files, colons and all.
        assert_eq!(
            words("ferry put nas nas:x"),
            ["ferry", "put", "nas", "nas:x"]
        );
        // An option's value is not an operand.
        assert_eq!(
            words("ferry get --stats s.csv nas:/f"),
            ["ferry", "get", "--stats", "s.csv", "nas", "/f"]
        );
        assert_eq!(
            words("ferry serve x:y --listen 5"),
            ["ferry", "serve", "x:y", "--listen", "5"]
        );
    }

    #[test]
    fn remote_operands_split_like_scp() {
        let s = |t: &str, p: bool| split_remote(t, p);
        assert_eq!(s("nas:/a", true), Some(("nas".into(), "/a".into())));
        assert_eq!(s("nas:a b", true), Some(("nas".into(), "a b".into())));
        assert_eq!(s("nas:99:/a", true), Some(("nas:99".into(), "/a".into())));
        assert_eq!(s("nas:99", false), None);
        assert_eq!(s("nas:99", true), Some(("nas".into(), "99".into())));
        assert_eq!(s("[::1]:9:/x", true), Some(("[::1]:9".into(), "/x".into())));
        assert_eq!(s("[::1]:/x", true), Some(("[::1]".into(), "/x".into())));
        assert_eq!(s("./a:b", true), None);
        assert_eq!(s("plain", true), None);
        assert_eq!(s("::1", false), None);
        assert_eq!(s("-", true), None);
    }

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }
}
