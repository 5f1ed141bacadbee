//! BigQuery as the warehouse: the production counterpart of the embedded DuckDB.
//!
//! Generated SQL is BigQuery's own, so it runs unchanged. Output tables are written with DDL
//! (`CREATE [OR REPLACE] TABLE ... AS`), which behaves the same on BigQuery and on the local
//! emulators (which ignore a query job's destination table), then labelled as upstream labels
//! them: `last_updated` (epoch seconds) on every write, `schema_version` on statistics tables.
//! Statistics tables are replaced in one statement, so readers never see half a table. Views
//! over a period's windows use the wildcard table, as upstream's do. Logs are streamed into
//! `<project>.monitoring.logs` (created with upstream's columns when missing).

mod values;

use crate::auth::{CredentialsError, GoogleCredentials};
use crate::bridge::Bridge;
use async_trait::async_trait;
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::dataset::Dataset;
use gcp_bigquery_client::model::get_query_results_parameters::GetQueryResultsParameters;
use gcp_bigquery_client::model::query_request::QueryRequest;
use gcp_bigquery_client::model::table::Table;
use gcp_bigquery_client::model::table_data_insert_all_request::TableDataInsertAllRequest;
use gcp_bigquery_client::model::table_field_schema::TableFieldSchema;
use gcp_bigquery_client::model::table_schema::TableSchema;
use gcp_bigquery_client::table::ListOptions;
use gcp_bigquery_client::Client;
use jetstream_proto::naming::{bq_quoted_identifier, bq_string_literal, is_table_name};
use jetstream_proto::statistic::Comparison;
use jetstream_proto::warehouse::{Frame, Warehouse, WarehouseError, WriteMode};
use jetstream_proto::{AnalysisBasis, AnalysisError, StatisticRow};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use values::{statistics_columns_ddl, statistics_selects, FrameBuilder};

/// Upstream's statistics schema version, written as the `schema_version` label.
pub const STATISTICS_SCHEMA_VERSION: &str = "4";

/// How long one `jobs.query` call waits for a job before polling its results.
const QUERY_WAIT: Duration = Duration::from_secs(10);
/// Rows per page of results.
const PAGE_ROWS: i32 = 50_000;
/// The default largest statement text written at once (BigQuery's limit is 1 MB).
const MAX_STATEMENT_BYTES: usize = 900_000;

/// Where the warehouse lives and how to reach it.
#[derive(Debug, Clone)]
pub struct BigQueryConfig {
    /// Project that runs the jobs and holds the output dataset (`--project-id`).
    pub project: String,
    /// Dataset of the output tables (`--dataset-id`).
    pub dataset: String,
    /// The logs table as `project.dataset.table` (upstream: `<project>.monitoring.logs`).
    pub logs_table: String,
    /// Base URL of an emulator (`http://127.0.0.1:9050`); `None` for Google.
    pub endpoint: Option<String>,
    pub credentials: GoogleCredentials,
    /// Where jobs run (`US` by default, as upstream).
    pub location: Option<String>,
    /// The longest statement written at once; larger statistics tables are built in parts
    /// (BigQuery's limit is 1 MB of SQL).
    pub max_statement_bytes: usize,
}

impl BigQueryConfig {
    /// Outputs in `project.dataset`, logs in `project.monitoring.logs`, credentials from ADC.
    pub fn new(project: &str, dataset: &str) -> BigQueryConfig {
        BigQueryConfig {
            project: project.to_string(),
            dataset: dataset.to_string(),
            logs_table: format!("{project}.monitoring.logs"),
            endpoint: None,
            credentials: GoogleCredentials::Default,
            location: None,
            max_statement_bytes: MAX_STATEMENT_BYTES,
        }
    }
}

/// Why the warehouse could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("invalid BigQuery {what} '{value}': {expected}")]
    Invalid {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("cannot reach BigQuery{}: {reason}", endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default())]
    Unreachable {
        endpoint: Option<String>,
        reason: String,
    },
}

/// A BigQuery dataset used as the warehouse.
pub struct BigQueryWarehouse {
    bridge: Bridge,
    client: Arc<Client>,
    config: BigQueryConfig,
    logs: TablePath,
    logs_ready: OnceLock<()>,
}

/// `project.dataset.table`, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TablePath {
    project: String,
    dataset: String,
    table: String,
}

impl TablePath {
    fn parse(text: &str) -> Option<TablePath> {
        let mut parts = text.split('.');
        let (project, dataset, table) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || !is_project_id(project)
            || !is_table_name(dataset)
            || !is_table_name(table)
        {
            return None;
        }
        Some(TablePath {
            project: project.into(),
            dataset: dataset.into(),
            table: table.into(),
        })
    }

    fn sql(&self) -> String {
        bq_quoted_identifier(&format!("{}.{}.{}", self.project, self.dataset, self.table))
    }
}

