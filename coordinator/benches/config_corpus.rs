//! Benchmark: load the shared metric-hub corpus and resolve every experiment config in it
//! (`validate-config --offline --app-name auto` for each), as Jetstream does before analysing.
//! Jetstream issue #1780 reports 10–15 minutes for config loading in production.
//!
//! Run: `cargo bench -p jetstream-coordinator --bench config_corpus` (corpus from
//! `$JETSTREAM_SHARED/corpus/metric-hub`, default `/work/shared`).

use jetstream_coordinator::config::ConfigCollection;
use jetstream_coordinator::validate_config::{check_offline, AppChoice};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let shared = std::env::var_os("JETSTREAM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared"));
    let metric_hub = shared.join("corpus/metric-hub");
    assert!(metric_hub.is_dir(), "{} is missing", metric_hub.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(metric_hub.join("jetstream"))
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();

    const RUNS: usize = 7;
    let mut loads = Vec::new();
    let mut resolves = Vec::new();
    let mut resolved = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let collection = ConfigCollection::load(std::slice::from_ref(&metric_hub)).expect("loads");
        loads.push(start.elapsed());
        let start = Instant::now();
        resolved = files
            .iter()
            .filter(|f| {
                check_offline(&collection, f, &AppChoice::Auto)
                    .result
                    .is_ok()
            })
            .count();
        resolves.push(start.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (load, resolve) = (median(&mut loads), median(&mut resolves));
    println!(
        "config corpus: {} experiment configs ({resolved} resolve), median of {RUNS} runs: \
         load {:.1} ms, resolve all {:.1} ms, total {:.1} ms ({:.2} ms per config)",
        files.len(),
        load.as_secs_f64() * 1e3,
        resolve.as_secs_f64() * 1e3,
        (load + resolve).as_secs_f64() * 1e3,
        (load + resolve).as_secs_f64() * 1e3 / files.len() as f64,
    );
}
