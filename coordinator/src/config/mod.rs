//! metric-hub's config language: parsing, layering and resolution of experiment configs,
//! platform defaults, outcomes and definitions into the [`AnalysisSpec`] workers receive.
//!
//! The stages, each in its own module:
//! 1. `parse` (over the spanned TOML of `tree`) turns a file into a [`CustomConfig`]:
//!    type-checked, every value carrying its file, line and column ([`Loc`]), optional settings
//!    left unset rather than defaulted so that layers can be merged.
//! 2. `collection` loads repositories laid out like metric-hub ([`ConfigCollection`]), layered
//!    as Jetstream layers `--config_repos`; `history` pins a git checkout to a date or commit.
//! 3. `merge` layers specs (upstream's "override wins" rules, with the quirks we keep or fix
//!    documented there).
//! 4. `resolve` merges Experimenter's experiment, the defaults, the config and the outcomes,
//!    resolves every name against the platform's definitions, renders the Jinja templates
//!    (`template`, `vars`) and checks statistics and pre-treatments.
//!
//! Errors read `<file>:<line>:<column>: `<dotted.key>`: <what is wrong>` ([`ConfigError`]),
//! with a "did you mean" for misspelled names (`suggest`).
//!
//! Deliberate decisions are listed where they are made: parsing (unknown keys) in `parse.rs`,
//! merging in `merge.rs`, repository layout in `collection.rs`, resolution in `resolve.rs`.
//! Across all of them: only the definitions an analysis uses are resolved (as upstream), so a
//! broken definition no experiment uses is not reported by `run`; `validate-config` checks
//! each file on its own.

mod aggregation;
mod collection;
mod error;
mod history;
mod merge;
mod parse;
mod platform;
mod resolve;
mod suggest;
mod template;
mod tree;
mod types;
mod vars;

#[cfg(test)]
mod tests;

pub use collection::{ConfigCollection, Pin};
pub use error::{ConfigError, Loc, Sourced};
pub use history::{Commit, GitDir, HistoryError};
pub use platform::{dataset_for_app_id, platform, Platform, PLATFORMS};
pub use template::{
    format_placeholders, python_format, ExperimentValue, ExperimentVars, FormatError,
    TemplateError, Templates,
};
pub use types::{
    AnalysisUnit, CustomConfig, DataSourceDefinition, ExperimentConfig, ExposureSignalDefinition,
    FileKind, FunctionDefinition, MetricDefinition, MetricsConfig, ParameterDefinition,
    ParameterValue, PeriodList, SegmentDataSourceDefinition, SegmentDefinition, SegmentsConfig,
    StatisticDefinition, WindowLimit,
};

use crate::experimenter::ExperimenterExperiment;
use chrono::NaiveDate;
use jetstream_proto::spec::AnalysisSpec;
use std::path::Path;

/// Parses a metric-hub experiment config. `path` names the file in errors and is kept in the
/// result; nothing is read from it.
pub fn parse_config(path: &Path, text: &str) -> Result<CustomConfig, ConfigError> {
    parse::parse(path, text, FileKind::Experiment)
}

/// Parses any metric-hub file but `functions.toml` as the kind its place implies.
pub fn parse_file(path: &Path, text: &str, kind: FileKind) -> Result<CustomConfig, ConfigError> {
    parse::parse(path, text, kind)
}

/// Parses `definitions/functions.toml`.
pub fn parse_functions(path: &Path, text: &str) -> Result<Vec<FunctionDefinition>, ConfigError> {
    parse::parse_functions(path, text)
}

/// Reads and parses a metric-hub experiment config; I/O errors name the file.
pub fn load_config(path: &Path) -> Result<CustomConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_config(path, &text)
}

/// Merges Experimenter's experiment with a custom config alone (no defaults, outcomes or
/// definitions) into a resolved spec.
///
/// `today` decides Experimenter's status (`Live` while `endDate` is unset or not before it).
pub fn resolve(
    experiment: &ExperimenterExperiment,
    config: Option<&CustomConfig>,
    today: NaiveDate,
) -> Result<AnalysisSpec, ConfigError> {
    resolve::resolve(&ConfigCollection::empty(), experiment, config, today)
}

impl ConfigCollection {
    /// Resolves `experiment` as Jetstream does: the platform defaults, then `explicit` (a
    /// `--config_file`) or else the collection's `<slug>.toml`, then the outcomes, with names
    /// looked up in the platform's definitions.
    pub fn resolve(
        &self,
        experiment: &ExperimenterExperiment,
        explicit: Option<&CustomConfig>,
        today: NaiveDate,
    ) -> Result<AnalysisSpec, ConfigError> {
        let custom = match explicit {
            Some(config) => Some(config),
            None => match self.config(&experiment.slug) {
                Some(Ok(config)) => Some(config),
                Some(Err(e)) => return Err(e.duplicate()),
                None => None,
            },
        };
        resolve::resolve(self, experiment, custom, today)
    }
}
