//! One module per subcommand.

mod bench;
mod config_source;
mod demo;
mod fleet;
mod run;
mod statistics;
mod translate_sql;
mod validate_config;

use crate::cli::Command;
use std::process::ExitCode;

/// Runs a subcommand; the exit code reflects analysis failures, errors are returned.
pub fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run::execute(&args),
        Command::Demo(args) => demo::execute(&args),
        Command::ValidateConfig(args) => validate_config::execute(&args),
        Command::Statistics(args) => statistics::execute(&args),
        Command::Bench(args) => bench::execute(&args),
        Command::TranslateSql(args) => translate_sql::execute(&args),
        Command::Rerun(args) => run::rerun(&args),
        Command::RerunSkip(args) => run::rerun_skip(&args),
        Command::Backfill(args) => run::backfill(&args),
        Command::Coordinator(args) => fleet::coordinator(&args),
        Command::Worker(args) => fleet::worker(&args),
        Command::Aggregator(args) => fleet::aggregator(&args),
    }
}
