//! A metric-hub experiment config as written: parsed and type-checked, references not yet
//! resolved.
//!
//! Optional settings are `Option`s (and lists may be empty) rather than carrying their defaults,
//! so that a later layer can merge a custom config over platform defaults with metric-hub's
//! "the override wins unless it is unset" rule and still tell "unset" from "set to the default".
//! Defaults are applied in [`super::resolve`].

use super::error::{Loc, Sourced};
use chrono::NaiveDate;
use jetstream_proto::spec::PreTreatmentSpec;
use jetstream_proto::{AnalysisBasis, AnalysisPeriod};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A parsed (not yet resolved) metric-hub file: an experiment config (`jetstream/<slug>.toml`),
/// platform defaults (`defaults/<app>.toml`), platform definitions (`definitions/<app>.toml`)
/// or an outcome (`outcomes/<platform>/<slug>.toml`, whose top-level period lists are kept in
/// `metrics.periods`). One type for all, because upstream merges them into one another.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomConfig {
    /// The file the config was read from.
    pub path: PathBuf,
    pub experiment: ExperimentConfig,
    pub metrics: MetricsConfig,
    /// `[data_sources.<name>]`.
    pub data_sources: BTreeMap<String, DataSourceDefinition>,
    /// `[segments.<name>]` and `[segments.data_sources.<name>]`.
    pub segments: SegmentsConfig,
    /// `[parameters.<name>]`: values for `{{parameters.<name>}}` in outcome metrics.
    pub parameters: BTreeMap<String, ParameterDefinition>,
    /// Top-level `friendly_name` / `description` (required in outcomes, informational
    /// elsewhere).
    pub friendly_name: Option<Sourced<String>>,
    pub description: Option<Sourced<String>>,
    /// An outcome's `default_metrics` (each must be defined in the outcome).
    pub default_metrics: Vec<Sourced<String>>,
}

impl CustomConfig {
    /// An empty config for `path`: what an experiment without a custom config resolves with.
    pub fn empty(path: impl Into<PathBuf>) -> CustomConfig {
        CustomConfig {
            path: path.into(),
            ..CustomConfig::default()
        }
    }
}

/// The `[experiment]` table: overrides of Experimenter's values and analysis settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExperimentConfig {
    /// A custom enrollment query (a Jinja template, rendered by a later layer).
    pub enrollment_query: Option<Sourced<String>>,
    pub enrollment_period: Option<Sourced<i64>>,
    pub reference_branch: Option<Sourced<String>>,
    pub start_date: Option<Sourced<NaiveDate>>,
    pub end_date: Option<Sourced<NaiveDate>>,
    /// Segment names, in config order (empty when not given).
    pub segments: Vec<Sourced<String>>,
    /// Outcome slugs added to Experimenter's (applied by the outcomes layer, not yet).
    pub outcomes: Vec<Sourced<String>>,
    pub skip: Option<Sourced<bool>>,
    pub exposure_signal: Option<ExposureSignalDefinition>,
    /// Accepted and not used yet (see [`super::resolve`]).
    pub is_private: Option<Sourced<bool>>,
    /// Accepted and ignored: results always go to the run's dataset.
    pub dataset_id: Option<Sourced<String>>,
    /// Percentage of clients to enroll (`sample_id < sample_size`), 1..=100.
    pub sample_size: Option<Sourced<u32>>,
    pub analysis_unit: Option<Sourced<AnalysisUnit>>,
    /// One of `normandy`, `glean-event`, `fenix-fallback`, `cirrus`, `background-update`.
    pub enrollments_query_type: Option<Sourced<String>>,
}

/// The unit enrollments and metrics are aggregated by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalysisUnit {
    /// `client_id`
    Client,
    /// `profile_group_id`
    ProfileGroup,
}

impl AnalysisUnit {
    pub fn parse(s: &str) -> Option<AnalysisUnit> {
        match s {
            "client_id" => Some(AnalysisUnit::Client),
            "profile_group_id" => Some(AnalysisUnit::ProfileGroup),
            _ => None,
        }
    }

    pub fn value(self) -> &'static str {
        match self {
            AnalysisUnit::Client => "client_id",
            AnalysisUnit::ProfileGroup => "profile_group_id",
        }
    }
}

/// `[experiment.exposure_signal]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureSignalDefinition {
    pub name: Sourced<String>,
    pub data_source: Sourced<String>,
    pub select_expression: Sourced<String>,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
    pub window_start: Option<Sourced<WindowLimit>>,
    pub window_end: Option<Sourced<WindowLimit>>,
    /// The table itself.
    pub loc: Loc,
}

/// An exposure-signal window limit as written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowLimit {
    /// Days relative to the first enrollment date.
    Days(i64),
    /// `"enrollment_start"`: 0.
    EnrollmentStart,
    /// `"enrollment_end"`: the last enrollment date, i.e. the enrollment period in days.
    EnrollmentEnd,
    /// `"analysis_window_start"`
    AnalysisWindowStart,
    /// `"analysis_window_end"`
    AnalysisWindowEnd,
}

/// The `[metrics]` table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsConfig {
    /// Period lists in the order the file writes them.
    pub periods: Vec<PeriodList>,
    /// `[metrics.<name>]` definitions.
    pub definitions: BTreeMap<String, MetricDefinition>,
}

/// One period list (`weekly = ["a", "b"]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodList {
    pub period: AnalysisPeriod,
    /// The key as written (`28_day` or `days28`, `weekly`, ...).
    pub key: String,
    /// Metric names in list order.
    pub metrics: Vec<Sourced<String>>,
    pub loc: Loc,
}

