//! The `ferry` binary: a thin layer over `ferry-server` and `ferry-client`
//! that parses the command line, owns the terminal and maps outcomes to exit
//! statuses (0 success, 1 failure, 2 usage).
//!
//! The doc comments on clap types here are the CLI's help text, written for
//! `--help` rather than rustdoc (`HOST[:PORT]` is not a link).
#![allow(rustdoc::broken_intra_doc_links)]

mod cli;
mod cmd;
mod config;
mod home;
mod output;
mod progress;
mod session;
mod shell;
mod transfer;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    let global = cli.global.clone();
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
            if global.json {
                cli::report_failure(&global, &e);
            } else {
                eprintln!("ferry: cancelled");
            }
            ExitCode::from(130)
        }
        // A closed pipe (`ferry ls … | head`) is not a failure.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            cli::report_failure(&global, &e);
            if e.is::<cli::UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
