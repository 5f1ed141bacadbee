//! Pub/Sub as the fleet's queue transport, with the contract the RabbitMQ transport keeps.
//!
//! Each queue `q` is a topic `q` with one subscription `q` that every consumer of the queue
//! shares (competing consumers), and a dead-letter topic `q.dead` with a subscription
//! `q.dead` that keeps what lands there for an operator. Consumers use streaming pull, whose
//! leases are extended while a message is in hand; a consumer that dies leaves its messages to
//! be redelivered when their ack deadline passes.
//!
//! - `ack` acknowledges; `nack(requeue)` makes the message available again at once;
//! - `nack(dead-letter)` publishes the message to `q.dead`, then acknowledges it;
//! - `retry_later(delay)` keeps the message leased for `delay`, then publishes a copy whose
//!   `jetstream-attempt` attribute is one higher and acknowledges the original: a crash in
//!   between leaves the original to be redelivered (a duplicate the aggregator drops);
//! - the attempt count is `jetstream-attempt` plus the redeliveries Pub/Sub counts (its
//!   `delivery_attempt`, reported where the subscription has a dead-letter policy). The
//!   subscription's policy (`max_delivery_attempts`) dead-letters a message that keeps
//!   killing its consumers.

use crate::auth::{CredentialsError, GoogleCredentials};
use async_trait::async_trait;
use google_cloud_pubsub::client::{Publisher, Subscriber, SubscriptionAdmin, TopicAdmin};
use google_cloud_pubsub::model::{DeadLetterPolicy, Message, Subscription};
use google_cloud_pubsub::subscriber::handler::Handler;
use jetstream_proto::queue::{dead_letter_queue, Delivery, MessageQueue, QueueError};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The attribute carrying a retried message's attempt number.
pub const ATTEMPT_ATTRIBUTE: &str = "jetstream-attempt";

/// How to reach Pub/Sub and how consumers behave.
#[derive(Debug, Clone)]
pub struct PubSubConfig {
    pub project: String,
    /// An emulator's URL (`http://127.0.0.1:8085`); `None` for Google.
    pub endpoint: Option<String>,
    pub credentials: GoogleCredentials,
    /// Messages a consumer holds at once (the analogue of AMQP prefetch).
    pub prefetch: u16,
    /// The subscription's ack deadline: how soon a dead consumer's messages come back.
    pub ack_deadline: Duration,
    /// Deliveries after which Pub/Sub itself dead-letters a message (5 to 100).
    pub max_delivery_attempts: i32,
}

impl PubSubConfig {
    pub fn new(project: &str) -> PubSubConfig {
        PubSubConfig {
            project: project.to_string(),
            endpoint: None,
            credentials: GoogleCredentials::Default,
            prefetch: 1,
            ack_deadline: Duration::from_secs(30),
            max_delivery_attempts: 20,
        }
    }
}

/// Why the transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("invalid Pub/Sub project '{0}': expected lowercase letters, digits and '-'")]
    InvalidProject(String),
    #[error("cannot set up the Pub/Sub client: {0}")]
    Client(String),
}

/// Messages a consumer may hold beyond its prefetch while they wait out a retry delay.
const RETRY_SLOTS: i64 = 2;

/// The Pub/Sub transport.
pub struct PubSubQueue {
    inner: Arc<Inner>,
}

struct Inner {
    config: PubSubConfig,
    credentials: google_cloud_auth::credentials::Credentials,
    topics: TopicAdmin,
    subscriptions: SubscriptionAdmin,
    subscriber: Subscriber,
    publishers: tokio::sync::Mutex<HashMap<String, Publisher>>,
    streams: Mutex<
        HashMap<
            String,
            Arc<tokio::sync::Mutex<Option<google_cloud_pubsub::subscriber::MessageStream>>>,
        >,
    >,
    declared: tokio::sync::Mutex<HashSet<String>>,
    /// Queues whose consumers were told to stop, and the tokens that stop their streams.
    stopped: Mutex<HashSet<String>>,
    shutdown_tokens: Mutex<HashMap<String, google_cloud_pubsub::subscriber::ShutdownToken>>,
    stop: tokio::sync::Notify,
    next_tag: AtomicU64,
}

