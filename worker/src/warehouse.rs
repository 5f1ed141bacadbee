//! DuckDB as the warehouse of the embedded default.
//!
//! Queries arrive as BigQuery SQL (the product's one query language) and are translated with
//! `jetstream_dialect` before they run. The dialect's prelude (DuckDB macros standing in for
//! BigQuery builtins and Mozilla's UDFs) is loaded once when the database is opened; the macros
//! persist in it, so the per-query connections need no setup.
//!
//! Outputs go to one schema (the analogue of BigQuery's `--dataset_id`, default `mozanalysis`);
//! the logs table to `monitoring.logs`. Inputs are whatever the configs' `from_expression`s
//! name. Each call takes its own connection to the shared database, so workers on several
//! threads query in parallel.

use duckdb::types::ValueRef;
use duckdb::{params, Connection};
use jetstream_proto::naming::{bq_quoted_identifier, is_table_name};
use jetstream_proto::statistic::Comparison;
use jetstream_proto::warehouse::{Column, Frame, Warehouse, WarehouseError, WriteMode};
use jetstream_proto::{AnalysisBasis, AnalysisError, StatisticRow};
use std::fs::File;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A DuckDB database file (or an in-memory database) used as the warehouse.
pub struct DuckDbWarehouse {
    access: Access,
    dataset: String,
    /// The BigQuery project our tables are named under in generated SQL (`--project-id`); the
    /// translation drops it, so it only shapes the BigQuery text (`--sql-output-dir`).
    project: Option<String>,
}

/// How connections are made.
enum Access {
    /// One process owns the database: connections are clones of one kept open.
    Owned(Mutex<Connection>),
    /// Several processes (a fleet's workers and aggregator on one machine) share the file:
    /// DuckDB lets one process at a time open it, so operations take an exclusive lock on
    /// `<file>.lock` and open the database; see [`SharedFile`].
    Shared(SharedFile),
}

/// A DuckDB file shared with other processes. Opening it costs tens of milliseconds (its
/// catalog is read) and closing it a checkpoint, so a burst of operations (a task's reads)
/// shares one opening: the database stays open, and the lock held, until no operation has
/// used it for [`LINGER`], or for at most [`MAX_HOLD`] while others may be waiting.
struct SharedFile {
    path: PathBuf,
    lock: PathBuf,
    held: Arc<Mutex<Option<Held>>>,
}

/// The open database and its lock, between operations.
struct Held {
    conn: Connection,
    lock: Arc<File>,
    opened: Instant,
    last_used: Instant,
}

/// How long an idle opening is kept for the next operation.
const LINGER: Duration = Duration::from_millis(50);
/// How long one opening serves new operations before the lock is given up for others.
const MAX_HOLD: Duration = Duration::from_millis(500);

/// How long an operation waits for the shared file before the warehouse counts as unavailable
/// (and the task is retried later).
const SHARED_LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// A connection, holding the shared file's lock (if any) for as long as it lives.
pub struct Conn {
    conn: Connection,
    _lock: Option<Arc<File>>,
}

impl Deref for Conn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn query_err(e: duckdb::Error, sql: &str) -> WarehouseError {
    WarehouseError::Query {
        message: e.to_string(),
        sql: sql.to_string(),
    }
}

fn other(e: duckdb::Error) -> WarehouseError {
    WarehouseError::Other(e.to_string())
}

fn checked(name: &str) -> Result<&str, WarehouseError> {
    if is_table_name(name) {
        Ok(name)
    } else {
        Err(WarehouseError::InvalidName(name.to_string()))
    }
}

impl DuckDbWarehouse {
    /// Opens (creating if needed) the database at `path`, with outputs in schema `dataset`.
    pub fn open(path: &Path, dataset: &str) -> Result<DuckDbWarehouse, WarehouseError> {
        let conn = Connection::open(path).map_err(|e| {
            WarehouseError::Other(format!(
                "cannot open DuckDB database {}: {e}",
                path.display()
            ))
        })?;
        Self::init(conn, dataset)
    }

