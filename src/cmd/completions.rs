//! `completions`: shell completion scripts, from clap's own definition.

use clap_complete::Shell;

/// Print a completion script for bash, zsh or fish.
///
/// bash: `source <(ferry completions bash)`; zsh: put the output in a file
/// named _ferry on $fpath; fish: `ferry completions fish >
/// ~/.config/fish/completions/ferry.fish`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The shell.
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    pub shell: String,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<bool> {
    let shell = match args.shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        _ => Shell::Fish,
    };
    let mut cmd = crate::cli::command();
    clap_complete::generate(shell, &mut cmd, "ferry", &mut std::io::stdout());
    Ok(true)
}
