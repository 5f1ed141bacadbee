//! The task queue seam: at-least-once delivery with explicit acknowledgement.
//!
//! The contract every transport satisfies (the in-process one here, RabbitMQ and Pub/Sub in
//! their crates):
//! - a published message is delivered at least once, to one consumer at a time;
//! - a delivery stays owned by its consumer until it is acked (done) or nacked (requeued, or
//!   dead-lettered when `requeue` is false);
//! - a delivery that is neither acked nor nacked within the ack timeout, or whose [`Delivery`]
//!   is dropped (the consumer crashed), is redelivered with `redelivered = true`;
//! - consumers must therefore be idempotent, and the aggregator de-duplicates results by task id.

use async_trait::async_trait;
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::Notify;

/// The queues of one fleet, all named `<prefix>.<role>` so that several fleets (or tests) can
/// share a broker without seeing each other's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNames {
    /// Run requests (an experiment and its dates) for the coordinator.
    pub runs: String,
    /// Tasks for the workers.
    pub tasks: String,
    /// Task results and finalize requests for the aggregator.
    pub results: String,
    /// Progress notices and written-outputs notices for the coordinator.
    pub progress: String,
}

impl QueueNames {
    /// The default prefix (`jetstream.tasks`, ...).
    pub const DEFAULT_PREFIX: &'static str = "jetstream";

    /// The queues named under `prefix`.
    pub fn with_prefix(prefix: &str) -> QueueNames {
        QueueNames {
            runs: format!("{prefix}.runs"),
            tasks: format!("{prefix}.tasks"),
            results: format!("{prefix}.results"),
            progress: format!("{prefix}.progress"),
        }
    }

    /// Every queue, in a fixed order (for declaring and inspecting them).
    pub fn all(&self) -> [&str; 4] {
        [&self.runs, &self.tasks, &self.results, &self.progress]
    }
}

impl Default for QueueNames {
    fn default() -> Self {
        QueueNames::with_prefix(Self::DEFAULT_PREFIX)
    }
}

/// Treats settling a delivery the transport no longer knows (its connection dropped, so the
/// broker has already handed the message out again) as done: the redelivery is answered by
/// whoever receives it, and duplicates are dropped by task id. Other errors pass through.
pub fn ignore_stale(result: Result<(), QueueError>) -> Result<(), QueueError> {
    match result {
        Err(QueueError::UnknownDelivery { queue, tag }) => {
            tracing::warn!(%queue, tag, "delivery went stale (connection dropped); it will be redelivered");
            Ok(())
        }
        other => other,
    }
}

/// The dead-letter queue of `queue`: where poison messages end up, for an operator to inspect.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

/// Failures of a queue transport.
#[derive(Debug, Error)]
pub enum QueueError {
    #[error("queue '{0}' is closed")]
    Closed(String),
    #[error(
        "delivery {tag} on queue '{queue}' is not outstanding (already acked, nacked or expired)"
    )]
    UnknownDelivery { queue: String, tag: u64 },
    #[error("queue transport error: {0}")]
    Transport(String),
}

/// A message handed to a consumer.
pub struct Delivery {
    pub queue: String,
    pub tag: u64,
    pub payload: Vec<u8>,
    /// True when an earlier delivery of this message was not acknowledged.
    pub redelivered: bool,
    /// 1 for the first delivery, incremented on each redelivery.
    pub attempt: u32,
    settle_on_drop: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    /// What another transport needs to settle the delivery (e.g. its acker).
    handle: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", &self.queue)
            .field("tag", &self.tag)
            .field("bytes", &self.payload.len())
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl Delivery {
    /// A delivery of a transport defined in another crate, carrying the `handle` it settles
    /// the delivery with. Dropping it does nothing: such transports redeliver what their
    /// consumer leaves unacknowledged when its channel closes.
    pub fn from_transport(
        queue: &str,
        tag: u64,
        payload: Vec<u8>,
        redelivered: bool,
        attempt: u32,
        handle: Box<dyn Any + Send + Sync>,
    ) -> Delivery {
        Delivery {
            queue: queue.to_string(),
            tag,
            payload,
            redelivered,
            attempt,
            settle_on_drop: None,
            handle: Some(handle),
        }
    }

    /// The transport's handle, if it is of type `T`.
    pub fn handle<T: 'static>(&self) -> Option<&T> {
        self.handle.as_ref()?.downcast_ref::<T>()
    }

