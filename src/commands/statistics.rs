//! `jetstream statistics`: the statistics a metric-hub TOML configures, over a per-client file,
//! as Jetstream's statistics step computes them for one segment, basis and (overall) window.
//! This is the side-by-side harness against the Python implementation (`../shared/peer`).
//!
//! Each `[metrics.<m>.statistics.<s>]` of the config is one summary over the file's column `m`,
//! with rows where `m` is NULL dropped before its pre-treatments (Jetstream's subset query);
//! `count` over the whole population is always added. Metrics with `depends_on` read their
//! upstream columns (rows where one is NULL dropped); a `covariate_adjustment` reads the file's
//! column `<metric>_pre` (this command analyses the overall period). A failing statistic becomes an error record (printed on stderr); the others
//! still complete, as in Jetstream; the exit code is then 1.

use crate::cli::StatisticsArgs;
use anyhow::{bail, Context};
use jetstream_coordinator::config::{load_config, CustomConfig, MetricDefinition};
use jetstream_proto::spec::{StatisticSpec, SummarySpec};
use jetstream_proto::{AnalysisError, AnalysisPeriod, StatisticRow};
use jetstream_worker::client_file::{read_client_file, ClientTable};
use jetstream_worker::stats::{self, DataColumn, MetricData, StatContext};
use std::process::ExitCode;

pub fn execute(args: &StatisticsArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.config)?;
    let table = read_client_file(&args.input)?;
    let branches = branch_order(&table, &args.reference_branch)?;
    let experiment = args
        .config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rows: Vec<StatisticRow> = Vec::new();
    let mut errors: Vec<AnalysisError> = Vec::new();
    let base = StatContext {
        experiment: &experiment,
        metric: "identity",
        segment: &args.segment,
        basis: args.analysis_basis,
        period: AnalysisPeriod::Overall,
        window_index: 1,
        analysis_length_days: args.analysis_length_days,
        seed: args.seed,
        branches: &branches,
    };
    rows.extend(stats::counts(&table.branches, &base));
    for job in summaries(&config) {
        let out = compute(&table, &job, &base);
        rows.extend(out.rows);
        errors.extend(out.errors);
    }
    let json = serde_json::to_vec_pretty(&rows)?;
    std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
    // Warnings (a fallback to unadjusted inferences, a reference without variation) are
    // reported on stderr by the statistics; only errors fail the command.
    let failed = errors.iter().filter(|e| e.log_level == "ERROR").count();
    println!(
        "{} rows written to {} ({failed} statistic(s) failed, {} warning(s))",
        rows.len(),
        args.out.display(),
        errors.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The file's branches with the reference first, as Experimenter lists them.
pub fn branch_order(table: &ClientTable, reference: &str) -> anyhow::Result<Vec<String>> {
    let mut labels: Vec<String> = table.branches.clone();
    labels.sort();
    labels.dedup();
    if !labels.iter().any(|l| l == reference) {
        bail!(
            "reference branch '{reference}' is not among the file's branches ({})",
            labels.join(", ")
        );
    }
    let mut branches = vec![reference.to_string()];
    branches.extend(labels.into_iter().filter(|b| b != reference));
    Ok(branches)
}

/// One configured summary and the metric definition it reads.
pub struct Job<'c> {
    pub definition: &'c MetricDefinition,
    pub summary: SummarySpec,
}

/// Every `[metrics.<m>.statistics.<s>]` of the config, in config order.
pub fn summaries(config: &CustomConfig) -> Vec<Job<'_>> {
    let mut jobs = Vec::new();
    for definition in config.metrics.definitions.values() {
        for statistic in definition.statistics.iter().flatten() {
            jobs.push(Job {
                definition,
                summary: SummarySpec {
                    metric: definition.name.clone(),
                    statistic: StatisticSpec {
                        name: statistic.name.clone(),
                        params: statistic.params.clone(),
                    },
                    pre_treatments: statistic.pre_treatments.clone(),
                },
            });
        }
    }
    jobs
}

