//! The generated queries, run on DuckDB over a hand-made warehouse whose answers are known.

use chrono::NaiveDate;
use jetstream_proto::spec::*;
use jetstream_proto::warehouse::{Column, Warehouse, WriteMode};
use jetstream_proto::{AnalysisBasis, AnalysisWindow};
use jetstream_worker::sql::{self, Catalog, IdOptions};
use jetstream_worker::DuckDbWarehouse;
use std::collections::BTreeMap;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn spec(exposure_signal: Option<ExposureSignalSpec>) -> AnalysisSpec {
    let metric = MetricSpec {
        name: "active_hours".into(),
        select_expression: Some("COALESCE(SUM(active_hours_sum), 0)".into()),
        data_source: Some("clients_daily".into()),
        friendly_name: None,
        description: None,
        bigger_is_better: true,
        analysis_bases: vec![AnalysisBasis::Enrollments, AnalysisBasis::Exposures],
        depends_on: vec![],
    };
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
            analysis_units: vec!["client_id".into()],
            joins: vec![],
            experiments_column_type: "simple".into(),
            friendly_name: None,
            description: None,
        },
    );
    data_sources.insert(
        "events".to_string(),
        DataSourceSpec {
            name: "events".into(),
            from_expression: "telemetry.events".into(),
            client_id_column: "client_id".into(),
            submission_date_column: "submission_date".into(),
            group_id_column: "profile_group_id".into(),
            glean_client_id_column: None,
            legacy_client_id_column: None,
            analysis_units: vec!["client_id".into()],
            joins: vec![],
            experiments_column_type: "none".into(),
            friendly_name: None,
            description: None,
        },
    );
    let mut segment_data_sources = BTreeMap::new();
    segment_data_sources.insert(
        "cd".to_string(),
        SegmentDataSourceSpec {
            name: "cd".into(),
            from_expression: "telemetry.clients_daily".into(),
            window_start: -7,
            window_end: 0,
            client_id_column: "client_id".into(),
            submission_date_column: "submission_date".into(),
            group_id_column: "profile_group_id".into(),
            glean_client_id_column: None,
            legacy_client_id_column: None,
        },
    );
    AnalysisSpec {
        experiment: jetstream_proto::testing::experiment(
            "my-exp",
            "2024-03-01",
            "2024-03-01",
            "2024-03-30",
        ),
        metrics: BTreeMap::from([("active_hours".to_string(), metric)]),
        periods: vec![],
        data_sources,
        segments: vec![SegmentSpec {
            name: "heavy".into(),
            select_expression: "COALESCE(LOGICAL_OR(active_hours_sum > 4), FALSE)".into(),
            data_source: "cd".into(),
        }],
        segment_data_sources,
        exposure_signal,
    }
}

fn warehouse() -> DuckDbWarehouse {
    let w = DuckDbWarehouse::in_memory("mozanalysis").unwrap();
    let conn = w.connection().unwrap();
    conn.execute_batch(
        "CREATE SCHEMA telemetry;
         CREATE TABLE telemetry.events AS SELECT * FROM (VALUES
           (DATE '2024-03-01', 'c1', 1, 'normandy', 'enroll', 'my-exp', [{'key': 'branch', 'value': 'control'}]),
           (DATE '2024-03-02', 'c2', 1, 'normandy', 'enroll', 'my-exp', [{'key': 'branch', 'value': 'treatment'}]),
           (DATE '2024-03-01', 'c3', 1, 'normandy', 'enroll', 'my-exp', [{'key': 'branch', 'value': 'treatment'}]),
           (DATE '2024-03-02', 'c3', 1, 'normandy', 'enroll', 'my-exp', [{'key': 'branch', 'value': 'treatment'}]),
           (DATE '2024-03-02', 'c4', 1, 'normandy', 'enroll', 'other-exp', [{'key': 'branch', 'value': 'control'}]),
           (DATE '2024-03-02', 'c1', 1, 'normandy', 'expose', 'my-exp', [{'key': 'branchSlug', 'value': 'control'}]),
           (DATE '2024-03-02', 'c2', 1, 'feature', 'shown', NULL, []::STRUCT(key VARCHAR, value VARCHAR)[])
         ) t(submission_date, client_id, sample_id, event_category, event_method, event_string_value, event_map_values);
         CREATE TABLE telemetry.clients_daily AS SELECT * FROM (VALUES
           (DATE '2024-02-28', 'c1', 5.0, []::STRUCT(key VARCHAR, value VARCHAR)[]),
           (DATE '2024-03-01', 'c1', 1.0, [{'key': 'my-exp', 'value': 'control'}]),
           (DATE '2024-03-03', 'c1', 2.0, [{'key': 'my-exp', 'value': 'control'}]),
           (DATE '2024-03-02', 'c2', 10.0, []::STRUCT(key VARCHAR, value VARCHAR)[]),
           (DATE '2024-03-04', 'c2', 3.0, [{'key': 'my-exp', 'value': 'treatment'}]),
           (DATE '2024-03-01', 'c3', 4.0, [{'key': 'my-exp', 'value': 'control'}]),
           (DATE '2024-03-20', 'c3', 7.0, [{'key': 'my-exp', 'value': 'treatment'}])
         ) t(submission_date, client_id, active_hours_sum, experiments);",
    )
    .unwrap();
    w
}