/// A Google Cloud project id: lowercase letters, digits and hyphens (and the legacy
/// `domain:` prefix), so it is safe inside a quoted table path.
pub fn is_project_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == ':' || c == '.'
        })
        && id.starts_with(|c: char| c.is_ascii_lowercase())
}

/// A token source for the REST client: Google credentials, or a fixed token for emulators.
#[derive(Clone)]
struct TokenSource(Option<google_cloud_auth::credentials::AccessTokenCredentials>);

#[async_trait]
impl gcp_bigquery_client::auth::Authenticator for TokenSource {
    async fn access_token(&self) -> Result<String, BQError> {
        match &self.0 {
            None => Ok("emulator".to_string()),
            Some(credentials) => credentials
                .access_token()
                .await
                .map(|t| t.token)
                // The error names the failure (e.g. the metadata server is unreachable), never
                // a token.
                .map_err(|e| {
                    BQError::InvalidApplicationDefaultCredentialsAuthenticator(
                        std::io::Error::other(format!("cannot get a Google access token: {e}")),
                    )
                }),
        }
    }
}

impl BigQueryWarehouse {
    /// Connects, and creates the output and logs datasets if they are missing.
    pub fn open(config: BigQueryConfig) -> Result<BigQueryWarehouse, OpenError> {
        if !is_project_id(&config.project) {
            return Err(OpenError::Invalid {
                what: "project",
                value: config.project.clone(),
                expected: "lowercase letters, digits and '-'",
            });
        }
        if !is_table_name(&config.dataset) {
            return Err(OpenError::Invalid {
                what: "dataset",
                value: config.dataset.clone(),
                expected: "letters, digits and '_'",
            });
        }
        let logs = TablePath::parse(&config.logs_table).ok_or_else(|| OpenError::Invalid {
            what: "logs table",
            value: config.logs_table.clone(),
            expected: "project.dataset.table",
        })?;
        let bridge = Bridge::new("bigquery", 2).map_err(|e| OpenError::Unreachable {
            endpoint: config.endpoint.clone(),
            reason: format!("cannot start a runtime: {e}"),
        })?;
        // Google's credentials start their token refresh on the runtime they are built in.
        let credentials = config.credentials.clone();
        let tokens = TokenSource(
            bridge
                .run(async move { credentials.token_source() })
                .ok_or_else(|| OpenError::Unreachable {
                    endpoint: config.endpoint.clone(),
                    reason: "runtime stopped".into(),
                })??,
        );
        let endpoint = config.endpoint.clone();
        let client = bridge
            .run(async move {
                let mut builder = gcp_bigquery_client::client_builder::ClientBuilder::new();
                if let Some(endpoint) = endpoint {
                    builder.with_v2_base_url(format!(
                        "{}/bigquery/v2",
                        endpoint.trim_end_matches('/')
                    ));
                }
                builder.build_from_authenticator(Arc::new(tokens)).await
            })
            .ok_or_else(|| OpenError::Unreachable {
                endpoint: config.endpoint.clone(),
                reason: "runtime stopped".into(),
            })?
            .map_err(|e| OpenError::Unreachable {
                endpoint: config.endpoint.clone(),
                reason: e.to_string(),
            })?;
        let warehouse = BigQueryWarehouse {
            bridge,
            client: Arc::new(client),
            logs,
            logs_ready: OnceLock::new(),
            config,
        };
        let (project, dataset) = (
            warehouse.config.project.clone(),
            warehouse.config.dataset.clone(),
        );
        warehouse
            .ensure_dataset(&project, &dataset)
            .map_err(|e| OpenError::Unreachable {
                endpoint: warehouse.config.endpoint.clone(),
                reason: e.to_string(),
            })?;
        Ok(warehouse)
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &BigQueryConfig {
        &self.config
    }

    fn table(&self, name: &str) -> Result<TablePath, WarehouseError> {
        if !is_table_name(name) {
            return Err(WarehouseError::InvalidName(name.to_string()));
        }
        Ok(TablePath {
            project: self.config.project.clone(),
            dataset: self.config.dataset.clone(),
            table: name.to_string(),
        })
    }

    /// Runs `future` on the bridge; a stopped runtime counts as unavailable.
    fn run<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = Result<T, WarehouseError>> + Send + 'static,
    ) -> Result<T, WarehouseError> {
        self.bridge.run(future).unwrap_or_else(|| {
            Err(WarehouseError::Unavailable(
                "BigQuery client stopped".into(),
            ))
        })
    }

    fn jobs(&self) -> Jobs {
        Jobs {
            client: self.client.clone(),
            project: self.config.project.clone(),
            location: self.config.location.clone(),
        }
    }

