//! The queries Jetstream runs, in the shapes mozanalysis generates (reference/jetstream.md §2.6,
//! reference/mozanalysis.md A.4–A.6), written for DuckDB, the embedded warehouse.
//!
//! Deliberate departures from upstream, all documented where they happen:
//! - data sources are numbered `ds_<i>` in first-use order, not Python hash order;
//! - the metrics query joins exposures on the window columns too, so a query with several
//!   windows cannot multiply rows (Jetstream always passes one window, so results agree).

mod enrollments;
mod format;
mod metrics;
mod subset;

pub use enrollments::enrollments_query;
pub use format::{format_select_expression, FormatError};
pub use metrics::metrics_query;
pub use subset::{covariate_query, population_query, subset_query};

use chrono::NaiveDate;

/// Where the built-in enrollment and exposure events live in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// Legacy telemetry events (`moz-fx-data-shared-prod.telemetry.events` upstream).
    pub events_table: String,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            events_table: "telemetry.events".to_string(),
        }
    }
}

/// A DuckDB date literal.
fn date_lit(d: NaiveDate) -> String {
    format!("DATE '{}'", d.format("%Y-%m-%d"))
}

/// `date + days` as a DuckDB DATE expression.
fn date_plus(d: NaiveDate, days: i64) -> String {
    format!("({} + {})", date_lit(d), days)
}

/// SQL definitions the generated queries rely on: Mozilla's UDFs and BigQuery functions the
/// configs call, as DuckDB macros. Run once per connection.
pub const DUCKDB_PRELUDE: &str = "
CREATE OR REPLACE TEMP MACRO map_get_key(m, k) AS (list_filter(m, lambda x: x.key = k)[1].value);
CREATE OR REPLACE TEMP MACRO logical_or(x) AS bool_or(x);
CREATE OR REPLACE TEMP MACRO logical_and(x) AS bool_and(x);
";