/// What settles a delivery: the lease handler (taken once) and the message's attributes.
struct Lease {
    handler: Mutex<Option<Handler>>,
    attributes: HashMap<String, String>,
}

impl Lease {
    fn take(&self, delivery: &Delivery) -> Result<Handler, QueueError> {
        lock(&self.handler)
            .take()
            .ok_or(QueueError::UnknownDelivery {
                queue: delivery.queue.clone(),
                tag: delivery.tag,
            })
    }
}

fn transport(doing: &str, error: impl std::fmt::Display) -> QueueError {
    QueueError::Transport(format!("Pub/Sub: {doing}: {error}"))
}

fn already_exists(error: &google_cloud_pubsub::Error) -> bool {
    error.http_status_code() == Some(409)
        || error
            .status()
            .is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::AlreadyExists)
}

impl PubSubQueue {
    /// Connects (lazily: topics and subscriptions are created on first use).
    pub async fn connect(config: PubSubConfig) -> Result<PubSubQueue, PubSubError> {
        if !crate::bigquery::is_project_id(&config.project) {
            return Err(PubSubError::InvalidProject(config.project));
        }
        let credentials = config.credentials.build()?;
        let endpoint = config.endpoint.clone();
        macro_rules! build {
            ($builder:expr) => {{
                let mut builder = $builder.with_credentials(credentials.clone());
                if let Some(endpoint) = &endpoint {
                    builder = builder.with_endpoint(endpoint.clone());
                }
                builder
                    .build()
                    .await
                    .map_err(|e| PubSubError::Client(e.to_string()))?
            }};
        }
        let topics = build!(TopicAdmin::builder());
        let subscriptions = build!(SubscriptionAdmin::builder());
        let subscriber = build!(Subscriber::builder());
        Ok(PubSubQueue {
            inner: Arc::new(Inner {
                config,
                credentials,
                topics,
                subscriptions,
                subscriber,
                publishers: tokio::sync::Mutex::new(HashMap::new()),
                streams: Mutex::new(HashMap::new()),
                declared: tokio::sync::Mutex::new(HashSet::new()),
                stopped: Mutex::new(HashSet::new()),
                shutdown_tokens: Mutex::new(HashMap::new()),
                stop: tokio::sync::Notify::new(),
                next_tag: AtomicU64::new(1),
            }),
        })
    }
}

impl PubSubQueue {
    /// Stops handing out messages of `queue` (graceful shutdown): waiting and later `receive`
    /// calls return `Ok(None)`; messages in hand can still be acked, and the rest go back to
    /// the subscription for other consumers.
    pub async fn stop_consuming(&self, queue: &str) {
        lock(&self.inner.stopped).insert(queue.to_string());
        self.inner.stop.notify_waiters();
        let token = lock(&self.inner.shutdown_tokens).remove(queue);
        let slot = self.inner.stream_slot(queue);
        tokio::spawn(async move {
            // Once the messages in hand are settled, the stream is closed, so the server stops
            // sending this consumer anything.
            if let Some(token) = token {
                token.shutdown().await;
            }
            slot.lock().await.take();
        });
    }

    /// Deletes `queue`'s subscription and topic (not its dead-letter pair): for short-lived
    /// reply queues.
    pub async fn delete_queue(&self, queue: &str) -> Result<(), QueueError> {
        self.stop_consuming(queue).await;
        let inner = &self.inner;
        if let Err(e) = inner
            .subscriptions
            .delete_subscription()
            .set_subscription(inner.subscription(queue))
            .send()
            .await
        {
            if e.http_status_code() != Some(404) {
                return Err(transport(&format!("deleting subscription {queue}"), e));
            }
        }
        if let Err(e) = inner
            .topics
            .delete_topic()
            .set_topic(inner.topic(queue))
            .send()
            .await
        {
            if e.http_status_code() != Some(404) {
                return Err(transport(&format!("deleting topic {queue}"), e));
            }
        }
        inner.declared.lock().await.remove(queue);
        Ok(())
    }

