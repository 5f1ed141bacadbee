//! A synthetic telemetry warehouse with known treatment effects, for the demo and end-to-end
//! tests: every number it injects is returned, so a test can check the analysis recovers it.
//!
//! Tables (schema `telemetry`, shaped like Mozilla's):
//! - `events`: Normandy enrollment (`normandy`/`enroll`) and exposure (`normandy`/`expose`) events
//!   with `event_map_values` as BigQuery's `ARRAY<STRUCT<key, value>>`, plus a feature event
//!   (`feature_callout`/`shown`) that a custom exposure signal can select;
//! - `clients_daily`: one row per active client-day, from 28 days before the experiment starts
//!   to its end, with `experiments` annotated the way the `simple` column type expects.
//!
//! Generated columns of `clients_daily` and their effects (treatment vs every other branch):
//! - `active_hours_sum` DOUBLE: heavy-tailed (lognormal per day), multiplied by the branch's
//!   factor after enrollment;
//! - `search_count_all` BIGINT: Poisson counts, rate multiplied by the branch's factor after
//!   enrollment; NULL on ~5% of rows;
//! - `uri_count` BIGINT: Poisson counts, no effect (an A/A metric);
//! - `pip_used` BOOLEAN: a per-client propensity whose probability depends on the branch after
//!   enrollment;
//! - `is_default_browser` BOOLEAN: a client trait, independent of branch (for segments).
//!
//! Because activity, exposure and segments are independent of the branch and effects are
//! multiplicative, the relative uplift of any window's mean is exactly the injected factor − 1.

use chrono::NaiveDate;
use duckdb::{params, Connection};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, LogNormal, Normal, Poisson};
use thiserror::Error;

/// A branch of the synthetic experiment and the effects injected into it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticBranch {
    pub slug: String,
    pub ratio: f64,
    /// Multiplier of daily active hours after enrollment.
    pub active_hours_factor: f64,
    /// Multiplier of the daily search rate after enrollment.
    pub search_factor: f64,
    /// Probability that a client is a picture-in-picture user after enrollment.
    pub pip_probability: f64,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    pub slug: String,
    pub clients: usize,
    pub seed: u64,
    pub branches: Vec<SyntheticBranch>,
    pub start_date: NaiveDate,
    /// Number of enrollment dates (Jetstream's enrollment period + 1).
    pub enrollment_dates: i64,
    pub end_date: NaiveDate,
    /// Share of enrollees who are exposed.
    pub exposure_rate: f64,
}

/// A true relative uplift of `metric` in `branch` versus `reference`, implied by the config.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedEffect {
    pub metric: &'static str,
    pub branch: String,
    pub reference: String,
    pub relative_uplift: f64,
}

impl SyntheticConfig {
    /// The true relative uplifts for each non-reference branch, for the metric names the
    /// bundled demo config defines (`active_hours`, `search_count`, `pip_users`, and the A/A
    /// metrics `uri_count` and `days_of_use`).
    pub fn injected_effects(&self, reference: &str) -> Vec<InjectedEffect> {
        let Some(r) = self.branches.iter().find(|b| b.slug == reference) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for b in self.branches.iter().filter(|b| b.slug != reference) {
            let mut push = |metric, relative_uplift| {
                out.push(InjectedEffect {
                    metric,
                    branch: b.slug.clone(),
                    reference: reference.to_string(),
                    relative_uplift,
                })
            };
            push(
                "active_hours",
                b.active_hours_factor / r.active_hours_factor - 1.0,
            );
            push("search_count", b.search_factor / r.search_factor - 1.0);
            push("pip_users", b.pip_probability / r.pip_probability - 1.0);
            push("uri_count", 0.0);
            push("days_of_use", 0.0);
        }
        out
    }
}

