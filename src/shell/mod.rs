//! `ferry shell`: the interactive shell and batch mode.
//!
//! - `mod.rs` (this file): connecting, the read-eval loops (terminal and
//!   batch), running one command, Ctrl-C and reconnecting.
//! - [`command`]: splitting lines into words, the command and alias table,
//!   parsing.
//! - [`complete`]: the rustyline helper (tab completion).
//! - [`local`]: `lpwd`, `lcd`, `lls`, `lmkdir`.
//!
//! ## Threads
//!
//! The loop runs on one blocking thread (`spawn_blocking`), not on a runtime
//! worker: rustyline blocks while reading a line, and its completer, which is
//! synchronous, must wait for remote listings. On a blocking thread both may
//! use [`Handle::block_on`], which would panic on a worker. Each command also
//! runs through `block_on`, one at a time, so the shell's state (the
//! connection and the remote working directory) has exactly one owner and
//! needs no locks.
//!
//! ## Ctrl-C
//!
//! At the prompt, rustyline reads Ctrl-C as a key and the line is dropped.
//! While a command runs, the terminal is back in cooked mode and Ctrl-C
//! sends SIGINT. Tokio's SIGINT handler is installed before the first
//! command, so SIGINT never kills the shell; each command races
//! `ctrl_c()` and is dropped when it fires. Transfers watch `ctrl_c()`
//! themselves (see `transfer::run`) to abandon their progress bars and
//! remove their temporary files.

mod command;
mod complete;
mod local;

use std::{
    fs::File,
    io::{BufRead, BufReader, IsTerminal, Write},
    path::{Path, PathBuf},
};

use anyhow::Context;
use ferry_client::{Client, Kind, RemotePath, Target};
use rustyline::{error::ReadlineError, history::FileHistory, CompletionType, Config, Editor};
use serde_json::json;
use tokio::runtime::Handle;

use self::{
    command::{Command, ParseError, COMMANDS},
    complete::ShellHelper,
};
use crate::{
    cli::Global,
    cmd::{self, Session},
    config::{HostArg, HostDefaults},
    home,
    output::{self, escape, print_json, Output},
    session,
    transfer::Cancelled,
};

/// Open an interactive shell on a server (reads commands from stdin when it
/// is not a terminal).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Server, as HOST[:PORT] or an alias from config.toml.
    #[arg(value_name = "HOST")]
    pub host: HostArg,
    /// Run the commands in FILE, stopping at the first failure unless the
    /// line starts with '-'.
    #[arg(short, long, value_name = "FILE")]
    pub batch: Option<PathBuf>,
}

/// Runs the shell: interactively on a terminal, else the batch file or the
/// lines piped on stdin. `Ok(false)` when a batch stopped at a failure.
pub(crate) async fn run(global: &Global, args: Args) -> anyhow::Result<bool> {
    // Take SIGINT from its default (killing the process) for good: tokio
    // keeps its handler for the life of the process.
    let _ = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot catch Ctrl-C")?;
    let input = match args.batch {
        Some(path) => {
            let file = File::open(&path)
                .with_context(|| format!("cannot read the batch file {}", path.display()))?;
            Input::Lines(Box::new(BufReader::new(file)))
        }
        None if std::io::stdin().is_terminal() => Input::Terminal,
        None => Input::Lines(Box::new(BufReader::new(std::io::stdin()))),
    };
    let (target, defaults) = session::resolve(&args.host)?;
    let client = session::connect(global, &target, &defaults).await?;
    let shell = Shell {
        global: global.clone(),
        out: Output::new(global),
        target,
        defaults,
        client: Some(client),
        cwd: RemotePath::root(),
        previous: None,
        handle: Handle::current(),
    };
    tokio::task::spawn_blocking(move || shell.run(input))
        .await
        .context("the shell stopped unexpectedly")?
}

/// Where commands come from.
enum Input {
    /// A person at a terminal: line editing, history, completion.
    Terminal,
    /// A batch: run line by line, echoed, stopping at the first failure.
    Lines(Box<dyn BufRead + Send>),
}

/// How one line went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Done,
    Failed,
    Cancelled,
    Quit,
}

struct Shell {
    global: Global,
    out: Output,
    target: Target,
    defaults: HostDefaults,
    /// `None` after the connection was lost; the next remote command
    /// connects again.
    client: Option<Client>,
    cwd: RemotePath,
    /// The directory before the last `cd`, for `cd -`.
    previous: Option<RemotePath>,
    handle: Handle,
}

impl Shell {
    fn run(mut self, input: Input) -> anyhow::Result<bool> {
        let result = match input {
            Input::Terminal => self.interactive(),
            Input::Lines(lines) => self.batch(lines),
        };
        if let Some(client) = self.client.take() {
            self.handle.block_on(client.close());
        }
        result
    }

    /// The prompt: the host and the remote directory, escaped (a server
    /// chooses directory names).
    fn prompt(&self) -> String {
        format!("ferry {}:{}> ", self.target, escape(&self.cwd.to_string()))
    }