    /// The project's name for `queue`'s dead-letter subscription, for operators.
    pub fn dead_letter_subscription(&self, queue: &str) -> String {
        self.inner.subscription(&dead_letter_queue(queue))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn topic(&self, queue: &str) -> String {
        format!("projects/{}/topics/{queue}", self.config.project)
    }

    fn subscription(&self, queue: &str) -> String {
        format!("projects/{}/subscriptions/{queue}", self.config.project)
    }

    /// Creates `queue`'s topic and subscription, and its dead-letter pair, unless done.
    async fn declare(&self, queue: &str) -> Result<(), QueueError> {
        let mut declared = self.declared.lock().await;
        if declared.contains(queue) {
            return Ok(());
        }
        let dead = dead_letter_queue(queue);
        for (name, dead_letter) in [(dead.as_str(), None), (queue, Some(dead.as_str()))] {
            match self
                .topics
                .create_topic()
                .set_name(self.topic(name))
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if already_exists(&e) => {}
                Err(e) => return Err(transport(&format!("creating topic {name}"), e)),
            }
            let mut subscription = Subscription::new()
                .set_name(self.subscription(name))
                .set_topic(self.topic(name))
                .set_ack_deadline_seconds(self.config.ack_deadline.as_secs().clamp(10, 600) as i32);
            if let Some(dead_letter) = dead_letter {
                subscription = subscription.set_dead_letter_policy(
                    DeadLetterPolicy::new()
                        .set_dead_letter_topic(self.topic(dead_letter))
                        .set_max_delivery_attempts(self.config.max_delivery_attempts.clamp(5, 100)),
                );
            }
            match self
                .subscriptions
                .create_subscription()
                .with_request(subscription)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if already_exists(&e) => {}
                Err(e) => return Err(transport(&format!("creating subscription {name}"), e)),
            }
        }
        declared.insert(queue.to_string());
        Ok(())
    }

    async fn publisher(&self, queue: &str) -> Result<Publisher, QueueError> {
        let mut publishers = self.publishers.lock().await;
        if let Some(p) = publishers.get(queue) {
            return Ok(p.clone());
        }
        let mut builder = Publisher::builder(self.topic(queue))
            .with_credentials(self.credentials.clone())
            // One message per batch: a publish returns once the server has it.
            .set_message_count_threshold(1u32);
        if let Some(endpoint) = &self.config.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        let publisher = builder
            .build()
            .await
            .map_err(|e| transport(&format!("creating a publisher for {queue}"), e))?;
        publishers.insert(queue.to_string(), publisher.clone());
        Ok(publisher)
    }

    async fn publish_with(
        &self,
        queue: &str,
        payload: Vec<u8>,
        attributes: HashMap<String, String>,
    ) -> Result<(), QueueError> {
        self.declare(queue).await?;
        let publisher = self.publisher(queue).await?;
        publisher
            .publish(
                Message::new()
                    .set_data(bytes::Bytes::from(payload))
                    .set_attributes(attributes),
            )
            .await
            .map(|_| ())
            .map_err(|e| transport(&format!("publishing to {queue}"), e))
    }

    fn stream_slot(
        &self,
        queue: &str,
    ) -> Arc<tokio::sync::Mutex<Option<google_cloud_pubsub::subscriber::MessageStream>>> {
        lock(&self.streams)
            .entry(queue.to_string())
            .or_default()
            .clone()
    }

    fn attempt_of(attributes: &HashMap<String, String>, delivery_attempt: Option<i32>) -> u32 {
        let retried: u32 = attributes
            .get(ATTEMPT_ATTRIBUTE)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1);
        let redeliveries = delivery_attempt.map(|d| d.max(1) as u32 - 1).unwrap_or(0);
        retried.max(1) + redeliveries
    }
}

#[async_trait]
impl MessageQueue for PubSubQueue {
    async fn publish(&self, queue: &str, payload: Vec<u8>) -> Result<(), QueueError> {
        self.inner
            .publish_with(queue, payload, HashMap::new())
            .await
    }

    async fn receive(&self, queue: &str) -> Result<Option<Delivery>, QueueError> {
        self.inner.receive(queue).await
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        let lease = lease(&delivery)?;
        lease.take(&delivery)?.ack();
        Ok(())
    }

    async fn nack(&self, delivery: Delivery, requeue: bool) -> Result<(), QueueError> {
        self.inner.nack(delivery, requeue).await
    }

