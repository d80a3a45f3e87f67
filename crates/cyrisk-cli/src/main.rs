//! The `cyrisk` binary: parses arguments and hands over to the library.

fn main() {
    // Unlocked handles: each write takes the lock briefly. Holding `stderr().lock()` for the
    // whole run would block the server's worker threads the first time they log.
    let code = cyrisk_cli::run(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
