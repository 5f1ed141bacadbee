//! Executes one task: the warehouse queries it owns and the statistics it computes.

use crate::metrics_plan::MetricsPlan;
use crate::sql::{self, Catalog, IdOptions, SqlError};
use crate::sql_output::SqlOutput;
use crate::stats::{self, CovariateAdjustment, DataColumn, MetricData, StatContext};
use chrono::Utc;
use jetstream_proto::spec::{AnalysisSpec, MetricSpec, SummarySpec};
use jetstream_proto::task::{TaskOutcome, TaskResult, WireTask};
use jetstream_proto::warehouse::{Column, Frame, Warehouse, WarehouseError, WriteMode};
use jetstream_proto::{AnalysisBasis, AnalysisError, AnalysisPeriod, TaskKind};
use std::collections::HashMap;
use std::sync::Arc;

/// Runs tasks against a warehouse. Stateless apart from its handles; safe to share.
pub struct TaskExecutor {
    warehouse: Arc<dyn Warehouse>,
    catalog: Catalog,
    name: String,
    sql_output: Option<SqlOutput>,
}

impl TaskExecutor {
    /// The name reported in this executor's results.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An executor named `name` (reported in results) over `warehouse`.
    pub fn new(warehouse: Arc<dyn Warehouse>, catalog: Catalog, name: impl Into<String>) -> Self {
        TaskExecutor {
            warehouse,
            catalog,
            name: name.into(),
            sql_output: None,
        }
    }

    /// Also writes every generated query to `output` (`--sql-output-dir`).
    pub fn with_sql_output(mut self, output: SqlOutput) -> Self {
        self.sql_output = Some(output);
        self
    }

    /// Runs `task` to completion (blocking). Failures are reported in the result, never panics.
    pub fn execute(&self, task: &WireTask) -> TaskResult {
        let outcome = match task.key.kind {
            TaskKind::Enrollments => self.enrollments(task),
            TaskKind::Metrics => self.metrics(task),
            TaskKind::Statistics => self.statistics(task),
        };
        let outcome = outcome.unwrap_or_else(|error| TaskOutcome::Failed { error });
        TaskResult {
            task_id: task.id.clone(),
            run_id: task.run_id.clone(),
            key: task.key.clone(),
            worker: self.name.clone(),
            outcome,
        }
    }

    /// Writes an output table and describes it with the experiment's slug, as upstream does. A
    /// failed description (a concurrent metadata update) is logged, not a task failure.
    fn create(
        &self,
        task: &WireTask,
        table: &str,
        query: &str,
        mode: WriteMode,
    ) -> Result<u64, WarehouseError> {
        let rows = self.warehouse.create_table_as(table, query, mode)?;
        if let Err(e) = self
            .warehouse
            .describe_table(table, &task.spec.experiment.slug)
        {
            tracing::warn!(%table, error = %e, "table description not set");
        }
        Ok(rows)
    }

    fn enrollments(&self, task: &WireTask) -> Result<TaskOutcome, Box<AnalysisError>> {
        let table = &task.tables.enrollments;
        let query = sql::enrollments_query(
            &task.spec,
            &task.time_limits,
            &self.catalog,
            id_options(task),
        )
        .map_err(|e| task_error(task, None, e.to_string(), "enrollments"))?;
        self.record_sql(table, &query);
        match self.create(task, table, &query, WriteMode::Empty) {
            Ok(rows) => Ok(TaskOutcome::Table {
                table: table.clone(),
                rows,
                errors: Vec::new(),
            }),
            // Created by an earlier run: the enrollments table is computed once and reused.
            Err(WarehouseError::AlreadyExists(_)) => Ok(TaskOutcome::Table {
                table: table.clone(),
                rows: self
                    .count_rows(table)
                    .map_err(|e| task_error(task, None, e.to_string(), "enrollments"))?,
                errors: Vec::new(),
            }),
            Err(e) => Err(task_error(task, None, e.to_string(), "enrollments")),
        }
    }