    fn settled(mut self) {
        self.settle_on_drop = None;
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(requeue) = self.settle_on_drop.take() {
            requeue(self.tag);
        }
    }
}

/// A transport for named queues of opaque messages.
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Publishes `payload` to `queue`; returns once the transport has accepted it.
    async fn publish(&self, queue: &str, payload: Vec<u8>) -> Result<(), QueueError>;
    /// Waits for the next message; `Ok(None)` once the queue is closed and drained.
    async fn receive(&self, queue: &str) -> Result<Option<Delivery>, QueueError>;
    /// Marks a delivery done.
    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError>;
    /// Gives a delivery back: requeued for redelivery, or dead-lettered when `requeue` is false.
    async fn nack(&self, delivery: Delivery, requeue: bool) -> Result<(), QueueError>;
    /// Settles `delivery` and delivers its message again after `delay`, with its attempt count
    /// one higher: the backoff between retries of a failed task, without holding a consumer.
    async fn retry_later(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError>;
}

struct Message {
    payload: Vec<u8>,
    attempt: u32,
}

#[derive(Default)]
struct QueueState {
    ready: VecDeque<Message>,
    unacked: HashMap<u64, (Message, Instant)>,
    dead: Vec<Vec<u8>>,
    /// Messages waiting out a retry delay: neither ready nor in flight, but not finished.
    delayed: usize,
    closed: bool,
}

struct Shared {
    queues: Mutex<HashMap<String, QueueState>>,
    notify: Notify,
    next_tag: AtomicU64,
    ack_timeout: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, QueueState>> {
        // A poisoned lock only means another thread panicked mid-operation; the state itself
        // is always left consistent by the short critical sections below.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn requeue(&self, queue: &str, tag: u64) {
        let mut queues = self.lock();
        if let Some(state) = queues.get_mut(queue) {
            if let Some((msg, _)) = state.unacked.remove(&tag) {
                state.ready.push_front(msg);
            }
        }
        drop(queues);
        self.notify.notify_waiters();
    }
}

/// The embedded transport: queues in memory, shared by the tasks of one process.
#[derive(Clone)]
pub struct InProcessQueue {
    shared: Arc<Shared>,
}

impl Default for InProcessQueue {
    fn default() -> Self {
        InProcessQueue::new(Duration::from_secs(30 * 60))
    }
}

impl InProcessQueue {
    /// A queue set whose deliveries are redelivered when not settled within `ack_timeout`.
    pub fn new(ack_timeout: Duration) -> InProcessQueue {
        InProcessQueue {
            shared: Arc::new(Shared {
                queues: Mutex::new(HashMap::new()),
                notify: Notify::new(),
                next_tag: AtomicU64::new(1),
                ack_timeout,
            }),
        }
    }

    /// Closes `queue`: consumers drain what is left, then receive `None`.
    pub fn close(&self, queue: &str) {
        self.shared
            .lock()
            .entry(queue.to_string())
            .or_default()
            .closed = true;
        self.shared.notify.notify_waiters();
    }

    /// Messages nacked without requeue on `queue` (the dead-letter queue).
    pub fn dead_letters(&self, queue: &str) -> Vec<Vec<u8>> {
        self.shared
            .lock()
            .get(queue)
            .map(|s| s.dead.clone())
            .unwrap_or_default()
    }

    /// Messages waiting or in flight on `queue`.
    pub fn depth(&self, queue: &str) -> usize {
        self.shared
            .lock()
            .get(queue)
            .map(|s| s.ready.len() + s.unacked.len())
            .unwrap_or(0)
    }

