//! Tasks the coordinator publishes, and the results workers send back.

use crate::period::{AnalysisBasis, AnalysisPeriod};
use crate::spec::{AnalysisSpec, TimeLimits};
use crate::statistic::StatisticRow;
use crate::WIRE_VERSION;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// What a task computes. Every warehouse query of a run belongs to exactly one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Materialise `enrollments_<slug>` (once per experiment; reused when it exists).
    Enrollments,
    /// Compute the per-client metrics table of one (period, window, basis).
    Metrics,
    /// Compute the statistics of one (period, window, segment, basis) from its metrics table.
    Statistics,
}

impl TaskKind {
    /// Short name used in ids, logs and metrics labels.
    pub fn value(self) -> &'static str {
        match self {
            TaskKind::Enrollments => "enrollments",
            TaskKind::Metrics => "metrics",
            TaskKind::Statistics => "statistics",
        }
    }
}

/// Identifies a task within an experiment's analysis date. Fields a kind does not use are None.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskKey {
    pub kind: TaskKind,
    pub experiment_slug: String,
    pub analysis_date: NaiveDate,
    pub period: Option<AnalysisPeriod>,
    pub window_index: Option<u32>,
    pub segment: Option<String>,
    pub analysis_basis: Option<AnalysisBasis>,
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.kind.value(),
            self.experiment_slug,
            self.analysis_date
        )?;
        if let Some(p) = self.period {
            write!(f, ":{}", p.value())?;
        }
        if let Some(n) = self.window_index {
            write!(f, ":{n}")?;
        }
        if let Some(s) = &self.segment {
            write!(f, ":{s}")?;
        }
        if let Some(b) = self.analysis_basis {
            write!(f, ":{}", b.value())?;
        }
        Ok(())
    }
}

/// A task's identity within a run: `<run id>/<key>`. Deterministic, so a redelivered task has
/// the same id and the aggregator can drop its duplicate result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub String);

impl TaskId {
    /// The id of `key` within run `run_id`.
    pub fn new(run_id: &str, key: &TaskKey) -> TaskId {
        TaskId(format!("{run_id}/{key}"))
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a task reads and writes in the warehouse, decided by the coordinator so that workers
/// never derive names themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskTables {
    /// `enrollments_<slug>`.
    pub enrollments: String,
    /// The metrics table of the task's (period, window, basis), when it has one.
    pub metrics: Option<String>,
    /// The enrollments-basis, window-1 metrics tables of the pre-enrollment periods, where
    /// `covariate_adjustment` reads covariates (they may not exist; the statistic then falls
    /// back to unadjusted inferences).
    #[serde(default)]
    pub preenrollment: Vec<(AnalysisPeriod, String)>,
}

/// A task as published on the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireTask {
    pub id: TaskId,
    pub run_id: String,
    pub key: TaskKey,
    pub tables: TaskTables,
    /// Time limits of the task's window (for enrollments: the enrollment dates).
    pub time_limits: TimeLimits,
    /// Seed of the run; each statistic derives its own seed from it and its identity.
    pub seed: u64,
    pub spec: Arc<AnalysisSpec>,
    /// How queries are generated (Jetstream's `--discrete-metrics`, `--use-glean-ids`).
    #[serde(default)]
    pub options: QueryOptions,
}

/// Run-wide choices that change the generated SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryOptions {
    /// One metrics query (and table) per data source, so a failing source or metric only loses
    /// its own columns (Jetstream's default since 2026).
    pub discrete_metrics: bool,
    /// Join data sources on Glean client ids instead of legacy telemetry ones.
    pub use_glean_ids: bool,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            discrete_metrics: true,
            use_glean_ids: false,
        }
    }
}

/// The `exception_type` of a task failure worth retrying (the warehouse was unavailable).
pub const RETRYABLE_EXCEPTION_TYPE: &str = "WarehouseUnavailable";

