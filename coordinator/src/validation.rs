//! Jetstream's runnability checks (`Analysis.check_runnable` and the enrollment-complete check,
//! reference/jetstream.md §1.4), in upstream's order and with upstream's messages.

use chrono::NaiveDate;
use jetstream_proto::naming::is_plain_identifier;
use jetstream_proto::spec::{AnalysisSpec, ExperimentSpec};
use thiserror::Error;

/// Platforms Jetstream's `platform_config.toml` supports.
pub const SUPPORTED_APPS: &[&str] = &[
    "firefox_desktop",
    "fenix",
    "firefox_ios",
    "focus_android",
    "focus_ios",
    "klar_android",
    "klar_ios",
    "monitor_cirrus",
    "accounts_cirrus",
    "accounts_frontend",
    "experimenter_cirrus",
    "mdn_fred",
    "subscription_platform_backend_cirrus",
];

/// Why an experiment-date is not analysed. Every variant but `UnsupportedApplication` is a
/// `ValidationException` upstream: logged, and not a failure of the run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotRunnable {
    #[error("{0} -> Experiment is configured with skip=true.")]
    ExplicitSkip(String),
    #[error("{0} -> Experiment has no enrollment period.")]
    NoEnrollmentPeriod(String),
    #[error("{0} -> Experiment has no start date.")]
    NoStartDate(String),
    #[error("{0} -> Experiment has already ended.")]
    Ended(String),
    #[error("{0} -> Experiment is a rollout and will not be analyzed.")]
    Rollout(String),
    #[error("{0} -> {1} not found in platform config:experiment will not be analyzed.")]
    UnsupportedApplication(String, String),
    #[error("{0} -> Experiment has not finished enrollment.")]
    EnrollmentNotComplete(String),
}

impl NotRunnable {
    /// Upstream's exception class name, written to the logs table's `exception_type`.
    pub fn exception_type(&self) -> &'static str {
        match self {
            NotRunnable::ExplicitSkip(_) => "ExplicitSkipException",
            NotRunnable::NoEnrollmentPeriod(_) => "NoEnrollmentPeriodException",
            NotRunnable::NoStartDate(_) => "NoStartDateException",
            NotRunnable::Ended(_) => "EndedException",
            NotRunnable::Rollout(_) => "RolloutSkipException",
            NotRunnable::UnsupportedApplication(..) => "UnsupportedApplicationException",
            NotRunnable::EnrollmentNotComplete(_) => "EnrollmentNotCompleteException",
        }
    }

    /// True when upstream counts this as a failed run (not a quiet skip).
    pub fn is_failure(&self) -> bool {
        matches!(self, NotRunnable::UnsupportedApplication(..))
    }
}

/// Runs the checks for analysing `experiment` on `date`.
pub fn check_runnable(experiment: &ExperimentSpec, date: NaiveDate) -> Result<(), NotRunnable> {
    let slug = || experiment.slug.clone();
    if experiment.skip {
        return Err(NotRunnable::ExplicitSkip(slug()));
    }
    if experiment.enrollment_period == 0 {
        return Err(NotRunnable::NoEnrollmentPeriod(slug()));
    }
    if experiment.start_date.is_none() {
        return Err(NotRunnable::NoStartDate(slug()));
    }
    if experiment.end_date.is_some_and(|end| end < date) {
        return Err(NotRunnable::Ended(slug()));
    }
    if experiment.is_rollout {
        return Err(NotRunnable::Rollout(slug()));
    }
    if !SUPPORTED_APPS.contains(&experiment.app_name.as_str()) {
        return Err(NotRunnable::UnsupportedApplication(
            slug(),
            experiment.app_name.clone(),
        ));
    }
    let enrollment_open = experiment.experiment_type == "v6"
        && experiment.enrollment_end_date.is_none()
        && !experiment.overrides.enrollment_period_set
        && experiment.overrides.start_date.is_none();
    if enrollment_open {
        return Err(NotRunnable::EnrollmentNotComplete(slug()));
    }
    Ok(())
}

/// A name in a resolved spec that cannot safely reach SQL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidName {
    #[error("experiment slug '{0}' may only contain letters, digits, '-', '_' and '.'")]
    Slug(String),
    #[error("{slug}: {kind} name '{name}' is not a valid SQL identifier (letters, digits and '_', not starting with a digit)")]
    Identifier {
        slug: String,
        kind: &'static str,
        name: String,
    },
}

/// An enrollments query type the query generator does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{slug}: unknown enrollments_query_type '{kind}' (app {app}); expected one of {known}", known = ENROLLMENTS_QUERY_TYPES.join(", "))]
pub struct UnsupportedEnrollmentsQuery {
    pub slug: String,
    pub kind: String,
    pub app: String,
}