    /// Runs a statement or query and returns its rows.
    fn execute(&self, sql: &str) -> Result<Frame, WarehouseError> {
        let jobs = self.jobs();
        let sql = sql.to_string();
        self.run(async move { jobs.run(&sql, false).await.map(|(frame, _)| frame) })
    }

    /// The bytes a query would process, without running it (a dry run): what `preview` and
    /// the online `validate-config` report.
    pub fn dry_run_bytes(&self, sql: &str) -> Result<u64, WarehouseError> {
        let jobs = self.jobs();
        let sql = sql.to_string();
        self.run(async move { jobs.run(&sql, true).await.map(|(_, bytes)| bytes) })
    }

    fn get_table(&self, path: &TablePath) -> Result<Option<Table>, WarehouseError> {
        let client = self.client.clone();
        let path = path.clone();
        self.run(async move {
            match client
                .table()
                .get(&path.project, &path.dataset, &path.table, None)
                .await
            {
                Ok(table) => Ok(Some(table)),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(api_error(&format!("reading table {}", path.sql()), e)),
            }
        })
    }

    /// Sets labels (merged with the table's others); returns the patched table, whose
    /// metadata (row count) callers read instead of fetching it again. `None` when a
    /// concurrent update won (upstream logs and ignores that).
    fn label(
        &self,
        path: &TablePath,
        labels: &[(&str, String)],
    ) -> Result<Option<Table>, WarehouseError> {
        let client = self.client.clone();
        let path = path.clone();
        let labels: HashMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self.run(async move {
            let mut patch = Table::new(&path.project, &path.dataset, &path.table, TableSchema::default());
            patch.labels = Some(labels);
            match client
                .table()
                .patch(&path.project, &path.dataset, &path.table, patch)
                .await
            {
                Ok(table) => Ok(Some(table)),
                // A concurrent update of the same table's metadata: upstream logs and ignores it.
                Err(e) if http_status(&e) == Some(412) => {
                    tracing::warn!(table = %path.sql(), "labels not updated: a concurrent update won");
                    Ok(None)
                }
                Err(e) => Err(api_error(&format!("labelling table {}", path.sql()), e)),
            }
        })
    }