/// A logged analysis error, in the shape of Jetstream's logs table (and, without
/// `analysis_period`, of Experimenter's `AnalysisError`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisError {
    pub timestamp: DateTime<Utc>,
    pub log_level: String,
    pub experiment: Option<String>,
    pub metric: Option<String>,
    pub statistic: Option<String>,
    pub segment: Option<String>,
    pub analysis_basis: Option<AnalysisBasis>,
    /// e.g. `week` or, for metric-query errors, `week_3` (dropped from the errors export).
    pub analysis_period: Option<String>,
    pub message: String,
    pub exception: Option<String>,
    pub exception_type: Option<String>,
    pub filename: String,
    pub func_name: String,
}

/// What a task produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskOutcome {
    /// The table the task wrote, with its row count, and the errors of parts that failed
    /// without failing the table (a metric whose query failed loses only its own column).
    Table {
        table: String,
        rows: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        errors: Vec<AnalysisError>,
    },
    /// Statistics rows, and the errors of statistics that failed (the others still completed).
    Statistics {
        rows: Vec<StatisticRow>,
        errors: Vec<AnalysisError>,
    },
    /// The task failed as a whole.
    Failed { error: Box<AnalysisError> },
}

impl TaskOutcome {
    /// True when the task failed for a reason a later attempt may not have.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TaskOutcome::Failed { error }
            if error.exception_type.as_deref() == Some(RETRYABLE_EXCEPTION_TYPE))
    }
}

/// A worker's answer to one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    pub task_id: TaskId,
    pub run_id: String,
    pub key: TaskKey,
    pub worker: String,
    pub outcome: TaskOutcome,
}

/// A versioned wrapper for every message on the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub version: u32,
    pub body: T,
}

/// A message that could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("message is not valid JSON for this wire version: {0}")]
    Json(#[from] serde_json::Error),
    #[error("message has wire version {found}, this build speaks version {expected}")]
    Version { found: u32, expected: u32 },
}

impl<T: Serialize + serde::de::DeserializeOwned> Envelope<T> {
    /// Encodes `body` at the current wire version.
    pub fn encode(body: &T) -> Vec<u8> {
        #[derive(Serialize)]
        struct Out<'a, T> {
            version: u32,
            body: &'a T,
        }
        serde_json::to_vec(&Out {
            version: WIRE_VERSION,
            body,
        })
        .expect("wire types serialise infallibly")
    }

    /// Decodes a message, refusing other wire versions.
    pub fn decode(bytes: &[u8]) -> Result<T, DecodeError> {
        #[derive(Deserialize)]
        struct Probe {
            version: u32,
        }
        let probe: Probe = serde_json::from_slice(bytes)?;
        if probe.version != WIRE_VERSION {
            return Err(DecodeError::Version {
                found: probe.version,
                expected: WIRE_VERSION,
            });
        }
        let env: Envelope<T> = serde_json::from_slice(bytes)?;
        Ok(env.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_deterministic_and_readable() {
        let key = TaskKey {
            kind: TaskKind::Statistics,
            experiment_slug: "my-exp".into(),
            analysis_date: NaiveDate::from_ymd_opt(2024, 1, 15).unwrap(),
            period: Some(AnalysisPeriod::Week),
            window_index: Some(1),
            segment: Some("all".into()),
            analysis_basis: Some(AnalysisBasis::Exposures),
        };
        let id = TaskId::new("run1", &key);
        assert_eq!(id, TaskId::new("run1", &key.clone()));
        assert_eq!(
            id.0,
            "run1/statistics:my-exp:2024-01-15:week:1:all:exposures"
        );
    }

    #[test]
    fn envelope_refuses_other_versions() {
        let bytes = Envelope::<u32>::encode(&7);
        assert_eq!(Envelope::<u32>::decode(&bytes).unwrap(), 7);
        let other = br#"{"version": 999, "body": 7}"#;
        assert!(matches!(
            Envelope::<u32>::decode(other),
            Err(DecodeError::Version { found: 999, .. })
        ));
    }
}
