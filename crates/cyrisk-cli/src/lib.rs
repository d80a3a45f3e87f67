//! The `cyrisk` command line: argument parsing, reading inputs, formatting outputs.
//!
//! [`run`] is the whole program with its streams passed in, so tests drive it in-process
//! and check exit codes and output. Exit codes: 0 success, 2 bad input or usage (nothing
//! written), 1 anything else.

mod book;
mod commands;
mod db;
mod follow;
mod import;
mod jobs;
mod money;
mod output;
mod serve;
mod validate;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

pub use commands::Cli;

/// An error caused by the user's input (a file, a flag): exit code 2.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

pub(crate) fn input_error(msg: impl Into<String>) -> anyhow::Error {
    InputError(msg.into()).into()
}

/// Runs the program; returns the process exit code.
pub fn run(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let text = e.render().ansi().to_string();
            if code == 0 {
                let _ = write!(out, "{text}");
            } else {
                let _ = write!(err, "{text}");
            }
            return code;
        }
    };
    match commands::dispatch(cli, out, err) {
        Ok(()) => 0,
        Err(e) => {
            if let Some(input) = e.downcast_ref::<InputError>() {
                let _ = writeln!(err, "error: {input}");
                2
            } else {
                let _ = writeln!(err, "error: {e:#}");
                1
            }
        }
    }
}
