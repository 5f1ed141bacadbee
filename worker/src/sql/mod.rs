//! The queries Jetstream runs, generated as BigQuery SQL in the shapes mozanalysis renders
//! (reference/jetstream.md §1.7, §1.8, §2.6; reference/mozanalysis.md A.4–A.7).
//!
//! BigQuery SQL is the one query model: production runs it as is, and the embedded DuckDB
//! warehouse runs its translation (`jetstream_dialect::translate`), the same translation users'
//! own select and from expressions go through.
//!
//! Deliberate departures from upstream, all documented where they happen:
//! - data sources are numbered `ds_<i>` in first-use order, not Python hash order;
//! - the metrics query joins exposures on the window columns too, so a query with several
//!   windows cannot multiply rows (Jetstream always passes one window, so results agree);
//! - the discrete (per data source) metrics path honours `--use-glean-ids`, which upstream's
//!   discrete path forgets to forward (so desktop Glean sources joined on the wrong id);
//! - values reaching SQL (slugs, branches, dates) are escaped as BigQuery literals, and names
//!   of our own tables are quoted.

mod enrollments;
mod format;
mod metrics;
mod subset;

pub use enrollments::{enrollments_query, exposure_signal_query};
pub use format::{format_select_expression, FormatError};
pub use metrics::{
    combine_data_source_tables, metrics_query, partition_by_data_source, sanity_metric_names,
};
pub use subset::{covariate_query, population_query, subset_query};

use chrono::NaiveDate;
use jetstream_proto::naming::bq_quoted_identifier;
use jetstream_proto::spec::{DataSourceSpec, SegmentDataSourceSpec};
use thiserror::Error;

/// Where the built-in enrollment and exposure sources live (Mozilla's shared project).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// The project of Mozilla's telemetry datasets (`moz-fx-data-shared-prod` upstream).
    pub shared_project: String,
    /// The project of Mozilla's user-facing views (`mozdata` upstream).
    pub mozdata_project: String,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            shared_project: "moz-fx-data-shared-prod".to_string(),
            mozdata_project: "mozdata".to_string(),
        }
    }
}

impl Catalog {
    /// `` `<shared project>.<dataset>.<table>` ``.
    fn table(&self, dataset: &str, table: &str) -> String {
        bq_quoted_identifier(&format!("{}.{dataset}.{table}", self.shared_project))
    }

    /// `` `<user-facing project>.<dataset>.<table>` ``: the views some built-in queries read.
    fn mozdata_table(&self, dataset: &str, table: &str) -> String {
        bq_quoted_identifier(&format!("{}.{dataset}.{table}", self.mozdata_project))
    }
}

/// How the analysis joins data to enrollees (Jetstream's `--use-glean-ids` and the unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdOptions {
    /// `--use-glean-ids`: join on Glean client ids instead of legacy telemetry ones.
    pub use_glean_ids: bool,
}

/// Why a query cannot be generated for an experiment.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SqlError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("the '{query_type}' enrollments query only supports the client_id analysis unit, not {unit}")]
    IncompatibleAnalysisUnit { query_type: String, unit: String },
    #[error("the '{0}' enrollments query needs the experiment's app_id (its BigQuery dataset)")]
    MissingAppId(String),
    #[error("unknown enrollments_query_type '{0}'; expected normandy, glean-event, fenix-fallback, cirrus or background-update")]
    UnknownQueryType(String),
    #[error("{which} contains {found}, but experiment uses {unit}. This could indicate a problem with the {which}.")]
    CustomQueryUnit {
        which: &'static str,
        found: &'static str,
        unit: String,
    },
    #[error("unknown analysis unit '{0}'; expected client_id or profile_group_id")]
    UnknownAnalysisUnit(String),
}

/// A BigQuery date literal as mozanalysis writes them (a string BigQuery coerces to DATE).
fn date_str(d: NaiveDate) -> String {
    format!("'{}'", d.format("%Y-%m-%d"))
}

/// The analysis unit's column, checked (`client_id` or `profile_group_id`).
fn analysis_unit(unit: &str) -> Result<&'static str, SqlError> {
    match unit {
        "client_id" => Ok("client_id"),
        "profile_group_id" => Ok("profile_group_id"),
        other => Err(SqlError::UnknownAnalysisUnit(other.to_string())),
    }
}

/// The join-key columns of a data source or segment data source.
pub(crate) struct IdColumns<'a> {
    pub client: &'a str,
    pub group: &'a str,
    pub glean: Option<&'a str>,
    pub legacy: Option<&'a str>,
}

impl<'a> IdColumns<'a> {
    pub(crate) fn of(ds: &'a DataSourceSpec) -> Self {
        IdColumns {
            client: &ds.client_id_column,
            group: &ds.group_id_column,
            glean: ds.glean_client_id_column.as_deref(),
            legacy: ds.legacy_client_id_column.as_deref(),
        }
    }

    pub(crate) fn of_segment_source(ds: &'a SegmentDataSourceSpec) -> Self {
        IdColumns {
            client: &ds.client_id_column,
            group: &ds.group_id_column,
            glean: ds.glean_client_id_column.as_deref(),
            legacy: ds.legacy_client_id_column.as_deref(),
        }
    }

    /// The column joined on (mozanalysis A.5): the group id for profile groups, else the
    /// Glean or legacy client id column when set, else the client id column.
    pub(crate) fn choose(&self, unit: &str, ids: IdOptions) -> &'a str {
        if unit == "profile_group_id" {
            return self.group;
        }
        let preferred = if ids.use_glean_ids {
            self.glean
        } else {
            self.legacy
        };
        preferred.unwrap_or(self.client)
    }
}
