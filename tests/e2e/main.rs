//! End-to-end tests: the real `ferry` binary, a real server process on
//! 127.0.0.1, real QUIC, real files.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used)]

mod hostile;
mod util;

mod auth;
mod backends;
mod bad_input;
mod commands;
mod familiar;
mod hostile_clients;
mod lossy;
mod output;
mod resume;
mod safety;
mod shell;
mod transfer;
mod trust;