/// One summary over the file: the metric's data as Jetstream's subset query selects it, then
/// the statistic. A metric the file cannot provide becomes the summary's error record.
pub fn compute(table: &ClientTable, job: &Job, base: &StatContext) -> stats::StatOutput {
    let ctx = StatContext {
        metric: &job.definition.name,
        ..*base
    };
    match job_data(table, job) {
        Ok(data) => stats::run_summary(&job.summary, &data, &ctx),
        Err(reason) => stats::StatOutput {
            rows: Vec::new(),
            errors: vec![stats::statistic_error(
                &ctx,
                &job.summary.statistic.name,
                &reason,
            )],
        },
    }
}

/// The data a summary reads: its metric's (or upstream metrics') rows, with the covariate its
/// statistic adjusts for when the file has it.
pub fn job_data(table: &ClientTable, job: &Job) -> Result<MetricData, String> {
    let data = metric_data(table, job.definition)?;
    Ok(with_covariate(table, &job.summary, &data).into_owned())
}

/// The metric's data: its non-NULL values by branch, or for a metric computed from others
/// (`depends_on`) the rows where every upstream column is non-NULL, as Jetstream's subset query
/// selects them.
fn metric_data(table: &ClientTable, definition: &MetricDefinition) -> Result<MetricData, String> {
    let missing = |column: &str| {
        format!(
            "the input file has no column `{column}` (columns: {})",
            table
                .columns
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if definition.depends_on.is_empty() {
        let (branches, values) = table
            .non_null(&definition.name)
            .ok_or_else(|| missing(&definition.name))?;
        return Ok(MetricData {
            integer: table.integer_columns.contains(&definition.name),
            ..MetricData::new(&branches, values)
        });
    }
    let mut columns = Vec::new();
    for upstream in &definition.depends_on {
        let name = upstream.value.as_str();
        columns.push((name, table.columns.get(name).ok_or_else(|| missing(name))?));
    }
    let keep: Vec<bool> = (0..table.branches.len())
        .map(|i| columns.iter().all(|(_, values)| values[i].is_some()))
        .collect();
    let upstream = columns
        .iter()
        .map(|(name, values)| DataColumn {
            name: name.to_string(),
            values: values
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(v, _)| v.unwrap_or(f64::NAN))
                .collect(),
            integer: table.integer_columns.contains(*name),
        })
        .collect();
    let branches: Vec<&String> = table
        .branches
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(b, _)| b)
        .collect();
    Ok(MetricData {
        upstream,
        ..MetricData::new(&branches, Vec::new())
    })
}

/// The metric's data with the covariate its statistic adjusts for (`<metric>_pre`, a column of
/// the file, NULL where the client has no pre-enrollment value), when the file has one;
/// otherwise the data as it is (the statistic then records its fallback to unadjusted
/// inferences).
fn with_covariate<'d>(
    table: &ClientTable,
    summary: &SummarySpec,
    data: &'d MetricData,
) -> std::borrow::Cow<'d, MetricData> {
    use std::borrow::Cow;
    let Some(adjustment) = stats::covariate_request(summary, AnalysisPeriod::Overall) else {
        return Cow::Borrowed(data);
    };
    let column = adjustment.column(&summary.metric);
    let (Some(all), Some(own)) = (
        table.columns.get(&column),
        table.columns.get(&summary.metric),
    ) else {
        return Cow::Borrowed(data);
    };
    if data.is_derived() {
        return Cow::Borrowed(data);
    }
    // The rows of `data` are the file's rows where the metric is non-NULL, in order.
    let values = all
        .iter()
        .zip(own)
        .filter(|(_, m)| m.is_some())
        .map(|(c, _)| c.unwrap_or(f64::NAN))
        .collect();
    Cow::Owned(MetricData {
        covariate: Some(DataColumn {
            name: column.clone(),
            values,
            integer: table.integer_columns.contains(&column),
        }),
        ..data.clone()
    })
}
