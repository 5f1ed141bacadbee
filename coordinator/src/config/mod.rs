//! metric-hub experiment configs (`jetstream/<slug>.toml`): parsing and resolution against
//! Experimenter's definition into an [`AnalysisSpec`].
//!
//! Two stages, so that later layers slot in between them:
//! 1. [`parse_config`] / [`load_config`] turn TOML into a [`CustomConfig`]: type-checked, every
//!    value carrying its file and line ([`Loc`]), optional settings left unset rather than
//!    defaulted. Platform defaults (`defaults/<app>.toml`) and outcomes will be parsed into the
//!    same type and merged (custom config over defaults) before resolution.
//! 2. [`resolve`] merges Experimenter's experiment with the config, applies defaults, checks
//!    every reference, and produces the spec workers receive. Definitions repositories
//!    (`definitions/<platform>.toml`) will be consulted where a name is not defined in the
//!    config; Jinja templating and git pinning come with those layers.
//!
//! Errors read `<file>:<line>: `<dotted.key>`: <what is wrong>` ([`ConfigError`]).
//!
//! Deliberate decisions (beyond reference/jetstream.md §2 and mozanalysis.md part B):
//! - **Order.** Period lists and statistics keep the order the file writes them in (the TOML
//!   parser underneath keeps document order; see `tree.rs`), so `AnalysisSpec::periods` is in
//!   config order. Periods with no summaries are left out of the spec.
//! - **Duplicates.** A (metric, statistic) pair appears once per period, at its first position
//!   (upstream de-duplicates too, but returns the list reversed).
//! - **Segments** are the config's `[experiment].segments` followed by Experimenter's segments,
//!   without repeats, as upstream's `ExperimentSpec.resolve` does (both lists are used, not one
//!   instead of the other). Each must be defined in the config's `[segments]` for now.
//! - **Enrollment period** (jetstream.md §1.5): the config's value (even 0); else
//!   `(enrollmentEndDate − start).days + 1` with the *resolved* start date (config override
//!   first, as upstream), never below 0; else `proposedEnrollment`; else 0.
//! - **Overrides** record a config value only where it differs from Experimenter's; the
//!   enrollment period is compared with `proposedEnrollment`, as upstream's metadata does.
//!   `skip` is recorded whenever the config sets it.
//! - **Status** is `Complete` whenever the config sets `end_date`, else Experimenter's status
//!   on `today`.
//! - **Exposure-signal window limits**: `enrollment_start` becomes `Days(0)` and
//!   `enrollment_end` becomes `Days(enrollment_period)` (the last enrollment date's offset,
//!   upstream's `_window_limit_to_int`); the analysis-window limits stay symbolic.
//!   `friendly_name` and `description` are optional (upstream requires them).
//! - **Validation beyond upstream**: a config `reference_branch` must be one of Experimenter's
//!   branches; a config start/end date pair must be ordered; metrics that depend on each other
//!   in a cycle are an error.
//! - **Recognised but not supported yet** (errors at resolution rather than a silently different
//!   analysis): `is_private = true`, `enrollments_query_type`, and an `analysis_unit` other
//!   than the one Experimenter's randomization unit implies. `[experiment].outcomes` is parsed
//!   and kept; applying outcomes comes with the outcomes layer (a warning is logged).
//!   `dataset_id` is accepted and ignored.
//! - Only the definitions an analysis uses are resolved (as upstream); a broken definition that
//!   no period, dependency, segment or exposure signal uses is not reported.

mod error;
mod parse;
mod resolve;
mod tree;
mod types;

#[cfg(test)]
mod tests;

pub use error::{ConfigError, Loc, Sourced};
pub use types::{
    AnalysisUnit, CustomConfig, DataSourceDefinition, ExperimentConfig, ExposureSignalDefinition,
    MetricDefinition, MetricsConfig, PeriodList, SegmentDataSourceDefinition, SegmentDefinition,
    SegmentsConfig, StatisticDefinition, WindowLimit,
};

use crate::experimenter::ExperimenterExperiment;
use chrono::NaiveDate;
use jetstream_proto::spec::AnalysisSpec;
use std::path::Path;

/// Parses a metric-hub experiment config. `path` names the file in errors and is kept in the
/// result; nothing is read from it.
pub fn parse_config(path: &Path, text: &str) -> Result<CustomConfig, ConfigError> {
    parse::parse(path, text)
}

/// Reads and parses a metric-hub experiment config; I/O errors name the file.
pub fn load_config(path: &Path) -> Result<CustomConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_config(path, &text)
}

/// Merges Experimenter's experiment with the custom config into a resolved spec.
///
/// `today` decides Experimenter's status (`Live` while `endDate` is unset or not before it).
/// Without a config, the spec has Experimenter's values and no metrics; segments Experimenter
/// lists are then an error, as nothing defines them yet.
pub fn resolve(
    experiment: &ExperimenterExperiment,
    config: Option<&CustomConfig>,
    today: NaiveDate,
) -> Result<AnalysisSpec, ConfigError> {
    resolve::resolve(experiment, config, today)
}
