//! The coordinator against a scripted worker over the in-process queue: stage order, results
//! de-duplicated by task id, and one statistics table per due (period, window).

use chrono::NaiveDate;
use jetstream_coordinator::{AggregatorService, Coordinator, DateOutcome, RunOptions};
use jetstream_proto::fleet::ToAggregator;
use jetstream_proto::metrics::FleetMetrics;
use jetstream_proto::queue::{InProcessQueue, MessageQueue, QueueNames};
use jetstream_proto::spec::*;
use jetstream_proto::task::{Envelope, TaskOutcome, TaskResult, WireTask};
use jetstream_proto::warehouse::{Frame, Warehouse, WarehouseError, WriteMode};
use jetstream_proto::{AnalysisBasis, AnalysisError, AnalysisPeriod, StatisticRow, TaskKind};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct RecordingWarehouse {
    statistics: Mutex<BTreeMap<String, Vec<StatisticRow>>>,
    views: Mutex<Vec<String>>,
    logs: Mutex<Vec<AnalysisError>>,
}

impl Warehouse for RecordingWarehouse {
    fn table_ref(&self, table: &str) -> Result<String, WarehouseError> {
        Ok(table.to_string())
    }
    fn create_table_as(&self, _: &str, _: &str, _: WriteMode) -> Result<u64, WarehouseError> {
        unreachable!("the coordinator never queries; workers do")
    }
    fn query(&self, _: &str) -> Result<Frame, WarehouseError> {
        unreachable!("the coordinator never queries; workers do")
    }
    fn table_exists(&self, name: &str) -> Result<bool, WarehouseError> {
        Ok(self.views.lock().unwrap().iter().any(|v| v == name))
    }
    fn list_tables(&self, _: &str) -> Result<Vec<String>, WarehouseError> {
        Ok(Vec::new())
    }
    fn write_statistics(&self, table: &str, rows: &[StatisticRow]) -> Result<(), WarehouseError> {
        self.statistics
            .lock()
            .unwrap()
            .insert(table.to_string(), rows.to_vec());
        Ok(())
    }
    fn publish_window_view(&self, name: &str, _: &str) -> Result<(), WarehouseError> {
        self.views.lock().unwrap().push(name.to_string());
        Ok(())
    }
    fn read_statistics_view(&self, _: &str) -> Result<Vec<StatisticRow>, WarehouseError> {
        Ok(Vec::new())
    }
    fn append_logs(&self, errors: &[AnalysisError]) -> Result<(), WarehouseError> {
        self.logs.lock().unwrap().extend_from_slice(errors);
        Ok(())
    }
    fn read_logs(&self, _: &str) -> Result<Vec<AnalysisError>, WarehouseError> {
        Ok(self.logs.lock().unwrap().clone())
    }
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn spec() -> AnalysisSpec {
    let metric = MetricSpec {
        name: "m".into(),
        select_expression: Some("SUM(x)".into()),
        data_source: Some("ds".into()),
        friendly_name: None,
        description: None,
        bigger_is_better: true,
        analysis_bases: vec![AnalysisBasis::Enrollments, AnalysisBasis::Exposures],
        depends_on: vec![],
    };
    let summary = SummarySpec {
        metric: "m".into(),
        statistic: StatisticSpec {
            name: "bootstrap_mean".into(),
            params: Default::default(),
        },
        pre_treatments: vec![],
    };
    AnalysisSpec {
        experiment: jetstream_proto::testing::experiment(
            "flow-exp",
            "2024-01-01",
            "2024-01-08",
            "2024-02-15",
        ),
        metrics: BTreeMap::from([("m".to_string(), metric)]),
        periods: vec![
            (AnalysisPeriod::Day, vec![summary.clone()]),
            (AnalysisPeriod::Week, vec![summary]),
        ],
        data_sources: BTreeMap::new(),
        segments: vec![SegmentSpec {
            name: "seg".into(),
            select_expression: "TRUE".into(),
            data_source: "sds".into(),
        }],
        segment_data_sources: BTreeMap::new(),
        exposure_signal: None,
    }
}

/// A worker that answers every task, sending each result twice (a redelivery after a crash
/// between publishing and acknowledging), and records the order of task kinds.
async fn duplicating_worker(queue: Arc<dyn MessageQueue>, kinds: Arc<Mutex<Vec<TaskKind>>>) {
    let names = QueueNames::default();
    while let Some(delivery) = queue.receive(&names.tasks).await.unwrap() {
        let task: WireTask = Envelope::decode(&delivery.payload).unwrap();
        kinds.lock().unwrap().push(task.key.kind);
        let outcome = match task.key.kind {
            TaskKind::Statistics => {
                let mut row = StatisticRow::individual("m", "mean", "control");
                row.segment = task.key.segment.clone().unwrap();
                row.analysis_basis = task.key.analysis_basis;
                row.point = Some(1.0);
                TaskOutcome::Statistics {
                    rows: vec![row],
                    errors: vec![],
                }
            }
            _ => TaskOutcome::Table {
                table: task.tables.metrics.clone().unwrap_or_default(),
                rows: 10,
                errors: vec![],
            },
        };
        let result = TaskResult {
            task_id: task.id.clone(),
            run_id: task.run_id.clone(),
            key: task.key.clone(),
            worker: "scripted".into(),
            outcome,
        };
        queue
            .publish(
                &names.results,
                Envelope::encode(&ToAggregator::Result(result.clone())),
            )
            .await
            .unwrap();
        queue
            .publish(
                &names.results,
                Envelope::encode(&ToAggregator::Result(result.clone())),
            )
            .await
            .unwrap();
        queue.ack(delivery).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_run_in_order_and_duplicate_results_are_dropped() {
    let queue = InProcessQueue::default();
    let shared: Arc<dyn MessageQueue> = Arc::new(queue.clone());
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let worker = tokio::spawn(duplicating_worker(Arc::clone(&shared), Arc::clone(&kinds)));
    let warehouse = Arc::new(RecordingWarehouse::default());
    let names = QueueNames::default();
    let aggregator = tokio::spawn(
        AggregatorService::new(
            Arc::clone(&shared),
            names.clone(),
            warehouse.clone(),
            None,
            FleetMetrics::new("aggregator"),
        )
        .run(),
    );
    let coordinator = Coordinator::new(
        Arc::clone(&shared),
        names.clone(),
        RunOptions {
            run_id: "t".into(),
            periods: AnalysisPeriod::ALL.to_vec(),
            seed: 0,
            query: Default::default(),
        },
    );
    let spec = Arc::new(spec());

    // 2024-01-15: daily window 7 and weekly window 1 are due.
    let outcome = coordinator
        .run_date(Arc::clone(&spec), d("2024-01-15"))
        .await
        .unwrap();
    let DateOutcome::Analysed(written) = outcome else {
        panic!("not analysed: {outcome:?}")
    };
    // 2 bases x 2 segments, one row each, despite every result arriving twice.
    assert_eq!(
        written,
        BTreeMap::from([(AnalysisPeriod::Day, 4), (AnalysisPeriod::Week, 4)])
    );
    let tables: Vec<String> = warehouse
        .statistics
        .lock()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        tables,
        vec!["statistics_flow_exp_day_7", "statistics_flow_exp_week_1"]
    );

    // Enrollments first, then 4 metrics tasks (2 periods x 2 bases), then 8 statistics tasks.
    let seen = kinds.lock().unwrap().clone();
    assert_eq!(seen[0], TaskKind::Enrollments);
    assert!(seen[1..5].iter().all(|k| *k == TaskKind::Metrics));
    assert!(seen[5..].iter().all(|k| *k == TaskKind::Statistics));
    assert_eq!(seen.len(), 13);

    // A date before enrollment ends has nothing due; a date after the end is skipped quietly.
    assert_eq!(
        coordinator
            .run_date(Arc::clone(&spec), d("2024-01-03"))
            .await
            .unwrap(),
        DateOutcome::NothingDue
    );
    let ended = coordinator
        .run_date(Arc::clone(&spec), d("2024-03-01"))
        .await
        .unwrap();
    assert!(
        matches!(ended, DateOutcome::Skipped { failed: false, .. }),
        "{ended:?}"
    );
    assert!(warehouse
        .logs
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.exception_type.as_deref() == Some("EndedException")));

    queue.close(&names.tasks);
    worker.await.unwrap();
    queue.close(&names.results);
    queue.close(&names.progress);
    assert_eq!(aggregator.await.unwrap().unwrap(), 3, "three dates written");
}

/// A statistics result of `spec` on 2024-01-15, week 1, segment `all`, enrollments basis.
fn statistics_result(spec: &AnalysisSpec) -> TaskResult {
    let key = jetstream_proto::TaskKey {
        kind: TaskKind::Statistics,
        experiment_slug: spec.experiment.slug.clone(),
        analysis_date: d("2024-01-15"),
        period: Some(AnalysisPeriod::Week),
        window_index: Some(1),
        segment: Some("all".into()),
        analysis_basis: Some(AnalysisBasis::Enrollments),
    };
    let mut row = StatisticRow::individual("m", "mean", "control");
    row.analysis_basis = Some(AnalysisBasis::Enrollments);
    row.point = Some(2.0);
    TaskResult {
        task_id: jetstream_proto::TaskId::new("r", &key),
        run_id: "r".into(),
        key,
        worker: "w".into(),
        outcome: TaskOutcome::Statistics {
            rows: vec![row],
            errors: vec![],
        },
    }
}

fn finalize(spec: &Arc<AnalysisSpec>, result: &TaskResult) -> ToAggregator {
    ToAggregator::Finalize(Box::new(jetstream_proto::fleet::Finalize {
        run_id: "r".into(),
        spec: Arc::clone(spec),
        date: d("2024-01-15"),
        started: chrono::Utc::now(),
        tasks: vec![result.task_id.clone()],
        outcome: DateOutcome::Analysed(BTreeMap::new()),
        errors: vec![],
        metric_bases: vec![],
    }))
}

/// Runs an aggregator over `messages` until the queue drains; returns the written notices.
async fn aggregate(
    warehouse: Arc<RecordingWarehouse>,
    spool: &std::path::Path,
    messages: &[ToAggregator],
) -> Vec<jetstream_proto::fleet::Written> {
    let queue = InProcessQueue::default();
    let names = QueueNames::default();
    for m in messages {
        queue
            .publish(&names.results, Envelope::encode(m))
            .await
            .unwrap();
    }
    queue.close(&names.results);
    let service = AggregatorService::new(
        Arc::new(queue.clone()),
        names.clone(),
        warehouse,
        None,
        FleetMetrics::new("aggregator"),
    )
    .with_spool(spool)
    .unwrap();
    service.run().await.unwrap();
    queue.close(&names.progress);
    let mut written = Vec::new();
    while let Some(d) = queue.receive(&names.progress).await.unwrap() {
        if let jetstream_proto::fleet::ToCoordinator::Written(w) =
            Envelope::decode(&d.payload).unwrap()
        {
            written.push(w);
        }
        queue.ack(d).await.unwrap();
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_results_survive_a_restart_and_a_repeated_finalize_is_not_rewritten() {
    let spec = Arc::new(spec());
    let result = statistics_result(&spec);
    let spool = tempfile::tempdir().unwrap();
    let warehouse = Arc::new(RecordingWarehouse::default());

    // The first aggregator accepts the result, then stops before the finalize arrives.
    let written = aggregate(
        Arc::clone(&warehouse),
        spool.path(),
        &[ToAggregator::Result(result.clone())],
    )
    .await;
    assert!(written.is_empty());

    // Its successor reloads the result from the spool and writes the date; a finalize
    // delivered again is answered the same without writing from the (now empty) results.
    let fin = finalize(&spec, &result);
    let written = aggregate(
        Arc::clone(&warehouse),
        spool.path(),
        &[fin.clone(), fin.clone()],
    )
    .await;
    assert_eq!(written.len(), 2);
    let expected = Ok(DateOutcome::Analysed(BTreeMap::from([(
        AnalysisPeriod::Week,
        1,
    )])));
    assert_eq!(written[0].result, expected);
    assert_eq!(written[1].result, expected);
    let rows = warehouse.statistics.lock().unwrap()["statistics_flow_exp_week_1"].clone();
    assert_eq!(rows.len(), 1, "the spooled row was written, once");

    // A third process also remembers the date as written.
    let written = aggregate(Arc::clone(&warehouse), spool.path(), &[fin]).await;
    assert_eq!(written[0].result, expected);
    assert_eq!(
        warehouse.statistics.lock().unwrap()["statistics_flow_exp_week_1"].len(),
        1
    );
}