    /// Opens the database at `path` for sharing with other processes: nothing is held open
    /// between operations (see [`Access::Shared`]).
    pub fn open_shared(path: &Path, dataset: &str) -> Result<DuckDbWarehouse, WarehouseError> {
        let mut lock = path.as_os_str().to_owned();
        lock.push(".lock");
        let access = Access::Shared(SharedFile {
            path: path.to_path_buf(),
            lock: PathBuf::from(lock),
            held: Arc::default(),
        });
        let conn = access.connect()?;
        Self::prepare(&conn, dataset)?;
        drop(conn);
        Ok(DuckDbWarehouse {
            access,
            dataset: dataset.to_string(),
            project: None,
        })
    }

    /// An in-memory warehouse (tests).
    pub fn in_memory(dataset: &str) -> Result<DuckDbWarehouse, WarehouseError> {
        let conn = Connection::open_in_memory().map_err(other)?;
        Self::init(conn, dataset)
    }

    fn init(conn: Connection, dataset: &str) -> Result<Self, WarehouseError> {
        Self::prepare(&conn, dataset)?;
        Ok(DuckDbWarehouse {
            access: Access::Owned(Mutex::new(conn)),
            dataset: dataset.to_string(),
            project: None,
        })
    }

    /// Creates our schemas and the logs table, and loads the prelude's macros (which persist
    /// in the database).
    fn prepare(conn: &Connection, dataset: &str) -> Result<(), WarehouseError> {
        checked(dataset)?;
        let ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {dataset};
             CREATE SCHEMA IF NOT EXISTS monitoring;
             CREATE TABLE IF NOT EXISTS monitoring.logs (
                 timestamp TIMESTAMP, source VARCHAR, experiment VARCHAR, metric VARCHAR,
                 statistic VARCHAR, analysis_basis VARCHAR, segment VARCHAR,
                 analysis_period VARCHAR, message VARCHAR, log_level VARCHAR,
                 exception VARCHAR, filename VARCHAR, func_name VARCHAR, exception_type VARCHAR);"
        );
        conn.execute_batch(&ddl).map_err(|e| query_err(e, &ddl))?;
        let prelude = prelude();
        conn.execute_batch(prelude)
            .map_err(|e| query_err(e, prelude))
    }

    /// Names output tables `project.dataset.table` in generated BigQuery SQL, as production
    /// does (`--project-id`). A project id is lowercase letters, digits and `-`.
    pub fn with_project(mut self, project: &str) -> Result<Self, WarehouseError> {
        let valid = !project.is_empty()
            && project
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(WarehouseError::InvalidName(project.to_string()));
        }
        self.project = Some(project.to_string());
        Ok(self)
    }

    /// A fresh connection to the same database (the prelude's macros are in the database).
    pub fn connection(&self) -> Result<Conn, WarehouseError> {
        self.access.connect()
    }

    /// `sql` (BigQuery) in DuckDB's dialect.
    fn translate(sql: &str) -> Result<String, WarehouseError> {
        jetstream_dialect::translate(sql).map_err(|e| WarehouseError::Query {
            message: format!("cannot translate to DuckDB: {e}"),
            sql: sql.to_string(),
        })
    }

    /// `"schema"."table"` (DuckDB syntax) for an output table, after checking the name.
    pub fn qualified(&self, table: &str) -> Result<String, WarehouseError> {
        // Quoted: tables named after slugs may start with a digit.
        Ok(format!("\"{}\".\"{}\"", self.dataset, checked(table)?))
    }

    fn exists_in(&self, conn: &Connection, table: &str) -> Result<bool, WarehouseError> {
        let sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?";
        conn.query_row(sql, params![self.dataset, table], |r| r.get::<_, i64>(0))
            .map(|n| n > 0)
            .map_err(|e| query_err(e, sql))
    }
}

impl Access {
    fn connect(&self) -> Result<Conn, WarehouseError> {
        match self {
            Access::Owned(base) => Ok(Conn {
                conn: base
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .try_clone()
                    .map_err(other)?,
                _lock: None,
            }),
            Access::Shared(shared) => shared.connect(),
        }
    }
}

