//! The coordinator: plans an experiment-date into tasks, publishes them stage by stage, and
//! hands results to the aggregator.
//!
//! Stages follow the data: enrollments → metrics per (period, basis) → statistics per
//! (period, segment, basis). Each warehouse query belongs to exactly one task and runs once per
//! run; a task whose result never arrives is redelivered by the queue, and a duplicate result
//! is dropped by task id.

use crate::aggregator::{export_errors, export_experiment, write_tables, Aggregator, ExportError};
use crate::export::ResultsSink;
use crate::plan::{self, DuePeriod};
use crate::timelimits::enrollment_limits;
use crate::validation::check_runnable;
use chrono::{DateTime, NaiveDate, Utc};
use jetstream_proto::queue::{MessageQueue, QueueError, RESULTS_QUEUE, TASKS_QUEUE};
use jetstream_proto::spec::{AnalysisSpec, TimeLimits};
use jetstream_proto::task::{
    Envelope, QueryOptions, TaskOutcome, TaskResult, TaskTables, WireTask,
};
use jetstream_proto::warehouse::{Warehouse, WarehouseError};
use jetstream_proto::{AnalysisError, AnalysisPeriod, TaskId, TaskKey, TaskKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use thiserror::Error;

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Identifies the run; task ids are `<run id>/<task key>`.
    pub run_id: String,
    /// Periods to analyse (Jetstream's `--analysis_periods`).
    pub periods: Vec<AnalysisPeriod>,
    /// Seed every statistic derives its own seed from.
    pub seed: u64,
    /// How queries are generated.
    pub query: QueryOptions,
}

