//! `sta`: a thin command line over `sta_generators`: parse, call, print.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use sta_generators::commands::Cli;
use sta_generators::error::EXIT_USAGE;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // a command-line error is one line, like every other bad input; help and version print as usual
        Err(e)
            if e.use_stderr()
                && e.kind() != ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            eprintln!("{}", one_line(&e.render().to_string()));
            return ExitCode::from(EXIT_USAGE as u8);
        }
        Err(e) => e.exit(),
    };
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// clap's message without its usage line and help pointer, its other lines joined: "error: the following required
/// arguments were not provided: --out <OUT> (see --help)".
fn one_line(rendered: &str) -> String {
    let kept: Vec<String> = rendered
        .split("\n\n")
        .filter(|p| {
            let p = p.trim_start();
            !p.is_empty() && !p.starts_with("Usage:") && !p.starts_with("For more information")
        })
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    format!("{} (see --help)", kept.join("; "))
}