    fn ensure_dataset(&self, project: &str, dataset: &str) -> Result<(), WarehouseError> {
        let client = self.client.clone();
        let (project, dataset) = (project.to_string(), dataset.to_string());
        let location = self.config.location.clone();
        self.run(async move {
            match client.dataset().get(&project, &dataset).await {
                Ok(_) => return Ok(()),
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(api_error(
                        &format!("reading dataset {project}.{dataset}"),
                        e,
                    ))
                }
            }
            let mut new = Dataset::new(&project, &dataset);
            if let Some(location) = location {
                new = new.location(&location);
            }
            match client.dataset().create(new).await {
                Ok(_) => {
                    tracing::info!(%project, %dataset, "created dataset");
                    Ok(())
                }
                Err(e) if http_status(&e) == Some(409) => Ok(()),
                Err(e) => Err(api_error(
                    &format!("creating dataset {project}.{dataset}"),
                    e,
                )),
            }
        })
    }

    /// Creates the logs table with upstream's columns unless it exists (once per process).
    fn ensure_logs_table(&self) -> Result<(), WarehouseError> {
        if self.logs_ready.get().is_some() {
            return Ok(());
        }
        self.ensure_dataset(&self.logs.project, &self.logs.dataset)?;
        let client = self.client.clone();
        let logs = self.logs.clone();
        self.run(async move {
            let schema = TableSchema::new(
                [
                    TableFieldSchema::timestamp("timestamp"),
                    TableFieldSchema::string("source"),
                    TableFieldSchema::string("experiment"),
                    TableFieldSchema::string("metric"),
                    TableFieldSchema::string("statistic"),
                    TableFieldSchema::string("analysis_basis"),
                    TableFieldSchema::string("segment"),
                    TableFieldSchema::string("analysis_period"),
                    TableFieldSchema::string("message"),
                    TableFieldSchema::string("log_level"),
                    TableFieldSchema::string("exception"),
                    TableFieldSchema::string("filename"),
                    TableFieldSchema::string("func_name"),
                    TableFieldSchema::string("exception_type"),
                ]
                .to_vec(),
            );
            match client
                .table()
                .get(&logs.project, &logs.dataset, &logs.table, None)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error(&format!("reading table {}", logs.sql()), e)),
            }
            match client
                .table()
                .create(Table::new(
                    &logs.project,
                    &logs.dataset,
                    &logs.table,
                    schema,
                ))
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if http_status(&e) == Some(409) => Ok(()),
                Err(e) => Err(api_error(&format!("creating table {}", logs.sql()), e)),
            }
        })?;
        let _ = self.logs_ready.set(());
        Ok(())
    }

    /// Creates (or replaces) `table` (`project.dataset.table`, or `dataset.table` in the
    /// warehouse's project) with `columns` (name and BigQuery type, e.g.
    /// `ARRAY<STRUCT<key STRING, value STRING>>`) and streams `rows` (JSON objects keyed by
    /// column) into it in batches: for fixtures and small loads, such as the synthetic
    /// telemetry the tests analyse on an emulator.
    pub fn insert_rows(
        &self,
        table: &str,
        columns: &[(String, String)],
        rows: Vec<serde_json::Value>,
    ) -> Result<(), WarehouseError> {
        let full = if table.matches('.').count() == 1 {
            format!("{}.{table}", self.config.project)
        } else {
            table.to_string()
        };
        let path = TablePath::parse(&full)
            .ok_or_else(|| WarehouseError::InvalidName(table.to_string()))?;
        self.ensure_dataset(&path.project, &path.dataset)?;
        let mut ddl = Vec::with_capacity(columns.len());
        for (name, ty) in columns {
            if !jetstream_proto::naming::is_plain_identifier(name)
                || !ty
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " <>,_".contains(c))
            {
                return Err(WarehouseError::Other(format!(
                    "invalid column `{name}` of type `{ty}`"
                )));
            }
            ddl.push(format!("{name} {ty}"));
        }
        self.execute(&format!(
            "CREATE OR REPLACE TABLE {} ({})",
            path.sql(),
            ddl.join(", ")
        ))?;
        for batch in rows.chunks(5_000) {
            let mut request = TableDataInsertAllRequest::new();
            for row in batch {
                request
                    .add_row(None, row.clone())
                    .map_err(|e| WarehouseError::Other(format!("encoding a row: {e}")))?;
            }
            self.insert_all(&path, request)?;
        }
        Ok(())
    }

    /// Streams rows into a table (`tabledata.insertAll`); rejected rows are an error.
    fn insert_all(
        &self,
        path: &TablePath,
        request: TableDataInsertAllRequest,
    ) -> Result<(), WarehouseError> {
        let client = self.client.clone();
        let path = path.clone();
        self.run(async move {
            let response = client
                .tabledata()
                .insert_all(&path.project, &path.dataset, &path.table, request)
                .await
                .map_err(|e| api_error(&format!("inserting into {}", path.sql()), e))?;
            match response.insert_errors.as_deref() {
                Some([first, ..]) => Err(WarehouseError::Other(format!(
                    "inserting into {}: rows rejected, e.g. {first:?}",
                    path.sql()
                ))),
                _ => Ok(()),
            }
        })
    }

    /// Deletes a table or view if it exists; true when something was deleted. Views go
    /// through `DROP VIEW` (the emulators cannot delete a DDL view through the API).
    fn drop_table_or_view(&self, name: &str) -> Result<bool, WarehouseError> {
        let path = self.table(name)?;
        let Some(table) = self.get_table(&path)? else {
            return Ok(false);
        };
        let kind = if table.r#type.as_deref() == Some("VIEW") {
            "VIEW"
        } else {
            "TABLE"
        };
        self.execute(&format!("DROP {kind} IF EXISTS {}", path.sql()))?;
        Ok(true)
    }
}

fn epoch_seconds_now() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// Query execution: `jobs.query`, then `getQueryResults` until the job is done and every
/// page is read.
struct Jobs {
    client: Arc<Client>,
    project: String,
    location: Option<String>,
}

