//! A Mozilla-shaped synthetic warehouse: the tables Jetstream's real `firefox_desktop` defaults
//! (metric-hub `jetstream/defaults/firefox_desktop.toml` with `definitions/firefox_desktop.toml`)
//! read, with BigQuery's column names and nested types, so the real configs run end to end on
//! DuckDB with known injected effects.
//!
//! Unlike [`crate::synthetic`] (a demo-sized `clients_daily`), this module models every table
//! the default metrics, their data sources' sanity checks and the segments of
//! `definitions/firefox_desktop.toml` read. The configs' BigQuery SQL reaches DuckDB through the
//! dialect translator, which maps `project.dataset.table` to `dataset.table`: every table is
//! created in the DuckDB schema named after its BigQuery dataset.
//!
//! # Tables
//!
//! BigQuery types map as STRING→VARCHAR, INT64→BIGINT, FLOAT64→DOUBLE, BOOL→BOOLEAN,
//! STRUCT→STRUCT, ARRAY→LIST; maps are `ARRAY<STRUCT<key, value>>`. The exact DDL is
//! [`WAREHOUSE_DDL`].
//!
//! ## `telemetry.events` — `moz-fx-data-shared-prod.telemetry.events`, `mozdata.telemetry.events`
//! One row per event: Normandy `enroll` (`event_map_values`: `branch`, `enrollmentId`,
//! `experimentType`; ~10% of clients enroll twice), `expose` (`branchSlug`, `featureId`) for an
//! `exposure_rate` share, `unenroll` (`reason`, `branch`, `enrollmentId`), the same for a second,
//! unrelated experiment (`<slug>-other`, so slug filters matter), and `pictureinpicture` events
//! (so the `normandy` category filter matters).
//! Columns: `submission_date DATE, client_id VARCHAR, sample_id BIGINT, normalized_channel
//! VARCHAR, country VARCHAR, locale VARCHAR, app_version VARCHAR, os VARCHAR, experiments
//! STRUCT(key VARCHAR, value STRUCT(branch VARCHAR, extra STRUCT(type VARCHAR, enrollment_id
//! VARCHAR)))[], "timestamp" TIMESTAMP, event_timestamp BIGINT, event_category VARCHAR,
//! event_method VARCHAR, event_object VARCHAR, event_string_value VARCHAR, event_map_values
//! STRUCT(key VARCHAR, value VARCHAR)[], event_process VARCHAR`.
//! Read by: the built-in enrollment and exposure queries; metric `unenroll` (data source
//! `normandy_events`, `experiments_column_type = "native"`: `experiments[slug].branch` is set on
//! every row from the enrollment date on).
//!
//! ## `telemetry.clients_daily` — `mozdata.telemetry.clients_daily`
//! One row per client and day seen (every client is seen on its enrollment date).
//! Columns: `submission_date DATE, client_id VARCHAR, sample_id BIGINT, normalized_channel
//! VARCHAR, country VARCHAR, locale VARCHAR, os VARCHAR, os_version VARCHAR,
//! windows_build_number BIGINT, app_version VARCHAR, browser_version_info STRUCT(version
//! VARCHAR, major_version BIGINT, minor_version BIGINT, patch_revision BIGINT, is_major_release
//! BOOLEAN), experiments STRUCT(key VARCHAR, value VARCHAR)[], pings_aggregated_by_this_row
//! BIGINT, active_hours_sum DOUBLE, subsession_hours_sum DOUBLE,
//! scalar_parent_browser_engagement_total_uri_count_sum BIGINT,
//! scalar_parent_browser_engagement_total_uri_count_normal_and_private_mode_sum BIGINT,
//! search_count_all BIGINT, is_default_browser BOOLEAN,
//! scalar_parent_os_environment_is_taskbar_pinned BOOLEAN,
//! user_pref_browser_urlbar_quicksuggest_data_collection_enabled VARCHAR`.
//! Read by metrics `retained`, `active_hours`, `days_of_use`, `uri_count`,
//! `qualified_cumulative_days_of_use`, `is_default_browser`, `is_pinned`
//! (`experiments_column_type = "simple"`: `experiments[slug]` is the branch on every row after
//! the enrollment date and on 85% of enrollment-date rows, none before); segments `suggest`,
//! `suggest_offline`, `suggest_online`, the 17 country segments (`us` … `mx`), `windows_v1`,
//! `windows_10_v1`, `windows_11_v1`, `windows_other_v1`, `macos_v1`, `linux_v1` (`os` is
//! `Windows_NT`/`Darwin`/`Linux`, `os_version` `10.0`/`6.1`/`6.3`/…, Windows 11 is `10.0` with
//! build ≥ 22000).
//!
//! ## `search.search_clients_engines_sources_daily` — `mozdata.search.search_clients_engines_sources_daily`
//! One row per client, day, engine and search access point with any search.
//! Columns: `submission_date DATE, client_id VARCHAR, sample_id BIGINT, engine VARCHAR,
//! normalized_engine VARCHAR, source VARCHAR, country VARCHAR, locale VARCHAR, os VARCHAR,
//! app_version VARCHAR, normalized_channel VARCHAR, default_search_engine VARCHAR, sap BIGINT,
//! tagged_sap BIGINT, tagged_follow_on BIGINT, organic BIGINT, search_with_ads BIGINT, ad_click
//! BIGINT, search_with_ads_organic BIGINT, ad_click_organic BIGINT`.
//! Read by metrics `search_count` (`sap`), `tagged_search_count`, `tagged_follow_on_search_count`,
//! `organic_search_count`, `searches_with_ads`, `ad_clicks` (no experiments column).
//!
//! ## `telemetry.desktop_active_users` — `moz-fx-data-shared-prod.telemetry.desktop_active_users`
//! One row per client and day with any day seen in the last 28 (as upstream's view).
//! Columns: `submission_date DATE, client_id VARCHAR, sample_id BIGINT, app_name VARCHAR,
//! normalized_channel VARCHAR, country VARCHAR, locale VARCHAR, os VARCHAR, first_seen_date
//! DATE, days_seen_bits BIGINT, days_active_bits BIGINT, is_daily_user BOOLEAN, is_weekly_user
//! BOOLEAN, is_monthly_user BOOLEAN, is_dau BOOLEAN, is_wau BOOLEAN, is_mau BOOLEAN, is_desktop
//! BOOLEAN, is_mobile BOOLEAN`.
//! Read by metrics `retained_dau`, `client_level_daily_active_users_v2`,
//! `daily_active_users_per_1000_clients_legacy` (`is_dau`), `active_in_last_3_days_legacy`
//! (`mozfun.bits28.days_since_seen(days_active_bits)`); no experiments column.
//!
//! ## `telemetry.clients_last_seen` — `mozdata.telemetry.clients_last_seen`
//! The same rows as `desktop_active_users`.
//! Columns: `submission_date DATE, client_id VARCHAR, sample_id BIGINT, normalized_channel
//! VARCHAR, country VARCHAR, locale VARCHAR, os VARCHAR, first_seen_date DATE, days_seen_bits
//! BIGINT, days_active_bits BIGINT, days_since_seen BIGINT, days_since_active BIGINT,
//! activity_segments_v1 VARCHAR, is_regular_user_v3 BOOLEAN, is_new_or_resurrected_v3 BOOLEAN,
//! is_weekday_regular_v1 BOOLEAN, is_allweek_regular_v1 BOOLEAN`.
//! Read by segments `activity_core`, `activity_regular`, `activity_casual`,
//! `activity_infrequent`, `activity_infrequent_or_casual` (`activity_segments_v1` from the days
//! active in the last 28: ≥21 core, ≥14 regular, ≥5 casual, ≥1 infrequent, else `other`),
//! `regular_users_v3` (seen on ≥14 of the previous 27 days), `new_or_resurrected_v3` (none of
//! them), `weekday_regular_v1` / `allweek_regular_v1` (regular, seen on at most one / more than
//! one weekend day of the last 28), `new_unique_profiles`, `profile_age_0_to_7_days`,
//! `profile_age_7_to_28_days`, `profile_age_more_than_28_days` (`first_seen_date`: ~8% of
//! profiles are created in the week before enrollment, ~10% 7–27 days before).
//! These derivations approximate bigquery-etl's UDFs; they only need to be plausible.
//!
//! ## `firefox_desktop.newtab` — `mozdata.firefox_desktop.newtab` (a Glean ping)
//! Columns: `submission_timestamp TIMESTAMP, document_id VARCHAR, sample_id BIGINT,
//! normalized_country_code VARCHAR, normalized_channel VARCHAR, client_info STRUCT(client_id
//! VARCHAR, app_display_version VARCHAR, os VARCHAR, locale VARCHAR), ping_info STRUCT(seq BIGINT,
//! experiments STRUCT(key VARCHAR, value STRUCT(branch VARCHAR, extra STRUCT(type VARCHAR,
//! enrollment_id VARCHAR)))[]), metrics STRUCT(uuid STRUCT(legacy_telemetry_client_id VARCHAR),
//! string STRUCT(newtab_locale VARCHAR), string_list STRUCT(newtab_blocked_sponsors VARCHAR[]),
//! boolean STRUCT(pocket_enabled BOOLEAN))`. `client_info.client_id` is a Glean id distinct from
//! the legacy id, as upstream. Read by segment `clients_with_blocked_sponsors`.
//!
//! # Effects
//!
//! Activity (which days a client is seen, idle days, client traits) is independent of the
//! branch; effects start on the enrollment date and are multiplicative on means or shift a
//! probability, so every window's true relative uplift is exact (see
//! [`MozillaSyntheticConfig::injected_effects`]):
//! - `active_hours` = `active_hours_factor` − 1 (lognormal hours scaled, so every quantile too);
//! - `uri_count` = `uri_count_factor` − 1 (URIs per non-idle day are `1 + Poisson(f·m − 1)`, so
//!   the mean scales by `f` without changing which days have URIs);
//! - `search_count`, `tagged_search_count`, `tagged_follow_on_search_count`, `searches_with_ads`
//!   = `search_factor` − 1 (the last three are binomial thinnings of SAP searches);
//! - `ad_clicks` = `search_factor · ad_click_factor` − 1 (clicks thin searches with ads);
//! - `is_default_browser` = ratio of `default_browser_probability`s − 1 (a per-client state after
//!   enrollment; before it every branch uses the reference branch's probability);
//! - `unenroll` = ratio of `unenroll_probability`s − 1 (the unenrollment delay is
//!   branch-independent, so this holds for every daily window);
//! - A/A (uplift 0): `organic_search_count`, `days_of_use`, `qualified_cumulative_days_of_use`,
//!   `retained`, `retained_dau`, `client_level_daily_active_users_v2`,
//!   `daily_active_users_per_1000_clients_legacy`, `active_in_last_3_days_legacy`, `is_pinned`.
//!
//! Uplifts are of means over enrollees, in every window from the enrollment date on
//! (pre-enrollment windows: 0 for every metric). Quantile statistics (deciles) shift by exactly
//! the same factor only for `active_hours`.
//!
//! Unenrolled clients keep their experiment annotation (upstream they lose it); this keeps the
//! enrollment-date filter of the metrics query branch-independent.
//!
//! # Generation
//!
//! One seeded ChaCha8 stream, client after client; rows go through DuckDB appenders into flat
//! staging tables ([`STAGING_DDL`], day offsets and client indexes), and [`FINALIZE_SQL`] builds
//! the nested columns with `INSERT … SELECT`, ordered by date, then drops the staging schema.
//! `worker/tests/fixtures/synthetic_mozilla_check.py` runs the same DDL and SQL in Python's
//! DuckDB and evaluates every default metric and segment on the result.

