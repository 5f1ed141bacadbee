//! A resolved analysis: the experiment and everything its config says to compute.
//!
//! The coordinator resolves Experimenter's definition and metric-hub's TOML into an
//! [`AnalysisSpec`] once; every task carries it, so workers are stateless and never read config
//! repositories themselves (a rerun of a task sees exactly the config its run was planned with).

use crate::period::{AnalysisBasis, AnalysisPeriod};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Experimenter's status as Jetstream derives it from `endDate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExperimentStatus {
    Live,
    Complete,
}

impl ExperimentStatus {
    /// The name Experimenter and Jetstream use (`Live`, `Complete`).
    pub fn value(self) -> &'static str {
        match self {
            ExperimentStatus::Live => "Live",
            ExperimentStatus::Complete => "Complete",
        }
    }
}

/// A branch of the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    pub slug: String,
    pub ratio: f64,
}

/// Which values of the experiment a metric-hub config overrode (drives the metadata's
/// `external_config` and the enrollment-complete check).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExperimentOverrides {
    pub reference_branch: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub enrollment_period: Option<i64>,
    pub skip: Option<bool>,
    /// The config sets `enrollment_period`, even to Experimenter's value: upstream then treats
    /// enrollment as complete (its check asks whether the config's value is set at all).
    #[serde(default)]
    pub enrollment_period_set: bool,
}

impl ExperimentOverrides {
    /// True when the custom config changed any Experimenter-sourced value.
    pub fn any(&self) -> bool {
        self.reference_branch.is_some()
            || self.start_date.is_some()
            || self.end_date.is_some()
            || self.enrollment_period.is_some()
    }
}

/// The experiment after merging Experimenter's definition with the custom config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSpec {
    /// Experimenter's slug (Jetstream's `normandy_slug`).
    pub slug: String,
    pub app_name: String,
    pub app_id: String,
    /// Experimenter type; Jetstream records every Nimbus experiment as `v6`.
    pub experiment_type: String,
    pub status: ExperimentStatus,
    pub branches: Vec<Branch>,
    pub reference_branch: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub proposed_enrollment: Option<i64>,
    pub enrollment_end_date: Option<NaiveDate>,
    /// Resolved enrollment period in days (custom config, else Experimenter's dates, else
    /// proposed enrollment, else 0).
    pub enrollment_period: i64,
    pub is_rollout: bool,
    pub randomization_unit: Option<String>,
    pub outcomes: Vec<String>,
    pub skip: bool,
    /// A custom enrollment query replacing the built-in one.
    pub enrollment_query: Option<String>,
    /// `sample_id < sample_size` filter on enrollment (percent, default 100).
    pub sample_size: u32,
    pub overrides: ExperimentOverrides,
    /// The config's `enrollments_query_type` (`normandy`, `glean-event`, `fenix-fallback`,
    /// `cirrus`, `background-update`); `None` follows the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollments_query_type: Option<String>,
    /// `client_id` or `profile_group_id` (config, else implied by the randomization unit).
    #[serde(default = "default_analysis_unit")]
    pub analysis_unit: String,
}

fn default_analysis_unit() -> String {
    "client_id".to_string()
}

/// A data source metrics read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSourceSpec {
    pub name: String,
    /// Final SQL text: Jinja rendered and `{dataset}` filled in.
    pub from_expression: String,
    pub client_id_column: String,
    pub submission_date_column: String,
    /// Join key when the analysis unit is `profile_group_id`.
    #[serde(default = "default_group_id_column")]
    pub group_id_column: String,
    /// Join key for Glean client ids (`--use-glean-ids`); empty falls back to `client_id_column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glean_client_id_column: Option<String>,
    /// Join key for legacy telemetry client ids (Jetstream's default); empty falls back to
    /// `client_id_column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_client_id_column: Option<String>,
    /// Analysis units the data source supports.
    #[serde(default)]
    pub analysis_units: Vec<String>,
    /// Other data sources joined to this one (`[data_sources.<d>.joins.<other>]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joins: Vec<DataSourceJoinSpec>,
    /// `simple`, `native`, `glean`, `events_stream` or `none`.
    pub experiments_column_type: String,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
}

/// A metric definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    pub name: String,
    pub select_expression: Option<String>,
    pub data_source: Option<String>,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
    pub bigger_is_better: bool,
    pub analysis_bases: Vec<AnalysisBasis>,
    pub depends_on: Vec<String>,
}

/// A statistic configured for a metric, with its parameters as given in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatisticSpec {
    pub name: String,
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// A pre-treatment applied to a metric before its statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreTreatmentSpec {
    pub name: String,
    #[serde(default)]
    pub args: serde_json::Map<String, serde_json::Value>,
}

