//! A statistic that fails is recorded as Jetstream records it (logs table and errors export),
//! while every other statistic of the run still completes.

mod common;

use common::*;
use serde_json::Value;

/// `jetstream run` of the demo experiment on 2025-03-16 (day 7 and week 1 due) with `config`.
fn run_with_config(
    demo_dir: &std::path::Path,
    config: &std::path::Path,
    results: &std::path::Path,
) -> std::process::Output {
    run(&[
        "run",
        "--date",
        "2025-03-16",
        "--experiment-slug",
        "demo-onboarding-callout",
        "--config-file",
        config.to_str().unwrap(),
        "--warehouse",
        demo_dir.join("warehouse.duckdb").to_str().unwrap(),
        "--experiments",
        demo_dir.join("inputs/experiment.json").to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ])
}

#[test]
fn failing_statistic_is_logged_and_exported_while_the_rest_completes() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    demo(&demo_dir, 300, 1);

    // `binomial` needs 0/1 values; active hours are continuous, so it fails for every segment,
    // basis and reference branch.
    let config = dir.path().join("config.toml");
    let text = std::fs::read_to_string(demo_dir.join("inputs/config.toml")).unwrap()
        + "\n[metrics.active_hours.statistics.binomial]\n";
    std::fs::write(&config, text).unwrap();
    let results = dir.path().join("results");
    let out = run_with_config(&demo_dir, &config, &results);
    assert!(
        out.status.success(),
        "a failing statistic does not fail the run: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let errors = read_json(&results.join("errors/errors_demo_onboarding_callout.json"));
    assert!(schema_errors("jetstream_AnalysisErrors.schema.json", &errors).is_empty());
    let errors = errors.as_array().unwrap();
    let binomial: Vec<&Value> = errors
        .iter()
        .filter(|e| e["metric"] == "active_hours" && e["statistic"] == "binomial")
        .collect();
    // 2 periods due that day (day 7, week 1) x 2 bases x 2 segments x 2 reference branches.
    assert_eq!(binomial.len(), 16, "{errors:#?}");
    assert!(binomial
        .iter()
        .all(|e| e["exception_type"] == "StatisticComputationException"
            && e["log_level"] == "ERROR"
            && e["experiment"] == "demo-onboarding-callout"
            && e["message"].as_str().unwrap().contains("must be 0 or 1")));

    // The other statistics of the same metric and window are there.
    let weekly =
        read_json(&results.join("statistics/statistics_demo_onboarding_callout_weekly.json"));
    let rows = weekly.as_array().unwrap();
    assert!(rows
        .iter()
        .any(|r| r["metric"] == "active_hours" && r["statistic"] == "mean"));
    assert!(!rows
        .iter()
        .any(|r| r["statistic"] == "binomial" && r["metric"] == "active_hours"));

    // And the logs table holds the same records.
    let conn = duckdb::Connection::open(demo_dir.join("warehouse.duckdb")).unwrap();
    let logged: i64 = conn
        .query_row(
            "SELECT count(*) FROM monitoring.logs WHERE metric = 'active_hours' AND statistic = 'binomial'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged, 16);
}

#[test]
fn a_metric_whose_sql_fails_is_logged_and_its_data_source_neighbours_complete() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    demo(&demo_dir, 300, 1);

    // `broken` reads a column clients_daily does not have; it shares the data source (and so
    // the first metrics query) with every other weekly metric.
    let config = dir.path().join("config.toml");
    let text = std::fs::read_to_string(demo_dir.join("inputs/config.toml"))
        .unwrap()
        .replace(
            "weekly = [\"active_hours\",",
            "weekly = [\"broken\", \"active_hours\",",
        )
        + "\n[metrics.broken]\nselect_expression = \"SUM(no_such_column)\"\n\
           data_source = \"clients_daily\"\n[metrics.broken.statistics.bootstrap_mean]\n";
    assert!(text.contains("\"broken\", \"active_hours\""));
    std::fs::write(&config, text).unwrap();
    let results = dir.path().join("results");
    let out = run_with_config(&demo_dir, &config, &results);
    assert!(
        out.status.success(),
        "a failing metric does not fail the run: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let errors = read_json(&results.join("errors/errors_demo_onboarding_callout.json"));
    assert!(schema_errors("jetstream_AnalysisErrors.schema.json", &errors).is_empty());
    let broken: Vec<&Value> = errors
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["metric"] == "broken")
        .collect();
    // One record per metrics query that computes it: week 1, both bases.
    assert_eq!(broken.len(), 2, "{errors:#?}");
    assert!(broken.iter().all(|e| e["exception_type"] == "QueryError"
        && e["log_level"] == "ERROR"
        && e["message"].as_str().unwrap().contains("no_such_column")));
    assert!(
        !errors
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["metric"] == "active_hours" && e["log_level"] == "ERROR"),
        "the other metrics of the data source are not blamed: {:#?}",
        errors
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["metric"] == "active_hours" && e["log_level"] == "ERROR")
            .collect::<Vec<_>>()
    );

    let weekly =
        read_json(&results.join("statistics/statistics_demo_onboarding_callout_weekly.json"));
    let rows = weekly.as_array().unwrap();
    for metric in ["active_hours", "search_count", "uri_count"] {
        assert!(
            rows.iter()
                .any(|r| r["metric"] == metric && r["statistic"] == "mean"),
            "{metric} has statistics"
        );
    }
    assert!(!rows.iter().any(|r| r["metric"] == "broken"));

    let conn = duckdb::Connection::open(demo_dir.join("warehouse.duckdb")).unwrap();
    let logged: i64 = conn
        .query_row(
            "SELECT count(*) FROM monitoring.logs WHERE metric = 'broken'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged, 2);
}