impl Jobs {
    /// Runs `sql`; returns its rows and the bytes it processed (the estimate, for a dry run).
    async fn run(&self, sql: &str, dry_run: bool) -> Result<(Frame, u64), WarehouseError> {
        let mut request = QueryRequest::new(sql);
        request.use_legacy_sql = false;
        request.dry_run = Some(dry_run);
        request.timeout_ms = Some(QUERY_WAIT.as_millis() as i32);
        request.max_results = Some(PAGE_ROWS);
        request.location = self.location.clone();
        let failed = |e: BQError| query_error(sql, e);
        let response = self
            .client
            .job()
            .query(&self.project, request)
            .await
            .map_err(failed)?;
        check_errors(sql, response.errors.as_deref())?;
        let bytes = response
            .total_bytes_processed
            .as_deref()
            .and_then(|b| b.parse().ok())
            .unwrap_or(0);
        if dry_run {
            return Ok((Frame::default(), bytes));
        }
        let job = response.job_reference.as_ref();
        let job_id = job.and_then(|j| j.job_id.clone());
        let location = job
            .and_then(|j| j.location.clone())
            .or_else(|| self.location.clone());
        let (mut complete, mut schema, mut rows, mut page_token) = (
            response.job_complete.unwrap_or(false),
            response.schema,
            response.rows.unwrap_or_default(),
            response.page_token,
        );
        let mut frame: Option<FrameBuilder> = None;
        loop {
            if complete {
                let builder = frame.get_or_insert_with(|| {
                    FrameBuilder::new(
                        schema
                            .as_ref()
                            .and_then(|s| s.fields.as_deref())
                            .unwrap_or_default(),
                    )
                });
                builder
                    .push_rows(&rows)
                    .map_err(|message| WarehouseError::Query {
                        message,
                        sql: sql.to_string(),
                    })?;
                if page_token.is_none() {
                    break;
                }
            }
            let Some(job_id) = &job_id else {
                // Finished without a job to page through (a statement with no rows).
                break;
            };
            let page = self
                .client
                .job()
                .get_query_results(
                    &self.project,
                    job_id,
                    GetQueryResultsParameters {
                        page_token: if complete { page_token.clone() } else { None },
                        max_results: Some(PAGE_ROWS),
                        location: location.clone(),
                        timeout_ms: Some(QUERY_WAIT.as_millis() as i32),
                        ..Default::default()
                    },
                )
                .await
                .map_err(failed)?;
            check_errors(sql, page.errors.as_deref())?;
            complete = page.job_complete.unwrap_or(false);
            if complete {
                schema = page.schema.or(schema);
                rows = page.rows.unwrap_or_default();
                page_token = page.page_token;
            }
        }
        let frame = frame.map(FrameBuilder::finish).unwrap_or_default();
        Ok((frame, bytes))
    }
}

/// A query's `errors` (the emulators report failures there with HTTP 200).
fn check_errors(
    sql: &str,
    errors: Option<&[gcp_bigquery_client::model::error_proto::ErrorProto]>,
) -> Result<(), WarehouseError> {
    let Some(first) = errors.and_then(|e| e.first()) else {
        return Ok(());
    };
    let reason = first.reason.clone().unwrap_or_default();
    let message = first.message.clone().unwrap_or_default();
    Err(classify(&reason, &message, sql))
}

fn classify(reason: &str, message: &str, sql: &str) -> WarehouseError {
    let text = format!("{reason}: {message}");
    match reason {
        "duplicate" => WarehouseError::AlreadyExists(text),
        "backendError" | "internalError" | "rateLimitExceeded" | "jobBackendError"
        | "jobInternalError" => WarehouseError::Unavailable(text),
        _ if message.contains("Already Exists") || message.contains("already exists") => {
            WarehouseError::AlreadyExists(text)
        }
        _ => WarehouseError::Query {
            message: text,
            sql: sql.to_string(),
        },
    }
}

fn query_error(sql: &str, error: BQError) -> WarehouseError {
    match &error {
        BQError::ResponseError { error: e } => {
            let reason = e
                .error
                .errors
                .first()
                .and_then(|d| d.get("reason"))
                .cloned()
                .unwrap_or_default();
            if matches!(e.error.code, 429 | 500 | 502 | 503 | 504) {
                WarehouseError::Unavailable(format!("{} {}", e.error.code, e.error.message))
            } else {
                classify(&reason, &e.error.message, sql)
            }
        }
        _ => api_error("running a query", error),
    }
}

fn http_status(error: &BQError) -> Option<i64> {
    match error {
        BQError::ResponseError { error } => Some(error.error.code),
        _ => None,
    }
}

fn is_not_found(error: &BQError) -> bool {
    http_status(error) == Some(404)
}

/// A failed API call: transport failures and server-side errors are retryable.
fn api_error(doing: &str, error: BQError) -> WarehouseError {
    match &error {
        BQError::RequestError(_)
        | BQError::InvalidApplicationDefaultCredentialsAuthenticator(_) => {
            WarehouseError::Unavailable(format!("{doing}: {error}"))
        }
        BQError::ResponseError { error: e }
            if matches!(e.error.code, 429 | 500 | 502 | 503 | 504) =>
        {
            WarehouseError::Unavailable(format!("{doing}: {} {}", e.error.code, e.error.message))
        }
        BQError::ResponseError { error: e } => {
            WarehouseError::Other(format!("{doing}: {} {}", e.error.code, e.error.message))
        }
        _ => WarehouseError::Other(format!("{doing}: {error}")),
    }
}

impl Warehouse for BigQueryWarehouse {
    fn table_ref(&self, table: &str) -> Result<String, WarehouseError> {
        Ok(self.table(table)?.sql())
    }

