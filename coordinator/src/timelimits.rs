//! Which analysis periods are due on a date, and the dates each one covers.
//!
//! Reproduces Jetstream's `_get_timelimits_if_ready` (reference/jetstream.md §1.5) exactly: the
//! "+1 enrollment day" convention, one new window per due period per run, and the pre-enrollment
//! and overall rules. Every table name downstream depends on these numbers.

use chrono::{Duration, NaiveDate};
use jetstream_proto::spec::{ExperimentSpec, ExperimentStatus, TimeLimits};
use jetstream_proto::{AnalysisPeriod, AnalysisWindow};
use thiserror::Error;

/// A period that cannot be computed for the experiment at all (as opposed to "not due today").
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadinessError {
    #[error("{0} -> Experiment has no start date.")]
    NoStartDate(String),
    #[error("{0} -> Enrollment period is longer than analysis dates.")]
    EnrollmentLongerThanAnalysis(String),
}

/// Number of enrollment dates: the enrollment period plus one, because enrollment starts before
/// UTC midnight (Jetstream's "7n+1" convention).
pub fn dates_enrollment(experiment: &ExperimentSpec) -> i64 {
    experiment.enrollment_period + 1
}

/// The time limits of `period`'s newest window if that period is due on `date` (the last date
/// with complete data), `Ok(None)` if it is not due.
pub fn time_limits_if_ready(
    experiment: &ExperimentSpec,
    period: AnalysisPeriod,
    date: NaiveDate,
) -> Result<Option<TimeLimits>, ReadinessError> {
    let start = experiment
        .start_date
        .ok_or_else(|| ReadinessError::NoStartDate(experiment.slug.clone()))?;
    let n_enroll = dates_enrollment(experiment);
    let first_enrollment = start;
    let last_enrollment = start + Duration::days(n_enroll - 1);

    match period {
        AnalysisPeriod::Day | AnalysisPeriod::Week | AnalysisPeriod::Days28 => {
            let length = match period {
                AnalysisPeriod::Day => 1,
                AnalysisPeriod::Week => 7,
                _ => 28,
            };
            let windows_on = |d: NaiveDate| -> i64 {
                let k = (d - last_enrollment).num_days() + 1;
                if k <= 0 {
                    0
                } else {
                    k / length
                }
            };
            let n = windows_on(date);
            if n <= 0 || n <= windows_on(date - Duration::days(1)) {
                return Ok(None);
            }
            let window = AnalysisWindow {
                start: (n - 1) * length,
                end: n * length - 1,
            };
            Ok(Some(TimeLimits {
                first_enrollment_date: first_enrollment,
                last_enrollment_date: last_enrollment,
                first_date_data_required: first_enrollment + Duration::days(window.start),
                last_date_data_required: last_enrollment + Duration::days(window.end),
                window,
                window_index: n as u32,
            }))
        }
        AnalysisPeriod::PreenrollmentWeek | AnalysisPeriod::PreenrollmentDays28 => {
            if date != start + Duration::days(n_enroll) {
                return Ok(None);
            }
            let length = if period == AnalysisPeriod::PreenrollmentWeek {
                7
            } else {
                28
            };
            let window = AnalysisWindow {
                start: -length,
                end: -1,
            };
            Ok(Some(single_window(
                first_enrollment,
                last_enrollment,
                window,
                date - Duration::days(1),
            )))
        }
        AnalysisPeriod::Overall => {
            let Some(end) = experiment.end_date else {
                return Ok(None);
            };
            if end != date || experiment.status != ExperimentStatus::Complete {
                return Ok(None);
            }
            let length = (end - start).num_days() - n_enroll + 1;
            // Upstream raises only for a negative length; a zero length would build the invalid
            // window (0, -1) and fail later. Both mean "no analysis dates", reported the same way.
            if length <= 0 {
                return Err(ReadinessError::EnrollmentLongerThanAnalysis(
                    experiment.slug.clone(),
                ));
            }
            let window = AnalysisWindow {
                start: 0,
                end: length - 1,
            };
            Ok(Some(single_window(
                first_enrollment,
                last_enrollment,
                window,
                date - Duration::days(1),
            )))
        }
    }
}

/// `TimeLimits.for_single_analysis_window` with a fixed number of enrollment dates. The data
/// bound never exceeds `last_date_full_data` for the periods above, by construction of their
/// due dates.
fn single_window(
    first_enrollment: NaiveDate,
    last_enrollment: NaiveDate,
    window: AnalysisWindow,
    last_date_full_data: NaiveDate,
) -> TimeLimits {
    let last_required = last_enrollment + Duration::days(window.end);
    debug_assert!(last_required <= last_date_full_data);
    TimeLimits {
        first_enrollment_date: first_enrollment,
        last_enrollment_date: last_enrollment,
        first_date_data_required: first_enrollment + Duration::days(window.start),
        last_date_data_required: last_required,
        window,
        window_index: 1,
    }
}