/// mozanalysis' `EnrollmentsQueryType` values, all of which the query generator writes.
pub const ENROLLMENTS_QUERY_TYPES: &[&str] = &[
    "normandy",
    "glean-event",
    "fenix-fallback",
    "cirrus",
    "background-update",
];

/// Checks that the enrollments query can be generated: the config's `enrollments_query_type`,
/// else the platform's (upstream's platform config), else `normandy`, must be a type mozanalysis
/// knows. A custom `enrollment_query` replaces the type's query (its exposures still follow it).
pub fn check_enrollments_query(spec: &AnalysisSpec) -> Result<(), UnsupportedEnrollmentsQuery> {
    let experiment = &spec.experiment;
    let kind = experiment
        .enrollments_query_type
        .clone()
        .or_else(|| {
            crate::config::platform(&experiment.app_name)
                .map(|p| p.enrollments_query_type.to_string())
        })
        .unwrap_or_else(|| "normandy".to_string());
    if ENROLLMENTS_QUERY_TYPES.contains(&kind.as_str()) {
        return Ok(());
    }
    Err(UnsupportedEnrollmentsQuery {
        slug: experiment.slug.clone(),
        kind,
        app: experiment.app_name.clone(),
    })
}

/// Checks the names that generated SQL uses: metric, segment and data-source names become
/// column or alias identifiers and must be plain identifiers; the slug becomes a string literal
/// (quoted) and, normalised, part of table names, and must look like an Experimenter slug.
pub fn check_names(spec: &AnalysisSpec) -> Result<(), InvalidName> {
    let slug = &spec.experiment.slug;
    let slug_ok = slug
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if slug.is_empty() || !slug_ok {
        return Err(InvalidName::Slug(slug.clone()));
    }
    let names = spec
        .metrics
        .keys()
        .map(|n| ("metric", n))
        .chain(spec.segments.iter().map(|s| ("segment", &s.name)))
        .chain(spec.data_sources.keys().map(|n| ("data source", n)));
    for (kind, name) in names {
        if !is_plain_identifier(name) {
            return Err(InvalidName::Identifier {
                slug: slug.clone(),
                kind,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec(slug: &str, metric: &str) -> AnalysisSpec {
        let mut metrics = BTreeMap::new();
        metrics.insert(
            metric.to_string(),
            jetstream_proto::spec::MetricSpec {
                name: metric.to_string(),
                select_expression: Some("1".into()),
                data_source: None,
                friendly_name: None,
                description: None,
                bigger_is_better: true,
                analysis_bases: vec![],
                depends_on: vec![],
            },
        );
        AnalysisSpec {
            experiment: jetstream_proto::testing::experiment(
                slug,
                "2024-01-01",
                "2024-01-08",
                "2024-02-01",
            ),
            metrics,
            periods: vec![],
            data_sources: BTreeMap::new(),
            segments: vec![],
            segment_data_sources: BTreeMap::new(),
            exposure_signal: None,
        }
    }

    #[test]
    fn names_reaching_sql_are_checked() {
        assert!(check_names(&spec("my-exp.v2", "active_hours")).is_ok());
        let mut glean = spec("my-exp", "m");
        glean.experiment.app_name = "fenix".into();
        assert!(check_enrollments_query(&spec("my-exp", "m")).is_ok());
        assert!(check_enrollments_query(&glean).is_ok());
        glean.experiment.enrollments_query_type = Some("glean".into());
        let error = check_enrollments_query(&glean).unwrap_err();
        assert_eq!(error.kind, "glean");
        assert!(error
            .to_string()
            .contains("expected one of normandy, glean-event"));
        assert!(matches!(
            check_names(&spec("x'; DROP TABLE t; --", "m")),
            Err(InvalidName::Slug(_))
        ));
        assert!(matches!(
            check_names(&spec("ok", "bad name")),
            Err(InvalidName::Identifier { kind: "metric", .. })
        ));
    }

    #[test]
    fn enrollment_is_complete_once_ended_or_set_by_the_config() {
        let date = NaiveDate::from_ymd_opt(2024, 1, 20).unwrap();
        let mut experiment = spec("my-exp", "m").experiment;
        experiment.enrollment_end_date = None;
        assert_eq!(
            check_runnable(&experiment, date),
            Err(NotRunnable::EnrollmentNotComplete("my-exp".into()))
        );
        // As upstream: a config that sets enrollment_period, even to Experimenter's value.
        experiment.overrides.enrollment_period_set = true;
        assert_eq!(check_runnable(&experiment, date), Ok(()));
    }
}
