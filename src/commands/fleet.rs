//! The fleet's roles (`coordinator`, `worker`, `aggregator`) over RabbitMQ or Pub/Sub, and the
//! enqueuing of run requests (`run|rerun|backfill --fleet`).
//!
//! Every role serves Prometheus metrics, and stops on SIGTERM (or Ctrl-C): it stops taking
//! messages, finishes the one in hand, and leaves the rest to the broker, which hands anything
//! unacknowledged to another process.

use crate::cli::{AggregatorArgs, BrokerArgs, CoordinatorArgs, WarehouseArgs, WorkerArgs};
use anyhow::Context;
use chrono::NaiveDate;
use jetstream_amqp::{AmqpConfig, RabbitMq};
use jetstream_cloud::pubsub::{PubSubConfig, PubSubQueue};
use jetstream_coordinator::{AggregatorService, CoordinatorService, DateOutcome, RunOptions};
use jetstream_proto::fleet::{RunReport, RunRequest};
use jetstream_proto::metrics::FleetMetrics;
use jetstream_proto::queue::{MessageQueue, QueueNames};
use jetstream_proto::spec::AnalysisSpec;
use jetstream_proto::task::Envelope;
use jetstream_proto::warehouse::Warehouse;
use jetstream_worker::runner::{run_worker, WorkerOptions};
use jetstream_worker::sql::Catalog;
use jetstream_worker::TaskExecutor;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The fleet's broker: RabbitMQ, or Pub/Sub when `--pubsub-project` is given.
#[derive(Clone)]
enum Broker {
    Rabbit(RabbitMq),
    PubSub(Arc<PubSubQueue>),
}

impl Broker {
    fn queue(&self) -> Arc<dyn MessageQueue> {
        match self {
            Broker::Rabbit(rabbit) => Arc::new(rabbit.clone()),
            Broker::PubSub(pubsub) => pubsub.clone(),
        }
    }

    /// Stops handing out messages of `queue`; the one in hand can still be settled.
    async fn stop_consuming(&self, queue: &str) {
        match self {
            Broker::Rabbit(rabbit) => {
                if let Err(e) = rabbit.stop_consuming(queue).await {
                    tracing::warn!(error = %e, "could not stop consuming");
                }
            }
            Broker::PubSub(pubsub) => pubsub.stop_consuming(queue).await,
        }
    }

    /// Removes a short-lived queue (a `--wait` reply queue).
    async fn delete_queue(&self, queue: &str) {
        let result = match self {
            Broker::Rabbit(rabbit) => rabbit
                .delete_topology(queue)
                .await
                .map_err(|e| e.to_string()),
            Broker::PubSub(pubsub) => pubsub.delete_queue(queue).await.map_err(|e| e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(%queue, error = %e, "could not delete the reply queue");
        }
    }

    async fn close(&self) {
        if let Broker::Rabbit(rabbit) = self {
            let _ = rabbit.close().await;
        }
    }
}

async fn connect(broker: &BrokerArgs, prefetch: u16, role: &str) -> anyhow::Result<Broker> {
    if let Some(project) = &broker.pubsub_project {
        let mut config = PubSubConfig::new(project);
        config.prefetch = prefetch;
        config.endpoint = broker.pubsub_endpoint.clone();
        config.ack_deadline = Duration::from_secs(u64::from(broker.pubsub_ack_deadline_secs));
        if config.endpoint.is_some() {
            config.credentials = jetstream_cloud::GoogleCredentials::Anonymous;
        }
        let pubsub = PubSubQueue::connect(config)
            .await
            .map_err(|e| anyhow::anyhow!("--pubsub-project {project}: {e}"))?;
        tracing::info!(%project, role, "using Pub/Sub");
        return Ok(Broker::PubSub(Arc::new(pubsub)));
    }
    let mut config = AmqpConfig::new(broker.amqp_url.clone());
    config.prefetch = prefetch;
    config.connection_name = format!("jetstream-{role}-{}", std::process::id());
    // Checked here rather than by clap, whose error would echo the URL with its password.
    let rabbit = RabbitMq::connect_with_retry(config)
        .await
        .map_err(|e| anyhow::anyhow!("--amqp-url (JETSTREAM_AMQP_URL): {e}"))?;
    tracing::info!(broker = %rabbit.redacted_url(), role, "connected");
    Ok(Broker::Rabbit(rabbit))
}

/// Serves `/metrics` (Prometheus text format) and `/healthz` on its own thread, so it answers
/// while the role is busy or draining. Prints the bound address (useful with port 0).
fn serve_metrics(addr: &str, metrics: FleetMetrics) -> anyhow::Result<()> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| anyhow::anyhow!("--metrics-addr {addr}: cannot listen: {e}"))?;
    let bound = server.server_addr().to_string();
    eprintln!("metrics: http://{bound}/metrics");
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let response = match request.url() {
                    "/metrics" => tiny_http::Response::from_string(metrics.render()).with_header(
                        "Content-Type: text/plain; version=0.0.4; charset=utf-8"
                            .parse::<tiny_http::Header>()
                            .expect("a valid constant header"),
                    ),
                    "/healthz" => tiny_http::Response::from_string("ok"),
                    _ => tiny_http::Response::from_string("not found").with_status_code(404),
                };
                if let Err(e) = request.respond(response) {
                    tracing::debug!(error = %e, "metrics client went away");
                }
            }
        })
        .context("cannot start the metrics thread")?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down: no new messages are taken");
}