/// One (metric, statistic) pair to compute in a period: Jetstream's `Summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummarySpec {
    pub metric: String,
    pub statistic: StatisticSpec,
    pub pre_treatments: Vec<PreTreatmentSpec>,
}

/// A segment: a boolean per client computed at enrollment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentSpec {
    pub name: String,
    pub select_expression: String,
    pub data_source: String,
}

/// A data source for segments, with its window relative to enrollment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentDataSourceSpec {
    pub name: String,
    pub from_expression: String,
    pub window_start: i64,
    pub window_end: i64,
    pub client_id_column: String,
    pub submission_date_column: String,
    /// Join key when the analysis unit is `profile_group_id`.
    #[serde(default = "default_group_id_column")]
    pub group_id_column: String,
    /// Join key for Glean client ids (`--use-glean-ids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glean_client_id_column: Option<String>,
    /// Join key for legacy telemetry client ids (Jetstream's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_client_id_column: Option<String>,
}

fn default_group_id_column() -> String {
    "profile_group_id".to_string()
}

/// A data source joined to another (`joins.<data_source>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSourceJoinSpec {
    pub data_source: String,
    /// `one_to_one`, `many_to_one`, `one_to_many` or `many_to_many`.
    pub relationship: Option<String>,
    pub on_expression: Option<String>,
}

/// A bound of an exposure signal's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowBound {
    Days(i64),
    EnrollmentStart,
    EnrollmentEnd,
    AnalysisWindowStart,
    AnalysisWindowEnd,
}

impl WindowBound {
    /// Resolves the bound to days after the first enrollment date, as Jetstream's
    /// `_window_limit_to_int` does: with `n` the number of days between first and last
    /// enrollment, the symbolic bounds map to `0`, `n`, `window.start + n` and `window.end + n`.
    pub fn to_days(self, enrollment_span_days: i64, window: crate::period::AnalysisWindow) -> i64 {
        match self {
            WindowBound::Days(d) => d,
            WindowBound::EnrollmentStart => 0,
            WindowBound::EnrollmentEnd => enrollment_span_days,
            WindowBound::AnalysisWindowStart => window.start + enrollment_span_days,
            WindowBound::AnalysisWindowEnd => window.end + enrollment_span_days,
        }
    }
}

/// A custom exposure signal replacing the built-in exposure events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExposureSignalSpec {
    pub name: String,
    pub select_expression: String,
    pub data_source: String,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
    pub window_start: Option<WindowBound>,
    pub window_end: Option<WindowBound>,
}

/// Everything one experiment's analysis needs, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSpec {
    pub experiment: ExperimentSpec,
    /// Metric definitions by name (every metric any period uses).
    pub metrics: BTreeMap<String, MetricSpec>,
    /// The summaries to compute per period, in config order.
    pub periods: Vec<(AnalysisPeriod, Vec<SummarySpec>)>,
    pub data_sources: BTreeMap<String, DataSourceSpec>,
    /// Segments in the order the experiment lists them.
    pub segments: Vec<SegmentSpec>,
    pub segment_data_sources: BTreeMap<String, SegmentDataSourceSpec>,
    pub exposure_signal: Option<ExposureSignalSpec>,
}

impl AnalysisSpec {
    /// The summaries configured for `period`, if any.
    pub fn summaries(&self, period: AnalysisPeriod) -> &[SummarySpec] {
        self.periods
            .iter()
            .find(|(p, _)| *p == period)
            .map(|(_, s)| s.as_slice())
            .unwrap_or(&[])
    }

    /// Segment labels statistics are computed for: `all` then the experiment's segments.
    pub fn segment_labels(&self) -> Vec<String> {
        std::iter::once("all".to_string())
            .chain(self.segments.iter().map(|s| s.name.clone()))
            .collect()
    }

    /// The union of the analysis bases of a period's metrics, in canonical order.
    pub fn bases_for(&self, period: AnalysisPeriod) -> Vec<AnalysisBasis> {
        AnalysisBasis::ALL
            .into_iter()
            .filter(|basis| {
                self.summaries(period).iter().any(|s| {
                    self.metrics
                        .get(&s.metric)
                        .is_some_and(|m| m.analysis_bases.contains(basis))
                })
            })
            .collect()
    }
}

/// The dates one metrics computation covers: Jetstream's `TimeLimits`, narrowed to the newest
/// window of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeLimits {
    pub first_enrollment_date: NaiveDate,
    pub last_enrollment_date: NaiveDate,
    pub first_date_data_required: NaiveDate,
    pub last_date_data_required: NaiveDate,
    pub window: crate::period::AnalysisWindow,
    /// 1-based index of `window` within its period.
    pub window_index: u32,
}
