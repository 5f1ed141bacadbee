//! The aggregator: collects task results, keeps the first of each task id, and writes each
//! experiment-date's outputs (statistics tables and views, logs, JSON) once the coordinator says
//! all its tasks are answered.
//!
//! Accepted results are appended to a spool file (when a spool directory is given) before they
//! are acknowledged, so an aggregator that restarts reloads them instead of losing them: the
//! queue's redelivery and the spool together make every result count exactly once.

use crate::export::{self, ResultsSink};
use crate::plan;
use jetstream_proto::fleet::{
    DateGroup, DateOutcome, Finalize, Progress, ProgressOutcome, ToAggregator, ToCoordinator,
    Written,
};
use jetstream_proto::metrics::FleetMetrics;
use jetstream_proto::queue::{ignore_stale, MessageQueue, QueueError, QueueNames};
use jetstream_proto::spec::AnalysisSpec;
use jetstream_proto::task::{Envelope, TaskOutcome, TaskResult};
use jetstream_proto::warehouse::{Warehouse, WarehouseError};
use jetstream_proto::{AnalysisBasis, AnalysisError, AnalysisPeriod, StatisticRow, TaskId};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The results gathered for one experiment-date, by task id.
type GroupResults = HashMap<TaskId, TaskResult>;

/// Consumes the results queue and writes outputs.
pub struct AggregatorService {
    queue: Arc<dyn MessageQueue>,
    names: QueueNames,
    warehouse: Arc<dyn Warehouse>,
    sink: Option<Arc<dyn ResultsSink>>,
    spool: Option<Spool>,
    metrics: FleetMetrics,
    groups: HashMap<DateGroup, GroupResults>,
    /// Dates already written, with what was answered: a finalize delivered again (after a
    /// dropped connection or a restart) is answered the same instead of writing again from
    /// results that are gone, and late duplicate results are not collected again.
    written: HashMap<DateGroup, Result<DateOutcome, String>>,
}