/// The fleet's shared warehouse; a role cannot run without one.
fn open_shared_warehouse(args: &WarehouseArgs) -> anyhow::Result<Arc<dyn Warehouse>> {
    if args.warehouse.is_none() {
        anyhow::bail!(
            "--warehouse (or JETSTREAM_WAREHOUSE) is required: the warehouse the fleet shares"
        );
    }
    crate::backends::open_warehouse(args, true)
}

/// Stops consuming `queue` on SIGTERM or Ctrl-C, so the role's loop ends after the message in
/// hand and prefetched messages go back to the queue.
fn stop_consuming_on_signal(broker: &Broker, queue: &str) {
    let (broker, queue) = (broker.clone(), queue.to_string());
    tokio::spawn(async move {
        shutdown_signal().await;
        broker.stop_consuming(&queue).await;
    });
}

/// `jetstream coordinator`.
pub fn coordinator(args: &CoordinatorArgs) -> anyhow::Result<ExitCode> {
    let metrics = FleetMetrics::new("coordinator");
    serve_metrics(&args.metrics.metrics_addr, metrics.clone())?;
    runtime()?.block_on(async {
        let names = QueueNames::with_prefix(&args.broker.queue_prefix);
        let runs = connect(&args.broker, args.concurrency, "coordinator-runs").await?;
        let queue = connect(&args.broker, 256, "coordinator").await?;
        let service = CoordinatorService::new(
            queue.queue(),
            runs.queue(),
            names,
            metrics,
            usize::from(args.concurrency),
        );
        let done = service.run(shutdown_signal()).await?;
        tracing::info!(requests = done, "coordinator stopped");
        runs.close().await;
        queue.close().await;
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

/// `jetstream worker`.
pub fn worker(args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    let metrics = FleetMetrics::new("worker");
    serve_metrics(&args.metrics.metrics_addr, metrics.clone())?;
    let warehouse = open_shared_warehouse(&args.warehouse)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("worker-{}", std::process::id()));
    runtime()?.block_on(async {
        let names = QueueNames::with_prefix(&args.broker.queue_prefix);
        let rabbit = connect(&args.broker, args.concurrency, "worker").await?;
        let queue = rabbit.queue();
        let executor = Arc::new(TaskExecutor::new(warehouse, Catalog::default(), &name));
        let mut options = WorkerOptions::new(&names.tasks, &names.results);
        options.max_attempts = args.max_attempts;
        options.backoff = Duration::from_millis(args.retry_backoff_ms);
        options.max_backoff = Duration::from_millis(args.max_backoff_ms.max(args.retry_backoff_ms));
        options.fail_tasks_matching = args.fail_tasks_matching.clone();
        let options = Arc::new(options);
        let mut loops = tokio::task::JoinSet::new();
        for _ in 0..args.concurrency {
            let (q, e, o, m) = (
                Arc::clone(&queue),
                Arc::clone(&executor),
                Arc::clone(&options),
                metrics.clone(),
            );
            loops.spawn(async move { run_worker(q, e, &o, &m).await });
        }
        stop_consuming_on_signal(&rabbit, &names.tasks);
        let mut done = 0;
        while let Some(finished) = loops.join_next().await {
            done += finished.context("worker loop")??;
        }
        tracing::info!(tasks = done, "worker stopped");
        rabbit.close().await;
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

/// `jetstream aggregator`.
pub fn aggregator(args: &AggregatorArgs) -> anyhow::Result<ExitCode> {
    let metrics = FleetMetrics::new("aggregator");
    serve_metrics(&args.metrics.metrics_addr, metrics.clone())?;
    let warehouse = open_shared_warehouse(&args.warehouse)?;
    let sink = crate::backends::results_sink(Some(&args.results), &args.warehouse.google)?;
    runtime()?.block_on(async {
        let names = QueueNames::with_prefix(&args.broker.queue_prefix);
        let rabbit = connect(&args.broker, 256, "aggregator").await?;
        let service =
            AggregatorService::new(rabbit.queue(), names.clone(), warehouse, sink, metrics)
                .with_spool(&args.state_dir)
                .with_context(|| format!("--state-dir {}", args.state_dir.display()))?;
        stop_consuming_on_signal(&rabbit, &names.results);
        let written = service.run().await?;
        tracing::info!(dates = written, "aggregator stopped");
        rabbit.close().await;
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

/// Publishes one run request per experiment; with `wait`, collects the reports and prints
/// them like `run` does.
pub fn enqueue(
    broker: &BrokerArgs,
    options: RunOptions,
    work: Vec<(Arc<AnalysisSpec>, Vec<NaiveDate>)>,
    wait: bool,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let names = QueueNames::with_prefix(&broker.queue_prefix);
        let rabbit = connect(broker, 64, "enqueue").await?;
        let reply_to = wait.then(|| format!("{}.replies.{}", broker.queue_prefix, options.run_id));
        let mut dates = 0;
        for (spec, days) in &work {
            dates += days.len();
            let request = RunRequest {
                settings: options.clone(),
                spec: Arc::clone(spec),
                dates: days.clone(),
                reply_to: reply_to.clone(),
            };
            rabbit
                .queue()
                .publish(&names.runs, Envelope::encode(&request))
                .await
                .with_context(|| format!("enqueuing {}", spec.experiment.slug))?;
        }
        println!(
            "enqueued {} experiments ({dates} experiment-dates) as run {} on {}",
            work.len(),
            options.run_id,
            names.runs
        );
        let Some(reply_to) = reply_to else {
            rabbit.close().await;
            return Ok(ExitCode::SUCCESS);
        };
        let queue = rabbit.queue();
        let mut reports = Vec::new();
        while reports.len() < work.len() {
            let Some(delivery) = queue.receive(&reply_to).await? else {
                anyhow::bail!("the reply queue {reply_to} closed before every report arrived");
            };
            match Envelope::<RunReport>::decode(&delivery.payload) {
                Ok(report) if report.run_id == options.run_id => {
                    if !reports
                        .iter()
                        .any(|r: &RunReport| r.experiment_slug == report.experiment_slug)
                    {
                        reports.push(report);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "ignoring an undecodable report"),
            }
            queue.ack(delivery).await?;
        }
        rabbit.delete_queue(&reply_to).await;
        rabbit.close().await;
        Ok::<_, anyhow::Error>(print_reports(&reports))
    })
}

fn print_reports(reports: &[RunReport]) -> ExitCode {
    let mut lines = Vec::new();
    let mut failed = false;
    for report in reports {
        for (date, outcome) in &report.dates {
            match outcome {
                Ok(outcome) => lines.push(crate::embedded::DateReport {
                    slug: report.experiment_slug.clone(),
                    date: *date,
                    outcome: outcome.clone(),
                }),
                Err(e) => {
                    failed = true;
                    lines.push(crate::embedded::DateReport {
                        slug: report.experiment_slug.clone(),
                        date: *date,
                        outcome: DateOutcome::Failed(e.clone()),
                    });
                }
            }
        }
    }
    let code = super::run::report(&lines);
    if failed {
        ExitCode::FAILURE
    } else {
        code
    }
}
