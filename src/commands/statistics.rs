//! `jetstream statistics`: the statistics a metric-hub TOML configures, over a per-client file,
//! as Jetstream's statistics step computes them for one segment, basis and (overall) window.
//! This is the side-by-side harness against the Python implementation (`../shared/peer`).
//!
//! Each `[metrics.<m>.statistics.<s>]` of the config is one summary over the file's column `m`,
//! with rows where `m` is NULL dropped before its pre-treatments (Jetstream's subset query);
//! `count` over the whole population is always added. Metrics with `depends_on` read their
//! upstream columns. A failing statistic becomes an error record (printed on stderr); the others
//! still complete, as in Jetstream; the exit code is then 1.

use crate::cli::StatisticsArgs;
use anyhow::{bail, Context};
use jetstream_coordinator::config::{load_config, MetricDefinition};
use jetstream_proto::spec::{StatisticSpec, SummarySpec};
use jetstream_proto::{AnalysisError, AnalysisPeriod, StatisticRow};
use jetstream_worker::client_file::{read_client_file, ClientTable};
use jetstream_worker::stats::{self, MetricData, StatContext};
use std::process::ExitCode;

pub fn execute(args: &StatisticsArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.config)?;
    let table = read_client_file(&args.input)?;
    let mut labels: Vec<String> = table.branches.clone();
    labels.sort();
    labels.dedup();
    if !labels.contains(&args.reference_branch) {
        bail!(
            "reference branch '{}' is not among the file's branches ({})",
            args.reference_branch,
            labels.join(", ")
        );
    }
    // Experimenter lists the reference branch first.
    let mut branches = vec![args.reference_branch.clone()];
    branches.extend(labels.into_iter().filter(|b| *b != args.reference_branch));
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
    for definition in config.metrics.definitions.values() {
        let Some(statistics) = &definition.statistics else {
            continue;
        };
        let ctx = StatContext {
            metric: &definition.name,
            ..base
        };
        let data = match metric_data(&table, definition) {
            Ok(data) => data,
            Err(reason) => {
                for s in statistics {
                    errors.push(stats::statistic_error(&ctx, &s.name, &reason));
                }
                continue;
            }
        };
        for statistic in statistics {
            let summary = SummarySpec {
                metric: definition.name.clone(),
                statistic: StatisticSpec {
                    name: statistic.name.clone(),
                    params: statistic.params.clone(),
                },
                pre_treatments: statistic.pre_treatments.clone(),
            };
            let out = stats::run_summary(&summary, &data, &ctx);
            rows.extend(out.rows);
            errors.extend(out.errors);
        }
    }
    let json = serde_json::to_vec_pretty(&rows)?;
    std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "{} rows written to {} ({} statistic(s) failed)",
        rows.len(),
        args.out.display(),
        errors.len()
    );
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The metric's non-NULL values by branch. Metrics computed from others (`depends_on`) are not
/// supported by the statistics yet.
fn metric_data(table: &ClientTable, definition: &MetricDefinition) -> Result<MetricData, String> {
    if !definition.depends_on.is_empty() {
        return Err(format!(
            "metric {} depends on other metrics ({}); statistics over several columns are not \
             supported yet",
            definition.name,
            definition
                .depends_on
                .iter()
                .map(|d| d.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let (branches, values) = table.non_null(&definition.name).ok_or_else(|| {
        format!(
            "the input file has no column `{}` (columns: {})",
            definition.name,
            table
                .columns
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    Ok(MetricData { branches, values })
}
