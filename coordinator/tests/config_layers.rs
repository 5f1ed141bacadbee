//! Layering and resolution against a repository laid out like metric-hub
//! (`tests/data/metric-hub`): defaults under configs, outcomes under both, definitions
//! looked up by platform, Jinja functions and parameters, and git pinning.

use chrono::NaiveDate;
use jetstream_coordinator::config::{parse_config, ConfigCollection, Pin};
use jetstream_coordinator::validate_config::synthetic_experiment;
use jetstream_proto::spec::AnalysisSpec;
use jetstream_proto::AnalysisPeriod;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/metric-hub")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()
}

fn collection() -> ConfigCollection {
    ConfigCollection::load(&[fixture()]).expect("fixture loads")
}

fn resolve_with(collection: &ConfigCollection, slug: &str, config: &str) -> AnalysisSpec {
    let custom = parse_config(Path::new("test.toml"), config).unwrap();
    let experiment = synthetic_experiment(slug, "firefox_desktop", None);
    collection
        .resolve(&experiment, Some(&custom), today())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn pairs(spec: &AnalysisSpec, period: AnalysisPeriod) -> Vec<(String, String)> {
    let mut out: Vec<_> = spec
        .summaries(period)
        .iter()
        .map(|s| (s.metric.clone(), s.statistic.name.clone()))
        .collect();
    out.sort();
    out
}

fn pair(metric: &str, statistic: &str) -> (String, String) {
    (metric.to_string(), statistic.to_string())
}

#[test]
fn a_metric_hub_checkout_is_read_as_root_and_jetstream_layers() {
    let c = collection();
    assert_eq!(c.sources(), &[fixture(), fixture().join("jetstream")]);
    // The root definitions and the Jetstream layer's statistics are merged.
    let active = &c
        .definitions("firefox_desktop")
        .unwrap()
        .metrics
        .definitions["active_hours"];
    assert!(active.select_expression.is_some());
    assert_eq!(
        active.statistics.as_ref().unwrap()[0].name,
        "bootstrap_mean"
    );
    assert!(c.config("example-experiment").is_some());
}

#[test]
fn defaults_config_and_definitions_combine() {
    let c = collection();
    let spec = resolve_with(
        &c,
        "exp",
        "[metrics]\nweekly = [\"search_count\"]\n\n[metrics.search_count.statistics.deciles]\n",
    );
    // Defaults list active_hours weekly; the config adds search_count (a stub over the
    // platform definition, with the stub's statistics).
    assert_eq!(
        pairs(&spec, AnalysisPeriod::Week),
        vec![
            pair("active_hours", "bootstrap_mean"),
            pair("search_count", "deciles")
        ]
    );
    // The defaults' uri_count stub replaces the Jetstream layer's statistics wholesale.
    assert_eq!(
        pairs(&spec, AnalysisPeriod::Overall),
        vec![
            pair("active_hours", "bootstrap_mean"),
            pair("uri_count", "bootstrap_mean")
        ]
    );
    // Jinja functions are rendered.
    assert_eq!(
        spec.metrics["active_hours"].select_expression.as_deref(),
        Some("COALESCE(SUM(active_hours_sum), 0)")
    );
    // A platform definition's `bigger_is_better = false` is kept.
    assert!(!spec.metrics["search_count"].bigger_is_better);
}

#[test]
fn an_explicit_false_overrides_and_wildcards_patch_every_metric() {
    let c = collection();
    let spec = resolve_with(
        &c,
        "exp",
        r#"
[metrics]
weekly = ["m"]

[metrics.m]
select_expression = "1"
data_source = "clients_daily"
bigger_is_better = true
statistics = { sum = {} }
"#,
    );
    assert!(spec.metrics["m"].bigger_is_better);

    // Over a defaults layer, a config's wildcard key patches every metric the defaults define.
    let mut with_wildcard = c.clone();
    let wildcard = parse_config(
        Path::new("exp.toml"),
        "[metrics.\"*\".statistics.binomial]\n",
    )
    .unwrap();
    with_wildcard.insert_config("exp", wildcard);
    let experiment = synthetic_experiment("exp", "firefox_desktop", None);
    let spec = with_wildcard.resolve(&experiment, None, today()).unwrap();
    // uri_count is defined in the defaults (a stub), so the pattern replaced its statistics;
    // active_hours is only a platform definition, untouched by the merge.
    assert_eq!(
        pairs(&spec, AnalysisPeriod::Overall),
        vec![
            pair("active_hours", "bootstrap_mean"),
            pair("uri_count", "binomial")
        ]
    );
}

#[test]
fn outcomes_add_metrics_and_render_parameters() {
    let c = collection();
    let spec = resolve_with(&c, "exp", "[experiment]\noutcomes = [\"search\"]\n");
    // No period lists in the outcome: its metrics go to weekly and overall.
    assert!(pairs(&spec, AnalysisPeriod::Week).contains(&pair("searches_with_param", "binomial")));
    assert!(pairs(&spec, AnalysisPeriod::Overall).contains(&pair("search_count", "bootstrap_mean")));
    assert!(pairs(&spec, AnalysisPeriod::Day).is_empty());
    // The parameter's default.
    assert_eq!(
        spec.metrics["searches_with_param"]
            .select_expression
            .as_deref(),
        Some("COUNTIF(source = 'urlbar')")
    );

    // The experiment config sets the value of the outcome's parameter.
    let spec = resolve_with(
        &c,
        "exp",
        "[experiment]\noutcomes = [\"search\"]\n\n[parameters.source]\nvalue = \"searchbar\"\n",
    );
    assert_eq!(
        spec.metrics["searches_with_param"]
            .select_expression
            .as_deref(),
        Some("COUNTIF(source = 'searchbar')")
    );
}

#[test]
fn per_branch_parameters_render_as_a_case_expression() {
    let c = collection();
    let spec = resolve_with(
        &c,
        "exp",
        "[experiment]\noutcomes = [\"messaging\"]\n\n[parameters.message_id]\nvalue.treatment = \"NEW\"\n",
    );
    // The outcome declares its periods: daily and overall only.
    assert_eq!(
        pairs(&spec, AnalysisPeriod::Day),
        vec![pair("message_clicks", "bootstrap_mean")]
    );
    assert!(!pairs(&spec, AnalysisPeriod::Week).contains(&pair("message_clicks", "bootstrap_mean")));
    assert_eq!(
        spec.metrics["message_clicks"].select_expression.as_deref(),
        Some(
            r#"COUNTIF(message_id = CASE e.branch WHEN "control" THEN "CONTROL_MSG" WHEN "treatment" THEN "NEW" END)"#
        )
    );
}

#[test]
fn dataset_and_experiment_templates_are_filled() {
    let c = collection();
    let spec = resolve_with(
        &c,
        "exp",
        r#"
[experiment]
segments = ["regular_users_v3"]

[metrics]
weekly = ["events_count", "from_experiment"]

[metrics.events_count.statistics.sum]

[metrics.from_experiment]
select_expression = "COUNT(*)"
data_source = "events_for_experiment"
statistics = { sum = {} }
"#,
    );
    assert_eq!(
        spec.data_sources["events_by_dataset"].from_expression,
        "mozdata.firefox_desktop.events_stream"
    );
    assert_eq!(
        spec.data_sources["events_for_experiment"].from_expression,
        "(SELECT * FROM mozdata.telemetry.events WHERE submission_date >= '2024-01-01')"
    );
    assert_eq!(
        spec.segment_data_sources["clients_last_seen"].from_expression,
        "(SELECT * FROM mozdata.telemetry.clients_last_seen WHERE submission_date >= DATE('2024-01-01'))"
    );
    assert_eq!(
        spec.segments[0].select_expression,
        "COALESCE(LOGICAL_OR(is_regular_user_v3), FALSE)"
    );
}

#[test]
fn the_collections_own_config_is_used_without_an_explicit_one() {
    let c = collection();
    let experiment = synthetic_experiment("example-experiment", "firefox_desktop", None);
    let spec = c.resolve(&experiment, None, today()).unwrap();
    assert_eq!(spec.segments[0].name, "regular_users_v3");
    assert!(pairs(&spec, AnalysisPeriod::Week).contains(&pair("search_count", "deciles")));
}

fn git(dir: &Path, args: &[&str], date: &str) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn a_git_checkout_is_read_as_of_a_date_or_commit() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "-q", "-b", "main"], "2024-01-01T00:00:00Z");
    let config = |weekly: &str| {
        format!(
            "[metrics]\nweekly = [\"{weekly}\"]\n\n[metrics.{weekly}]\nselect_expression = \"1\"\ndata_source = \"t\"\nstatistics = {{ sum = {{}} }}\n\n[data_sources.t]\nfrom_expression = \"t\"\n"
        )
    };
    std::fs::write(dir.join("exp.toml"), config("old_metric")).unwrap();
    git(dir, &["add", "."], "2024-01-10T00:00:00Z");
    git(dir, &["commit", "-q", "-m", "old"], "2024-01-10T00:00:00Z");
    std::fs::write(dir.join("exp.toml"), config("new_metric")).unwrap();
    git(dir, &["commit", "-q", "-am", "new"], "2024-02-10T00:00:00Z");
    git(dir, &["tag", "v-new"], "2024-02-10T00:00:00Z");
    // An uncommitted edit is ignored by pinning (and read without it).
    std::fs::write(dir.join("exp.toml"), config("uncommitted_metric")).unwrap();

    let weekly = |c: &ConfigCollection| {
        let experiment = synthetic_experiment("exp", "firefox_desktop", None);
        let spec = c.resolve(&experiment, None, today()).unwrap();
        pairs(&spec, AnalysisPeriod::Week)[0].0.clone()
    };
    let dirs = [dir.to_path_buf()];
    let as_of = |s: &str| Pin::AsOf(s.parse().unwrap());
    assert_eq!(
        weekly(&ConfigCollection::load(&dirs).unwrap()),
        "uncommitted_metric"
    );
    let pinned = ConfigCollection::load_pinned(&dirs, &as_of("2024-01-20T00:00:00Z")).unwrap();
    assert_eq!(weekly(&pinned), "old_metric");
    assert_eq!(pinned.pinned_commits().len(), 1);
    // Before the first commit: the oldest.
    let early = ConfigCollection::load_pinned(&dirs, &as_of("2023-01-01T00:00:00Z")).unwrap();
    assert_eq!(weekly(&early), "old_metric");
    let latest = ConfigCollection::load_pinned(&dirs, &as_of("2024-03-01T00:00:00Z")).unwrap();
    assert_eq!(weekly(&latest), "new_metric");
    let tagged = ConfigCollection::load_pinned(&dirs, &Pin::Commit("v-new".into())).unwrap();
    assert_eq!(weekly(&tagged), "new_metric");
    // Errors from a pinned checkout name the user's directory, not the temporary one.
    std::fs::write(dir.join("exp.toml"), "[metrics]\nweekly = [\"missing\"]\n").unwrap();
    git(
        dir,
        &["commit", "-q", "-am", "broken"],
        "2024-03-10T00:00:00Z",
    );
    let broken = ConfigCollection::load_pinned(&dirs, &as_of("2024-03-20T00:00:00Z")).unwrap();
    let experiment = synthetic_experiment("exp", "firefox_desktop", None);
    let error = broken
        .resolve(&experiment, None, today())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&dir.join("exp.toml").display().to_string()),
        "{error}"
    );
}
