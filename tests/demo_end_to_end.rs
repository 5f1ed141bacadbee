//! The demo, end to end on a small synthetic warehouse: it completes, its exports satisfy
//! Experimenter's schemas, its tables are named as Jetstream names them, and its intervals
//! recover the injected effects.

mod common;

use common::*;
use serde_json::Value;

const SLUG: &str = "demo_onboarding_callout";

fn stats_rows(out: &std::path::Path, suffix: &str) -> Vec<Value> {
    let path = out.join(format!(
        "results/statistics/statistics_{SLUG}_{suffix}.json"
    ));
    match read_json(&path) {
        Value::Array(rows) => rows,
        other => panic!("{} is not a list: {other}", path.display()),
    }
}

fn find<'a>(
    rows: &'a [Value],
    metric: &str,
    comparison: Option<&str>,
    segment: &str,
    basis: &str,
) -> &'a Value {
    find_statistic(rows, metric, "mean_or_binomial", comparison, segment, basis)
}

fn find_statistic<'a>(
    rows: &'a [Value],
    metric: &str,
    statistic: &str,
    comparison: Option<&str>,
    segment: &str,
    basis: &str,
) -> &'a Value {
    rows.iter()
        .find(|r| {
            r["metric"] == metric
                && (r["statistic"] == statistic
                    || (statistic == "mean_or_binomial"
                        && (r["statistic"] == "mean" || r["statistic"] == "binomial")))
                && r["branch"] == "treatment"
                && r.get("comparison").and_then(Value::as_str) == comparison
                && (comparison.is_none() || r["comparison_to_branch"] == "control")
                && r["segment"] == segment
                && r["analysis_basis"] == basis
        })
        .unwrap_or_else(|| panic!("no {metric} {comparison:?} row for {segment}/{basis}"))
}

#[test]
fn demo_recovers_injected_effects_and_writes_valid_exports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let stdout = demo(&out, 3000, 2);
    assert!(
        stdout.contains("relative uplift"),
        "summary printed:\n{stdout}"
    );

    // Exports exist for every analysed period and validate against Experimenter's schemas.
    for suffix in ["daily", "weekly", "overall"] {
        let rows = Value::Array(stats_rows(&out, suffix));
        let errors = schema_errors("jetstream_Statistics.schema.json", &rows);
        assert!(errors.is_empty(), "{suffix}: {errors:?}");
    }
    let metadata = read_json(&out.join(format!("results/metadata/metadata_{SLUG}.json")));
    assert!(schema_errors("jetstream_Metadata.schema.json", &metadata).is_empty());
    assert_eq!(
        metadata["metrics"]["active_hours"]["friendly_name"],
        "Active hours"
    );
    let errors = read_json(&out.join(format!("results/errors/errors_{SLUG}.json")));
    assert!(schema_errors("jetstream_AnalysisErrors.schema.json", &errors).is_empty());

    // Window indices: 4 weekly windows (5 weeks minus the 8 enrollment dates), 1 overall.
    let weekly = stats_rows(&out, "weekly");
    let mut windows: Vec<&str> = weekly
        .iter()
        .filter_map(|r| r["window_index"].as_str())
        .collect();
    windows.sort();
    windows.dedup();
    assert_eq!(windows, vec!["1", "2", "3", "4"]);

    // Each injected effect lies inside the 95% interval of the overall relative uplift on the
    // whole population, for both bases; the A/A metrics' intervals contain 0. (Across 20
    // segment × basis × metric intervals about one is expected to miss by chance, so the
    // segment's intervals are only checked for shape.)
    let overall = stats_rows(&out, "overall");
    let truths = [
        ("active_hours", 0.10),
        ("search_count", 0.05),
        ("pip_users", 0.30 / 0.25 - 1.0),
        ("uri_count", 0.0),
        ("days_of_use", 0.0),
    ];
    for segment in ["all"] {
        for basis in ["enrollments", "exposures"] {
            for (metric, truth) in truths {
                let row = find(&overall, metric, Some("relative_uplift"), segment, basis);
                let (lo, hi) = (
                    row["lower"].as_f64().unwrap(),
                    row["upper"].as_f64().unwrap(),
                );
                assert!(
                    lo <= truth && truth <= hi,
                    "{metric} {segment}/{basis}: {truth} outside [{lo}, {hi}]"
                );
                assert_eq!(row["ci_width"], 0.95);
            }
        }
    }
    for basis in ["enrollments", "exposures"] {
        for (metric, _) in truths {
            let row = find(
                &overall,
                metric,
                Some("relative_uplift"),
                "default_browser_users",
                basis,
            );
            assert!(row["lower"].as_f64().unwrap() < row["upper"].as_f64().unwrap());
        }
    }
    // The strong effect is detected on the whole population.
    let active = find(
        &overall,
        "active_hours",
        Some("relative_uplift"),
        "all",
        "enrollments",
    );
    assert!(
        active["lower"].as_f64().unwrap() > 0.0,
        "active_hours effect not detected: {active}"
    );

    // The CUPED linear model: computed over the enrollments-basis pre-enrollment week, without
    // falling back, and its interval contains the injected effect too.
    for basis in ["enrollments", "exposures"] {
        let lm = find_statistic(
            &overall,
            "active_hours",
            "mean_lm",
            Some("relative_uplift"),
            "all",
            basis,
        );
        let (lo, hi) = (lm["lower"].as_f64().unwrap(), lm["upper"].as_f64().unwrap());
        assert!(lo <= 0.10 && 0.10 <= hi, "mean_lm {basis}: [{lo}, {hi}]");
    }
    // Daily windows during enrollment precede the pre-enrollment table and fall back (with a
    // warning, as upstream); the overall window must not.
    let fallbacks: Vec<&Value> = errors
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message"].as_str().unwrap_or("").contains("falling back"))
        .collect();
    assert!(fallbacks.iter().all(|e| e["log_level"] == "WARNING"));
    assert!(
        !fallbacks
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains(":overall:")),
        "{fallbacks:?}"
    );

    // Every branch is used as the reference: control vs treatment rows exist too.
    assert!(overall
        .iter()
        .any(|r| r["branch"] == "control" && r["comparison_to_branch"] == "treatment"));
    // Counts: both branches, the exposures basis smaller than the enrollments basis.
    let count = |basis: &str| -> f64 {
        overall
            .iter()
            .filter(|r| {
                r["metric"] == "identity" && r["segment"] == "all" && r["analysis_basis"] == basis
            })
            .map(|r| r["point"].as_f64().unwrap())
            .sum()
    };
    assert_eq!(count("enrollments"), 3000.0);
    assert!(count("exposures") > 1000.0 && count("exposures") < 3000.0);

    // Tables are named as Jetstream names them.
    let conn = duckdb::Connection::open(out.join("warehouse.duckdb")).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT table_name FROM information_schema.tables WHERE table_schema = 'mozanalysis' ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for expected in [
        format!("enrollments_{SLUG}"),
        format!("{SLUG}_enrollments_week_1"),
        format!("{SLUG}_exposures_overall_1"),
        format!("statistics_{SLUG}_week_4"),
        format!("statistics_{SLUG}_overall_1"),
        format!("statistics_{SLUG}_day_1"),
        format!("statistics_{SLUG}_weekly"),
        format!("{SLUG}_enrollments_preenrollment_week_1"),
        format!("{SLUG}_enrollments_weekly"),
    ] {
        assert!(
            tables.contains(&expected),
            "missing table {expected}; have {tables:?}"
        );
    }
}
