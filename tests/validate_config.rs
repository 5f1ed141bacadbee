//! `jetstream validate-config`: exit codes, human and JSON output, offline and online modes,
//! against the fixture metric-hub repository of the coordinator's tests.

mod common;

use common::{root, run};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(path: &str) -> PathBuf {
    root().join("coordinator/tests/data").join(path)
}

fn records(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn offline_json_checks_every_file_of_a_repository() {
    let repo = fixture("metric-hub");
    let output = run(&[
        "validate-config",
        "--offline",
        "--json",
        repo.join("jetstream").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let records = records(&output.stdout);
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    // defaults, definitions, the experiment config, three outcomes.
    assert_eq!(records.len(), 6, "{records:?}");
    for kind in ["defaults", "definitions", "experiment", "outcome"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let experiment = records.iter().find(|r| r["kind"] == "experiment").unwrap();
    assert_eq!(experiment["slug"], "example-experiment");
    assert_eq!(experiment["ok"], true);
    assert_eq!(experiment["app_name"], "firefox_desktop");
    assert_eq!(
        experiment["segments"],
        serde_json::json!(["regular_users_v3"])
    );
    assert_eq!(
        experiment["periods"]["week"],
        serde_json::json!([
            ["active_hours", "bootstrap_mean"],
            ["search_count", "deciles"]
        ])
    );
    assert_eq!(
        experiment["statistic_params"]["overall"],
        serde_json::json!([["uri_count", "bootstrap_mean", {"drop_highest": 0.0}]])
    );
    assert_eq!(experiment["exposure_signal"], Value::Null);
}

#[test]
fn a_broken_config_fails_with_its_location_and_exit_code_1() {
    let broken = fixture("malformed/undefined-metric.toml");
    let output = run(&[
        "validate-config",
        "--offline",
        "--config-repos",
        fixture("metric-hub").to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "{}: ERROR: {}:3:11: `metrics.weekly`: Could not locate metric active_hour (did you mean 'active_hours'?)",
            broken.display(),
            broken.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("1 file(s) checked, 1 failed"), "{stdout}");

    let output = run(&[
        "validate-config",
        "--offline",
        "--json",
        "--config-repos",
        fixture("metric-hub").to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    let records = records(&output.stdout);
    assert_eq!(records[0]["ok"], false);
    assert_eq!(records[0]["slug"], "undefined-metric");
    assert!(records[0]["error"]
        .as_str()
        .unwrap()
        .contains("did you mean"));
}

#[test]
fn online_mode_resolves_against_the_experiment_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("example-experiment.toml");
    std::fs::copy(
        fixture("metric-hub/jetstream/example-experiment.toml"),
        &config,
    )
    .unwrap();
    let experiments = dir.path().join("experiments.json");
    std::fs::write(
        &experiments,
        r#"[{"slug": "example-experiment", "appName": "firefox_desktop", "appId": "firefox-desktop",
            "startDate": "2025-01-01", "endDate": "2025-02-01", "proposedEnrollment": 7,
            "referenceBranch": "control",
            "branches": [{"slug": "control", "ratio": 1}, {"slug": "treatment", "ratio": 1}]}]"#,
    )
    .unwrap();
    let repos = fixture("metric-hub");
    let output = run(&[
        "validate-config",
        "--config-repos",
        repos.to_str().unwrap(),
        "--experiments",
        experiments.to_str().unwrap(),
        config.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("example-experiment.toml OK"), "{stdout}");

    // An experiment config without an experiment is reported.
    let other = dir.path().join("unknown-experiment.toml");
    std::fs::write(&other, "[experiment]\n").unwrap();
    let output = run(&[
        "validate-config",
        "--config-repos",
        repos.to_str().unwrap(),
        "--experiments",
        experiments.to_str().unwrap(),
        other.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout)
        .contains("no experiment with slug 'unknown-experiment'"));

    // Without --experiments or --offline, the command says what it needs.
    let output = run(&["validate-config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--offline"));
}