use chrono::{Datelike, NaiveDate};
use duckdb::{params, Connection};
use jetstream_proto::naming::sql_string_literal;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Gamma, LogNormal, Normal, Poisson};
use thiserror::Error;

/// A branch of the synthetic experiment and the effects injected into it after enrollment.
#[derive(Debug, Clone, PartialEq)]
pub struct MozillaBranch {
    /// The branch slug written to enrollment events and experiment annotations.
    pub slug: String,
    /// Relative share of clients (any positive number).
    pub ratio: f64,
    /// Multiplier of daily `active_hours_sum`.
    pub active_hours_factor: f64,
    /// Multiplier of the mean daily URI count (at least 0.5, see the module docs).
    pub uri_count_factor: f64,
    /// Multiplier of the SAP search rate (and of tagged, follow-on and ad-bearing searches).
    pub search_factor: f64,
    /// Multiplier of the click rate on searches with ads (at most 4).
    pub ad_click_factor: f64,
    /// Probability that a client has Firefox as its default browser after enrollment.
    pub default_browser_probability: f64,
    /// Probability that a client unenrolls (some days after enrollment).
    pub unenroll_probability: f64,
}

impl MozillaBranch {
    /// A branch with no effect: unit factors and the baseline probabilities.
    pub fn neutral(slug: &str, ratio: f64) -> Self {
        MozillaBranch {
            slug: slug.to_string(),
            ratio,
            active_hours_factor: 1.0,
            uri_count_factor: 1.0,
            search_factor: 1.0,
            ad_click_factor: 1.0,
            default_browser_probability: 0.45,
            unenroll_probability: 0.05,
        }
    }
}

/// What to generate: an experiment `slug` enrolling `clients` on the first `enrollment_dates`
/// days from `start_date`, with data from 28 days before `start_date` to `end_date`.
#[derive(Debug, Clone, PartialEq)]
pub struct MozillaSyntheticConfig {
    /// The experiment slug (Normandy events' `event_string_value`, annotation key).
    pub slug: String,
    /// Number of enrolled clients.
    pub clients: usize,
    /// Seed of the ChaCha8 generator: the same config always writes the same tables.
    pub seed: u64,
    pub branches: Vec<MozillaBranch>,
    /// First enrollment date; day 0 of the experiment.
    pub start_date: NaiveDate,
    /// Number of enrollment dates (Jetstream's enrollment period + 1).
    pub enrollment_dates: i64,
    /// Last date with data.
    pub end_date: NaiveDate,
    /// Share of enrollees with a Normandy exposure event.
    pub exposure_rate: f64,
}

/// A true relative uplift of a metric, as the demo's generator reports them.
pub use crate::synthetic::InjectedEffect;

/// What was wrong with a config, or the warehouse error that stopped generation.
#[derive(Debug, Error)]
pub enum MozillaSyntheticError {
    #[error("the experiment slug is empty")]
    EmptySlug,
    #[error("clients must be at least 1")]
    NoClients,
    #[error("the experiment needs at least one branch")]
    NoBranches,
    #[error("branch slug `{0}` is empty or used twice")]
    BadBranchSlug(String),
    #[error("branch `{branch}`: ratio {ratio} must be positive and finite")]
    BadRatio { branch: String, ratio: f64 },
    #[error("branch `{branch}`: {field} = {value} must be {expected}")]
    BadEffect {
        branch: String,
        field: &'static str,
        value: f64,
        expected: &'static str,
    },
    #[error("end date {end} is before start date {start}")]
    EndBeforeStart { start: NaiveDate, end: NaiveDate },
    #[error("enrollment_dates = {got} must be between 1 and the experiment's {days} days")]
    BadEnrollmentDates { got: i64, days: i64 },
    #[error("exposure_rate = {0} must be within [0, 1]")]
    BadExposureRate(f64),
    #[error("DuckDB error while generating the Mozilla-shaped warehouse: {0}")]
    DuckDb(#[from] duckdb::Error),
}

impl MozillaSyntheticConfig {
    /// Control and treatment (1:1, 5,000 clients, 8 enrollment dates) with clear effects:
    /// +10% active hours, +8% URIs, +6% searches, +12% ad click rate (+18.72% ad clicks),
    /// default browser 45% → 50%, unenrollment 5% → 8%.
    pub fn example(slug: &str, start: NaiveDate, end: NaiveDate) -> Self {
        let span = (end - start).num_days() + 1;
        let treatment = MozillaBranch {
            active_hours_factor: 1.10,
            uri_count_factor: 1.08,
            search_factor: 1.06,
            ad_click_factor: 1.12,
            default_browser_probability: 0.50,
            unenroll_probability: 0.08,
            ..MozillaBranch::neutral("treatment", 1.0)
        };
        MozillaSyntheticConfig {
            slug: slug.to_string(),
            clients: 5_000,
            seed: 42,
            branches: vec![MozillaBranch::neutral("control", 1.0), treatment],
            start_date: start,
            enrollment_dates: span.clamp(1, 8),
            end_date: end,
            exposure_rate: 0.6,
        }
    }

