//! How results and errors look: [`Output`] prints listings, `stat` blocks
//! and failures as text or JSON; [`describe`] turns an error into the line
//! a person reads, with advice that names ferry's own flags and commands.

use std::io::{self, Write};

use ferry_client::{ConnectError, Entry, Kind, RemotePath, RequestError, Timestamp};
use serde_json::json;

use crate::{cli::Global, transfer::Cancelled};

/// Where a command's results go, and in which form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    /// One JSON object per line.
    pub json: bool,
    /// Nothing but errors.
    pub quiet: bool,
}

impl Output {
    /// As the global flags say.
    pub(crate) fn new(global: &Global) -> Self {
        Output {
            json: global.json,
            quiet: global.quiet,
        }
    }

    /// Prints entries (see [`print_entries`]) to stdout.
    pub(crate) fn entries(
        &self,
        dir: Option<&RemotePath>,
        entries: &mut [Entry],
        style: Style,
    ) -> io::Result<()> {
        let mut out = io::stdout().lock();
        print_entries(&mut out, dir, entries, style)?;
        out.flush()
    }

    /// Prints one path's metadata to stdout.
    pub(crate) fn stat(&self, path: &RemotePath, entry: &Entry) -> io::Result<()> {
        print_stat(&mut io::stdout().lock(), path, entry, self.json)
    }

    /// Prints the failure of one part of a command, so the rest can go on
    /// (`Ok(false)`); passes on what must stop the whole command (Ctrl-C, a
    /// closed stdout, a lost connection).
    pub(crate) fn report(&self, result: anyhow::Result<bool>) -> anyhow::Result<bool> {
        match result {
            Ok(ok) => Ok(ok),
            Err(e) if e.is::<Cancelled>() || is_broken_pipe(&e) || is_connection_lost(&e) => Err(e),
            Err(e) => {
                eprintln!("ferry: {}", describe(&e));
                Ok(false)
            }
        }
    }
}

/// The message for an error, as the user should read it: the context
/// around it, then the ferry error with the advice that goes with it (the
/// library's errors already name their causes, so the chain stops there).
pub(crate) fn describe(e: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in e.chain() {
        if let Some(e) = cause.downcast_ref::<ConnectError>() {
            parts.push(describe_connect(e));
            break;
        }
        if let Some(e) = cause.downcast_ref::<RequestError>() {
            parts.push(describe_request(e));
            break;
        }
        parts.push(cause.to_string());
    }
    parts.join(": ")
}

/// A connection failure, with what to do about it.
pub(crate) fn describe_connect(e: &ConnectError) -> String {
    match e {
        ConnectError::Timeout { target, .. } => {
            let port = target.rsplit(':').next().unwrap_or("4433");
            format!("{e}: is `ferry serve` running there and UDP port {port} reachable?")
        }
        ConnectError::HostKeyChanged {
            target,
            expected,
            actual,
            known_hosts,
        } => format!(
            "\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
             @    WARNING: THE CERTIFICATE OF {target} HAS CHANGED!\n\
             @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
             Someone may be intercepting this connection, or the server's\n\
             certificate was replaced. ferry refuses to connect.\n  \
               pinned:    {expected}\n  \
               presented: {actual}\n\
             The pin is kept in {}.\n\
             If you know the change is legitimate, forget the old pin with\n  \
               ferry forget {target}\n\
             and connect again to pin the new certificate.",
            known_hosts.display()
        ),
        ConnectError::FingerprintMismatch {
            target,
            expected,
            actual,
        } => format!(
            "{target} presented {actual}, not the {expected} given with --fingerprint; \
             refusing to connect"
        ),
        ConnectError::Refused { target, error } => format!("{target} refused this client: {error}"),
        ConnectError::Untrusted { fingerprint, .. } => format!(
            "{e}.\nCheck the fingerprint with the server's operator (`ferry serve` prints it), then\n\
             re-run with --fingerprint {fingerprint} (or --accept-new to trust it as it is)."
        ),
        other => other.to_string(),
    }
}

/// A failed operation, with what to do about it.
pub(crate) fn describe_request(e: &RequestError) -> String {
    match e {
        RequestError::IsADirectory(path) => format!("{path}: is a directory (use -r)"),
        RequestError::Refused(error) => format!("the server refused this client: {error}"),
        other => other.to_string(),
    }
}

/// Whether an error is the loss of the connection (so the shell reconnects).
pub(crate) fn is_connection_lost(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<RequestError>()
            .is_some_and(RequestError::is_connection_lost)
    })
}

