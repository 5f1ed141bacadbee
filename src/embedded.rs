//! The embedded default: DuckDB, an in-process queue and in-process workers, driven by the same
//! coordinator a fleet uses.

use anyhow::Context;
use chrono::NaiveDate;
use jetstream_coordinator::export::ResultsSink;
use jetstream_coordinator::{Coordinator, DateOutcome, RunOptions};
use jetstream_proto::queue::{InProcessQueue, MessageQueue, RESULTS_QUEUE, TASKS_QUEUE};
use jetstream_proto::spec::AnalysisSpec;
use jetstream_proto::warehouse::Warehouse;
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

/// Runs `work` (experiment, date) in order with `workers` in-process workers.
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
        let mut executor =
            TaskExecutor::new(Arc::clone(&warehouse), Catalog::default(), "embedded");
        if let Some(output) = sql_output {
            executor = executor.with_sql_output(output);
        }
        let executor = Arc::new(executor);
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (q, e) = (Arc::clone(&shared), Arc::clone(&executor));
                tokio::spawn(async move { run_worker(q, e, TASKS_QUEUE, RESULTS_QUEUE).await })
            })
            .collect();
        let coordinator = Coordinator::new(Arc::clone(&shared), warehouse, sink, options);
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
        queue.close(TASKS_QUEUE);
        for handle in handles {
            handle.await.context("worker task")?.context("worker")?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(reports),
        }
    })
}
