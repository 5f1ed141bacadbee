//! The queue contract on Pub/Sub, against Google's emulator: delivery and ack, requeue,
//! dead-lettering, retries with a higher attempt count, redelivery after a consumer dies, and
//! graceful stop.

mod common;

use common::emulators::{self, Emulator};
use jetstream_cloud::pubsub::{PubSubConfig, PubSubQueue};
use jetstream_cloud::GoogleCredentials;
use jetstream_proto::queue::{dead_letter_queue, Delivery, MessageQueue};
use std::time::Duration;

fn config(emulator: &Emulator) -> PubSubConfig {
    let mut config = PubSubConfig::new(emulators::PROJECT);
    config.endpoint = Some(emulator.url.clone());
    config.credentials = GoogleCredentials::Anonymous;
    // The shortest deadline Pub/Sub allows: how soon a dead consumer's messages return.
    config.ack_deadline = Duration::from_secs(10);
    config
}

async fn connect(emulator: &Emulator) -> PubSubQueue {
    PubSubQueue::connect(config(emulator)).await.unwrap()
}

async fn recv(queue: &PubSubQueue, name: &str, secs: u64) -> Delivery {
    tokio::time::timeout(Duration::from_secs(secs), queue.receive(name))
        .await
        .unwrap_or_else(|_| panic!("nothing on {name} within {secs} s"))
        .unwrap()
        .expect("an open queue")
}

async fn nothing_within(queue: &PubSubQueue, name: &str, secs: u64) {
    if let Ok(got) = tokio::time::timeout(Duration::from_secs(secs), queue.receive(name)).await {
        panic!("unexpected delivery on {name}: {got:?}");
    }
}