    fn create_table_as(
        &self,
        table: &str,
        sql: &str,
        mode: WriteMode,
    ) -> Result<u64, WarehouseError> {
        let path = self.table(table)?;
        let statement = match mode {
            WriteMode::Empty => {
                // Checked first: a CREATE TABLE of an existing table is not an error on every
                // emulator.
                if self.get_table(&path)?.is_some() {
                    return Err(WarehouseError::AlreadyExists(table.to_string()));
                }
                format!("CREATE TABLE {} AS\n{sql}", path.sql())
            }
            WriteMode::Truncate => format!("CREATE OR REPLACE TABLE {} AS\n{sql}", path.sql()),
        };
        self.execute(&statement).map_err(|e| match (mode, e) {
            (WriteMode::Empty, WarehouseError::AlreadyExists(_)) => {
                WarehouseError::AlreadyExists(table.to_string())
            }
            (_, e) => e,
        })?;
        let rows = self
            .label(&path, &[("last_updated", epoch_seconds_now())])?
            .and_then(|t| t.num_rows)
            .and_then(|n| n.parse().ok());
        match rows {
            Some(n) => Ok(n),
            None => {
                let count = self.execute(&format!("SELECT COUNT(*) AS n FROM {}", path.sql()))?;
                Ok(count
                    .column("n")
                    .and_then(|c| c.numbers()?.first().copied().flatten())
                    .unwrap_or(0.0) as u64)
            }
        }
    }

    fn query(&self, sql: &str) -> Result<Frame, WarehouseError> {
        self.execute(sql)
    }

    fn table_exists(&self, name: &str) -> Result<bool, WarehouseError> {
        let path = self.table(name)?;
        Ok(self.get_table(&path)?.is_some())
    }

    fn list_tables(&self, prefix: &str) -> Result<Vec<String>, WarehouseError> {
        let client = self.client.clone();
        let (project, dataset) = (self.config.project.clone(), self.config.dataset.clone());
        let prefix = prefix.to_string();
        self.run(async move {
            let mut names = Vec::new();
            let mut page_token: Option<String> = None;
            loop {
                let mut options = ListOptions::default().max_results(1000);
                if let Some(token) = page_token.take() {
                    options = options.page_token(token);
                }
                let page = client
                    .table()
                    .list(&project, &dataset, options)
                    .await
                    .map_err(|e| api_error(&format!("listing tables of {project}.{dataset}"), e))?;
                for table in page.tables.unwrap_or_default() {
                    let is_table = table.r#type.as_deref().is_none_or(|t| t == "TABLE");
                    let name = &table.table_reference.table_id;
                    if is_table && name.starts_with(&prefix) {
                        names.push(name.clone());
                    }
                }
                match page.next_page_token {
                    Some(token) if !token.is_empty() => page_token = Some(token),
                    _ => break,
                }
            }
            names.sort();
            Ok(names)
        })
    }

    fn write_statistics(&self, table: &str, rows: &[StatisticRow]) -> Result<(), WarehouseError> {
        let path = self.table(table)?;
        // The rows' STRUCT literals carry every column's name and type, so `AS SELECT` needs no
        // column list (which not every BigQuery dialect accepts together with a query).
        let replace = format!("CREATE OR REPLACE TABLE {}", path.sql());
        let selects = statistics_selects(rows, self.config.max_statement_bytes);
        match selects.as_slice() {
            [] => self.execute(&format!("{replace} {}", statistics_columns_ddl()))?,
            [one] => self.execute(&format!("{replace} AS\n{one}"))?,
            [first, rest @ ..] => {
                // Too large for one statement: built in a staging table, then swapped in with
                // one statement, so the table is never seen half written.
                let staging = self.table(&format!("{table}__staging"))?;
                self.execute(&format!(
                    "CREATE OR REPLACE TABLE {} AS\n{first}",
                    staging.sql()
                ))?;
                for select in rest {
                    self.execute(&format!("INSERT INTO {}\n{select}", staging.sql()))?;
                }
                self.execute(&format!("{replace} AS\nSELECT * FROM {}", staging.sql()))?;
                self.execute(&format!("DROP TABLE IF EXISTS {}", staging.sql()))?
            }
        };
        self.label(
            &path,
            &[
                ("last_updated", epoch_seconds_now()),
                ("schema_version", STATISTICS_SCHEMA_VERSION.to_string()),
            ],
        )
        .map(|_| ())
    }

    fn publish_window_view(&self, name: &str, prefix: &str) -> Result<(), WarehouseError> {
        let view = self.table(name)?;
        let windows = self
            .list_tables(prefix)?
            .into_iter()
            .filter(|t| {
                t.strip_prefix(prefix)
                    .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            })
            .count();
        if windows == 0 {
            return Ok(());
        }
        // Upstream's view: every window table through the wildcard, its number taken from the
        // suffix. Tables of other periods never match (`week_` is not a prefix of `weekly`).
        let wildcard = TablePath {
            table: format!("{prefix}*"),
            ..self.table(prefix)?
        };
        let sql = format!(
            "CREATE OR REPLACE VIEW {} AS\nSELECT *, CAST(REGEXP_EXTRACT(_TABLE_SUFFIX, r'^(\\d+)$') AS INT64) AS window_index\nFROM {}\nWHERE REGEXP_CONTAINS(_TABLE_SUFFIX, r'^\\d+$')",
            view.sql(),
            wildcard.sql()
        );
        self.execute(&sql).map(|_| ())
    }

