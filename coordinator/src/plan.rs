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

/// Whether `table` is one of experiment `slug`'s window tables of one of `periods`: its
/// statistics (`statistics_<slug>_<period>_<n>`) or per-client metrics
/// (`<slug>_<basis>[_<data source>]_<period>_<n>`). What `rerun` deletes before analysing
/// again (upstream's `delete_experiment_tables`, without the enrollments table).
///
/// Decision: the period must end the name before the window number, so choosing `week` does
/// not also delete `preenrollment_week` tables nor `day` the `days28` ones (upstream's
/// unanchored pattern does), and another experiment whose slug extends this one never matches:
/// after `<slug>_` comes `statistics`' period or a basis, not more of a slug.
pub fn is_window_table_of(table: &str, slug: &str, periods: &[AnalysisPeriod]) -> bool {
    let slug = normalize_name(slug);
    let Some((stem, number)) = table.rsplit_once('_') else {
        return false;
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    // The period a name ends with: the longest match, so `..._preenrollment_week` is the
    // pre-enrollment week and not a data source `preenrollment` in the period `week`.
    let period_of = |rest: &str| {
        AnalysisPeriod::ALL
            .iter()
            .copied()
            .filter(|p| rest == p.value() || rest.ends_with(&format!("_{}", p.value())))
            .max_by_key(|p| p.value().len())
    };
    if let Some(rest) = stem
        .strip_prefix("statistics_")
        .and_then(|s| s.strip_prefix(slug.as_str()))
        .and_then(|s| s.strip_prefix('_'))
    {
        if periods.iter().any(|p| p.value() == rest) {
            return true;
        }
    }
    let Some(rest) = stem
        .strip_prefix(slug.as_str())
        .and_then(|s| s.strip_prefix('_'))
    else {
        return false;
    };
    AnalysisBasis::ALL
        .iter()
        .filter_map(|b| rest.strip_prefix(b.value())?.strip_prefix('_'))
        .any(|after_basis| period_of(after_basis).is_some_and(|p| periods.contains(&p)))
}

#[cfg(test)]
mod window_table_tests {
    use super::*;
    use AnalysisPeriod::*;

    #[test]
    fn rerun_deletes_exactly_the_experiments_window_tables_of_the_chosen_periods() {
        let all = AnalysisPeriod::ALL;
        for table in [
            "statistics_my_exp_week_1",
            "statistics_my_exp_preenrollment_days28_1",
            "my_exp_enrollments_day_12",
            "my_exp_exposures_overall_1",
            "my_exp_enrollments_clients_daily_week_3",
        ] {
            assert!(is_window_table_of(table, "my-exp", &all), "{table}");
        }
        for table in [
            "enrollments_my_exp",
            "statistics_my_exp_weekly",
            "my_exp_enrollments_weekly",
            "statistics_my_exp_other_week_1",
            "my_exp_other_enrollments_week_1",
            "statistics_my_exp_week_x",
        ] {
            assert!(!is_window_table_of(table, "my-exp", &all), "{table}");
        }
        assert!(is_window_table_of(
            "statistics_my_exp_week_1",
            "my-exp",
            &[Week]
        ));
        assert!(!is_window_table_of(
            "statistics_my_exp_preenrollment_week_1",
            "my-exp",
            &[Week]
        ));
        assert!(!is_window_table_of(
            "my_exp_enrollments_days28_1",
            "my-exp",
            &[Day]
        ));
        assert!(!is_window_table_of(
            "my_exp_enrollments_preenrollment_week_1",
            "my-exp",
            &[Week]
        ));
    }
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
