//! How results look: `ls -l` lines, `stat` blocks, JSON objects, sizes and
//! times.

use std::io::{self, Write};

use ferry_client::{ClientError, Entry, Kind, RemotePath, Timestamp};
use serde_json::json;

/// Formats a Unix mode like `ls -l`: `drwxr-xr-x`.
pub fn mode_string(kind: Kind, mode: u32) -> String {
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
pub fn time_string(t: Option<Timestamp>) -> String {
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
pub fn time_iso(t: Option<Timestamp>) -> Option<String> {
    let t = t?;
    jiff::Timestamp::new(t.secs, t.nanos as i32)
        .ok()
        .map(|ts| ts.to_string())
}

/// Bytes for people: `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
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
pub fn human_rate(bytes: u64, secs: f64) -> String {
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
pub fn long_line(entry: &Entry, size_width: usize) -> String {
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
pub enum Style {
    /// Size and name.
    Short,
    /// `ls -l`: mode, size, time, name.
    Long,
    /// One JSON object per entry.
    Json,
}

impl Style {
    /// `--json` wins; else long or short.
    pub fn new(long: bool, json: bool) -> Self {
        match (json, long) {
            (true, _) => Style::Json,
            (false, true) => Style::Long,
            (false, false) => Style::Short,
        }
    }
}

/// Prints entries sorted by name; `dir` completes their paths in JSON.
pub fn print_entries(
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
pub fn short_line(entry: &Entry, size_width: usize) -> String {
    let (size, suffix) = match entry.kind {
        Kind::Dir => ("-".to_owned(), "/"),
        _ => (entry.size.to_string(), ""),
    };
    format!("{size:>size_width$}  {}{suffix}", entry.name)
}

/// An entry as a JSON object.
pub fn entry_json(e: &Entry, path: Option<&RemotePath>) -> serde_json::Value {
    json!({
        "name": e.name,
        "path": path.map(|p| p.to_string()),
        "kind": e.kind.as_str(),
        "size": e.size,
        "mtime": time_iso(e.mtime),
        "mode": format!("{:04o}", e.mode),
    })
}

/// Prints `stat` output for one path.
pub fn print_stat(
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
pub fn error_json(name: &str, e: &ClientError) -> serde_json::Value {
    json!({ "name": name, "ok": false, "code": e.code(), "error": e.to_string() })
}

/// Whether an error is only a closed stdout pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
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
