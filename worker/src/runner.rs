//! The worker loop: take a task, run it, publish its result, then acknowledge the task.
//!
//! A task is acknowledged only after its result is published, so a worker that dies mid-task
//! leaves it to be redelivered (at-least-once; the aggregator drops duplicate results). A task
//! whose attempt failed for a passing reason (the warehouse was unavailable, the executor
//! panicked) is retried after a backoff; once it has used its attempts it is dead-lettered and
//! answered with a failure record, so the run completes and the logs say what happened.

use crate::executor::{task_failure, TaskExecutor};
use jetstream_proto::fleet::ToAggregator;
use jetstream_proto::metrics::FleetMetrics;
use jetstream_proto::queue::{ignore_stale, Delivery, MessageQueue, QueueError};
use jetstream_proto::task::{
    Envelope, TaskOutcome, TaskResult, WireTask, RETRYABLE_EXCEPTION_TYPE,
};
use std::sync::Arc;
use std::time::Duration;

/// How a worker consumes its queue.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Queue of tasks.
    pub tasks: String,
    /// Queue results are published to (the aggregator's).
    pub results: String,
    /// Attempts a task gets before it is dead-lettered (deliveries lost to a crashed worker
    /// count too, so a task that kills its worker every time ends up dead-lettered).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Fault injection for resilience tests and drills: tasks whose id contains this text
    /// fail every attempt as if the warehouse were unavailable.
    pub fail_tasks_matching: Option<String>,
}

impl WorkerOptions {
    /// Defaults for `tasks` and `results`: 5 attempts, backoff from 1 s up to 60 s.
    pub fn new(tasks: &str, results: &str) -> WorkerOptions {
        WorkerOptions {
            tasks: tasks.to_string(),
            results: results.to_string(),
            max_attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            fail_tasks_matching: None,
        }
    }

    /// The delay before attempt `attempt + 1`.
    pub fn backoff_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Consumes `options.tasks` until the queue closes (or the transport stops consuming on
/// shutdown); returns the number of tasks settled.
pub async fn run_worker(
    queue: Arc<dyn MessageQueue>,
    executor: Arc<TaskExecutor>,
    options: &WorkerOptions,
    metrics: &FleetMetrics,
) -> Result<u64, QueueError> {
    let mut done = 0;
    while let Some(delivery) = queue.receive(&options.tasks).await? {
        handle(&queue, &executor, options, metrics, delivery).await?;
        done += 1;
    }
    Ok(done)
}

async fn handle(
    queue: &Arc<dyn MessageQueue>,
    executor: &Arc<TaskExecutor>,
    options: &WorkerOptions,
    metrics: &FleetMetrics,
    delivery: Delivery,
) -> Result<(), QueueError> {
    let task: WireTask = match Envelope::decode(&delivery.payload) {
        Ok(task) => task,
        Err(e) => {
            tracing::error!(error = %e, "dead-lettering an undecodable task");
            metrics.dead_lettered("undecodable");
            return ignore_stale(queue.nack(delivery, false).await);
        }
    };
    let kind = task.key.kind.value();
    let _in_flight = metrics.start(kind);
    let attempt = delivery.attempt.max(1);
    if attempt > options.max_attempts {
        // Earlier deliveries were lost without an answer (their workers died): a task that
        // crashes its worker every time must not go round forever.
        let reason = format!(
            "the task was delivered {attempt} times without completing (its workers stopped mid-task)"
        );
        return dead_letter(queue, executor, options, metrics, delivery, &task, &reason).await;
    }
    tracing::debug!(task = %task.id, attempt, "running task");
    let result = execute(executor, options, &task).await;
    if let TaskOutcome::Failed { error } = &result.outcome {
        if result.outcome.is_retryable() {
            if attempt < options.max_attempts {
                let delay = options.backoff_after(attempt);
                tracing::warn!(task = %task.id, attempt, ?delay, error = %error.message, "retrying");
                metrics.retried(kind);
                return ignore_stale(queue.retry_later(delivery, delay).await);
            }
            let reason = format!(
                "attempt {attempt} of {} failed: {}",
                options.max_attempts, error.message
            );
            return dead_letter(queue, executor, options, metrics, delivery, &task, &reason).await;
        }
        metrics.failed(kind);
    }
    queue
        .publish(
            &options.results,
            Envelope::encode(&ToAggregator::Result(result)),
        )
        .await?;
    ignore_stale(queue.ack(delivery).await)?;
    metrics.succeeded(kind);
    Ok(())
}

/// Runs `task` off the async threads. A panic is an internal error and counts as retryable:
/// the executor never panics on bad input, so it may have been a passing condition.
async fn execute(
    executor: &Arc<TaskExecutor>,
    options: &WorkerOptions,
    task: &WireTask,
) -> TaskResult {
    if let Some(pattern) = &options.fail_tasks_matching {
        if task.id.0.contains(pattern.as_str()) {
            let message = "injected failure (--fail-tasks-matching)".to_string();
            return failure(executor, task, message, RETRYABLE_EXCEPTION_TYPE);
        }
    }
    let (exec, owned) = (Arc::clone(executor), task.clone());
    match tokio::task::spawn_blocking(move || exec.execute(&owned)).await {
        Ok(result) => result,
        Err(join_error) => {
            tracing::error!(error = %join_error, "task panicked");
            let message = format!("internal error: {join_error}");
            failure(executor, task, message, RETRYABLE_EXCEPTION_TYPE)
        }
    }
}

/// Moves the task to the dead-letter queue and answers it with a failure record.
async fn dead_letter(
    queue: &Arc<dyn MessageQueue>,
    executor: &TaskExecutor,
    options: &WorkerOptions,
    metrics: &FleetMetrics,
    delivery: Delivery,
    task: &WireTask,
    reason: &str,
) -> Result<(), QueueError> {
    tracing::error!(task = %task.id, "dead-lettering: {reason}");
    let message = format!(
        "dead-lettered after {} attempts: {reason}",
        options.max_attempts
    );
    let result = failure(executor, task, message, "DeadLettered");
    queue
        .publish(
            &options.results,
            Envelope::encode(&ToAggregator::Result(result)),
        )
        .await?;
    ignore_stale(queue.nack(delivery, false).await)?;
    metrics.dead_lettered(task.key.kind.value());
    metrics.failed(task.key.kind.value());
    Ok(())
}

/// A result answering `task` with a failure record.
fn failure(
    executor: &TaskExecutor,
    task: &WireTask,
    message: String,
    exception_type: &str,
) -> TaskResult {
    TaskResult {
        outcome: TaskOutcome::Failed {
            error: task_failure(task, None, message, exception_type, "run_worker"),
        },
        task_id: task.id.clone(),
        run_id: task.run_id.clone(),
        key: task.key.clone(),
        worker: executor.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut o = WorkerOptions::new("t", "r");
        o.backoff = Duration::from_millis(100);
        o.max_backoff = Duration::from_millis(500);
        let delays: Vec<u128> = (1..=5).map(|a| o.backoff_after(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    }
}
