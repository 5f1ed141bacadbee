//! The SQL layer end to end: the shared corpus's BigQuery fragments and every query generated
//! for the corpus's experiment configs translate into SQL that DuckDB parses; values reaching
//! SQL are escaped.

mod common;

use jetstream_worker::sql_check::DuckDbParser;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// A fragment wrapped into a statement as reference/sql_surface.md §5 describes; None for the
/// Jinja helper templates (`function.definition`), which are not SQL until rendered (every
/// rendered use of them is in the corpus as a metric's select_expression).
fn wrap(kind: &str, sql: &str) -> Option<String> {
    match kind {
        "data_source.from_expression" | "segment_data_source.from_expression" => {
            Some(format!("SELECT * FROM {sql} AS ds"))
        }
        "experiment.enrollment_query" => Some(sql.to_string()),
        "function.definition" => None,
        _ => Some(format!("SELECT {sql} AS v FROM t")),
    }
}

#[test]
fn every_corpus_fragment_translates_into_sql_duckdb_parses() {
    let Some(shared) = common::shared_dir("reference/sql_fragments_dev.jsonl") else {
        return;
    };
    let corpus = std::fs::read_to_string(shared.join("reference/sql_fragments_dev.jsonl")).unwrap();
    let mut inputs = Vec::new();
    let mut skipped = 0;
    for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = record["kind"].as_str().unwrap();
        match wrap(kind, record["rendered"].as_str().unwrap()) {
            Some(sql) => inputs.push((record, sql)),
            None => skipped += 1,
        }
    }
    let mut child = common::jetstream()
        .args(["translate-sql", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let payload: String = inputs
        .iter()
        .map(|(_, sql)| format!("{}\n", serde_json::json!({ "sql": sql })))
        .collect();
    let writer = std::thread::spawn(move || stdin.write_all(payload.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(
        lines.len(),
        inputs.len(),
        "exactly one output line per input line"
    );

    let parser = DuckDbParser::new().unwrap();
    let mut failures = Vec::new();
    for ((record, sql), line) in inputs.iter().zip(&lines) {
        let out: serde_json::Value = serde_json::from_str(line).unwrap();
        let result = match (out.get("duckdb"), out.get("error")) {
            (Some(duckdb), _) => parser.parse(duckdb.as_str().unwrap()),
            (_, Some(error)) => Err(format!("translate: {error}")),
            _ => Err("neither duckdb nor error".into()),
        };
        if let Err(e) = result {
            failures.push(format!(
                "{} {} ({}): {e}\n  {sql}",
                record["file"], record["name"], record["kind"]
            ));
        }
    }
    eprintln!(
        "{} fragments translated and parsed by DuckDB, {} failed, {skipped} Jinja helper templates skipped",
        inputs.len() - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} fragments fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        inputs.len() + skipped,
        corpus.lines().filter(|l| !l.trim().is_empty()).count()
    );
}

#[test]
fn every_query_of_the_corpus_configs_translates_and_parses() {
    let Some(shared) = common::shared_dir("reference/sql_fragments_dev.jsonl") else {
        return;
    };
    let metric_hub = shared.join("corpus/metric-hub");
    let output = common::run(&[
        "validate-config",
        "--offline",
        "--json",
        "--app-name",
        "auto",
        metric_hub.join("jetstream").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut resolved = 0;
    let mut queries = 0;
    let mut sql_failures = Vec::new();
    for line in stdout.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        if record["kind"] != "experiment" {
            continue;
        }
        let Some(checked) = record.get("sql_queries").and_then(|n| n.as_u64()) else {
            continue; // did not resolve: the config layer's tests cover those
        };
        resolved += 1;
        queries += checked;
        if let Some(errors) = record["sql_errors"].as_array().filter(|e| !e.is_empty()) {
            sql_failures.push(format!("{}: {errors:?}", record["path"]));
        }
    }
    eprintln!(
        "{resolved} experiment configs resolved; {queries} queries and fragments parse in DuckDB"
    );
    assert_eq!(
        resolved, 346,
        "the experiment configs that resolve (config_resolution_dev.json)"
    );
    assert!(queries > 10 * resolved as u64);
    assert!(sql_failures.is_empty(), "{}", sql_failures.join("\n"));
}

/// Writes an experiment with `slug`, a config repository whose outcome declares a parameter,
/// and an experiment config setting it and naming `segment`; returns `run --dry-run` args.
fn injection_inputs(dir: &Path, slug: &str, segment: &str, parameter: &str) -> Vec<String> {
    let experiment = serde_json::json!({
        "slug": slug, "appName": "firefox_desktop", "appId": "firefox-desktop",
        "startDate": "2024-01-01", "endDate": "2024-02-01", "proposedEnrollment": 7,
        "isEnrollmentPaused": true, "enrollmentEndDate": "2024-01-08",
        "referenceBranch": "control", "isRollout": false, "status": "Complete",
        "branches": [{"slug": "control", "ratio": 1}, {"slug": "treatment", "ratio": 1}],
        "outcomes": [{"slug": "messages", "priority": "primary"}]
    });
    std::fs::write(dir.join("experiments.json"), experiment.to_string()).unwrap();
    let outcomes = dir.join("repo/outcomes/firefox_desktop");
    std::fs::create_dir_all(&outcomes).unwrap();
    std::fs::write(
        outcomes.join("messages.toml"),
        r#"friendly_name = "Messages"
description = "Message clicks"

[parameters.message_id]
friendly_name = "Message"
description = "The message"

[metrics.clicks]
select_expression = "COUNTIF(event_method = '{{ parameters.message_id }}')"
data_source = "events"
[metrics.clicks.statistics.sum]

[data_sources.events]
from_expression = "telemetry.events"
experiments_column_type = "none"
"#,
    )
    .unwrap();
    let value = parameter.replace('\\', "\\\\").replace('"', "\\\"");
    let config = format!(
        r#"[experiment]
segments = ["{segment}"]

[parameters.message_id]
value = "{value}"

[segments."{segment}"]
select_expression = "COALESCE(LOGICAL_OR(is_default_browser), FALSE)"
data_source = "clients_last_seen"

[segments.data_sources.clients_last_seen]
from_expression = "telemetry.clients_daily"
"#
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    vec![
        "run".into(),
        "--date".into(),
        "2024-01-15".into(),
        "--experiment-slug".into(),
        slug.into(),
        "--experiments".into(),
        dir.join("experiments.json").display().to_string(),
        "--config-repos".into(),
        dir.join("repo").display().to_string(),
        "--config-file".into(),
        dir.join("config.toml").display().to_string(),
        "--analysis-periods".into(),
        "week".into(),
        "--dry-run".into(),
        "--sql-output-dir".into(),
        dir.join("sql").display().to_string(),
    ]
}

#[test]
fn a_slug_that_could_inject_sql_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let args = injection_inputs(dir.path(), "x'; DROP TABLE t; --", "regular", "a");
    let output = common::jetstream().args(&args).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("slug"), "{stderr}");
    assert!(
        !dir.path().join("sql").exists()
            || std::fs::read_dir(dir.path().join("sql")).unwrap().count() <= 1
    );
}

#[test]
fn a_segment_name_that_could_inject_sql_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let args = injection_inputs(dir.path(), "my-exp", "a; DROP TABLE t", "a");
    let output = common::jetstream().args(&args).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a; DROP TABLE t"),
        "the error names the segment: {stderr}"
    );
}