impl SharedFile {
    fn connect(&self) -> Result<Conn, WarehouseError> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some(h) = held.as_mut() {
            // Reused while fresh, and always while one of its connections is still in use
            // (opening again would wait for our own lock).
            if now.duration_since(h.opened) < MAX_HOLD || Arc::strong_count(&h.lock) > 1 {
                h.last_used = now;
                return Ok(Conn {
                    conn: h.conn.try_clone().map_err(other)?,
                    _lock: Some(Arc::clone(&h.lock)),
                });
            }
            // Held long enough: close, so that a waiting process gets its turn.
            *held = None;
        }
        let lock = Arc::new(lock_exclusively(&self.lock, SHARED_LOCK_TIMEOUT)?);
        let conn = Connection::open(&self.path).map_err(|e| {
            WarehouseError::Unavailable(format!(
                "cannot open DuckDB database {}: {e}",
                self.path.display()
            ))
        })?;
        *held = Some(Held {
            conn: conn.try_clone().map_err(other)?,
            lock: Arc::clone(&lock),
            opened: now,
            last_used: now,
        });
        drop(held);
        self.release_when_idle();
        Ok(Conn {
            conn,
            _lock: Some(lock),
        })
    }

    /// Closes the held opening once idle for [`LINGER`] or held for [`MAX_HOLD`]; the lock is
    /// released when the last connection using it is dropped.
    fn release_when_idle(&self) {
        let held = Arc::downgrade(&self.held);
        std::thread::spawn(move || loop {
            std::thread::sleep(LINGER);
            let Some(held) = held.upgrade() else { return };
            let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
            match held.as_ref() {
                Some(h) if h.last_used.elapsed() < LINGER && h.opened.elapsed() < MAX_HOLD => {}
                Some(_) => {
                    *held = None;
                    return;
                }
                None => return,
            }
        });
    }
}

/// Takes an exclusive lock on `path` (created if missing), waiting up to `timeout`. The lock
/// is released when the file is closed, including when the process dies.
fn lock_exclusively(path: &Path, timeout: Duration) -> Result<File, WarehouseError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| {
            WarehouseError::Unavailable(format!("cannot open lock file {}: {e}", path.display()))
        })?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(WarehouseError::Unavailable(format!(
                    "{} stayed locked by another process for {timeout:?}",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(WarehouseError::Unavailable(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )))
            }
        }
    }
}

/// The dialect's prelude, built once per process and run once per opened database.
fn prelude() -> &'static str {
    static PRELUDE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PRELUDE.get_or_init(jetstream_dialect::duckdb_prelude)
}

/// Runs `sql` on `conn` and reads the whole result into typed columns (shared by the warehouse
/// and the client-file reader).
pub(crate) fn read_frame(conn: &Connection, sql: &str) -> Result<Frame, duckdb::Error> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let names: Vec<String> = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    let mut columns: Vec<ColumnBuilder> = names.iter().map(|_| ColumnBuilder::default()).collect();
    while let Some(row) = rows.next()? {
        for (i, column) in columns.iter_mut().enumerate() {
            column.push(row.get_ref(i)?);
        }
    }
    Ok(Frame {
        columns: names
            .into_iter()
            .zip(columns.into_iter().map(ColumnBuilder::finish))
            .collect(),
    })
}

