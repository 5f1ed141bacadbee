//! Fixtures shared by the tests of every crate. Not used by the roles themselves.

use crate::spec::{Branch, ExperimentOverrides, ExperimentSpec, ExperimentStatus};
use chrono::NaiveDate;

/// A complete two-branch (`control`, `treatment`) firefox_desktop experiment with the given
/// dates; `enrollment_period` as Jetstream resolves it from the enrollment end date.
pub fn experiment(slug: &str, start: &str, enrollment_end: &str, end: &str) -> ExperimentSpec {
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("fixture dates are valid");
    let (start, enrollment_end) = (date(start), date(enrollment_end));
    ExperimentSpec {
        slug: slug.to_string(),
        app_name: "firefox_desktop".into(),
        app_id: "firefox-desktop".into(),
        experiment_type: "v6".into(),
        status: ExperimentStatus::Complete,
        branches: ["control", "treatment"]
            .into_iter()
            .map(|slug| Branch {
                slug: slug.into(),
                ratio: 1.0,
            })
            .collect(),
        reference_branch: Some("control".into()),
        start_date: Some(start),
        end_date: Some(date(end)),
        proposed_enrollment: Some(7),
        enrollment_end_date: Some(enrollment_end),
        enrollment_period: (enrollment_end - start).num_days() + 1,
        is_rollout: false,
        randomization_unit: None,
        outcomes: vec![],
        skip: false,
        enrollment_query: None,
        sample_size: 100,
        overrides: ExperimentOverrides::default(),
        enrollments_query_type: None,
        analysis_unit: "client_id".to_string(),
    }
}
