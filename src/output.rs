//! How results and errors look: [`Output`] prints listings, `stat` blocks,
//! warnings and failures as text or JSON; [`describe`] turns an error into
//! the line a person reads, with advice that names ferry's own flags and
//! commands.
//!
//! ## Terminal safety
//!
//! Names, paths, link targets and messages may come from a server, which
//! could hide escape sequences in them (to retitle, recolour or clear the
//! terminal) or CR/LF (to forge lines). Every such string passes through
//! [`escape`] before it is printed as text, on terminals and pipes alike,
//! the way GNU `ls` and sftp do: control characters, bidirectional
//! overrides and the backslash itself become visible escapes (`\n`,
//! `\x1b`, `\u{202e}`, `\\`). JSON output keeps the exact text, JSON-escaped
//! ([`json_line`]), with those characters as `\u` escapes too.

use std::{
    borrow::Cow,
    io::{self, Write},
};

use ferry_client::{
    glob::{SkipReason, Skipped},
    ConnectError, Entry, Kind, RemotePath, RequestError, Timestamp,
};
use serde_json::{json, Value};

use crate::{cli::Global, transfer::Cancelled};

/// Whether a character must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `s` prints as it is (no control or bidirectional characters).
pub(crate) fn printable(s: &str) -> bool {
    !s.chars().any(unsafe_char)
}

/// The one escaping function: `s` made safe to print on a terminal.
/// Control characters (C0, DEL, C1), bidirectional controls and `\` become
/// visible escapes; with `keep_newlines`, `\n` stays a line break (for
/// messages ferry composes itself, whose parts were escaped already).
fn escape_with(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| (unsafe_char(c) && !(keep_newlines && c == '\n')) || c == '\\')
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A name, path or message from a server (or anywhere), safe to print.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// A JSON value as one line. Beyond what JSON requires, DEL, C1 controls
/// and bidirectional controls are written as `\u` escapes as well, so a
/// line is safe on a terminal and still carries the exact text.
pub(crate) fn json_line(value: &Value) -> String {
    struct Safe;
    impl serde_json::ser::Formatter for Safe {
        fn write_string_fragment<W: ?Sized + Write>(
            &mut self,
            writer: &mut W,
            fragment: &str,
        ) -> io::Result<()> {
            let mut start = 0;
            for (i, c) in fragment.char_indices() {
                if unsafe_char(c) {
                    writer.write_all(&fragment.as_bytes()[start..i])?;
                    write!(writer, "\\u{:04x}", c as u32)?;
                    start = i + c.len_utf8();
                }
            }
            writer.write_all(&fragment.as_bytes()[start..])
        }
    }
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Safe);
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

/// Prints one JSON line on stdout.
pub(crate) fn print_json(value: &Value) -> io::Result<()> {
    writeln!(io::stdout().lock(), "{}", json_line(value))
}

/// Where a command's results go, and in which form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    /// One JSON object per line on stdout, errors included.
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

    /// Prints one path's metadata to stdout.
    pub(crate) fn stat(&self, path: &RemotePath, entry: &Entry) -> io::Result<()> {
        print_stat(&mut io::stdout().lock(), path, entry, self.json)
    }

    /// Prints the failure of one part of a command, naming the path it
    /// concerns, so the rest can go on (`Ok(false)`); passes on what must
    /// stop the whole command (Ctrl-C, a closed stdout, a lost connection).
    pub(crate) fn report_at(
        &self,
        path: Option<&str>,
        result: anyhow::Result<bool>,
    ) -> anyhow::Result<bool> {
        match result {
            Ok(ok) => Ok(ok),
            Err(e) if e.is::<Cancelled>() || is_broken_pipe(&e) || is_connection_lost(&e) => Err(e),
            Err(e) => {
                self.error(path, &e);
                Ok(false)
            }
        }
    }

    /// Prints an error: a JSON event on stdout with `--json`, else a line
    /// on stderr.
    pub(crate) fn error(&self, path: Option<&str>, e: &anyhow::Error) {
        if self.json {
            let _ = print_json(&error_event(path, error_code(e), &describe(e)));
        } else {
            eprintln!("ferry: {}", describe(e));
        }
    }

    /// Prints the failure of one file of a batch.
    pub(crate) fn failure(&self, name: &str, e: &RequestError) {
        let message = describe_request(e);
        if self.json {
            let _ = print_json(&error_event(Some(name), e.code(), &message));
        } else if message.contains(escape(name).as_ref()) {
            eprintln!("ferry: {message}");
        } else {
            eprintln!("ferry: {}: {message}", escape(name));
        }
    }

    /// Reports something a plan left out: a warning, which does not fail
    /// the command.
    pub(crate) fn skipped(&self, skipped: &Skipped) {
        if self.json {
            let (reason, target) = match &skipped.reason {
                SkipReason::Symlink { target } => ("symlink", target.clone()),
                SkipReason::NotRegular => ("not_regular", None),
                SkipReason::BadName(_) => ("bad_name", None),
            };
            let _ = print_json(&json!({
                "event": "skipped",
                "path": skipped.path,
                "reason": reason,
                "target": target,
                "message": skipped.to_string(),
            }));
        } else if !self.quiet {
            eprintln!("ferry: warning: {}", escape(&skipped.to_string()));
        }
    }

    /// A warning of the command's own.
    pub(crate) fn warn(&self, message: &str) {
        if self.json {
            let _ = print_json(&json!({"event": "warning", "message": message}));
        } else if !self.quiet {
            eprintln!("ferry: warning: {}", escape(message));
        }
    }
}