/// Failures that stop the aggregator (a failed write is reported to the coordinator instead).
#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    #[error("spool {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl AggregatorService {
    /// An aggregator reading `names.results` and answering on `names.progress`.
    pub fn new(
        queue: Arc<dyn MessageQueue>,
        names: QueueNames,
        warehouse: Arc<dyn Warehouse>,
        sink: Option<Arc<dyn ResultsSink>>,
        metrics: FleetMetrics,
    ) -> AggregatorService {
        AggregatorService {
            queue,
            names,
            warehouse,
            sink,
            spool: None,
            metrics,
            groups: HashMap::new(),
            written: HashMap::new(),
        }
    }

    /// Spools accepted results under `dir` (created if missing) and reloads what an earlier
    /// process spooled there.
    pub fn with_spool(mut self, dir: &Path) -> Result<AggregatorService, AggregatorError> {
        let spool = Spool::open(dir)?;
        let (results, written) = spool.load()?;
        self.written = written;
        for result in results {
            let group = DateGroup::of(&result.run_id, &result.key);
            self.groups
                .entry(group)
                .or_default()
                .entry(result.task_id.clone())
                .or_insert(result);
        }
        if !self.groups.is_empty() {
            tracing::info!(dates = self.groups.len(), "reloaded spooled results");
        }
        self.spool = Some(spool);
        Ok(self)
    }

    /// Runs until the results queue closes; returns the number of dates written.
    pub async fn run(mut self) -> Result<u64, AggregatorError> {
        let mut written = 0;
        while let Some(delivery) = self.queue.receive(&self.names.results).await? {
            let message = match Envelope::<ToAggregator>::decode(&delivery.payload) {
                Ok(message) => message,
                Err(e) => {
                    tracing::error!(error = %e, "dead-lettering an undecodable result");
                    self.metrics.dead_lettered("result");
                    ignore_stale(self.queue.nack(delivery, false).await)?;
                    continue;
                }
            };
            match message {
                ToAggregator::Result(result) => {
                    let _timer = self.metrics.start("result");
                    let progress = self.accept(result)?;
                    self.queue
                        .publish(
                            &self.names.progress,
                            Envelope::encode(&ToCoordinator::Progress(progress)),
                        )
                        .await?;
                    self.metrics.succeeded("result");
                }
                ToAggregator::Finalize(finalize) => {
                    let _timer = self.metrics.start("finalize");
                    let group = finalize.group();
                    let outcome = match self.written.get(&group) {
                        Some(outcome) => {
                            tracing::info!(%group, "already written; answering again");
                            outcome.clone()
                        }
                        None => {
                            let outcome = self.write(*finalize).await;
                            if let Some(spool) = &self.spool {
                                spool.mark_written(&group, &outcome)?;
                            }
                            self.written.insert(group.clone(), outcome.clone());
                            written += 1;
                            outcome
                        }
                    };
                    let notice = ToCoordinator::Written(Written {
                        group,
                        result: outcome,
                    });
                    self.queue
                        .publish(&self.names.progress, Envelope::encode(&notice))
                        .await?;
                }
            }
            ignore_stale(self.queue.ack(delivery).await)?;
        }
        Ok(written)
    }

    /// Writes a date's outputs from the results gathered for it.
    async fn write(&mut self, finalize: Finalize) -> Result<DateOutcome, String> {
        let group = finalize.group();
        let results = self.groups.remove(&group).unwrap_or_default();
        let (warehouse, sink) = (Arc::clone(&self.warehouse), self.sink.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            write_outputs(&*warehouse, sink.as_deref(), &finalize, &results)
        })
        .await
        .unwrap_or_else(|e| Err(format!("internal error: {e}")));
        match &outcome {
            Ok(_) => self.metrics.succeeded("finalize"),
            Err(e) => {
                tracing::error!(%group, error = %e, "writing outputs failed");
                self.metrics.failed("finalize");
            }
        }
        outcome
    }

    /// Keeps `result` if it is the first of its task id; returns the notice for the
    /// coordinator, which always describes the first result.
    fn accept(&mut self, result: TaskResult) -> Result<Progress, AggregatorError> {
        let group = DateGroup::of(&result.run_id, &result.key);
        if self.written.contains_key(&group) {
            // A late duplicate, or a coordinator driving the date again after a restart: its
            // outputs exist, so the result only advances the coordinator.
            return Ok(Progress {
                run_id: result.run_id,
                task_id: result.task_id,
                key: result.key,
                outcome: ProgressOutcome::of(&result.outcome),
            });
        }
        let entry = self.groups.entry(group.clone()).or_default();
        let kept = match entry.get(&result.task_id) {
            Some(first) => {
                tracing::debug!(task = %result.task_id, "dropping a duplicate result");
                first
            }
            None => {
                if let Some(spool) = &self.spool {
                    spool.append(&group, &result)?;
                }
                entry.entry(result.task_id.clone()).or_insert(result)
            }
        };
        Ok(Progress {
            run_id: kept.run_id.clone(),
            task_id: kept.task_id.clone(),
            key: kept.key.clone(),
            outcome: ProgressOutcome::of(&kept.outcome),
        })
    }
}

