//! The coordinator role of a fleet: takes run requests off the queue and drives each
//! experiment's dates, several experiments at a time.
//!
//! A run request is acknowledged only once all its dates are written, so a coordinator that
//! dies leaves its requests to be redelivered; its successor plans them again, and the task ids
//! (the same for the same run) let the aggregator drop results it already has.

use crate::progress::ProgressRouter;
use crate::run::Coordinator;
use jetstream_proto::fleet::{RunReport, RunRequest};
use jetstream_proto::metrics::FleetMetrics;
use jetstream_proto::queue::{ignore_stale, Delivery, MessageQueue, QueueError, QueueNames};
use jetstream_proto::task::Envelope;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::Semaphore;

/// Consumes `names.runs`.
pub struct CoordinatorService {
    queue: Arc<dyn MessageQueue>,
    /// The transport run requests are taken from: its prefetch bounds how many requests this
    /// coordinator holds, separately from the progress notices it streams through `queue`.
    runs: Arc<dyn MessageQueue>,
    names: QueueNames,
    metrics: FleetMetrics,
    /// Experiments driven at the same time.
    concurrency: usize,
}

impl CoordinatorService {
    pub fn new(
        queue: Arc<dyn MessageQueue>,
        runs: Arc<dyn MessageQueue>,
        names: QueueNames,
        metrics: FleetMetrics,
        concurrency: usize,
    ) -> CoordinatorService {
        CoordinatorService {
            queue,
            runs,
            names,
            metrics,
            concurrency: concurrency.max(1),
        }
    }

    /// Runs until the runs queue closes or `shutdown` resolves; returns the requests completed.
    /// On shutdown, requests in progress are left unacknowledged for redelivery.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<u64, QueueError> {
        let router = ProgressRouter::spawn(Arc::clone(&self.queue), self.names.progress.clone());
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        let mut done = 0u64;
        let driving: Arc<Mutex<HashMap<(String, String), Delivery>>> = Arc::default();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                permit = Arc::clone(&permits).acquire_owned() => permit.map_err(|e| QueueError::Transport(e.to_string()))?,
            };
            let delivery = tokio::select! {
                _ = &mut shutdown => break,
                d = self.runs.receive(&self.names.runs) => d?,
            };
            let Some(delivery) = delivery else { break };
            let request: RunRequest = match Envelope::decode(&delivery.payload) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "dead-lettering an undecodable run request");
                    self.metrics.dead_lettered("run");
                    ignore_stale(self.runs.nack(delivery, false).await)?;
                    continue;
                }
            };
            // A request delivered again while its experiment is being driven here (the
            // connection dropped, so the broker handed it out anew) is not driven twice: the
            // driver acknowledges the newest delivery when it is done.
            let key = (
                request.settings.run_id.clone(),
                request.spec.experiment.slug.clone(),
            );
            {
                let mut live = driving.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(current) = live.get_mut(&key) {
                    tracing::info!(experiment = %key.1, "run request delivered again while in progress");
                    *current = delivery;
                    continue;
                }
                live.insert(key.clone(), delivery);
            }
            let driving = Arc::clone(&driving);
            let runs = Arc::clone(&self.runs);
            let (queue, names, metrics, router) = (
                Arc::clone(&self.queue),
                self.names.clone(),
                self.metrics.clone(),
                Arc::clone(&router),
            );
            tasks.spawn(async move {
                let _permit = permit;
                let _timer = metrics.start("run");
                let report = drive(&queue, &names, &metrics, router, &request).await;
                let delivery = driving
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                if let Some(delivery) = delivery {
                    ignore_stale(runs.ack(delivery).await)?;
                }
                metrics.succeeded("run");
                // After the acknowledgement: whoever waits for the report sees a finished run.
                if let Some(reply_to) = &request.reply_to {
                    queue.publish(reply_to, Envelope::encode(&report)).await?;
                }
                Ok::<(), QueueError>(())
            });
            while let Some(finished) = tasks.try_join_next() {
                done += 1;
                log_join(finished);
            }
        }
        tasks.abort_all();
        while let Some(finished) = tasks.join_next().await {
            if !matches!(&finished, Err(e) if e.is_cancelled()) {
                done += 1;
                log_join(finished);
            }
        }
        Ok(done)
    }
}

fn log_join(finished: Result<Result<(), QueueError>, tokio::task::JoinError>) {
    match finished {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "a run request could not be completed"),
        Err(e) => tracing::error!(error = %e, "a run request's driver failed"),
    }
}

/// Drives every date of `request` in order.
async fn drive(
    queue: &Arc<dyn MessageQueue>,
    names: &QueueNames,
    metrics: &FleetMetrics,
    router: Arc<ProgressRouter>,
    request: &RunRequest,
) -> RunReport {
    let coordinator = Coordinator::new(Arc::clone(queue), names.clone(), request.settings.clone())
        .sharing(router);
    let slug = request.spec.experiment.slug.clone();
    let mut dates = Vec::new();
    for date in &request.dates {
        let _timer = metrics.start("date");
        let outcome = coordinator
            .run_date(Arc::clone(&request.spec), *date)
            .await
            .map_err(|e| e.to_string());
        match &outcome {
            Ok(o) => {
                tracing::info!(experiment = %slug, %date, outcome = ?o, "date done");
                metrics.succeeded("date");
            }
            Err(e) => {
                tracing::error!(experiment = %slug, %date, error = %e, "date failed");
                metrics.failed("date");
            }
        }
        dates.push((*date, outcome));
    }
    RunReport {
        run_id: request.settings.run_id.clone(),
        experiment_slug: slug,
        dates,
    }
}