/// Failures while writing the synthetic warehouse.
#[derive(Debug, Error)]
pub enum SyntheticError {
    #[error("invalid synthetic config: {0}")]
    Config(String),
    #[error("DuckDB error while generating data: {0}")]
    DuckDb(#[from] duckdb::Error),
}

/// Creates (or extends) the DuckDB database at `path` with the synthetic tables.
pub fn generate_file(
    path: &std::path::Path,
    cfg: &SyntheticConfig,
) -> Result<(usize, usize), SyntheticError> {
    let conn = Connection::open(path)?;
    generate(&conn, cfg)
}

/// Days of data before the experiment starts (room for pre-enrollment periods).
const PRE_DAYS: i64 = 28;

/// Writes the synthetic tables into `conn` (replacing earlier ones). Returns the number of
/// enrolled clients and of `clients_daily` rows.
pub fn generate(
    conn: &Connection,
    cfg: &SyntheticConfig,
) -> Result<(usize, usize), SyntheticError> {
    if cfg.branches.is_empty() || cfg.branches.iter().any(|b| b.ratio <= 0.0) {
        return Err(SyntheticError::Config(
            "branches need positive ratios".into(),
        ));
    }
    if cfg.enrollment_dates < 1 || cfg.end_date < cfg.start_date {
        return Err(SyntheticError::Config("bad experiment dates".into()));
    }
    conn.execute_batch(
        "CREATE SCHEMA IF NOT EXISTS telemetry;
         CREATE OR REPLACE TABLE telemetry.raw_events (day INTEGER, client_id VARCHAR, sample_id INTEGER,
             category VARCHAR, method VARCHAR, object VARCHAR, string_value VARCHAR, map_key VARCHAR, map_value VARCHAR);
         CREATE OR REPLACE TABLE telemetry.raw_daily (day INTEGER, client_id VARCHAR, sample_id INTEGER,
             active_hours DOUBLE, searches BIGINT, uri BIGINT, pip BOOLEAN, is_default BOOLEAN,
             branch_annotation VARCHAR);",
    )?;

    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let total_ratio: f64 = cfg.branches.iter().map(|b| b.ratio).sum();
    let first_day = -PRE_DAYS;
    let last_day = (cfg.end_date - cfg.start_date).num_days();
    let client_mu = Normal::new(-0.4, 0.6).expect("valid normal");
    let search_rate = Gamma::new(2.0, 0.8).expect("valid gamma");
    let uri_rate = Gamma::new(2.0, 25.0).expect("valid gamma");
    let mut daily_rows = 0usize;
    {
        let mut events = conn.appender_to_db("raw_events", "telemetry")?;
        let mut daily = conn.appender_to_db("raw_daily", "telemetry")?;
        for i in 0..cfg.clients {
            let client_id = format!(
                "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                rng.gen::<u32>(),
                rng.gen::<u16>(),
                rng.gen::<u16>() & 0xfff,
                rng.gen::<u16>(),
                rng.gen::<u64>() & 0xffff_ffff_ffff
            );
            let sample_id = (i % 100) as i32;
            let mut pick = rng.gen::<f64>() * total_ratio;
            let branch = cfg
                .branches
                .iter()
                .find(|b| {
                    pick -= b.ratio;
                    pick < 0.0
                })
                .unwrap_or(&cfg.branches[cfg.branches.len() - 1]);
            let enroll_day = rng.gen_range(0..cfg.enrollment_dates);
            // One enrollment event, and a second one the next day for ~10% of clients.
            let repeat = rng.gen::<f64>() < 0.1 && enroll_day + 1 < cfg.enrollment_dates;
            for day in [Some(enroll_day), repeat.then_some(enroll_day + 1)]
                .into_iter()
                .flatten()
            {
                events.append_row(params![
                    day,
                    client_id,
                    sample_id,
                    "normandy",
                    "enroll",
                    "nimbus_experiment",
                    cfg.slug,
                    "branch",
                    branch.slug
                ])?;
            }
            if rng.gen::<f64>() < cfg.exposure_rate {
                let exposure_day = (enroll_day + rng.gen_range(0..4)).min(cfg.enrollment_dates - 1);
                events.append_row(params![
                    exposure_day,
                    client_id,
                    sample_id,
                    "normandy",
                    "expose",
                    "nimbus_experiment",
                    cfg.slug,
                    "branchSlug",
                    branch.slug
                ])?;
                events.append_row(params![
                    exposure_day,
                    client_id,
                    sample_id,
                    "feature_callout",
                    "shown",
                    "callout",
                    Option::<&str>::None,
                    "message",
                    "demo"
                ])?;
            }

            let p_active: f64 = rng.gen_range(0.15..0.95);
            let mu = client_mu.sample(&mut rng);
            let hours = LogNormal::new(mu, 0.9).expect("valid lognormal");
            let searches: f64 = search_rate.sample(&mut rng);
            let uris: f64 = uri_rate.sample(&mut rng);
            let is_default = rng.gen::<f64>() < 0.45;
            let control_pip = cfg.branches[0].pip_probability;
            let pip_before = rng.gen::<f64>() < control_pip;
            let pip_after = rng.gen::<f64>() < branch.pip_probability;
            for day in first_day..=last_day {
                if rng.gen::<f64>() >= p_active {
                    continue;
                }
                let treated = day >= enroll_day;
                let (hours_factor, search_factor) = if treated {
                    (branch.active_hours_factor, branch.search_factor)
                } else {
                    (1.0, 1.0)
                };
                let active_hours = hours.sample(&mut rng) * hours_factor;
                let search_count = Poisson::new(searches * search_factor + 1e-9)
                    .map(|p| p.sample(&mut rng) as i64)
                    .unwrap_or(0);
                let search_count = if rng.gen::<f64>() < 0.05 {
                    None
                } else {
                    Some(search_count)
                };
                let uri_count = Poisson::new(uris + 1e-9)
                    .map(|p| p.sample(&mut rng) as i64)
                    .unwrap_or(0);
                let pip = (if treated { pip_after } else { pip_before }) && rng.gen::<f64>() < 0.3;
                let annotated = day > enroll_day || (day == enroll_day && rng.gen::<f64>() < 0.85);
                let annotation = annotated.then_some(branch.slug.as_str());
                daily.append_row(params![
                    day,
                    client_id,
                    sample_id,
                    active_hours,
                    search_count,
                    uri_count,
                    pip,
                    is_default,
                    annotation
                ])?;
                daily_rows += 1;
            }
        }
        events.flush()?;
        daily.flush()?;
    }

    let start = format!("DATE '{}'", cfg.start_date.format("%Y-%m-%d"));
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TABLE telemetry.events AS
         SELECT {start} + day AS submission_date, client_id, sample_id,
                category AS event_category, method AS event_method, object AS event_object,
                string_value AS event_string_value,
                [{{'key': map_key, 'value': map_value}}] AS event_map_values
         FROM telemetry.raw_events ORDER BY submission_date, client_id;
         CREATE OR REPLACE TABLE telemetry.clients_daily AS
         SELECT {start} + day AS submission_date, client_id, sample_id,
                active_hours AS active_hours_sum, searches AS search_count_all, uri AS uri_count,
                pip AS pip_used, is_default AS is_default_browser,
                CASE WHEN branch_annotation IS NULL THEN []::STRUCT(key VARCHAR, value VARCHAR)[]
                     ELSE [{{'key': {slug}, 'value': branch_annotation}}] END AS experiments
         FROM telemetry.raw_daily ORDER BY submission_date, client_id;
         DROP TABLE telemetry.raw_events;
         DROP TABLE telemetry.raw_daily;",
        slug = jetstream_proto::naming::sql_string_literal(&cfg.slug),
    ))?;
    Ok((cfg.clients, daily_rows))
}