    /// Writes a generated query to the `--sql-output-dir`, if one is set; a failure to write
    /// is logged and never fails the analysis.
    fn record_sql(&self, table: &str, query: &str) {
        if let Some(output) = &self.sql_output {
            if let Err(e) = output.write(table, query) {
                tracing::warn!(table, error = %e, "cannot write the query to the SQL output directory");
            }
        }
    }

    /// Every query `task` would run, as (destination table, BigQuery SQL), without running
    /// anything: the enrollments query, or the metrics queries (per data source and the
    /// joining one in the discrete mode). Statistics tasks only read.
    pub fn render_sql(&self, task: &WireTask) -> Result<Vec<(String, String)>, String> {
        match task.key.kind {
            TaskKind::Enrollments => {
                let query = sql::enrollments_query(
                    &task.spec,
                    &task.time_limits,
                    &self.catalog,
                    id_options(task),
                )
                .map_err(|e| e.to_string())?;
                Ok(vec![(task.tables.enrollments.clone(), query)])
            }
            TaskKind::Metrics => {
                let basis = task_basis(task).map_err(|e| e.message)?;
                let table = task
                    .tables
                    .metrics
                    .as_deref()
                    .ok_or("metrics task without a metrics table")?;
                let plan = MetricsPlan::new(task, basis, table, self.warehouse.as_ref())
                    .map_err(|e| e.to_string())?;
                let text = |e: SqlError| e.to_string();
                if !task.options.discrete_metrics {
                    return Ok(vec![(
                        table.to_string(),
                        plan.query(&plan.metrics).map_err(text)?,
                    )]);
                }
                let mut queries = Vec::new();
                let mut written = Vec::new();
                for part in &plan.parts {
                    queries.push((part.table.clone(), plan.query(&part.metrics).map_err(text)?));
                    written.push((part, part.metrics.clone()));
                }
                queries.push((
                    table.to_string(),
                    plan.joined_query(&written).map_err(text)?,
                ));
                Ok(queries)
            }
            TaskKind::Statistics => Ok(Vec::new()),
        }
    }

    fn count_rows(&self, table: &str) -> Result<u64, WarehouseError> {
        let frame = self.warehouse.query(&format!(
            "SELECT count(*) AS n FROM {}",
            self.warehouse.table_ref(table)?
        ))?;
        Ok(match frame.column("n") {
            Some(c) => c
                .numbers()
                .and_then(|v| v.first().copied().flatten())
                .unwrap_or(0.0) as u64,
            _ => 0,
        })
    }

    fn metrics(&self, task: &WireTask) -> Result<TaskOutcome, Box<AnalysisError>> {
        let basis = task_basis(task)?;
        let table = task.tables.metrics.as_deref().ok_or_else(|| {
            task_error(
                task,
                None,
                "metrics task without a metrics table".into(),
                "metrics",
            )
        })?;
        let fail = |message: String| task_error(task, None, message, "metrics");
        let plan = MetricsPlan::new(task, basis, table, self.warehouse.as_ref())
            .map_err(|e| fail(e.to_string()))?;
        let mut errors = Vec::new();
        let query = if task.options.discrete_metrics {
            // A table per data source, then one joining what succeeded.
            let mut written = Vec::new();
            for part in &plan.parts {
                let mut run = |subset: &[&MetricSpec]| -> Result<(), RunFailure> {
                    let query = plan
                        .query(subset)
                        .map_err(|e| RunFailure::Sql(e.to_string()))?;
                    self.record_sql(&part.table, &query);
                    self.create(task, &part.table, &query, WriteMode::Truncate)?;
                    Ok(())
                };
                let succeeded = isolate_failures(&part.metrics, &mut run, |metric, message| {
                    errors.push(*task_error(task, Some(&metric.name), message, "metrics"));
                })
                .map_err(fail)?;
                if !succeeded.is_empty() {
                    written.push((part, succeeded));
                }
            }
            plan.joined_query(&written)
        } else {
            // One query for every data source: any failure fails the table, as upstream.
            plan.query(&plan.metrics)
        }
        .map_err(|e| fail(e.to_string()))?;
        self.record_sql(table, &query);
        let rows = self
            .create(task, table, &query, WriteMode::Truncate)
            .map_err(|e| fail(e.to_string()))?;
        Ok(TaskOutcome::Table {
            table: table.to_string(),
            rows,
            errors,
        })
    }