/// Builds one result column: numeric (booleans as 0/1) until a text value is seen, then text.
/// SQL columns have one type, so a column never mixes the two; leading NULLs are counted.
#[derive(Default)]
enum ColumnBuilder {
    #[default]
    Nulls,
    NullsThen(usize),
    Float(Vec<Option<f64>>),
    Integer(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

impl ColumnBuilder {
    fn push(&mut self, value: ValueRef<'_>) {
        let leading = match self {
            ColumnBuilder::Nulls => 0,
            ColumnBuilder::NullsThen(n) => *n,
            ColumnBuilder::Float(v) | ColumnBuilder::Integer(v) => {
                v.push(as_float(value));
                return;
            }
            ColumnBuilder::Text(v) => {
                v.push(as_text(value));
                return;
            }
        };
        *self = match value {
            ValueRef::Null => ColumnBuilder::NullsThen(leading + 1),
            v if as_float(v).is_some() => {
                let mut column = vec![None; leading];
                column.push(as_float(v));
                if is_integer(v) {
                    ColumnBuilder::Integer(column)
                } else {
                    ColumnBuilder::Float(column)
                }
            }
            v => {
                let mut column = vec![None; leading];
                column.push(as_text(v));
                ColumnBuilder::Text(column)
            }
        };
    }

    fn finish(self) -> Column {
        match self {
            ColumnBuilder::Nulls => Column::Float(Vec::new()),
            ColumnBuilder::NullsThen(n) => Column::Float(vec![None; n]),
            ColumnBuilder::Float(v) => Column::Float(v),
            ColumnBuilder::Integer(v) => Column::Integer(v),
            ColumnBuilder::Text(v) => Column::Text(v),
        }
    }
}

/// Whether a value has an integer SQL type.
fn is_integer(value: ValueRef<'_>) -> bool {
    matches!(
        value,
        ValueRef::TinyInt(_)
            | ValueRef::SmallInt(_)
            | ValueRef::Int(_)
            | ValueRef::BigInt(_)
            | ValueRef::HugeInt(_)
            | ValueRef::UTinyInt(_)
            | ValueRef::USmallInt(_)
            | ValueRef::UInt(_)
            | ValueRef::UBigInt(_)
    )
}

/// Numbers and booleans as f64; None for NULL and non-numeric values.
fn as_float(value: ValueRef<'_>) -> Option<f64> {
    Some(match value {
        ValueRef::Boolean(b) => f64::from(u8::from(b)),
        ValueRef::TinyInt(v) => v as f64,
        ValueRef::SmallInt(v) => v as f64,
        ValueRef::Int(v) => v as f64,
        ValueRef::BigInt(v) => v as f64,
        ValueRef::HugeInt(v) => v as f64,
        ValueRef::UTinyInt(v) => v as f64,
        ValueRef::USmallInt(v) => v as f64,
        ValueRef::UInt(v) => v as f64,
        ValueRef::UBigInt(v) => v as f64,
        ValueRef::Float(v) => v as f64,
        ValueRef::Double(v) => v,
        ValueRef::Decimal(d) => d.to_string().parse().ok()?,
        _ => return None,
    })
}

/// Any other value as text (dates as YYYY-MM-DD); None for NULL.
fn as_text(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null => None,
        ValueRef::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Date32(days) => chrono::NaiveDate::from_num_days_from_ce_opt(719_163 + days)
            .map(|d| d.format("%Y-%m-%d").to_string()),
        other => Some(format!("{:?}", other.to_owned())),
    }
}

fn opt_str(v: &Option<String>) -> Option<&str> {
    v.as_deref()
}

/// How the `last_updated` label is written in a table comment.
const LAST_UPDATED_PREFIX: &str = "last_updated=";

impl Warehouse for DuckDbWarehouse {
    fn table_ref(&self, table: &str) -> Result<String, WarehouseError> {
        // BigQuery syntax: the dataset becomes the DuckDB schema on translation (which drops
        // the project).
        let path = format!("{}.{}", self.dataset, checked(table)?);
        Ok(bq_quoted_identifier(&match &self.project {
            Some(project) => format!("{project}.{path}"),
            None => path,
        }))
    }

