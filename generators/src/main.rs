//! `sta`: a thin command line over `sta_generators`: parse, call, print.

use std::process::ExitCode;

use clap::Parser;
use sta_generators::commands::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
