//! `jetstream`: experiment analysis in the shape of Mozilla's Jetstream, as one binary with
//! several roles. See README.md for the commands.

mod backends;
mod cli;
mod commands;
mod embedded;
mod summary;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.debug);
    match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(debug: bool) {
    let default = if debug {
        "debug"
    } else {
        "warn,jetstream=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("JETSTREAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
