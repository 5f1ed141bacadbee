//! Which backend fills each seam, from one flag each: the embedded defaults (a DuckDB file, a
//! results directory, a JSON file of experiments) or production (BigQuery, Cloud Storage,
//! Experimenter's API).
//!
//! | flag | embedded | production |
//! |---|---|---|
//! | `--warehouse` | `PATH` or `duckdb:PATH` | `bigquery://PROJECT[/DATASET]`, or `bigquery` with `--project-id`/`--dataset-id` |
//! | `--results` | `DIR` or `file:DIR` | `gs://BUCKET[/PREFIX]` (or upstream's `--bucket BUCKET`); `none` disables |
//! | `--experiments` | `FILE` | `https://.../api/v8/experiments/` |

use crate::cli::{GoogleArgs, WarehouseArgs};
use anyhow::{bail, Context};
use jetstream_cloud::bigquery::{BigQueryConfig, BigQueryWarehouse};
use jetstream_cloud::experimenter::{ExperimenterClient, ExperimenterConfig};
use jetstream_cloud::{GcsLocation, GcsSink, GoogleCredentials};
use jetstream_coordinator::experimenter::{load_experiments, ExperimenterExperiment};
use jetstream_coordinator::export::{LocalDirSink, ResultsSink};
use jetstream_proto::warehouse::Warehouse;
use jetstream_worker::DuckDbWarehouse;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the warehouse is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseLocation {
    /// A DuckDB database file.
    DuckDb(PathBuf),
    /// BigQuery; `None` parts come from `--project-id` and `--dataset-id`.
    BigQuery {
        project: Option<String>,
        dataset: Option<String>,
    },
}

/// Parses `--warehouse`.
pub fn parse_warehouse(value: &str) -> Result<WarehouseLocation, String> {
    if value == "bigquery" || value == "bigquery:" || value == "bigquery://" {
        return Ok(WarehouseLocation::BigQuery {
            project: None,
            dataset: None,
        });
    }
    if let Some(rest) = value.strip_prefix("bigquery://") {
        let (project, dataset) = match rest.split_once('/') {
            Some((p, d)) => (p, Some(d.trim_end_matches('/'))),
            None => (rest, None),
        };
        if !jetstream_cloud::bigquery::is_project_id(project) {
            return Err(format!(
                "'{project}' is not a Google Cloud project id (lowercase letters, digits and '-'); expected bigquery://PROJECT[/DATASET]"
            ));
        }
        if let Some(d) = dataset {
            if !jetstream_proto::naming::is_table_name(d) {
                return Err(format!(
                    "'{d}' is not a BigQuery dataset name (letters, digits and '_')"
                ));
            }
        }
        return Ok(WarehouseLocation::BigQuery {
            project: Some(project.to_string()),
            dataset: dataset.filter(|d| !d.is_empty()).map(str::to_string),
        });
    }
    if value.starts_with("bigquery:") {
        return Err("expected bigquery://PROJECT[/DATASET] or bigquery".into());
    }
    let path = value.strip_prefix("duckdb:").unwrap_or(value);
    if path.is_empty() {
        return Err(
            "expected a DuckDB file path, duckdb:PATH or bigquery://PROJECT[/DATASET]".into(),
        );
    }
    Ok(WarehouseLocation::DuckDb(PathBuf::from(path)))
}

/// Parses `--google-credentials`: `default`, `anonymous` or a JSON key file.
pub fn parse_credentials(value: &str) -> Result<GoogleCredentials, String> {
    match value {
        "default" | "" => Ok(GoogleCredentials::Default),
        "anonymous" | "none" => Ok(GoogleCredentials::Anonymous),
        path => Ok(GoogleCredentials::KeyFile(PathBuf::from(path))),
    }
}

impl GoogleArgs {
    /// The credentials for a service whose endpoint may be overridden: with an emulator's
    /// endpoint and no explicit choice, none are sent.
    pub fn credentials_for(&self, endpoint: Option<&String>) -> GoogleCredentials {
        match (&self.google_credentials, endpoint) {
            (GoogleCredentials::Default, Some(_)) => GoogleCredentials::Anonymous,
            (chosen, _) => chosen.clone(),
        }
    }
}

/// Opens the warehouse. Without `--warehouse`, an empty in-memory DuckDB (only `--dry-run`
/// gets there). `shared` leaves a DuckDB file free between operations for a fleet's processes.
pub fn open_warehouse(args: &WarehouseArgs, shared: bool) -> anyhow::Result<Arc<dyn Warehouse>> {
    let duckdb_project = |w: DuckDbWarehouse| {
        w.with_project(&args.project_id).with_context(|| {
            format!(
                "--project-id '{}': expected lowercase letters, digits and '-'",
                args.project_id
            )
        })
    };
    match &args.warehouse {
        None => {
            let warehouse = DuckDbWarehouse::in_memory(&args.dataset_id)?;
            Ok(Arc::new(duckdb_project(warehouse)?))
        }
        Some(WarehouseLocation::DuckDb(path)) => {
            if !path.is_file() {
                bail!(
                    "warehouse {} does not exist (expected a DuckDB database file, or bigquery://PROJECT[/DATASET])",
                    path.display()
                );
            }
            let warehouse = if shared {
                DuckDbWarehouse::open_shared(path, &args.dataset_id)
            } else {
                DuckDbWarehouse::open(path, &args.dataset_id)
            }
            .with_context(|| format!("opening warehouse {}", path.display()))?;
            Ok(Arc::new(duckdb_project(warehouse)?))
        }
        Some(WarehouseLocation::BigQuery { project, dataset }) => {
            let project = project.clone().unwrap_or_else(|| args.project_id.clone());
            let dataset = dataset.clone().unwrap_or_else(|| args.dataset_id.clone());
            let mut config = BigQueryConfig::new(&project, &dataset);
            if let Some(logs) = &args.logs_table {
                config.logs_table = logs.clone();
            }
            config.endpoint = args.google.bigquery_endpoint.clone();
            config.credentials = args
                .google
                .credentials_for(args.google.bigquery_endpoint.as_ref());
            let warehouse = BigQueryWarehouse::open(config)
                .with_context(|| format!("opening BigQuery warehouse {project}.{dataset}"))?;
            Ok(Arc::new(warehouse))
        }
    }
}

