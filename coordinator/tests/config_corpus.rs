//! Parity with the Python parser: every experiment config of the shared metric-hub corpus,
//! resolved offline (`validate-config --offline --app-name auto`), must match the record
//! mozilla-metric-config-parser produced for it (`reference/config_resolution_dev.json`): the
//! same ok/failed, app, (metric, statistic) pairs per period, segments, exposure signal,
//! pre-treatments and statistic parameters. Configs Python rejects must be rejected with an
//! error naming the file.

use jetstream_coordinator::config::ConfigCollection;
use jetstream_coordinator::validate_config::{check_offline, record_json, AppChoice};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The shared reference material: `$JETSTREAM_SHARED`, else `/work/shared`, else `../shared`
/// next to the workspace. Missing material fails in CI and skips (loudly) elsewhere.
fn shared_dir() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [
        std::env::var_os("JETSTREAM_SHARED").map(PathBuf::from),
        Some(PathBuf::from("/work/shared")),
        Some(workspace.join("../shared")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("corpus/metric-hub").is_dir());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the shared corpus (corpus/metric-hub) is missing; set JETSTREAM_SHARED"
        );
        eprintln!("SKIPPED: shared corpus not found (set JETSTREAM_SHARED)");
    }
    found
}

const COMPARED: &[&str] = &[
    "app_name",
    "periods",
    "segments",
    "exposure_signal",
    "pre_treatments",
    "statistic_params",
];

#[test]
fn every_shared_config_resolves_as_the_python_parser_does() {
    let Some(shared) = shared_dir() else { return };
    let reference: serde_json::Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(shared.join("reference/config_resolution_dev.json")).unwrap(),
    )
    .unwrap();
    let metric_hub = shared.join("corpus/metric-hub");
    let collection =
        ConfigCollection::load(std::slice::from_ref(&metric_hub)).expect("corpus loads");

    let mut files: Vec<PathBuf> = std::fs::read_dir(metric_hub.join("jetstream"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        reference.len(),
        "one reference record per config"
    );

    let mut mismatches = Vec::new();
    let (mut resolved, mut rejected) = (0, 0);
    for file in &files {
        let slug = file.file_stem().unwrap().to_str().unwrap();
        let expected = &reference[slug];
        let ours = record_json(&check_offline(&collection, file, &AppChoice::Auto));
        let expected_ok = expected["ok"].as_bool().unwrap();
        if ours["ok"] != expected["ok"] {
            mismatches.push(format!(
                "{slug}: ok={} but Python ok={expected_ok} ({})",
                ours["ok"],
                if expected_ok {
                    ours["error"].to_string()
                } else {
                    expected["error"].to_string()
                }
            ));
            continue;
        }
        if expected_ok {
            resolved += 1;
            for field in COMPARED {
                if ours[field] != expected[field] {
                    mismatches.push(format!(
                        "{slug}: `{field}` differs:\n  ours:   {}\n  python: {}",
                        ours[field], expected[field]
                    ));
                }
            }
        } else {
            rejected += 1;
            let error = ours["error"].as_str().unwrap_or_default();
            if !error.contains(slug) && !error.contains(".toml") {
                mismatches.push(format!("{slug}: error does not name a file: {error}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} configs differ from the Python parser:\n{}",
        mismatches.len(),
        files.len(),
        mismatches.join("\n")
    );
    assert_eq!((resolved, rejected), (346, 13));
}
