//! Tests of config parsing and resolution.

use super::*;
use jetstream_proto::spec::{
    Branch, DataSourceJoinSpec, DataSourceSpec, ExperimentOverrides, ExperimentSpec,
    ExperimentStatus, ExposureSignalSpec, MetricSpec, PreTreatmentSpec, SegmentDataSourceSpec,
    SegmentSpec, StatisticSpec, SummarySpec, WindowBound,
};
use jetstream_proto::{AnalysisBasis, AnalysisPeriod};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

const FILE: &str = "test-config.toml";
const CORPUS: &str = "/work/shared/corpus/metric-hub/jetstream";

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn experiment() -> ExperimenterExperiment {
    ExperimenterExperiment {
        slug: "test-exp".into(),
        app_name: "firefox_desktop".into(),
        app_id: "firefox-desktop".into(),
        branches: vec![
            Branch {
                slug: "control".into(),
                ratio: 1.0,
            },
            Branch {
                slug: "treatment".into(),
                ratio: 1.0,
            },
        ],
        start_date: Some(date("2024-01-01")),
        end_date: None,
        proposed_enrollment: Some(7),
        enrollment_end_date: None,
        reference_branch: Some("control".into()),
        is_rollout: false,
        is_enrollment_paused: false,
        randomization_unit: Some("normandy_id".into()),
        outcomes: vec![],
        segments: vec![],
    }
}

fn parse(text: &str) -> Result<CustomConfig, ConfigError> {
    parse_config(Path::new(FILE), text)
}

fn resolve_text(text: &str, exp: &ExperimenterExperiment) -> Result<AnalysisSpec, ConfigError> {
    let config = parse(text)?;
    resolve(exp, Some(&config), date("2024-06-01"))
}

fn resolve_err(text: &str) -> ConfigError {
    resolve_text(text, &experiment()).unwrap_err()
}

fn parse_err(text: &str) -> ConfigError {
    parse(text).unwrap_err()
}

/// A minimal valid metrics block to append to experiment-only configs.
const ONE_METRIC: &str = r#"
[metrics]
weekly = ["m"]
[metrics.m]
select_expression = "SUM(x)"
data_source = "ds"
[metrics.m.statistics.bootstrap_mean]
[data_sources.ds]
from_expression = "t"
"#;

const FULL: &str = r#"friendly_name = "Full"
description = "Every supported key"

[experiment]
enrollment_period = 10
start_date = "2024-01-02"
end_date = 2024-03-01
reference_branch = "treatment"
segments = ["new_users", "heavy"]
skip = false
enrollment_query = "SELECT 1"
sample_size = 50
is_private = false
dataset_id = "mozanalysis_private"
analysis_unit = "client_id"

[experiment.exposure_signal]
name = "saw_it"
friendly_name = "Saw it"
description = "Clients who saw it"
data_source = "events"
select_expression = "event = 'shown'"
window_start = 0
window_end = "analysis_window_end"

[metrics]
weekly = ["active_hours", "ctr"]
28_day = ["active_hours"]
overall = ["active_hours", "ctr", "active_hours"]
daily = ["clicks"]
preenrollment_weekly = ["active_hours"]
preenrollment_days28 = ["active_hours"]

[metrics.active_hours]
select_expression = "SUM(active_hours)"
data_source = "clients_daily"
friendly_name = "Active hours"
description = """
    Hours of use.
      Indented line.
"""
bigger_is_better = true
analysis_bases = ["exposures", "enrollments"]
category = "engagement"
type = "scalar"
owner = ["someone@mozilla.com"]
deprecated = false
level = "gold"
analysis_units = ["client_id"]

[metrics.active_hours.statistics.linear_model_mean]
drop_highest = 0.005
covariate_adjustment = { period = "preenrollment_week" }
pre_treatments = ["remove_nulls", { name = "log", base = 10.0 }]

[metrics.active_hours.statistics.bootstrap_mean]
num_samples = 1000

[metrics.clicks]
select_expression = "COUNT(*)"
data_source = "events"
bigger_is_better = false
analysis_bases = ["exposures"]
[metrics.clicks.statistics.bootstrap_mean]

[metrics.impressions]
select_expression = "COUNT(*)"
data_source = "events"
[metrics.impressions.statistics.bootstrap_mean]

[metrics.ctr]
friendly_name = "CTR"
depends_on = ["clicks", "impressions"]
[metrics.ctr.statistics.population_ratio]
numerator = "clicks"
denominator = "impressions"

[metrics.unused]
select_expression = "1"
data_source = "nowhere"

[data_sources.clients_daily]
from_expression = "telemetry.clients_daily"
friendly_name = "Clients daily"
description = "One row per client per day"
default_dataset = "telemetry"
build_id_column = "build_id"
group_id_column = "profile_group_id"
analysis_units = ["client_id", "profile_group_id"]
columns_as_dimensions = false
experiments_column_type = "native"

[data_sources.clients_daily.joins.other]
relationship = "many_to_one"

[data_sources.other]
from_expression = "telemetry.other"

[data_sources.events]
from_expression = "(SELECT * FROM events)"
client_id_column = "legacy_client_id"
submission_date_column = "DATE(submission_timestamp)"
experiments_column_type = "None"

[segments.new_users]
select_expression = "LOGICAL_OR(is_new)"
data_source = "clients_last_seen"
friendly_name = "New users"
description = "New"

[segments.heavy]
select_expression = "SUM(x) > 5"
data_source = "clients_daily_seg"

[segments.unused_segment]
select_expression = "TRUE"
data_source = "missing"

[segments.data_sources.clients_last_seen]
from_expression = "telemetry.clients_last_seen"
window_start = -7
window_end = 0
client_id_column = "cid"
submission_date_column = "sd"
friendly_name = "CLS"
description = "Last seen"

[segments.data_sources.clients_daily_seg]
from_expression = "telemetry.clients_daily"

[parameters.id]
value = "123"
"#;

fn summary(metric: &str, statistic: &str) -> SummarySpec {
    SummarySpec {
        metric: metric.into(),
        statistic: StatisticSpec {
            name: statistic.into(),
            params: serde_json::Map::new(),
        },
        pre_treatments: vec![],
    }
}

