//! The RabbitMQ transport of the fleet: [`MessageQueue`] over AMQP 0.9.1 with lapin.
//!
//! Each queue `q` the fleet uses gets, declared lazily on first use on every connection:
//! - `q`: a durable quorum queue (replicated, and it counts redeliveries in `x-delivery-count`)
//!   whose rejected messages are dead-lettered to `q.dead`;
//! - `q.dead`: a durable quorum queue where poison messages wait for an operator;
//! - `q.retry`: a durable classic queue without consumers: a message published there with a
//!   per-message `expiration` is dead-lettered back to `q` when it expires, which is how
//!   [`MessageQueue::retry_later`] waits out a backoff without holding a consumer.
//!
//! Connection failures are handled here rather than by lapin's auto-recovery, so that the
//! semantics stay explicit: every operation reconnects (exponential backoff, bounded by
//! [`AmqpConfig::reconnect_timeout`]) and retries; deliveries received on a lost connection can
//! no longer be settled ([`QueueError::UnknownDelivery`]) because the broker has already
//! requeued them.

use async_trait::async_trait;
use futures_core::Stream;
use jetstream_proto::queue::{dead_letter_queue, Delivery, MessageQueue, QueueError};
use lapin::message::Delivery as LapinDelivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Acker, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{watch, Mutex as AsyncMutex};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Header counting how many deliveries a message had before it went through the retry queue
/// (set by [`MessageQueue::retry_later`]), so that attempts keep counting across retries.
pub const RETRIES_HEADER: &str = "x-jetstream-retries";
/// Header quorum queues set on redeliveries (how many times the message was returned).
pub const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

/// First pause between reconnection attempts; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest a single TCP + AMQP handshake may take before it counts as failed.
const CONNECT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop_consuming` waits for the broker to confirm the cancel while handing back
/// prefetched messages.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);
/// AMQP reply code of a normal close.
const REPLY_SUCCESS: u16 = 200;

/// `timeout` from now, saturating (a huge configured timeout must not panic).
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(10 * 365 * 24 * 3600))
}

/// The queue where messages of `queue` wait out their retry delay.
pub fn retry_queue(queue: &str) -> String {
    format!("{queue}.retry")
}

/// `url` with its password replaced by `REDACTED`, for logs and error messages: credentials
/// must never reach a log line or a terminal.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // Not a URL we understand; still hide anything that looks like userinfo.
        return match url.rfind('@') {
            Some(at) => format!("REDACTED@{}", &url[at + 1..]),
            None => url.to_string(),
        };
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let redacted_userinfo = match userinfo.find(':') {
        Some(colon) => format!("{}:REDACTED", &userinfo[..colon]),
        None => userinfo.to_string(),
    };
    format!(
        "{}{}{}",
        &url[..rest_start],
        redacted_userinfo,
        &url[rest_start + at..]
    )
}

/// The password in `url`, raw and percent-decoded, so that error texts can be scrubbed of it.
fn passwords(url: &str) -> Vec<String> {
    let Some(scheme_end) = url.find("://") else {
        return Vec::new();
    };
    let rest = &url[scheme_end + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return Vec::new();
    };
    let Some(colon) = authority[..at].find(':') else {
        return Vec::new();
    };
    let raw = &authority[colon + 1..at];
    if raw.is_empty() {
        return Vec::new();
    }
    let mut out = vec![raw.to_string()];
    let decoded = percent_decode(raw);
    if decoded != raw && !decoded.is_empty() {
        out.push(decoded);
    }
    out
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                // Two hex digits are at most 0xff.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `message` with any occurrence of the password of `url` replaced.
fn scrub(message: &str, url: &str) -> String {
    let mut out = message.to_string();
    for password in passwords(url) {
        out = out.replace(&password, "REDACTED");
    }
    out
}

/// How to reach RabbitMQ and how to behave on it.
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:port/vhost` (`%2f` is the default vhost `/`); `amqps://` for
    /// TLS.
    pub url: String,
    /// Unacknowledged messages the broker sends ahead to each consumer (QoS per consumer
    /// channel): higher hides network latency, lower spreads work more evenly over workers.
    /// 0 means unlimited.
    pub prefetch: u16,
    /// Shown in the management UI and `rabbitmqctl list_connections`, to tell processes apart.
    pub connection_name: String,
    /// How long an operation keeps trying to reconnect before it fails with
    /// [`QueueError::Transport`].
    pub reconnect_timeout: Duration,
}

impl AmqpConfig {
    /// The defaults with `url`.
    pub fn new(url: impl Into<String>) -> AmqpConfig {
        AmqpConfig {
            url: url.into(),
            ..AmqpConfig::default()
        }
    }
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
            prefetch: 16,
            connection_name: "jetstream".to_string(),
            reconnect_timeout: Duration::from_secs(120),
        }
    }
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &redact(&self.url))
            .field("prefetch", &self.prefetch)
            .field("connection_name", &self.connection_name)
            .field("reconnect_timeout", &self.reconnect_timeout)
            .finish()
    }
}

