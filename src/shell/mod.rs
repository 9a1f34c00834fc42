//! `ferry shell`: the interactive shell and batch mode.

use crate::cli::{Global, ShellArgs};

pub async fn run(_global: &Global, _args: ShellArgs) -> anyhow::Result<bool> {
    anyhow::bail!("the shell is not available in this build yet")
}
