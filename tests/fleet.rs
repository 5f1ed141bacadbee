//! The fleet over the real RabbitMQ at 127.0.0.1:5672: one coordinator, one aggregator and
//! three workers (separate processes) produce the same tables and JSON as the embedded run;
//! workers killed mid-task lose and duplicate nothing; a poison task is dead-lettered with an
//! error record; dropped broker connections are survived; every role serves `/metrics`.
//!
//! In CI (CI=true) a missing broker fails these tests; elsewhere they are skipped with a note.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const DEMO_SLUG: &str = "demo-onboarding-callout";
const EXTRA_SLUGS: [&str; 2] = ["fleet-exp-b", "fleet-exp-c"];
const FROM: &str = "2025-03-10";
const TO: &str = "2025-03-17";

/// Tests here close every broker connection or kill processes: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// True when the broker is reachable (starting it if needed).
fn broker_available() -> bool {
    let up = || {
        TcpStream::connect_timeout(&"127.0.0.1:5672".parse().unwrap(), Duration::from_secs(1))
            .is_ok()
    };
    if up() {
        return true;
    }
    let _ = Command::new("rabbitmq-server").arg("-detached").status();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(40) {
        if up() {
            std::thread::sleep(Duration::from_secs(2));
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("RabbitMQ is not reachable at 127.0.0.1:5672 and could not be started; the fleet tests must run in CI");
    }
    eprintln!("note: RabbitMQ is not reachable at 127.0.0.1:5672; fleet test skipped");
    false
}

/// Inputs shared by the embedded and fleet runs: the demo warehouse with three experiments.
struct Inputs {
    _dir: tempfile::TempDir,
    root: PathBuf,
    experiments: PathBuf,
    configs: PathBuf,
}

fn inputs() -> Inputs {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let demo_dir = root.join("demo");
    demo(&demo_dir, 400, 1);
    // Two more experiments enrolling the same clients under their own slugs.
    let warehouse = demo_dir.join("warehouse.duckdb");
    {
        let conn = duckdb::Connection::open(&warehouse).unwrap();
        for slug in EXTRA_SLUGS {
            conn.execute_batch(&format!(
                "INSERT INTO telemetry.events SELECT * REPLACE ('{slug}' AS event_string_value)
                 FROM telemetry.events WHERE event_category = 'normandy' AND event_string_value = '{DEMO_SLUG}'"
            ))
            .unwrap();
        }
    }
    let base: serde_json::Value = read_json(&demo_dir.join("inputs/experiment.json"));
    let mut list = vec![base.clone()];
    for slug in EXTRA_SLUGS {
        let mut e = base.clone();
        e["slug"] = slug.into();
        e["id"] = slug.into();
        list.push(e);
    }
    let experiments = root.join("experiments.json");
    std::fs::write(&experiments, serde_json::to_string(&list).unwrap()).unwrap();
    let configs = root.join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    let config = std::fs::read_to_string(demo_dir.join("inputs/config.toml")).unwrap();
    for slug in [DEMO_SLUG].into_iter().chain(EXTRA_SLUGS) {
        std::fs::write(configs.join(format!("{slug}.toml")), &config).unwrap();
    }
    Inputs {
        _dir: dir,
        root,
        experiments,
        configs,
    }
}

impl Inputs {
    /// A fresh copy of the warehouse for one run.
    fn warehouse(&self, name: &str) -> PathBuf {
        let to = self.root.join(format!("{name}.duckdb"));
        std::fs::copy(self.root.join("demo/warehouse.duckdb"), &to).unwrap();
        to
    }

    fn backfill_args(&self, warehouse: &Path) -> Vec<String> {
        [
            "backfill",
            "--from",
            FROM,
            "--to",
            TO,
            "--experiments",
            self.experiments.to_str().unwrap(),
            "--config-repos",
            self.configs.to_str().unwrap(),
            "--warehouse",
            warehouse.to_str().unwrap(),
            "--seed",
            "7",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// The embedded run: the reference outputs.
    fn embedded(&self) -> (PathBuf, PathBuf) {
        let warehouse = self.warehouse("embedded");
        let results = self.root.join("embedded-results");
        let mut args = self.backfill_args(&warehouse);
        args.extend(["--results".into(), results.to_str().unwrap().into()]);
        let out = jetstream().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "embedded backfill failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (warehouse, results)
    }
}

/// A running role; killed when dropped.
struct Role {
    child: Child,
    metrics: String,
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Role {
    fn start(args: &[String]) -> Role {
        let mut child = jetstream()
            .args(args)
            .args(["--metrics-addr", "127.0.0.1:0", "--amqp-url", AMQP_URL])
            .env("JETSTREAM_LOG", "warn,jetstream=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first line names the metrics address; the rest of stderr is drained.
        let stderr = child.stderr.take().unwrap();
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let metrics = line
            .trim()
            .strip_prefix("metrics: ")
            .unwrap_or_else(|| panic!("expected the metrics address first, got {line:?}"))
            .to_string();
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                if std::env::var("FLEET_TEST_VERBOSE").is_ok() {
                    eprint!("{sink}");
                }
                sink.clear();
            }
        });
        Role { child, metrics }
    }

    /// The role's `/metrics` text.
    fn scrape(&self) -> String {
        let url = self.metrics.strip_prefix("http://").unwrap();
        let (host, path) = url.split_once('/').unwrap();
        let mut stream = TcpStream::connect(host).unwrap();
        use std::io::{Read, Write};
        write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        assert!(
            text.starts_with("HTTP/1.") && text.contains(" 200 "),
            "{text}"
        );
        text
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "role exited with {status} after SIGTERM");
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "role did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One fleet on its own queue prefix.
struct Fleet {
    prefix: String,
    warehouse: PathBuf,
    results: PathBuf,
    state: PathBuf,
    extra_worker_args: Vec<String>,
}

impl Fleet {
    fn new(inputs: &Inputs, name: &str) -> Fleet {
        let prefix = format!(
            "test.fleet.{name}.{}.{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        );
        Fleet {
            prefix,
            warehouse: inputs.warehouse(name),
            results: inputs.root.join(format!("{name}-results")),
            state: inputs.root.join(format!("{name}-state")),
            extra_worker_args: Vec::new(),
        }
    }

    fn common(&self) -> Vec<String> {
        vec!["--queue-prefix".into(), self.prefix.clone()]
    }

    fn worker(&self) -> Role {
        let mut args = vec!["worker".to_string()];
        args.extend(self.common());
        args.extend([
            "--warehouse".into(),
            self.warehouse.to_str().unwrap().into(),
        ]);
        args.extend(self.extra_worker_args.iter().cloned());
        Role::start(&args)
    }

    fn coordinator(&self) -> Role {
        let mut args = vec!["coordinator".to_string()];
        args.extend(self.common());
        Role::start(&args)
    }

    fn aggregator(&self) -> Role {
        let mut args = vec!["aggregator".to_string()];
        args.extend(self.common());
        args.extend([
            "--warehouse".into(),
            self.warehouse.to_str().unwrap().into(),
            "--results".into(),
            self.results.to_str().unwrap().into(),
            "--state-dir".into(),
            self.state.to_str().unwrap().into(),
        ]);
        Role::start(&args)
    }

    /// Starts `backfill --fleet --wait`.
    fn enqueue(&self, inputs: &Inputs) -> Child {
        let mut args = inputs.backfill_args(&self.warehouse);
        args.extend([
            "--fleet".into(),
            "--wait".into(),
            "--amqp-url".into(),
            AMQP_URL.into(),
        ]);
        args.extend(self.common());
        jetstream()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Deletes the fleet's queues.
    fn cleanup(&self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let Ok(rabbit) =
                jetstream_amqp::RabbitMq::connect(jetstream_amqp::AmqpConfig::new(AMQP_URL)).await
            else {
                return;
            };
            let names = jetstream_proto::queue::QueueNames::with_prefix(&self.prefix);
            for q in names.all() {
                let _ = rabbit.delete_topology(q).await;
            }
            let _ = rabbit.close().await;
        });
    }

    fn dead_letters(&self) -> u32 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let rabbit =
                jetstream_amqp::RabbitMq::connect(jetstream_amqp::AmqpConfig::new(AMQP_URL))
                    .await
                    .unwrap();
            let names = jetstream_proto::queue::QueueNames::with_prefix(&self.prefix);
            let n = rabbit
                .depth(&jetstream_proto::queue::dead_letter_queue(&names.tasks))
                .await
                .unwrap();
            let _ = rabbit.close().await;
            n
        })
    }
}