    fn read_statistics_view(&self, view: &str) -> Result<Vec<StatisticRow>, WarehouseError> {
        let path = self.table(view)?;
        let sql = format!(
            "SELECT metric, statistic, CAST(parameter AS FLOAT64) AS parameter, branch, comparison,
                    comparison_to_branch, ci_width, point, lower, upper, segment, analysis_basis,
                    CAST(window_index AS STRING) AS window_index_text
             FROM {}
             ORDER BY window_index, analysis_basis, segment, metric, statistic, branch,
                      comparison NULLS FIRST, comparison_to_branch NULLS FIRST, parameter NULLS FIRST",
            path.sql()
        );
        let frame = self.execute(&sql)?;
        statistics_from_frame(&frame).map_err(|message| WarehouseError::Query { message, sql })
    }

    fn append_logs(&self, errors: &[AnalysisError]) -> Result<(), WarehouseError> {
        if errors.is_empty() {
            return Ok(());
        }
        self.ensure_logs_table()?;
        let mut request = TableDataInsertAllRequest::new();
        for e in errors {
            let row = serde_json::json!({
                "timestamp": e.timestamp.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                "source": "jetstream",
                "experiment": e.experiment,
                "metric": e.metric,
                "statistic": e.statistic,
                "analysis_basis": e.analysis_basis.map(AnalysisBasis::value),
                "segment": e.segment,
                "analysis_period": e.analysis_period,
                "message": e.message,
                "log_level": e.log_level,
                "exception": e.exception,
                "filename": e.filename,
                "func_name": e.func_name,
                "exception_type": e.exception_type,
            });
            request
                .add_row(None, row)
                .map_err(|err| WarehouseError::Other(format!("encoding a log row: {err}")))?;
        }
        self.insert_all(&self.logs, request)
    }

    fn read_logs(&self, experiment: &str) -> Result<Vec<AnalysisError>, WarehouseError> {
        self.ensure_logs_table()?;
        let sql = format!(
            "SELECT FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6SZ', timestamp) AS ts, log_level, experiment, metric,
                    statistic, segment, analysis_basis, analysis_period, message, exception,
                    exception_type, filename, func_name
             FROM {} WHERE experiment = {} ORDER BY timestamp",
            self.logs.sql(),
            bq_string_literal(experiment)
        );
        let frame = self.execute(&sql)?;
        logs_from_frame(&frame).map_err(|message| WarehouseError::Query { message, sql })
    }

    fn drop_table(&self, name: &str) -> Result<bool, WarehouseError> {
        self.drop_table_or_view(name)
    }

    fn touch_table(&self, name: &str) -> Result<(), WarehouseError> {
        let path = self.table(name)?;
        if self.get_table(&path)?.is_none() {
            return Err(WarehouseError::NotFound(name.to_string()));
        }
        self.label(&path, &[("last_updated", epoch_seconds_now())])
            .map(|_| ())
    }

    fn estimate_bytes(&self, sql: &str) -> Result<Option<u64>, WarehouseError> {
        self.dry_run_bytes(sql).map(Some)
    }

    fn describe_table(&self, name: &str, description: &str) -> Result<(), WarehouseError> {
        let path = self.table(name)?;
        let client = self.client.clone();
        let description = description.to_string();
        self.run(async move {
            let mut patch = Table::new(
                &path.project,
                &path.dataset,
                &path.table,
                TableSchema::default(),
            );
            patch.description = Some(description);
            client
                .table()
                .patch(&path.project, &path.dataset, &path.table, patch)
                .await
                .map(|_| ())
                .map_err(|e| api_error(&format!("describing table {}", path.sql()), e))
        })
    }

    fn table_last_updated(
        &self,
        name: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, WarehouseError> {
        let path = self.table(name)?;
        Ok(self
            .get_table(&path)?
            .and_then(|t| t.labels)
            .and_then(|labels| labels.get("last_updated").cloned())
            .and_then(|secs| secs.parse::<i64>().ok())
            .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0)))
    }
}

/// Text column `name` of `frame`, row by row.
fn texts<'a>(frame: &'a Frame, name: &str) -> Result<Vec<Option<&'a str>>, String> {
    match frame.column(name) {
        Some(jetstream_proto::warehouse::Column::Text(values)) => {
            Ok(values.iter().map(|v| v.as_deref()).collect())
        }
        // A column that is NULL in every row reads as numbers.
        Some(column)
            if column
                .numbers()
                .is_some_and(|v| v.iter().all(Option::is_none)) =>
        {
            Ok(vec![None; column.len()])
        }
        Some(_) => Err(format!("column `{name}` is not text")),
        None if frame.num_rows() == 0 => Ok(Vec::new()),
        None => Err(format!("column `{name}` is missing")),
    }
}

