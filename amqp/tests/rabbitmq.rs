//! Against a real RabbitMQ (127.0.0.1:5672, guest/guest; `JETSTREAM_TEST_AMQP_URL` overrides).
//! The broker is started with `rabbitmq-server -detached` when it is not running; when it
//! cannot be reached the tests are skipped, except under `CI=true` where they fail.

use jetstream_amqp::{redact, AmqpConfig, AmqpError, RabbitMq};
use jetstream_proto::queue::{dead_letter_queue, Delivery, MessageQueue, QueueError};
use std::collections::HashSet;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn url() -> String {
    std::env::var("JETSTREAM_TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A name no other test (or earlier run) uses.
fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("test.{}.{nanos}.{name}", std::process::id())
}

fn config(name: &str, prefetch: u16) -> AmqpConfig {
    AmqpConfig {
        url: url(),
        prefetch,
        connection_name: unique(&format!("conn.{name}")),
        reconnect_timeout: Duration::from_secs(30),
    }
}

/// Whether the broker is reachable, starting it once if needed.
async fn broker_up() -> bool {
    static STARTED: Mutex<bool> = Mutex::new(false);
    let probe = || RabbitMq::connect(config("probe", 1));
    if let Ok(mq) = probe().await {
        let _ = mq.close().await;
        return true;
    }
    {
        let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
        if !*started {
            *started = true;
            eprintln!(
                "RabbitMQ not reachable at {}; starting rabbitmq-server -detached",
                redact(&url())
            );
            let _ = Command::new("rabbitmq-server").arg("-detached").status();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Ok(mq) = probe().await {
            let _ = mq.close().await;
            return true;
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "!!! RabbitMQ is not reachable at {} and could not be started: the AMQP tests cannot run on CI !!!",
            redact(&url())
        );
    }
    eprintln!(
        "note: RabbitMQ is not reachable at {}; skipping this test",
        redact(&url())
    );
    false
}

async fn connect(name: &str, prefetch: u16) -> RabbitMq {
    match RabbitMq::connect(config(name, prefetch)).await {
        Ok(mq) => mq,
        Err(e) => panic!("connect: {e}"),
    }
}

/// The next delivery, failing the test if none comes within `secs`.
async fn recv(mq: &RabbitMq, queue: &str, secs: u64) -> Delivery {
    match tokio::time::timeout(Duration::from_secs(secs), mq.receive(queue)).await {
        Ok(Ok(Some(d))) => d,
        Ok(Ok(None)) => panic!("receive on {queue} returned None"),
        Ok(Err(e)) => panic!("receive on {queue}: {e}"),
        Err(_) => panic!("nothing received on {queue} within {secs} s"),
    }
}

/// Polls `depth` until it is `want` (the broker updates counts asynchronously).
async fn wait_depth(mq: &RabbitMq, queue: &str, want: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let depth = mq.depth(queue).await.expect("depth");
        if depth == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "depth of {queue} is {depth}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Closes, from the broker side, the connections named `connection_name`; returns how many.
fn kill_connections(connection_name: &str) -> usize {
    let listing = Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .expect("running rabbitmqctl list_connections");
    assert!(
        listing.status.success(),
        "rabbitmqctl list_connections failed: {}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let stdout = String::from_utf8_lossy(&listing.stdout);
    let pids: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains(&format!("\"{connection_name}\"")))
        .filter_map(|line| line.split('\t').next())
        .collect();
    for pid in &pids {
        let status = Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "test"])
            .status()
            .expect("running rabbitmqctl close_connection");
        assert!(
            status.success(),
            "rabbitmqctl close_connection {pid} failed"
        );
    }
    pids.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_receive_ack_round_trips() {
    if !broker_up().await {
        return;
    }
    let mq = connect("roundtrip", 4).await;
    let q = unique("roundtrip");
    let payload = br#"{"task":"round-trip"}"#.to_vec();
    mq.publish(&q, payload.clone()).await.expect("publish");
    let d = recv(&mq, &q, 10).await;
    assert_eq!(d.payload, payload);
    assert_eq!(d.attempt, 1);
    assert!(!d.redelivered);
    assert_eq!(d.queue, q);
    mq.ack(d).await.expect("ack");
    mq.close().await.expect("close");
    // Had the ack been lost, closing would have requeued the message.
    let other = connect("roundtrip.check", 4).await;
    wait_depth(&other, &q, 0).await;
    assert_eq!(other.depth(&dead_letter_queue(&q)).await.expect("depth"), 0);
    other.delete_topology(&q).await.expect("delete");
    other.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_without_requeue_dead_letters() {
    if !broker_up().await {
        return;
    }
    let mq = connect("deadletter", 4).await;
    let q = unique("deadletter");
    mq.publish(&q, b"\"poison\"".to_vec())
        .await
        .expect("publish");
    let d = recv(&mq, &q, 10).await;
    mq.nack(d, false).await.expect("nack");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (payload, headers) = loop {
        if let Some(found) = mq.get_one(&dead_letter_queue(&q)).await.expect("get") {
            break found;
        }
        assert!(Instant::now() < deadline, "nothing in {q}.dead");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(payload, b"\"poison\"");
    assert!(headers.contains("x-death"), "headers: {headers}");
    assert_eq!(mq.depth(&q).await.expect("depth"), 0);
    mq.delete_topology(&q).await.expect("delete");
    mq.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_later_comes_back_after_the_delay_with_a_higher_attempt() {
    if !broker_up().await {
        return;
    }
    let mq = connect("retrylater", 4).await;
    let q = unique("retrylater");
    let payload = b"{\"retry\":true}".to_vec();
    mq.publish(&q, payload.clone()).await.expect("publish");
    let d = recv(&mq, &q, 10).await;
    assert_eq!(d.attempt, 1);

    let delay = Duration::from_millis(200);
    let started = Instant::now();
    mq.retry_later(d, delay).await.expect("retry_later");
    let d = recv(&mq, &q, 10).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(190),
        "came back after {waited:?}"
    );
    assert_eq!(d.payload, payload);
    assert_eq!(d.attempt, 2);

    let started = Instant::now();
    mq.retry_later(d, delay).await.expect("second retry_later");
    let d = recv(&mq, &q, 10).await;
    assert!(started.elapsed() >= Duration::from_millis(190));
    assert_eq!(d.attempt, 3);
    mq.ack(d).await.expect("ack");

    wait_depth(&mq, &q, 0).await;
    assert_eq!(mq.depth(&format!("{q}.retry")).await.expect("depth"), 0);
    assert_eq!(mq.depth(&dead_letter_queue(&q)).await.expect("depth"), 0);
    mq.delete_topology(&q).await.expect("delete");
    mq.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_delivery_of_a_closed_consumer_is_redelivered_elsewhere() {
    if !broker_up().await {
        return;
    }
    let q = unique("crash");
    let first = connect("crash.first", 4).await;
    first
        .publish(&q, b"\"job\"".to_vec())
        .await
        .expect("publish");
    let d = recv(&first, &q, 10).await;
    assert_eq!(d.attempt, 1);
    // The consumer "crashes": its connection goes away without an ack.
    drop(d);
    first.close().await.expect("close");
    drop(first);

    let second = connect("crash.second", 4).await;
    let d = recv(&second, &q, 10).await;
    assert_eq!(d.payload, b"\"job\"");
    assert!(d.redelivered);
    assert!(d.attempt >= 2, "attempt {}", d.attempt);
    second.ack(d).await.expect("ack");
    wait_depth(&second, &q, 0).await;
    second.delete_topology(&q).await.expect("delete");
    second.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_survives_the_broker_closing_the_connection() {
    if !broker_up().await {
        return;
    }
    let cfg = config("reconnect", 8);
    let connection_name = cfg.connection_name.clone();
    let mq = RabbitMq::connect(cfg).await.expect("connect");
    let q = unique("reconnect");
    let generation = mq.generation().expect("connected");

    // Three messages: two acked, one held unacked across the connection loss.
    for i in 0..3 {
        mq.publish(&q, format!("\"pre-{i}\"").into_bytes())
            .await
            .expect("publish");
    }
    let mut expected: HashSet<Vec<u8>> = HashSet::new();
    let mut held = None;
    for _ in 0..3 {
        let d = recv(&mq, &q, 10).await;
        if held.is_none() {
            expected.insert(d.payload.clone());
            held = Some(d);
        } else {
            mq.ack(d).await.expect("ack");
        }
    }
    let held = held.expect("a held delivery");

    // A receiver blocked on the (now empty) queue while the connection dies.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let receiver = {
        let mq = mq.clone();
        let q = q.clone();
        tokio::spawn(async move {
            while let Some(d) = mq.receive(&q).await? {
                let _ = tx.send(d.payload.clone());
                match mq.ack(d).await {
                    Ok(()) | Err(QueueError::UnknownDelivery { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok::<(), QueueError>(())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let name = connection_name.clone();
    let killed = tokio::task::spawn_blocking(move || kill_connections(&name))
        .await
        .expect("rabbitmqctl");
    assert_eq!(
        killed, 1,
        "expected to close one connection named {connection_name}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while mq.generation() == Some(generation) && mq.is_connected() {
        assert!(
            Instant::now() < deadline,
            "the client never noticed the close"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The broker has requeued the held message: it can no longer be settled.
    assert!(matches!(
        mq.ack(held).await,
        Err(QueueError::UnknownDelivery { .. })
    ));

    for i in 0..5 {
        let payload = format!("\"post-{i}\"").into_bytes();
        mq.publish(&q, payload.clone())
            .await
            .expect("publish after the close");
        expected.insert(payload);
    }
    let mut seen = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !expected.is_subset(&seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(payload)) => {
                seen.insert(payload);
            }
            Ok(None) => panic!("the receiver stopped: {:?}", receiver.await),
            Err(_) => panic!(
                "missing after 60 s: {:?}",
                expected.difference(&seen).collect::<Vec<_>>()
            ),
        }
    }
    assert!(mq.generation() > Some(generation));
    mq.stop_consuming(&q).await.expect("stop");
    receiver
        .await
        .expect("receiver task")
        .expect("receive never failed");
    wait_depth(&mq, &q, 0).await;
    mq.delete_topology(&q).await.expect("delete");
    mq.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_are_all_confirmed_and_received() {
    if !broker_up().await {
        return;
    }
    const TOTAL: usize = 2_000;
    const TASKS: usize = 32;
    let mq = connect("throughput", 200).await;
    let q = unique("throughput");
    // Declare first so the timing measures publishing only.
    assert_eq!(mq.depth(&q).await.expect("depth"), 0);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let mq = mq.clone();
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            for i in (t..TOTAL).step_by(TASKS) {
                mq.publish(&q, format!("{{\"n\":{i}}}").into_bytes())
                    .await?;
            }
            Ok::<(), QueueError>(())
        }));
    }
    for task in tasks {
        task.await.expect("publisher task").expect("publish");
    }
    let elapsed = started.elapsed();
    println!(
        "published {TOTAL} messages with confirms from {TASKS} tasks in {elapsed:?}: {:.0} msg/s",
        TOTAL as f64 / elapsed.as_secs_f64()
    );

    let started = Instant::now();
    let mut seen = HashSet::new();
    while seen.len() < TOTAL {
        let d = recv(&mq, &q, 30).await;
        seen.insert(d.payload.clone());
        mq.ack(d).await.expect("ack");
    }
    let elapsed = started.elapsed();
    println!(
        "received and acked {TOTAL} messages in {elapsed:?}: {:.0} msg/s",
        TOTAL as f64 / elapsed.as_secs_f64()
    );
    let expected: HashSet<Vec<u8>> = (0..TOTAL)
        .map(|i| format!("{{\"n\":{i}}}").into_bytes())
        .collect();
    assert_eq!(seen, expected);
    mq.stop_consuming(&q).await.expect("stop");
    wait_depth(&mq, &q, 0).await;
    mq.delete_topology(&q).await.expect("delete");
    mq.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_consuming_hands_back_prefetched_messages() {
    if !broker_up().await {
        return;
    }
    let q = unique("stop");
    let mq = connect("stop", 10).await;
    for i in 0..5 {
        mq.publish(&q, format!("\"m{i}\"").into_bytes())
            .await
            .expect("publish");
    }
    let d = recv(&mq, &q, 10).await;
    // Let the other four arrive in the prefetch buffer.
    wait_depth(&mq, &q, 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    mq.stop_consuming(&q).await.expect("stop");
    let after = tokio::time::timeout(Duration::from_secs(5), mq.receive(&q))
        .await
        .expect("receive returns at once after stop_consuming")
        .expect("receive");
    assert!(after.is_none());
    wait_depth(&mq, &q, 4).await;

    // Another consumer gets the four at once, while `d` is still held (so its channel is
    // open: they came back because they were handed back, not because the channel closed).
    let other = connect("stop.other", 10).await;
    let mut rest = HashSet::new();
    for _ in 0..4 {
        let r = recv(&other, &q, 10).await;
        assert_ne!(r.payload, d.payload);
        rest.insert(r.payload.clone());
        other.ack(r).await.expect("ack");
    }
    assert_eq!(rest.len(), 4);
    // A delivery received before the stop can still be settled.
    mq.ack(d).await.expect("ack after stop_consuming");
    wait_depth(&other, &q, 0).await;
    other.delete_topology(&q).await.expect("delete");
    other.close().await.expect("close");
    mq.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_existing_queue_fails_clearly_without_retrying() {
    if !broker_up().await {
        return;
    }
    let q = unique("inequivalent");
    // Someone declared `q` as a classic queue without our arguments.
    let raw = lapin::Connection::connect(&url(), lapin::ConnectionProperties::default())
        .await
        .expect("raw connect");
    let channel = raw.create_channel().await.expect("channel");
    channel
        .queue_declare(
            q.as_str().into(),
            lapin::options::QueueDeclareOptions::durable(),
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("declare");

    let mq = connect("inequivalent", 4).await;
    let started = Instant::now();
    let err = mq
        .publish(&q, b"1".to_vec())
        .await
        .expect_err("publishing over an inequivalent queue");
    assert!(started.elapsed() < Duration::from_secs(10), "it retried");
    let message = err.to_string();
    assert!(
        message.contains("PRECONDITION_FAILED") || message.contains("inequivalent"),
        "{message}"
    );
    // The transport still works for other queues.
    let ok = unique("inequivalent.ok");
    mq.publish(&ok, b"1".to_vec()).await.expect("publish");
    mq.delete_topology(&ok).await.expect("delete");
    mq.delete_topology(&q).await.expect("delete");
    mq.close().await.expect("close");
    let _ = raw.close(200, "OK".into()).await;
}

#[tokio::test]
async fn connect_errors_name_the_url_without_the_password() {
    let config = AmqpConfig {
        url: "amqp://guest:sekrit-pw@127.0.0.1:1/%2f".to_string(),
        ..AmqpConfig::default()
    };
    let err = RabbitMq::connect(config)
        .await
        .expect_err("nothing listens on port 1");
    let AmqpError::Connect { url, .. } = &err else {
        panic!("expected a connection error, got {err}");
    };
    assert_eq!(url, "amqp://guest:REDACTED@127.0.0.1:1/%2f");
    let message = err.to_string();
    assert!(
        message.contains("amqp://guest:REDACTED@127.0.0.1:1/%2f"),
        "{message}"
    );
    assert!(!message.contains("sekrit"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_reported_without_it() {
    if !broker_up().await {
        return;
    }
    let mut config = config("badpw", 1);
    config.url = config
        .url
        .replacen("guest:guest@", "guest:wrong-sekrit@", 1);
    if !config.url.contains("wrong-sekrit") {
        return; // a custom URL without guest credentials
    }
    let err = RabbitMq::connect(config).await.expect_err("wrong password");
    let message = err.to_string();
    assert!(message.contains("REDACTED"), "{message}");
    assert!(!message.contains("wrong-sekrit"), "{message}");
}

/// Many processes publishing first to a queue nobody has declared yet (workers starting at
/// once): RabbitMQ may nack while the new quorum queue has no leader; every publish must still
/// succeed, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_publishes_from_many_connections_to_a_new_queue_all_land() {
    if !broker_up().await {
        return;
    }
    let q = unique("first-publishes");
    let mut publishers = Vec::new();
    for i in 0..16 {
        publishers.push(connect(&format!("first-publishes.{i}"), 1).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mq) in publishers.iter().enumerate() {
        let (mq, q) = (mq.clone(), q.clone());
        tasks.spawn(async move { mq.publish(&q, format!("{i}").into_bytes()).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("publish confirmed");
    }
    let check = connect("first-publishes.check", 1).await;
    wait_depth(&check, &q, 16).await;
    check.delete_topology(&q).await.expect("delete");
    for mq in publishers {
        mq.close().await.expect("close");
    }
    check.close().await.expect("close");
}
