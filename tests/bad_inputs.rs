//! Bad user input gives an error naming the file and the place, a non-zero exit, and leaves
//! nothing half-written: no results files, no output tables.

mod common;

use common::*;
use std::path::Path;

/// A warehouse with the demo's synthetic tables, and the demo's inputs, in `dir`.
fn setup(dir: &Path) {
    let out = dir.join("demo");
    demo(&out, 200, 1);
    // Start each case from a warehouse with inputs only: drop the demo's outputs.
    let conn = duckdb::Connection::open(out.join("warehouse.duckdb")).unwrap();
    conn.execute_batch("DROP SCHEMA mozanalysis CASCADE; DELETE FROM monitoring.logs;")
        .unwrap();
}

fn output_tables(warehouse: &Path) -> i64 {
    let conn = duckdb::Connection::open(warehouse).unwrap();
    conn.query_row(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'mozanalysis'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn run_with(dir: &Path, experiments: &Path, config: &Path) -> std::process::Output {
    let demo = dir.join("demo");
    let results = dir.join("results");
    run(&[
        "run",
        "--date",
        "2025-03-16",
        "--experiment_slug",
        "demo-onboarding-callout",
        "--config_file",
        config.to_str().unwrap(),
        "--warehouse",
        demo.join("warehouse.duckdb").to_str().unwrap(),
        "--experiments",
        experiments.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ])
}

#[test]
fn bad_inputs_fail_cleanly_and_good_inputs_run() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let inputs = dir.path().join("demo/inputs");
    let good_experiment = inputs.join("experiment.json");
    let good_config = inputs.join("config.toml");
    let warehouse = dir.path().join("demo/warehouse.duckdb");

    // Malformed experiment JSON: the file and the line are named.
    let bad_json = dir.path().join("broken.json");
    std::fs::write(
        &bad_json,
        "{\n  \"slug\": \"demo-onboarding-callout\",\n  \"branches\": [\n",
    )
    .unwrap();
    let out = run_with(dir.path(), &bad_json, &good_config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("broken.json:4"),
        "file and line named: {stderr}"
    );

    // A wrongly typed field: the JSON path is named.
    let typed = dir.path().join("typed.json");
    let text = std::fs::read_to_string(&good_experiment)
        .unwrap()
        .replace("\"2025-03-03\"", "20250303");
    std::fs::write(&typed, text).unwrap();
    let out = run_with(dir.path(), &typed, &good_config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("typed.json") && stderr.contains("startDate"),
        "{stderr}"
    );

    // Malformed TOML: the file and the line are named.
    let bad_toml = dir.path().join("broken.toml");
    std::fs::write(&bad_toml, "[experiment]\nsegments = [\"a\"\n\n[metrics]\n").unwrap();
    let out = run_with(dir.path(), &good_experiment, &bad_toml);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("broken.toml:"),
        "file and line named: {stderr}"
    );

    // A wrongly typed key: the key is named.
    let typed_toml = dir.path().join("typed.toml");
    let text = std::fs::read_to_string(&good_config).unwrap().replace(
        "segments = [\"default_browser_users\"]",
        "segments = [\"default_browser_users\"]\nenrollment_period = \"seven\"",
    );
    std::fs::write(&typed_toml, text).unwrap();
    let out = run_with(dir.path(), &good_experiment, &typed_toml);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("typed.toml") && stderr.contains("enrollment_period"),
        "{stderr}"
    );

    // None of these left results or output tables behind.
    assert!(files_under(&dir.path().join("results")).is_empty());
    assert_eq!(output_tables(&warehouse), 0);

    // The good inputs run on the same warehouse, with the config found in a metric-hub-style
    // repository (`jetstream/<slug>.toml`): weekly window 1 is due on 2025-03-16.
    let repo = dir.path().join("metric-hub");
    std::fs::create_dir_all(repo.join("jetstream")).unwrap();
    std::fs::copy(
        &good_config,
        repo.join("jetstream/demo-onboarding-callout.toml"),
    )
    .unwrap();
    let results = dir.path().join("results");
    let out = run(&[
        "run",
        "--date",
        "2025-03-16",
        "--config_repos",
        repo.to_str().unwrap(),
        "--warehouse",
        warehouse.to_str().unwrap(),
        "--experiments",
        good_experiment.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("week"), "{stdout}");
    assert!(dir
        .path()
        .join("results/statistics/statistics_demo_onboarding_callout_weekly.json")
        .is_file());
    assert!(output_tables(&warehouse) > 0);
}