    fn interactive(&mut self) -> anyhow::Result<bool> {
        let config = Config::builder()
            .auto_add_history(false)
            .history_ignore_space(true)
            .max_history_size(1000)
            .and_then(|c| c.history_ignore_dups(true))
            .map(|c| {
                let c = c.completion_type(CompletionType::List);
                // With --json, stdout carries only JSON: the prompt and the
                // line being edited go to the terminal itself.
                if self.global.json {
                    c.behavior(rustyline::config::Behavior::PreferTerm).build()
                } else {
                    c.build()
                }
            })
            .context("cannot set up line editing")?;
        let mut editor: Editor<ShellHelper, FileHistory> =
            Editor::with_config(config).context("cannot set up line editing")?;
        editor.set_helper(Some(ShellHelper::new(self.handle.clone())));
        let history = history_file();
        if let Some(path) = &history {
            // A missing history file is only a first start.
            let _ = editor.load_history(path);
        }
        if !self.global.json {
            eprintln!("connected to {}; 'help' lists the commands", self.target);
        }
        loop {
            if let Some(helper) = editor.helper_mut() {
                helper.reset(self.client.clone(), self.cwd.clone());
            }
            let line = match editor.readline(&self.prompt()) {
                Ok(line) => line,
                // Ctrl-C at the prompt only drops the line.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => {
                    // Leave the user's shell prompt on a line of its own.
                    eprintln!();
                    break;
                }
                Err(e) => return Err(e).context("cannot read the command line"),
            };
            if !line.trim().is_empty() {
                let _ = editor.add_history_entry(line.as_str());
                if let Some(path) = &history {
                    if let Err(e) = editor.append_history(path) {
                        tracing::debug!("cannot save the history in {}: {e}", path.display());
                    }
                }
            }
            let (_, line) = carry_on(&line);
            match self.run_line(line) {
                Step::Quit => break,
                Step::Cancelled => self.out.error(None, &Cancelled.into()),
                Step::Done | Step::Failed => {}
            }
        }
        Ok(true)
    }

    fn batch(&mut self, lines: Box<dyn BufRead + Send>) -> anyhow::Result<bool> {
        for (number, line) in lines.lines().enumerate() {
            let line = line.context("cannot read the batch")?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let echoed = if self.global.json {
                print_json(&json!({"event": "command", "line": line}))
            } else {
                writeln!(std::io::stdout(), "ferry> {}", escape(line))
            };
            if echoed.is_err() {
                // Nobody reads our output any more.
                return Ok(true);
            }
            let (carry_on, command) = carry_on(line);
            match self.run_line(command) {
                Step::Done => {}
                Step::Quit => break,
                Step::Cancelled => return Err(Cancelled.into()),
                Step::Failed if carry_on => {}
                Step::Failed => {
                    let message = format!("batch stopped at line {}: {line}", number + 1);
                    self.out.error(None, &anyhow::anyhow!(message));
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Parses and runs one line, reporting any failure.
    fn run_line(&mut self, line: &str) -> Step {
        let command = match command::parse(line) {
            Ok(None) => return Step::Done,
            Ok(Some(command)) => command,
            Err(ParseError::Args(e)) => {
                // `--help` is not a failure.
                let failed = e.use_stderr();
                if self.global.json {
                    let text = e.to_string();
                    let event = if failed {
                        output::error_event(None, "usage", text.trim())
                    } else {
                        json!({"event": "help", "text": text})
                    };
                    let _ = print_json(&event);
                } else {
                    let _ = e.print();
                }
                return if failed { Step::Failed } else { Step::Done };
            }
            Err(e) => {
                let code = match e {
                    ParseError::Unknown(_) | ParseError::Split(_) => "usage",
                    ParseError::Args(_) => "usage",
                };
                if self.global.json {
                    let _ = print_json(&output::error_event(None, code, &escape(&e.to_string())));
                } else {
                    eprintln!("ferry: {}", escape(&e.to_string()));
                }
                return Step::Failed;
            }
        };
        let result = match command {
            Command::Quit => return Step::Quit,
            Command::Help { topic } => help(topic.as_deref(), self.global.json),
            Command::Pwd if self.global.json => {
                print_json(&json!({"event": "pwd", "path": self.cwd.to_string()}))
                    .map(|()| true)
                    .map_err(Into::into)
            }
            Command::Pwd => writeln!(std::io::stdout(), "{}", escape(&self.cwd.to_string()))
                .map(|()| true)
                .map_err(Into::into),
            Command::Lpwd => local::lpwd(self.global.json),
            Command::Lcd { dir } => local::lcd(dir),
            Command::Lls { long, paths } => local::lls(&self.global, &paths, long),
            Command::Lmkdir { parents, dirs } => Ok(local::lmkdir(&dirs, parents)),
            Command::Cd { dir } => self.remote(OnServer::Cd(dir)),
            Command::Remote(verb) => self.remote(OnServer::Verb(local::expand_verb(verb))),
        };
        let step = match result {
            Ok(true) => Step::Done,
            Ok(false) => Step::Failed,
            Err(e) if e.is::<Cancelled>() => Step::Cancelled,
            // Nobody reads our output any more: leave quietly.
            Err(e) if output::is_broken_pipe(&e) => Step::Quit,
            Err(e) => {
                self.out.error(None, &e);
                Step::Failed
            }
        };
        if let Some(client) = self.client.take_if(|c| c.is_closed()) {
            self.out.warn(&format!(
                "the connection to {} was lost{}; the next command reconnects",
                self.target,
                why_closed(&client)
            ));
        }
        step
    }

    /// Runs a command that needs the server, until it ends or Ctrl-C.
    fn remote(&mut self, command: OnServer) -> anyhow::Result<bool> {
        let handle = self.handle.clone();
        handle.block_on(async {
            let run = async {
                match command {
                    OnServer::Cd(dir) => self.cd(dir).await,
                    OnServer::Verb(verb) => self.run_verb(verb).await,
                }
            };
            // Biased: when Ctrl-C lands during a transfer, the transfer sees
            // it too and must be the one to stop, so that it cleans up.
            tokio::select! {
                biased;
                result = run => result,
                Ok(()) = tokio::signal::ctrl_c() => Err(Cancelled.into()),
            }
        })
    }

    /// The connection, made again if it was lost.
    async fn connected(&mut self) -> anyhow::Result<Client> {
        if let Some(client) = &self.client {
            if !client.is_closed() {
                return Ok(client.clone());
            }
            self.out.warn(&format!(
                "the connection to {} was lost{}",
                self.target,
                why_closed(client)
            ));
            self.client = None;
        }
        self.out.warn(&format!("reconnecting to {}", self.target));
        let client = session::connect(&self.global, &self.target, &self.defaults).await?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// `cd`: check the target with a stat (the root needs no server);
    /// `cd -` goes back to the previous directory.
    async fn cd(&mut self, dir: Option<String>) -> anyhow::Result<bool> {
        let target = match dir.as_deref() {
            Some("-") => self.previous.clone().context("no previous directory yet")?,
            other => cmd::resolve(&self.cwd, other.unwrap_or("/"))?,
        };
        if !target.is_root() {
            let entry = self.connected().await?.stat(&target).await?;
            if entry.kind != Kind::Dir {
                anyhow::bail!("{target}: not a directory");
            }
        }
        self.previous = Some(std::mem::replace(&mut self.cwd, target));
        if dir.as_deref() == Some("-") {
            if self.global.json {
                print_json(&json!({"event": "pwd", "path": self.cwd.to_string()}))?;
            } else if !self.global.quiet {
                writeln!(std::io::stdout(), "{}", escape(&self.cwd.to_string()))?;
            }
        }
        Ok(true)
    }

    /// One of the verbs the one-shot commands share.
    async fn run_verb(&mut self, verb: cmd::Remote) -> anyhow::Result<bool> {
        let session = Session {
            client: self.connected().await?,
            cwd: self.cwd.clone(),
            out: self.out,
            defaults: self.defaults.clone(),
        };
        verb.run(&session).await
    }
}

/// `: the server's words` when it closed the connection to refuse or cut
/// off this client.
fn why_closed(client: &Client) -> String {
    client
        .refusal()
        .map(|e| format!(": {e}"))
        .unwrap_or_default()
}

/// A command that needs the server.
enum OnServer {
    Cd(Option<String>),
    Verb(cmd::Remote),
}

/// Splits off sftp's leading `-`: the batch carries on if the line fails.
fn carry_on(line: &str) -> (bool, &str) {
    let line = line.trim();
    match line.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, line),
    }
}

/// `help [COMMAND]`.
fn help(topic: Option<&str>, json: bool) -> anyhow::Result<bool> {
    if json {
        for spec in COMMANDS
            .iter()
            .filter(|s| topic.is_none_or(|t| command::lookup(t).is_some_and(|f| f.name == s.name)))
        {
            print_json(&json!({
                "event": "help",
                "command": spec.name,
                "usage": spec.synopsis(),
                "about": spec.about(),
                "aliases": spec.aliases,
            }))?;
        }
        if let Some(topic) = topic {
            command::lookup(topic).with_context(|| format!("{topic}: unknown command"))?;
        }
        return Ok(true);
    }
    let mut out = std::io::stdout().lock();
    match topic {
        Some(topic) => {
            let spec =
                command::lookup(topic).with_context(|| format!("{topic}: unknown command"))?;
            writeln!(out, "{}", spec.help_line(0))?;
            writeln!(out, "('{} --help' shows every option)", spec.name)?;
        }
        None => {
            writeln!(
                out,
                "Commands (remote paths, except for the l… commands and put's files):"
            )?;
            let width = COMMANDS
                .iter()
                .map(|s| s.synopsis().len())
                .max()
                .unwrap_or(0);
            for spec in COMMANDS {
                writeln!(out, "  {}", spec.help_line(width))?;
            }
            writeln!(
                out,
                "Upper-case aliases match in any case. 'COMMAND --help' shows every option.\n\
                 In a batch, a line starting with '-' carries on when it fails."
            )?;
        }
    }
    Ok(true)
}

/// The history file, with its directory made; `None` if there is nowhere
/// to keep it (the shell works without).
fn history_file() -> Option<PathBuf> {
    let path = home::history().ok()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).ok()?;
    Some(path)
}