/// Failures that stop a run (as opposed to task failures, which are logged and exported).
#[derive(Debug, Error)]
pub enum RunError {
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    #[error("warehouse: {0}")]
    Warehouse(#[from] WarehouseError),
    #[error("export: {0}")]
    Export(#[from] ExportError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What happened to one experiment-date.
#[derive(Debug, Clone, PartialEq)]
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

/// Drives experiment-dates through the queue.
pub struct Coordinator {
    queue: Arc<dyn MessageQueue>,
    warehouse: Arc<dyn Warehouse>,
    sink: Option<Arc<dyn ResultsSink>>,
    options: RunOptions,
}

impl Coordinator {
    /// A coordinator publishing on `queue`, writing to `warehouse` and (if set) `sink`.
    pub fn new(
        queue: Arc<dyn MessageQueue>,
        warehouse: Arc<dyn Warehouse>,
        sink: Option<Arc<dyn ResultsSink>>,
        options: RunOptions,
    ) -> Coordinator {
        Coordinator {
            queue,
            warehouse,
            sink,
            options,
        }
    }

    /// Analyses `spec` for `date`: every period due that day.
    pub async fn run_date(
        &self,
        spec: Arc<AnalysisSpec>,
        date: NaiveDate,
    ) -> Result<DateOutcome, RunError> {
        let started = Utc::now();
        let mut aggregator = Aggregator::default();
        let outcome = self.analyse(&spec, date, started, &mut aggregator).await;
        // Like Jetstream's `finally`: errors are logged (and exported below) whatever happened.
        let errors = aggregator.take_errors();
        let warehouse = Arc::clone(&self.warehouse);
        blocking(move || warehouse.append_logs(&errors)).await??;
        let outcome = outcome?;
        if let Some(sink) = &self.sink {
            let (warehouse, sink, spec2) = (
                Arc::clone(&self.warehouse),
                Arc::clone(sink),
                Arc::clone(&spec),
            );
            match &outcome {
                DateOutcome::Analysed(written) => {
                    let periods: Vec<AnalysisPeriod> = written.keys().copied().collect();
                    blocking(move || {
                        export_experiment(&*warehouse, &*sink, &spec2, &periods, started)
                    })
                    .await??;
                }
                _ => {
                    blocking(move || export_errors(&*warehouse, &*sink, &spec2, started)).await??
                }
            }
        }
        Ok(outcome)
    }

    /// The enrollments and metrics tasks `run_date` would publish for `spec` on `date`, without
    /// running anything (`run --dry-run` writes their SQL). An error says why nothing is due.
    pub fn query_tasks(
        &self,
        spec: &Arc<AnalysisSpec>,
        date: NaiveDate,
    ) -> Result<Vec<WireTask>, String> {
        check_runnable(&spec.experiment, date).map_err(|reason| reason.to_string())?;
        let due =
            plan::due_periods(spec, date, &self.options.periods).map_err(|e| e.to_string())?;
        if due.is_empty() {
            return Err(format!("no analysis period is due on {date}"));
        }
        let limits = enrollment_limits(&spec.experiment).map_err(|e| e.to_string())?;
        let key = self.key(spec, date, TaskKind::Enrollments, None, None, None);
        let mut tasks = vec![self.task(spec, key, limits, None)];
        tasks.extend(self.metrics_tasks(spec, date, &due));
        Ok(tasks)
    }

    /// The enrollments and metrics tasks of every configured period, each on the first date it
    /// is due (between the start and 60 days after the end): every query the experiment's
    /// analysis would ever generate, for checks that run nothing (`validate-config`).
    pub fn every_query_task(&self, spec: &Arc<AnalysisSpec>) -> Vec<WireTask> {
        let Some(start) = spec.experiment.start_date else {
            return Vec::new();
        };
        let last = spec.experiment.end_date.unwrap_or(start) + chrono::Duration::days(60);
        let mut seen: Vec<AnalysisPeriod> = Vec::new();
        let mut tasks: Vec<WireTask> = Vec::new();
        let mut date = start;
        while date <= last && seen.len() < spec.periods.len() {
            if let Ok(due) = plan::due_periods(spec, date, &self.options.periods) {
                let fresh: Vec<DuePeriod> = due
                    .into_iter()
                    .filter(|d| !seen.contains(&d.period))
                    .collect();
                if !fresh.is_empty() && tasks.is_empty() {
                    if let Ok(limits) = enrollment_limits(&spec.experiment) {
                        let key = self.key(spec, date, TaskKind::Enrollments, None, None, None);
                        tasks.push(self.task(spec, key, limits, None));
                    }
                }
                seen.extend(fresh.iter().map(|d| d.period));
                tasks.extend(self.metrics_tasks(spec, date, &fresh));
            }
            date += chrono::Duration::days(1);
        }
        tasks
    }

    /// A metrics task per (due period, basis).
    fn metrics_tasks(
        &self,
        spec: &Arc<AnalysisSpec>,
        date: NaiveDate,
        due: &[DuePeriod],
    ) -> Vec<WireTask> {
        let mut tasks = Vec::new();
        for d in due {
            for basis in &d.bases {
                let table = plan::metrics_table(
                    &spec.experiment.slug,
                    *basis,
                    d.period,
                    d.time_limits.window_index,
                );
                let key = self.key(spec, date, TaskKind::Metrics, Some(d), None, Some(*basis));
                tasks.push(self.task(spec, key, d.time_limits, Some(table)));
            }
        }
        tasks
    }

    async fn analyse(
        &self,
        spec: &Arc<AnalysisSpec>,
        date: NaiveDate,
        started: DateTime<Utc>,
        aggregator: &mut Aggregator,
    ) -> Result<DateOutcome, RunError> {
        let slug = spec.experiment.slug.clone();
        if let Err(reason) = check_runnable(&spec.experiment, date) {
            tracing::info!(experiment = %slug, %date, "{reason}");
            aggregator.record_error(log_record(
                &slug,
                if reason.is_failure() {
                    "ERROR"
                } else {
                    "WARNING"
                },
                reason.to_string(),
                reason.exception_type(),
                started,
            ));
            return Ok(DateOutcome::Skipped {
                reason: reason.to_string(),
                failed: reason.is_failure(),
            });
        }
        let due = match plan::due_periods(spec, date, &self.options.periods) {
            Ok(due) => due,
            Err(e) => {
                aggregator.record_error(log_record(
                    &slug,
                    "WARNING",
                    e.to_string(),
                    "ValidationException",
                    started,
                ));
                return Ok(DateOutcome::Skipped {
                    reason: e.to_string(),
                    failed: false,
                });
            }
        };
        // No period is due before the last enrollment date, so enrollments (which Jetstream
        // builds once daily limits exist) are never computed before enrollment has ended.
        if due.is_empty() {
            return Ok(DateOutcome::NothingDue);
        }
        let limits =
            enrollment_limits(&spec.experiment).map_err(|e| RunError::Internal(e.to_string()))?;
        tracing::info!(experiment = %slug, %date, periods = ?due.iter().map(|d| d.period.value()).collect::<Vec<_>>(), "analysing");

        // Stage 1: enrollments.
        let key = self.key(spec, date, TaskKind::Enrollments, None, None, None);
        let task = self.task(spec, key, limits, None);
        let results = self.execute(vec![task], aggregator).await?;
        if let Some(TaskOutcome::Failed { error }) = results.values().next().map(|r| &r.outcome) {
            return Ok(DateOutcome::Failed(error.message.clone()));
        }

        // Stage 2: a metrics table per (period, basis).
        let tasks = self.metrics_tasks(spec, date, &due);
        let metric_results = self.execute(tasks, aggregator).await?;
        let metric_tables: HashMap<TaskKey, String> = metric_results
            .values()
            .filter_map(|r| match &r.outcome {
                TaskOutcome::Table { table, .. } => Some((r.key.clone(), table.clone())),
                _ => None,
            })
            .collect();
        if metric_tables.is_empty() {
            return Ok(DateOutcome::Failed("every metrics query failed".into()));
        }

        // Stage 3: statistics per (period, segment, basis) over the metrics tables that exist.
        let mut tasks = Vec::new();
        for d in &due {
            for basis in &d.bases {
                let metrics_key =
                    self.key(spec, date, TaskKind::Metrics, Some(d), None, Some(*basis));
                let Some(table) = metric_tables.get(&metrics_key) else {
                    continue;
                };
                for segment in spec.segment_labels() {
                    let key = self.key(
                        spec,
                        date,
                        TaskKind::Statistics,
                        Some(d),
                        Some(segment),
                        Some(*basis),
                    );
                    tasks.push(self.task(spec, key, d.time_limits, Some(table.clone())));
                }
            }
        }
        self.execute(tasks, aggregator).await?;

        let metric_bases: Vec<(AnalysisPeriod, Vec<jetstream_proto::AnalysisBasis>)> =
            due.iter().map(|d| (d.period, d.bases.clone())).collect();
        let rows = aggregator.take_rows();
        let warehouse = Arc::clone(&self.warehouse);
        let spec2 = Arc::clone(spec);
        let written =
            blocking(move || write_tables(&*warehouse, &spec2, rows, &metric_bases)).await?;
        Ok(DateOutcome::Analysed(written?))
    }

    fn key(
        &self,
        spec: &AnalysisSpec,
        date: NaiveDate,
        kind: TaskKind,
        due: Option<&DuePeriod>,
        segment: Option<String>,
        basis: Option<jetstream_proto::AnalysisBasis>,
    ) -> TaskKey {
        TaskKey {
            kind,
            experiment_slug: spec.experiment.slug.clone(),
            analysis_date: date,
            period: due.map(|d| d.period),
            window_index: due.map(|d| d.time_limits.window_index),
            segment,
            analysis_basis: basis,
        }
    }

    fn task(
        &self,
        spec: &Arc<AnalysisSpec>,
        key: TaskKey,
        time_limits: TimeLimits,
        metrics_table: Option<String>,
    ) -> WireTask {
        WireTask {
            id: TaskId::new(&self.options.run_id, &key),
            run_id: self.options.run_id.clone(),
            key,
            tables: TaskTables {
                enrollments: plan::enrollments_table(&spec.experiment.slug),
                metrics: metrics_table,
                preenrollment: [
                    AnalysisPeriod::PreenrollmentWeek,
                    AnalysisPeriod::PreenrollmentDays28,
                ]
                .into_iter()
                .map(|period| {
                    let table = plan::metrics_table(
                        &spec.experiment.slug,
                        jetstream_proto::AnalysisBasis::Enrollments,
                        period,
                        1,
                    );
                    (period, table)
                })
                .collect(),
            },
            time_limits,
            seed: self.options.seed,
            spec: Arc::clone(spec),
            options: self.options.query,
        }
    }

    /// Publishes `tasks` and waits for one result of each; duplicates and results of other runs
    /// are acknowledged and dropped.
    async fn execute(
        &self,
        tasks: Vec<WireTask>,
        aggregator: &mut Aggregator,
    ) -> Result<HashMap<TaskId, TaskResult>, RunError> {
        for task in &tasks {
            aggregator.expect(&task.id);
            self.queue
                .publish(TASKS_QUEUE, Envelope::encode(task))
                .await?;
        }
        let mut results = HashMap::new();
        while !aggregator.is_complete() {
            let Some(delivery) = self.queue.receive(RESULTS_QUEUE).await? else {
                return Err(RunError::Internal(
                    "results queue closed before the run completed".into(),
                ));
            };
            let result: TaskResult = match Envelope::decode(&delivery.payload) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "dead-lettering an undecodable result");
                    self.queue.nack(delivery, false).await?;
                    continue;
                }
            };
            if aggregator.accept(&result) {
                if let TaskOutcome::Failed { error } = &result.outcome {
                    tracing::warn!(task = %result.task_id, "{}", error.message);
                }
                results.insert(result.task_id.clone(), result);
            } else {
                tracing::debug!(task = %result.task_id, "dropping a duplicate or stale result");
            }
            self.queue.ack(delivery).await?;
        }
        Ok(results)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RunError::Internal(e.to_string()))
}

fn log_record(
    slug: &str,
    level: &str,
    message: String,
    exception_type: &str,
    at: DateTime<Utc>,
) -> AnalysisError {
    AnalysisError {
        timestamp: at,
        log_level: level.to_string(),
        experiment: Some(slug.to_string()),
        metric: None,
        statistic: None,
        segment: None,
        analysis_basis: None,
        analysis_period: None,
        message: message.clone(),
        exception: Some(message),
        exception_type: Some(exception_type.to_string()),
        filename: "coordinator/src/run.rs".to_string(),
        func_name: "run_date".to_string(),
    }
}
