//! The embedded default: DuckDB, an in-process queue and in-process workers, driven by the same
//! coordinator a fleet uses.

use anyhow::Context;
use chrono::NaiveDate;
use jetstream_coordinator::export::ResultsSink;
use jetstream_coordinator::{AggregatorService, Coordinator, DateOutcome, RunOptions};
use jetstream_proto::metrics::FleetMetrics;
use jetstream_proto::queue::{InProcessQueue, MessageQueue, QueueNames};
use jetstream_proto::spec::AnalysisSpec;
use jetstream_proto::warehouse::Warehouse;
use jetstream_worker::runner::WorkerOptions;
use jetstream_worker::sql::Catalog;
use jetstream_worker::sql_output::SqlOutput;
use jetstream_worker::{run_worker, TaskExecutor};
use std::sync::Arc;

/// One experiment-date's outcome.
pub struct DateReport {
    pub slug: String,
    pub date: NaiveDate,
    pub outcome: DateOutcome,
}

/// Runs `work` (experiment, date) in order with `workers` in-process workers, an in-process
/// aggregator and the coordinator: the fleet's roles as tasks of one process.
pub fn run_embedded(
    warehouse: Arc<dyn Warehouse>,
    sink: Option<Arc<dyn ResultsSink>>,
    work: Vec<(Arc<AnalysisSpec>, NaiveDate)>,
    options: RunOptions,
    workers: Option<usize>,
    sql_output: Option<SqlOutput>,
) -> anyhow::Result<Vec<DateReport>> {
    let workers = workers
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let queue = InProcessQueue::default();
        let shared: Arc<dyn MessageQueue> = Arc::new(queue.clone());
        let names = QueueNames::default();
        let metrics = FleetMetrics::new("embedded");
        let mut executor =
            TaskExecutor::new(Arc::clone(&warehouse), Catalog::default(), "embedded");
        if let Some(output) = sql_output {
            executor = executor.with_sql_output(output);
        }
        let executor = Arc::new(executor);
        let worker_options = Arc::new(WorkerOptions::new(&names.tasks, &names.results));
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (q, e, o, m) = (
                    Arc::clone(&shared),
                    Arc::clone(&executor),
                    Arc::clone(&worker_options),
                    metrics.clone(),
                );
                tokio::spawn(async move { run_worker(q, e, &o, &m).await })
            })
            .collect();
        let aggregator = tokio::spawn(
            AggregatorService::new(
                Arc::clone(&shared),
                names.clone(),
                warehouse,
                sink,
                metrics.clone(),
            )
            .run(),
        );
        let coordinator = Coordinator::new(Arc::clone(&shared), names.clone(), options);
        let mut reports = Vec::new();
        let mut failure = None;
        for (spec, date) in work {
            match coordinator.run_date(Arc::clone(&spec), date).await {
                Ok(outcome) => reports.push(DateReport {
                    slug: spec.experiment.slug.clone(),
                    date,
                    outcome,
                }),
                Err(e) => {
                    failure = Some(anyhow::anyhow!("{} on {date}: {e}", spec.experiment.slug));
                    break;
                }
            }
        }
        queue.close(&names.tasks);
        for handle in handles {
            handle.await.context("worker task")?.context("worker")?;
        }
        queue.close(&names.results);
        queue.close(&names.progress);
        aggregator
            .await
            .context("aggregator task")?
            .context("aggregator")?;
        match failure {
            Some(e) => Err(e),
            None => Ok(reports),
        }
    })
}
