//! Shell command lines: splitting into words (quotes and backslashes, like a
//! POSIX shell), the command and alias table that `help` prints, and parsing
//! a line into a [`Command`].
//!
//! Aliases are resolved here, before clap sees the words: canonical names and
//! lower-case aliases match exactly, upper-case aliases (the names of the
//! systems ferry grew out of: `DIR`, `DOWNLOAD`, …) match in any case.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use crate::cmd::Remote;

/// One shell command and its arguments, as clap parses them after the alias
/// has been replaced by the canonical name. The verbs that act on the
/// server are the one-shot commands' own ([`Remote`]); the rest exist only
/// here.
#[derive(Debug, Parser)]
#[command(multicall = true, disable_help_subcommand = true)]
pub(super) enum Command {
    /// Print the remote working directory.
    Pwd,
    /// Print the local working directory.
    Lpwd,
    /// List local files with sizes (-l: kind, size, time); globs allowed.
    Lls {
        /// Long format: kind and mode, size, modification time, name.
        #[arg(short = 'l')]
        long: bool,
        /// Local directories, files or globs (default: the working directory).
        paths: Vec<PathBuf>,
    },
    /// Change the remote working directory (default: /).
    Cd {
        /// Remote directory.
        dir: Option<String>,
    },
    /// Change the local working directory (default: $HOME).
    Lcd {
        /// Local directory.
        dir: Option<PathBuf>,
    },
    /// Create local directories.
    Lmkdir {
        /// Create missing parents; an existing directory is not an error.
        #[arg(short, long)]
        parents: bool,
        /// Local directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// List the commands, or show one.
    Help {
        /// A command or alias.
        topic: Option<String>,
    },
    /// Leave the shell (Ctrl-D does too).
    Quit,
    #[command(flatten)]
    Remote(Remote),
}

/// What a command's arguments name, for completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Args {
    /// No arguments worth completing.
    Nothing,
    /// Remote paths.
    Remote,
    /// Local paths.
    Local,
    /// Command names.
    Commands,
}

/// A row of the command table.
#[derive(Debug)]
pub(super) struct Spec {
    /// The canonical name.
    pub name: &'static str,
    /// Its arguments, as `help` shows them (what it does comes from its
    /// clap definition, the same text as the one-shot command's help).
    pub usage: &'static str,
    /// Other names. Upper-case ones match in any case; the others exactly.
    pub aliases: &'static [&'static str],
    /// What the arguments name (options may say otherwise, see
    /// [`Spec::arg_after`]).
    pub args: Args,
}

/// Every command, in the order `help` lists them.
pub(super) const COMMANDS: &[Spec] = &[
    Spec {
        name: "pwd",
        usage: "",
        aliases: &[],
        args: Args::Nothing,
    },
    Spec {
        name: "lpwd",
        usage: "",
        aliases: &[],
        args: Args::Nothing,
    },
    Spec {
        name: "ls",
        usage: "[-l] [PATH...]",
        aliases: &["lsr", "DIR", "LIST"],
        args: Args::Remote,
    },
    Spec {
        name: "lls",
        usage: "[-l] [PATH...]",
        aliases: &["lsl"],
        args: Args::Local,
    },
    Spec {
        name: "cd",
        usage: "[DIR]",
        aliases: &["crd", "CHDIR"],
        args: Args::Remote,
    },
    Spec {
        name: "lcd",
        usage: "[DIR]",
        aliases: &["cld"],
        args: Args::Local,
    },
    Spec {
        name: "mkdir",
        usage: "[-p] DIR...",
        aliases: &["mkrdir", "MKDIR"],
        args: Args::Remote,
    },
    Spec {
        name: "lmkdir",
        usage: "[-p] DIR...",
        aliases: &["mkldir"],
        args: Args::Local,
    },
    Spec {
        name: "rmdir",
        usage: "DIR...",
        aliases: &["RMDIR"],
        args: Args::Remote,
    },
    Spec {
        name: "rm",
        usage: "PATH...",
        aliases: &["DELETE", "DELF"],
        args: Args::Remote,
    },
    Spec {
        name: "mv",
        usage: "FROM TO",
        aliases: &["MOVE"],
        args: Args::Remote,
    },
    Spec {
        name: "stat",
        usage: "PATH...",
        aliases: &["info"],
        args: Args::Remote,
    },
    Spec {
        name: "sum",
        usage: "PATH...",
        aliases: &[],
        args: Args::Remote,
    },
    Spec {
        name: "get",
        usage: "REMOTE... [-o LOCALDIR] [-r] [-j N] [-p]",
        aliases: &["dl", "DOWNLOAD", "DWLD"],
        args: Args::Remote,
    },
    Spec {
        name: "put",
        usage: "LOCAL... [--to REMOTEDIR] [-r] [-j N] [-p]",
        aliases: &["ul", "UPLOAD", "UPLD"],
        args: Args::Local,
    },
    Spec {
        name: "help",
        usage: "[COMMAND]",
        aliases: &["?"],
        args: Args::Commands,
    },
    Spec {
        name: "quit",
        usage: "",
        aliases: &["exit", "DISCONNECT", "QUIT"],
        args: Args::Nothing,
    },
];