fn wait_for(mut child: Child, limit: Duration) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the fleet run did not finish within {limit:?}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// Every table of the output schema and the logs (without timestamps), as sorted text rows.
fn tables(warehouse: &Path) -> Vec<(String, Vec<String>)> {
    let conn = duckdb::Connection::open(warehouse).unwrap();
    let mut names: Vec<String> = conn
        .prepare("SELECT table_name FROM information_schema.tables WHERE table_schema = 'mozanalysis' AND table_type = 'BASE TABLE' ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    names.push("\u{0}logs".into());
    names
        .into_iter()
        .map(|name| {
            let sql = if name == "\u{0}logs" {
                "SELECT CAST(COLUMNS(* EXCLUDE (timestamp)) AS VARCHAR) FROM monitoring.logs"
                    .to_string()
            } else {
                format!("SELECT CAST(COLUMNS(*) AS VARCHAR) FROM mozanalysis.\"{name}\"")
            };
            let mut stmt = conn.prepare(&sql).unwrap();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    let n = r.as_ref().column_count();
                    Ok((0..n)
                        .map(|i| {
                            r.get::<_, Option<String>>(i)
                                .unwrap()
                                .unwrap_or_else(|| "NULL".into())
                        })
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            rows.sort();
            (name, rows)
        })
        .collect()
}

/// Every exported JSON file, with the fields that record when it was written removed.
fn exports(results: &Path) -> Vec<(String, serde_json::Value)> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("timestamp");
                map.remove("analysis_start_time");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut out: Vec<(String, serde_json::Value)> = files_under(results)
        .into_iter()
        .map(|path| {
            let mut v = read_json(&path);
            strip(&mut v);
            if let serde_json::Value::Array(items) = &mut v {
                items.sort_by_key(|i| i.to_string());
            }
            (path.strip_prefix(results).unwrap().display().to_string(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn assert_same_outputs(embedded: &(PathBuf, PathBuf), fleet: &Fleet) {
    let (expected, actual) = (tables(&embedded.0), tables(&fleet.warehouse));
    let names = |t: &[(String, Vec<String>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&expected), names(&actual), "the same tables");
    let statistics = expected
        .iter()
        .filter(|(n, _)| n.starts_with("statistics_"))
        .count();
    assert!(
        statistics >= 6,
        "the run analysed several windows of each experiment"
    );
    for ((name, e), (_, a)) in expected.iter().zip(&actual) {
        assert_eq!(e.len(), a.len(), "table {name}: row count");
        assert!(e == a, "table {name}: rows differ");
    }
    let (e, a) = (exports(&embedded.1), exports(&fleet.results));
    assert_eq!(
        e.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        a.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "the same JSON files"
    );
    for ((path, e), (_, a)) in e.iter().zip(&a) {
        assert!(e == a, "{path} differs");
    }
}

fn counter(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn three_workers_match_the_embedded_run_and_every_role_serves_metrics() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !broker_available() {
        return;
    }
    let inputs = inputs();
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
    let inputs = inputs();
    let embedded = inputs.embedded();
    let mut fleet = Fleet::new(&inputs, "kill");
    // Kills count as attempts; give tasks room for many.
    fleet.extra_worker_args = vec!["--max-attempts".into(), "100".into()];
    let _aggregator = fleet.aggregator();
    let _coordinator = fleet.coordinator();
    let mut workers: Vec<Role> = (0..3).map(|_| fleet.worker()).collect();
    let mut run = fleet.enqueue(&inputs);
    let mut kills = 0;
    let started = Instant::now();
    let mut turn = 0usize;
    while kills < 20 {
        assert!(
            run.try_wait().unwrap().is_none() || kills >= 20,
            "the run finished after only {kills} kills; make it longer"
        );
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {kills} kills in 10 minutes"
        );
        turn = (turn + 1) % workers.len();
        let text = workers[turn].scrape();
        if counter(&text, "jetstream_tasks_in_flight", "role=\"worker\"") >= 1.0 {
            // Mid-task: SIGKILL, then a replacement.
            let pid = workers[turn].child.id().to_string();
            Command::new("kill").args(["-KILL", &pid]).status().unwrap();
            let _ = workers[turn].child.wait();
            workers[turn] = fleet.worker();
            kills += 1;
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
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
    let inputs = inputs();
    let mut fleet = Fleet::new(&inputs, "poison");
    let poison = format!(
        "statistics:{}:2025-03-16:week:1:all:enrollments",
        EXTRA_SLUGS[0]
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
        EXTRA_SLUGS[0].replace('-', "_")
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
    for slug in [DEMO_SLUG, EXTRA_SLUGS[1]] {
        let path = fleet.results.join(format!(
            "statistics/statistics_{}_weekly.json",
            slug.replace('-', "_")
        ));
        assert!(path.is_file(), "{} missing", path.display());
    }
    fleet.cleanup();
}
