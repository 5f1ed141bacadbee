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
    for metric in metrics(&config) {
        let ctx = StatContext {
            metric: &metric.definition.name,
            ..base
        };
        // The metric's rows are selected once and shared by its statistics.
        let mut data = match metric_data(&table, metric.definition) {
            Ok(data) => data,
            Err(reason) => {
                for summary in &metric.summaries {
                    let name = &summary.statistic.name;
                    errors.push(stats::statistic_error(&ctx, name, &reason));
                }
                continue;
            }
        };
        for summary in &metric.summaries {
            data.covariate = covariate_column(&table, summary, &data);
            let out = stats::run_summary(summary, &data, &ctx);
            rows.extend(out.rows);
            errors.extend(out.errors);
        }
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

/// A metric of the config and its configured summaries.
pub struct MetricSummaries<'c> {
    pub definition: &'c MetricDefinition,
    pub summaries: Vec<SummarySpec>,
}

/// Every metric with `[metrics.<m>.statistics.<s>]` tables, with its summaries in config order.
pub fn metrics(config: &CustomConfig) -> Vec<MetricSummaries<'_>> {
    config
        .metrics
        .definitions
        .values()
        .filter_map(|definition| {
            let summaries: Vec<SummarySpec> = definition
                .statistics
                .iter()
                .flatten()
                .map(|statistic| SummarySpec {
                    metric: definition.name.clone(),
                    statistic: StatisticSpec {
                        name: statistic.name.clone(),
                        params: statistic.params.clone(),
                    },
                    pre_treatments: statistic.pre_treatments.clone(),
                })
                .collect();
            (!summaries.is_empty()).then_some(MetricSummaries {
                definition,
                summaries,
            })
        })
        .collect()
}

/// The metric's data: its non-NULL values by branch, or for a metric computed from others
/// (`depends_on`) the rows where every upstream column is non-NULL, as Jetstream's subset query
/// selects them.
pub fn metric_data(
    table: &ClientTable,
    definition: &MetricDefinition,
) -> Result<MetricData, String> {
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

/// The covariate a summary's statistic adjusts for (`<metric>_pre`, a column of the file, NULL
/// where the client has no pre-enrollment value), aligned with `data`, when the file has it;
/// otherwise None (the statistic then records its fallback to unadjusted inferences).
pub fn covariate_column(
    table: &ClientTable,
    summary: &SummarySpec,
    data: &MetricData,
) -> Option<DataColumn> {
    let adjustment = stats::covariate_request(summary, AnalysisPeriod::Overall)?;
    if data.is_derived() {
        return None;
    }
    let column = adjustment.column(&summary.metric);
    let all = table.columns.get(&column)?;
    let own = table.columns.get(&summary.metric)?;
    // The rows of `data` are the file's rows where the metric is non-NULL, in order.
    let values = all
        .iter()
        .zip(own)
        .filter(|(_, m)| m.is_some())
        .map(|(c, _)| c.unwrap_or(f64::NAN))
        .collect();
    Some(DataColumn {
        integer: table.integer_columns.contains(&column),
        name: column,
        values,
    })
}