fn params(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn full_config_resolves_to_the_expected_spec() {
    let mut exp = experiment();
    exp.end_date = Some(date("2024-02-15"));
    exp.enrollment_end_date = Some(date("2024-01-08"));
    exp.segments = vec!["heavy".into()];
    let spec = resolve_text(FULL, &exp).unwrap();

    let expected_experiment = ExperimentSpec {
        slug: "test-exp".into(),
        app_name: "firefox_desktop".into(),
        app_id: "firefox-desktop".into(),
        experiment_type: "v6".into(),
        status: ExperimentStatus::Complete,
        branches: exp.branches.clone(),
        reference_branch: Some("treatment".into()),
        start_date: Some(date("2024-01-02")),
        end_date: Some(date("2024-03-01")),
        proposed_enrollment: Some(7),
        enrollment_end_date: Some(date("2024-01-08")),
        enrollment_period: 10,
        is_rollout: false,
        randomization_unit: Some("normandy_id".into()),
        outcomes: vec![],
        skip: false,
        enrollment_query: Some("SELECT 1".into()),
        sample_size: 50,
        overrides: ExperimentOverrides {
            reference_branch: Some("treatment".into()),
            start_date: Some(date("2024-01-02")),
            end_date: Some(date("2024-03-01")),
            enrollment_period: Some(10),
            skip: Some(false),
            enrollment_period_set: true,
        },
        // The platform's type, filled in at resolution so remote workers need no platform table.
        enrollments_query_type: Some("normandy".into()),
        analysis_unit: "client_id".into(),
    };
    assert_eq!(spec.experiment, expected_experiment);

    let linear = SummarySpec {
        metric: "active_hours".into(),
        statistic: StatisticSpec {
            name: "linear_model_mean".into(),
            params: params(json!({
                "drop_highest": 0.005,
                "covariate_adjustment": {"period": "preenrollment_week"}
            })),
        },
        pre_treatments: vec![
            PreTreatmentSpec {
                name: "remove_nulls".into(),
                args: serde_json::Map::new(),
            },
            PreTreatmentSpec {
                name: "log".into(),
                args: params(json!({"base": 10.0})),
            },
        ],
    };
    let bootstrap = SummarySpec {
        metric: "active_hours".into(),
        statistic: StatisticSpec {
            name: "bootstrap_mean".into(),
            params: params(json!({"num_samples": 1000})),
        },
        pre_treatments: vec![],
    };
    let ratio = SummarySpec {
        metric: "ctr".into(),
        statistic: StatisticSpec {
            name: "population_ratio".into(),
            params: params(json!({"numerator": "clicks", "denominator": "impressions"})),
        },
        pre_treatments: vec![],
    };
    let both = vec![linear.clone(), bootstrap.clone()];
    assert_eq!(
        spec.periods,
        vec![
            // Periods in Jetstream's order.
            (
                AnalysisPeriod::Day,
                vec![summary("clicks", "bootstrap_mean")]
            ),
            (
                AnalysisPeriod::Week,
                vec![linear.clone(), bootstrap.clone(), ratio.clone()]
            ),
            (AnalysisPeriod::Days28, both.clone()),
            // The repeated `active_hours` counts at its last occurrence, as upstream.
            (AnalysisPeriod::Overall, vec![ratio, linear, bootstrap]),
            (AnalysisPeriod::PreenrollmentWeek, both.clone()),
            (AnalysisPeriod::PreenrollmentDays28, both),
        ]
    );

    let mut metrics = BTreeMap::new();
    metrics.insert(
        "active_hours".to_string(),
        MetricSpec {
            name: "active_hours".into(),
            select_expression: Some("SUM(active_hours)".into()),
            data_source: Some("clients_daily".into()),
            friendly_name: Some("Active hours".into()),
            description: Some("Hours of use.\n  Indented line.\n".into()),
            bigger_is_better: true,
            analysis_bases: vec![AnalysisBasis::Exposures, AnalysisBasis::Enrollments],
            depends_on: vec![],
        },
    );
    metrics.insert(
        "clicks".to_string(),
        MetricSpec {
            name: "clicks".into(),
            select_expression: Some("COUNT(*)".into()),
            data_source: Some("events".into()),
            friendly_name: None,
            description: None,
            bigger_is_better: false,
            analysis_bases: vec![AnalysisBasis::Exposures],
            depends_on: vec![],
        },
    );
    metrics.insert(
        "impressions".to_string(),
        MetricSpec {
            name: "impressions".into(),
            select_expression: Some("COUNT(*)".into()),
            data_source: Some("events".into()),
            friendly_name: None,
            description: None,
            bigger_is_better: true,
            analysis_bases: vec![AnalysisBasis::Enrollments, AnalysisBasis::Exposures],
            depends_on: vec![],
        },
    );
    metrics.insert(
        "ctr".to_string(),
        MetricSpec {
            name: "ctr".into(),
            select_expression: None,
            data_source: None,
            friendly_name: Some("CTR".into()),
            description: None,
            bigger_is_better: true,
            analysis_bases: vec![AnalysisBasis::Enrollments, AnalysisBasis::Exposures],
            depends_on: vec!["clicks".into(), "impressions".into()],
        },
    );
    assert_eq!(spec.metrics, metrics);

    let mut data_sources = BTreeMap::new();
    data_sources.insert(
        "clients_daily".to_string(),
        DataSourceSpec {
            name: "clients_daily".into(),
            from_expression: "telemetry.clients_daily".into(),
            client_id_column: "client_id".into(),
            submission_date_column: "submission_date".into(),
            group_id_column: "profile_group_id".into(),
            glean_client_id_column: None,
            legacy_client_id_column: None,
            analysis_units: vec!["client_id".into(), "profile_group_id".into()],
            joins: vec![DataSourceJoinSpec {
                data_source: "other".into(),
                relationship: Some("many_to_one".into()),
                on_expression: None,
            }],
            experiments_column_type: "native".into(),
            friendly_name: Some("Clients daily".into()),
            description: Some("One row per client per day".into()),
        },
    );
    data_sources.insert(
        "events".to_string(),
        DataSourceSpec {
            name: "events".into(),
            from_expression: "(SELECT * FROM events)".into(),
            client_id_column: "legacy_client_id".into(),
            submission_date_column: "DATE(submission_timestamp)".into(),
            group_id_column: "profile_group_id".into(),
            glean_client_id_column: None,
            legacy_client_id_column: None,
            analysis_units: vec!["client_id".into(), "profile_group_id".into()],
            joins: vec![],
            experiments_column_type: "none".into(),
            friendly_name: None,
            description: None,
        },
    );
    data_sources.insert(
        "other".to_string(),
        DataSourceSpec {
            name: "other".into(),
            from_expression: "telemetry.other".into(),
            client_id_column: "client_id".into(),
            submission_date_column: "submission_date".into(),
            group_id_column: "profile_group_id".into(),
            glean_client_id_column: None,
            legacy_client_id_column: None,
            analysis_units: vec!["client_id".into(), "profile_group_id".into()],
            joins: vec![],
            experiments_column_type: "simple".into(),
            friendly_name: None,
            description: None,
        },
    );
    assert_eq!(spec.data_sources, data_sources);

    assert_eq!(
        spec.segments,
        vec![
            SegmentSpec {
                name: "new_users".into(),
                select_expression: "LOGICAL_OR(is_new)".into(),
                data_source: "clients_last_seen".into(),
            },
            SegmentSpec {
                name: "heavy".into(),
                select_expression: "SUM(x) > 5".into(),
                data_source: "clients_daily_seg".into(),
            },
        ]
    );
    let mut segment_sources = BTreeMap::new();
    segment_sources.insert(
        "clients_last_seen".to_string(),
        SegmentDataSourceSpec {
            name: "clients_last_seen".into(),
            from_expression: "telemetry.clients_last_seen".into(),
            window_start: -7,
            window_end: 0,
            client_id_column: "cid".into(),
            submission_date_column: "sd".into(),
            group_id_column: "profile_group_id".into(),
            glean_client_id_column: None,
            legacy_client_id_column: None,
        },
    );
    segment_sources.insert(
        "clients_daily_seg".to_string(),
        SegmentDataSourceSpec {
            name: "clients_daily_seg".into(),
            from_expression: "telemetry.clients_daily".into(),
            window_start: 0,
            window_end: 0,
            client_id_column: "client_id".into(),
            submission_date_column: "submission_date".into(),
            group_id_column: "profile_group_id".into(),
            glean_client_id_column: None,
            legacy_client_id_column: None,
        },
    );
    assert_eq!(spec.segment_data_sources, segment_sources);

    assert_eq!(
        spec.exposure_signal,
        Some(ExposureSignalSpec {
            name: "saw_it".into(),
            select_expression: "event = 'shown'".into(),
            data_source: "events".into(),
            friendly_name: Some("Saw it".into()),
            description: Some("Clients who saw it".into()),
            window_start: Some(WindowBound::Days(0)),
            window_end: Some(WindowBound::AnalysisWindowEnd),
        })
    );
    assert_eq!(spec.segment_labels(), ["all", "new_users", "heavy"]);
    assert_eq!(
        spec.bases_for(AnalysisPeriod::Day),
        vec![AnalysisBasis::Exposures]
    );
}

#[test]
fn full_config_keeps_the_parsed_values() {
    let config = parse(FULL).unwrap();
    assert_eq!(config.path, PathBuf::from(FILE));
    assert_eq!(config.friendly_name.as_ref().unwrap().value, "Full");
    let x = &config.experiment;
    assert_eq!(x.dataset_id.as_ref().unwrap().value, "mozanalysis_private");
    assert!(!x.is_private.as_ref().unwrap().value);
    assert_eq!(
        x.analysis_unit.as_ref().unwrap().value,
        AnalysisUnit::Client
    );
    // Every value knows its line.
    assert_eq!(x.enrollment_period.as_ref().unwrap().loc.line, Some(5));
    assert_eq!(x.segments[1].loc.line, Some(9));
    assert_eq!(
        config.parameters["id"].value,
        Some(ParameterValue::Text("123".into()))
    );
    let keys: Vec<_> = config
        .metrics
        .periods
        .iter()
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "weekly",
            "28_day",
            "overall",
            "daily",
            "preenrollment_weekly",
            "preenrollment_days28"
        ]
    );
    let m = &config.metrics.definitions["active_hours"];
    assert_eq!(m.category.as_deref(), Some("engagement"));
    assert_eq!(m.metric_type.as_deref(), Some("scalar"));
    assert_eq!(m.owner, ["someone@mozilla.com"]);
    assert_eq!(m.level.as_deref(), Some("gold"));
    assert_eq!(m.analysis_units, Some(vec![AnalysisUnit::Client]));
    let ds = &config.data_sources["clients_daily"];
    assert_eq!(ds.default_dataset.as_deref(), Some("telemetry"));
    assert_eq!(
        ds.joins.as_ref().unwrap()["other"]["relationship"].as_str(),
        Some("many_to_one")
    );
    assert_eq!(
        config.segments.data_sources["clients_last_seen"]
            .friendly_name
            .as_deref(),
        Some("CLS")
    );
}

