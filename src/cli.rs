//! Command-line interface. Flags are spelled in kebab-case with upstream's snake_case spelling
//! as an alias (`--experiment-slug` and `--experiment_slug`), as Jetstream accepts both.

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "jetstream",
    version,
    about = "Automated experiment analysis, Jetstream-compatible"
)]
pub struct Cli {
    /// Verbose logs (also: JETSTREAM_LOG=<filter>).
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse the experiments due on one date (Jetstream's `run`).
    Run(RunArgs),
    /// Generate a synthetic warehouse and analyse a bundled example experiment end to end.
    Demo(DemoArgs),
    /// Check metric-hub config files: experiment configs, outcomes, defaults, definitions
    /// (Jetstream's `validate_config`).
    #[command(name = "validate-config", visible_alias = "validate_config")]
    ValidateConfig(ValidateConfigArgs),
    /// Compute the statistics a metric-hub TOML configures over a per-client file (Parquet or
    /// CSV with client_id, branch and one column per metric), as Jetstream's statistics step.
    Statistics(StatisticsArgs),
    /// Benchmarks behind the statistics' targets: per-summary speed and A/A calibration.
    Bench(BenchArgs),
    /// Analyse every date of the given experiments again, from their start to the day after
    /// their end (or yesterday) (Jetstream's `rerun`; `--fleet` is its `--argo`).
    Rerun(RunArgs),
    /// Mark experiments up to date without recomputing them (Jetstream's `rerun-skip`): their
    /// tables' `last_updated` becomes now, so later runs use the newest configs.
    #[command(name = "rerun-skip", visible_alias = "rerun_skip")]
    RerunSkip(RerunSkipArgs),
    /// Analyse every experiment eligible on each date from --from to --to.
    Backfill(BackfillArgs),
    /// Fleet role: take run requests, plan them into tasks, follow them to completion.
    Coordinator(CoordinatorArgs),
    /// Fleet role: run tasks (warehouse queries and statistics); scale it out.
    Worker(WorkerArgs),
    /// Fleet role: collect results and write tables, logs and JSON exports (one per fleet).
    Aggregator(AggregatorArgs),
    /// Translate BigQuery SQL (stdin) into the DuckDB SQL the embedded warehouse runs (stdout).
    #[command(name = "translate-sql", visible_alias = "translate_sql")]
    TranslateSql(TranslateSqlArgs),
}

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchCommand,
}

#[derive(Debug, Subcommand, Clone)]
pub enum BenchCommand {
    /// Time every summary of a config (default: the twelve the peer harness times) on
    /// synthetic per-client tables, or on given files.
    Statistics(BenchStatisticsArgs),
    /// A/A simulations: coverage of the 95 % intervals of mean, binomial and mean_lm.
    Calibration(BenchCalibrationArgs),
    /// No-op tasks through RabbitMQ: throughput and per-task overhead of the fleet's queue
    /// path (publish with confirm, consume, publish the result with confirm, acknowledge).
    Queue(BenchQueueArgs),
}

