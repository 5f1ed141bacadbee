//! The real firefox_desktop platform defaults, with the real metric-hub definitions, analysed end
//! to end by `jetstream run` on the Mozilla-shaped synthetic warehouse: every default metric's
//! BigQuery SQL runs on DuckDB through the translation, the injected effects are recovered inside
//! their 95% intervals and the A/A metrics show no effect. Data and statistics are seeded, so the
//! outcome is deterministic.

mod common;

use chrono::NaiveDate;
use jetstream_worker::synthetic_mozilla::{
    generate_mozilla_warehouse_file, MozillaSyntheticConfig,
};

#[test]
fn firefox_desktop_defaults_recover_the_injected_effects() {
    let marker = "corpus/metric-hub/jetstream/defaults/firefox_desktop.toml";
    let Some(shared) = common::shared_dir(marker) else {
        return;
    };
    let metric_hub = shared.join("corpus/metric-hub");
    let dir = tempfile::tempdir().unwrap();
    let slug = "synthetic-desktop-defaults";
    let start = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
    let end = NaiveDate::from_ymd_opt(2024, 4, 15).unwrap();
    let mut config = MozillaSyntheticConfig::example(slug, start, end);
    config.clients = 8_000;
    // Jetstream enrolls over enrollmentEndDate − startDate + 1 dates (the end date included):
    // 2024-03-01 to 2024-03-09.
    config.enrollment_dates = 9;
    let warehouse = dir.path().join("warehouse.duckdb");
    let effects = generate_mozilla_warehouse_file(&warehouse, &config).unwrap();

    let experiment = serde_json::json!({
        "slug": slug, "appName": "firefox_desktop", "appId": "firefox-desktop",
        "startDate": "2024-03-01", "endDate": "2024-04-15", "proposedEnrollment": 7,
        "isEnrollmentPaused": true, "enrollmentEndDate": "2024-03-08",
        "referenceBranch": "control", "isRollout": false, "status": "Complete",
        "branches": [{"slug": "control", "ratio": 1}, {"slug": "treatment", "ratio": 1}],
        "outcomes": []
    });
    let experiments = dir.path().join("experiments.json");
    std::fs::write(&experiments, experiment.to_string()).unwrap();
    let results = dir.path().join("results");
    // The first weekly window is due 6 days after the last enrollment date (2024-03-09).
    let output = common::run(&[
        "run",
        "--date",
        "2024-03-15",
        "--experiment-slug",
        slug,
        "--experiments",
        experiments.to_str().unwrap(),
        "--config-repos",
        metric_hub.to_str().unwrap(),
        "--warehouse",
        warehouse.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--analysis-periods",
        "week",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("analysed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Every default metric's query ran: no error records at all.
    let errors_path = results.join(format!("errors/errors_{}.json", slug.replace('-', "_")));
    if errors_path.is_file() {
        let errors: Vec<serde_json::Value> = common::read_json(&errors_path)
            .as_array()
            .cloned()
            .unwrap_or_default();
        let serious: Vec<_> = errors
            .iter()
            .filter(|e| e["log_level"] == "ERROR")
            .collect();
        assert!(serious.is_empty(), "errors: {serious:#?}");
    }

    let rows = common::read_json(&results.join(format!(
        "statistics/statistics_{}_weekly.json",
        slug.replace('-', "_")
    )));
    let rows = rows.as_array().unwrap();
    let mut checked = Vec::new();
    for effect in effects.iter().filter(|e| e.branch == "treatment") {
        let row = rows.iter().find(|r| {
            r["metric"] == effect.metric
                && r["branch"] == "treatment"
                && r["comparison"] == "relative_uplift"
                && r["segment"] == "all"
                && r["analysis_basis"] == "enrollments"
                && matches!(
                    r["statistic"].as_str(),
                    Some("mean_lm" | "binomial" | "mean")
                )
        });
        let Some(row) = row else { continue };
        let (lower, upper) = (
            row["lower"].as_f64().unwrap(),
            row["upper"].as_f64().unwrap(),
        );
        let point = row["point"].as_f64().unwrap();
        if effect.relative_uplift != 0.0 {
            assert!(
                lower <= effect.relative_uplift && effect.relative_uplift <= upper,
                "{}: injected {:+.4} outside [{lower:+.4}, {upper:+.4}] ({})",
                effect.metric,
                effect.relative_uplift,
                row["statistic"]
            );
        } else {
            // About ten A/A metrics each have a 95% interval, so one missing 0 by chance is
            // expected (binomials near p = 1 more so); what must hold is that no A/A metric
            // shows an effect as large as its interval is wide (|z| below about 4).
            assert!(
                point.abs() <= upper - lower,
                "{}: A/A estimate {point:+.4} is large for its interval [{lower:+.4}, {upper:+.4}]",
                effect.metric
            );
        }
        checked.push((effect.metric, effect.relative_uplift));
    }
    eprintln!("checked against the injected effects: {checked:?}");
    let nonzero = checked.iter().filter(|(_, u)| *u != 0.0).count();
    assert!(
        nonzero >= 4,
        "at least four injected non-zero effects are checked: {checked:?}"
    );
}