    /// Takes a ready message, first returning expired deliveries to the queue. Returns the
    /// message, or the earliest deadline to wake up for, or that the queue is finished.
    fn try_take(&self, queue: &str) -> Take {
        let now = Instant::now();
        let mut queues = self.shared.lock();
        let state = queues.entry(queue.to_string()).or_default();
        let expired: Vec<u64> = state
            .unacked
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(tag, _)| *tag)
            .collect();
        for tag in expired {
            if let Some((msg, _)) = state.unacked.remove(&tag) {
                state.ready.push_back(msg);
            }
        }
        if let Some(mut msg) = state.ready.pop_front() {
            // Moved from ready to unacked under one lock, so no consumer ever sees the queue
            // empty while a message is between the two.
            msg.attempt += 1;
            let (attempt, payload) = (msg.attempt, msg.payload.clone());
            let tag = self.shared.next_tag.fetch_add(1, Ordering::Relaxed);
            state
                .unacked
                .insert(tag, (msg, now + self.shared.ack_timeout));
            return Take::Message(tag, payload, attempt);
        }
        if state.closed && state.unacked.is_empty() && state.delayed == 0 {
            return Take::Finished;
        }
        Take::Wait(state.unacked.values().map(|(_, d)| *d).min())
    }

    fn settle(&self, delivery: &Delivery) -> Result<Message, QueueError> {
        let mut queues = self.shared.lock();
        queues
            .get_mut(&delivery.queue)
            .and_then(|s| s.unacked.remove(&delivery.tag))
            .map(|(msg, _)| msg)
            .ok_or_else(|| QueueError::UnknownDelivery {
                queue: delivery.queue.clone(),
                tag: delivery.tag,
            })
    }
}

enum Take {
    Message(u64, Vec<u8>, u32),
    Wait(Option<Instant>),
    Finished,
}

#[async_trait]
impl MessageQueue for InProcessQueue {
    async fn publish(&self, queue: &str, payload: Vec<u8>) -> Result<(), QueueError> {
        {
            let mut queues = self.shared.lock();
            let state = queues.entry(queue.to_string()).or_default();
            if state.closed {
                return Err(QueueError::Closed(queue.to_string()));
            }
            state.ready.push_back(Message {
                payload,
                attempt: 0,
            });
        }
        self.shared.notify.notify_waiters();
        Ok(())
    }