    async fn retry_later(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        let handler = lease(&delivery)?.take(&delivery)?;
        let mut attributes = lease(&delivery)?.attributes.clone();
        attributes.insert(ATTEMPT_ATTRIBUTE.into(), (delivery.attempt + 1).to_string());
        let inner = self.inner.clone();
        // The lease is extended while the copy waits, so the consumer is free at once and a
        // crash meanwhile leaves the original to be redelivered.
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            match inner
                .publish_with(&delivery.queue, delivery.payload.clone(), attributes)
                .await
            {
                Ok(()) => handler.ack(),
                Err(e) => {
                    tracing::warn!(queue = %delivery.queue, error = %e, "retry not republished; the message is redelivered instead");
                    handler.nack();
                }
            }
        });
        Ok(())
    }
}

impl Inner {
    async fn receive(&self, queue: &str) -> Result<Option<Delivery>, QueueError> {
        self.declare(queue).await?;
        let slot = self.stream_slot(queue);
        let mut stream = slot.lock().await;
        loop {
            let stop = self.stop.notified();
            tokio::pin!(stop);
            stop.as_mut().enable();
            if lock(&self.stopped).contains(queue) {
                return Ok(None);
            }
            let current = match stream.as_mut() {
                Some(current) => current,
                None => {
                    let opened = self
                        .subscriber
                        .subscribe(self.subscription(queue))
                        .set_max_outstanding_messages(
                            i64::from(self.config.prefetch.max(1)) + RETRY_SLOTS,
                        )
                        .set_max_lease_extension(self.config.ack_deadline)
                        .build();
                    lock(&self.shutdown_tokens).insert(queue.to_string(), opened.shutdown_token());
                    stream.insert(opened)
                }
            };
            let next = tokio::select! {
                next = current.next() => next,
                _ = &mut stop => continue,
            };
            match next {
                Some(Ok((message, handler))) => {
                    let attempt = Self::attempt_of(&message.attributes, handler.delivery_attempt());
                    let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(Delivery::from_transport(
                        queue,
                        tag,
                        message.data.to_vec(),
                        attempt > 1,
                        attempt,
                        Box::new(Lease {
                            handler: Mutex::new(Some(handler)),
                            attributes: message.attributes,
                        }),
                    )));
                }
                Some(Err(e)) => {
                    tracing::warn!(%queue, error = %e, "Pub/Sub stream failed; reopening it");
                    *stream = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                // The stream ended: stopped (checked above), or closed by the server.
                None => *stream = None,
            }
        }
    }

    async fn nack(&self, delivery: Delivery, requeue: bool) -> Result<(), QueueError> {
        let lease = lease(&delivery)?;
        let handler = lease.take(&delivery)?;
        if requeue {
            handler.nack();
            return Ok(());
        }
        let mut attributes = lease.attributes.clone();
        attributes.insert(ATTEMPT_ATTRIBUTE.into(), delivery.attempt.to_string());
        match self
            .publish_with(
                &dead_letter_queue(&delivery.queue),
                delivery.payload.clone(),
                attributes,
            )
            .await
        {
            Ok(()) => {
                handler.ack();
                Ok(())
            }
            Err(e) => {
                // Not dead-lettered: give it back rather than lose it.
                handler.nack();
                Err(e)
            }
        }
    }
}

fn lease(delivery: &Delivery) -> Result<&Lease, QueueError> {
    delivery
        .handle::<Lease>()
        .ok_or(QueueError::UnknownDelivery {
            queue: delivery.queue.clone(),
            tag: delivery.tag,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_add_retries_and_redeliveries() {
        let mut attributes = HashMap::new();
        assert_eq!(Inner::attempt_of(&attributes, None), 1);
        assert_eq!(Inner::attempt_of(&attributes, Some(1)), 1);
        assert_eq!(Inner::attempt_of(&attributes, Some(3)), 3);
        attributes.insert(ATTEMPT_ATTRIBUTE.to_string(), "4".to_string());
        assert_eq!(Inner::attempt_of(&attributes, Some(1)), 4);
        assert_eq!(Inner::attempt_of(&attributes, Some(2)), 5);
        attributes.insert(ATTEMPT_ATTRIBUTE.to_string(), "garbage".to_string());
        assert_eq!(Inner::attempt_of(&attributes, None), 1);
    }
}
