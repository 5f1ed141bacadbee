//! Helpers shared by the end-to-end tests.

#![allow(dead_code)]

pub mod fleet;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `jetstream` binary built for these tests.
pub fn jetstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jetstream"))
}

/// Runs `jetstream` with `args`, returning its output.
pub fn run(args: &[&str]) -> Output {
    jetstream().args(args).output().expect("jetstream runs")
}

/// Runs `jetstream demo` into `out` with `clients` clients and `workers` workers; panics with
/// its stderr if it fails. Returns its stdout.
pub fn demo(out: &Path, clients: u32, workers: u32) -> String {
    let output = run(&[
        "demo",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--clients",
        &clients.to_string(),
        "--workers",
        &workers.to_string(),
    ]);
    assert!(
        output.status.success(),
        "demo failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Validates `instance` against one of the schemas in tests/schemas; returns the error messages.
pub fn schema_errors(schema: &str, instance: &serde_json::Value) -> Vec<String> {
    let path = root().join("tests/schemas").join(schema);
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("schema readable"))
            .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The shared reference material (`$JETSTREAM_SHARED`, `/work/shared` or `../shared` next to
/// the repository) when it holds `marker`. Missing material fails in CI and skips loudly
/// elsewhere.
pub fn shared_dir(marker: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("JETSTREAM_SHARED").map(PathBuf::from),
        Some(PathBuf::from("/work/shared")),
        Some(root().join("../shared")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|p| p.join(marker).exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the shared reference material ({marker}) is missing; set JETSTREAM_SHARED"
        );
        eprintln!("SKIPPED: shared reference material ({marker}) not found (set JETSTREAM_SHARED)");
    }
    found
}