#[test]
fn statistics_keep_file_order() {
    let text = r#"
[metrics]
overall = ["m"]
[metrics.m]
select_expression = "SUM(x)"
data_source = "ds"
[metrics.m.statistics.sum]
[metrics.m.statistics.binomial]
[metrics.m.statistics.deciles]
[data_sources.ds]
from_expression = "t"
"#;
    let spec = resolve_text(text, &experiment()).unwrap();
    let names: Vec<_> = spec
        .summaries(AnalysisPeriod::Overall)
        .iter()
        .map(|s| s.statistic.name.as_str())
        .collect();
    assert_eq!(names, ["sum", "binomial", "deciles"]);
}

fn enrollment_period(config: &str, exp: &ExperimenterExperiment) -> i64 {
    resolve_text(config, exp)
        .unwrap()
        .experiment
        .enrollment_period
}

#[test]
fn enrollment_period_precedence() {
    // 1. The config's value wins over everything.
    let mut exp = experiment();
    exp.enrollment_end_date = Some(date("2024-01-08"));
    exp.proposed_enrollment = Some(7);
    assert_eq!(
        enrollment_period("[experiment]\nenrollment_period = 14\n", &exp),
        14
    );
    assert_eq!(
        enrollment_period("[experiment]\nenrollment_period = 0\n", &exp),
        0
    );

    // 2. (enrollmentEndDate − startDate).days + 1: the verified example.
    assert_eq!(enrollment_period("", &exp), 8);
    // ... with the start date the config resolves to.
    assert_eq!(
        enrollment_period("[experiment]\nstart_date = \"2024-01-05\"\n", &exp),
        4
    );
    // ... and without a custom config at all.
    let spec = resolve(&exp, None, date("2024-06-01")).unwrap();
    assert_eq!(spec.experiment.enrollment_period, 8);

    // 3. proposedEnrollment when there is no enrollment end date.
    exp.enrollment_end_date = None;
    assert_eq!(enrollment_period("", &exp), 7);

    // 4. Nothing: 0.
    exp.proposed_enrollment = None;
    assert_eq!(enrollment_period("", &exp), 0);
    // An enrollment end without a start date falls through to the next rule.
    exp.enrollment_end_date = Some(date("2024-01-08"));
    exp.start_date = None;
    exp.proposed_enrollment = Some(5);
    assert_eq!(enrollment_period("", &exp), 5);
}

