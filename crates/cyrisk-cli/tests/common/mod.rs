//! Helpers shared by the CLI's integration tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Runs the CLI in-process and returns its standard output; panics on a non-zero exit.
pub fn cli(args: &[&str]) -> String {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cyrisk_cli::run(
        std::iter::once("cyrisk").chain(args.iter().copied()),
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap()
}

/// Starts `cyrisk serve` on an ephemeral port; returns the child and its address. Every
/// request is logged (`RUST_LOG=info`), so a server that cannot write its log (a held stderr
/// lock once did that) fails the tests that talk to it.
pub fn serve(url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cyrisk"))
        .args(["serve", "--addr", "127.0.0.1:0", "--database-url", url])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("listening line")
        .to_owned();
    (child, addr)
}