    fn statistics(&self, task: &WireTask) -> Result<TaskOutcome, Box<AnalysisError>> {
        let basis = task_basis(task)?;
        let segment = task
            .key
            .segment
            .clone()
            .unwrap_or_else(|| "all".to_string());
        let period = task.key.period.ok_or_else(|| {
            task_error(
                task,
                None,
                "statistics task without a period".into(),
                "statistics",
            )
        })?;
        let spec = &task.spec;
        let summaries: Vec<&SummarySpec> = period_summaries(task)
            .iter()
            .filter(|s| {
                spec.metrics
                    .get(&s.metric)
                    .is_some_and(|m| m.analysis_bases.contains(&basis))
            })
            .collect();
        let fail = |e: WarehouseError| task_error(task, None, e.to_string(), "statistics");

        let metrics_table = task.tables.metrics.as_deref().ok_or_else(|| {
            task_error(
                task,
                None,
                "statistics task without a metrics table".into(),
                "statistics",
            )
        })?;
        let metrics_ref = self.warehouse.table_ref(metrics_table).map_err(fail)?;
        // A metric whose query failed has no column (its error was logged by the metrics
        // task); its statistics are skipped, as upstream's empty subset table gives none.
        let available = self
            .warehouse
            .query(&format!("SELECT * FROM {metrics_ref} LIMIT 0"))
            .map_err(fail)?;
        let summaries: Vec<&SummarySpec> = summaries
            .into_iter()
            .filter(|s| {
                let present = needed_columns(spec, &s.metric)
                    .iter()
                    .all(|c| available.column(c).is_some());
                if !present {
                    tracing::debug!(metric = %s.metric, "no column in the metrics table; statistics skipped");
                }
                present
            })
            .collect();
        // Each computed column once: the summaries' metrics, or for a metric computed from
        // others (`depends_on`), its upstream metrics.
        let mut columns: Vec<&str> = Vec::new();
        for s in &summaries {
            for name in needed_columns(spec, &s.metric) {
                if !columns.contains(&name) {
                    columns.push(name);
                }
            }
        }
        let subset = sql::subset_query(&metrics_ref, &columns, basis, &segment);
        let frame = self.warehouse.query(&subset).map_err(fail)?;
        let branches = match frame.column("branch") {
            Some(Column::Text(v)) => v.clone(),
            _ => vec![None; frame.num_rows()],
        };

        let configured: Vec<String> = spec
            .experiment
            .branches
            .iter()
            .map(|b| b.slug.clone())
            .collect();
        let base_ctx = StatContext {
            experiment: &spec.experiment.slug,
            metric: "identity",
            segment: &segment,
            basis,
            period,
            window_index: task.time_limits.window_index,
            analysis_length_days: task.time_limits.window.length_days(),
            seed: task.seed,
            branches: &configured,
        };
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        // Each metric's rows, and each (covariate column, period) join, once per task however
        // many statistics read them.
        let mut subsets: HashMap<&str, Result<MetricData, String>> = HashMap::new();
        let mut adjusted: HashMap<(String, AnalysisPeriod), Option<MetricData>> = HashMap::new();
        for summary in summaries {
            let ctx = StatContext {
                metric: &summary.metric,
                ..base_ctx
            };
            let depends_on = spec
                .metrics
                .get(&summary.metric)
                .map(|m| m.depends_on.as_slice())
                .unwrap_or_default();
            let data = subsets.entry(summary.metric.as_str()).or_insert_with(|| {
                subset_data(&frame, &branches, &summary.metric, depends_on, None)
            });
            let data = match data {
                Ok(data) => &*data,
                Err(message) => {
                    errors.push(*task_error(
                        task,
                        Some(&summary.metric),
                        message.clone(),
                        "statistics",
                    ));
                    continue;
                }
            };
            let adjustment =
                stats::covariate_request(summary, period).filter(|_| !data.is_derived());
            let with_covariate = adjustment.and_then(|adjustment| {
                let key = (adjustment.column(&summary.metric), adjustment.period);
                if !adjusted.contains_key(&key) {
                    let joined = self
                        .covariate_data(
                            task,
                            &metrics_ref,
                            &summary.metric,
                            &adjustment,
                            basis,
                            &segment,
                        )
                        .unwrap_or_else(|message| {
                            let mut warning =
                                *task_error(task, Some(&summary.metric), message, "statistics");
                            warning.log_level = "WARNING".to_string();
                            errors.push(warning);
                            None
                        });
                    adjusted.insert(key.clone(), joined);
                }
                adjusted[&key].as_ref()
            });
            let out = stats::run_summary(summary, with_covariate.unwrap_or(data), &ctx);
            rows.extend(out.rows);
            errors.extend(out.errors);
        }

        let enrollments = self
            .warehouse
            .table_ref(&task.tables.enrollments)
            .map_err(fail)?;
        let population = self
            .warehouse
            .query(&sql::population_query(&enrollments, basis, &segment))
            .map_err(fail)?;
        let population_branches: Vec<String> = match population.column("branch") {
            Some(Column::Text(v)) => v.iter().flatten().cloned().collect(),
            _ => Vec::new(),
        };
        rows.extend(stats::counts(&population_branches, &base_ctx));
        Ok(TaskOutcome::Statistics { rows, errors })
    }
}