    /// Checks the config, naming the first problem.
    pub fn validate(&self) -> Result<(), MozillaSyntheticError> {
        if self.slug.is_empty() {
            return Err(MozillaSyntheticError::EmptySlug);
        }
        if self.clients == 0 {
            return Err(MozillaSyntheticError::NoClients);
        }
        if self.branches.is_empty() {
            return Err(MozillaSyntheticError::NoBranches);
        }
        for (i, b) in self.branches.iter().enumerate() {
            if b.slug.is_empty() || self.branches[..i].iter().any(|o| o.slug == b.slug) {
                return Err(MozillaSyntheticError::BadBranchSlug(b.slug.clone()));
            }
            if !(b.ratio.is_finite() && b.ratio > 0.0) {
                return Err(MozillaSyntheticError::BadRatio {
                    branch: b.slug.clone(),
                    ratio: b.ratio,
                });
            }
            let checks: [(&'static str, f64, f64, f64, &'static str); 6] = [
                (
                    "active_hours_factor",
                    b.active_hours_factor,
                    f64::MIN_POSITIVE,
                    100.0,
                    "in (0, 100]",
                ),
                (
                    "uri_count_factor",
                    b.uri_count_factor,
                    0.5,
                    100.0,
                    "in [0.5, 100]",
                ),
                (
                    "search_factor",
                    b.search_factor,
                    f64::MIN_POSITIVE,
                    100.0,
                    "in (0, 100]",
                ),
                (
                    "ad_click_factor",
                    b.ad_click_factor,
                    f64::MIN_POSITIVE,
                    4.0,
                    "in (0, 4]",
                ),
                (
                    "default_browser_probability",
                    b.default_browser_probability,
                    f64::MIN_POSITIVE,
                    1.0,
                    "in (0, 1]",
                ),
                (
                    "unenroll_probability",
                    b.unenroll_probability,
                    f64::MIN_POSITIVE,
                    1.0,
                    "in (0, 1]",
                ),
            ];
            for (field, value, lo, hi, expected) in checks {
                if !(value.is_finite() && value >= lo && value <= hi) {
                    return Err(MozillaSyntheticError::BadEffect {
                        branch: b.slug.clone(),
                        field,
                        value,
                        expected,
                    });
                }
            }
        }
        if self.end_date < self.start_date {
            return Err(MozillaSyntheticError::EndBeforeStart {
                start: self.start_date,
                end: self.end_date,
            });
        }
        let days = (self.end_date - self.start_date).num_days() + 1;
        if self.enrollment_dates < 1 || self.enrollment_dates > days {
            return Err(MozillaSyntheticError::BadEnrollmentDates {
                got: self.enrollment_dates,
                days,
            });
        }
        if !(0.0..=1.0).contains(&self.exposure_rate) {
            return Err(MozillaSyntheticError::BadExposureRate(self.exposure_rate));
        }
        Ok(())
    }

    /// The branch effects are compared against: `control` if there is one, else the first.
    pub fn reference_branch(&self) -> Option<&MozillaBranch> {
        self.branches
            .iter()
            .find(|b| b.slug == "control")
            .or_else(|| self.branches.first())
    }