/// Failures to set up the transport (operations on queues fail with [`QueueError`]).
#[derive(Debug, Error)]
pub enum AmqpError {
    /// The broker could not be reached or refused the connection; `url` is redacted.
    #[error("could not connect to RabbitMQ at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The URL is not an AMQP URL; retrying cannot help. `url` is redacted.
    #[error("'{url}' is not an AMQP URL (amqp://user:password@host:port/vhost or amqps://...): {reason}")]
    InvalidUrl { url: String, reason: String },
}

/// Checks that `url` is an AMQP URL this transport can connect to, without connecting; the
/// error names the URL with its password redacted.
pub fn validate_url(url: &str) -> Result<(), AmqpError> {
    url.parse::<lapin::uri::AMQPUri>()
        .map(|_| ())
        .map_err(|reason| AmqpError::InvalidUrl {
            url: redact(url),
            reason: scrub(&reason, url),
        })
}

/// A failed attempt at an operation, and what to do about it.
enum OpError {
    /// The connection (or its publishing channel) failed: reconnect and try again.
    Reconnect(String),
    /// The connection is fine but the attempt should be repeated (e.g. the queue vanished and
    /// was declared again).
    Again(String),
    /// Retrying cannot help (the broker refused the operation itself).
    Fatal(QueueError),
}

impl OpError {
    /// Channel-level (soft) AMQP errors are refusals of the operation (an inequivalent
    /// declaration, a missing queue, access denied); everything else is the connection.
    fn from_lapin(what: &str, error: lapin::Error) -> OpError {
        if error.is_amqp_soft_error() {
            OpError::Fatal(QueueError::Transport(format!("{what}: {error}")))
        } else {
            OpError::Reconnect(format!("{what}: {error}"))
        }
    }
}

/// The names of one queue's topology, validated.
struct Topology {
    root: String,
    main: ShortString,
    dead: ShortString,
    retry: ShortString,
}

impl Topology {
    /// The topology `queue` belongs to: `q.dead` and `q.retry` belong to `q`'s (no `q.dead.dead`).
    fn of(queue: &str) -> Result<Topology, QueueError> {
        let root = queue
            .strip_suffix(".dead")
            .or_else(|| queue.strip_suffix(".retry"))
            .unwrap_or(queue);
        if root.is_empty() {
            return Err(QueueError::Transport(format!(
                "invalid queue name '{queue}': empty"
            )));
        }
        let name = |n: String| {
            ShortString::try_new(n)
                .map_err(|e| QueueError::Transport(format!("invalid queue name '{queue}': {e}")))
        };
        Ok(Topology {
            root: root.to_string(),
            main: name(root.to_string())?,
            dead: name(dead_letter_queue(root))?,
            retry: name(retry_queue(root))?,
        })
    }
}

/// `queue` as an AMQP short string, after checking its topology's names are all valid.
fn queue_name(queue: &str) -> Result<(Topology, ShortString), QueueError> {
    let topology = Topology::of(queue)?;
    let name = ShortString::try_new(queue)
        .map_err(|e| QueueError::Transport(format!("invalid queue name '{queue}': {e}")))?;
    Ok((topology, name))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked while holding it; the guarded data
    // (caches and handles) stays consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Persistent JSON messages: what every publish sends.
fn message_properties() -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/json"))
}

/// An integer header of any AMQP integer type (brokers and clients differ), clamped to `u32`.
fn header_u32(headers: &FieldTable, key: &str) -> u32 {
    let clamp = |v: i128| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    match headers.inner().get(key) {
        Some(AMQPValue::ShortShortInt(v)) => clamp(i128::from(*v)),
        Some(AMQPValue::ShortShortUInt(v)) => u32::from(*v),
        Some(AMQPValue::ShortInt(v)) => clamp(i128::from(*v)),
        Some(AMQPValue::ShortUInt(v)) => u32::from(*v),
        Some(AMQPValue::LongInt(v)) => clamp(i128::from(*v)),
        Some(AMQPValue::LongUInt(v)) => *v,
        Some(AMQPValue::LongLongInt(v)) => clamp(i128::from(*v)),
        Some(AMQPValue::Timestamp(v)) => clamp(i128::from(*v)),
        Some(AMQPValue::LongString(s)) => std::str::from_utf8(s.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<i128>().ok())
            .map(clamp)
            .unwrap_or(0),
        Some(AMQPValue::ShortString(s)) => s.as_str().trim().parse::<i128>().map_or(0, clamp),
        _ => 0,
    }
}

/// One AMQP connection with its publishing channel, and what has been declared on it.
struct Conn {
    /// Increases with every (re)connection: deliveries remember theirs.
    generation: u64,
    connection: Connection,
    /// In confirm mode; shared by all publishers.
    publisher: Channel,
    /// Held only while a message is handed to the channel, so that confirm sequence numbers
    /// match the order of frames; confirms are awaited outside it.
    publish_lock: AsyncMutex<()>,
    /// Roots whose topology is declared on this connection.
    declared: Mutex<HashSet<String>>,
    /// Serialises first declarations, so concurrent first uses declare once.
    declare_lock: AsyncMutex<()>,
}