impl TaskExecutor {
    /// Jetstream's covariate subset: the metric's non-NULL rows of this table, LEFT JOINed on
    /// (analysis_id, branch) with the covariate metric of the pre-enrollment period's
    /// enrollments-basis window-1 table (NULL where a client has no pre-enrollment row).
    /// `Ok(None)` when the task names no such table; an error (reported as a warning, the
    /// statistic then runs unadjusted) when the table or its column is missing.
    fn covariate_data(
        &self,
        task: &WireTask,
        metrics_ref: &str,
        metric: &str,
        adjustment: &CovariateAdjustment,
        basis: AnalysisBasis,
        segment: &str,
    ) -> Result<Option<MetricData>, String> {
        let Some((_, table)) = task
            .tables
            .preenrollment
            .iter()
            .find(|(p, _)| *p == adjustment.period)
        else {
            return Ok(None);
        };
        let covariate_metric = adjustment.metric.as_deref().unwrap_or(metric);
        let fallback = |why: String| {
            format!(
                "Covariate adjustment table {table} {why}, falling back to unadjusted \
                 inferences for {metric}"
            )
        };
        if !self.warehouse.table_exists(table).unwrap_or(false) {
            return Err(fallback("does not exist".to_string()));
        }
        let pre_ref = self.warehouse.table_ref(table).map_err(|e| e.to_string())?;
        let column = adjustment.column(metric);
        let query = sql::covariate_query(
            metrics_ref,
            &pre_ref,
            metric,
            covariate_metric,
            &column,
            basis,
            segment,
        );
        let frame = self
            .warehouse
            .query(&query)
            .map_err(|e| fallback(format!("cannot be read for `{covariate_metric}` ({e})")))?;
        let branches = match frame.column("branch") {
            Some(Column::Text(v)) => v.clone(),
            _ => vec![None; frame.num_rows()],
        };
        let data = subset_data(&frame, &branches, metric, &[], Some(&column))
            .map_err(|e| fallback(format!("cannot be used ({e})")))?;
        Ok(Some(data))
    }
}

/// The computed columns a summary of `metric` reads: the metric's own, or for a metric computed
/// from others (`depends_on`), its upstream metrics'.
fn needed_columns<'a>(spec: &'a AnalysisSpec, metric: &str) -> Vec<&'a str> {
    let Some(metric) = spec.metrics.get(metric) else {
        return Vec::new();
    };
    let names: Vec<&str> = if metric.depends_on.is_empty() {
        vec![metric.name.as_str()]
    } else {
        metric.depends_on.iter().map(String::as_str).collect()
    };
    names
        .into_iter()
        .filter(|name| {
            spec.metrics
                .get(*name)
                .is_some_and(|m| m.select_expression.is_some())
        })
        .collect()
}

