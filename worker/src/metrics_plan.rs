//! What a metrics task writes, decided once for both running it (`TaskExecutor`) and writing
//! its SQL without running it (`--dry-run`): the metrics to compute, the per-data-source tables
//! of the discrete mode, and the queries for any subset of a data source's metrics.

use crate::executor::{id_options, metrics_to_compute, period_summaries};
use crate::sql::{self, SqlError};
use jetstream_proto::naming::data_source_metrics_table;
use jetstream_proto::spec::{DataSourceSpec, MetricSpec};
use jetstream_proto::task::WireTask;
use jetstream_proto::warehouse::{Warehouse, WarehouseError};
use jetstream_proto::AnalysisBasis;

/// One data source's share of a discrete metrics task.
pub struct DataSourcePart<'a> {
    pub data_source: &'a DataSourceSpec,
    pub metrics: Vec<&'a MetricSpec>,
    /// `<slug>_<basis>_<data source>_<period>_<n>`.
    pub table: String,
    /// How SQL refers to `table`.
    pub table_ref: String,
}

/// The queries of one metrics task.
pub struct MetricsPlan<'a> {
    task: &'a WireTask,
    basis: AnalysisBasis,
    enrollments_ref: String,
    /// The task's metrics table (the joined one in the discrete mode).
    pub table: &'a str,
    /// Every metric computed by SQL for the (period, basis), in config order.
    pub metrics: Vec<&'a MetricSpec>,
    /// One per data source in the discrete mode; empty otherwise.
    pub parts: Vec<DataSourcePart<'a>>,
}

impl<'a> MetricsPlan<'a> {
    /// The plan of `task`, whose basis and metrics table are given.
    pub fn new(
        task: &'a WireTask,
        basis: AnalysisBasis,
        table: &'a str,
        warehouse: &dyn Warehouse,
    ) -> Result<MetricsPlan<'a>, WarehouseError> {
        let metrics = metrics_to_compute(&task.spec, period_summaries(task), basis);
        let mut parts = Vec::new();
        if task.options.discrete_metrics {
            for (data_source, metrics) in sql::partition_by_data_source(&task.spec, &metrics) {
                let table = data_source_metrics_table(
                    &task.spec.experiment.slug,
                    basis.value(),
                    &data_source.name,
                    task.key.period.map(|p| p.value()).unwrap_or_default(),
                    task.time_limits.window_index,
                );
                parts.push(DataSourcePart {
                    data_source,
                    metrics,
                    table_ref: warehouse.table_ref(&table)?,
                    table,
                });
            }
        }
        Ok(MetricsPlan {
            task,
            basis,
            enrollments_ref: warehouse.table_ref(&task.tables.enrollments)?,
            table,
            metrics,
            parts,
        })
    }

    /// The metrics query of `metrics` (all of one data source's, some of them, or none for
    /// the enrollee-window rows alone).
    pub fn query(&self, metrics: &[&MetricSpec]) -> Result<String, SqlError> {
        sql::metrics_query(
            &self.task.spec,
            metrics,
            &self.task.time_limits,
            self.basis,
            &self.enrollments_ref,
            id_options(self.task),
        )
    }

    /// The discrete mode's joining query over the per-data-source tables that were written,
    /// each with the metrics it holds (its sanity columns are added here).
    pub fn joined_query(
        &self,
        written: &[(&DataSourcePart, Vec<&MetricSpec>)],
    ) -> Result<String, SqlError> {
        let parts: Vec<(String, Vec<String>)> = written
            .iter()
            .map(|(part, metrics)| {
                let mut columns: Vec<String> = metrics.iter().map(|m| m.name.clone()).collect();
                columns.extend(sql::sanity_metric_names(part.data_source));
                (part.table_ref.clone(), columns)
            })
            .collect();
        Ok(sql::combine_data_source_tables(&self.query(&[])?, &parts))
    }
}
