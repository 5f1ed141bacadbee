//! The coordinator: plans an experiment-date into tasks, publishes them stage by stage, follows
//! their progress, and asks the aggregator to write the outputs.
//!
//! Stages follow the data: enrollments → metrics per (period, basis) → statistics per
//! (period, segment, basis). Each warehouse query belongs to exactly one task and runs once per
//! run; a task whose result never arrives is redelivered by the queue, and a duplicate result
//! is dropped by task id (by the aggregator, which tells the coordinator of every answered task).

use crate::plan::{self, DuePeriod};
use crate::progress::{ProgressRouter, Subscription};
use crate::timelimits::enrollment_limits;
use crate::validation::check_runnable;
use chrono::{DateTime, NaiveDate, Utc};
use jetstream_proto::fleet::{
    DateGroup, Finalize, Progress, ProgressOutcome, ToAggregator, ToCoordinator,
};
use jetstream_proto::queue::{MessageQueue, QueueError, QueueNames};
use jetstream_proto::spec::{AnalysisSpec, TimeLimits};
use jetstream_proto::task::{Envelope, TaskTables, WireTask};
use jetstream_proto::{AnalysisError, AnalysisPeriod, TaskId, TaskKey, TaskKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::OnceCell;

pub use jetstream_proto::fleet::DateOutcome;
/// Options of a run: the same settings travel in every run request.
pub use jetstream_proto::fleet::RunSettings as RunOptions;

/// Failures that stop a run (as opposed to task failures, which are logged and exported).
#[derive(Debug, Error)]
pub enum RunError {
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    #[error("aggregator: {0}")]
    Aggregator(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Drives experiment-dates through the queue.
pub struct Coordinator {
    queue: Arc<dyn MessageQueue>,
    names: QueueNames,
    options: RunOptions,
    /// Started on the first date driven, so that planning alone (`--dry-run`,
    /// `validate-config`) needs no runtime.
    router: OnceCell<Arc<ProgressRouter>>,
}

impl Coordinator {
    /// A coordinator publishing tasks on `names.tasks` and finalize requests on
    /// `names.results`, following progress on `names.progress`.
    pub fn new(
        queue: Arc<dyn MessageQueue>,
        names: QueueNames,
        options: RunOptions,
    ) -> Coordinator {
        Coordinator {
            queue,
            names,
            options,
            router: OnceCell::new(),
        }
    }

    /// Follows progress with `router` (shared by the coordinators of one process, since one
    /// consumer must see every notice of the progress queue).
    pub fn sharing(self, router: Arc<ProgressRouter>) -> Coordinator {
        let cell = OnceCell::new();
        let _ = cell.set(router);
        Coordinator {
            router: cell,
            ..self
        }
    }

    /// The run's settings.
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    async fn subscribe(&self, group: DateGroup) -> Subscription {
        let router = self
            .router
            .get_or_init(|| async {
                ProgressRouter::spawn(Arc::clone(&self.queue), self.names.progress.clone())
            })
            .await;
        router.subscribe(group)
    }

    /// Analyses `spec` for `date`: every period due that day. Returns once the aggregator has
    /// written the outputs.
    pub async fn run_date(
        &self,
        spec: Arc<AnalysisSpec>,
        date: NaiveDate,
    ) -> Result<DateOutcome, RunError> {
        let started = Utc::now();
        let group = DateGroup {
            run_id: self.options.run_id.clone(),
            experiment_slug: spec.experiment.slug.clone(),
            date,
        };
        let mut progress = self.subscribe(group.clone()).await;
        let mut plan = DatePlan::default();
        let outcome = self
            .analyse(&spec, date, started, &mut progress, &mut plan)
            .await?;
        // Like Jetstream's `finally`: the aggregator logs and exports errors whatever happened.
        let finalize = Finalize {
            run_id: self.options.run_id.clone(),
            spec: Arc::clone(&spec),
            date,
            started,
            tasks: plan.tasks,
            outcome,
            errors: plan.errors,
            metric_bases: plan.metric_bases,
        };
        self.queue
            .publish(
                &self.names.results,
                Envelope::encode(&ToAggregator::Finalize(Box::new(finalize))),
            )
            .await?;
        loop {
            match progress.next().await {
                Some(ToCoordinator::Written(written)) if written.group == group => {
                    return written.result.map_err(RunError::Aggregator);
                }
                Some(_) => continue,
                None => {
                    return Err(RunError::Internal(
                        "the progress queue closed before the outputs were written".into(),
                    ))
                }
            }
        }
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
        progress: &mut Subscription,
        plan: &mut DatePlan,
    ) -> Result<DateOutcome, RunError> {
        let slug = spec.experiment.slug.clone();
        if let Err(reason) = check_runnable(&spec.experiment, date) {
            tracing::info!(experiment = %slug, %date, "{reason}");
            plan.errors.push(log_record(
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
                plan.errors.push(log_record(
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
        let answers = self.execute(vec![task], progress, plan).await?;
        if let Some(ProgressOutcome::Failed { message }) =
            answers.values().next().map(|p| &p.outcome)
        {
            return Ok(DateOutcome::Failed(message.clone()));
        }

        // Stage 2: a metrics table per (period, basis).
        let tasks = self.metrics_tasks(spec, date, &due);
        let answers = self.execute(tasks, progress, plan).await?;
        let metric_tables: HashMap<TaskKey, String> = answers
            .values()
            .filter_map(|p| match &p.outcome {
                ProgressOutcome::Table { table } => Some((p.key.clone(), table.clone())),
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
        self.execute(tasks, progress, plan).await?;
        plan.metric_bases = due.iter().map(|d| (d.period, d.bases.clone())).collect();
        // The aggregator counts the rows it writes.
        Ok(DateOutcome::Analysed(BTreeMap::new()))
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

    /// Publishes `tasks` and waits until each is answered; returns the answers by task id.
    async fn execute(
        &self,
        tasks: Vec<WireTask>,
        progress: &mut Subscription,
        plan: &mut DatePlan,
    ) -> Result<HashMap<TaskId, Progress>, RunError> {
        let mut pending: HashSet<TaskId> = HashSet::new();
        for task in &tasks {
            if pending.insert(task.id.clone()) {
                plan.tasks.push(task.id.clone());
            }
            self.queue
                .publish(&self.names.tasks, Envelope::encode(task))
                .await?;
        }
        let mut answers = HashMap::new();
        while !pending.is_empty() {
            match progress.next().await {
                Some(ToCoordinator::Progress(p)) => {
                    if pending.remove(&p.task_id) {
                        if let ProgressOutcome::Failed { message } = &p.outcome {
                            tracing::warn!(task = %p.task_id, "{message}");
                        }
                        answers.insert(p.task_id.clone(), p);
                    }
                }
                Some(ToCoordinator::Written(_)) => {}
                None => {
                    return Err(RunError::Internal(
                        "the progress queue closed before the run completed".into(),
                    ))
                }
            }
        }
        Ok(answers)
    }
}

/// What a date's driving gathers for its finalize request.
#[derive(Default)]
struct DatePlan {
    tasks: Vec<TaskId>,
    errors: Vec<AnalysisError>,
    metric_bases: Vec<(AnalysisPeriod, Vec<jetstream_proto::AnalysisBasis>)>,
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
