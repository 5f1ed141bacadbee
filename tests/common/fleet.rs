//! A fleet harness for tests and benchmarks: demo-derived inputs with several experiments, the
//! roles as child processes on a private queue prefix, and readers of their outputs.

use super::*;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEMO_SLUG: &str = "demo-onboarding-callout";
pub const FROM: &str = "2025-03-10";
pub const TO: &str = "2025-03-17";

/// The slug of the `i`-th experiment added to the demo's.
pub fn extra_slug(i: usize) -> String {
    format!("fleet-exp-{i:02}")
}

/// True when the broker is reachable (starting it if needed).
pub fn broker_available() -> bool {
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

/// Inputs shared by the embedded and fleet runs: the demo warehouse with the demo experiment
/// and `extra` more enrolling the same clients.
pub struct Inputs {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub experiments: PathBuf,
    pub configs: PathBuf,
    pub slugs: Vec<String>,
}

pub fn inputs(clients: u32, extra: usize) -> Inputs {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let demo_dir = root.join("demo");
    demo(&demo_dir, clients, 1);
    let extra_slugs: Vec<String> = (0..extra).map(extra_slug).collect();
    // Two more experiments enrolling the same clients under their own slugs.
    let warehouse = demo_dir.join("warehouse.duckdb");
    {
        let conn = duckdb::Connection::open(&warehouse).unwrap();
        for slug in &extra_slugs {
            conn.execute_batch(&format!(
                "INSERT INTO telemetry.events SELECT * REPLACE ('{slug}' AS event_string_value)
                 FROM telemetry.events WHERE event_category = 'normandy' AND event_string_value = '{DEMO_SLUG}'"
            ))
            .unwrap();
        }
    }
    let base: serde_json::Value = read_json(&demo_dir.join("inputs/experiment.json"));
    let mut list = vec![base.clone()];
    for slug in &extra_slugs {
        let mut e = base.clone();
        e["slug"] = slug.as_str().into();
        e["id"] = slug.as_str().into();
        list.push(e);
    }
    let experiments = root.join("experiments.json");
    std::fs::write(&experiments, serde_json::to_string(&list).unwrap()).unwrap();
    let configs = root.join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    let config = std::fs::read_to_string(demo_dir.join("inputs/config.toml")).unwrap();
    let mut slugs = vec![DEMO_SLUG.to_string()];
    slugs.extend(extra_slugs);
    for slug in &slugs {
        std::fs::write(configs.join(format!("{slug}.toml")), &config).unwrap();
    }
    Inputs {
        _dir: dir,
        root,
        experiments,
        configs,
        slugs,
    }
}

impl Inputs {
    /// A fresh copy of the warehouse for one run.
    pub fn warehouse(&self, name: &str) -> PathBuf {
        let to = self.root.join(format!("{name}.duckdb"));
        std::fs::copy(self.root.join("demo/warehouse.duckdb"), &to).unwrap();
        to
    }

    pub fn backfill_args(&self, warehouse: &Path) -> Vec<String> {
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
    pub fn embedded(&self) -> (PathBuf, PathBuf) {
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
pub struct Role {
    pub child: Child,
    pub metrics: String,
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Role {
    pub fn start(args: &[String]) -> Role {
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
    pub fn scrape(&self) -> String {
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
    pub fn terminate(mut self) {
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
pub struct Fleet {
    pub prefix: String,
    pub warehouse: PathBuf,
    pub results: PathBuf,
    pub state: PathBuf,
    pub extra_worker_args: Vec<String>,
    /// The broker flags every process gets: empty for the RabbitMQ at [`AMQP_URL`], or
    /// Pub/Sub's (`--pubsub-project`, `--pubsub-endpoint`).
    pub transport: Vec<String>,
}

impl Fleet {
    pub fn new(inputs: &Inputs, name: &str) -> Fleet {
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
            transport: Vec::new(),
        }
    }

    /// The same fleet on the Pub/Sub emulator at `endpoint`.
    pub fn on_pubsub(mut self, endpoint: &str, ack_deadline_secs: u32) -> Fleet {
        self.transport = vec![
            "--pubsub-project".into(),
            "test-project".into(),
            "--pubsub-endpoint".into(),
            endpoint.into(),
            "--pubsub-ack-deadline-secs".into(),
            ack_deadline_secs.to_string(),
        ];
        self
    }

    fn common(&self) -> Vec<String> {
        let mut args = vec!["--queue-prefix".into(), self.prefix.clone()];
        args.extend(self.transport.iter().cloned());
        args
    }

    pub fn worker(&self) -> Role {
        let mut args = vec!["worker".to_string()];
        args.extend(self.common());
        args.extend([
            "--warehouse".into(),
            self.warehouse.to_str().unwrap().into(),
        ]);
        args.extend(self.extra_worker_args.iter().cloned());
        Role::start(&args)
    }

    pub fn coordinator(&self) -> Role {
        let mut args = vec!["coordinator".to_string()];
        args.extend(self.common());
        Role::start(&args)
    }

    pub fn aggregator(&self) -> Role {
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
    pub fn enqueue(&self, inputs: &Inputs) -> Child {
        let mut args = inputs.backfill_args(&self.warehouse);
        args.extend(["--fleet".into(), "--wait".into()]);
        if self.transport.is_empty() {
            args.extend(["--amqp-url".into(), AMQP_URL.into()]);
        }
        args.extend(self.common());
        jetstream()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Deletes the fleet's queues.
    pub fn cleanup(&self) {
        if !self.transport.is_empty() {
            // Pub/Sub runs on an emulator that goes away with the test.
            return;
        }
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

    pub fn dead_letters(&self) -> u32 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        if let Some(at) = self.transport.iter().position(|a| a == "--pubsub-endpoint") {
            let endpoint = self.transport[at + 1].clone();
            return rt.block_on(async {
                use jetstream_proto::queue::MessageQueue;
                let mut config = jetstream_cloud::pubsub::PubSubConfig::new("test-project");
                config.endpoint = Some(endpoint);
                config.credentials = jetstream_cloud::GoogleCredentials::Anonymous;
                let queue = jetstream_cloud::pubsub::PubSubQueue::connect(config)
                    .await
                    .unwrap();
                let names = jetstream_proto::queue::QueueNames::with_prefix(&self.prefix);
                let dead = jetstream_proto::queue::dead_letter_queue(&names.tasks);
                let mut n = 0;
                while let Ok(Ok(Some(_))) =
                    tokio::time::timeout(Duration::from_secs(3), queue.receive(&dead)).await
                {
                    n += 1;
                }
                n
            });
        }
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

/// SIGKILLs `kills` workers caught mid-task (their in-flight gauge at 1), each replaced by a
/// new one, while `run` goes on; panics if the run ends first or `limit` passes.
pub fn kill_workers_mid_task(
    fleet: &Fleet,
    workers: &mut [Role],
    run: &mut Child,
    kills: u32,
    limit: Duration,
) {
    let started = Instant::now();
    let (mut done, mut turn) = (0, 0usize);
    while done < kills {
        assert!(
            run.try_wait().unwrap().is_none(),
            "the run finished after only {done} kills; make it longer"
        );
        assert!(started.elapsed() < limit, "only {done} kills in {limit:?}");
        turn = (turn + 1) % workers.len();
        let text = workers[turn].scrape();
        if counter(&text, "jetstream_tasks_in_flight", "role=\"worker\"") >= 1.0 {
            // Mid-task: SIGKILL, then a replacement.
            let pid = workers[turn].child.id().to_string();
            Command::new("kill").args(["-KILL", &pid]).status().unwrap();
            let _ = workers[turn].child.wait();
            workers[turn] = fleet.worker();
            done += 1;
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn wait_for(mut child: Child, limit: Duration) -> std::process::Output {
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
pub fn tables(warehouse: &Path) -> Vec<(String, Vec<String>)> {
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
pub fn exports(results: &Path) -> Vec<(String, serde_json::Value)> {
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

pub fn assert_same_outputs(embedded: &(PathBuf, PathBuf), fleet: &Fleet) {
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
        if e != a {
            let only_e: Vec<&String> = e.iter().filter(|r| !a.contains(r)).take(3).collect();
            let only_a: Vec<&String> = a.iter().filter(|r| !e.contains(r)).take(3).collect();
            panic!(
                "table {name}: rows differ\nembedded only: {only_e:#?}\nfleet only: {only_a:#?}"
            );
        }
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

/// The sum of the samples of metric `name` whose labels contain `labels` (all kinds, unless
/// `labels` names one).
pub fn counter(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .sum()
}
