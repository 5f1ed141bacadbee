//! The worker loop: take a task, run it, publish its result, then acknowledge the task.

use crate::executor::TaskExecutor;
use jetstream_proto::queue::{MessageQueue, QueueError};
use jetstream_proto::task::{Envelope, TaskOutcome, TaskResult, WireTask};
use jetstream_proto::AnalysisError;
use std::sync::Arc;

/// Consumes `tasks` until the queue closes; returns the number of tasks completed.
///
/// A task is acknowledged only after its result is published, so a worker that dies mid-task
/// leaves it to be redelivered (at-least-once). Undecodable messages are dead-lettered.
pub async fn run_worker(
    queue: Arc<dyn MessageQueue>,
    executor: Arc<TaskExecutor>,
    tasks: &str,
    results: &str,
) -> Result<u64, QueueError> {
    let mut done = 0;
    while let Some(delivery) = queue.receive(tasks).await? {
        let task: WireTask = match Envelope::decode(&delivery.payload) {
            Ok(task) => task,
            Err(e) => {
                tracing::error!(error = %e, "dead-lettering an undecodable task");
                queue.nack(delivery, false).await?;
                continue;
            }
        };
        tracing::debug!(task = %task.id, attempt = delivery.attempt, "running task");
        let exec = Arc::clone(&executor);
        let identity = (task.id.clone(), task.run_id.clone(), task.key.clone());
        let started = std::time::Instant::now();
        let result: TaskResult =
            match tokio::task::spawn_blocking(move || exec.execute(&task)).await {
                Ok(result) => result,
                Err(join_error) => {
                    // The executor never panics on bad input, so a panic is a bug and a retry would
                    // panic again: report the task as failed instead of leaving the run waiting.
                    tracing::error!(error = %join_error, "task panicked");
                    let (task_id, run_id, key) = identity;
                    TaskResult {
                        outcome: TaskOutcome::Failed {
                            error: Box::new(AnalysisError {
                                timestamp: chrono::Utc::now(),
                                log_level: "ERROR".into(),
                                experiment: Some(key.experiment_slug.clone()),
                                metric: None,
                                statistic: None,
                                segment: key.segment.clone(),
                                analysis_basis: key.analysis_basis,
                                analysis_period: key.period.map(|p| p.value().to_string()),
                                message: format!("{key} failed: internal error: {join_error}"),
                                exception: Some(join_error.to_string()),
                                exception_type: Some("InternalError".into()),
                                filename: "worker/src/runner.rs".into(),
                                func_name: "run_worker".into(),
                            }),
                        },
                        task_id,
                        run_id,
                        key,
                        worker: "unknown".into(),
                    }
                }
            };
        tracing::debug!(
            task = %result.task_id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "task finished"
        );
        queue.publish(results, Envelope::encode(&result)).await?;
        queue.ack(delivery).await?;
        done += 1;
    }
    Ok(done)
}