impl Spec {
    /// What the word after `prev` names: an option's value may differ from
    /// the command's other arguments (`get … -o LOCALDIR`).
    pub(super) fn arg_after(&self, prev: Option<&str>) -> Args {
        match (self.name, prev) {
            ("get", Some("-o" | "--output")) => Args::Local,
            ("put", Some("--to")) => Args::Remote,
            (_, Some("-j" | "--jobs" | "--stats")) => Args::Nothing,
            _ => self.args,
        }
    }

    /// The command with its arguments: `get REMOTE... [-o LOCALDIR] …`.
    pub(super) fn synopsis(&self) -> String {
        if self.usage.is_empty() {
            self.name.to_owned()
        } else {
            format!("{} {}", self.name, self.usage)
        }
    }

    /// What the command does, from its clap definition.
    pub(super) fn about(&self) -> String {
        Command::command()
            .find_subcommand(self.name)
            .and_then(|c| c.get_about())
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// The line `help` prints for this command, the description starting
    /// two spaces after a synopsis `width` wide.
    pub(super) fn help_line(&self, width: usize) -> String {
        let synopsis = self.synopsis();
        let aliases = if self.aliases.is_empty() {
            String::new()
        } else {
            format!(" (aliases: {})", self.aliases.join(", "))
        };
        format!("{synopsis:<width$}  {}{aliases}", self.about())
    }
}

/// Whether an alias matches in any case (the upper-case ones do).
fn case_insensitive(alias: &str) -> bool {
    alias.chars().any(|c| c.is_ascii_uppercase()) && !alias.chars().any(|c| c.is_ascii_lowercase())
}

/// Finds the command a name or alias stands for.
pub(super) fn lookup(word: &str) -> Option<&'static Spec> {
    COMMANDS
        .iter()
        .find(|s| s.name == word || s.aliases.contains(&word))
        .or_else(|| {
            COMMANDS.iter().find(|s| {
                s.aliases
                    .iter()
                    .any(|a| case_insensitive(a) && a.eq_ignore_ascii_case(word))
            })
        })
}

/// Every name a command can be typed as, for completion.
pub(super) fn all_names() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
}

/// Why a line could not be run.
#[derive(Debug, thiserror::Error)]
pub(super) enum ParseError {
    /// Quotes or escapes are unbalanced.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// No such command.
    #[error("{0}: unknown command (try 'help')")]
    Unknown(String),
    /// The arguments do not fit the command (or `--help` was asked for).
    #[error("{0}")]
    Args(clap::Error),
}

/// Parses a line; `Ok(None)` for a line with no words.
pub(super) fn parse(line: &str) -> Result<Option<Command>, ParseError> {
    let mut words = split(line)?;
    let Some(first) = words.first_mut() else {
        return Ok(None);
    };
    let spec = lookup(first).ok_or_else(|| ParseError::Unknown(first.clone()))?;
    spec.name.clone_into(first);
    Command::try_parse_from(words)
        .map(Some)
        .map_err(ParseError::Args)
}

/// Why a line does not split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SplitError {
    /// A quote was opened and never closed.
    #[error("unterminated {0} quote")]
    Unterminated(&'static str),
    /// The line ends in a lone backslash.
    #[error("the line ends in a lone backslash")]
    TrailingBackslash,
}

/// A word of a line, unquoted, and the byte offset where it starts
/// (including any opening quote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    /// The word with quotes and escapes removed.
    pub text: String,
    /// Where it starts in the line.
    pub start: usize,
}