/// Where exports go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsLocation {
    None,
    Dir(PathBuf),
    Gcs(GcsLocation),
}

/// Parses `--results`: `none`/`null` (any case, as Jetstream's `--bucket`), `gs://...`,
/// `file:DIR` or a directory.
pub fn parse_results(value: &str) -> Result<ResultsLocation, String> {
    if value.eq_ignore_ascii_case("none") || value.eq_ignore_ascii_case("null") {
        return Ok(ResultsLocation::None);
    }
    if value.starts_with("gs://") {
        return GcsLocation::parse(value).map(ResultsLocation::Gcs);
    }
    let dir = value.strip_prefix("file:").unwrap_or(value);
    if dir.is_empty() {
        return Err("expected a directory, file:DIR, gs://BUCKET[/PREFIX] or none".into());
    }
    Ok(ResultsLocation::Dir(PathBuf::from(dir)))
}

/// The sink for `results` (`None` writes no exports).
pub fn results_sink(
    results: Option<&ResultsLocation>,
    google: &GoogleArgs,
) -> anyhow::Result<Option<Arc<dyn ResultsSink>>> {
    Ok(match results {
        None | Some(ResultsLocation::None) => None,
        Some(ResultsLocation::Dir(dir)) => Some(Arc::new(LocalDirSink::new(dir.clone()))),
        Some(ResultsLocation::Gcs(location)) => {
            let credentials = google.credentials_for(google.gcs_endpoint.as_ref());
            let sink = GcsSink::open(location.clone(), google.gcs_endpoint.clone(), &credentials)
                .with_context(|| format!("--results gs://{}", location.bucket))?;
            Some(Arc::new(sink))
        }
    })
}

/// Experiment definitions from `--experiments`: Experimenter's API when it is an http(s) URL
/// (one request for a single slug, the list otherwise), else a JSON file.
pub fn load_definitions(
    source: &str,
    slugs: &[String],
) -> anyhow::Result<Vec<ExperimenterExperiment>> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let client = ExperimenterClient::new(ExperimenterConfig::new(source))?;
        return Ok(client.for_slugs(slugs)?);
    }
    Ok(load_experiments(std::path::Path::new(source))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_locations_parse() {
        assert_eq!(
            parse_warehouse("w.duckdb").unwrap(),
            WarehouseLocation::DuckDb("w.duckdb".into())
        );
        assert_eq!(
            parse_warehouse("duckdb:/tmp/w.duckdb").unwrap(),
            WarehouseLocation::DuckDb("/tmp/w.duckdb".into())
        );
        assert_eq!(
            parse_warehouse("bigquery://moz-fx-data-experiments/mozanalysis").unwrap(),
            WarehouseLocation::BigQuery {
                project: Some("moz-fx-data-experiments".into()),
                dataset: Some("mozanalysis".into())
            }
        );
        assert_eq!(
            parse_warehouse("bigquery").unwrap(),
            WarehouseLocation::BigQuery {
                project: None,
                dataset: None
            }
        );
        assert!(parse_warehouse("bigquery://Bad_Project").is_err());
        assert!(parse_warehouse("bigquery://p/bad-dataset").is_err());
        assert!(parse_warehouse("bigquery:p").is_err());
    }

    #[test]
    fn results_locations_parse() {
        assert_eq!(parse_results("NONE").unwrap(), ResultsLocation::None);
        assert_eq!(
            parse_results("out").unwrap(),
            ResultsLocation::Dir("out".into())
        );
        assert_eq!(
            parse_results("gs://mozanalysis").unwrap(),
            ResultsLocation::Gcs(GcsLocation::parse("gs://mozanalysis").unwrap())
        );
        assert!(parse_results("gs://No").is_err());
    }

    #[test]
    fn an_emulator_endpoint_implies_anonymous_unless_credentials_are_chosen() {
        let mut google = GoogleArgs {
            google_credentials: GoogleCredentials::Default,
            bigquery_endpoint: Some("http://127.0.0.1:9050".into()),
            gcs_endpoint: None,
        };
        assert_eq!(
            google.credentials_for(google.bigquery_endpoint.as_ref()),
            GoogleCredentials::Anonymous
        );
        assert_eq!(google.credentials_for(None), GoogleCredentials::Default);
        google.google_credentials = GoogleCredentials::KeyFile("k.json".into());
        assert_eq!(
            google.credentials_for(google.bigquery_endpoint.as_ref()),
            GoogleCredentials::KeyFile("k.json".into())
        );
    }
}