/// Formats a Unix mode like `ls -l`: `drwxr-xr-x`.
pub(crate) fn mode_string(kind: Kind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(kind.mark());
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// Local time as `2026-11-23 03:41`.
pub(crate) fn time_string(t: Option<Timestamp>) -> String {
    let Some(t) = t else {
        return "-".repeat(16);
    };
    match jiff::Timestamp::new(t.secs, t.nanos as i32) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => "?".repeat(16),
    }
}

/// RFC 3339 in UTC, for JSON.
pub(crate) fn time_iso(t: Option<Timestamp>) -> Option<String> {
    let t = t?;
    jiff::Timestamp::new(t.secs, t.nanos as i32)
        .ok()
        .map(|ts| ts.to_string())
}

/// Bytes for people: `1.5 MiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A rate for people: `123.4 MB/s` (decimal, like link speeds).
pub(crate) fn human_rate(bytes: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    let rate = bytes as f64 / secs;
    if rate >= 1e9 {
        format!("{:.2} GB/s", rate / 1e9)
    } else if rate >= 1e6 {
        format!("{:.1} MB/s", rate / 1e6)
    } else {
        format!("{:.1} kB/s", rate / 1e3)
    }
}

/// One `ls -l` line.
pub(crate) fn long_line(entry: &Entry, size_width: usize) -> String {
    let suffix = if entry.kind == Kind::Dir { "/" } else { "" };
    format!(
        "{}  {:>size_width$}  {}  {}{suffix}",
        mode_string(entry.kind, entry.mode),
        entry.size,
        time_string(entry.mtime),
        entry.name,
    )
}

/// How listings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Size and name.
    Short,
    /// `ls -l`: mode, size, time, name.
    Long,
    /// One JSON object per entry.
    Json,
}

impl Style {
    /// `--json` wins; else long or short.
    pub(crate) fn new(long: bool, json: bool) -> Self {
        match (json, long) {
            (true, _) => Style::Json,
            (false, true) => Style::Long,
            (false, false) => Style::Short,
        }
    }
}

/// Prints entries sorted by name; `dir` completes their paths in JSON.
pub(crate) fn print_entries(
    out: &mut impl Write,
    dir: Option<&RemotePath>,
    entries: &mut [Entry],
    style: Style,
) -> io::Result<()> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let width = entries
        .iter()
        .map(|e| e.size.to_string().len())
        .max()
        .unwrap_or(1);
    for e in entries.iter() {
        match style {
            Style::Json => {
                let path = dir.and_then(|d| d.join(&e.name).ok());
                writeln!(out, "{}", entry_json(e, path.as_ref()))?;
            }
            Style::Long => writeln!(out, "{}", long_line(e, width))?,
            Style::Short => writeln!(out, "{}", short_line(e, width))?,
        }
    }
    Ok(())
}

/// One short `ls` line: the size (`-` for a directory) and the name.
pub(crate) fn short_line(entry: &Entry, size_width: usize) -> String {
    let (size, suffix) = match entry.kind {
        Kind::Dir => ("-".to_owned(), "/"),
        _ => (entry.size.to_string(), ""),
    };
    format!("{size:>size_width$}  {}{suffix}", entry.name)
}

/// An entry as a JSON object.
pub(crate) fn entry_json(e: &Entry, path: Option<&RemotePath>) -> serde_json::Value {
    json!({
        "name": e.name,
        "path": path.map(std::string::ToString::to_string),
        "kind": e.kind.as_str(),
        "size": e.size,
        "mtime": time_iso(e.mtime),
        "mode": format!("{:04o}", e.mode),
    })
}

/// Prints `stat` output for one path.
pub(crate) fn print_stat(
    out: &mut impl Write,
    path: &RemotePath,
    e: &Entry,
    json: bool,
) -> io::Result<()> {
    if json {
        return writeln!(out, "{}", entry_json(e, Some(path)));
    }
    writeln!(out, "  path: {path}")?;
    writeln!(out, "  kind: {}", e.kind.as_str())?;
    writeln!(out, "  size: {} ({})", e.size, human_bytes(e.size))?;
    writeln!(
        out,
        "  mode: {:04o} ({})",
        e.mode,
        mode_string(e.kind, e.mode)
    )?;
    writeln!(out, "  modified: {}", time_string(e.mtime))
}

/// An error as a JSON line.
pub(crate) fn error_json(name: &str, e: &RequestError) -> serde_json::Value {
    json!({ "name": name, "ok": false, "code": e.code(), "error": describe_request(e) })
}

/// Whether an error is only a closed stdout pipe.
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_sizes() {
        assert_eq!(mode_string(Kind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(Kind::File, 0o640), "-rw-r-----");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_rate(2_500_000, 1.0), "2.5 MB/s");
    }
}