    /// The true relative uplifts of every default `firefox_desktop` metric (and `is_pinned`)
    /// for each branch other than `reference`, in the mean of any analysis window after
    /// enrollment. Empty when `reference` is not a branch.
    pub fn injected_effects(&self, reference: &str) -> Vec<InjectedEffect> {
        let Some(r) = self.branches.iter().find(|b| b.slug == reference) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for b in self.branches.iter().filter(|b| b.slug != reference) {
            let search = b.search_factor / r.search_factor - 1.0;
            let uplifts = [
                (
                    "active_hours",
                    b.active_hours_factor / r.active_hours_factor - 1.0,
                ),
                ("uri_count", b.uri_count_factor / r.uri_count_factor - 1.0),
                ("search_count", search),
                ("tagged_search_count", search),
                ("tagged_follow_on_search_count", search),
                ("searches_with_ads", search),
                (
                    "ad_clicks",
                    (b.search_factor * b.ad_click_factor) / (r.search_factor * r.ad_click_factor)
                        - 1.0,
                ),
                (
                    "is_default_browser",
                    b.default_browser_probability / r.default_browser_probability - 1.0,
                ),
                (
                    "unenroll",
                    b.unenroll_probability / r.unenroll_probability - 1.0,
                ),
            ];
            let aa = AA_METRICS.iter().map(|m| (*m, 0.0));
            for (metric, relative_uplift) in uplifts.into_iter().chain(aa) {
                out.push(InjectedEffect {
                    metric,
                    branch: b.slug.clone(),
                    reference: reference.to_string(),
                    relative_uplift,
                });
            }
        }
        out
    }
}

/// Metrics of the defaults (and `is_pinned`) with no injected effect.
const AA_METRICS: [&str; 9] = [
    "organic_search_count",
    "days_of_use",
    "qualified_cumulative_days_of_use",
    "retained",
    "retained_dau",
    "client_level_daily_active_users_v2",
    "daily_active_users_per_1000_clients_legacy",
    "active_in_last_3_days_legacy",
    "is_pinned",
];

/// The generated tables as (DuckDB name, BigQuery name).
pub const TABLES: [(&str, &str); 6] = [
    (
        "telemetry.events",
        "moz-fx-data-shared-prod.telemetry.events",
    ),
    ("telemetry.clients_daily", "mozdata.telemetry.clients_daily"),
    (
        "search.search_clients_engines_sources_daily",
        "mozdata.search.search_clients_engines_sources_daily",
    ),
    (
        "telemetry.desktop_active_users",
        "moz-fx-data-shared-prod.telemetry.desktop_active_users",
    ),
    (
        "telemetry.clients_last_seen",
        "mozdata.telemetry.clients_last_seen",
    ),
    ("firefox_desktop.newtab", "mozdata.firefox_desktop.newtab"),
];

/// The warehouse tables, replaced on every generation. Also read by
/// `worker/tests/fixtures/synthetic_mozilla_check.py`: keep it a raw string.
pub const WAREHOUSE_DDL: &str = r#"
CREATE SCHEMA IF NOT EXISTS telemetry;
CREATE SCHEMA IF NOT EXISTS search;
CREATE SCHEMA IF NOT EXISTS firefox_desktop;
CREATE OR REPLACE TABLE telemetry.events (
    submission_date DATE,
    client_id VARCHAR,
    sample_id BIGINT,
    normalized_channel VARCHAR,
    country VARCHAR,
    locale VARCHAR,
    app_version VARCHAR,
    os VARCHAR,
    experiments STRUCT(key VARCHAR, value STRUCT(branch VARCHAR, extra STRUCT(type VARCHAR, enrollment_id VARCHAR)))[],
    "timestamp" TIMESTAMP,
    event_timestamp BIGINT,
    event_category VARCHAR,
    event_method VARCHAR,
    event_object VARCHAR,
    event_string_value VARCHAR,
    event_map_values STRUCT(key VARCHAR, value VARCHAR)[],
    event_process VARCHAR
);
CREATE OR REPLACE TABLE telemetry.clients_daily (
    submission_date DATE,
    client_id VARCHAR,
    sample_id BIGINT,
    normalized_channel VARCHAR,
    country VARCHAR,
    locale VARCHAR,
    os VARCHAR,
    os_version VARCHAR,
    windows_build_number BIGINT,
    app_version VARCHAR,
    browser_version_info STRUCT(version VARCHAR, major_version BIGINT, minor_version BIGINT, patch_revision BIGINT, is_major_release BOOLEAN),
    experiments STRUCT(key VARCHAR, value VARCHAR)[],
    pings_aggregated_by_this_row BIGINT,
    active_hours_sum DOUBLE,
    subsession_hours_sum DOUBLE,
    scalar_parent_browser_engagement_total_uri_count_sum BIGINT,
    scalar_parent_browser_engagement_total_uri_count_normal_and_private_mode_sum BIGINT,
    search_count_all BIGINT,
    is_default_browser BOOLEAN,
    scalar_parent_os_environment_is_taskbar_pinned BOOLEAN,
    user_pref_browser_urlbar_quicksuggest_data_collection_enabled VARCHAR
);
CREATE OR REPLACE TABLE search.search_clients_engines_sources_daily (
    submission_date DATE,
    client_id VARCHAR,
    sample_id BIGINT,
    engine VARCHAR,
    normalized_engine VARCHAR,
    source VARCHAR,
    country VARCHAR,
    locale VARCHAR,
    os VARCHAR,
    app_version VARCHAR,
    normalized_channel VARCHAR,
    default_search_engine VARCHAR,
    sap BIGINT,
    tagged_sap BIGINT,
    tagged_follow_on BIGINT,
    organic BIGINT,
    search_with_ads BIGINT,
    ad_click BIGINT,
    search_with_ads_organic BIGINT,
    ad_click_organic BIGINT
);
CREATE OR REPLACE TABLE telemetry.desktop_active_users (
    submission_date DATE,
    client_id VARCHAR,
    sample_id BIGINT,
    app_name VARCHAR,
    normalized_channel VARCHAR,
    country VARCHAR,
    locale VARCHAR,
    os VARCHAR,
    first_seen_date DATE,
    days_seen_bits BIGINT,
    days_active_bits BIGINT,
    is_daily_user BOOLEAN,
    is_weekly_user BOOLEAN,
    is_monthly_user BOOLEAN,
    is_dau BOOLEAN,
    is_wau BOOLEAN,
    is_mau BOOLEAN,
    is_desktop BOOLEAN,
    is_mobile BOOLEAN
);
CREATE OR REPLACE TABLE telemetry.clients_last_seen (
    submission_date DATE,
    client_id VARCHAR,
    sample_id BIGINT,
    normalized_channel VARCHAR,
    country VARCHAR,
    locale VARCHAR,
    os VARCHAR,
    first_seen_date DATE,
    days_seen_bits BIGINT,
    days_active_bits BIGINT,
    days_since_seen BIGINT,
    days_since_active BIGINT,
    activity_segments_v1 VARCHAR,
    is_regular_user_v3 BOOLEAN,
    is_new_or_resurrected_v3 BOOLEAN,
    is_weekday_regular_v1 BOOLEAN,
    is_allweek_regular_v1 BOOLEAN
);
CREATE OR REPLACE TABLE firefox_desktop.newtab (
    submission_timestamp TIMESTAMP,
    document_id VARCHAR,
    sample_id BIGINT,
    normalized_country_code VARCHAR,
    normalized_channel VARCHAR,
    client_info STRUCT(client_id VARCHAR, app_display_version VARCHAR, os VARCHAR, locale VARCHAR),
    ping_info STRUCT(seq BIGINT, experiments STRUCT(key VARCHAR, value STRUCT(branch VARCHAR, extra STRUCT(type VARCHAR, enrollment_id VARCHAR)))[]),
    metrics STRUCT(uuid STRUCT(legacy_telemetry_client_id VARCHAR), string STRUCT(newtab_locale VARCHAR), string_list STRUCT(newtab_blocked_sponsors VARCHAR[]), boolean STRUCT(pocket_enabled BOOLEAN))
);
"#;

/// Flat staging tables the generator appends to (day offsets from the start date, client
/// indexes); [`FINALIZE_SQL`] turns them into the nested warehouse tables.
pub const STAGING_DDL: &str = r#"
CREATE SCHEMA IF NOT EXISTS synthetic_staging;
CREATE OR REPLACE TABLE synthetic_staging.clients (
    idx INTEGER, client_id VARCHAR, glean_client_id VARCHAR, sample_id BIGINT, branch VARCHAR,
    enrollment_id VARCHAR, enroll_day INTEGER, other_branch VARCHAR, other_enroll_day INTEGER,
    first_seen_day INTEGER, normalized_channel VARCHAR, country VARCHAR, locale VARCHAR,
    os VARCHAR, os_version VARCHAR, windows_build_number BIGINT, major_version BIGINT,
    minor_version BIGINT, patch_revision BIGINT, quicksuggest_pref VARCHAR, engine VARCHAR,
    is_pinned BOOLEAN, blocked_sponsors VARCHAR, pocket_enabled BOOLEAN);
CREATE OR REPLACE TABLE synthetic_staging.daily (
    day INTEGER, idx INTEGER, annotated BOOLEAN, pings BIGINT, active_hours DOUBLE,
    subsession_hours DOUBLE, uri BIGINT, uri_private BIGINT, searches BIGINT,
    is_default_browser BOOLEAN);
CREATE OR REPLACE TABLE synthetic_staging.search (
    day INTEGER, idx INTEGER, source VARCHAR, sap BIGINT, tagged_sap BIGINT,
    tagged_follow_on BIGINT, organic BIGINT, search_with_ads BIGINT, ad_click BIGINT,
    search_with_ads_organic BIGINT, ad_click_organic BIGINT);
CREATE OR REPLACE TABLE synthetic_staging.seen (
    day INTEGER, idx INTEGER, days_seen_bits BIGINT, days_active_bits BIGINT,
    days_since_seen BIGINT, days_since_active BIGINT, weekend_days_seen INTEGER);
CREATE OR REPLACE TABLE synthetic_staging.newtab (
    day INTEGER, idx INTEGER, second_of_day INTEGER, seq BIGINT);
CREATE OR REPLACE TABLE synthetic_staging.events (
    day INTEGER, idx INTEGER, second_of_day INTEGER, event_timestamp BIGINT, annotated BOOLEAN,
    category VARCHAR, method VARCHAR, object VARCHAR, string_value VARCHAR,
    key1 VARCHAR, value1 VARCHAR, key2 VARCHAR, value2 VARCHAR, key3 VARCHAR, value3 VARCHAR);
"#;

/// Builds the warehouse tables from the staging tables. Placeholders: `__START__` (a DATE
/// literal), `__SLUG__` and `__OTHER_SLUG__` (string literals).
pub const FINALIZE_SQL: &str = r#"
INSERT INTO telemetry.events
SELECT
    __START__ + s.day AS submission_date,
    c.client_id, c.sample_id, c.normalized_channel, c.country, c.locale,
    c.major_version || '.' || c.minor_version || '.' || c.patch_revision AS app_version,
    c.os,
    list_concat(
        CASE WHEN s.annotated THEN [{'key': __SLUG__, 'value': {'branch': c.branch, 'extra': {'type': 'nimbus-nimbus', 'enrollment_id': c.enrollment_id}}}] ELSE [] END,
        CASE WHEN c.other_branch IS NOT NULL AND s.day >= c.other_enroll_day THEN [{'key': __OTHER_SLUG__, 'value': {'branch': c.other_branch, 'extra': {'type': 'nimbus-nimbus', 'enrollment_id': md5(c.client_id)}}}] ELSE [] END
    ) AS experiments,
    CAST(__START__ + s.day AS TIMESTAMP) + to_seconds(s.second_of_day) AS "timestamp",
    s.event_timestamp, s.category, s.method, s.object, s.string_value,
    list_filter(
        [{'key': s.key1, 'value': s.value1}, {'key': s.key2, 'value': s.value2}, {'key': s.key3, 'value': s.value3}],
        lambda x: x.key IS NOT NULL
    ) AS event_map_values,
    'parent' AS event_process
FROM synthetic_staging.events s JOIN synthetic_staging.clients c USING (idx)
ORDER BY s.day, s.idx, s.second_of_day;

INSERT INTO telemetry.clients_daily
SELECT
    __START__ + d.day AS submission_date,
    c.client_id, c.sample_id, c.normalized_channel, c.country, c.locale, c.os, c.os_version,
    c.windows_build_number,
    c.major_version || '.' || c.minor_version || '.' || c.patch_revision AS app_version,
    {'version': c.major_version || '.' || c.minor_version || '.' || c.patch_revision,
     'major_version': c.major_version, 'minor_version': c.minor_version,
     'patch_revision': c.patch_revision, 'is_major_release': c.patch_revision = 0} AS browser_version_info,
    list_concat(
        CASE WHEN d.annotated THEN [{'key': __SLUG__, 'value': c.branch}] ELSE [] END,
        CASE WHEN c.other_branch IS NOT NULL AND d.day >= c.other_enroll_day THEN [{'key': __OTHER_SLUG__, 'value': c.other_branch}] ELSE [] END
    ) AS experiments,
    d.pings, d.active_hours, d.subsession_hours, d.uri, d.uri + d.uri_private, d.searches,
    d.is_default_browser, c.is_pinned, c.quicksuggest_pref
FROM synthetic_staging.daily d JOIN synthetic_staging.clients c USING (idx)
ORDER BY d.day, d.idx;

INSERT INTO search.search_clients_engines_sources_daily
SELECT
    __START__ + s.day AS submission_date,
    c.client_id, c.sample_id, c.engine,
    CASE c.engine WHEN 'google' THEN 'Google' WHEN 'bing' THEN 'Bing'
        WHEN 'ddg' THEN 'DuckDuckGo' WHEN 'ecosia' THEN 'Ecosia' ELSE 'Other' END AS normalized_engine,
    s.source, c.country, c.locale, c.os,
    c.major_version || '.' || c.minor_version || '.' || c.patch_revision AS app_version,
    c.normalized_channel, c.engine AS default_search_engine,
    s.sap, s.tagged_sap, s.tagged_follow_on, s.organic, s.search_with_ads, s.ad_click,
    s.search_with_ads_organic, s.ad_click_organic
FROM synthetic_staging.search s JOIN synthetic_staging.clients c USING (idx)
ORDER BY s.day, s.idx, s.source;

INSERT INTO telemetry.desktop_active_users
SELECT
    __START__ + s.day AS submission_date,
    c.client_id, c.sample_id, 'Firefox Desktop' AS app_name, c.normalized_channel, c.country,
    c.locale, c.os, __START__ + c.first_seen_day AS first_seen_date,
    s.days_seen_bits, s.days_active_bits,
    (s.days_seen_bits & 1) = 1 AS is_daily_user,
    (s.days_seen_bits & 127) > 0 AS is_weekly_user,
    s.days_seen_bits > 0 AS is_monthly_user,
    (s.days_active_bits & 1) = 1 AS is_dau,
    (s.days_active_bits & 127) > 0 AS is_wau,
    s.days_active_bits > 0 AS is_mau,
    TRUE AS is_desktop, FALSE AS is_mobile
FROM synthetic_staging.seen s JOIN synthetic_staging.clients c USING (idx)
ORDER BY s.day, s.idx;

INSERT INTO telemetry.clients_last_seen
SELECT
    __START__ + s.day AS submission_date,
    c.client_id, c.sample_id, c.normalized_channel, c.country, c.locale, c.os,
    __START__ + c.first_seen_day AS first_seen_date,
    s.days_seen_bits, s.days_active_bits, s.days_since_seen, s.days_since_active,
    CASE WHEN bit_count(s.days_active_bits) >= 21 THEN 'core_user'
        WHEN bit_count(s.days_active_bits) >= 14 THEN 'regular_user'
        WHEN bit_count(s.days_active_bits) >= 5 THEN 'casual_user'
        WHEN bit_count(s.days_active_bits) >= 1 THEN 'infrequent_user'
        ELSE 'other' END AS activity_segments_v1,
    bit_count(s.days_seen_bits >> 1) >= 14 AS is_regular_user_v3,
    bit_count(s.days_seen_bits >> 1) = 0 AS is_new_or_resurrected_v3,
    bit_count(s.days_seen_bits >> 1) >= 14 AND s.weekend_days_seen <= 1 AS is_weekday_regular_v1,
    bit_count(s.days_seen_bits >> 1) >= 14 AND s.weekend_days_seen > 1 AS is_allweek_regular_v1
FROM synthetic_staging.seen s JOIN synthetic_staging.clients c USING (idx)
ORDER BY s.day, s.idx;

INSERT INTO firefox_desktop.newtab
SELECT
    CAST(__START__ + n.day AS TIMESTAMP) + to_seconds(n.second_of_day) AS submission_timestamp,
    md5(c.glean_client_id || ':' || n.day || ':' || n.seq) AS document_id,
    c.sample_id, c.country AS normalized_country_code, c.normalized_channel,
    {'client_id': c.glean_client_id,
     'app_display_version': c.major_version || '.' || c.minor_version || '.' || c.patch_revision,
     'os': CASE c.os WHEN 'Windows_NT' THEN 'Windows' ELSE c.os END,
     'locale': c.locale} AS client_info,
    {'seq': n.seq,
     'experiments': list_concat(
        CASE WHEN n.day >= c.enroll_day THEN [{'key': __SLUG__, 'value': {'branch': c.branch, 'extra': {'type': 'nimbus-nimbus', 'enrollment_id': c.enrollment_id}}}] ELSE [] END,
        CASE WHEN c.other_branch IS NOT NULL AND n.day >= c.other_enroll_day THEN [{'key': __OTHER_SLUG__, 'value': {'branch': c.other_branch, 'extra': {'type': 'nimbus-nimbus', 'enrollment_id': md5(c.client_id)}}}] ELSE [] END
     )} AS ping_info,
    {'uuid': {'legacy_telemetry_client_id': c.client_id},
     'string': {'newtab_locale': c.locale},
     'string_list': {'newtab_blocked_sponsors': CASE WHEN c.blocked_sponsors IS NULL THEN []::VARCHAR[] ELSE string_split(c.blocked_sponsors, ',') END},
     'boolean': {'pocket_enabled': c.pocket_enabled}} AS metrics
FROM synthetic_staging.newtab n JOIN synthetic_staging.clients c USING (idx)
ORDER BY n.day, n.idx, n.second_of_day;

DROP SCHEMA synthetic_staging CASCADE;
"#;

/// Days of data before the start date (room for the pre-enrollment periods).
const PRE_DAYS: i64 = 28;
/// Days of activity simulated before the first written day, so the 28-day bit patterns of
/// `clients_last_seen` are complete from the first day.
const HISTORY_DAYS: i64 = 27;
/// The 28 bits of a `days_*_bits` column.
const BITS28: u64 = (1 << 28) - 1;

/// Writes the Mozilla-shaped warehouse into `conn`, replacing the tables of [`TABLES`], and
/// returns the true relative uplifts versus the reference branch (`control` if present, else
/// the first branch).
pub fn generate_mozilla_warehouse(
    conn: &Connection,
    config: &MozillaSyntheticConfig,
) -> Result<Vec<InjectedEffect>, MozillaSyntheticError> {
    config.validate()?;
    conn.execute_batch(WAREHOUSE_DDL)?;
    conn.execute_batch(STAGING_DDL)?;
    stage(conn, config)?;
    let finalize = FINALIZE_SQL
        .replace(
            "__START__",
            &format!("DATE '{}'", config.start_date.format("%Y-%m-%d")),
        )
        .replace("__OTHER_SLUG__", &sql_string_literal(&other_slug(config)))
        .replace("__SLUG__", &sql_string_literal(&config.slug));
    conn.execute_batch(&finalize)?;
    let reference = config
        .reference_branch()
        .map(|b| b.slug.clone())
        .unwrap_or_default();
    Ok(config.injected_effects(&reference))
}

/// Opens (or creates) the DuckDB database at `path` and writes the warehouse into it.
pub fn generate_mozilla_warehouse_file(
    path: &std::path::Path,
    config: &MozillaSyntheticConfig,
) -> Result<Vec<InjectedEffect>, MozillaSyntheticError> {
    let conn = Connection::open(path)?;
    generate_mozilla_warehouse(&conn, config)
}

/// The unrelated experiment some clients are also enrolled in.
fn other_slug(config: &MozillaSyntheticConfig) -> String {
    format!("{}-other", config.slug)
}

/// Countries (with their locale) and cumulative weights; the rest of the world is `RU`.
const COUNTRIES: [(&str, &str, f64); 17] = [
    ("US", "en-US", 0.30),
    ("DE", "de", 0.42),
    ("FR", "fr", 0.49),
    ("GB", "en-GB", 0.55),
    ("CA", "en-CA", 0.59),
    ("JP", "ja", 0.63),
    ("BR", "pt-BR", 0.67),
    ("IN", "en-US", 0.72),
    ("PL", "pl", 0.75),
    ("IT", "it", 0.78),
    ("ES", "es-ES", 0.81),
    ("MX", "es-MX", 0.83),
    ("ID", "id", 0.85),
    ("AU", "en-AU", 0.87),
    ("NL", "nl", 0.89),
    ("AT", "de", 0.905),
    ("CH", "de", 0.92),
];

/// (os, os_version, windows_build_number, cumulative weight).
const OSES: [(&str, &str, Option<i64>, f64); 7] = [
    ("Windows_NT", "10.0", Some(19045), 0.45),
    ("Windows_NT", "10.0", Some(22631), 0.68),
    ("Windows_NT", "6.1", Some(7601), 0.73),
    ("Windows_NT", "6.3", Some(9600), 0.75),
    ("Darwin", "23.6.0", None, 0.84),
    ("Darwin", "22.6.0", None, 0.90),
    ("Linux", "6.5", None, 1.0),
];

/// (major, minor, patch, cumulative weight): mostly recent releases, a few old ones around the
/// `suggest` segments' 92.0.1 threshold.
const VERSIONS: [(i64, i64, i64, f64); 6] = [
    (130, 0, 1, 0.45),
    (129, 0, 2, 0.75),
    (128, 0, 3, 0.90),
    (115, 15, 0, 0.96),
    (92, 0, 1, 0.98),
    (92, 0, 0, 1.0),
];

/// Default engines and cumulative weights, with each engine's share of tagged SAP searches.
const ENGINES: [(&str, f64, f64); 4] = [
    ("google", 0.72, 0.9),
    ("bing", 0.84, 0.85),
    ("ddg", 0.94, 0.7),
    ("ecosia", 1.0, 0.6),
];

/// Search access points.
const SOURCES: [&str; 4] = ["urlbar", "searchbar", "contextmenu", "urlbar-handoff"];

/// Picks from a list with cumulative weights (the last entry when `u` exceeds them all).
fn pick_cumulative<T: Copy>(items: &[T], weight: impl Fn(&T) -> f64, u: f64) -> Option<T> {
    items
        .iter()
        .find(|item| u < weight(item))
        .or(items.last())
        .copied()
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> i64 {
    if !(lambda.is_finite() && lambda > 0.0) {
        return 0;
    }
    Poisson::new(lambda)
        .map(|p| p.sample(rng) as i64)
        .unwrap_or(0)
}

fn binomial(rng: &mut ChaCha8Rng, n: i64, p: f64) -> i64 {
    if n <= 0 {
        return 0;
    }
    Binomial::new(n as u64, p.clamp(0.0, 1.0))
        .map(|b| b.sample(rng) as i64)
        .unwrap_or(0)
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        rng.gen::<u32>(),
        rng.gen::<u16>(),
        rng.gen::<u16>() & 0xfff,
        (rng.gen::<u16>() & 0x3fff) | 0x8000,
        rng.gen::<u64>() & 0xffff_ffff_ffff
    )
}

/// Generates every client and appends the staging tables.
fn stage(conn: &Connection, cfg: &MozillaSyntheticConfig) -> Result<(), MozillaSyntheticError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let total_ratio: f64 = cfg.branches.iter().map(|b| b.ratio).sum();
    let reference = cfg
        .reference_branch()
        .ok_or(MozillaSyntheticError::NoBranches)?;
    let first_day = -PRE_DAYS;
    let history_start = first_day - HISTORY_DAYS;
    let last_day = (cfg.end_date - cfg.start_date).num_days();
    let span = (last_day - history_start + 1) as usize;
    // Weekend masks of the 28-day bit patterns, by weekday of the row's date (0 = Monday).
    let start_weekday = i64::from(cfg.start_date.weekday().num_days_from_monday());
    let weekend_mask: Vec<u64> = (0..7)
        .map(|wd: i64| {
            (0..28i64)
                .filter(|i| (wd - i).rem_euclid(7) >= 5)
                .fold(0u64, |m, i| m | (1 << i))
        })
        .collect();
    let weekday = |day: i64| (start_weekday + day).rem_euclid(7) as usize;