/// The `{"event":"error",…}` object.
pub(crate) fn error_event(path: Option<&str>, code: &str, message: &str) -> Value {
    json!({
        "event": "error",
        "ok": false,
        "code": code,
        "message": message,
        "path": path,
    })
}

/// A stable code for any error: the library's codes, `local` for local I/O,
/// `cancelled`, else `error`.
pub(crate) fn error_code(e: &anyhow::Error) -> &'static str {
    for cause in e.chain() {
        if let Some(e) = cause.downcast_ref::<RequestError>() {
            return e.code();
        }
        if let Some(e) = cause.downcast_ref::<ConnectError>() {
            return e.code();
        }
        if cause.is::<Cancelled>() {
            return "cancelled";
        }
        if cause.downcast_ref::<crate::cli::UsageError>().is_some() {
            return "usage";
        }
        if cause.downcast_ref::<io::Error>().is_some() {
            return "local";
        }
    }
    "error"
}

/// The message for an error, as the user should read it: the context
/// around it, then the ferry error with the advice that goes with it (the
/// library's errors already name their causes, so the chain stops there).
/// Safe to print: every part is escaped.
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
        parts.push(escape(&cause.to_string()).into_owned());
    }
    parts.join(": ")
}

/// A connection failure, with what to do about it.
pub(crate) fn describe_connect(e: &ConnectError) -> String {
    let text = match e {
        ConnectError::Timeout { target, .. } => {
            let port = target.rsplit(':').next().unwrap_or("4433");
            format!("{e}: is `ferry serve` running there and UDP port {port} reachable?")
        }
        ConnectError::PortUnreachable { .. } => format!("{e}: is `ferry serve` running there?"),
        ConnectError::HostKeyChanged {
            target,
            expected,
            actual,
            known_hosts,
        } => {
            return escape_with(
                &format!(
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
                true,
            )
            .into_owned()
        }
        ConnectError::FingerprintMismatch {
            target,
            expected,
            actual,
        } => format!(
            "{target} presented {actual}, not the {expected} given with --fingerprint; \
             refusing to connect"
        ),
        ConnectError::Refused { target, error } => format!("{target} refused this client: {error}"),
        ConnectError::Untrusted { fingerprint, .. } => {
            return format!(
                "{}.\nCheck the fingerprint with the server's operator (`ferry serve` prints it), then\n\
                 re-run with --fingerprint {fingerprint} (or --accept-new to trust it as it is).",
                escape(&e.to_string())
            );
        }
        other => other.to_string(),
    };
    escape(&text).into_owned()
}

/// A failed operation, with what to do about it, escaped.
pub(crate) fn describe_request(e: &RequestError) -> String {
    let text = match e {
        RequestError::IsADirectory(path) => format!("{path}: is a directory (use -r)"),
        RequestError::Collision { .. } => format!(
            "{e}; nothing was transferred (use -R to keep each source's path, or name fewer sources)"
        ),
        RequestError::NotRegular(path) => format!(
            "{path}: not a regular file (to send what a program writes, pipe it into `ferry put HOST - --to PATH`)"
        ),
        RequestError::Refused(error) => format!("the server refused this client: {error}"),
        other => other.to_string(),
    };
    escape(&text).into_owned()
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

/// Bytes for people, in the one unit system ferry uses everywhere (IEC,
/// powers of 1024): `512 B`, `1.5 KiB`, `3.0 GiB`.
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

/// A rate for people, in the same units as [`human_bytes`]: `12.3 MiB/s`.
pub(crate) fn human_rate(bytes: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{}/s", human_bytes((bytes as f64 / secs) as u64))
}

/// How listings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Size and name.
    Short,
    /// `ls -l`: mode, size, time, name (and a link's target).
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

/// How entries are printed: the style, human sizes (`-h`), and the width
/// of the size column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Format {
    /// The style.
    pub style: Style,
    /// Sizes as `1.5 MiB`.
    pub human: bool,
    /// Width of the size column.
    pub width: usize,
}

impl Format {
    /// The size column's text for an entry.
    fn size(&self, entry: &Entry) -> String {
        if self.human {
            human_bytes(entry.size)
        } else {
            entry.size.to_string()
        }
    }

    /// The width that fits every entry of `entries`.
    pub(crate) fn fit(mut self, entries: &[Entry]) -> Self {
        self.width = entries
            .iter()
            .map(|e| self.size(e).len())
            .max()
            .unwrap_or(1)
            .max(self.width);
        self
    }

    /// Prints one entry; `dir` completes its path in JSON.
    pub(crate) fn print(
        &self,
        out: &mut impl Write,
        dir: Option<&RemotePath>,
        e: &Entry,
    ) -> io::Result<()> {
        let width = self.width;
        match self.style {
            Style::Json => {
                let path = dir.and_then(|d| d.join(&e.name).ok());
                writeln!(out, "{}", json_line(&entry_json(e, path.as_ref())))
            }
            Style::Long => {
                let suffix = match (&e.kind, &e.target) {
                    (Kind::Dir, _) => "/".to_owned(),
                    (_, Some(target)) => format!(" -> {}", escape(target)),
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "{}  {:>width$}  {}  {}{suffix}",
                    mode_string(e.kind, e.mode),
                    self.size(e),
                    time_string(e.mtime),
                    escape(&e.name),
                )
            }
            Style::Short => {
                let (size, suffix) = match e.kind {
                    Kind::Dir => ("-".to_owned(), "/"),
                    _ => (self.size(e), ""),
                };
                writeln!(out, "{size:>width$}  {}{suffix}", escape(&e.name))
            }
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
    let format = Format {
        style,
        human: false,
        width: 1,
    }
    .fit(entries);
    for e in entries.iter() {
        format.print(out, dir, e)?;
    }
    Ok(())
}

/// An entry as a JSON object.
pub(crate) fn entry_json(e: &Entry, path: Option<&RemotePath>) -> Value {
    let mut v = json!({
        "name": e.name,
        "path": path.map(std::string::ToString::to_string),
        "kind": e.kind.as_str(),
        "size": e.size,
        "mtime": time_iso(e.mtime),
        "mode": format!("{:04o}", e.mode),
    });
    if let (Some(target), Some(map)) = (&e.target, v.as_object_mut()) {
        map.insert("target".into(), Value::String(target.clone()));
    }
    v
}

/// Prints `stat` output for one path.
pub(crate) fn print_stat(
    out: &mut impl Write,
    path: &RemotePath,
    e: &Entry,
    json: bool,
) -> io::Result<()> {
    if json {
        return writeln!(out, "{}", json_line(&entry_json(e, Some(path))));
    }
    writeln!(out, "  path: {}", escape(&path.to_string()))?;
    match &e.target {
        Some(target) if e.kind == Kind::Symlink => {
            writeln!(out, "  kind: symlink (leads nowhere the server can go)")?;
            writeln!(out, "  target: {}", escape(target))?;
        }
        Some(target) => {
            writeln!(out, "  kind: symlink to a {}", e.kind.as_str())?;
            writeln!(out, "  target: {}", escape(target))?;
        }
        None => writeln!(out, "  kind: {}", e.kind.as_str())?,
    }
    writeln!(out, "  size: {} ({})", e.size, human_bytes(e.size))?;
    writeln!(
        out,
        "  mode: {:04o} ({})",
        e.mode,
        mode_string(e.kind, e.mode)
    )?;
    writeln!(out, "  modified: {}", time_string(e.mtime))
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
        assert_eq!(human_rate(5 << 20, 2.0), "2.5 MiB/s");
    }

    #[test]
    fn escapes_what_a_terminal_would_obey() {
        assert_eq!(escape("plain name.txt"), "plain name.txt");
        assert_eq!(escape("ünïcödé ok"), "ünïcödé ok");
        assert_eq!(escape("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(escape("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        assert_eq!(escape("\x7f"), "\\x7f");
        assert_eq!(escape_with("line\none\x1b", true), "line\none\\x1b");
    }

    #[test]
    fn json_keeps_the_exact_text_and_is_terminal_safe() {
        let name = "a\x1b[2J\u{9b}\u{202e}\n\"b\"";
        let line = json_line(&json!({ "name": name }));
        assert!(!line.chars().any(unsafe_char), "{line:?}");
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["name"], name);
    }
}