    fn create_table_as(
        &self,
        table: &str,
        sql: &str,
        mode: WriteMode,
    ) -> Result<u64, WarehouseError> {
        let name = self.qualified(table)?;
        let sql = &Self::translate(sql)?;
        let conn = self.connection()?;
        let statement = match mode {
            WriteMode::Empty => {
                if self.exists_in(&conn, table)? {
                    return Err(WarehouseError::AlreadyExists(table.to_string()));
                }
                format!("CREATE TABLE {name} AS {sql}")
            }
            WriteMode::Truncate => format!("CREATE OR REPLACE TABLE {name} AS {sql}"),
        };
        conn.execute_batch(&statement).map_err(|e| match mode {
            WriteMode::Empty if e.to_string().contains("already exists") => {
                WarehouseError::AlreadyExists(table.to_string())
            }
            _ => query_err(e, &statement),
        })?;
        // Upstream's `last_updated` label, kept in the table's comment.
        let label = format!(
            "COMMENT ON TABLE {name} IS '{LAST_UPDATED_PREFIX}{}'",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        conn.execute_batch(&label)
            .map_err(|e| query_err(e, &label))?;
        let count_sql = format!("SELECT count(*) FROM {name}");
        conn.query_row(&count_sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| query_err(e, &count_sql))
    }

    fn table_last_updated(
        &self,
        name: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, WarehouseError> {
        self.qualified(name)?;
        let conn = self.connection()?;
        let sql = "SELECT comment FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?";
        let comment: Option<Option<String>> = conn
            .query_row(sql, [self.dataset.as_str(), name], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                duckdb::Error::QueryReturnedNoRows => Ok(None),
                e => Err(query_err(e, sql)),
            })?;
        Ok(comment
            .flatten()
            .and_then(|c| c.strip_prefix(LAST_UPDATED_PREFIX).map(str::to_string))
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)))
    }

