//! The queries that feed statistics: per-client metric values and the counted population.

use jetstream_proto::AnalysisBasis;

/// Rows come in client order: warehouses return unordered rows, and both the bootstrap (whose
/// resamples index rows) and the floating-point sums of the linear models depend on the order,
/// so ordering is what makes the same seed give the same numbers in every run and fleet shape.
const CLIENT_ORDER: &str = "ORDER BY m.analysis_id";

/// The basis and segment filter of Jetstream's subset queries (reference/jetstream.md §1.8).
fn population_filter(basis: AnalysisBasis, segment: &str) -> String {
    let mut filter = "m.enrollment_date IS NOT NULL".to_string();
    if basis == AnalysisBasis::Exposures {
        filter.push_str(" AND m.exposure_date IS NOT NULL");
    }
    if segment != "all" {
        filter.push_str(&format!(" AND m.{segment} = TRUE"));
    }
    filter
}

/// `branch` and the given metric columns of a metrics table, restricted to the basis and
/// segment. Jetstream runs one such query per metric with `WHERE <metric> IS NOT NULL`; we read
/// all of a task's metrics at once and drop each metric's NULLs in memory, which gives every
/// statistic exactly the rows upstream's query would.
pub fn subset_query(
    metrics_table: &str,
    columns: &[&str],
    basis: AnalysisBasis,
    segment: &str,
) -> String {
    let mut select = vec!["m.branch".to_string()];
    select.extend(columns.iter().map(|c| format!("m.{c}")));
    format!(
        "SELECT {} FROM {metrics_table} m WHERE {} {CLIENT_ORDER}",
        select.join(", "),
        population_filter(basis, segment)
    )
}

/// Jetstream's covariate subset (§3.3): `branch`, the metric and the pre-enrollment covariate
/// `pre.<covariate_metric> AS <column>`, LEFT JOINed on (analysis_id, branch), for the rows of
/// the population with a non-NULL metric. Names are validated metric names.
pub fn covariate_query(
    metrics_table: &str,
    preenrollment_table: &str,
    metric: &str,
    covariate_metric: &str,
    column: &str,
    basis: AnalysisBasis,
    segment: &str,
) -> String {
    format!(
        "SELECT m.branch, m.{metric}, pre.{covariate_metric} AS {column} \
         FROM {metrics_table} m LEFT JOIN {preenrollment_table} pre USING (analysis_id, branch) \
         WHERE m.{metric} IS NOT NULL AND {} {CLIENT_ORDER}",
        population_filter(basis, segment)
    )
}

/// The branches of every client counted for (basis, segment), from the enrollments table
/// (Jetstream 2026.8.2's population subset; counts do not depend on any metric's NULLs).
pub fn population_query(enrollments_table: &str, basis: AnalysisBasis, segment: &str) -> String {
    format!(
        "SELECT m.branch FROM {enrollments_table} m WHERE {}",
        population_filter(basis, segment)
    )
}