/// The enrollment dates of the experiment, as the limits the enrollments task uses (Jetstream
/// builds the enrollments table from the daily limits; only the enrollment dates matter).
pub fn enrollment_limits(experiment: &ExperimentSpec) -> Result<TimeLimits, ReadinessError> {
    let start = experiment
        .start_date
        .ok_or_else(|| ReadinessError::NoStartDate(experiment.slug.clone()))?;
    let last = start + Duration::days(dates_enrollment(experiment) - 1);
    Ok(TimeLimits {
        first_enrollment_date: start,
        last_enrollment_date: last,
        first_date_data_required: start,
        last_date_data_required: last,
        window: AnalysisWindow { start: 0, end: 0 },
        window_index: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The verified ladder of reference/jetstream.md §1.5: start 2024-01-01, enrollment end
    /// 2024-01-08 (period 8), end 2024-02-15.
    fn ladder_experiment() -> ExperimentSpec {
        jetstream_proto::testing::experiment("ladder", "2024-01-01", "2024-01-08", "2024-02-15")
    }

    fn due_dates(exp: &ExperimentSpec, period: AnalysisPeriod) -> Vec<(NaiveDate, TimeLimits)> {
        let mut out = Vec::new();
        let mut date = d("2023-12-01");
        while date <= d("2024-03-31") {
            if let Some(tl) = time_limits_if_ready(exp, period, date).unwrap() {
                out.push((date, tl));
            }
            date += Duration::days(1);
        }
        out
    }

    #[test]
    fn last_enrollment_date_has_the_extra_day() {
        let exp = ladder_experiment();
        assert_eq!(dates_enrollment(&exp), 9);
        let tl = enrollment_limits(&exp).unwrap();
        assert_eq!(tl.last_enrollment_date, d("2024-01-09"));
    }

    #[test]
    fn daily_is_due_every_day_from_last_enrollment_date() {
        let exp = ladder_experiment();
        let due = due_dates(&exp, AnalysisPeriod::Day);
        assert_eq!(due[0].0, d("2024-01-09"));
        assert_eq!(due[0].1.window, AnalysisWindow { start: 0, end: 0 });
        assert_eq!(due[0].1.window_index, 1);
        assert_eq!(due[1].0, d("2024-01-10"));
        assert_eq!(due[1].1.window, AnalysisWindow { start: 1, end: 1 });
        assert_eq!(due[1].1.window_index, 2);
        assert_eq!(due[1].1.first_date_data_required, d("2024-01-02"));
        assert_eq!(due[1].1.last_date_data_required, d("2024-01-10"));
        // consecutive days, no gaps
        for pair in due.windows(2) {
            assert_eq!(pair[1].0 - pair[0].0, Duration::days(1));
        }
    }

    #[test]
    fn weekly_is_due_every_seventh_day() {
        let exp = ladder_experiment();
        let due = due_dates(&exp, AnalysisPeriod::Week);
        let dates: Vec<_> = due.iter().map(|(d, _)| *d).take(3).collect();
        assert_eq!(
            dates,
            vec![d("2024-01-15"), d("2024-01-22"), d("2024-01-29")]
        );
        assert_eq!(due[1].1.window, AnalysisWindow { start: 7, end: 13 });
        assert_eq!(due[1].1.window_index, 2);
        assert_eq!(due[0].1.last_date_data_required, d("2024-01-15"));
    }

    #[test]
    fn days28_first_due_on_feb_5() {
        let exp = ladder_experiment();
        let due = due_dates(&exp, AnalysisPeriod::Days28);
        assert_eq!(due[0].0, d("2024-02-05"));
        assert_eq!(due[0].1.window, AnalysisWindow { start: 0, end: 27 });
    }

    #[test]
    fn preenrollment_due_the_day_after_last_enrollment() {
        let exp = ladder_experiment();
        let due = due_dates(&exp, AnalysisPeriod::PreenrollmentWeek);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, d("2024-01-10"));
        let tl = due[0].1;
        assert_eq!(tl.window, AnalysisWindow { start: -7, end: -1 });
        assert_eq!(tl.first_date_data_required, d("2023-12-25"));
        assert_eq!(tl.window_index, 1);
        let due28 = due_dates(&exp, AnalysisPeriod::PreenrollmentDays28);
        assert_eq!(
            due28[0].1.window,
            AnalysisWindow {
                start: -28,
                end: -1
            }
        );
    }

    #[test]
    fn overall_due_on_end_date_when_complete() {
        let exp = ladder_experiment();
        let due = due_dates(&exp, AnalysisPeriod::Overall);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, d("2024-02-15"));
        assert_eq!(due[0].1.window, AnalysisWindow { start: 0, end: 36 });
        assert_eq!(due[0].1.last_date_data_required, d("2024-02-14"));

        let mut live = ladder_experiment();
        live.status = ExperimentStatus::Live;
        assert!(due_dates(&live, AnalysisPeriod::Overall).is_empty());

        let mut open = ladder_experiment();
        open.end_date = None;
        assert!(due_dates(&open, AnalysisPeriod::Overall).is_empty());
    }

    #[test]
    fn enrollment_longer_than_analysis_is_an_error() {
        let mut exp = ladder_experiment();
        exp.end_date = Some(d("2024-01-05"));
        let err = time_limits_if_ready(&exp, AnalysisPeriod::Overall, d("2024-01-05")).unwrap_err();
        assert!(matches!(
            err,
            ReadinessError::EnrollmentLongerThanAnalysis(_)
        ));
    }

    #[test]
    fn no_start_date_is_an_error() {
        let mut exp = ladder_experiment();
        exp.start_date = None;
        assert!(time_limits_if_ready(&exp, AnalysisPeriod::Day, d("2024-01-10")).is_err());
    }
}