#[test]
fn status_live_and_complete() {
    let mut exp = experiment();
    let status = |exp: &ExperimenterExperiment, text: &str, today: &str| {
        let config = parse(text).unwrap();
        resolve(exp, Some(&config), date(today))
            .unwrap()
            .experiment
            .status
    };
    assert_eq!(status(&exp, "", "2024-06-01"), ExperimentStatus::Live);
    exp.end_date = Some(date("2024-02-15"));
    assert_eq!(status(&exp, "", "2024-02-15"), ExperimentStatus::Live);
    assert_eq!(status(&exp, "", "2024-02-16"), ExperimentStatus::Complete);
    // A config end date makes the experiment Complete, whatever the date.
    let text = "[experiment]\nend_date = \"2024-12-31\"\n";
    assert_eq!(status(&exp, text, "2024-01-10"), ExperimentStatus::Complete);
    exp.end_date = None;
    assert_eq!(status(&exp, text, "2024-01-10"), ExperimentStatus::Complete);
}

#[test]
fn overrides_record_only_differences() {
    let text = r#"[experiment]
reference_branch = "control"
start_date = "2024-01-01"
end_date = "2024-02-01"
enrollment_period = 7
"#;
    let spec = resolve_text(text, &experiment()).unwrap();
    // Only the end date differs from Experimenter (which has none); that the config sets an
    // enrollment period at all is kept apart, for the enrollment-complete check.
    assert_eq!(
        spec.experiment.overrides,
        ExperimentOverrides {
            end_date: Some(date("2024-02-01")),
            enrollment_period_set: true,
            ..ExperimentOverrides::default()
        }
    );
    let spec = resolve_text("[experiment]\nskip = true\n", &experiment()).unwrap();
    assert!(spec.experiment.skip);
    assert_eq!(spec.experiment.overrides.skip, Some(true));
    assert!(!spec.experiment.overrides.any());
    let spec = resolve(&experiment(), None, date("2024-06-01")).unwrap();
    assert_eq!(spec.experiment.overrides, ExperimentOverrides::default());
    assert_eq!(spec.experiment.sample_size, 100);
    assert!(spec.periods.is_empty() && spec.metrics.is_empty());
}

#[test]
fn malformed_toml_names_file_and_line() {
    let error = parse_err("[experiment]\nenrollment_period = 7\n[metrics\nweekly = []\n");
    let text = error.to_string();
    assert!(text.starts_with("test-config.toml:3:"), "{text}");
    assert!(text.contains("invalid TOML"), "{text}");
    assert_eq!(error.line(), Some(3));

    let error = parse_err("[experiment]\nenrollment_period = 7\nenrollment_period = 8\n");
    assert!(
        error.to_string().starts_with("test-config.toml:3:"),
        "{error}"
    );
}

#[test]
fn load_config_reads_files_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("my-exp.toml");
    std::fs::write(&path, "[experiment]\nsample_size = 0\n").unwrap();
    let error = load_config(&path).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!(
            "{}:2:15: `experiment.sample_size`",
            path.display()
        )),
        "{error}"
    );

    std::fs::write(&path, ONE_METRIC).unwrap();
    let config = load_config(&path).unwrap();
    assert_eq!(config.path, path);

    let missing = dir.path().join("missing.toml");
    let error = load_config(&missing).unwrap_err();
    assert!(matches!(error, ConfigError::Io { .. }));
    assert!(error.to_string().contains("missing.toml"), "{error}");
}

#[test]
fn wrong_types_name_the_key_and_line() {
    let error = parse_err("[experiment]\nenrollment_period = \"x\"\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:2:21: `experiment.enrollment_period`: expected a non-negative integer (days) up to 36500, found \"x\""
    );
    assert_eq!(error.key(), Some("experiment.enrollment_period"));
    assert_eq!(error.line(), Some(2));

    let error = parse_err("\n[experiment]\nstart_date = \"2024/01/01\"\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:3:14: `experiment.start_date`: expected a date \"YYYY-MM-DD\", found \"2024/01/01\""
    );

    let error = parse_err("[experiment]\nend_date = 2024-01-01T10:00:00\n");
    assert!(
        error
            .to_string()
            .contains("`experiment.end_date`: expected a date"),
        "{error}"
    );

    let error = parse_err("[experiment]\nskip = \"yes\"\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:2:8: `experiment.skip`: expected a boolean, found \"yes\""
    );

    let error = parse_err("[experiment]\nsegments = [\"a\", 3]\n");
    assert_eq!(error.key(), Some("experiment.segments[1]"));

    let error = parse_err("[experiment]\nsample_size = 101\n");
    assert_eq!(error.key(), Some("experiment.sample_size"));
    // Whole floats are accepted (as metric-hub's parser converts them), others are not.
    let config = parse("[experiment]\nsample_size = 3.0\n").unwrap();
    assert_eq!(config.experiment.sample_size.unwrap().value, 3);
    let error = parse_err("[experiment]\nenrollment_period = 7.5\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:2:21: `experiment.enrollment_period`: expected a non-negative integer (days) up to 36500, found 7.5"
    );

    let error = parse_err("[metrics]\nweekly = \"m\"\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:2:10: `metrics.weekly`: expected a list of metric names, found \"m\""
    );

    let error = parse_err("[metrics.m]\nbigger_is_better = 1\n");
    assert_eq!(error.key(), Some("metrics.m.bigger_is_better"));

    let error = parse_err("[metrics.m]\nanalysis_bases = [\"exposure\"]\n");
    assert!(
        error
            .to_string()
            .contains("expected \"enrollments\" or \"exposures\""),
        "{error}"
    );

    let error = parse_err("[metrics.m.statistics]\nbinomial = 1\n");
    assert_eq!(error.key(), Some("metrics.m.statistics.binomial"));

    let error = parse_err("[data_sources.d]\nexperiments_column_type = \"fancy\"\n");
    assert_eq!(error.key(), Some("data_sources.d.experiments_column_type"));
    assert_eq!(error.line(), Some(2));

    let error =
        parse_err("[segments.data_sources.s]\nfrom_expression = \"t\"\nwindow_start = \"0\"\n");
    assert_eq!(error.key(), Some("segments.data_sources.s.window_start"));
    assert_eq!(error.line(), Some(3));

    let error = parse_err("[experiment]\nanalysis_unit = \"group\"\n");
    assert!(
        error
            .to_string()
            .contains("expected \"client_id\" or \"profile_group_id\""),
        "{error}"
    );
}

