//! The `cyrisk` binary: parses arguments and hands over to the library.

fn main() {
    let code = cyrisk_cli::run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