/// The words of a line, and whether it ended inside a word (rather than in
/// whitespace) or inside an unclosed quote or escape.
struct Lexed {
    words: Vec<Word>,
    ends_in_word: bool,
    open: Option<SplitError>,
}

/// Splits like a POSIX shell, without expansions: whitespace separates
/// words; `'…'` keeps everything literally; `"…"` keeps everything but
/// `\"` and `\\`; outside quotes `\` keeps the next character.
fn lex(line: &str) -> Lexed {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    let mut open = None;
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            words.extend(current.take());
            continue;
        }
        let word = current.get_or_insert_with(|| Word {
            text: String::new(),
            start: i,
        });
        match c {
            '\\' => match chars.next() {
                Some((_, next)) => word.text.push(next),
                None => open = Some(SplitError::TrailingBackslash),
            },
            '\'' => loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, ch)) => word.text.push(ch),
                    None => {
                        open = Some(SplitError::Unterminated("single"));
                        break;
                    }
                }
            },
            '"' => loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, esc @ ('"' | '\\'))) => word.text.push(esc),
                        Some((_, other)) => {
                            word.text.push('\\');
                            word.text.push(other);
                        }
                        None => {
                            open = Some(SplitError::Unterminated("double"));
                            break;
                        }
                    },
                    Some((_, ch)) => word.text.push(ch),
                    None => {
                        open = Some(SplitError::Unterminated("double"));
                        break;
                    }
                }
            },
            other => word.text.push(other),
        }
    }
    let ends_in_word = current.is_some();
    words.extend(current);
    Lexed {
        words,
        ends_in_word,
        open,
    }
}

/// Splits a whole line into words.
pub(super) fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let lexed = lex(line);
    match lexed.open {
        Some(e) => Err(e),
        None => Ok(lexed.words.into_iter().map(|w| w.text).collect()),
    }
}

/// Splits the text before the cursor for completion: the finished words,
/// and the word being typed (empty, starting at the cursor, after
/// whitespace). Unclosed quotes are fine here.
pub(super) fn split_for_completion(before_cursor: &str) -> (Vec<Word>, Word) {
    let mut lexed = lex(before_cursor);
    let current = if lexed.ends_in_word {
        lexed.words.pop()
    } else {
        None
    };
    let current = current.unwrap_or(Word {
        text: String::new(),
        start: before_cursor.len(),
    });
    (lexed.words, current)
}

