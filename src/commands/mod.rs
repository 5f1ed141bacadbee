//! One module per subcommand.

mod demo;
mod run;

use crate::cli::Command;
use std::process::ExitCode;

/// Runs a subcommand; the exit code reflects analysis failures, errors are returned.
pub fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run::execute(&args),
        Command::Demo(args) => demo::execute(&args),
    }
}
