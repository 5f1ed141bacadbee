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

#[test]
fn population_ratio_and_cuped_read_their_extra_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clients.csv");
    let mut csv = String::from("client_id,branch,urls,hours,hours_pre\n");
    for i in 0..600 {
        let branch = if i % 2 == 0 { "control" } else { "treatment" };
        let pre = 1.0 + f64::from(i % 13) * 0.5;
        let lift = if i % 2 == 0 { 1.0 } else { 1.1 };
        let hours = pre * lift + f64::from(i % 5) * 0.1;
        // Treatment also loads 20 % more pages per active hour.
        let urls = (hours * 20.0 * if i % 2 == 0 { 1.0 } else { 1.2 }).round();
        // Every 50th client has no pre-enrollment value (a LEFT JOIN miss).
        let pre = if i % 50 == 0 {
            String::new()
        } else {
            pre.to_string()
        };
        csv.push_str(&format!("c{i},{branch},{urls},{hours},{pre}\n"));
    }
    std::fs::write(&input, csv).unwrap();
    let config = dir.path().join("summaries.toml");
    std::fs::write(
        &config,
        "[metrics.hours.statistics.linear_model_mean]\n\
         covariate_adjustment = {period = \"preenrollment_week\"}\n\n\
         [metrics.urls_per_hour]\ndepends_on = [\"urls\", \"hours\"]\n\n\
         [metrics.urls_per_hour.statistics.population_ratio]\n\
         numerator = \"urls\"\ndenominator = \"hours\"\nnum_samples = 500\n",
    )
    .unwrap();
    // Runs the command on `input` and returns the rows.
    let rows_of = |input: &std::path::Path, name: &str| -> Vec<Value> {
        let out = dir.path().join(name);
        let output = run(&[
            "statistics",
            "--input",
            input.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rows = read_json(&out);
        assert!(schema_errors("jetstream_Statistics.schema.json", &rows).is_empty());
        rows.as_array().unwrap().clone()
    };
    let treatment_uplift = |rows: &[Value], statistic: &str| -> Value {
        rows.iter()
            .find(|r| {
                r["statistic"] == statistic
                    && r["branch"] == "treatment"
                    && r["comparison"] == "relative_uplift"
                    && r["comparison_to_branch"] == "control"
            })
            .unwrap_or_else(|| panic!("no {statistic} relative_uplift row"))
            .clone()
    };
    let rows = rows_of(&input, "rows.json");
    let ratio = treatment_uplift(&rows, "population_ratio");
    assert!(ratio["lower"].as_f64().unwrap() > 0.0, "{ratio}");
    let adjusted = treatment_uplift(&rows, "mean_lm");
    let width = |r: &Value| r["upper"].as_f64().unwrap() - r["lower"].as_f64().unwrap();

    // Without the pre-enrollment column the same config runs unadjusted: a wider interval.
    let plain = dir.path().join("plain.csv");
    let text = std::fs::read_to_string(&input).unwrap();
    let stripped: String = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(&plain, stripped).unwrap();
    let unadjusted = treatment_uplift(&rows_of(&plain, "unadjusted.json"), "mean_lm");
    assert!(
        width(&adjusted) < 0.5 * width(&unadjusted),
        "CUPED narrows the interval: {adjusted} vs {unadjusted}"
    );
}