fn enrollment_limits() -> TimeLimits {
    TimeLimits {
        first_enrollment_date: d("2024-03-01"),
        last_enrollment_date: d("2024-03-02"),
        first_date_data_required: d("2024-03-01"),
        last_date_data_required: d("2024-03-02"),
        window: AnalysisWindow { start: 0, end: 0 },
        window_index: 1,
    }
}

fn week1() -> TimeLimits {
    TimeLimits {
        first_enrollment_date: d("2024-03-01"),
        last_enrollment_date: d("2024-03-02"),
        first_date_data_required: d("2024-03-01"),
        last_date_data_required: d("2024-03-08"),
        window: AnalysisWindow { start: 0, end: 6 },
        window_index: 1,
    }
}

/// `SELECT analysis_id, <col>` (BigQuery SQL, as every warehouse query) as a sorted map.
fn by_client(w: &DuckDbWarehouse, table: &str, column: &str) -> BTreeMap<String, Option<String>> {
    let frame = w
        .query(&format!(
            "SELECT analysis_id, CAST({column} AS STRING) AS v FROM mozanalysis.{table} ORDER BY 1"
        ))
        .unwrap();
    let (Some(Column::Text(ids)), Some(Column::Text(values))) =
        (frame.column("analysis_id"), frame.column("v"))
    else {
        panic!("unexpected column types");
    };
    ids.iter()
        .cloned()
        .map(Option::unwrap)
        .zip(values.iter().cloned())
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn enrollments_exposures_segments_and_window_metrics_are_exact() {
    let w = warehouse();
    let spec = spec(None);
    let q = sql::enrollments_query(
        &spec,
        &enrollment_limits(),
        &Catalog::default(),
        IdOptions::default(),
    )
    .unwrap();
    assert_eq!(
        w.create_table_as("enrollments_my_exp", &q, WriteMode::Empty)
            .unwrap(),
        3
    );
    assert!(matches!(
        w.create_table_as("enrollments_my_exp", &q, WriteMode::Empty),
        Err(jetstream_proto::warehouse::WarehouseError::AlreadyExists(_))
    ));
    assert_eq!(
        by_client(&w, "enrollments_my_exp", "num_enrollment_events"),
        BTreeMap::from([
            ("c1".into(), s("1")),
            ("c2".into(), s("1")),
            ("c3".into(), s("2"))
        ])
    );
    assert_eq!(
        by_client(&w, "enrollments_my_exp", "enrollment_date"),
        BTreeMap::from([
            ("c1".into(), s("2024-03-01")),
            ("c2".into(), s("2024-03-02")),
            ("c3".into(), s("2024-03-01"))
        ])
    );
    assert_eq!(
        by_client(&w, "enrollments_my_exp", "exposure_date"),
        BTreeMap::from([
            ("c1".into(), s("2024-03-02")),
            ("c2".into(), None),
            ("c3".into(), None)
        ])
    );
    // Segment over [-7, 0] days around enrollment: c1 had 5h on 02-28, c2 10h on its enrollment day.
    assert_eq!(
        by_client(&w, "enrollments_my_exp", "heavy"),
        BTreeMap::from([
            ("c1".into(), s("true")),
            ("c2".into(), s("true")),
            ("c3".into(), s("false"))
        ])
    );

    let enrollments = w.table_ref("enrollments_my_exp").unwrap();
    let metric = &spec.metrics["active_hours"];
    let q = sql::metrics_query(
        &spec,
        &[metric],
        &week1(),
        AnalysisBasis::Enrollments,
        &enrollments,
        IdOptions::default(),
    )
    .unwrap();
    w.create_table_as("my_exp_enrollments_week_1", &q, WriteMode::Truncate)
        .unwrap();
    // c1: 1 + 2 (the pre-enrollment 5h is outside the window); c2: 3 (its unannotated enrollment-day
    // row is dropped by the first-day filter); c3: 4 (day 19 is outside the window).
    assert_eq!(
        by_client(&w, "my_exp_enrollments_week_1", "active_hours"),
        BTreeMap::from([
            ("c1".into(), s("3.0")),
            ("c2".into(), s("3.0")),
            ("c3".into(), s("4.0"))
        ])
    );
    assert_eq!(
        by_client(
            &w,
            "my_exp_enrollments_week_1",
            "clients_daily_has_contradictory_branch"
        ),
        BTreeMap::from([
            ("c1".into(), s("false")),
            ("c2".into(), s("false")),
            ("c3".into(), s("true"))
        ])
    );

    // Exposures basis without a signal: anchored on the exposure date (c1: 03-02..03-08 → 2h).
    let q = sql::metrics_query(
        &spec,
        &[metric],
        &week1(),
        AnalysisBasis::Exposures,
        &enrollments,
        IdOptions::default(),
    )
    .unwrap();
    w.create_table_as("my_exp_exposures_week_1", &q, WriteMode::Truncate)
        .unwrap();
    assert_eq!(
        by_client(&w, "my_exp_exposures_week_1", "active_hours")["c1"],
        s("2.0")
    );
    let subset = sql::subset_query(
        &w.table_ref("my_exp_exposures_week_1").unwrap(),
        &["active_hours"],
        AnalysisBasis::Exposures,
        "all",
    );
    assert_eq!(w.query(&subset).unwrap().num_rows(), 1);
    let subset = sql::subset_query(
        &w.table_ref("my_exp_enrollments_week_1").unwrap(),
        &["active_hours"],
        AnalysisBasis::Enrollments,
        "heavy",
    );
    assert_eq!(w.query(&subset).unwrap().num_rows(), 2);
    let population = sql::population_query(&enrollments, AnalysisBasis::Enrollments, "all");
    assert_eq!(w.query(&population).unwrap().num_rows(), 3);
}

#[test]
fn custom_exposure_signal_defines_the_exposed_population() {
    let w = warehouse();
    let spec = spec(Some(ExposureSignalSpec {
        name: "shown".into(),
        select_expression: "event_category = 'feature' AND event_method = 'shown'".into(),
        data_source: "events".into(),
        friendly_name: None,
        description: None,
        window_start: None,
        window_end: Some(WindowBound::AnalysisWindowEnd),
    }));
    let q = sql::enrollments_query(
        &spec,
        &enrollment_limits(),
        &Catalog::default(),
        IdOptions::default(),
    )
    .unwrap();
    w.create_table_as("enrollments_my_exp", &q, WriteMode::Empty)
        .unwrap();
    assert_eq!(
        by_client(&w, "enrollments_my_exp", "exposure_date"),
        BTreeMap::from([
            ("c1".into(), None),
            ("c2".into(), s("2024-03-02")),
            ("c3".into(), None)
        ])
    );
    let enrollments = w.table_ref("enrollments_my_exp").unwrap();
    let metric = &spec.metrics["active_hours"];
    let q = sql::metrics_query(
        &spec,
        &[metric],
        &week1(),
        AnalysisBasis::Exposures,
        &enrollments,
        IdOptions::default(),
    )
    .unwrap();
    w.create_table_as("my_exp_exposures_week_1", &q, WriteMode::Truncate)
        .unwrap();
    // With a signal the metric stays anchored on enrollment; only c2 is exposed.
    let exposed = by_client(&w, "my_exp_exposures_week_1", "exposure_date");
    assert_eq!(exposed["c2"], s("2024-03-02"));
    assert_eq!(exposed["c1"], None);
    assert_eq!(
        by_client(&w, "my_exp_exposures_week_1", "active_hours")["c2"],
        s("3.0")
    );
}