    async fn receive(&self, queue: &str) -> Result<Option<Delivery>, QueueError> {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_take(queue) {
                Take::Message(tag, payload, attempt) => {
                    let shared = Arc::clone(&self.shared);
                    let name = queue.to_string();
                    return Ok(Some(Delivery {
                        queue: queue.to_string(),
                        tag,
                        payload,
                        redelivered: attempt > 1,
                        attempt,
                        settle_on_drop: Some(Arc::new(move |tag| shared.requeue(&name, tag))),
                        handle: None,
                    }));
                }
                Take::Finished => return Ok(None),
                Take::Wait(Some(deadline)) => {
                    let sleep = tokio::time::sleep_until(deadline.into());
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = sleep => {}
                    }
                }
                Take::Wait(None) => notified.await,
            }
        }
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        let result = self.settle(&delivery).map(|_| ());
        delivery.settled();
        self.shared.notify.notify_waiters();
        result
    }

    async fn nack(&self, delivery: Delivery, requeue: bool) -> Result<(), QueueError> {
        let msg = self.settle(&delivery);
        let queue = delivery.queue.clone();
        delivery.settled();
        let msg = msg?;
        {
            let mut queues = self.shared.lock();
            let state = queues.entry(queue).or_default();
            if requeue {
                state.ready.push_back(msg);
            } else {
                state.dead.push(msg.payload);
            }
        }
        self.shared.notify.notify_waiters();
        Ok(())
    }

    async fn retry_later(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        let msg = self.settle(&delivery);
        let queue = delivery.queue.clone();
        delivery.settled();
        let msg = msg?;
        self.shared.lock().entry(queue.clone()).or_default().delayed += 1;
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            {
                let mut queues = shared.lock();
                let state = queues.entry(queue).or_default();
                state.delayed -= 1;
                state.ready.push_back(msg);
            }
            shared.notify.notify_waiters();
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ack_removes_and_close_drains() {
        let q = InProcessQueue::default();
        q.publish("t", b"a".to_vec()).await.unwrap();
        q.publish("t", b"b".to_vec()).await.unwrap();
        q.close("t");
        let d = q.receive("t").await.unwrap().unwrap();
        assert_eq!(d.payload, b"a");
        q.ack(d).await.unwrap();
        let d = q.receive("t").await.unwrap().unwrap();
        assert_eq!(d.payload, b"b");
        assert!(!d.redelivered);
        q.ack(d).await.unwrap();
        assert!(q.receive("t").await.unwrap().is_none());
        assert!(q.publish("t", b"c".to_vec()).await.is_err());
    }

    #[tokio::test]
    async fn dropped_delivery_is_redelivered() {
        let q = InProcessQueue::default();
        q.publish("t", b"x".to_vec()).await.unwrap();
        let d = q.receive("t").await.unwrap().unwrap();
        drop(d); // the consumer "crashed"
        let d = q.receive("t").await.unwrap().unwrap();
        assert!(d.redelivered);
        assert_eq!(d.attempt, 2);
        q.ack(d).await.unwrap();
        assert_eq!(q.depth("t"), 0);
    }

    #[tokio::test]
    async fn unacked_delivery_expires_and_is_redelivered() {
        let q = InProcessQueue::new(Duration::from_millis(50));
        q.publish("t", b"x".to_vec()).await.unwrap();
        let first = q.receive("t").await.unwrap().unwrap();
        // Keep `first` alive (a stalled consumer); the message comes back after the timeout.
        let second = tokio::time::timeout(Duration::from_secs(5), q.receive("t"))
            .await
            .expect("redelivered after the ack timeout")
            .unwrap()
            .unwrap();
        assert_eq!(second.attempt, 2);
        q.ack(second).await.unwrap();
        // The stale delivery can no longer be acked.
        assert!(matches!(
            q.ack(first).await,
            Err(QueueError::UnknownDelivery { .. })
        ));
    }

    #[tokio::test]
    async fn nack_requeues_or_dead_letters() {
        let q = InProcessQueue::default();
        q.publish("t", b"x".to_vec()).await.unwrap();
        let d = q.receive("t").await.unwrap().unwrap();
        q.nack(d, true).await.unwrap();
        let d = q.receive("t").await.unwrap().unwrap();
        assert_eq!(d.attempt, 2);
        q.nack(d, false).await.unwrap();
        assert_eq!(q.dead_letters("t"), vec![b"x".to_vec()]);
        assert_eq!(q.depth("t"), 0);
    }

    #[tokio::test]
    async fn retry_later_redelivers_after_the_delay_and_keeps_a_closed_queue_open() {
        let q = InProcessQueue::default();
        q.publish("t", b"x".to_vec()).await.unwrap();
        q.close("t");
        let d = q.receive("t").await.unwrap().unwrap();
        let started = Instant::now();
        q.retry_later(d, Duration::from_millis(50)).await.unwrap();
        let d = q
            .receive("t")
            .await
            .unwrap()
            .expect("not finished while delayed");
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(d.attempt, 2);
        q.ack(d).await.unwrap();
        assert!(q.receive("t").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn concurrent_consumers_each_get_distinct_messages() {
        let q = InProcessQueue::default();
        for i in 0..100u32 {
            q.publish("t", i.to_le_bytes().to_vec()).await.unwrap();
        }
        q.close("t");
        let mut handles = Vec::new();
        for _ in 0..4 {
            let q = q.clone();
            handles.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(d) = q.receive("t").await.unwrap() {
                    got.push(u32::from_le_bytes(d.payload.clone().try_into().unwrap()));
                    q.ack(d).await.unwrap();
                }
                got
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }
}
