//! The `confidant` binary: parse the command line and hand over to [`confidant_server::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = confidant_server::cli::Cli::parse();
    match confidant_server::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:?}");
            // A command used wrongly exits 2, like a usage error the parser catches.
            if error.is::<confidant_server::cli::UsageError>() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
