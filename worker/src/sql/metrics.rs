//! The per-client metrics query of one (window, analysis basis), over all data sources or, in
//! the discrete mode, over one (mozanalysis `build_metrics_query`, reference/mozanalysis.md A.5).

use super::format::format_select_expression;
use super::{analysis_unit, date_str, enrollments::exposure_signal_query, IdColumns};
use super::{IdOptions, SqlError};
use jetstream_proto::naming::bq_string_literal;
use jetstream_proto::spec::{AnalysisSpec, DataSourceSpec, MetricSpec, TimeLimits};
use jetstream_proto::AnalysisBasis;

/// `metrics` that have a select expression, grouped by data source in first-use order (the
/// deterministic `ds_<i>` numbering; upstream's follows Python's hash order).
pub fn partition_by_data_source<'a>(
    spec: &'a AnalysisSpec,
    metrics: &[&'a MetricSpec],
) -> Vec<(&'a DataSourceSpec, Vec<&'a MetricSpec>)> {
    let mut groups: Vec<(&DataSourceSpec, Vec<&MetricSpec>)> = Vec::new();
    for metric in metrics {
        let (Some(_), Some(ds_name)) = (&metric.select_expression, &metric.data_source) else {
            continue;
        };
        let Some(ds) = spec.data_sources.get(ds_name) else {
            continue; // the config resolver guarantees every metric's source exists
        };
        match groups.iter_mut().find(|(d, _)| d.name == ds.name) {
            Some((_, ms)) => ms.push(metric),
            None => groups.push((ds, vec![metric])),
        }
    }
    groups
}

/// The sanity columns mozanalysis adds for a data source with an experiments column:
/// `<ds>_has_contradictory_branch` and `<ds>_has_non_enrolled_data`.
pub fn sanity_metric_names(ds: &DataSourceSpec) -> Vec<String> {
    match ds.experiments_column_type.as_str() {
        "simple" | "native" | "glean" | "events_stream" => vec![
            format!("{}_has_contradictory_branch", ds.name),
            format!("{}_has_non_enrolled_data", ds.name),
        ],
        _ => Vec::new(),
    }
}