/// Quotes a word so that [`split`] gives it back: backslashes before
/// whitespace, quotes and backslashes.
pub(super) fn escape(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if c.is_whitespace() || matches!(c, '\'' | '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{get, put};

    fn words(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(words("  ls   -l  /a "), ["ls", "-l", "/a"]);
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(
            words("get 'my file.txt' \"other file\""),
            ["get", "my file.txt", "other file"]
        );
        assert_eq!(words(r"get my\ file.txt"), ["get", "my file.txt"]);
        assert_eq!(words(r#"a"b c"d'e f'g"#), ["ab cde fg"]);
        assert_eq!(words(r#""say \"hi\" \\ \n""#), [r#"say "hi" \ \n"#]);
        assert_eq!(words(r"'no \escapes'"), [r"no \escapes"]);
        assert_eq!(words("'' x"), ["", "x"]);
        assert_eq!(words("rm *.mp4"), ["rm", "*.mp4"]);
        assert_eq!(words("ünï cödé"), ["ünï", "cödé"]);
    }

    #[test]
    fn refuses_open_quotes() {
        assert_eq!(split("get 'abc"), Err(SplitError::Unterminated("single")));
        assert_eq!(split("get \"abc"), Err(SplitError::Unterminated("double")));
        assert_eq!(
            split("get \"abc\\"),
            Err(SplitError::Unterminated("double"))
        );
        assert_eq!(split("get abc\\"), Err(SplitError::TrailingBackslash));
    }

    #[test]
    fn finds_the_word_being_completed() {
        let (done, current) = split_for_completion("cd su");
        assert_eq!(done.len(), 1);
        assert_eq!(
            current,
            Word {
                text: "su".into(),
                start: 3
            }
        );
        let (done, current) = split_for_completion("get a ");
        assert_eq!(done.len(), 2);
        assert_eq!(
            current,
            Word {
                text: String::new(),
                start: 6
            }
        );
        let (_, current) = split_for_completion("get 'my fi");
        assert_eq!(
            current,
            Word {
                text: "my fi".into(),
                start: 4
            }
        );
        let (_, current) = split_for_completion(r"get my\ fi");
        assert_eq!(
            current,
            Word {
                text: "my fi".into(),
                start: 4
            }
        );
        let (done, current) = split_for_completion("");
        assert!(done.is_empty());
        assert_eq!(current.start, 0);
    }

    #[test]
    fn escape_round_trips() {
        for w in [
            "plain",
            "with space",
            "it's",
            r"back\slash",
            "tab\there",
            "\"q\"",
        ] {
            assert_eq!(words(&escape(w)), [w]);
        }
    }

    #[test]
    fn aliases_resolve() {
        let name = |w: &str| lookup(w).map(|s| s.name);
        assert_eq!(name("ls"), Some("ls"));
        assert_eq!(name("lsr"), Some("ls"));
        assert_eq!(name("lsl"), Some("lls"));
        assert_eq!(name("DIR"), Some("ls"));
        assert_eq!(name("dir"), Some("ls"));
        assert_eq!(name("List"), Some("ls"));
        assert_eq!(name("download"), Some("get"));
        assert_eq!(name("Dwld"), Some("get"));
        assert_eq!(name("DELF"), Some("rm"));
        assert_eq!(name("info"), Some("stat"));
        assert_eq!(name("exit"), Some("quit"));
        assert_eq!(name("Disconnect"), Some("quit"));
        // Lower-case names and aliases match exactly.
        assert_eq!(name("LS"), None);
        assert_eq!(name("Info"), None);
        assert_eq!(name("EXIT"), None);
        assert_eq!(name("PWD"), None);
        assert_eq!(name("nope"), None);
    }

    #[test]
    fn every_command_has_a_row_and_parses() {
        Command::command().debug_assert();
        for spec in COMMANDS {
            let sub = Command::command();
            assert!(
                sub.find_subcommand(spec.name).is_some(),
                "{} is in the table but not a command",
                spec.name
            );
        }
        for sub in Command::command().get_subcommands() {
            assert!(
                lookup(sub.get_name()).is_some(),
                "{} has no row",
                sub.get_name()
            );
        }
        // Every alias leads to its own command, in any case if upper-case.
        for spec in COMMANDS {
            for alias in spec.aliases {
                assert_eq!(lookup(alias).map(|s| s.name), Some(spec.name));
                if case_insensitive(alias) {
                    assert_eq!(
                        lookup(&alias.to_lowercase()).map(|s| s.name),
                        Some(spec.name)
                    );
                }
            }
        }
    }

    #[test]
    fn parses_lines() {
        assert!(parse("   ").unwrap().is_none());
        match parse("DOWNLOAD 'a b' x -o out -j 3 -r").unwrap() {
            Some(Command::Remote(Remote::Get(get::Args {
                remote,
                output,
                transfer,
            }))) => {
                assert_eq!(remote, ["a b", "x"]);
                assert_eq!(output, Some(PathBuf::from("out")));
                assert_eq!(transfer.jobs, Some(3));
                assert!(transfer.recursive);
            }
            other => panic!("{other:?}"),
        }
        match parse("put *.txt --to /up").unwrap() {
            Some(Command::Remote(Remote::Put(put::Args { local, to, .. }))) => {
                assert_eq!(local, ["*.txt"]);
                assert_eq!(to.as_deref(), Some("/up"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("lsl -l").unwrap(),
            Some(Command::Lls { long: true, .. })
        ));
        assert!(matches!(
            parse("cd").unwrap(),
            Some(Command::Cd { dir: None })
        ));
        assert!(matches!(parse("frobnicate"), Err(ParseError::Unknown(_))));
        assert!(matches!(parse("mv onlyone"), Err(ParseError::Args(_))));
        assert!(matches!(parse("get 'open"), Err(ParseError::Split(_))));
        assert!(matches!(parse("get -j 0 x"), Err(ParseError::Args(_))));
    }

    #[test]
    fn help_shows_aliases_as_aliases() {
        let get = lookup("get").unwrap().help_line(0);
        assert!(
            get.starts_with("get REMOTE... [-o LOCALDIR] [-r] [-j N] [-p]"),
            "{get}"
        );
        assert!(
            get.ends_with("into a local directory (aliases: dl, DOWNLOAD, DWLD)"),
            "{get}"
        );
    }
}