#[test]
fn unknown_keys() {
    // Unknown keys inside [experiment] are ignored with a warning, as upstream ignores them.
    let config = parse_config(
        Path::new("test-config.toml"),
        "[experiment]\nenrollment_period = 7\nenrollment_end_date = \"2024-01-08\"\n",
    )
    .expect("unknown [experiment] keys are ignored");
    assert_eq!(
        config
            .experiment
            .enrollment_period
            .as_ref()
            .map(|p| p.value),
        Some(7)
    );

    let error = parse_err("[experimen]\nenrollment_period = 7\n");
    assert_eq!(error.key(), Some("experimen"));
    assert_eq!(error.line(), Some(1));
    assert!(
        error.to_string().contains("unexpected top-level key"),
        "{error}"
    );

    let error = parse_err("[project]\nname = \"x\"\n");
    assert!(error.to_string().contains("OpMon"), "{error}");

    // The aggregation DSL compiles into a select expression, with upstream's checks.
    let error = parse_err("[metrics.m]\naggregation = \"sum\"\n");
    assert_eq!(error.key(), Some("metrics.m.column"));
    assert!(
        error.to_string().contains("'sum' requires a column"),
        "{error}"
    );
    let error = parse_err(
        "[metrics.m]\nselect_expression = \"1\"\naggregation = \"count\"\ncolumn = \"x\"\n",
    );
    assert!(
        error
            .to_string()
            .contains("either select_expression or aggregation"),
        "{error}"
    );
    let config = parse("[metrics.m]\naggregation = \"count_where\"\nwhere = [{column = \"n\", op = \">\", value = 2}]\nthreshold = {op = \">=\", value = 1}\n").unwrap();
    assert_eq!(
        config.metrics.definitions["m"]
            .select_expression
            .as_ref()
            .unwrap()
            .value,
        "COUNTIF(n > 2) >= 1"
    );
    let error = parse_err(
        "[metrics.m]\naggregation = \"any\"\nwhere = [{column = \"n\", operator = \">\"}]\n",
    );
    assert_eq!(error.key(), Some("metrics.m.where[0].operator"));

    // Unknown keys in definitions are ignored (logged), and definition keys are
    // case-insensitive.
    let text = r#"
[metrics]
weekly = ["m"]
[metrics.m]
Select_Expression = "SUM(x)"
data_source = "ds"
exposure_basis = ["exposures"]
[metrics.m.statistics.binomial]
[data_sources.ds]
from_expression = "t"
whatever = 1
[segments.s]
select_expression = "TRUE"
data_source = "sds"
window_start = 3
"#;
    let spec = resolve_text(text, &experiment()).unwrap();
    assert_eq!(
        spec.metrics["m"].select_expression.as_deref(),
        Some("SUM(x)")
    );
    // Top-level period lists and OpMon tables are tolerated.
    parse("weekly = [\"a\"]\n[dimensions.os]\nselect_expression = \"os\"\n").unwrap();
}

#[test]
fn undefined_metric() {
    let error = resolve_err("[metrics]\nweekly = [\n  \"foo\",\n]\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:3:3: `metrics.weekly`: Could not locate metric foo"
    );
    let error = resolve_err("[metrics]\n28_day = [\"foo\"]\n");
    assert_eq!(error.key(), Some("metrics.28_day"));
}

#[test]
fn undefined_data_source() {
    let text = "[metrics]\nweekly = [\"m\"]\n[metrics.m]\nselect_expression = \"SUM(x)\"\ndata_source = \"nope\"\n[metrics.m.statistics.binomial]\n";
    let error = resolve_err(text);
    assert_eq!(
        error.to_string(),
        "test-config.toml:5:15: `metrics.m.data_source`: No default definition for data source 'nope' [firefox_desktop] found"
    );

    let text = "[experiment.exposure_signal]\nname = \"e\"\ndata_source = \"nope\"\nselect_expression = \"TRUE\"\n";
    let error = resolve_err(text);
    assert_eq!(
        error.to_string(),
        "test-config.toml:3:15: `experiment.exposure_signal.data_source`: No default definition for data source 'nope' [firefox_desktop] found"
    );

    // A used data source needs a from_expression.
    let text = "[metrics]\nweekly = [\"m\"]\n[metrics.m]\nselect_expression = \"SUM(x)\"\ndata_source = \"ds\"\n[metrics.m.statistics.binomial]\n[data_sources.ds]\nclient_id_column = \"c\"\n";
    let error = resolve_err(text);
    assert_eq!(
        error.to_string(),
        "test-config.toml:7:1: `data_sources.ds.from_expression`: required key is missing"
    );
}