    let client_mu = Normal::new(-0.4, 0.6).expect("valid normal");
    let search_rate = Gamma::new(1.5, 1.0).expect("valid gamma");
    let organic_rate = Gamma::new(1.0, 0.3).expect("valid gamma");
    let uri_rate = Gamma::new(2.0, 20.0).expect("valid gamma");
    let source_weight = Gamma::new(1.0, 1.0).expect("valid gamma");

    let mut clients = conn.appender_to_db("clients", "synthetic_staging")?;
    let mut daily = conn.appender_to_db("daily", "synthetic_staging")?;
    let mut search = conn.appender_to_db("search", "synthetic_staging")?;
    let mut seen_app = conn.appender_to_db("seen", "synthetic_staging")?;
    let mut newtab = conn.appender_to_db("newtab", "synthetic_staging")?;
    let mut events = conn.appender_to_db("events", "synthetic_staging")?;

    let mut seen = vec![false; span];
    let mut active = vec![false; span];
    for idx in 0..cfg.clients {
        let idx_i32 = i32::try_from(idx).unwrap_or(i32::MAX);
        let client_id = uuid(&mut rng);
        let glean_client_id = uuid(&mut rng);
        let enrollment_id = uuid(&mut rng);
        let sample_id: i64 = rng.gen_range(0..100);
        let mut pick = rng.gen::<f64>() * total_ratio;
        let branch = cfg
            .branches
            .iter()
            .find(|b| {
                pick -= b.ratio;
                pick < 0.0
            })
            .unwrap_or(reference);
        let enroll_day = rng.gen_range(0..cfg.enrollment_dates);
        let other_branch = (rng.gen::<f64>() < 0.3).then(|| {
            if rng.gen::<bool>() {
                "control"
            } else {
                "treatment-a"
            }
        });
        let other_enroll_day = rng.gen_range(first_day..0);
        let u = rng.gen::<f64>();
        let first_seen_day = if u < 0.08 {
            enroll_day - rng.gen_range(0..7)
        } else if u < 0.18 {
            enroll_day - rng.gen_range(7..28)
        } else {
            -rng.gen_range(60..3000)
        };
        let (country, locale) = pick_cumulative(&COUNTRIES, |c| c.2, rng.gen())
            .map(|c| (c.0, c.1))
            .unwrap_or(("RU", "ru"));
        let (os, os_version, build) = pick_cumulative(&OSES, |o| o.3, rng.gen())
            .map(|o| (o.0, o.1, o.2))
            .unwrap_or(("Linux", "6.5", None));
        let (major, minor, patch) = pick_cumulative(&VERSIONS, |v| v.3, rng.gen())
            .map(|v| (v.0, v.1, v.2))
            .unwrap_or((130, 0, 1));
        let channel = match rng.gen::<f64>() {
            x if x < 0.9 => "release",
            x if x < 0.96 => "beta",
            _ => "nightly",
        };
        let quicksuggest = match rng.gen::<f64>() {
            x if x < 0.2 => Some("true"),
            x if x < 0.95 => Some("false"),
            _ => None,
        };
        let (engine, tagged_share) = pick_cumulative(&ENGINES, |e| e.1, rng.gen())
            .map(|e| (e.0, e.2))
            .unwrap_or(("google", 0.9));
        let is_pinned = (os == "Windows_NT").then(|| rng.gen::<f64>() < 0.35);
        let blocked = (rng.gen::<f64>() < 0.08).then(|| {
            if rng.gen::<bool>() {
                "amazon"
            } else {
                "amazon,booking"
            }
        });
        let pocket_enabled = rng.gen::<f64>() < 0.8;
        clients.append_row(params![
            idx_i32,
            client_id,
            glean_client_id,
            sample_id,
            branch.slug,
            enrollment_id,
            enroll_day as i32,
            other_branch,
            other_enroll_day as i32,
            first_seen_day as i32,
            channel,
            country,
            locale,
            os,
            os_version,
            build,
            major,
            minor,
            patch,
            quicksuggest,
            engine,
            is_pinned,
            blocked,
            pocket_enabled
        ])?;

        // Branch-independent activity: which days the client is seen, and idle days.
        let p_seen: f64 = rng.gen_range(0.15..0.9);
        let p_idle: f64 = rng.gen_range(0.02..0.15);
        for (i, (s, a)) in seen.iter_mut().zip(active.iter_mut()).enumerate() {
            let day = history_start + i as i64;
            *s = day >= first_seen_day
                && (day == first_seen_day || day == enroll_day || rng.gen::<f64>() < p_seen);
            *a = *s && rng.gen::<f64>() >= p_idle;
        }

        // Client-level intensities; effects multiply them from the enrollment date on.
        let hours = LogNormal::new(client_mu.sample(&mut rng), 0.9).expect("valid lognormal");
        let uri_mean = 2.0 + uri_rate.sample(&mut rng);
        let private_rate = rng.gen_range(0.0..3.0);
        let sap_rate: f64 = search_rate.sample(&mut rng);
        let organic: f64 = organic_rate.sample(&mut rng);
        let weights: Vec<f64> = SOURCES
            .iter()
            .map(|_| source_weight.sample(&mut rng))
            .collect();
        let weight_sum: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let follow_on_share = rng.gen_range(0.05..0.3);
        let ads_share = rng.gen_range(0.4..0.8);
        let click_rate = rng.gen_range(0.03..0.25);
        let default_u = rng.gen::<f64>();
        let default_before = default_u < reference.default_browser_probability;
        let default_after = default_u < branch.default_browser_probability;

        let (mut seen_bits, mut active_bits) = (0u64, 0u64);
        let mut newtab_seq = 0i64;
        for (i, (&is_seen, &is_active)) in seen.iter().zip(&active).enumerate() {
            let day = history_start + i as i64;
            seen_bits = ((seen_bits << 1) | u64::from(is_seen)) & BITS28;
            active_bits = ((active_bits << 1) | u64::from(is_active)) & BITS28;
            if day < first_day {
                continue;
            }
            if seen_bits != 0 {
                seen_app.append_row(params![
                    day as i32,
                    idx_i32,
                    seen_bits as i64,
                    active_bits as i64,
                    i64::from(seen_bits.trailing_zeros()),
                    (active_bits != 0).then_some(i64::from(active_bits.trailing_zeros())),
                    (seen_bits & weekend_mask[weekday(day)]).count_ones() as i32
                ])?;
            }
            if !is_seen {
                continue;
            }
            let treated = day >= enroll_day;
            let (hours_f, uri_f, search_f, click_f) = if treated {
                (
                    branch.active_hours_factor,
                    branch.uri_count_factor,
                    branch.search_factor,
                    branch.ad_click_factor,
                )
            } else {
                (1.0, 1.0, 1.0, 1.0)
            };
            let annotated = day > enroll_day || (day == enroll_day && rng.gen::<f64>() < 0.85);
            let (active_hours, uri, uri_private) = if is_active {
                (
                    hours.sample(&mut rng) * hours_f,
                    1 + poisson(&mut rng, uri_mean * uri_f - 1.0),
                    poisson(&mut rng, private_rate),
                )
            } else {
                (0.0, 0, 0)
            };
            let subsession_hours = active_hours * rng.gen_range(1.2..3.0) + rng.gen_range(0.0..0.5);
            let mut day_sap = 0i64;
            if is_active {
                for (source, w) in SOURCES.iter().zip(&weights) {
                    let share = w / weight_sum;
                    let sap = poisson(&mut rng, sap_rate * share * search_f);
                    let organic_n = poisson(&mut rng, organic * share);
                    if sap == 0 && organic_n == 0 {
                        continue;
                    }
                    let tagged = binomial(&mut rng, sap, tagged_share);
                    let follow_on = binomial(&mut rng, sap, follow_on_share);
                    let with_ads = binomial(&mut rng, tagged, ads_share);
                    let clicks = binomial(&mut rng, with_ads, click_rate * click_f);
                    let with_ads_organic = binomial(&mut rng, organic_n, ads_share);
                    let clicks_organic = binomial(&mut rng, with_ads_organic, click_rate);
                    day_sap += sap;
                    search.append_row(params![
                        day as i32,
                        idx_i32,
                        source,
                        sap,
                        tagged,
                        follow_on,
                        organic_n,
                        with_ads,
                        clicks,
                        with_ads_organic,
                        clicks_organic
                    ])?;
                }
            }
            let is_default = if treated {
                default_after
            } else {
                default_before
            };
            daily.append_row(params![
                day as i32,
                idx_i32,
                annotated,
                1 + poisson(&mut rng, 2.0),
                active_hours,
                subsession_hours,
                uri,
                uri_private,
                day_sap,
                is_default
            ])?;
            if is_active && rng.gen::<f64>() < 0.3 {
                newtab_seq += 1;
                newtab.append_row(params![
                    day as i32,
                    idx_i32,
                    rng.gen_range(0..86_400),
                    newtab_seq
                ])?;
            }
            if is_active && rng.gen::<f64>() < 0.05 {
                events.append_row(params![
                    day as i32,
                    idx_i32,
                    rng.gen_range(0..86_400),
                    rng.gen_range(0..10_000_000i64),
                    day >= enroll_day,
                    "pictureinpicture",
                    "create",
                    "player",
                    Option::<&str>::None,
                    "value",
                    "1",
                    Option::<&str>::None,
                    Option::<&str>::None,
                    Option::<&str>::None,
                    Option::<&str>::None
                ])?;
            }
        }

        // Normandy events of this experiment, then of the unrelated one.
        let mut normandy = |day: i64,
                            method: &str,
                            slug: &str,
                            map: [(&str, &str); 3],
                            rng: &mut ChaCha8Rng|
         -> Result<(), duckdb::Error> {
            if day < first_day || day > last_day {
                return Ok(());
            }
            events.append_row(params![
                day as i32,
                idx_i32,
                rng.gen_range(0..86_400),
                rng.gen_range(0..10_000_000i64),
                day >= enroll_day,
                "normandy",
                method,
                "nimbus_experiment",
                slug,
                map[0].0,
                map[0].1,
                map[1].0,
                map[1].1,
                map[2].0,
                map[2].1
            ])
        };
        let enroll_map = [
            ("branch", branch.slug.as_str()),
            ("enrollmentId", enrollment_id.as_str()),
            ("experimentType", "nimbus"),
        ];
        normandy(enroll_day, "enroll", &cfg.slug, enroll_map, &mut rng)?;
        if rng.gen::<f64>() < 0.1 && enroll_day + 1 < cfg.enrollment_dates {
            normandy(enroll_day + 1, "enroll", &cfg.slug, enroll_map, &mut rng)?;
        }
        if rng.gen::<f64>() < cfg.exposure_rate {
            let day = (enroll_day + rng.gen_range(0..4)).min(cfg.enrollment_dates - 1);
            let map = [
                ("branchSlug", branch.slug.as_str()),
                ("featureId", "synthetic-feature"),
                ("experimentType", "nimbus"),
            ];
            normandy(day, "expose", &cfg.slug, map, &mut rng)?;
        }
        if rng.gen::<f64>() < branch.unenroll_probability {
            // A geometric delay (mean ~2.3 days), independent of the branch.
            let mut delay = 0;
            while rng.gen::<f64>() >= 0.3 {
                delay += 1;
            }
            let map = [
                ("reason", "studies-opt-out"),
                ("branch", branch.slug.as_str()),
                ("enrollmentId", enrollment_id.as_str()),
            ];
            normandy(enroll_day + delay, "unenroll", &cfg.slug, map, &mut rng)?;
        }
        if let Some(ob) = other_branch {
            let other = other_slug(cfg);
            let map = [
                ("branch", ob),
                ("enrollmentId", "-"),
                ("experimentType", "nimbus"),
            ];
            normandy(other_enroll_day, "enroll", &other, map, &mut rng)?;
            if rng.gen::<f64>() < 0.2 {
                let day = rng.gen_range(0..=last_day);
                let map = [
                    ("reason", "recipe-not-seen"),
                    ("branch", ob),
                    ("enrollmentId", "-"),
                ];
                normandy(day, "unenroll", &other, map, &mut rng)?;
            }
        }
    }
    clients.flush()?;
    daily.flush()?;
    search.flush()?;
    seen_app.flush()?;
    newtab.flush()?;
    events.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn small() -> MozillaSyntheticConfig {
        MozillaSyntheticConfig {
            clients: 400,
            ..MozillaSyntheticConfig::example("test-exp", date("2025-03-03"), date("2025-04-07"))
        }
    }