/// Why one run of [`isolate_failures`] failed.
enum RunFailure {
    /// The metrics' SQL failed: isolate the culprit.
    Sql(String),
    /// The warehouse was unavailable: stop, the whole task is retried later.
    Unavailable(String),
}

impl From<WarehouseError> for RunFailure {
    fn from(e: WarehouseError) -> Self {
        match e {
            WarehouseError::Unavailable(_) => RunFailure::Unavailable(e.to_string()),
            other => RunFailure::Sql(other.to_string()),
        }
    }
}

/// Runs `run` on all of `metrics`; if that fails, on each metric alone to find the ones whose
/// SQL fails (each reported through `failed`), then once more on the rest. Returns the metrics
/// the last successful run computed, or the first unavailability (no metric is blamed for
/// it). Costs extra queries only when something fails.
fn isolate_failures<'a>(
    metrics: &[&'a MetricSpec],
    run: &mut dyn FnMut(&[&'a MetricSpec]) -> Result<(), RunFailure>,
    mut failed: impl FnMut(&MetricSpec, String),
) -> Result<Vec<&'a MetricSpec>, String> {
    let mut attempt = |subset: &[&'a MetricSpec]| match run(subset) {
        Ok(()) => Ok(None),
        Err(RunFailure::Sql(message)) => Ok(Some(message)),
        Err(RunFailure::Unavailable(message)) => Err(message),
    };
    let Some(first) = attempt(metrics)? else {
        return Ok(metrics.to_vec());
    };
    if metrics.len() == 1 {
        failed(metrics[0], first);
        return Ok(Vec::new());
    }
    let mut ok = Vec::new();
    for &metric in metrics {
        match attempt(&[metric])? {
            None => ok.push(metric),
            Some(message) => failed(metric, message),
        }
    }
    if ok.is_empty() {
        return Ok(ok);
    }
    match attempt(&ok)? {
        None => Ok(ok),
        // Each works alone but not together: report the combined failure on every metric.
        Some(message) => {
            for metric in ok {
                failed(metric, message.clone());
            }
            Ok(Vec::new())
        }
    }
}

/// The task's choice of join keys.
pub(crate) fn id_options(task: &WireTask) -> IdOptions {
    IdOptions {
        use_glean_ids: task.options.use_glean_ids,
    }
}

pub(crate) fn period_summaries(task: &WireTask) -> &[SummarySpec] {
    task.key
        .period
        .map(|p| task.spec.summaries(p))
        .unwrap_or(&[])
}

fn task_basis(task: &WireTask) -> Result<AnalysisBasis, Box<AnalysisError>> {
    task.key.analysis_basis.ok_or_else(|| {
        task_error(
            task,
            None,
            "task without an analysis basis".into(),
            "execute",
        )
    })
}

/// The metrics a (period, basis) table must hold: those of the period's summaries measured on
/// the basis, plus what they depend on, each once, in config order; only those computed by SQL.
pub fn metrics_to_compute<'a>(
    spec: &'a AnalysisSpec,
    summaries: &[SummarySpec],
    basis: AnalysisBasis,
) -> Vec<&'a MetricSpec> {
    let mut out: Vec<&MetricSpec> = Vec::new();
    let push = |m: &'a MetricSpec, out: &mut Vec<&'a MetricSpec>| {
        if m.select_expression.is_some() && !out.iter().any(|o| o.name == m.name) {
            out.push(m);
        }
    };
    for s in summaries {
        let Some(metric) = spec.metrics.get(&s.metric) else {
            continue;
        };
        if !metric.analysis_bases.contains(&basis) {
            continue;
        }
        push(metric, &mut out);
        for dep in &metric.depends_on {
            if let Some(d) = spec.metrics.get(dep) {
                push(d, &mut out);
            }
        }
    }
    out
}

