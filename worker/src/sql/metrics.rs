//! The per-client metrics query of one (window, analysis basis).

use super::date_lit;
use super::enrollments::exposure_signal_query;
use super::format::{format_select_expression, FormatError};
use jetstream_proto::naming::sql_string_literal;
use jetstream_proto::spec::{AnalysisSpec, DataSourceSpec, MetricSpec, TimeLimits};
use jetstream_proto::AnalysisBasis;

/// The metrics query for `metrics` (those with a select expression) over the enrollments
/// table, for the single window of `tl`, on `basis`.
///
/// Columns: every enrollments column, `analysis_window_start`, `analysis_window_end`, one column
/// per metric and, per data source with an experiments column, its two sanity metrics.
pub fn metrics_query(
    spec: &AnalysisSpec,
    metrics: &[&MetricSpec],
    tl: &TimeLimits,
    basis: AnalysisBasis,
    enrollments_table: &str,
) -> Result<String, FormatError> {
    let slug = &spec.experiment.slug;
    let exposures = match (&spec.exposure_signal, basis) {
        (Some(signal), AnalysisBasis::Exposures) => format!(
            "SELECT x.*, aw.* FROM (\n{}\n) x CROSS JOIN analysis_windows aw WHERE x.num_exposure_events > 0",
            exposure_signal_query(spec, signal, tl)
        ),
        _ => "SELECT * FROM raw_enrollments".to_string(),
    };
    // With a custom signal the metrics stay anchored on enrollment (mozanalysis A.5).
    let anchor = match (&spec.exposure_signal, basis) {
        (None, AnalysisBasis::Exposures) => "exposure_date",
        _ => "enrollment_date",
    };

    // Data sources in first-use order (deterministic `ds_<i>` numbering).
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

    let mut outer_columns = vec!["enrollments.*".to_string()];
    let mut joins = Vec::new();
    for (i, (ds, ms)) in groups.iter().enumerate() {
        let mut selects = Vec::new();
        for m in ms {
            let expr =
                format_select_expression(m.select_expression.as_deref().unwrap_or(""), slug)?;
            selects.push(format!("        {expr} AS {}", m.name));
            outer_columns.push(format!("ds_{i}.{}", m.name));
        }
        let branch_expr = annotated_branch(ds, slug);
        if let Some(branch_expr) = &branch_expr {
            selects.push(format!(
                "        COALESCE(bool_or({branch_expr} != e.branch), FALSE) AS {}_has_contradictory_branch",
                ds.name
            ));
            selects.push(format!(
                "        COALESCE(bool_or({branch_expr} IS NULL), FALSE) AS {}_has_non_enrolled_data",
                ds.name
            ));
            outer_columns.push(format!("ds_{i}.{}_has_contradictory_branch", ds.name));
            outer_columns.push(format!("ds_{i}.{}_has_non_enrolled_data", ds.name));
        }
        let first_day_filter = match &branch_expr {
            Some(b) => format!(
                "\n        AND (ds.{d} != e.enrollment_date OR {b} IS NOT NULL)",
                d = ds.submission_date_column
            ),
            None => String::new(),
        };
        joins.push(format!(
            "LEFT JOIN (
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
        AND ds.{d} BETWEEN e.{anchor} + e.analysis_window_start AND e.{anchor} + e.analysis_window_end{first_day_filter}
    GROUP BY e.analysis_id, e.branch, e.num_exposure_events, e.exposure_date,
        e.analysis_window_start, e.analysis_window_end
) ds_{i} USING (analysis_id, branch, analysis_window_start, analysis_window_end)",
            selects = selects.join(",\n"),
            from = ds.from_expression.trim(),
            id = ds.client_id_column,
            d = ds.submission_date_column,
            lo = date_lit(tl.first_date_data_required),
            hi = date_lit(tl.last_date_data_required),
        ));
    }

    Ok(format!(
        "WITH analysis_windows AS (
    SELECT {ws} AS analysis_window_start, {we} AS analysis_window_end
),
raw_enrollments AS (
    SELECT e.*, aw.* FROM {enrollments_table} e CROSS JOIN analysis_windows aw
),
exposures AS (
    {exposures}
),
enrollments AS (
    SELECT e.* EXCLUDE (exposure_date, num_exposure_events), x.exposure_date, x.num_exposure_events
    FROM exposures x
    RIGHT JOIN raw_enrollments e USING (analysis_id, branch, analysis_window_start, analysis_window_end)
),
metrics AS (
    SELECT {columns}
    FROM enrollments
    {joins}
)
SELECT * FROM metrics",
        ws = tl.window.start,
        we = tl.window.end,
        columns = outer_columns.join(", "),
        joins = joins.join("\n    "),
    ))
}

/// The branch a data-source row is annotated with for this experiment, per
/// `experiments_column_type`; None when the source has no experiments column.
fn annotated_branch(ds: &DataSourceSpec, slug: &str) -> Option<String> {
    let slug = sql_string_literal(slug);
    match ds.experiments_column_type.as_str() {
        "simple" => Some(format!("map_get_key(ds.experiments, {slug})")),
        "native" => Some(format!("map_get_key(ds.experiments, {slug}).branch")),
        "glean" => Some(format!("map_get_key(ds.ping_info.experiments, {slug}).branch")),
        "events_stream" => Some(format!(
            "(CASE WHEN json_extract_string(ds.event_extra, '$.experiment') = {slug} THEN json_extract_string(ds.event_extra, '$.branch') END)"
        )),
        _ => None,
    }
}