    fn drop_table(&self, name: &str) -> Result<bool, WarehouseError> {
        let qualified = self.qualified(name)?;
        let conn = self.connection()?;
        let kind: Option<String> = conn
            .query_row(
                "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [self.dataset.as_str(), name],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                duckdb::Error::QueryReturnedNoRows => Ok(None),
                e => Err(other(e)),
            })?;
        let Some(kind) = kind else {
            return Ok(false);
        };
        let sql = if kind == "VIEW" {
            format!("DROP VIEW IF EXISTS {qualified}")
        } else {
            format!("DROP TABLE IF EXISTS {qualified}")
        };
        conn.execute_batch(&sql).map_err(|e| query_err(e, &sql))?;
        Ok(true)
    }

    fn touch_table(&self, name: &str) -> Result<(), WarehouseError> {
        let qualified = self.qualified(name)?;
        let conn = self.connection()?;
        if !self.exists_in(&conn, name)? {
            return Err(WarehouseError::NotFound(name.to_string()));
        }
        let label = format!(
            "COMMENT ON TABLE {qualified} IS '{LAST_UPDATED_PREFIX}{}'",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        conn.execute_batch(&label).map_err(|e| query_err(e, &label))
    }

    fn query(&self, sql: &str) -> Result<Frame, WarehouseError> {
        let translated = Self::translate(sql)?;
        read_frame(&*self.connection()?, &translated).map_err(|e| query_err(e, &translated))
    }

    fn table_exists(&self, name: &str) -> Result<bool, WarehouseError> {
        let conn = self.connection()?;
        self.exists_in(&conn, checked(name)?)
    }

    fn list_tables(&self, prefix: &str) -> Result<Vec<String>, WarehouseError> {
        let conn = self.connection()?;
        let sql = "SELECT table_name FROM information_schema.tables \
                   WHERE table_schema = ? AND table_type = 'BASE TABLE' AND starts_with(table_name, ?) \
                   ORDER BY table_name";
        let mut stmt = conn.prepare(sql).map_err(|e| query_err(e, sql))?;
        let names = stmt
            .query_map(params![self.dataset, prefix], |r| r.get::<_, String>(0))
            .map_err(|e| query_err(e, sql))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| query_err(e, sql))?;
        Ok(names)
    }

    fn write_statistics(&self, table: &str, rows: &[StatisticRow]) -> Result<(), WarehouseError> {
        let name = self.qualified(table)?;
        let mut conn = self.connection()?;
        let tx = conn.transaction().map_err(other)?;
        let ddl = format!(
            "CREATE OR REPLACE TABLE {name} (
                metric VARCHAR, statistic VARCHAR, parameter DECIMAL(38, 9), branch VARCHAR,
                comparison VARCHAR, comparison_to_branch VARCHAR, ci_width DOUBLE, point DOUBLE,
                lower DOUBLE, upper DOUBLE, segment VARCHAR, analysis_basis VARCHAR)"
        );
        tx.execute_batch(&ddl).map_err(|e| query_err(e, &ddl))?;
        {
            let insert = format!(
                "INSERT INTO {name} VALUES (?, ?, CAST(? AS DECIMAL(38, 9)), ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            );
            let mut stmt = tx.prepare(&insert).map_err(|e| query_err(e, &insert))?;
            for row in rows {
                stmt.execute(params![
                    row.metric,
                    row.statistic,
                    row.parameter,
                    row.branch,
                    row.comparison.map(Comparison::value),
                    opt_str(&row.comparison_to_branch),
                    row.ci_width,
                    row.point,
                    row.lower,
                    row.upper,
                    row.segment,
                    row.analysis_basis.map(AnalysisBasis::value),
                ])
                .map_err(|e| query_err(e, &insert))?;
            }
        }
        tx.commit().map_err(other)
    }

    fn publish_window_view(&self, name: &str, prefix: &str) -> Result<(), WarehouseError> {
        let view = self.qualified(name)?;
        let mut windows: Vec<(u32, String)> = self
            .list_tables(prefix)?
            .into_iter()
            .filter_map(|t| {
                let suffix = t.strip_prefix(prefix)?;
                if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some((suffix.parse().ok()?, t))
            })
            .collect();
        windows.sort();
        if windows.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = windows
            .iter()
            .map(|(n, t)| {
                Ok(format!(
                    "SELECT *, {n}::BIGINT AS window_index FROM {}",
                    self.qualified(t)?
                ))
            })
            .collect::<Result<_, WarehouseError>>()?;
        let sql = format!(
            "CREATE OR REPLACE VIEW {view} AS {}",
            parts.join(" UNION ALL BY NAME ")
        );
        self.connection()?
            .execute_batch(&sql)
            .map_err(|e| query_err(e, &sql))
    }

    fn read_statistics_view(&self, view: &str) -> Result<Vec<StatisticRow>, WarehouseError> {
        let name = self.qualified(view)?;
        let conn = self.connection()?;
        let sql = format!(
            "SELECT metric, statistic, CAST(parameter AS DOUBLE), branch, comparison, comparison_to_branch,
                    ci_width, point, lower, upper, segment, analysis_basis, CAST(window_index AS VARCHAR)
             FROM {name}
             ORDER BY window_index, analysis_basis, segment, metric, statistic, branch,
                      comparison NULLS FIRST, comparison_to_branch NULLS FIRST, parameter NULLS FIRST"
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| query_err(e, &sql))?;
        let rows = stmt
            .query_map([], |r| {
                let comparison: Option<String> = r.get(4)?;
                let basis: Option<String> = r.get(11)?;
                Ok(StatisticRow {
                    metric: r.get(0)?,
                    statistic: r.get(1)?,
                    parameter: r.get(2)?,
                    branch: r.get(3)?,
                    comparison: comparison.and_then(|c| match c.as_str() {
                        "difference" => Some(Comparison::Difference),
                        "relative_uplift" => Some(Comparison::RelativeUplift),
                        _ => None,
                    }),
                    comparison_to_branch: r.get(5)?,
                    ci_width: r.get(6)?,
                    point: r.get(7)?,
                    lower: r.get(8)?,
                    upper: r.get(9)?,
                    segment: r.get(10)?,
                    analysis_basis: basis.as_deref().and_then(AnalysisBasis::parse),
                    window_index: r.get(12)?,
                })
            })
            .map_err(|e| query_err(e, &sql))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| query_err(e, &sql))?;
        Ok(rows)
    }

    fn append_logs(&self, errors: &[AnalysisError]) -> Result<(), WarehouseError> {
        if errors.is_empty() {
            return Ok(());
        }
        let mut conn = self.connection()?;
        let tx = conn.transaction().map_err(other)?;
        {
            let sql = "INSERT INTO monitoring.logs VALUES (?, 'jetstream', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            let mut stmt = tx.prepare(sql).map_err(|e| query_err(e, sql))?;
            for e in errors {
                stmt.execute(params![
                    e.timestamp.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                    opt_str(&e.experiment),
                    opt_str(&e.metric),
                    opt_str(&e.statistic),
                    e.analysis_basis.map(AnalysisBasis::value),
                    opt_str(&e.segment),
                    opt_str(&e.analysis_period),
                    e.message,
                    e.log_level,
                    opt_str(&e.exception),
                    e.filename,
                    e.func_name,
                    opt_str(&e.exception_type),
                ])
                .map_err(|err| query_err(err, sql))?;
            }
        }
        tx.commit().map_err(other)
    }

    fn read_logs(&self, experiment: &str) -> Result<Vec<AnalysisError>, WarehouseError> {
        let conn = self.connection()?;
        let sql = "SELECT strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%fZ'), log_level, experiment, metric, statistic, segment,
                          analysis_basis, analysis_period, message, exception, exception_type, filename, func_name
                   FROM monitoring.logs WHERE experiment = ? ORDER BY timestamp";
        let mut stmt = conn.prepare(sql).map_err(|e| query_err(e, sql))?;
        let rows = stmt
            .query_map(params![experiment], |r| {
                let ts: String = r.get(0)?;
                let basis: Option<String> = r.get(6)?;
                Ok((
                    ts,
                    basis,
                    AnalysisError {
                        timestamp: chrono::DateTime::<chrono::Utc>::MIN_UTC,
                        log_level: r.get(1)?,
                        experiment: r.get(2)?,
                        metric: r.get(3)?,
                        statistic: r.get(4)?,
                        segment: r.get(5)?,
                        analysis_basis: None,
                        analysis_period: r.get(7)?,
                        message: r.get(8)?,
                        exception: r.get(9)?,
                        exception_type: r.get(10)?,
                        filename: r.get(11)?,
                        func_name: r.get(12)?,
                    },
                ))
            })
            .map_err(|e| query_err(e, sql))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| query_err(e, sql))?;
        Ok(rows
            .into_iter()
            .map(|(ts, basis, mut e)| {
                e.timestamp = chrono::DateTime::parse_from_rfc3339(&ts)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .unwrap_or(e.timestamp);
                e.analysis_basis = basis.as_deref().and_then(AnalysisBasis::parse);
                e
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_tables_carry_their_last_updated_time() {
        let w = DuckDbWarehouse::in_memory("mozanalysis").unwrap();
        assert_eq!(w.table_last_updated("enrollments_x").unwrap(), None);
        let before = chrono::Utc::now();
        w.create_table_as("enrollments_x", "SELECT 1 AS a", WriteMode::Empty)
            .unwrap();
        let written = w.table_last_updated("enrollments_x").unwrap().unwrap();
        assert!(written >= before - chrono::Duration::seconds(1));
        assert!(written <= chrono::Utc::now());
        // A name that is not a plain identifier is refused, not quoted into SQL.
        assert!(w.table_last_updated("x'; DROP TABLE y; --").is_err());
    }

    #[test]
    fn tables_and_views_are_dropped_and_touched() {
        let w = DuckDbWarehouse::in_memory("mozanalysis").unwrap();
        w.create_table_as("s_week_1", "SELECT 1 AS a", WriteMode::Truncate)
            .unwrap();
        w.publish_window_view("s_weekly", "s_week_").unwrap();
        let first = w.table_last_updated("s_week_1").unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        w.touch_table("s_week_1").unwrap();
        assert!(w.table_last_updated("s_week_1").unwrap().unwrap() > first);
        assert!(matches!(
            w.touch_table("missing"),
            Err(WarehouseError::NotFound(_))
        ));
        assert!(w.drop_table("s_weekly").unwrap());
        assert!(w.drop_table("s_week_1").unwrap());
        assert!(!w.drop_table("s_week_1").unwrap());
        assert!(!w.table_exists("s_week_1").unwrap());
        assert!(w.drop_table("a;b").is_err());
    }
}