/// `[metrics.<name>]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricDefinition {
    pub name: String,
    pub loc: Loc,
    pub select_expression: Option<Sourced<String>>,
    pub data_source: Option<Sourced<String>>,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
    pub bigger_is_better: Option<bool>,
    pub analysis_bases: Option<Vec<AnalysisBasis>>,
    pub depends_on: Vec<Sourced<String>>,
    pub category: Option<String>,
    /// `type`
    pub metric_type: Option<String>,
    /// `owner` (a string or a list of strings).
    pub owner: Vec<String>,
    pub deprecated: Option<bool>,
    /// `gold`, `silver` or `bronze`.
    pub level: Option<String>,
    pub analysis_units: Option<Vec<AnalysisUnit>>,
    /// `[metrics.<name>.statistics.<stat>]` tables in file order; `None` when the metric has no
    /// `statistics` table at all.
    pub statistics: Option<Vec<StatisticDefinition>>,
}

/// `[metrics.<name>.statistics.<stat>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatisticDefinition {
    pub name: String,
    /// Every key except `pre_treatments`, as JSON.
    pub params: serde_json::Map<String, serde_json::Value>,
    pub pre_treatments: Vec<PreTreatmentSpec>,
    pub loc: Loc,
}

/// `[data_sources.<name>]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataSourceDefinition {
    pub name: String,
    pub loc: Loc,
    /// Required when the data source is used; optional here so a later layer can patch a
    /// platform definition with a partial one.
    pub from_expression: Option<Sourced<String>>,
    pub client_id_column: Option<String>,
    pub submission_date_column: Option<String>,
    /// Normalised to lower case for `none`; one of `simple`, `native`, `glean`,
    /// `events_stream`, `none`.
    pub experiments_column_type: Option<String>,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
    pub default_dataset: Option<String>,
    pub build_id_column: Option<String>,
    pub group_id_column: Option<String>,
    pub glean_client_id_column: Option<String>,
    pub legacy_client_id_column: Option<String>,
    pub analysis_units: Option<Vec<AnalysisUnit>>,
    /// `[data_sources.<name>.joins]`, kept raw.
    pub joins: Option<toml::Table>,
    pub columns_as_dimensions: Option<bool>,
}

/// The `[segments]` table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentsConfig {
    /// `[segments.<name>]`.
    pub definitions: BTreeMap<String, SegmentDefinition>,
    /// `[segments.data_sources.<name>]`.
    pub data_sources: BTreeMap<String, SegmentDataSourceDefinition>,
}

/// `[segments.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDefinition {
    pub name: String,
    pub loc: Loc,
    pub select_expression: Sourced<String>,
    pub data_source: Sourced<String>,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
}

/// `[segments.data_sources.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDataSourceDefinition {
    pub name: String,
    pub loc: Loc,
    pub from_expression: Sourced<String>,
    pub window_start: Option<i64>,
    pub window_end: Option<i64>,
    pub client_id_column: Option<String>,
    pub submission_date_column: Option<String>,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
    pub default_dataset: Option<String>,
    pub group_id_column: Option<String>,
    pub glean_client_id_column: Option<String>,
    pub legacy_client_id_column: Option<String>,
}

/// `[parameters.<name>]` (outcome parameters; an experiment config sets their values).
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterDefinition {
    pub name: String,
    pub loc: Loc,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
    pub value: Option<ParameterValue>,
    pub default: Option<ParameterValue>,
    pub distinct_by_branch: Option<bool>,
}

/// A parameter's `value` or `default`: one string, or one string per branch.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterValue {
    Text(String),
    /// Branch slug → value, in the order written.
    ByBranch(Vec<(String, String)>),
}

impl ParameterValue {
    /// Python truthiness, which upstream's parameter merge relies on.
    pub fn is_empty(&self) -> bool {
        match self {
            ParameterValue::Text(t) => t.is_empty(),
            ParameterValue::ByBranch(v) => v.is_empty(),
        }
    }
}

/// `[functions.<name>]` of `definitions/functions.toml`: a Jinja helper such as `agg_sum`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDefinition {
    pub name: String,
    /// A Python format string with a `{select_expr}` placeholder.
    pub definition: String,
    pub loc: Loc,
}

/// What a metric-hub file is, from its place in the repository (upstream's `entity_from_path`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `<slug>.toml`
    Experiment,
    /// `defaults/<app or experiment type>.toml`
    Defaults,
    /// `definitions/<platform>.toml`
    Definitions,
    /// `definitions/functions.toml`
    Functions,
    /// `outcomes/<platform>/<slug>.toml`
    Outcome,
}

impl FileKind {
    /// Classifies a path as upstream does: by its parent (and grandparent) directory names.
    pub fn of_path(path: &std::path::Path) -> FileKind {
        let parent = path.parent();
        let parent_name = parent.and_then(|p| p.file_name()).and_then(|n| n.to_str());
        let grandparent_name = parent
            .and_then(|p| p.parent())
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        if grandparent_name == Some("outcomes") {
            FileKind::Outcome
        } else if parent_name == Some("defaults") {
            FileKind::Defaults
        } else if parent_name == Some("definitions") {
            if path.file_name().and_then(|n| n.to_str()) == Some("functions.toml") {
                FileKind::Functions
            } else {
                FileKind::Definitions
            }
        } else {
            FileKind::Experiment
        }
    }

    /// A word for messages.
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Experiment => "experiment config",
            FileKind::Defaults => "platform defaults",
            FileKind::Definitions => "platform definitions",
            FileKind::Functions => "functions",
            FileKind::Outcome => "outcome",
        }
    }
}