#[derive(Debug, Args, Clone)]
pub struct BenchQueueArgs {
    /// No-op tasks to push through.
    #[arg(long, default_value_t = 5000)]
    pub tasks: usize,
    /// Concurrent consumers (each like a worker with --concurrency 1), comma-separated to
    /// compare several in one run.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub consumers: Vec<usize>,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

#[derive(Debug, Args, Clone)]
pub struct BenchStatisticsArgs {
    /// Sizes of the synthetic tables (two branches), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    pub clients: Vec<usize>,
    /// Per-client files to time instead of synthetic tables (branches `control` and others).
    #[arg(long, value_name = "FILE")]
    pub input: Vec<PathBuf>,
    /// metric-hub TOML of the summaries (default: the peer harness's twelve).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Runs per summary; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Seed of the synthetic data and of the statistics.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args, Clone)]
pub struct BenchCalibrationArgs {
    /// Number of simulated A/A experiments.
    #[arg(long, default_value_t = 2000)]
    pub simulations: usize,
    /// Clients in each of the two branches.
    #[arg(long = "clients-per-branch", default_value_t = 1000)]
    pub clients_per_branch: usize,
    /// Bootstrap samples of `mean`.
    #[arg(long = "num-samples", default_value_t = 2000)]
    pub num_samples: usize,
    /// `drop_highest` of `mean` (Jetstream's default caps each branch at its 99.5th percentile).
    #[arg(long = "drop-highest", default_value_t = 0.005)]
    pub drop_highest: f64,
    /// Log-scale σ of the lognormal continuous metric (1.0 is heavy-tailed, 0.5 moderate).
    #[arg(long, default_value_t = 0.5)]
    pub sigma: f64,
    /// Seed of the simulations.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args, Clone)]
pub struct StatisticsArgs {
    /// Per-client file: `.parquet` or `.csv` with `client_id`, `branch` and metric columns.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// metric-hub TOML with `[metrics.<m>.statistics.<s>]` tables (metrics are file columns).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The reference branch (listed first, as Experimenter lists it).
    #[arg(
        long = "reference-branch",
        visible_alias = "reference_branch",
        default_value = "control"
    )]
    pub reference_branch: String,
    /// Segment label of the rows.
    #[arg(long, default_value = "all")]
    pub segment: String,
    /// Analysis basis label of the rows (enrollments or exposures).
    #[arg(long = "analysis-basis", visible_alias = "analysis_basis", default_value = "enrollments", value_parser = parse_basis)]
    pub analysis_basis: jetstream_proto::AnalysisBasis,
    /// Seed of the Monte-Carlo statistics.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Days of the analysis period (read by `normalize_over_analysis_period`).
    #[arg(
        long = "analysis-length-days",
        visible_alias = "analysis_length_days",
        default_value_t = 28
    )]
    pub analysis_length_days: i64,
    /// Where to write the rows (a JSON list).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct ValidateConfigArgs {
    /// Files to check, or directories whose `*.toml` files (recursively) are checked.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Config repositories (laid out like metric-hub) providing the defaults, definitions and
    /// outcomes; default: the metric-hub checkout the first path is in.
    #[arg(
        long = "config-repos",
        visible_alias = "config_repos",
        value_name = "DIR"
    )]
    pub config_repos: Vec<PathBuf>,
    /// Resolve experiment configs against a synthetic experiment instead of Experimenter's.
    #[arg(long)]
    pub offline: bool,
    /// The app of the synthetic experiment; `auto` tries every platform, desktop first.
    #[arg(
        long = "app-name",
        visible_alias = "app_name",
        default_value = "firefox_desktop"
    )]
    pub app_name: String,
    /// Print one JSON record per file.
    #[arg(long)]
    pub json: bool,
    /// Experimenter experiment definitions for the online mode: a JSON file, or Experimenter's
    /// API (https://experimenter.services.mozilla.com/api/v8/experiments/).
    #[arg(long, visible_alias = "experiments_file", value_name = "FILE|URL")]
    pub experiments: Option<String>,
    /// Read git-tracked config repositories as of a date (YYYY-MM-DD: end of that day, UTC),
    /// a time (RFC 3339), or a commit, tag or branch.
    #[arg(
        long = "config-as-of",
        visible_alias = "config_as_of",
        value_name = "WHEN"
    )]
    pub config_as_of: Option<String>,
}

/// The warehouse a command reads telemetry from and writes output tables to.
#[derive(Debug, Args, Clone)]
pub struct WarehouseArgs {
    /// The warehouse holding telemetry and receiving the output tables: a DuckDB file (PATH or
    /// duckdb:PATH), or BigQuery (bigquery://PROJECT[/DATASET], or `bigquery` with
    /// --project-id and --dataset-id).
    #[arg(
        long,
        visible_alias = "warehouse_path",
        env = "JETSTREAM_WAREHOUSE",
        value_name = "PATH|bigquery://PROJECT[/DATASET]",
        value_parser = crate::backends::parse_warehouse
    )]
    pub warehouse: Option<crate::backends::WarehouseLocation>,
    /// BigQuery project of the output tables (Jetstream's `--project_id`); on DuckDB it only
    /// appears in the BigQuery text written by --sql-output-dir.
    #[arg(
        long = "project-id",
        visible_alias = "project_id",
        default_value = "moz-fx-data-experiments"
    )]
    pub project_id: String,
    /// Schema of the output tables (BigQuery's dataset; Jetstream's `--dataset_id`).
    #[arg(
        long = "dataset-id",
        visible_alias = "dataset_id",
        env = "JETSTREAM_DATASET_ID",
        default_value = "mozanalysis"
    )]
    pub dataset_id: String,
    /// BigQuery's logs table as PROJECT.DATASET.TABLE (default: PROJECT.monitoring.logs, as
    /// Jetstream's --log_project_id/--log_dataset_id/--log_table_id).
    #[arg(
        long = "logs-table",
        env = "JETSTREAM_LOGS_TABLE",
        value_name = "PROJECT.DATASET.TABLE"
    )]
    pub logs_table: Option<String>,
    #[command(flatten)]
    pub google: GoogleArgs,
}

