//! End-to-end tests: the real `ferry` binary, a real server process on
//! 127.0.0.1, real QUIC, real files.

mod util;

mod bad_input;
mod commands;
mod shell;
mod transfer;
mod trust;