impl Conn {
    fn is_alive(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }

    /// A short-lived channel for one operation: a refused operation closes its channel, so
    /// declarations and inspections never take the shared channels down with them.
    async fn temp_channel(&self) -> Result<Channel, OpError> {
        self.connection
            .create_channel()
            .await
            .map_err(|e| OpError::from_lapin("opening a channel", e))
    }

    /// Closes a temporary channel and waits for the broker, so that no channel close is still
    /// in flight when the connection is closed (lapin fails a connection close that overlaps
    /// one). A channel the broker already closed (after a refusal) is left alone.
    async fn release(channel: Channel) {
        if channel.status().connected() {
            if let Err(e) = channel.close(REPLY_SUCCESS, "OK".into()).await {
                debug!(error = %e, "closing a temporary channel failed");
            }
        }
    }

    async fn ensure_topology(&self, topology: &Topology) -> Result<(), OpError> {
        if lock(&self.declared).contains(&topology.root) {
            return Ok(());
        }
        let _guard = self.declare_lock.lock().await;
        if lock(&self.declared).contains(&topology.root) {
            return Ok(());
        }
        let channel = self.temp_channel().await?;
        let declare = |name: ShortString, args: FieldTable| {
            let channel = channel.clone();
            async move {
                channel
                    .queue_declare(name.clone(), QueueDeclareOptions::durable(), args)
                    .await
                    .map_err(|e| OpError::from_lapin(&format!("declaring queue '{name}'"), e))
            }
        };
        let mut main = FieldTable::default();
        main.insert("x-queue-type".into(), text("quorum"));
        main.insert("x-dead-letter-exchange".into(), text(""));
        main.insert(
            "x-dead-letter-routing-key".into(),
            text(topology.dead.as_str()),
        );
        let mut dead = FieldTable::default();
        dead.insert("x-queue-type".into(), text("quorum"));
        let mut retry = FieldTable::default();
        retry.insert("x-queue-type".into(), text("classic"));
        retry.insert("x-dead-letter-exchange".into(), text(""));
        retry.insert(
            "x-dead-letter-routing-key".into(),
            text(topology.main.as_str()),
        );
        let declared = async {
            declare(topology.dead.clone(), dead).await?;
            declare(topology.main.clone(), main).await?;
            declare(topology.retry.clone(), retry).await
        }
        .await;
        Self::release(channel).await;
        declared?;
        lock(&self.declared).insert(topology.root.clone());
        debug!(queue = %topology.root, generation = self.generation, "declared topology");
        Ok(())
    }

    fn forget(&self, root: &str) {
        lock(&self.declared).remove(root);
    }

    async fn publish(
        &self,
        topology: &Topology,
        routing_key: &ShortString,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), OpError> {
        self.ensure_topology(topology).await?;
        let confirm = {
            let _guard = self.publish_lock.lock().await;
            self.publisher
                .basic_publish(
                    ShortString::default(),
                    routing_key.clone(),
                    // Mandatory: a message the broker cannot route (its queue was deleted)
                    // comes back instead of vanishing.
                    BasicPublishOptions {
                        mandatory: true,
                        immediate: false,
                    },
                    payload,
                    properties,
                )
                .await
                .map_err(|e| OpError::from_lapin("publishing", e))?
        };
        match confirm
            .await
            .map_err(|e| OpError::from_lapin("waiting for the publish confirm", e))?
        {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(returned)) => {
                self.forget(&topology.root);
                Err(OpError::Again(format!(
                    "the broker returned the message to '{routing_key}' as unroutable ({} {})",
                    returned.reply_code, returned.reply_text
                )))
            }
            // A nack means the broker could not take the message on (for a quorum queue: no
            // leader yet, e.g. while several processes declare it at once). The publish is
            // retried with backoff after declaring the queue again, as RabbitMQ advises.
            Confirmation::Nack(_) => {
                self.forget(&topology.root);
                Err(OpError::Again(format!(
                    "the broker refused (nacked) a message published to '{routing_key}'"
                )))
            }
        }
    }

    async fn subscribe(
        self: &Arc<Self>,
        topology: &Topology,
        queue: &ShortString,
        prefetch: u16,
    ) -> Result<Active, OpError> {
        self.ensure_topology(topology).await?;
        let channel = self.temp_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| OpError::from_lapin("setting the prefetch", e))?;
        let consumer = channel
            .basic_consume(
                queue.clone(),
                ShortString::default(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| OpError::from_lapin(&format!("consuming from '{queue}'"), e))?;
        Ok(Active {
            conn: Arc::clone(self),
            channel,
            consumer,
        })
    }
}

/// A live consumer of one queue.
struct Active {
    conn: Arc<Conn>,
    channel: Channel,
    consumer: lapin::Consumer,
}

async fn next_delivery(consumer: &mut lapin::Consumer) -> Option<lapin::Result<LapinDelivery>> {
    std::future::poll_fn(|cx| Pin::new(&mut *consumer).poll_next(cx)).await
}

