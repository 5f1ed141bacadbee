//! A real backfill through the fleet: the demo's synthetic warehouse with N experiments
//! enrolling the same clients, analysed over 2025-03-10..17 by the embedded default and by a
//! fleet (coordinator, aggregator, 1/2/4 workers as processes over RabbitMQ), each run's outputs
//! checked equal to the embedded ones. Prints wall times.
//!
//! `cargo bench --profile dev --bench fleet_backfill` (the release profile would rebuild DuckDB);
//! sizes from the environment:
//! FLEET_BENCH_EXPERIMENTS (default 20), FLEET_BENCH_CLIENTS (default 2000),
//! FLEET_BENCH_WORKERS (default 1,2,4).

#[path = "../tests/common/mod.rs"]
mod common;

use common::fleet::*;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: expected a number")),
        Err(_) => default,
    }
}

fn main() {
    let experiments: usize = env_or("FLEET_BENCH_EXPERIMENTS", 20);
    let clients: u32 = env_or("FLEET_BENCH_CLIENTS", 2000);
    let workers: Vec<usize> = std::env::var("FLEET_BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|w| {
            w.trim()
                .parse()
                .expect("FLEET_BENCH_WORKERS: numbers separated by commas")
        })
        .collect();
    if !broker_available() {
        return;
    }
    let inputs = inputs(clients, experiments.saturating_sub(1));
    println!(
        "backfill {FROM}..{TO}: {experiments} experiments x {clients} clients, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let started = Instant::now();
    let embedded = inputs.embedded();
    let baseline = started.elapsed();
    println!(
        "embedded (in-process workers = cores): {:>7.1} s",
        baseline.as_secs_f64()
    );
    for n in workers {
        let fleet = Fleet::new(&inputs, &format!("bench{n}"));
        let aggregator = fleet.aggregator();
        let coordinator = fleet.coordinator();
        let roles: Vec<Role> = (0..n).map(|_| fleet.worker()).collect();
        let started = Instant::now();
        let out = wait_for(fleet.enqueue(&inputs), Duration::from_secs(7200));
        let wall = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tasks: f64 = roles
            .iter()
            .map(|r| {
                counter(
                    &r.scrape(),
                    "jetstream_tasks_succeeded_total",
                    "role=\"worker\"",
                )
            })
            .sum();
        for r in roles {
            r.terminate();
        }
        coordinator.terminate();
        aggregator.terminate();
        assert_same_outputs(&embedded, &fleet);
        println!(
            "fleet, {n} worker(s):                  {:>7.1} s  ({tasks} tasks, {:.2}x the embedded time; outputs equal)",
            wall.as_secs_f64(),
            wall.as_secs_f64() / baseline.as_secs_f64()
        );
        fleet.cleanup();
    }
}