fn numbers(frame: &Frame, name: &str) -> Result<Vec<Option<f64>>, String> {
    match frame.column(name) {
        Some(column) => column
            .numbers()
            .map(<[Option<f64>]>::to_vec)
            .ok_or_else(|| format!("column `{name}` is not numeric")),
        None if frame.num_rows() == 0 => Ok(Vec::new()),
        None => Err(format!("column `{name}` is missing")),
    }
}

fn statistics_from_frame(frame: &Frame) -> Result<Vec<StatisticRow>, String> {
    let n = frame.num_rows();
    let [metric, statistic, branch, comparison, to_branch, segment, basis, window] = [
        "metric",
        "statistic",
        "branch",
        "comparison",
        "comparison_to_branch",
        "segment",
        "analysis_basis",
        "window_index_text",
    ]
    .map(|c| texts(frame, c));
    let (metric, statistic, branch, comparison, to_branch, segment, basis, window) = (
        metric?,
        statistic?,
        branch?,
        comparison?,
        to_branch?,
        segment?,
        basis?,
        window?,
    );
    let [parameter, ci_width, point, lower, upper] =
        ["parameter", "ci_width", "point", "lower", "upper"].map(|c| numbers(frame, c));
    let (parameter, ci_width, point, lower, upper) =
        (parameter?, ci_width?, point?, lower?, upper?);
    let owned = |v: Option<&str>| v.map(str::to_string);
    (0..n)
        .map(|i| {
            Ok(StatisticRow {
                metric: owned(metric[i]).unwrap_or_default(),
                statistic: owned(statistic[i]).unwrap_or_default(),
                parameter: parameter[i],
                branch: owned(branch[i]).unwrap_or_default(),
                comparison: comparison[i].and_then(|c| match c {
                    "difference" => Some(Comparison::Difference),
                    "relative_uplift" => Some(Comparison::RelativeUplift),
                    _ => None,
                }),
                comparison_to_branch: owned(to_branch[i]),
                ci_width: ci_width[i],
                point: point[i],
                lower: lower[i],
                upper: upper[i],
                segment: owned(segment[i]).unwrap_or_default(),
                analysis_basis: basis[i].and_then(AnalysisBasis::parse),
                window_index: owned(window[i]),
            })
        })
        .collect()
}

fn logs_from_frame(frame: &Frame) -> Result<Vec<AnalysisError>, String> {
    let names = [
        "ts",
        "log_level",
        "experiment",
        "metric",
        "statistic",
        "segment",
        "analysis_basis",
        "analysis_period",
        "message",
        "exception",
        "exception_type",
        "filename",
        "func_name",
    ];
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        columns.push(texts(frame, name)?);
    }
    let value = |c: usize, i: usize| columns[c][i].map(str::to_string);
    Ok((0..frame.num_rows())
        .map(|i| AnalysisError {
            timestamp: value(0, i)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
            log_level: value(1, i).unwrap_or_default(),
            experiment: value(2, i),
            metric: value(3, i),
            statistic: value(4, i),
            segment: value(5, i),
            analysis_basis: value(6, i).as_deref().and_then(AnalysisBasis::parse),
            analysis_period: value(7, i),
            message: value(8, i).unwrap_or_default(),
            exception: value(9, i),
            exception_type: value(10, i),
            filename: value(11, i).unwrap_or_default(),
            func_name: value(12, i).unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_paths_and_project_ids_are_checked_before_reaching_sql() {
        assert!(is_project_id("moz-fx-data-experiments"));
        assert!(!is_project_id("Moz"));
        assert!(!is_project_id("a`b"));
        assert_eq!(
            TablePath::parse("p-1.monitoring.logs").unwrap().sql(),
            "`p-1.monitoring.logs`"
        );
        assert!(TablePath::parse("p.monitoring").is_none());
        assert!(TablePath::parse("p.mon`itoring.logs").is_none());
    }

    #[test]
    fn failures_are_classified_for_retries() {
        assert!(matches!(
            classify("backendError", "try again", "SELECT 1"),
            WarehouseError::Unavailable(_)
        ));
        assert!(matches!(
            classify("duplicate", "Already Exists: Table p:d.t", "SELECT 1"),
            WarehouseError::AlreadyExists(_)
        ));
        match classify("invalidQuery", "Syntax error", "SELEC 1") {
            WarehouseError::Query { message, sql } => {
                assert!(message.contains("Syntax error"));
                assert_eq!(sql, "SELEC 1");
            }
            other => panic!("{other:?}"),
        }
    }
}