/// Resolves once `stop` is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The consumer of one queue name on one [`RabbitMq`].
struct ConsumerSlot {
    /// Set by `stop_consuming` (and `close`): receivers return `None` from then on.
    stop: watch::Sender<bool>,
    /// The consumer; `None` until the first receive and after a failure.
    active: AsyncMutex<Option<Active>>,
}

/// What [`RabbitMq`] needs to settle or retry a delivery, carried in the delivery's handle.
pub struct AmqpHandle {
    acker: Acker,
    generation: u64,
    /// Keeps the consumer channel open while the delivery is outstanding (lapin closes a
    /// channel when its last handle is dropped, which would requeue the message).
    _channel: Channel,
    headers: FieldTable,
}

impl AmqpHandle {
    /// The connection generation the delivery came from.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

struct Shared {
    config: AmqpConfig,
    redacted_url: String,
    current: Mutex<Option<Arc<Conn>>>,
    /// Serialises reconnections, so a failure seen by many tasks reconnects once.
    reconnect_lock: AsyncMutex<()>,
    next_generation: AtomicU64,
    consumers: Mutex<HashMap<String, Arc<ConsumerSlot>>>,
    closed: AtomicBool,
}

/// The RabbitMQ transport: one connection (re-established on failure), a shared publishing
/// channel with confirms, and one consumer channel per queue received from. Cheap to clone;
/// clones share the connection.
#[derive(Clone)]
pub struct RabbitMq {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RabbitMq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitMq")
            .field("url", &self.shared.redacted_url)
            .field("connection_name", &self.shared.config.connection_name)
            .finish()
    }
}

enum Settle {
    Ack,
    Nack { requeue: bool },
}