#[test]
fn undefined_segments() {
    let text = format!("[experiment]\nsegments = [\"nope\"]\n{ONE_METRIC}");
    let error = resolve_err(&text);
    assert_eq!(
        error.to_string(),
        "test-config.toml:2:13: `experiment.segments`: Could not find definition for segment 'nope'"
    );

    // A segment Experimenter lists must be defined too.
    let mut exp = experiment();
    exp.segments = vec!["regular_users_v3".into()];
    let error = resolve_text(ONE_METRIC, &exp).unwrap_err().to_string();
    assert!(
        error.starts_with(
            "test-config.toml: Could not find definition for segment 'regular_users_v3', which \
             Experimenter lists"
        ),
        "{error}"
    );
    let error = resolve(&exp, None, date("2024-06-01"))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("Could not find definition for segment 'regular_users_v3'"),
        "{error}"
    );

    // A segment's data source must be defined.
    let text = "[experiment]\nsegments = [\"s\"]\n[segments.s]\nselect_expression = \"TRUE\"\ndata_source = \"sds\"\n";
    let error = resolve_err(text);
    assert_eq!(
        error.to_string(),
        "test-config.toml:5:15: `segments.s.data_source`: Could not find definition for segment data source 'sds'"
    );

    // Required keys of segments.
    let error = parse_err("[segments.s]\nselect_expression = \"TRUE\"\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:1:1: `segments.s.data_source`: required key is missing"
    );
    let error = parse_err(
        "[segments.data_sources.d]\nwindow_start = 1\nwindow_end = 0\nfrom_expression = \"t\"\n",
    );
    assert!(
        error
            .to_string()
            .contains("window_start (1) must be <= window_end (0)"),
        "{error}"
    );

    // Config segments come first, then Experimenter's, without repeats.
    let text = "[experiment]\nsegments = [\"b\", \"a\"]\n[segments.a]\nselect_expression = \"TRUE\"\ndata_source = \"sds\"\n[segments.b]\nselect_expression = \"FALSE\"\ndata_source = \"sds\"\n[segments.c]\nselect_expression = \"FALSE\"\ndata_source = \"sds\"\n[segments.data_sources.sds]\nfrom_expression = \"t\"\n";
    let mut exp = experiment();
    exp.segments = vec!["c".into(), "a".into()];
    let spec = resolve_text(text, &exp).unwrap();
    assert_eq!(spec.segment_labels(), ["all", "b", "a", "c"]);
    assert_eq!(spec.segment_data_sources.len(), 1);
}

#[test]
fn metric_definition_errors() {
    let error = resolve_err("[metrics]\nweekly = [\"m\"]\n[metrics.m]\nselect_expression = \"SUM(x)\"\ndata_source = \"ds\"\n[data_sources.ds]\nfrom_expression = \"t\"\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:3:1: `metrics.m`: No statistical treatment defined for metric 'm' (add a [metrics.m.statistics.<statistic>] table)"
    );

    // A stub patches a platform definition; without one it is undefined.
    let error = resolve_err("[metrics]\nweekly = [\"m\"]\n[metrics.m]\nfriendly_name = \"M\"\n[metrics.m.statistics.binomial]\n");
    assert!(
        error.to_string().contains(
            "No default definition found for referenced metric m: it has no select_expression"
        ),
        "{error}"
    );

    // A select_expression without a data source is a stub too (upstream ignores it).
    let error = resolve_err("[metrics]\nweekly = [\"m\"]\n[metrics.m]\nselect_expression = \"SUM(x)\"\n[metrics.m.statistics.binomial]\n");
    assert_eq!(error.key(), Some("metrics.m"));
    assert!(
        error
            .to_string()
            .contains("it has a select_expression but no data_source"),
        "{error}"
    );

    let error = resolve_err("[metrics]\nweekly = [\"m\"]\n[metrics.m]\ndepends_on = [\"a\", \"zz\"]\n[metrics.m.statistics.population_ratio]\n[metrics.a]\nselect_expression = \"SUM(x)\"\ndata_source = \"ds\"\n[metrics.a.statistics.sum]\n[data_sources.ds]\nfrom_expression = \"t\"\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:4:20: `metrics.m.depends_on`: No definition found for referenced upstream metric zz"
    );

    // An upstream metric needs statistics too (upstream resolves it fully).
    let error = resolve_err("[metrics]\nweekly = [\"m\"]\n[metrics.m]\ndepends_on = [\"a\"]\n[metrics.m.statistics.population_ratio]\n[metrics.a]\nselect_expression = \"SUM(x)\"\ndata_source = \"ds\"\n[data_sources.ds]\nfrom_expression = \"t\"\n");
    assert!(
        error
            .to_string()
            .contains("No statistical treatment defined for upstream metric 'a'"),
        "{error}"
    );

    let error = resolve_err("[metrics]\nweekly = [\"a\"]\n[metrics.a]\ndepends_on = [\"b\"]\n[metrics.a.statistics.x]\n[metrics.b]\ndepends_on = [\"a\"]\n[metrics.b.statistics.x]\n");
    assert!(error.to_string().contains("cycle: a -> b -> a"), "{error}");

    let error = parse_err("[metrics]\nweekly = [\"a\"]\ndays28 = [\"a\"]\n28_day = [\"b\"]\n");
    assert_eq!(error.key(), Some("metrics.28_day"));
    assert_eq!(error.line(), Some(4));
    assert!(
        error
            .to_string()
            .contains("already listed as `metrics.days28`"),
        "{error}"
    );
}

#[test]
fn days28_alias() {
    let text = ONE_METRIC.replace("weekly", "days28");
    let spec = resolve_text(&text, &experiment()).unwrap();
    assert_eq!(spec.summaries(AnalysisPeriod::Days28).len(), 1);
    assert!(spec.summaries(AnalysisPeriod::Week).is_empty());
}