    #[test]
    fn validation_names_the_problem() {
        let ok = small();
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.clients = 0;
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::NoClients)
        ));
        let mut c = ok.clone();
        c.branches.clear();
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::NoBranches)
        ));
        let mut c = ok.clone();
        c.branches[1].ratio = -1.0;
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::BadRatio { .. })
        ));
        let mut c = ok.clone();
        c.branches[1].ratio = f64::NAN;
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::BadRatio { .. })
        ));
        let mut c = ok.clone();
        c.end_date = date("2025-03-01");
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::EndBeforeStart { .. })
        ));
        let mut c = ok.clone();
        c.enrollment_dates = 0;
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::BadEnrollmentDates { .. })
        ));
        let mut c = ok.clone();
        c.exposure_rate = 1.5;
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::BadExposureRate(_))
        ));
        let mut c = ok.clone();
        c.branches[1].slug = "control".into();
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::BadBranchSlug(_))
        ));
        let mut c = ok.clone();
        c.branches[1].uri_count_factor = 0.2;
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("uri_count_factor"), "{err}");
        let mut c = ok.clone();
        c.branches[0].unenroll_probability = 0.0;
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::BadEffect { .. })
        ));
        let mut c = ok;
        c.slug.clear();
        assert!(matches!(
            c.validate(),
            Err(MozillaSyntheticError::EmptySlug)
        ));
        // A bad config writes nothing.
        let conn = Connection::open_in_memory().unwrap();
        assert!(generate_mozilla_warehouse(&conn, &c).is_err());
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM information_schema.tables", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn effects_cover_every_default_metric() {
        let cfg = small();
        let effects = cfg.injected_effects("control");
        assert_eq!(effects.len(), 18);
        let get = |m: &str| {
            effects
                .iter()
                .find(|e| e.metric == m && e.branch == "treatment")
                .map(|e| e.relative_uplift)
                .unwrap()
        };
        assert!((get("active_hours") - 0.10).abs() < 1e-12);
        assert!((get("ad_clicks") - (1.06 * 1.12 - 1.0)).abs() < 1e-12);
        assert!((get("is_default_browser") - (0.50 / 0.45 - 1.0)).abs() < 1e-12);
        assert!((get("unenroll") - 0.6).abs() < 1e-12);
        assert_eq!(get("days_of_use"), 0.0);
        assert!(cfg.injected_effects("nope").is_empty());
    }

    fn columns(conn: &Connection, schema: &str, table: &str) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT column_name, data_type FROM information_schema.columns
                 WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            )
            .unwrap();
        stmt.query_map([schema, table], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn generates_every_table_with_consistent_rows() {
        let cfg = small();
        let conn = Connection::open_in_memory().unwrap();
        let effects = generate_mozilla_warehouse(&conn, &cfg).unwrap();
        assert_eq!(effects.len(), 18);

        for (table, _) in TABLES {
            let (schema, name) = table.split_once('.').unwrap();
            assert!(!columns(&conn, schema, name).is_empty(), "{table} missing");
        }
        let cd = columns(&conn, "telemetry", "clients_daily");
        for (col, ty) in [
            ("active_hours_sum", "DOUBLE"),
            (
                "scalar_parent_browser_engagement_total_uri_count_sum",
                "BIGINT",
            ),
            ("is_default_browser", "BOOLEAN"),
            (
                "experiments",
                "STRUCT(\"key\" VARCHAR, \"value\" VARCHAR)[]",
            ),
        ] {
            assert!(
                cd.iter().any(|(c, t)| c == col && t == ty),
                "clients_daily.{col} {ty}: {cd:?}"
            );
        }
        let ev = columns(&conn, "telemetry", "events");
        assert!(ev
            .iter()
            .any(|(c, t)| c == "experiments" && t.contains("branch")));
        assert_eq!(
            count(&conn, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'synthetic_staging'"),
            0
        );

        // Every client enrolls once (or twice) into one branch, on an enrollment date.
        assert_eq!(
            count(
                &conn,
                "SELECT count(DISTINCT client_id) FROM telemetry.events
                 WHERE event_method = 'enroll' AND event_string_value = 'test-exp'"
            ),
            cfg.clients as i64
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM (SELECT client_id FROM telemetry.events
                 WHERE event_method = 'enroll' AND event_string_value = 'test-exp'
                 GROUP BY client_id HAVING count(DISTINCT list_filter(event_map_values, lambda x: x.key = 'branch')[1].value) > 1)"
            ),
            0
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM telemetry.events WHERE event_method = 'enroll'
                 AND event_string_value = 'test-exp'
                 AND submission_date NOT BETWEEN DATE '2025-03-03' AND DATE '2025-03-10'"
            ),
            0
        );
        // Every client is seen on its enrollment date; rows span the pre-period to the end.
        assert_eq!(
            count(
                &conn,
                "SELECT count(DISTINCT cd.client_id) FROM telemetry.clients_daily cd
                 JOIN (SELECT client_id, min(submission_date) AS d FROM telemetry.events
                       WHERE event_method = 'enroll' AND event_string_value = 'test-exp'
                       GROUP BY client_id) e
                   ON cd.client_id = e.client_id AND cd.submission_date = e.d"
            ),
            cfg.clients as i64
        );
        assert_eq!(
            count(&conn, "SELECT count(*) FROM telemetry.clients_daily WHERE submission_date < DATE '2025-02-03' OR submission_date > DATE '2025-04-07'"),
            0
        );
        assert!(
            count(&conn, "SELECT count(*) FROM telemetry.clients_daily") > 10 * cfg.clients as i64
        );
        // Annotated after enrollment with the client's branch, never before.
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM telemetry.clients_daily cd
                 JOIN (SELECT client_id, min(submission_date) AS d,
                              any_value(list_filter(event_map_values, lambda x: x.key = 'branch')[1].value) AS b
                       FROM telemetry.events WHERE event_method = 'enroll' AND event_string_value = 'test-exp'
                       GROUP BY client_id) e ON cd.client_id = e.client_id
                 WHERE (cd.submission_date > e.d AND list_filter(cd.experiments, lambda x: x.key = 'test-exp')[1].value IS DISTINCT FROM e.b)
                    OR (cd.submission_date < e.d AND len(list_filter(cd.experiments, lambda x: x.key = 'test-exp')) > 0)"
            ),
            0
        );
        // clients_last_seen and desktop_active_users share their rows; DAU implies seen.
        assert_eq!(
            count(&conn, "SELECT count(*) FROM telemetry.clients_last_seen"),
            count(&conn, "SELECT count(*) FROM telemetry.desktop_active_users")
        );
        assert_eq!(
            count(&conn, "SELECT count(*) FROM telemetry.desktop_active_users WHERE is_dau AND NOT is_daily_user"),
            0
        );
        assert!(
            count(
                &conn,
                "SELECT count(*) FROM search.search_clients_engines_sources_daily"
            ) > 0
        );
        assert!(count(&conn, "SELECT count(*) FROM firefox_desktop.newtab") > 0);
        assert!(
            count(
                &conn,
                "SELECT count(*) FROM firefox_desktop.newtab WHERE len(metrics.string_list.newtab_blocked_sponsors) > 0"
            ) > 0
        );

        // Deterministic for a seed.
        let again = Connection::open_in_memory().unwrap();
        generate_mozilla_warehouse(&again, &cfg).unwrap();
        let sum = |c: &Connection| -> f64 {
            c.query_row(
                "SELECT sum(active_hours_sum) FROM telemetry.clients_daily",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(sum(&conn), sum(&again));
    }

    #[test]
    fn injected_effects_show_in_the_data() {
        let cfg = MozillaSyntheticConfig {
            clients: 6000,
            ..MozillaSyntheticConfig::example("fx", date("2025-03-03"), date("2025-04-07"))
        };
        let conn = Connection::open_in_memory().unwrap();
        generate_mozilla_warehouse(&conn, &cfg).unwrap();
        // Per-client mean of post-enrollment active hours and URIs, treatment over control.
        let ratio = |column: &str| -> f64 {
            conn.query_row(
                &format!(
                    "WITH e AS (SELECT client_id, min(submission_date) AS d,
                                any_value(list_filter(event_map_values, lambda x: x.key = 'branch')[1].value) AS b
                         FROM telemetry.events WHERE event_method = 'enroll' AND event_string_value = 'fx'
                         GROUP BY client_id),
                     per AS (SELECT e.client_id, e.b, coalesce(sum({column}), 0) AS v
                             FROM e LEFT JOIN telemetry.clients_daily cd
                               ON cd.client_id = e.client_id AND cd.submission_date BETWEEN e.d AND e.d + 27
                             GROUP BY ALL)
                     SELECT avg(v) FILTER (b = 'treatment') / avg(v) FILTER (b = 'control') FROM per"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let hours = ratio("active_hours_sum");
        assert!((hours - 1.10).abs() < 0.06, "active hours ratio {hours}");
        let uris = ratio("scalar_parent_browser_engagement_total_uri_count_sum");
        assert!((uris - 1.08).abs() < 0.06, "uri ratio {uris}");
        let days = ratio("CASE WHEN submission_date IS NULL THEN 0 ELSE 1 END");
        assert!((days - 1.0).abs() < 0.04, "days of use ratio {days}");
    }
}