/// How to reach Google's services (BigQuery, Cloud Storage): credentials and, for emulators,
/// endpoints.
#[derive(Debug, Args, Clone)]
pub struct GoogleArgs {
    /// `default` (Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's
    /// ADC file, the metadata server; none when an endpoint is overridden), `anonymous`, or a
    /// JSON key file.
    #[arg(
        long = "google-credentials",
        env = "JETSTREAM_GOOGLE_CREDENTIALS",
        default_value = "default",
        value_name = "default|anonymous|FILE",
        value_parser = crate::backends::parse_credentials
    )]
    pub google_credentials: jetstream_cloud::GoogleCredentials,
    /// BigQuery API base URL, for an emulator (e.g. http://127.0.0.1:9050).
    #[arg(
        long = "bigquery-endpoint",
        env = "JETSTREAM_BIGQUERY_ENDPOINT",
        value_name = "URL"
    )]
    pub bigquery_endpoint: Option<String>,
    /// Cloud Storage API base URL, for an emulator (e.g. http://127.0.0.1).
    #[arg(
        long = "gcs-endpoint",
        env = "JETSTREAM_GCS_ENDPOINT",
        value_name = "URL"
    )]
    pub gcs_endpoint: Option<String>,
}

impl Default for GoogleArgs {
    fn default() -> Self {
        GoogleArgs {
            google_credentials: jetstream_cloud::GoogleCredentials::Default,
            bigquery_endpoint: None,
            gcs_endpoint: None,
        }
    }
}

/// Where a run reads and writes.
#[derive(Debug, Args, Clone)]
pub struct Locations {
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Experimenter experiment definitions: a JSON file with one experiment or a list of them,
    /// or Experimenter's API (https://experimenter.services.mozilla.com/api/v8/experiments/).
    #[arg(
        long,
        visible_alias = "experiments_file",
        env = "JETSTREAM_EXPERIMENTS",
        value_name = "FILE|URL"
    )]
    pub experiments: String,
    /// Where the JSON exports (statistics/, metadata/, errors/) go: a directory (DIR or
    /// file:DIR), a bucket (gs://BUCKET[/PREFIX]), or `none`.
    #[arg(
        long,
        visible_alias = "results_dir",
        env = "JETSTREAM_RESULTS",
        value_name = "DIR|gs://BUCKET",
        value_parser = crate::backends::parse_results
    )]
    pub results: Option<crate::backends::ResultsLocation>,
    /// Jetstream's `--bucket`: the same as --results gs://BUCKET (`none` disables exports).
    #[arg(long, value_name = "BUCKET", conflicts_with = "results")]
    pub bucket: Option<String>,
}