#[test]
fn parameter_values_and_slugs_stay_string_literals() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "x') OR TRUE OR ('";
    let args = injection_inputs(dir.path(), "my-exp.v2", "regular", evil);
    let output = common::jetstream().args(&args).output().unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let sql_dir = dir.path().join("sql");
    let enrollments = std::fs::read_to_string(sql_dir.join("enrollments_my_exp_v2")).unwrap();
    assert!(
        enrollments.contains("e.event_string_value = 'my-exp.v2'"),
        "{enrollments}"
    );
    let metrics =
        std::fs::read_to_string(sql_dir.join("my_exp_v2_enrollments_events_week_1")).unwrap();
    assert!(
        metrics.contains(r"COUNTIF(event_method = 'x\') OR TRUE OR (\'')"),
        "the value is escaped inside its literal:\n{metrics}"
    );
    // The DuckDB translation keeps it one literal, and DuckDB parses it.
    let duck = std::fs::read_to_string(sql_dir.join("duckdb/my_exp_v2_enrollments_events_week_1"))
        .unwrap();
    assert!(duck.contains("'x'') OR TRUE OR ('''"), "{duck}");
    DuckDbParser::new().unwrap().parse(&duck).unwrap();
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let literal: String = conn
        .query_row(&format!("SELECT {}", "'x'') OR TRUE OR ('''"), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(literal, evil);
}
