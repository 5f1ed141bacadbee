//! The BigQuery warehouse against the bqemulator: tables written with upstream's labels,
//! statistics written and read back through the window view, logs, dry runs, deletion, and
//! errors that never show credentials.

mod common;

use common::emulators;
use jetstream_cloud::bigquery::{BigQueryConfig, BigQueryWarehouse};
use jetstream_cloud::GoogleCredentials;
use jetstream_proto::statistic::Comparison;
use jetstream_proto::warehouse::{Column, Warehouse, WarehouseError, WriteMode};
use jetstream_proto::{AnalysisBasis, AnalysisError, StatisticRow};

fn warehouse(emulator: &emulators::Emulator, dataset: &str) -> BigQueryWarehouse {
    let mut config = BigQueryConfig::new(emulators::PROJECT, dataset);
    config.endpoint = Some(emulator.url.clone());
    config.credentials = GoogleCredentials::Anonymous;
    config.logs_table = format!("{}.monitoring_{dataset}.logs", emulators::PROJECT);
    BigQueryWarehouse::open(config).expect("open the emulator's warehouse")
}

fn stat(metric: &str, branch: &str, point: f64, parameter: Option<f64>) -> StatisticRow {
    StatisticRow {
        metric: metric.into(),
        statistic: if parameter.is_some() {
            "deciles"
        } else {
            "mean"
        }
        .into(),
        parameter,
        branch: branch.into(),
        comparison: (branch == "treatment").then_some(Comparison::Difference),
        comparison_to_branch: (branch == "treatment").then(|| "control".to_string()),
        ci_width: Some(0.95),
        point: Some(point),
        lower: Some(point - 1.0),
        upper: Some(point + 1.0),
        segment: "all".into(),
        analysis_basis: Some(AnalysisBasis::Enrollments),
        window_index: None,
    }
}

#[test]
fn tables_are_written_labelled_counted_and_refused_when_they_exist() {
    let Some(bq) = emulators::bigquery() else {
        return;
    };
    let w = warehouse(&bq, "tables");
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let n = w
        .create_table_as(
            "enrollments_x",
            "SELECT 'c1' AS analysis_id, 'control' AS branch UNION ALL SELECT 'c2', 'treatment'",
            WriteMode::Empty,
        )
        .unwrap();
    assert_eq!(n, 2);
    let updated = w
        .table_last_updated("enrollments_x")
        .unwrap()
        .expect("last_updated label");
    assert!(updated >= before && updated <= chrono::Utc::now() + chrono::Duration::seconds(1));
    assert!(matches!(
        w.create_table_as("enrollments_x", "SELECT 1 AS a", WriteMode::Empty),
        Err(WarehouseError::AlreadyExists(_))
    ));
    assert_eq!(
        w.create_table_as(
            "m_week_1",
            "SELECT 1 AS a UNION ALL SELECT 2",
            WriteMode::Truncate
        )
        .unwrap(),
        2
    );
    assert_eq!(
        w.create_table_as("m_week_1", "SELECT 3 AS a", WriteMode::Truncate)
            .unwrap(),
        1
    );
    assert!(w.table_exists("m_week_1").unwrap());
    assert!(!w.table_exists("m_week_2").unwrap());
    assert_eq!(
        w.list_tables("m_week_").unwrap(),
        vec!["m_week_1".to_string()]
    );
    assert!(matches!(
        w.create_table_as("bad`name", "SELECT 1", WriteMode::Truncate),
        Err(WarehouseError::InvalidName(_))
    ));
    assert!(w.drop_table("m_week_1").unwrap());
    assert!(!w.drop_table("m_week_1").unwrap());
    assert!(w
        .dry_run_bytes("SELECT * FROM tables.enrollments_x")
        .is_ok());
}

#[test]
fn query_results_keep_their_types_and_errors_carry_the_sql() {
    let Some(bq) = emulators::bigquery() else {
        return;
    };
    let w = warehouse(&bq, "queries");
    let frame = w
        .query(
            "SELECT 1 AS n, 2.5 AS x, TRUE AS b, DATE '2024-01-02' AS d, 'it''s' AS s \
             UNION ALL SELECT NULL, NULL, FALSE, NULL, NULL",
        )
        .unwrap();
    assert_eq!(frame.num_rows(), 2);
    assert_eq!(
        frame.column("n"),
        Some(&Column::Integer(vec![Some(1.0), None]))
    );
    assert_eq!(
        frame.column("x"),
        Some(&Column::Float(vec![Some(2.5), None]))
    );
    assert_eq!(
        frame.column("b"),
        Some(&Column::Float(vec![Some(1.0), Some(0.0)]))
    );
    assert_eq!(
        frame.column("d"),
        Some(&Column::Text(vec![Some("2024-01-02".into()), None]))
    );
    match w.query("SELECT * FROM queries.missing_table") {
        Err(WarehouseError::Query { message, sql }) => {
            assert!(message.to_lowercase().contains("not found"), "{message}");
            assert!(sql.contains("missing_table"));
        }
        other => panic!("expected a query error, got {other:?}"),
    }
}

