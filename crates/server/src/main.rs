//! The `confidant` binary: parse the command line and hand over to [`confidant_server::cli`].

use clap::Parser;

/// tokio's workers and the database threads allocate and free each other's memory all the
/// time; glibc's allocator spent a tenth of a request's time on its arenas' locks and
/// consolidation (see BENCHMARKS.md, "Load").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = confidant_server::cli::Cli::parse();
    match confidant_server::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The message and its causes on one line; a backtrace only when asked for with
            // CONFIDANT_BACKTRACE=1, not whenever RUST_BACKTRACE happens to be set.
            if std::env::var_os("CONFIDANT_BACKTRACE").is_some_and(|v| v == "1") {
                eprintln!("error: {error:?}");
            } else {
                eprintln!("error: {error:#}");
            }
            // A command used wrongly exits 2, like a usage error the parser catches.
            if error.is::<confidant_server::cli::UsageError>() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