#[test]
fn pre_treatments_as_strings_and_tables() {
    let text = r#"
[metrics]
overall = ["m"]
[metrics.m]
select_expression = "SUM(x)"
data_source = "ds"
[metrics.m.statistics.bootstrap_mean]
drop_highest = 0.0
pre_treatments = [
  "remove_nulls",
  {name = "normalize_over_analysis_period"},
  {name = "censor_highest_values", fraction = 0.999},
]
[metrics.m.statistics.deciles]
pre_treatments = ["log"]
[data_sources.ds]
from_expression = "t"
"#;
    let spec = resolve_text(text, &experiment()).unwrap();
    let summaries = spec.summaries(AnalysisPeriod::Overall);
    assert_eq!(summaries.len(), 2);
    assert_eq!(
        summaries[0].statistic.params,
        params(json!({"drop_highest": 0.0}))
    );
    assert_eq!(
        summaries[0].pre_treatments,
        vec![
            PreTreatmentSpec {
                name: "remove_nulls".into(),
                args: serde_json::Map::new()
            },
            PreTreatmentSpec {
                name: "normalize_over_analysis_period".into(),
                args: serde_json::Map::new()
            },
            PreTreatmentSpec {
                name: "censor_highest_values".into(),
                args: params(json!({"fraction": 0.999})),
            },
        ]
    );
    assert_eq!(summaries[1].pre_treatments[0].name, "log");
    assert!(summaries[1].statistic.params.is_empty());

    let error = parse_err("[metrics.m.statistics.s]\npre_treatments = [{fraction = 1}]\n");
    assert_eq!(
        error.key(),
        Some("metrics.m.statistics.s.pre_treatments[0].name")
    );
    assert_eq!(error.line(), Some(2));
    let error = parse_err("[metrics.m.statistics.s]\npre_treatments = \"log\"\n");
    assert!(
        error
            .to_string()
            .contains("expected a list of pre-treatments"),
        "{error}"
    );
    let error = parse_err("[metrics.m.statistics.s]\npre_treatments = [3]\n");
    assert_eq!(
        error.key(),
        Some("metrics.m.statistics.s.pre_treatments[0]")
    );
    let error = parse_err("[metrics.m.statistics.s]\nx = nan\n");
    assert!(
        error.to_string().contains("expected a finite number"),
        "{error}"
    );
}

fn signal(window_start: &str, window_end: &str) -> String {
    format!(
        "[experiment]\nenrollment_period = 6\n[experiment.exposure_signal]\nname = \"e\"\ndata_source = \"ds\"\nselect_expression = \"TRUE\"\n{window_start}\n{window_end}\n[data_sources.ds]\nfrom_expression = \"t\"\n"
    )
}

fn bounds(window_start: &str, window_end: &str) -> (Option<WindowBound>, Option<WindowBound>) {
    let spec = resolve_text(&signal(window_start, window_end), &experiment()).unwrap();
    let signal = spec.exposure_signal.unwrap();
    assert!(spec.data_sources.contains_key("ds"));
    (signal.window_start, signal.window_end)
}

#[test]
fn exposure_signal_window_bounds() {
    assert_eq!(bounds("", ""), (None, None));
    assert_eq!(
        bounds("window_start = -3", "window_end = 7"),
        (Some(WindowBound::Days(-3)), Some(WindowBound::Days(7)))
    );
    assert_eq!(
        bounds(
            "window_start = \"analysis_window_start\"",
            "window_end = \"analysis_window_end\""
        ),
        (
            Some(WindowBound::AnalysisWindowStart),
            Some(WindowBound::AnalysisWindowEnd)
        )
    );
    // enrollment_start is day 0; enrollment_end is the last enrollment date's offset, i.e. the
    // enrollment period.
    assert_eq!(
        bounds(
            "window_start = \"enrollment_start\"",
            "window_end = \"enrollment_end\""
        ),
        (Some(WindowBound::Days(0)), Some(WindowBound::Days(6)))
    );

    let error = parse_err(&signal("window_start = \"start\"", ""));
    assert_eq!(error.key(), Some("experiment.exposure_signal.window_start"));
    assert_eq!(error.line(), Some(7));
    let error = parse_err(&signal("", "window_end = 1.5"));
    assert_eq!(error.key(), Some("experiment.exposure_signal.window_end"));

    let error =
        parse_err("[experiment.exposure_signal]\nname = \"e\"\nselect_expression = \"TRUE\"\n");
    assert_eq!(
        error.to_string(),
        "test-config.toml:1:1: `experiment.exposure_signal.data_source`: required key is missing"
    );
}

#[test]
fn config_checks_against_experimenter() {
    let error = resolve_err("[experiment]\nreference_branch = \"treatmnt\"\n");
    assert_eq!(error.key(), Some("experiment.reference_branch"));
    assert!(
        error
            .to_string()
            .contains("not a branch of experiment 'test-exp' (branches: control, treatment)"),
        "{error}"
    );

    let error = resolve_err("[experiment]\nend_date = \"2023-12-01\"\n");
    assert_eq!(error.key(), Some("experiment.end_date"));

    let error = resolve_err("[experiment]\nanalysis_unit = \"profile_group_id\"\n");
    assert_eq!(error.key(), Some("experiment.analysis_unit"));
    let mut exp = experiment();
    exp.randomization_unit = Some("group_id".into());
    resolve_text("[experiment]\nanalysis_unit = \"profile_group_id\"\n", &exp).unwrap();

    // The enrollment query type is carried to the SQL layer.
    let config = parse("[experiment]\nenrollments_query_type = \"glean-event\"\n").unwrap();
    let spec = resolve(&experiment(), Some(&config), date("2024-06-01")).unwrap();
    assert_eq!(
        spec.experiment.enrollments_query_type.as_deref(),
        Some("glean-event")
    );
    let error = parse_err("[experiment]\nenrollments_query_type = \"glean\"\n");
    assert_eq!(error.key(), Some("experiment.enrollments_query_type"));

    let error = resolve_err("[experiment]\nis_private = true\ndataset_id = \"secret\"\n");
    assert_eq!(error.key(), Some("experiment.is_private"));

    // An outcome must exist for the platform (there are none without repositories).
    let error = resolve_err("[experiment]\noutcomes = [\"networking\"]\n");
    assert_eq!(error.key(), Some("experiment.outcomes"));
    assert!(
        error
            .to_string()
            .contains("Outcome networking doesn't support the platform 'firefox_desktop'"),
        "{error}"
    );
}