/// Writes one experiment-date's logs, statistics tables, views and JSON.
pub fn write_outputs(
    warehouse: &dyn Warehouse,
    sink: Option<&dyn ResultsSink>,
    finalize: &Finalize,
    results: &HashMap<TaskId, TaskResult>,
) -> Result<DateOutcome, String> {
    let spec = &finalize.spec;
    let mut errors = finalize.errors.clone();
    let mut rows = WindowRows::new();
    // In publication order, so the logs do not depend on which worker answered first.
    for id in &finalize.tasks {
        let Some(result) = results.get(id) else {
            errors.push(AnalysisError {
                timestamp: chrono::Utc::now(),
                log_level: "ERROR".into(),
                experiment: Some(spec.experiment.slug.clone()),
                metric: None,
                statistic: None,
                segment: None,
                analysis_basis: None,
                analysis_period: None,
                message: format!("the result of task {id} was lost; rerun the experiment"),
                exception: None,
                exception_type: Some("LostResult".into()),
                filename: "coordinator/src/aggregator.rs".into(),
                func_name: "write_outputs".into(),
            });
            continue;
        };
        match &result.outcome {
            TaskOutcome::Statistics { rows: r, errors: e } => {
                if let (Some(period), Some(n)) = (result.key.period, result.key.window_index) {
                    rows.entry((period, n))
                        .or_default()
                        .extend(r.iter().cloned());
                }
                errors.extend(e.iter().cloned());
            }
            TaskOutcome::Failed { error } => errors.push((**error).clone()),
            TaskOutcome::Table { errors: e, .. } => errors.extend(e.iter().cloned()),
        }
    }
    warehouse
        .append_logs(&errors)
        .map_err(|e| format!("writing the logs: {e}"))?;
    match &finalize.outcome {
        DateOutcome::Analysed(_) => {
            let written = write_tables(warehouse, spec, rows, &finalize.metric_bases)
                .map_err(|e| format!("writing statistics: {e}"))?;
            if let Some(sink) = sink {
                let periods: Vec<AnalysisPeriod> = written.keys().copied().collect();
                export_experiment(warehouse, sink, spec, &periods, finalize.started)
                    .map_err(|e| format!("exporting: {e}"))?;
            }
            Ok(DateOutcome::Analysed(written))
        }
        other => {
            if let Some(sink) = sink {
                export_errors(warehouse, sink, spec, finalize.started)
                    .map_err(|e| format!("exporting errors: {e}"))?;
            }
            Ok(other.clone())
        }
    }
}

/// Accepted results on disk, one append-only file per experiment-date.
struct Spool {
    dir: PathBuf,
}

impl Spool {
    fn open(dir: &Path) -> Result<Spool, AggregatorError> {
        std::fs::create_dir_all(dir).map_err(|source| AggregatorError::Spool {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Spool {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, group: &DateGroup) -> PathBuf {
        let name: String = group
            .to_string()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{name}.jsonl"))
    }

    /// Appends `result` and syncs it to disk before the caller acknowledges it.
    fn append(&self, group: &DateGroup, result: &TaskResult) -> Result<(), AggregatorError> {
        let path = self.path(group);
        let err = |source| AggregatorError::Spool {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        let mut line = Envelope::encode(result);
        line.push(b'\n');
        file.write_all(&line).map_err(err)?;
        file.sync_data().map_err(err)
    }

    /// Records that `group` is written (replacing its results), atomically.
    fn mark_written(
        &self,
        group: &DateGroup,
        outcome: &Result<DateOutcome, String>,
    ) -> Result<(), AggregatorError> {
        let done = self.path(group).with_extension("done");
        let err = |source| AggregatorError::Spool {
            path: done.clone(),
            source,
        };
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(err)?;
        file.write_all(&Envelope::encode(&Written {
            group: group.clone(),
            result: outcome.clone(),
        }))
        .map_err(err)?;
        file.as_file().sync_data().map_err(err)?;
        file.persist(&done).map_err(|e| err(e.error))?;
        self.remove(group)
    }

    /// Every spooled result, and the dates already written; a torn last line (a crash
    /// mid-append) is skipped, since its message was never acknowledged and will be redelivered.
    #[allow(clippy::type_complexity)]
    fn load(
        &self,
    ) -> Result<
        (
            Vec<TaskResult>,
            HashMap<DateGroup, Result<DateOutcome, String>>,
        ),
        AggregatorError,
    > {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| AggregatorError::Spool {
            path: self.dir.clone(),
            source,
        })?;
        let mut results = Vec::new();
        let mut written = HashMap::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) == Some("done") {
                let text = std::fs::read(&path).map_err(|source| AggregatorError::Spool {
                    path: path.clone(),
                    source,
                })?;
                match Envelope::<Written>::decode(&text) {
                    Ok(w) => {
                        written.insert(w.group, w.result);
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable marker")
                    }
                }
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
                continue;
            }
            let text = std::fs::read(&path).map_err(|source| AggregatorError::Spool {
                path: path.clone(),
                source,
            })?;
            for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                match Envelope::<TaskResult>::decode(line) {
                    Ok(result) => results.push(result),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "skipping a torn spool line")
                    }
                }
            }
        }
        Ok((results, written))
    }

    fn remove(&self, group: &DateGroup) -> Result<(), AggregatorError> {
        let path = self.path(group);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(AggregatorError::Spool { path, source }),
        }
    }
}

