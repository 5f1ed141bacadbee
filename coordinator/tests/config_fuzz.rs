//! Fuzzing the TOML-to-spec path with proptest: arbitrary text, and structured configs built
//! from metric-hub's vocabulary with random names, types and templates, are parsed and resolved
//! against the fixture repository. Nothing may panic; every rejection is a `ConfigError` whose
//! message names the file.
//!
//! `PROPTEST_CASES=N` sets the number of cases per property (default 1000).

use jetstream_coordinator::config::{parse_config, ConfigCollection};
use jetstream_coordinator::validate_config::synthetic_experiment;
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn collection() -> &'static ConfigCollection {
    static COLLECTION: OnceLock<ConfigCollection> = OnceLock::new();
    COLLECTION.get_or_init(|| {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/metric-hub");
        ConfigCollection::load(&[fixture]).expect("fixture loads")
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Parses and resolves `text`; a rejection must name the file.
fn check(text: &str) {
    let path = Path::new("fuzz.toml");
    let result = parse_config(path, text).and_then(|config| {
        let experiment = synthetic_experiment("fuzz", "firefox_desktop", None);
        let today = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        collection().resolve(&experiment, Some(&config), today)
    });
    if let Err(e) = result {
        assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
    }
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("active_hours".to_string()),
        Just("search_count".to_string()),
        Just("uri_count".to_string()),
        Just("clients_daily".to_string()),
        Just("regular_users_v3".to_string()),
        Just("m".to_string()),
        Just("*".to_string()),
        "[a-z_]{1,12}",
        "\\PC{0,8}",
    ]
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        name().prop_map(|s| format!("{s:?}")),
        template().prop_map(|s| format!("{s:?}")),
        Just("2024-01-05".to_string()),
        Just("\"2024-01-05\"".to_string()),
        Just("\"analysis_window_end\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"sum\"".to_string()),
        Just("\"any\"".to_string()),
        Just("\"recency_within\"".to_string()),
        Just("[{column = \"n\", op = \">\", value = 1}]".to_string()),
        Just("[{column = \"n\", op = \"IS NULL\"}]".to_string()),
        Just("{op = \">=\", value = 1.5}".to_string()),
        prop::collection::vec(name(), 0..4).prop_map(|v| format!("{v:?}")),
    ]
}

fn template() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{{agg_sum('x')}}".to_string()),
        Just("{{ agg_any(\"y\") }}".to_string()),
        Just("{{ parameters.source }}".to_string()),
        Just("{{ experiment.start_date_str }}".to_string()),
        Just("{{ experiment.enrollment_query }}".to_string()),
        Just("{% if x %}".to_string()),
        Just("{{".to_string()),
        Just("mozdata.{dataset}.t".to_string()),
        Just("{experiment_slug} {{ {".to_string()),
        "[{}%a-z _'\"()]{0,20}",
    ]
}

const KEYS: &[&str] = &[
    "select_expression",
    "data_source",
    "statistics",
    "depends_on",
    "analysis_bases",
    "analysis_units",
    "bigger_is_better",
    "from_expression",
    "default_dataset",
    "experiments_column_type",
    "window_start",
    "window_end",
    "name",
    "value",
    "default",
    "distinct_by_branch",
    "pre_treatments",
    "drop_highest",
    "segments",
    "outcomes",
    "enrollment_period",
    "start_date",
    "end_date",
    "reference_branch",
    "enrollment_query",
    "sample_size",
    "weekly",
    "overall",
    "daily",
    "28_day",
    "aggregation",
    "column",
    "where",
    "threshold",
    "scale",
    "within_days",
    "repeat_windows",
    "cumulative_window",
];

const TABLES: &[&str] = &[
    "experiment",
    "experiment.exposure_signal",
    "metrics",
    "metrics.{n}",
    "metrics.{n}.statistics.bootstrap_mean",
    "metrics.{n}.statistics.{n}",
    "data_sources.{n}",
    "segments.{n}",
    "segments.data_sources.{n}",
    "parameters.{n}",
    "{n}",
];

fn section() -> impl Strategy<Value = String> {
    (
        prop::sample::select(TABLES),
        name(),
        prop::collection::vec((prop::sample::select(KEYS), scalar()), 0..5),
    )
        .prop_map(|(table, n, entries)| {
            let header = table.replace("{n}", &format!("{n:?}"));
            let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("[{header}]\n{}\n", body.join("\n"))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        check(&text);
    }

    #[test]
    fn structured_configs_never_panic(sections in prop::collection::vec(section(), 0..8)) {
        check(&sections.concat());
    }
}