#[test]
fn statistics_round_trip_through_the_window_view_with_labels() {
    let Some(bq) = emulators::bigquery() else {
        return;
    };
    let mut config = BigQueryConfig::new(emulators::PROJECT, "stats");
    config.endpoint = Some(bq.url.clone());
    config.credentials = GoogleCredentials::Anonymous;
    // Small statements, so that the second table is built in parts through a staging table.
    config.max_statement_bytes = 20_000;
    let w = BigQueryWarehouse::open(config).unwrap();
    let week1 = vec![
        stat("active_hours", "control", 1.5, None),
        stat("active_hours", "treatment", 0.1 + 0.2, None),
        stat("it's", "control", -3.0, Some(0.1)),
    ];
    // Enough rows that the table is built through a staging table (over 20 kB of SQL).
    let week2: Vec<StatisticRow> = (0..300)
        .map(|i| stat(&format!("metric_{i:04}"), "control", i as f64 / 7.0, None))
        .collect();
    w.write_statistics("statistics_x_week_1", &week1).unwrap();
    w.write_statistics("statistics_x_week_2", &week2).unwrap();
    assert!(!w.table_exists("statistics_x_week_2__staging").unwrap());
    w.publish_window_view("statistics_x_weekly", "statistics_x_week_")
        .unwrap();
    let rows = w.read_statistics_view("statistics_x_weekly").unwrap();
    assert_eq!(rows.len(), week1.len() + week2.len());
    let first: Vec<&StatisticRow> = rows
        .iter()
        .filter(|r| r.window_index.as_deref() == Some("1"))
        .collect();
    assert_eq!(first.len(), 3);
    let treatment = first.iter().find(|r| r.branch == "treatment").unwrap();
    assert_eq!(treatment.point, Some(0.1 + 0.2), "doubles survive exactly");
    assert_eq!(treatment.comparison, Some(Comparison::Difference));
    let quoted = first.iter().find(|r| r.metric == "it's").unwrap();
    assert_eq!(quoted.parameter, Some(0.1));
    let second = rows
        .iter()
        .find(|r| r.window_index.as_deref() == Some("2") && r.metric == "metric_0007")
        .unwrap();
    assert_eq!(second.point, Some(1.0));
    assert!(w
        .table_last_updated("statistics_x_week_2")
        .unwrap()
        .is_some());
    // A replaced statistics table holds only its new rows.
    w.write_statistics("statistics_x_week_2", &week1[..1])
        .unwrap();
    assert_eq!(
        w.read_statistics_view("statistics_x_weekly").unwrap().len(),
        4
    );
    // No windows, no view (and no error).
    w.publish_window_view("statistics_x_daily", "statistics_x_day_")
        .unwrap();
    assert!(!w.table_exists("statistics_x_daily").unwrap());
    assert!(
        w.drop_table("statistics_x_weekly").unwrap(),
        "views are dropped too"
    );
}

#[test]
fn logs_are_appended_and_read_back_per_experiment() {
    let Some(bq) = emulators::bigquery() else {
        return;
    };
    let w = warehouse(&bq, "logs");
    let error = |experiment: &str, message: &str| AnalysisError {
        timestamp: chrono::DateTime::parse_from_rfc3339("2024-03-01T10:11:12.123456Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
        log_level: "ERROR".into(),
        experiment: Some(experiment.into()),
        metric: Some("active_hours".into()),
        statistic: Some("bootstrap_mean".into()),
        segment: Some("all".into()),
        analysis_basis: Some(AnalysisBasis::Exposures),
        analysis_period: Some("week".into()),
        message: message.into(),
        exception: Some("Traceback: it's \"bad\"".into()),
        exception_type: Some("StatisticComputationException".into()),
        filename: "statistics.py".into(),
        func_name: "apply".into(),
    };
    w.append_logs(&[error("exp-a", "first"), error("exp-b", "other")])
        .unwrap();
    w.append_logs(&[error("exp-a", "second")]).unwrap();
    let logs = w.read_logs("exp-a").unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0], error("exp-a", "first"));
    assert_eq!(logs[1].message, "second");
    assert!(w.read_logs("exp-c").unwrap().is_empty());
}

#[test]
fn credential_failures_never_show_the_key() {
    let Some(bq) = emulators::bigquery() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let secret = "PLANTED-SECRET-0f1e2d3c";
    let key = emulators::planted_key_file(dir.path(), secret, &format!("{}/token", bq.url));
    let mut config = BigQueryConfig::new(emulators::PROJECT, "creds");
    config.endpoint = Some(bq.url.clone());
    config.credentials = GoogleCredentials::KeyFile(key);
    let error = match BigQueryWarehouse::open(config) {
        Ok(w) => w.query("SELECT 1").unwrap_err().to_string(),
        Err(e) => format!("{e:#}"),
    };
    assert!(!error.contains(secret), "{error}");
    assert!(!error.contains("BEGIN PRIVATE KEY"), "{error}");
}