impl Locations {
    /// `--results`, or `--bucket` as upstream spells it.
    pub fn results_location(&self) -> Result<Option<crate::backends::ResultsLocation>, String> {
        match &self.bucket {
            Some(b) if b.eq_ignore_ascii_case("none") || b.eq_ignore_ascii_case("null") => {
                Ok(Some(crate::backends::ResultsLocation::None))
            }
            Some(b) => crate::backends::parse_results(&format!("gs://{b}"))
                .map(Some)
                .map_err(|e| format!("--bucket: {e}")),
            None => Ok(self.results.clone()),
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The last date with complete data (YYYY-MM-DD, UTC); required by `run`.
    #[arg(long, value_parser = parse_date)]
    pub date: Option<NaiveDate>,
    /// Experiments to analyse (default: every eligible experiment in --experiments).
    #[arg(
        long = "experiment-slug",
        visible_alias = "experiment_slug",
        value_name = "SLUG"
    )]
    pub experiment_slug: Vec<String>,
    /// A custom analysis config (metric-hub TOML) for the single experiment given; it replaces
    /// the repositories' `<slug>.toml` (their defaults, outcomes and definitions still apply).
    #[arg(
        long = "config-file",
        visible_alias = "config_file",
        value_name = "FILE"
    )]
    pub config_file: Option<PathBuf>,
    /// Directories laid out like metric-hub (a metric-hub checkout, or its `jetstream/`);
    /// later directories take precedence.
    #[arg(
        long = "config-repos",
        visible_alias = "config_repos",
        value_name = "DIR"
    )]
    pub config_repos: Vec<PathBuf>,
    /// Read git-tracked config repositories as of a date (YYYY-MM-DD: end of that day, UTC),
    /// a time (RFC 3339), or a commit, tag or branch.
    #[arg(
        long = "config-as-of",
        visible_alias = "config_as_of",
        value_name = "WHEN"
    )]
    pub config_as_of: Option<String>,
    /// Periods to analyse (day, week, days28, overall, preenrollment_week, preenrollment_days28).
    #[arg(long = "analysis-periods", visible_alias = "analysis_periods", value_name = "PERIOD", value_parser = parse_period)]
    pub analysis_periods: Vec<jetstream_proto::AnalysisPeriod>,
    /// Seed of the Monte-Carlo statistics; each statistic derives its own from it and its identity.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// In-process workers (default: the number of CPUs).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Write every generated query to DIR/<destination table> (BigQuery SQL, as upstream) and
    /// DIR/duckdb/<destination table> (its DuckDB translation).
    #[arg(
        long = "sql-output-dir",
        visible_alias = "sql_output_dir",
        value_name = "DIR"
    )]
    pub sql_output_dir: Option<PathBuf>,
    /// Generate the enrollments and metrics queries due (written to --sql-output-dir) and run
    /// nothing; --warehouse and --results are then not needed.
    #[arg(long = "dry-run", requires = "sql_output_dir")]
    pub dry_run: bool,
    /// One metrics query per data source (the default, as Jetstream since 2026): a failing
    /// metric only loses its own column.
    #[arg(long = "discrete-metrics", overrides_with = "no_discrete_metrics")]
    pub discrete_metrics: bool,
    /// One metrics query for all data sources per period and basis.
    #[arg(long = "no-discrete-metrics", overrides_with = "discrete_metrics")]
    pub no_discrete_metrics: bool,
    /// Join data sources on Glean client ids instead of legacy telemetry ones.
    #[arg(long = "use-glean-ids", visible_alias = "glean-only")]
    pub use_glean_ids: bool,
    #[command(flatten)]
    pub locations: Locations,
    /// Enqueue the work for a fleet (coordinator, workers, aggregator) instead of running it
    /// in this process (Jetstream's `--argo`).
    #[arg(long, visible_alias = "argo")]
    pub fleet: bool,
    /// With --fleet: wait until the fleet has written every experiment, print the outcomes
    /// and exit non-zero if any failed.
    #[arg(long, requires = "fleet")]
    pub wait: bool,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

/// How a process reaches the fleet's broker.
#[derive(Debug, Args, Clone)]
pub struct BrokerArgs {
    /// AMQP URL of the RabbitMQ broker (amqps:// for TLS). Never logged with its password.
    #[arg(
        long = "amqp-url",
        env = "JETSTREAM_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,
    /// Prefix of the fleet's queues (`<prefix>.runs`, `.tasks`, `.results`, `.progress`).
    #[arg(
        long = "queue-prefix",
        env = "JETSTREAM_QUEUE_PREFIX",
        default_value = "jetstream",
        value_parser = parse_queue_prefix
    )]
    pub queue_prefix: String,
    /// Use Pub/Sub in this Google Cloud project instead of RabbitMQ (topics and subscriptions
    /// named like the queues; credentials from Application Default Credentials).
    #[arg(
        long = "pubsub-project",
        env = "JETSTREAM_PUBSUB_PROJECT",
        value_name = "PROJECT"
    )]
    pub pubsub_project: Option<String>,
    /// Pub/Sub API URL, for the emulator (e.g. http://127.0.0.1:8085); no credentials are sent.
    #[arg(
        long = "pubsub-endpoint",
        env = "JETSTREAM_PUBSUB_ENDPOINT",
        value_name = "URL",
        requires = "pubsub_project"
    )]
    pub pubsub_endpoint: Option<String>,
    /// Pub/Sub ack deadline of new subscriptions, in seconds: how soon the messages of a
    /// consumer that died are handed to another.
    #[arg(
        long = "pubsub-ack-deadline-secs",
        env = "JETSTREAM_PUBSUB_ACK_DEADLINE_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(10..=600)
    )]
    pub pubsub_ack_deadline_secs: u32,
}

impl Default for BrokerArgs {
    fn default() -> Self {
        BrokerArgs {
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            queue_prefix: "jetstream".into(),
            pubsub_project: None,
            pubsub_endpoint: None,
            pubsub_ack_deadline_secs: 30,
        }
    }
}