#[test]
fn data_source_defaults() {
    let text = ONE_METRIC.replace(
        "from_expression = \"t\"",
        "from_expression = \"t\"\nclient_id_column = \"\"\nexperiments_column_type = \"NONE\"",
    );
    let spec = resolve_text(&text, &experiment()).unwrap();
    let ds = &spec.data_sources["ds"];
    assert_eq!(ds.client_id_column, "client_id");
    assert_eq!(ds.submission_date_column, "submission_date");
    assert_eq!(ds.experiments_column_type, "none");
    let spec = resolve_text(ONE_METRIC, &experiment()).unwrap();
    assert_eq!(spec.data_sources["ds"].experiments_column_type, "simple");
}

#[test]
fn dedent_matches_python() {
    use super::resolve::dedent;
    assert_eq!(dedent("  a\n    b\n"), "a\n  b\n");
    assert_eq!(dedent("a\n  b"), "a\n  b");
    assert_eq!(dedent("   \n  x\n \t\n  y"), "\nx\n\ny");
    assert_eq!(dedent("\tx\n  y"), "\tx\n  y");
}

fn corpus_experiment() -> ExperimenterExperiment {
    let mut exp = experiment();
    exp.start_date = Some(date("2025-06-03"));
    exp
}

#[test]
fn self_contained_corpus_configs_resolve() {
    let path = Path::new(CORPUS).join("1-callout-contextual-chatbot-suggestion.toml");
    let config = load_config(&path).unwrap();
    let spec = resolve(&corpus_experiment(), Some(&config), date("2025-08-01")).unwrap();
    assert_eq!(spec.experiment.enrollment_period, 14);
    assert_eq!(spec.experiment.end_date, Some(date("2025-07-01")));
    assert_eq!(spec.experiment.status, ExperimentStatus::Complete);
    let signal = spec.exposure_signal.as_ref().unwrap();
    assert_eq!(signal.name, "contextual_reach");
    assert_eq!(signal.window_start, Some(WindowBound::Days(0)));
    assert_eq!(signal.window_end, Some(WindowBound::AnalysisWindowEnd));
    let weekly: Vec<_> = spec
        .summaries(AnalysisPeriod::Week)
        .iter()
        .map(|s| (s.metric.as_str(), s.statistic.name.as_str()))
        .collect();
    assert_eq!(
        weekly,
        [
            ("chatbot_onboarding_start", "binomial"),
            ("chatbot_onboarding_complete", "binomial"),
            ("chatbot_usage", "binomial"),
            ("chatbot_frequency", "bootstrap_mean"),
        ]
    );
    assert_eq!(
        spec.metrics["chatbot_usage"].analysis_bases,
        [AnalysisBasis::Exposures]
    );
    assert_eq!(spec.data_sources["chatbot"].experiments_column_type, "none");
    assert_eq!(spec.data_sources.len(), 2);

    // This one uses metric-hub's `agg_any`: a repository holding only functions.toml.
    let functions = tempfile::tempdir().unwrap();
    std::fs::create_dir(functions.path().join("definitions")).unwrap();
    std::fs::copy(
        Path::new(CORPUS).join("../definitions/functions.toml"),
        functions.path().join("definitions/functions.toml"),
    )
    .unwrap();
    let collection = ConfigCollection::load(&[functions.path().to_path_buf()]).unwrap();
    let path = Path::new(CORPUS).join("navigational-suggestions.toml");
    let config = load_config(&path).unwrap();
    let spec = collection
        .resolve(&corpus_experiment(), Some(&config), date("2025-08-01"))
        .unwrap();
    let ctr = &spec.metrics["nav_ctr"];
    assert_eq!(ctr.depends_on, ["nav_clicks", "nav_impressions"]);
    assert_eq!(ctr.select_expression, None);
    assert_eq!(ctr.data_source, None);
    let weekly = spec.summaries(AnalysisPeriod::Week);
    // 9 metrics; three have two statistics.
    assert_eq!(weekly.len(), 12);
    assert_eq!(
        (weekly[0].metric.as_str(), weekly[0].statistic.name.as_str()),
        ("nav_impressions", "bootstrap_mean")
    );
    assert_eq!(
        (
            weekly[11].metric.as_str(),
            weekly[11].statistic.name.as_str()
        ),
        ("search_engine_clicks", "bootstrap_mean")
    );
    assert_eq!(
        weekly[10].statistic.params,
        params(json!({"numerator": "search_engine_clicks", "denominator": "search_sessions"}))
    );
    assert_eq!(spec.metrics.len(), 9);
    assert_eq!(
        spec.segment_labels(),
        ["all", "not_dual_enrolled_in_rich_entities"]
    );
    let source = &spec.segment_data_sources["nimbus_events"];
    assert_eq!((source.window_start, source.window_end), (0, 90));
    assert_eq!(
        spec.data_sources["urlbar_events"].experiments_column_type,
        "native"
    );
}

/// Not a test of behaviour: reports how the real configs fare (most need platform
/// definitions). Run with `cargo test -- --ignored corpus_survey --nocapture`.
#[test]
#[ignore]
fn corpus_survey() {
    let mut parsed = 0;
    let mut resolved = 0;
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut paths: Vec<_> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        .collect();
    paths.sort();
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match load_config(path) {
            Err(e) => {
                let message = e.to_string();
                let category = message.split(": ").skip(1).collect::<Vec<_>>().join(": ");
                let category = category.split('\'').next().unwrap_or("").to_string();
                failures
                    .entry(format!("parse: {category}"))
                    .or_default()
                    .push(message);
            }
            Ok(config) => {
                parsed += 1;
                let mut exp = corpus_experiment();
                exp.start_date = Some(date("2019-01-01"));
                if let Some(branch) = &config.experiment.reference_branch {
                    exp.branches[0].slug = branch.value.clone();
                }
                match resolve(&exp, Some(&config), date("2025-08-01")) {
                    Ok(_) => resolved += 1,
                    Err(e) => {
                        let message = e.to_string();
                        let category = message
                            .split(": ")
                            .last()
                            .unwrap_or("")
                            .split('\'')
                            .next()
                            .unwrap_or("")
                            .to_string();
                        failures
                            .entry(format!("resolve: {category}"))
                            .or_default()
                            .push(name.clone());
                    }
                }
            }
        }
    }
    println!(
        "{} configs, {parsed} parse, {resolved} resolve",
        paths.len()
    );
    for (category, files) in &failures {
        println!("{:4}  {category}   e.g. {}", files.len(), files[0]);
    }
}
