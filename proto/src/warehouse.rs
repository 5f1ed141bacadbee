//! The warehouse seam: where enrollments, metrics and statistics tables live.
//!
//! Implementations: DuckDB (the embedded default, in the worker crate) and, later, BigQuery.
//! Calls are blocking; async roles call them from `spawn_blocking`.

use crate::statistic::StatisticRow;
use crate::task::AnalysisError;
use thiserror::Error;

/// A warehouse failure, with the statement that caused it when there is one.
#[derive(Debug, Error)]
pub enum WarehouseError {
    #[error("query failed: {message}\n--- SQL ---\n{sql}")]
    Query { message: String, sql: String },
    #[error("table '{0}' already exists")]
    AlreadyExists(String),
    #[error("table '{0}' does not exist")]
    NotFound(String),
    #[error("invalid table or view name '{0}': only letters, digits and '_' are allowed")]
    InvalidName(String),
    #[error("warehouse error: {0}")]
    Other(String),
    /// The warehouse could not be reached or was busy; the same request may succeed later, so
    /// workers retry the task (with backoff) instead of recording a failure.
    #[error("{UNAVAILABLE_PREFIX}{0}")]
    Unavailable(String),
}

/// How an [`WarehouseError::Unavailable`] message starts, so that a task error built from its
/// text can still be recognised as retryable.
pub const UNAVAILABLE_PREFIX: &str = "warehouse unavailable: ";

/// How to treat an existing destination table (BigQuery's write dispositions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail with [`WarehouseError::AlreadyExists`] if the table exists (`WRITE_EMPTY`).
    Empty,
    /// Replace the table (`WRITE_TRUNCATE`).
    Truncate,
}

/// One column of a query result, converted to what statistics need.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Floating-point numbers and booleans (true = 1.0); NULL is None.
    Float(Vec<Option<f64>>),
    /// Numbers of an integer SQL type, as f64 (exact up to 2^53). Kept apart because the
    /// statistics treat integer metrics differently (pandas keeps them integral).
    Integer(Vec<Option<f64>>),
    /// Everything else, as text.
    Text(Vec<Option<String>>),
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Float(v) | Column::Integer(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    /// The values of a numeric column (floating-point, boolean or integer).
    pub fn numbers(&self) -> Option<&[Option<f64>]> {
        match self {
            Column::Float(v) | Column::Integer(v) => Some(v),
            Column::Text(_) => None,
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A small columnar result set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub columns: Vec<(String, Column)>,
}

impl Frame {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// Number of rows (0 for a frame without columns).
    pub fn num_rows(&self) -> usize {
        self.columns.first().map(|(_, c)| c.len()).unwrap_or(0)
    }
}

/// What every role needs from the warehouse.
pub trait Warehouse: Send + Sync {
    /// How generated BigQuery SQL refers to the output table `table` (e.g.
    /// `` `mozanalysis.enrollments_x` ``).
    fn table_ref(&self, table: &str) -> Result<String, WarehouseError>;
    /// Runs `sql` (BigQuery SQL; a warehouse in another dialect translates it) into `table`;
    /// returns the number of rows written.
    fn create_table_as(
        &self,
        table: &str,
        sql: &str,
        mode: WriteMode,
    ) -> Result<u64, WarehouseError>;
    /// Runs a query (BigQuery SQL) and returns its result.
    fn query(&self, sql: &str) -> Result<Frame, WarehouseError>;
    /// True when a table or view called `name` exists.
    fn table_exists(&self, name: &str) -> Result<bool, WarehouseError>;
    /// Names of the tables (not views) starting with `prefix`.
    fn list_tables(&self, prefix: &str) -> Result<Vec<String>, WarehouseError>;
    /// Writes statistics rows to `table` (replacing it), with Jetstream's schema.
    fn write_statistics(&self, table: &str, rows: &[StatisticRow]) -> Result<(), WarehouseError>;
    /// Creates or replaces the view `name` over every table `<prefix><n>`, adding `window_index`.
    fn publish_window_view(&self, name: &str, prefix: &str) -> Result<(), WarehouseError>;
    /// Reads the statistics rows of a view published by [`Warehouse::publish_window_view`].
    fn read_statistics_view(&self, view: &str) -> Result<Vec<StatisticRow>, WarehouseError>;
    /// Appends analysis errors to the logs table.
    fn append_logs(&self, errors: &[AnalysisError]) -> Result<(), WarehouseError>;
    /// Reads the logs of one experiment, oldest first.
    fn read_logs(&self, experiment: &str) -> Result<Vec<AnalysisError>, WarehouseError>;
    /// When the output table `name` was last written (upstream's `last_updated` label), if it
    /// exists and the warehouse records it. Jetstream pins metric-hub to the enrollments
    /// table's, so a rerun analyses with the configs of its first run.
    fn table_last_updated(
        &self,
        name: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, WarehouseError> {
        let _ = name;
        Ok(None)
    }
    /// Deletes the table or view `name` if it exists; true when something was deleted
    /// (`rerun` clears an experiment's window tables first, as upstream does).
    fn drop_table(&self, name: &str) -> Result<bool, WarehouseError> {
        Err(WarehouseError::Other(format!(
            "this warehouse cannot delete tables (asked to delete '{name}')"
        )))
    }
    /// Sets the table's `last_updated` to now (upstream's `touch_tables`): on the enrollments
    /// table it moves the experiment's config pin to the newest metric-hub.
    fn touch_table(&self, name: &str) -> Result<(), WarehouseError> {
        Err(WarehouseError::Other(format!(
            "this warehouse cannot label tables (asked to touch '{name}')"
        )))
    }
    /// Sets a table's description (upstream: the experiment's slug, which `rerun` bookkeeping
    /// and dashboards read); warehouses without descriptions ignore it.
    fn describe_table(&self, name: &str, description: &str) -> Result<(), WarehouseError> {
        let _ = (name, description);
        Ok(())
    }
    /// The bytes a query would scan, where the warehouse can tell without running it
    /// (BigQuery's dry run); `None` elsewhere.
    fn estimate_bytes(&self, sql: &str) -> Result<Option<u64>, WarehouseError> {
        let _ = sql;
        Ok(None)
    }
}
