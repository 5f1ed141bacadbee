//! What a run computes on a date, and the names of everything it writes.

use crate::timelimits::{time_limits_if_ready, ReadinessError};
use chrono::NaiveDate;
use jetstream_proto::naming::normalize_name;
use jetstream_proto::spec::{AnalysisSpec, TimeLimits};
use jetstream_proto::{AnalysisBasis, AnalysisPeriod};

/// A period due on the run date, with its newest window and the bases its metrics use.
#[derive(Debug, Clone, PartialEq)]
pub struct DuePeriod {
    pub period: AnalysisPeriod,
    pub time_limits: TimeLimits,
    pub bases: Vec<AnalysisBasis>,
}

/// The configured periods (restricted to `selected`) that are due on `date`, in config order.
pub fn due_periods(
    spec: &AnalysisSpec,
    date: NaiveDate,
    selected: &[AnalysisPeriod],
) -> Result<Vec<DuePeriod>, ReadinessError> {
    let mut due = Vec::new();
    for (period, summaries) in &spec.periods {
        if summaries.is_empty() || !selected.contains(period) {
            continue;
        }
        if let Some(time_limits) = time_limits_if_ready(&spec.experiment, *period, date)? {
            due.push(DuePeriod {
                period: *period,
                time_limits,
                bases: spec.bases_for(*period),
            });
        }
    }
    Ok(due)
}

/// `enrollments_<slug>`.
pub fn enrollments_table(slug: &str) -> String {
    format!("enrollments_{}", normalize_name(slug))
}

/// `<slug>_<basis>_<period>_<n>`, the per-client metrics of one window.
pub fn metrics_table(
    slug: &str,
    basis: AnalysisBasis,
    period: AnalysisPeriod,
    window_index: u32,
) -> String {
    format!(
        "{}_{}_{}_{}",
        normalize_name(slug),
        basis.value(),
        period.value(),
        window_index
    )
}

/// `<slug>_<basis>_<suffix>`, the view over every window's metrics table.
pub fn metrics_view(slug: &str, basis: AnalysisBasis, period: AnalysisPeriod) -> (String, String) {
    let base = format!("{}_{}_", normalize_name(slug), basis.value());
    (
        format!("{base}{}", period.table_suffix()),
        format!("{base}{}_", period.value()),
    )
}

/// `statistics_<slug>_<period>_<n>`.
pub fn statistics_table(slug: &str, period: AnalysisPeriod, window_index: u32) -> String {
    format!(
        "statistics_{}_{}_{}",
        normalize_name(slug),
        period.value(),
        window_index
    )
}

/// The statistics view `statistics_<slug>_<suffix>` and the prefix of the tables it unions.
pub fn statistics_view(slug: &str, period: AnalysisPeriod) -> (String, String) {
    let base = format!("statistics_{}_", normalize_name(slug));
    (
        format!("{base}{}", period.table_suffix()),
        format!("{base}{}_", period.value()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_jetstream() {
        assert_eq!(enrollments_table("my-exp"), "enrollments_my_exp");
        assert_eq!(
            metrics_table(
                "test-experiment",
                AnalysisBasis::Exposures,
                AnalysisPeriod::Week,
                1
            ),
            "test_experiment_exposures_week_1"
        );
        assert_eq!(
            statistics_table("test-experiment", AnalysisPeriod::Week, 1),
            "statistics_test_experiment_week_1"
        );
        assert_eq!(
            statistics_view("a-b", AnalysisPeriod::PreenrollmentWeek),
            (
                "statistics_a_b_preenrollment_weekly".to_string(),
                "statistics_a_b_preenrollment_week_".to_string()
            )
        );
    }
}