/// The address a role serves `/metrics` on.
#[derive(Debug, Args, Clone)]
pub struct MetricsArgs {
    /// Address of the Prometheus endpoint (`/metrics`); port 0 picks a free one.
    #[arg(
        long = "metrics-addr",
        env = "JETSTREAM_METRICS_ADDR",
        default_value = "127.0.0.1:9464"
    )]
    pub metrics_addr: String,
}

#[derive(Debug, Args, Clone)]
pub struct CoordinatorArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Experiments driven at the same time (their dates run one after another).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub concurrency: u16,
}

#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Tasks run at the same time by this process (also its prefetch).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Attempts a task gets before it goes to the dead-letter queue.
    #[arg(long = "max-attempts", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_attempts: u32,
    /// Delay before a task's second attempt, in milliseconds; doubled for each further one.
    #[arg(long = "retry-backoff-ms", default_value_t = 1000)]
    pub retry_backoff_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    #[arg(long = "max-backoff-ms", default_value_t = 60_000)]
    pub max_backoff_ms: u64,
    /// Name reported in results and logs (default: host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// Fault injection for drills: tasks whose id contains TEXT fail every attempt as if the
    /// warehouse were unavailable.
    #[arg(long = "fail-tasks-matching", value_name = "TEXT", hide = true)]
    pub fail_tasks_matching: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct AggregatorArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Where the JSON exports (statistics/, metadata/, errors/) go: a directory, a bucket
    /// (gs://BUCKET[/PREFIX]), or `none`.
    #[arg(
        long,
        env = "JETSTREAM_RESULTS",
        value_name = "DIR|gs://BUCKET",
        value_parser = crate::backends::parse_results
    )]
    pub results: crate::backends::ResultsLocation,
    /// Directory where accepted results are kept until their outputs are written, so a
    /// restarted aggregator loses nothing (a persistent volume in a cluster).
    #[arg(long = "state-dir", env = "JETSTREAM_STATE_DIR", value_name = "DIR")]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct RerunSkipArgs {
    /// Experiments to mark up to date.
    #[arg(
        long = "experiment-slug",
        visible_alias = "experiment_slug",
        value_name = "SLUG",
        required = true
    )]
    pub experiment_slug: Vec<String>,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

#[derive(Debug, Args, Clone)]
pub struct BackfillArgs {
    /// First analysis date (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub from: NaiveDate,
    /// Last analysis date (YYYY-MM-DD), inclusive.
    #[arg(long, value_parser = parse_date)]
    pub to: NaiveDate,
    #[command(flatten)]
    pub run: RunArgs,
}

impl RunArgs {
    /// The query choices of the run.
    pub fn query_options(&self) -> jetstream_proto::task::QueryOptions {
        jetstream_proto::task::QueryOptions {
            discrete_metrics: !self.no_discrete_metrics,
            use_glean_ids: self.use_glean_ids,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct TranslateSqlArgs {
    /// Read one JSON object per line (`{"sql": "..."}`) and write exactly one per line
    /// (`{"duckdb": "..."}` or `{"error": "..."}`), so whole corpora can be checked.
    #[arg(long)]
    pub jsonl: bool,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Directory for the warehouse, the bundled inputs and the results.
    #[arg(long, default_value = "jetstream-demo")]
    pub out: PathBuf,
    /// Enrolled clients to simulate.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=5_000_000))]
    pub clients: u64,
    /// Seed of the synthetic data (and of the statistics).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// In-process workers (default: the number of CPUs).
    #[arg(long)]
    pub workers: Option<usize>,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("expected a date YYYY-MM-DD, got '{s}'"))
}

fn parse_queue_prefix(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.len() <= 200
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(s.to_string())
    } else {
        Err(format!(
            "expected letters, digits, '.', '-' or '_' (at most 200), got '{s}'"
        ))
    }
}

fn parse_basis(s: &str) -> Result<jetstream_proto::AnalysisBasis, String> {
    jetstream_proto::AnalysisBasis::parse(s)
        .ok_or_else(|| format!("expected enrollments or exposures; got '{s}'"))
}

fn parse_period(s: &str) -> Result<jetstream_proto::AnalysisPeriod, String> {
    jetstream_proto::AnalysisPeriod::parse(s).ok_or_else(|| {
        format!("expected one of day, week, days28, overall, preenrollment_week, preenrollment_days28; got '{s}'")
    })
}
