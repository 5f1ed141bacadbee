//! Collects task results, drops duplicates, and writes each output once its tasks are done.

use crate::export::{self, ResultsSink};
use crate::plan;
use jetstream_proto::spec::AnalysisSpec;
use jetstream_proto::task::{TaskOutcome, TaskResult};
use jetstream_proto::warehouse::{Warehouse, WarehouseError};
use jetstream_proto::{AnalysisBasis, AnalysisError, AnalysisPeriod, StatisticRow, TaskId};
use std::collections::{BTreeMap, HashSet};

/// The results of one experiment-date, gathered from workers.
#[derive(Debug, Default)]
pub struct Aggregator {
    /// Tasks published and not yet answered: the single place duplicates are recognised.
    pending: HashSet<TaskId>,
    rows: WindowRows,
    errors: Vec<AnalysisError>,
}

impl Aggregator {
    /// Registers a published task whose result is awaited.
    pub fn expect(&mut self, task: &TaskId) {
        self.pending.insert(task.clone());
    }

    /// True when every expected task has a result.
    pub fn is_complete(&self) -> bool {
        self.pending.is_empty()
    }

    /// Records `result` if its task is awaited; returns false (and ignores it) for a result
    /// already recorded or never expected (a redelivery, or a stale run), which is how
    /// redelivered tasks never duplicate a row.
    pub fn accept(&mut self, result: &TaskResult) -> bool {
        if !self.pending.remove(&result.task_id) {
            return false;
        }
        match &result.outcome {
            TaskOutcome::Statistics { rows, errors } => {
                if let (Some(period), Some(n)) = (result.key.period, result.key.window_index) {
                    self.rows
                        .entry((period, n))
                        .or_default()
                        .extend(rows.iter().cloned());
                }
                self.errors.extend(errors.iter().cloned());
            }
            TaskOutcome::Failed { error } => self.errors.push((**error).clone()),
            TaskOutcome::Table { errors, .. } => self.errors.extend(errors.iter().cloned()),
        }
        true
    }

    /// Records an error that did not come from a worker (e.g. a skipped experiment).
    pub fn record_error(&mut self, error: AnalysisError) {
        self.errors.push(error);
    }

    /// Takes the errors recorded so far (to be written to the logs table).
    pub fn take_errors(&mut self) -> Vec<AnalysisError> {
        std::mem::take(&mut self.errors)
    }

    /// Takes the statistics rows gathered so far, by (period, window index).
    pub fn take_rows(&mut self) -> WindowRows {
        std::mem::take(&mut self.rows)
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
        warehouse.write_statistics(&plan::statistics_table(slug, period, n), &rows)?;
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
