//! The `confidant` binary: parse the command line and hand over to [`confidant_server::cli`].

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = confidant_server::cli::Cli::parse();
    confidant_server::cli::run(cli)
}
