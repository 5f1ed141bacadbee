//! Messages between the fleet's roles besides tasks and results.
//!
//! The flow: an enqueuer (`run --fleet`, `rerun --fleet`, `backfill`) publishes a [`RunRequest`]
//! per experiment; the coordinator plans each of its dates into tasks; workers answer with
//! [`TaskResult`]s sent to the aggregator as [`ToAggregator::Result`]; the aggregator keeps the
//! first result of each task id and tells the coordinator with a [`Progress`] notice; once a date's
//! tasks are all answered the coordinator sends [`Finalize`]; the aggregator writes the tables,
//! logs and JSON and answers [`Written`]. Every message is idempotent to receive twice.

use crate::period::{AnalysisBasis, AnalysisPeriod};
use crate::spec::AnalysisSpec;
use crate::task::{AnalysisError, QueryOptions, TaskId, TaskKey, TaskOutcome, TaskResult};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Run-wide settings that change what is computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Identifies the run; task ids are `<run id>/<task key>`.
    pub run_id: String,
    /// Periods to analyse (Jetstream's `--analysis_periods`).
    pub periods: Vec<AnalysisPeriod>,
    /// Seed every statistic derives its own seed from.
    pub seed: u64,
    /// How queries are generated.
    pub query: QueryOptions,
}

/// One experiment to analyse on each of `dates`, in order (dates of one experiment share its
/// enrollments table and exports, so they run one after another; experiments run side by side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub settings: RunSettings,
    pub spec: Arc<AnalysisSpec>,
    pub dates: Vec<NaiveDate>,
    /// A queue to send the [`RunReport`] to once every date is done (`--wait`).
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// What happened to each date of a [`RunRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    pub experiment_slug: String,
    /// Each date with its outcome, or why it could not be run.
    pub dates: Vec<(NaiveDate, Result<DateOutcome, String>)>,
}

/// What happened to one experiment-date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateOutcome {
    /// Periods analysed, with the number of statistics rows each wrote.
    Analysed(BTreeMap<AnalysisPeriod, usize>),
    /// Nothing was due (or enrollment data was not ready yet).
    NothingDue,
    /// Not analysed, for the given reason; `failed` when upstream counts it as a failure.
    Skipped { reason: String, failed: bool },
    /// The enrollments or every metrics query failed.
    Failed(String),
}

/// Messages the aggregator consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToAggregator {
    /// A worker's result.
    Result(TaskResult),
    /// Every task of a date is answered: write its outputs.
    Finalize(Box<Finalize>),
}

/// Everything the aggregator needs to write one experiment-date's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finalize {
    pub run_id: String,
    pub spec: Arc<AnalysisSpec>,
    pub date: NaiveDate,
    /// When the coordinator started the date (Jetstream's analysis start time).
    pub started: DateTime<Utc>,
    /// The tasks whose results make up the outputs, in the order they were published.
    pub tasks: Vec<TaskId>,
    /// The outcome as the coordinator sees it; `Analysed` rows are counted by the aggregator.
    pub outcome: DateOutcome,
    /// Records that did not come from a worker (why a date was skipped).
    pub errors: Vec<AnalysisError>,
    /// The (period, bases) whose metrics views are published when the date is analysed.
    pub metric_bases: Vec<(AnalysisPeriod, Vec<AnalysisBasis>)>,
}

impl Finalize {
    /// The group this finalize closes.
    pub fn group(&self) -> DateGroup {
        DateGroup {
            run_id: self.run_id.clone(),
            experiment_slug: self.spec.experiment.slug.clone(),
            date: self.date,
        }
    }
}

/// An experiment-date within a run: the unit the aggregator writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DateGroup {
    pub run_id: String,
    pub experiment_slug: String,
    pub date: NaiveDate,
}

impl DateGroup {
    /// The group a task belongs to.
    pub fn of(run_id: &str, key: &TaskKey) -> DateGroup {
        DateGroup {
            run_id: run_id.to_string(),
            experiment_slug: key.experiment_slug.clone(),
            date: key.analysis_date,
        }
    }
}

impl std::fmt::Display for DateGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.run_id, self.experiment_slug, self.date)
    }
}

/// Messages the coordinator consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToCoordinator {
    Progress(Progress),
    Written(Written),
}

/// A task is answered (sent again for a duplicate result, with the first result's summary, so
/// that a restarted coordinator still hears about tasks answered before it restarted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub run_id: String,
    pub task_id: TaskId,
    pub key: TaskKey,
    pub outcome: ProgressOutcome,
}

/// What the coordinator needs of a result to plan the next stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProgressOutcome {
    /// The task wrote `table`.
    Table { table: String },
    /// The task computed statistics.
    Statistics,
    /// The task failed as a whole.
    Failed { message: String },
}

impl ProgressOutcome {
    /// The summary of `outcome`.
    pub fn of(outcome: &TaskOutcome) -> ProgressOutcome {
        match outcome {
            TaskOutcome::Table { table, .. } => ProgressOutcome::Table {
                table: table.clone(),
            },
            TaskOutcome::Statistics { .. } => ProgressOutcome::Statistics,
            TaskOutcome::Failed { error } => ProgressOutcome::Failed {
                message: error.message.clone(),
            },
        }
    }
}

/// The aggregator wrote (or failed to write) a date's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    pub group: DateGroup,
    /// The final outcome, or why writing failed.
    pub result: Result<DateOutcome, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Envelope;

    #[test]
    fn outcomes_round_trip_on_the_wire() {
        let outcomes = [
            DateOutcome::Analysed(BTreeMap::from([(AnalysisPeriod::Week, 12)])),
            DateOutcome::NothingDue,
            DateOutcome::Skipped {
                reason: "ended".into(),
                failed: false,
            },
            DateOutcome::Failed("every metrics query failed".into()),
        ];
        for outcome in outcomes {
            let written = ToCoordinator::Written(Written {
                group: DateGroup {
                    run_id: "r".into(),
                    experiment_slug: "e".into(),
                    date: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
                },
                result: Ok(outcome),
            });
            let bytes = Envelope::encode(&written);
            assert_eq!(Envelope::<ToCoordinator>::decode(&bytes).unwrap(), written);
        }
    }
}