impl RabbitMq {
    /// Connects once (no retry: a wrong URL or a broker that is down is reported at once, with
    /// the password redacted). Later connection failures are retried by each operation.
    pub async fn connect(config: AmqpConfig) -> Result<RabbitMq, AmqpError> {
        let redacted_url = redact(&config.url);
        let shared = Arc::new(Shared {
            redacted_url: redacted_url.clone(),
            config,
            current: Mutex::new(None),
            reconnect_lock: AsyncMutex::new(()),
            next_generation: AtomicU64::new(1),
            consumers: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        let generation = shared.next_generation.fetch_add(1, Ordering::Relaxed);
        let conn = open(&shared.config, generation)
            .await
            .map_err(|reason| AmqpError::Connect {
                url: redacted_url.clone(),
                reason,
            })?;
        info!(
            url = %redacted_url,
            name = %shared.config.connection_name,
            generation,
            "connected to RabbitMQ"
        );
        *lock(&shared.current) = Some(Arc::new(conn));
        Ok(RabbitMq { shared })
    }

    /// Like [`RabbitMq::connect`], but keeps trying (with backoff) for up to the configured
    /// `reconnect_timeout`: for processes that may start before the broker is up.
    pub async fn connect_with_retry(config: AmqpConfig) -> Result<RabbitMq, AmqpError> {
        validate_url(&config.url)?;
        let deadline = deadline_after(config.reconnect_timeout);
        let mut backoff = MIN_BACKOFF;
        loop {
            match RabbitMq::connect(config.clone()).await {
                Ok(mq) => return Ok(mq),
                Err(e) if Instant::now() + backoff >= deadline => return Err(e),
                Err(e) => {
                    warn!(error = %e, retry_in = ?backoff, "RabbitMQ not reachable yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// The URL this transport connects to, password redacted (for logs and status pages).
    pub fn redacted_url(&self) -> &str {
        &self.shared.redacted_url
    }

    /// Whether the connection is up right now (for health checks; operations reconnect on
    /// their own).
    pub fn is_connected(&self) -> bool {
        lock(&self.shared.current)
            .as_ref()
            .is_some_and(|c| c.is_alive())
    }

    /// The generation of the current connection (1 for the first; increases on reconnect).
    pub fn generation(&self) -> Option<u64> {
        lock(&self.shared.current).as_ref().map(|c| c.generation)
    }

    fn closed_error(&self, queue: &str) -> QueueError {
        QueueError::Closed(queue.to_string())
    }

    fn usable_current(&self, stale: Option<u64>) -> Option<Arc<Conn>> {
        lock(&self.shared.current)
            .as_ref()
            .filter(|c| Some(c.generation) != stale && c.is_alive())
            .cloned()
    }

    /// The current connection, or a new one if it is lost (or is generation `stale`, which
    /// just failed), reconnecting with backoff until `deadline`.
    async fn connection(
        &self,
        queue: &str,
        stale: Option<u64>,
        deadline: Instant,
    ) -> Result<Arc<Conn>, QueueError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(self.closed_error(queue));
        }
        if let Some(conn) = self.usable_current(stale) {
            return Ok(conn);
        }
        let _guard = self.shared.reconnect_lock.lock().await;
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(self.closed_error(queue));
        }
        if let Some(conn) = self.usable_current(stale) {
            return Ok(conn);
        }
        let old = lock(&self.shared.current).take();
        if let Some(old) = old {
            warn!(
                url = %self.shared.redacted_url,
                generation = old.generation,
                "RabbitMQ connection lost; reconnecting"
            );
            // A half-broken connection (e.g. only its publishing channel failed) is closed so
            // the broker requeues what its consumers hold; one already closed returns at once.
            tokio::spawn(async move {
                let close = old.connection.close(REPLY_SUCCESS, "reconnecting".into());
                let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
            });
        }
        let mut backoff = MIN_BACKOFF;
        loop {
            let generation = self.shared.next_generation.fetch_add(1, Ordering::Relaxed);
            match open(&self.shared.config, generation).await {
                Ok(conn) => {
                    info!(
                        url = %self.shared.redacted_url,
                        name = %self.shared.config.connection_name,
                        generation,
                        "reconnected to RabbitMQ"
                    );
                    let conn = Arc::new(conn);
                    *lock(&self.shared.current) = Some(Arc::clone(&conn));
                    return Ok(conn);
                }
                Err(reason) => {
                    if Instant::now() + backoff >= deadline {
                        warn!(url = %self.shared.redacted_url, %reason, "giving up reconnecting to RabbitMQ");
                        return Err(QueueError::Transport(format!(
                            "could not reconnect to RabbitMQ at {} within {:?}: {reason}",
                            self.shared.redacted_url, self.shared.config.reconnect_timeout
                        )));
                    }
                    warn!(
                        url = %self.shared.redacted_url,
                        %reason,
                        retry_in = ?backoff,
                        "reconnecting to RabbitMQ failed"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Runs `op` on the current connection, reconnecting and retrying on connection failures
    /// for up to `reconnect_timeout`.
    async fn with_retry<T, F, Fut>(
        &self,
        queue: &str,
        what: &str,
        mut stale: Option<u64>,
        op: F,
    ) -> Result<T, QueueError>
    where
        F: Fn(Arc<Conn>) -> Fut,
        Fut: Future<Output = Result<T, OpError>>,
    {
        let deadline = deadline_after(self.shared.config.reconnect_timeout);
        let mut backoff = Duration::ZERO;
        loop {
            let conn = self.connection(queue, stale, deadline).await?;
            let generation = conn.generation;
            let reason = match op(conn).await {
                Ok(v) => return Ok(v),
                Err(OpError::Fatal(e)) => return Err(e),
                Err(OpError::Reconnect(reason)) => {
                    stale = Some(generation);
                    reason
                }
                Err(OpError::Again(reason)) => {
                    stale = None;
                    reason
                }
            };
            if self.shared.closed.load(Ordering::SeqCst) {
                return Err(self.closed_error(queue));
            }
            if Instant::now() + backoff >= deadline {
                return Err(QueueError::Transport(format!(
                    "{what} on '{queue}' failed: {reason}"
                )));
            }
            warn!(queue, generation, %reason, "{what} failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
        }
    }

    async fn publish_with(
        &self,
        queue: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), QueueError> {
        let (topology, name) = queue_name(queue)?;
        let (topology, name, properties) = (&topology, &name, &properties);
        self.with_retry(queue, "publish", None, |conn| async move {
            conn.publish(topology, name, payload, properties.clone())
                .await
        })
        .await
    }

    fn slot(&self, queue: &str) -> Arc<ConsumerSlot> {
        let mut consumers = lock(&self.shared.consumers);
        let slot = consumers.entry(queue.to_string()).or_insert_with(|| {
            Arc::new(ConsumerSlot {
                stop: watch::Sender::new(self.shared.closed.load(Ordering::SeqCst)),
                active: AsyncMutex::new(None),
            })
        });
        Arc::clone(slot)
    }

    fn to_delivery(&self, queue: &str, active: &Active, delivery: LapinDelivery) -> Delivery {
        let LapinDelivery {
            delivery_tag,
            redelivered,
            properties,
            data,
            acker,
            ..
        } = delivery;
        let headers = properties.headers().clone().unwrap_or_default();
        let attempt = 1u32
            .saturating_add(header_u32(&headers, RETRIES_HEADER))
            .saturating_add(header_u32(&headers, DELIVERY_COUNT_HEADER));
        let handle = AmqpHandle {
            acker,
            generation: active.conn.generation,
            _channel: active.channel.clone(),
            headers,
        };
        Delivery::from_transport(
            queue,
            delivery_tag,
            data,
            redelivered,
            attempt,
            Box::new(handle),
        )
    }

    fn handle<'d>(&self, delivery: &'d Delivery) -> Result<&'d AmqpHandle, QueueError> {
        delivery.handle::<AmqpHandle>().ok_or_else(|| {
            QueueError::Transport(format!(
                "delivery {} on '{}' was not received from RabbitMQ",
                delivery.tag, delivery.queue
            ))
        })
    }

    fn unknown(delivery: &Delivery) -> QueueError {
        QueueError::UnknownDelivery {
            queue: delivery.queue.clone(),
            tag: delivery.tag,
        }
    }

    /// Whether `handle` can still be settled: its connection is the current one and its
    /// channel is open. Otherwise the broker has already requeued the message.
    fn settleable(&self, handle: &AmqpHandle) -> bool {
        let current = lock(&self.shared.current)
            .as_ref()
            .map(|c| c.generation == handle.generation && c.connection.status().connected());
        current == Some(true) && handle.acker.usable()
    }

    async fn settle(&self, delivery: &Delivery, how: Settle) -> Result<(), QueueError> {
        let handle = self.handle(delivery)?;
        if !self.settleable(handle) {
            return Err(Self::unknown(delivery));
        }
        let result = match how {
            Settle::Ack => handle.acker.ack(BasicAckOptions::default()).await,
            Settle::Nack { requeue } => {
                handle
                    .acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue,
                    })
                    .await
            }
        };
        match result {
            Ok(true) => Ok(()),
            Ok(false) => Err(Self::unknown(delivery)),
            Err(e) => {
                warn!(queue = %delivery.queue, tag = delivery.tag, error = %e, "settling a delivery failed; the broker will redeliver it");
                Err(Self::unknown(delivery))
            }
        }
    }

    /// Ready messages in `queue` (not counting those delivered and not yet acknowledged), for
    /// operators, autoscaling and tests.
    pub async fn depth(&self, queue: &str) -> Result<u32, QueueError> {
        let (topology, name) = queue_name(queue)?;
        let (topology, name) = (&topology, &name);
        self.with_retry(queue, "depth", None, |conn| async move {
            conn.ensure_topology(topology).await?;
            let channel = conn.temp_channel().await?;
            let declared = channel
                .queue_declare(
                    name.clone(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| OpError::from_lapin(&format!("inspecting '{name}'"), e));
            Conn::release(channel).await;
            Ok(declared?.message_count())
        })
        .await
    }

    /// Drops the ready messages of `queue`; returns how many.
    pub async fn purge(&self, queue: &str) -> Result<u32, QueueError> {
        let (topology, name) = queue_name(queue)?;
        let (topology, name) = (&topology, &name);
        self.with_retry(queue, "purge", None, |conn| async move {
            conn.ensure_topology(topology).await?;
            let channel = conn.temp_channel().await?;
            let purged = channel
                .queue_purge(name.clone(), QueuePurgeOptions::default())
                .await
                .map_err(|e| OpError::from_lapin(&format!("purging '{name}'"), e));
            Conn::release(channel).await;
            purged
        })
        .await
    }

    /// Deletes `queue`, its dead-letter queue and its retry queue, with their messages (for
    /// tests and decommissioning). This instance stops consuming from them first.
    pub async fn delete_topology(&self, queue: &str) -> Result<(), QueueError> {
        let topology = Topology::of(queue)?;
        let slots: Vec<Arc<ConsumerSlot>> = {
            let mut consumers = lock(&self.shared.consumers);
            [&topology.main, &topology.dead, &topology.retry]
                .iter()
                .filter_map(|n| consumers.remove(n.as_str()))
                .collect()
        };
        for slot in slots {
            slot.stop.send_replace(true);
            // Wait for a pending receive to let go, then drop the consumer: deleting the queue
            // ends it on the broker side anyway.
            slot.active.lock().await.take();
        }
        let topology = &topology;
        self.with_retry(queue, "delete", None, |conn| async move {
            conn.forget(&topology.root);
            let channel = conn.temp_channel().await?;
            let deleted = async {
                for name in [&topology.main, &topology.dead, &topology.retry] {
                    channel
                        .queue_delete(name.clone(), QueueDeleteOptions::default())
                        .await
                        .map_err(|e| OpError::from_lapin(&format!("deleting '{name}'"), e))?;
                }
                Ok(())
            }
            .await;
            Conn::release(channel).await;
            conn.forget(&topology.root);
            deleted
        })
        .await
    }

    /// Takes one message from `queue` without a consumer (acknowledged at once), with its
    /// headers rendered for reading: for inspecting a dead-letter queue.
    pub async fn get_one(&self, queue: &str) -> Result<Option<(Vec<u8>, String)>, QueueError> {
        let (topology, name) = queue_name(queue)?;
        let (topology, name) = (&topology, &name);
        self.with_retry(queue, "get", None, |conn| async move {
            conn.ensure_topology(topology).await?;
            let channel = conn.temp_channel().await?;
            let message = channel
                .basic_get(name.clone(), BasicGetOptions { no_ack: true })
                .await
                .map_err(|e| OpError::from_lapin(&format!("getting from '{name}'"), e));
            Conn::release(channel).await;
            Ok(message?.map(|m| {
                let headers = format!("{:?}", m.delivery.properties.headers());
                (m.delivery.data, headers)
            }))
        })
        .await
    }

    /// Graceful shutdown of the consumer of `queue`: cancels it on the broker, hands the
    /// messages prefetched but not yet received back to the queue (so other consumers get them
    /// at once), and makes `receive(queue)` return `None` from then on. Deliveries already
    /// received can still be acked or nacked.
    pub async fn stop_consuming(&self, queue: &str) -> Result<(), QueueError> {
        let slot = self.slot(queue);
        slot.stop.send_replace(true);
        let mut active = slot.active.lock().await;
        let Some(mut active) = active.take() else {
            return Ok(());
        };
        let tag = active.consumer.tag();
        if let Err(e) = active
            .channel
            .basic_cancel(tag.clone(), BasicCancelOptions::default())
            .await
        {
            // The channel is gone: the broker has requeued everything it held already.
            warn!(queue, error = %e, "cancelling the consumer failed");
            return Ok(());
        }
        let mut requeued = 0u32;
        loop {
            match tokio::time::timeout(CANCEL_TIMEOUT, next_delivery(&mut active.consumer)).await {
                Ok(Some(Ok(delivery))) => {
                    let nack = delivery
                        .acker
                        .nack(BasicNackOptions {
                            multiple: false,
                            requeue: true,
                        })
                        .await;
                    if let Err(e) = nack {
                        warn!(queue, error = %e, "handing back a prefetched message failed");
                    }
                    requeued += 1;
                }
                Ok(Some(Err(e))) => {
                    warn!(queue, error = %e, "consumer failed while stopping");
                    break;
                }
                Ok(None) => break,
                Err(_) => {
                    warn!(queue, %tag, "the broker did not confirm the consumer cancel in time");
                    break;
                }
            }
        }
        info!(queue, requeued, "stopped consuming");
        Ok(())
    }

    /// Closes the connection cleanly: unacknowledged deliveries go back to their queues, and
    /// every later operation fails with [`QueueError::Closed`].
    pub async fn close(&self) -> Result<(), QueueError> {
        self.shared.closed.store(true, Ordering::SeqCst);
        let slots: Vec<Arc<ConsumerSlot>> =
            lock(&self.shared.consumers).values().cloned().collect();
        for slot in slots {
            slot.stop.send_replace(true);
        }
        let _guard = self.shared.reconnect_lock.lock().await;
        let conn = lock(&self.shared.current).take();
        if let Some(conn) = conn {
            if conn.connection.status().connected() {
                let closed = conn.connection.close(REPLY_SUCCESS, "closing".into()).await;
                // lapin reports an error when a channel was closing at the same time (e.g. a
                // consumer channel released by its last delivery); the connection is closed
                // all the same.
                if let Err(e) = closed {
                    if conn.connection.status().connected() {
                        return Err(QueueError::Transport(format!(
                            "closing the connection: {e}"
                        )));
                    }
                    debug!(error = %e, "closing the connection reported an error");
                }
            }
            info!(url = %self.shared.redacted_url, generation = conn.generation, "closed the RabbitMQ connection");
        }
        Ok(())
    }
}

/// Opens a connection and its confirm-mode publishing channel. Errors never contain the
/// password.
async fn open(config: &AmqpConfig, generation: u64) -> Result<Conn, String> {
    let properties = ConnectionProperties::default()
        .with_connection_name(LongString::from(config.connection_name.as_str()));
    let connection = match tokio::time::timeout(
        CONNECT_ATTEMPT_TIMEOUT,
        Connection::connect(&config.url, properties),
    )
    .await
    {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => return Err(scrub(&e.to_string(), &config.url)),
        Err(_) => return Err(format!("timed out after {CONNECT_ATTEMPT_TIMEOUT:?}")),
    };
    let publisher = connection
        .create_channel()
        .await
        .map_err(|e| format!("opening the publishing channel: {e}"))?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| format!("enabling publisher confirms: {e}"))?;
    Ok(Conn {
        generation,
        connection,
        publisher,
        publish_lock: AsyncMutex::new(()),
        declared: Mutex::new(HashSet::new()),
        declare_lock: AsyncMutex::new(()),
    })
}

#[async_trait]
impl MessageQueue for RabbitMq {
    /// Publishes a persistent JSON message and waits for the broker's confirm; retried across
    /// reconnections (so a message may be stored twice: consumers de-duplicate).
    async fn publish(&self, queue: &str, payload: Vec<u8>) -> Result<(), QueueError> {
        self.publish_with(queue, &payload, message_properties())
            .await
    }

    async fn receive(&self, queue: &str) -> Result<Option<Delivery>, QueueError> {
        let (topology, name) = queue_name(queue)?;
        let slot = self.slot(queue);
        let mut stop = slot.stop.subscribe();
        if *stop.borrow() {
            return Ok(None);
        }
        let mut active = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return Ok(None),
            active = slot.active.lock() => active,
        };
        let mut stale = None;
        loop {
            if *stop.borrow() {
                return Ok(None);
            }
            let current = match active.as_mut() {
                Some(current) => current,
                None => {
                    let (topology, name) = (&topology, &name);
                    let prefetch = self.shared.config.prefetch;
                    let subscribed = self
                        .with_retry(queue, "consume", stale, |conn| async move {
                            conn.subscribe(topology, name, prefetch).await
                        })
                        .await?;
                    stale = None;
                    active.insert(subscribed)
                }
            };
            let next = tokio::select! {
                biased;
                _ = stopped(&mut stop) => return Ok(None),
                next = next_delivery(&mut current.consumer) => next,
            };
            match next {
                Some(Ok(delivery)) => return Ok(Some(self.to_delivery(queue, current, delivery))),
                Some(Err(e)) => {
                    warn!(queue, error = %e, "consumer failed; re-subscribing");
                }
                None => {
                    if *stop.borrow() {
                        return Ok(None);
                    }
                    // Cancelled by the broker (the queue was deleted, or the node holding it
                    // went away): declare again before consuming again.
                    warn!(queue, "consumer cancelled by the broker; re-subscribing");
                    current.conn.forget(&topology.root);
                }
            }
            if let Some(failed) = active.take() {
                if !failed.conn.is_alive() {
                    stale = Some(failed.conn.generation);
                } else {
                    tokio::time::sleep(MIN_BACKOFF).await;
                }
            }
        }
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.settle(&delivery, Settle::Ack).await
    }

    /// Requeues the delivery, or (with `requeue` false) has the broker dead-letter it to
    /// `<queue>.dead`.
    async fn nack(&self, delivery: Delivery, requeue: bool) -> Result<(), QueueError> {
        self.settle(&delivery, Settle::Nack { requeue }).await
    }

    /// Publishes the message to `<queue>.retry` with an expiration of `delay`, from where the
    /// broker moves it back to `<queue>`, then acks the original. The message's attempt count
    /// is carried in [`RETRIES_HEADER`], so its next delivery has an attempt one higher.
    async fn retry_later(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        let handle = self.handle(&delivery)?;
        if !self.settleable(handle) {
            // The broker has requeued it already; publishing a copy would only duplicate it.
            return Err(Self::unknown(&delivery));
        }
        let headers: BTreeMap<ShortString, AMQPValue> = handle
            .headers
            .inner()
            .iter()
            .filter(|(k, _)| k.as_str() != DELIVERY_COUNT_HEADER && k.as_str() != RETRIES_HEADER)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut headers = FieldTable::from(headers);
        headers.insert(
            RETRIES_HEADER.into(),
            AMQPValue::LongLongInt(i64::from(delivery.attempt)),
        );
        let expiration = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        let properties = message_properties()
            .with_headers(headers)
            .with_expiration(ShortString::from(expiration.to_string()));
        self.publish_with(&retry_queue(&delivery.queue), &delivery.payload, properties)
            .await?;
        self.settle(&delivery, Settle::Ack).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:REDACTED@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact("amqps://user:p%40ss@host/vh?heartbeat=10"),
            "amqps://user:REDACTED@host/vh?heartbeat=10"
        );
        assert_eq!(redact("amqp://host:5672/%2f"), "amqp://host:5672/%2f");
        assert_eq!(redact("amqp://user@host"), "amqp://user@host");
        assert_eq!(redact("amqp://u:a@b@host/x"), "amqp://u:REDACTED@host/x");
        assert_eq!(redact("u:p@host"), "REDACTED@host");
        assert_eq!(redact(""), "");
    }

    #[test]
    fn invalid_urls_are_refused_without_their_password() {
        assert!(validate_url("amqp://guest:guest@127.0.0.1:5672/%2f").is_ok());
        assert!(validate_url("amqps://u:p@broker.example:5671/vh").is_ok());
        for bad in ["notaurl", "http://u:hunter2@host/", "amqp:no-host"] {
            let e = validate_url(bad).expect_err(bad).to_string();
            assert!(e.contains("is not an AMQP URL"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn scrub_removes_raw_and_decoded_passwords() {
        let url = "amqp://user:p%40ss@host/vh";
        assert_eq!(
            scrub("bad p%40ss and p@ss", url),
            "bad REDACTED and REDACTED"
        );
        assert_eq!(scrub("nothing", "amqp://host"), "nothing");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("a%zz"), "a%zz");
    }

    #[test]
    fn topology_of_dead_and_retry_queues_is_their_root() {
        let t = Topology::of("jobs.dead").unwrap();
        assert_eq!(t.root, "jobs");
        assert_eq!(t.dead.as_str(), "jobs.dead");
        assert_eq!(Topology::of("jobs.retry").unwrap().root, "jobs");
        assert_eq!(Topology::of("jobs").unwrap().retry.as_str(), "jobs.retry");
        assert!(Topology::of("").is_err());
        assert!(Topology::of(".dead").is_err());
        assert!(Topology::of(&"x".repeat(250)).is_err());
    }

    #[test]
    fn integer_headers_of_any_type_count() {
        let mut h = FieldTable::default();
        h.insert("a".into(), AMQPValue::LongLongInt(3));
        h.insert("b".into(), AMQPValue::ShortShortUInt(2));
        h.insert("c".into(), AMQPValue::LongInt(-4));
        h.insert("d".into(), text("7"));
        h.insert("e".into(), AMQPValue::Boolean(true));
        assert_eq!(header_u32(&h, "a"), 3);
        assert_eq!(header_u32(&h, "b"), 2);
        assert_eq!(header_u32(&h, "c"), 0);
        assert_eq!(header_u32(&h, "d"), 7);
        assert_eq!(header_u32(&h, "e"), 0);
        assert_eq!(header_u32(&h, "missing"), 0);
    }

    #[test]
    fn config_debug_redacts() {
        let c = AmqpConfig::new("amqp://u:hunter2@h/%2f");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