fn emulator() -> Option<Emulator> {
    emulators::pubsub()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_receive_ack_round_trips_and_acked_messages_stay_gone() {
    let Some(ps) = emulator() else { return };
    let q = connect(&ps).await;
    q.publish("test.roundtrip", b"one".to_vec()).await.unwrap();
    q.publish("test.roundtrip", b"two".to_vec()).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        let d = recv(&q, "test.roundtrip", 20).await;
        assert_eq!(d.attempt, 1);
        assert!(!d.redelivered);
        got.push(d.payload.clone());
        q.ack(d).await.unwrap();
    }
    got.sort();
    assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
    // A second consumer of the same queue sees nothing once both are acked.
    let other = connect(&ps).await;
    nothing_within(&other, "test.roundtrip", 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeued_message_comes_back_and_a_dead_lettered_one_lands_in_dead() {
    let Some(ps) = emulator() else { return };
    let q = connect(&ps).await;
    q.publish("test.nack", b"again".to_vec()).await.unwrap();
    let d = recv(&q, "test.nack", 20).await;
    q.nack(d, true).await.unwrap();
    let d = recv(&q, "test.nack", 20).await;
    assert_eq!(d.payload, b"again");
    q.nack(d, false).await.unwrap();
    let dead = recv(&q, &dead_letter_queue("test.nack"), 20).await;
    assert_eq!(dead.payload, b"again");
    q.ack(dead).await.unwrap();
    nothing_within(&q, "test.nack", 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_later_comes_back_after_the_delay_with_a_higher_attempt_without_holding_the_consumer()
{
    let Some(ps) = emulator() else { return };
    let q = connect(&ps).await;
    q.publish("test.retry", b"flaky".to_vec()).await.unwrap();
    q.publish("test.retry", b"steady".to_vec()).await.unwrap();
    let first = recv(&q, "test.retry", 20).await;
    let retried_payload = first.payload.clone();
    let started = std::time::Instant::now();
    q.retry_later(first, Duration::from_secs(2)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "retry_later returns at once"
    );
    // The consumer is free: the other message arrives while the first waits.
    let other = recv(&q, "test.retry", 20).await;
    assert_ne!(other.payload, retried_payload);
    q.ack(other).await.unwrap();
    let again = recv(&q, "test.retry", 30).await;
    assert_eq!(again.payload, retried_payload);
    assert_eq!(again.attempt, 2);
    assert!(again.redelivered);
    assert!(started.elapsed() >= Duration::from_secs(2));
    q.retry_later(again, Duration::from_millis(100))
        .await
        .unwrap();
    let third = recv(&q, "test.retry", 30).await;
    assert_eq!(third.attempt, 3);
    q.ack(third).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_dropped_unsettled_is_delivered_again() {
    // A consumer task that died with the message in hand (its delivery dropped unsettled): the
    // message is given back at once. A consumer whose process dies is
    // `a_consumer_process_killed_mid_message_...` below.
    let Some(ps) = emulator() else { return };
    let q = connect(&ps).await;
    q.publish("test.dropped", b"survives".to_vec())
        .await
        .unwrap();
    let held = recv(&q, "test.dropped", 20).await;
    assert_eq!(held.payload, b"survives");
    drop(held);
    let again = recv(&q, "test.dropped", 30).await;
    assert_eq!(again.payload, b"survives");
    assert!(
        again.redelivered && again.attempt >= 2,
        "attempt {}",
        again.attempt
    );
    q.ack(again).await.unwrap();
    nothing_within(&q, "test.dropped", 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_consuming_ends_receive_and_leaves_messages_for_others() {
    let Some(ps) = emulator() else { return };
    let q = std::sync::Arc::new(connect(&ps).await);
    let waiting = {
        let q = q.clone();
        tokio::spawn(async move { q.receive("test.stop").await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    q.stop_consuming("test.stop").await;
    let ended = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("receive returns after stop")
        .unwrap()
        .unwrap();
    assert!(ended.is_none());
    q.publish("test.stop", b"for-someone-else".to_vec())
        .await
        .unwrap();
    let other = connect(&ps).await;
    let d = recv(&other, "test.stop", 30).await;
    assert_eq!(d.payload, b"for-someone-else");
    other.ack(d).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_publishes_are_all_received_once() {
    let Some(ps) = emulator() else { return };
    let q = std::sync::Arc::new(connect(&ps).await);
    let mut publishes = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        let q = q.clone();
        publishes.spawn(async move { q.publish("test.many", i.to_be_bytes().to_vec()).await });
    }
    while let Some(r) = publishes.join_next().await {
        r.unwrap().unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 200 {
        let d = recv(&q, "test.many", 30).await;
        let n = u32::from_be_bytes(d.payload[..4].try_into().unwrap());
        assert!(
            seen.insert(n) || d.redelivered,
            "message {n} delivered twice"
        );
        q.ack(d).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_project_is_refused_before_connecting() {
    let mut config = PubSubConfig::new("Not A Project");
    config.credentials = GoogleCredentials::Anonymous;
    let e = PubSubQueue::connect(config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("Not A Project"), "{e}");
}

/// Not a test: the consumer process that `a_consumer_process_killed_mid_message_...` kills.
/// It takes one message, says so on stdout, and holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process for the crash test, started by it"]
async fn crash_helper_holds_a_message() {
    let endpoint =
        std::env::var("JETSTREAM_PUBSUB_CRASH_HELPER").expect("started by the crash test");
    let mut config = PubSubConfig::new(emulators::PROJECT);
    config.endpoint = Some(endpoint);
    config.credentials = GoogleCredentials::Anonymous;
    config.ack_deadline = Duration::from_secs(10);
    let q = PubSubQueue::connect(config).await.unwrap();
    let held = recv(&q, "test.killed", 30).await;
    println!("HOLDING {}", String::from_utf8_lossy(&held.payload));
    tokio::time::sleep(Duration::from_secs(600)).await;
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_process_killed_mid_message_has_it_redelivered_after_the_ack_deadline() {
    use std::io::BufRead;
    let Some(ps) = emulator() else { return };
    let q = connect(&ps).await;
    q.publish("test.killed", b"orphan".to_vec()).await.unwrap();
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_helper_holds_a_message",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("JETSTREAM_PUBSUB_CRASH_HELPER", &ps.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = helper.stdout.take().unwrap();
    let holding = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("HOLDING orphan"));
    assert!(holding, "the helper took the message");
    helper.kill().unwrap();
    helper.wait().unwrap();
    let killed = std::time::Instant::now();
    let again = recv(&q, "test.killed", 120).await;
    let waited = killed.elapsed();
    eprintln!(
        "redelivered {waited:?} after the consumer was killed (attempt {})",
        again.attempt
    );
    assert_eq!(again.payload, b"orphan");
    assert!(again.attempt >= 2, "the redelivery counts as an attempt");
    q.ack(again).await.unwrap();
}
