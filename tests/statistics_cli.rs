//! `jetstream statistics`: the side-by-side harness computes a metric-hub TOML's statistics over
//! a per-client file, always adds `count`, writes rows in Experimenter's shape, and turns a
//! statistic it cannot compute into an error without losing the others.

mod common;

use common::{read_json, run, schema_errors};
use serde_json::Value;

#[test]
fn computes_the_configured_statistics_over_a_client_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clients.csv");
    let mut csv = String::from("client_id,branch,retained,uri_count\n");
    for i in 0..400 {
        let branch = if i % 2 == 0 { "control" } else { "treatment" };
        let retained = i % 3 != 0;
        let uri = if i % 7 == 0 {
            String::new()
        } else {
            (i % 11).to_string()
        };
        csv.push_str(&format!("c{i},{branch},{retained},{uri}\n"));
    }
    std::fs::write(&input, csv).unwrap();
    let config = dir.path().join("summaries.toml");
    std::fs::write(
        &config,
        "[metrics.retained.statistics.binomial]\n\n\
         [metrics.uri_count.statistics.bootstrap_mean]\nnum_samples = 500\n\n\
         [metrics.uri_count.statistics.sum]\n\n\
         [metrics.missing_column.statistics.sum]\n",
    )
    .unwrap();
    let out = dir.path().join("rows.json");
    let args = [
        "statistics",
        "--input",
        input.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ];
    let output = run(&args);
    // The statistic over a column the file lacks fails; the others are written.
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no column `missing_column`"), "{stderr}");
    let rows = read_json(&out);
    let rows = rows.as_array().unwrap();
    let find = |metric: &str, statistic: &str, branch: &str| -> &Value {
        rows.iter()
            .find(|r| {
                r["metric"] == metric
                    && r["statistic"] == statistic
                    && r["branch"] == branch
                    && r.get("comparison").is_none()
            })
            .unwrap_or_else(|| panic!("no {metric} {statistic} {branch} row"))
    };
    assert_eq!(find("identity", "count", "control")["point"], 200.0);
    assert_eq!(find("identity", "count", "treatment")["point"], 200.0);
    // sum over the non-NULL values of control (even i): i % 11 where i % 7 != 0.
    let expected: u32 = (0..400)
        .filter(|i| i % 2 == 0 && i % 7 != 0)
        .map(|i| i % 11)
        .sum();
    assert_eq!(
        find("uri_count", "sum", "control")["point"],
        f64::from(expected)
    );
    assert!(find("retained", "binomial", "control")["lower"].is_number());
    assert!(rows
        .iter()
        .any(|r| r["statistic"] == "mean" && r["comparison"] == "difference"));
    assert!(schema_errors(
        "jetstream_Statistics.schema.json",
        &Value::Array(rows.clone())
    )
    .is_empty());

    // The same seed gives the same rows.
    let first = std::fs::read(&out).unwrap();
    run(&args);
    assert_eq!(std::fs::read(&out).unwrap(), first);
}

#[test]
fn a_missing_reference_branch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clients.csv");
    std::fs::write(&input, "client_id,branch,x\na,a,1\nb,b,2\n").unwrap();
    let config = dir.path().join("s.toml");
    std::fs::write(&config, "[metrics.x.statistics.sum]\n").unwrap();
    let output = run(&[
        "statistics",
        "--input",
        input.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        dir.path().join("rows.json").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("reference branch 'control' is not among the file's branches (a, b)"));
}