/// Statistics rows by (period, window index).
pub type WindowRows = BTreeMap<(AnalysisPeriod, u32), Vec<StatisticRow>>;

/// Writes the statistics table of every (period, window) in `rows` with its view, and the
/// metrics views of `metric_bases`. Returns the number of rows written per period.
pub fn write_tables(
    warehouse: &dyn Warehouse,
    spec: &AnalysisSpec,
    rows: WindowRows,
    metric_bases: &[(AnalysisPeriod, Vec<AnalysisBasis>)],
) -> Result<BTreeMap<AnalysisPeriod, usize>, WarehouseError> {
    let slug = &spec.experiment.slug;
    let mut written = BTreeMap::new();
    for ((period, n), mut rows) in rows {
        sort_rows(&mut rows);
        let table = plan::statistics_table(slug, period, n);
        warehouse.write_statistics(&table, &rows)?;
        if let Err(e) = warehouse.describe_table(&table, slug) {
            tracing::warn!(%table, error = %e, "table description not set");
        }
        let (view, prefix) = plan::statistics_view(slug, period);
        warehouse.publish_window_view(&view, &prefix)?;
        written.insert(period, rows.len());
    }
    for (period, bases) in metric_bases {
        for basis in bases {
            let (view, prefix) = plan::metrics_view(slug, *basis, *period);
            warehouse.publish_window_view(&view, &prefix)?;
        }
    }
    Ok(written)
}

/// A stable order for rows: by basis, segment, metric, statistic, branch, comparison.
pub fn sort_rows(rows: &mut [StatisticRow]) {
    rows.sort_by(|a, b| {
        (
            a.analysis_basis,
            &a.segment,
            &a.metric,
            &a.statistic,
            &a.branch,
            a.comparison,
            &a.comparison_to_branch,
        )
            .cmp(&(
                b.analysis_basis,
                &b.segment,
                &b.metric,
                &b.statistic,
                &b.branch,
                b.comparison,
                &b.comparison_to_branch,
            ))
            .then(
                a.parameter
                    .partial_cmp(&b.parameter)
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
    });
}

/// Exports the statistics views of `periods`, the metadata and the errors of one experiment.
pub fn export_experiment(
    warehouse: &dyn Warehouse,
    sink: &dyn ResultsSink,
    spec: &AnalysisSpec,
    periods: &[AnalysisPeriod],
    analysis_start: chrono::DateTime<chrono::Utc>,
) -> Result<(), ExportError> {
    let slug = &spec.experiment.slug;
    for period in periods {
        let (view, _) = plan::statistics_view(slug, *period);
        if !warehouse.table_exists(&view)? {
            continue;
        }
        let rows = warehouse.read_statistics_view(&view)?;
        sink.write(
            &export::statistics_path(slug, period.table_suffix()),
            &export::statistics_json(&rows),
        )?;
    }
    sink.write(
        &export::metadata_path(slug),
        &export::metadata_json(spec, Some(analysis_start)),
    )?;
    export_errors(warehouse, sink, spec, analysis_start)
}

/// Exports the errors JSON of one experiment (also done when its analysis is skipped or fails).
pub fn export_errors(
    warehouse: &dyn Warehouse,
    sink: &dyn ResultsSink,
    spec: &AnalysisSpec,
    analysis_start: chrono::DateTime<chrono::Utc>,
) -> Result<(), ExportError> {
    let logs = warehouse.read_logs(&spec.experiment.slug)?;
    let floor = export::errors_floor(spec, analysis_start);
    sink.write(
        &export::errors_path(&spec.experiment.slug),
        &export::errors_json(&logs, floor),
    )?;
    Ok(())
}

/// A failure while exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Sink(#[from] export::SinkError),
}
