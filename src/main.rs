//! The `ferry` binary: a thin layer over `ferry-server` and `ferry-client`
//! that parses the command line, owns the terminal and maps outcomes to exit
//! statuses (0 success, 1 failure, 2 usage).
//!
//! The doc comments on clap types here are the CLI's help text, written for
//! `--help` rather than rustdoc (`HOST[:PORT]` is not a link).
#![allow(rustdoc::broken_intra_doc_links)]

mod cli;
mod cmd;
mod home;
mod output;
mod progress;
mod session;
mod shell;
mod transfer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(cli.command.run(cli.global));
    // Do not wait for blocking file I/O of abandoned transfers.
    runtime.shutdown_background();
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) if e.is::<transfer::Cancelled>() => {
            eprintln!("ferry: cancelled");
            ExitCode::from(130)
        }
        Err(e) => {
            if !output::is_broken_pipe(&e) {
                eprintln!("ferry: {}", output::describe(&e));
                return ExitCode::FAILURE;
            }
            // A closed pipe (`ferry ls … | head`) is not a failure.
            ExitCode::SUCCESS
        }
    }
}