/// The metrics query for `metrics` (those with a select expression) over the enrollments
/// table `enrollments_table` (a BigQuery table reference), for the single window of `tl`, on
/// `basis`.
///
/// Columns: every enrollments column, `analysis_window_start`, `analysis_window_end`, one column
/// per metric and, per data source with an experiments column, its two sanity metrics. Pass one
/// data source's metrics for the discrete mode's per-data-source tables.
pub fn metrics_query(
    spec: &AnalysisSpec,
    metrics: &[&MetricSpec],
    tl: &TimeLimits,
    basis: AnalysisBasis,
    enrollments_table: &str,
    ids: IdOptions,
) -> Result<String, SqlError> {
    let slug = &spec.experiment.slug;
    let unit = analysis_unit(&spec.experiment.analysis_unit)?;
    // `exposures` is `raw_enrollments` (one row per client and window) or, for a custom signal
    // on the exposures basis, the signal's query (one row per exposed client). Deliberate fix:
    // the former joins back on the window columns too; upstream joins on (analysis_id, branch)
    // only, which multiplies rows when several windows are passed.
    let (exposures, join_columns) = match (&spec.exposure_signal, basis) {
        (Some(signal), AnalysisBasis::Exposures) => (
            format!(
                "    SELECT *\n    FROM (\n{}\n    )\n    WHERE num_exposure_events > 0",
                exposure_signal_query(spec, signal, tl, ids)?
            ),
            "analysis_id, branch",
        ),
        _ => (
            "    SELECT * FROM raw_enrollments e".to_string(),
            "analysis_id, branch, analysis_window_start, analysis_window_end",
        ),
    };
    // With a custom signal the metrics stay anchored on enrollment (mozanalysis A.5).
    let anchor = match (&spec.exposure_signal, basis) {
        (None, AnalysisBasis::Exposures) => "exposure_date",
        _ => "enrollment_date",
    };

    let mut outer_columns = vec!["        enrollments.*".to_string()];
    let mut joins = Vec::new();
    for (i, (ds, ms)) in partition_by_data_source(spec, metrics).iter().enumerate() {
        let mut selects = Vec::new();
        for m in ms {
            let expr =
                format_select_expression(m.select_expression.as_deref().unwrap_or(""), slug)?;
            selects.push(format!("            {} AS {}", expr.trim(), m.name));
            outer_columns.push(format!("        ds_{i}.{}", m.name));
        }
        let branch_expr = annotated_branch(ds, slug);
        if let Some(branch_expr) = &branch_expr {
            let [contradictory, non_enrolled] = [
                format!("{}_has_contradictory_branch", ds.name),
                format!("{}_has_non_enrolled_data", ds.name),
            ];
            selects.push(format!(
                "            COALESCE(LOGICAL_OR({branch_expr} != e.branch), FALSE) AS {contradictory}"
            ));
            selects.push(format!(
                "            COALESCE(LOGICAL_OR({branch_expr} IS NULL), FALSE) AS {non_enrolled}"
            ));
            outer_columns.push(format!("        ds_{i}.{contradictory}"));
            outer_columns.push(format!("        ds_{i}.{non_enrolled}"));
        }
        let first_day_filter = match &branch_expr {
            Some(b) => format!(
                "\n            AND (ds.{d} != e.enrollment_date OR {b} IS NOT NULL)",
                d = ds.submission_date_column
            ),
            None => String::new(),
        };
        joins.push(format!(
            "    LEFT JOIN (
        SELECT
            e.analysis_id,
            e.branch,
            e.analysis_window_start,
            e.analysis_window_end,
            e.num_exposure_events,
            e.exposure_date,
{selects}
        FROM enrollments e
        LEFT JOIN {from} ds
            ON ds.{id} = e.analysis_id
            AND ds.{d} BETWEEN {lo} AND {hi}
            AND ds.{d} BETWEEN DATE_ADD(e.{anchor}, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.{anchor}, INTERVAL e.analysis_window_end DAY){first_day_filter}
        GROUP BY
            e.analysis_id,
            e.branch,
            e.num_exposure_events,
            e.exposure_date,
            e.analysis_window_start,
            e.analysis_window_end
    ) ds_{i} USING (analysis_id, branch, analysis_window_start, analysis_window_end)",
            selects = selects.join(",\n"),
            from = ds.from_expression.trim(),
            id = IdColumns::of(ds).choose(unit, ids),
            d = ds.submission_date_column,
            lo = date_str(tl.first_date_data_required),
            hi = date_str(tl.last_date_data_required),
        ));
    }

    Ok(format!(
        "WITH analysis_windows AS (
    (SELECT {ws} AS analysis_window_start, {we} AS analysis_window_end)
),
raw_enrollments AS (
    SELECT e.*, aw.*
    FROM {enrollments_table} e
    CROSS JOIN analysis_windows aw
),
exposures AS (
{exposures}
),
enrollments AS (
    SELECT
        e.* EXCEPT (exposure_date, num_exposure_events),
        x.exposure_date,
        x.num_exposure_events
    FROM exposures x
    RIGHT JOIN raw_enrollments e
    USING ({join_columns})
),
metrics AS (
    SELECT
{columns}
    FROM enrollments
{joins}
)
SELECT * FROM metrics",
        ws = tl.window.start,
        we = tl.window.end,
        columns = outer_columns.join(",\n"),
        joins = joins.join("\n"),
    ))
}

/// The branch a data-source row is annotated with for this experiment, per
/// `experiments_column_type`; None when the source has no experiments column.
fn annotated_branch(ds: &DataSourceSpec, slug: &str) -> Option<String> {
    let slug = bq_string_literal(slug);
    match ds.experiments_column_type.as_str() {
        "simple" => Some(format!("`mozfun.map.get_key`(ds.experiments, {slug})")),
        "native" => Some(format!("`mozfun.map.get_key`(ds.experiments, {slug}).branch")),
        "glean" => Some(format!(
            "`mozfun.map.get_key`(ds.ping_info.experiments, {slug}).branch"
        )),
        "events_stream" => Some(format!(
            "IF(JSON_VALUE(ds.event_extra, '$.experiment') = {slug}, JSON_VALUE(ds.event_extra, '$.branch'), NULL)"
        )),
        _ => None,
    }
}

/// The discrete mode's metrics table of one (window, basis): every enrollee-window row of
/// `base` (the metrics query without data sources) with the columns of each per-data-source
/// table that was written. Upstream publishes a view joining the per-data-source tables; a
/// table under the non-discrete name keeps statistics and the metrics views unchanged, and a
/// data source whose query failed simply contributes no columns.
pub fn combine_data_source_tables(base: &str, parts: &[(String, Vec<String>)]) -> String {
    let mut columns = vec!["    base.*".to_string()];
    let mut joins = Vec::new();
    for (i, (table, names)) in parts.iter().enumerate() {
        columns.extend(names.iter().map(|n| format!("    ds_{i}.{n}")));
        joins.push(format!(
            "LEFT JOIN {table} ds_{i}\nUSING (analysis_id, branch, analysis_window_start, analysis_window_end)"
        ));
    }
    let indented: Vec<String> = base.lines().map(|l| format!("    {l}")).collect();
    format!(
        "SELECT\n{}\nFROM (\n{}\n) base\n{}",
        columns.join(",\n"),
        indented.join("\n"),
        joins.join("\n")
    )
}