/// A summary's data from the subset frame, with rows where a selected metric is NULL (and rows
/// without a branch) removed, as Jetstream's `WHERE <metric> IS NOT NULL` subset does: the
/// metric's own column, or for a metric computed from others, its upstream columns; plus the
/// `covariate` column, whose NULLs stay (as NaN), as a LEFT JOIN leaves them.
fn subset_data(
    frame: &Frame,
    branches: &[Option<String>],
    metric: &str,
    depends_on: &[String],
    covariate: Option<&str>,
) -> Result<MetricData, String> {
    let numeric = |name: &str| -> Result<(&[Option<f64>], bool), String> {
        match frame.column(name) {
            Some(column @ (Column::Float(_) | Column::Integer(_))) => Ok((
                column.numbers().unwrap_or_default(),
                matches!(column, Column::Integer(_)),
            )),
            Some(Column::Text(_)) => Err(format!("metric '{name}' is not numeric or boolean")),
            None => Err(format!(
                "metric '{name}' has no column in the metrics table (it needs a select_expression)"
            )),
        }
    };
    let names: Vec<&str> = if depends_on.is_empty() {
        vec![metric]
    } else {
        depends_on.iter().map(String::as_str).collect()
    };
    let columns = names
        .iter()
        .map(|name| numeric(name))
        .collect::<Result<Vec<_>, _>>()?;
    let keep: Vec<usize> = (0..branches.len())
        .filter(|&i| branches[i].is_some() && columns.iter().all(|(v, _)| v[i].is_some()))
        .collect();
    let branch_labels: Vec<&str> = keep
        .iter()
        .map(|&i| branches[i].as_deref().unwrap_or_default())
        .collect();
    let values_of = |values: &[Option<f64>]| -> Vec<f64> {
        keep.iter()
            .map(|&i| values[i].unwrap_or(f64::NAN))
            .collect()
    };
    let covariate = covariate
        .map(|name| {
            numeric(name).map(|(values, integer)| DataColumn {
                name: name.to_string(),
                values: values_of(values),
                integer,
            })
        })
        .transpose()?;
    if depends_on.is_empty() {
        let (values, integer) = columns[0];
        return Ok(MetricData {
            integer,
            covariate,
            ..MetricData::new(&branch_labels, values_of(values))
        });
    }
    Ok(MetricData {
        covariate,
        upstream: names
            .iter()
            .zip(&columns)
            .map(|(name, (values, integer))| DataColumn {
                name: name.to_string(),
                values: values_of(values),
                integer: *integer,
            })
            .collect(),
        ..MetricData::new(&branch_labels, Vec::new())
    })
}

/// The record of `task` failing with `message` (or one of its metrics, when `metric` is set).
/// A message from an unavailable warehouse is marked retryable, so the worker tries again
/// instead of recording it.
fn task_error(
    task: &WireTask,
    metric: Option<&str>,
    message: String,
    func_name: &str,
) -> Box<AnalysisError> {
    let exception_type = if message.contains(jetstream_proto::warehouse::UNAVAILABLE_PREFIX) {
        jetstream_proto::task::RETRYABLE_EXCEPTION_TYPE
    } else {
        match task.key.kind {
            TaskKind::Statistics => "StatisticComputationException",
            _ => "QueryError",
        }
    };
    task_failure(task, metric, message, exception_type, func_name)
}

/// A failure record of `task`, in the logs table's shape (metrics tasks name their window,
/// `week_3`, as Jetstream does). Also used by the worker loop for tasks it gives up on.
pub fn task_failure(
    task: &WireTask,
    metric: Option<&str>,
    message: String,
    exception_type: &str,
    func_name: &str,
) -> Box<AnalysisError> {
    let period = match (task.key.period, task.key.kind) {
        (Some(p), TaskKind::Metrics) => {
            Some(format!("{}_{}", p.value(), task.time_limits.window_index))
        }
        (Some(p), _) => Some(p.value().to_string()),
        (None, _) => None,
    };
    Box::new(AnalysisError {
        timestamp: Utc::now(),
        log_level: "ERROR".to_string(),
        experiment: Some(task.key.experiment_slug.clone()),
        metric: metric.map(str::to_string),
        statistic: None,
        segment: task.key.segment.clone(),
        analysis_basis: task.key.analysis_basis,
        analysis_period: period,
        message: format!("{} failed: {message}", task.key),
        exception: Some(message),
        exception_type: Some(exception_type.to_string()),
        filename: "worker/src/executor.rs".to_string(),
        func_name: func_name.to_string(),
    })
}
