//! The fleet over the real RabbitMQ at 127.0.0.1:5672: one coordinator, one aggregator and
//! three workers (separate processes) produce the same tables and JSON as the embedded run;
//! workers killed mid-task lose and duplicate nothing; a poison task is dead-lettered with an
//! error record; dropped broker connections are survived; every role serves `/metrics`.
//!
//! In CI (CI=true) a missing broker fails these tests; elsewhere they are skipped with a note.

mod common;

use common::fleet::*;
use common::*;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// Tests here close every broker connection or kill processes: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn three_workers_match_the_embedded_run_and_every_role_serves_metrics() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !broker_available() {
        return;
    }
    let inputs = inputs(400, 2);
    let embedded = inputs.embedded();
    let fleet = Fleet::new(&inputs, "three");
    let aggregator = fleet.aggregator();
    let coordinator = fleet.coordinator();
    let workers: Vec<Role> = (0..3).map(|_| fleet.worker()).collect();
    let out = wait_for(fleet.enqueue(&inputs), Duration::from_secs(600));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("analysed"), "{stdout}");

    // Metrics, scraped over HTTP from each role.
    let worker_text: Vec<String> = workers.iter().map(Role::scrape).collect();
    let tasks: f64 = worker_text
        .iter()
        .map(|t| counter(t, "jetstream_tasks_succeeded_total", "role=\"worker\""))
        .sum();
    assert!(tasks > 0.0, "workers count their tasks");
    for t in &worker_text {
        assert!(t.contains("jetstream_task_duration_seconds_bucket"), "{t}");
        assert!(
            t.contains("jetstream_tasks_in_flight{role=\"worker\"} 0"),
            "{t}"
        );
    }
    let a = aggregator.scrape();
    assert!(
        counter(&a, "jetstream_tasks_received_total", "kind=\"result\"") >= tasks,
        "{a}"
    );
    assert!(
        counter(&a, "jetstream_tasks_succeeded_total", "kind=\"finalize\"") > 0.0,
        "{a}"
    );
    let c = coordinator.scrape();
    assert_eq!(
        counter(&c, "jetstream_tasks_succeeded_total", "kind=\"run\""),
        3.0,
        "{c}"
    );

    // Graceful shutdown of every role.
    for w in workers {
        w.terminate();
    }
    coordinator.terminate();
    aggregator.terminate();
    assert_same_outputs(&embedded, &fleet);
    fleet.cleanup();
}

#[test]
fn workers_killed_mid_task_lose_and_duplicate_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !broker_available() {
        return;
    }
    let inputs = inputs(400, 2);
    let embedded = inputs.embedded();
    let mut fleet = Fleet::new(&inputs, "kill");
    // Kills count as attempts; give tasks room for many.
    fleet.extra_worker_args = vec!["--max-attempts".into(), "100".into()];
    let _aggregator = fleet.aggregator();
    let _coordinator = fleet.coordinator();
    let mut workers: Vec<Role> = (0..3).map(|_| fleet.worker()).collect();
    let mut run = fleet.enqueue(&inputs);
    kill_workers_mid_task(&fleet, &mut workers, &mut run, 20, Duration::from_secs(600));
    let out = wait_for(run, Duration::from_secs(600));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(workers);
    assert_eq!(fleet.dead_letters(), 0, "no task was dead-lettered");
    assert_same_outputs(&embedded, &fleet);
    fleet.cleanup();
}

#[test]
fn a_poison_task_is_dead_lettered_with_a_record_and_broker_disconnects_are_survived() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !broker_available() {
        return;
    }
    let inputs = inputs(400, 2);
    let mut fleet = Fleet::new(&inputs, "poison");
    let poison = format!(
        "statistics:{}:2025-03-16:week:1:all:enrollments",
        extra_slug(0)
    );
    fleet.extra_worker_args = vec![
        "--max-attempts".into(),
        "3".into(),
        "--retry-backoff-ms".into(),
        "100".into(),
        "--fail-tasks-matching".into(),
        poison.clone(),
    ];
    let _aggregator = fleet.aggregator();
    let _coordinator = fleet.coordinator();
    let workers: Vec<Role> = (0..2).map(|_| fleet.worker()).collect();
    let run = fleet.enqueue(&inputs);
    // Close every connection from the broker's side twice while the run is going.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1500));
        let status = Command::new("rabbitmqctl")
            .args(["close_all_connections", "fleet test: broker-side close"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = wait_for(run, Duration::from_secs(600));
    // The enqueuer's own connection may be among those closed; it reconnects too.
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fleet.dead_letters(),
        1,
        "the poison task is in the dead-letter queue"
    );
    let retried: f64 = workers
        .iter()
        .map(|w| {
            counter(
                &w.scrape(),
                "jetstream_tasks_retried_total",
                "kind=\"statistics\"",
            )
        })
        .sum();
    let dead: f64 = workers
        .iter()
        .map(|w| {
            counter(
                &w.scrape(),
                "jetstream_tasks_dead_lettered_total",
                "kind=\"statistics\"",
            )
        })
        .sum();
    assert_eq!(
        (retried, dead),
        (2.0, 1.0),
        "two retries, then the dead-letter queue"
    );
    let errors = read_json(&fleet.results.join(format!(
        "errors/errors_{}.json",
        extra_slug(0).replace('-', "_")
    )));
    let records: Vec<&serde_json::Value> = errors
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap_or("")
                .contains("dead-lettered after 3 attempts")
        })
        .collect();
    assert_eq!(records.len(), 1, "{errors:#}");
    // The rest of the run completed: statistics of the other experiments exist.
    for slug in [DEMO_SLUG.to_string(), extra_slug(1)] {
        let path = fleet.results.join(format!(
            "statistics/statistics_{}_weekly.json",
            slug.replace('-', "_")
        ));
        assert!(path.is_file(), "{} missing", path.display());
    }
    fleet.cleanup();
}
