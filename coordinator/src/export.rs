//! The JSON exports Experimenter reads, and where they are written.
//!
//! Layout (as Jetstream's GCS bucket): `statistics/statistics_<slug>_<suffix>.json`,
//! `metadata/metadata_<slug>.json`, `errors/errors_<slug>.json`, with `<slug>` normalised.

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use jetstream_proto::naming::normalize_name;
use jetstream_proto::spec::AnalysisSpec;
use jetstream_proto::{AnalysisBasis, AnalysisError, StatisticRow};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::PathBuf;
use thiserror::Error;

/// A failure to write an export.
#[derive(Debug, Error)]
#[error("cannot write {path}: {source}")]
pub struct SinkError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Where exports go: a local directory here, a bucket in production.
pub trait ResultsSink: Send + Sync {
    /// Writes `bytes` at `path` (relative, `/`-separated) atomically: readers see the old file or
    /// the new one, never a partial one.
    fn write(&self, path: &str, bytes: &[u8]) -> Result<(), SinkError>;
}

/// A results directory laid out like Jetstream's bucket.
#[derive(Debug, Clone)]
pub struct LocalDirSink {
    root: PathBuf,
}

impl LocalDirSink {
    /// A sink writing under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> LocalDirSink {
        LocalDirSink { root: root.into() }
    }
}

impl ResultsSink for LocalDirSink {
    fn write(&self, path: &str, bytes: &[u8]) -> Result<(), SinkError> {
        let target = self.root.join(path);
        let err = |source| SinkError {
            path: target.display().to_string(),
            source,
        };
        let dir = target.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        tmp.write_all(bytes).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(&target).map_err(|e| err(e.error))?;
        Ok(())
    }
}

/// `statistics/statistics_<slug>_<suffix>.json`: the rows of one period's view, as a JSON array.
pub fn statistics_path(slug: &str, suffix: &str) -> String {
    format!(
        "statistics/statistics_{}_{suffix}.json",
        normalize_name(slug)
    )
}

/// `metadata/metadata_<slug>.json`.
pub fn metadata_path(slug: &str) -> String {
    format!("metadata/metadata_{}.json", normalize_name(slug))
}

/// `errors/errors_<slug>.json`.
pub fn errors_path(slug: &str) -> String {
    format!("errors/errors_{}.json", normalize_name(slug))
}

/// Serialises statistics rows (null fields omitted, as BigQuery's JSON export writes them).
pub fn statistics_json(rows: &[StatisticRow]) -> Vec<u8> {
    serde_json::to_vec(rows).expect("statistics rows serialise")
}

/// Title-cases a metric slug the way Jetstream fills a missing friendly name.
fn default_friendly_name(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Experimenter's `Metadata` for an experiment (reference/jetstream.md §4.5).
pub fn metadata_json(spec: &AnalysisSpec, analysis_start_time: Option<DateTime<Utc>>) -> Vec<u8> {
    let mut metrics = Map::new();
    let mut used: Vec<&str> = spec
        .periods
        .iter()
        .flat_map(|(_, s)| s.iter().map(|s| s.metric.as_str()))
        .collect();
    used.sort();
    used.dedup();
    for name in used {
        let Some(m) = spec.metrics.get(name) else {
            continue;
        };
        metrics.insert(
            name.to_string(),
            json!({
                "analysis_bases": m.analysis_bases.iter().map(|b| b.value()).collect::<Vec<_>>(),
                "bigger_is_better": m.bigger_is_better,
                "description": m.description.clone().unwrap_or_default(),
                "friendly_name": m.friendly_name.clone().unwrap_or_else(|| default_friendly_name(name)),
            }),
        );
    }
    let exp = &spec.experiment;
    let o = &exp.overrides;
    let external_config = if o.any() {
        let date = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        json!({
            "reference_branch": o.reference_branch,
            "end_date": date(o.end_date),
            "start_date": date(o.start_date),
            "enrollment_period": o.enrollment_period,
            "skip": o.skip,
            "url": format!("https://github.com/mozilla/metric-hub/blob/main/jetstream/{}.toml", exp.slug),
        })
    } else {
        Value::Null
    };
    let value = json!({
        "analysis_start_time": analysis_start_time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        "external_config": external_config,
        "metrics": metrics,
        "outcomes": {},
        "version_info": null,
        "version_date": null,
        "schema_version": 4,
    });
    serde_json::to_vec(&value).expect("metadata serialises")
}

/// Exception types the errors export leaves out (Jetstream's `SKIP_ERROR_TYPES`).
const SKIP_ERROR_TYPES: &[&str] = &["EndedException", "EnrollmentNotCompleteException"];

/// Experimenter's `AnalysisError` (the logs row without `analysis_period`).
#[derive(Serialize)]
struct ExportedError<'a> {
    analysis_basis: Option<AnalysisBasis>,
    source: &'static str,
    exception: &'a Option<String>,
    exception_type: &'a Option<String>,
    experiment: &'a Option<String>,
    filename: &'a str,
    func_name: &'a str,
    log_level: &'a str,
    message: &'a str,
    metric: &'a Option<String>,
    segment: &'a Option<String>,
    statistic: &'a Option<String>,
    timestamp: String,
}

/// The start of the errors export: the latest weekly boundary (`enrollment_end + 1 + 7k` days)
/// at or before the analysis start, truncated to minutes; the start itself without an
/// enrollment end date.
pub fn errors_floor(spec: &AnalysisSpec, analysis_start: DateTime<Utc>) -> DateTime<Utc> {
    let start_minute = analysis_start
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(analysis_start);
    let Some(end) = spec.experiment.enrollment_end_date else {
        return start_minute;
    };
    let first = end + Duration::days(1);
    let today = analysis_start.date_naive();
    if today < first {
        return start_minute;
    }
    let weeks = (today - first).num_days() / 7;
    let boundary = first + Duration::days(7 * weeks);
    boundary
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

/// The errors export: logged errors at or after `floor`, oldest first, without skipped types.
pub fn errors_json(errors: &[AnalysisError], floor: DateTime<Utc>) -> Vec<u8> {
    let mut kept: Vec<&AnalysisError> = errors
        .iter()
        .filter(|e| e.timestamp >= floor)
        .filter(|e| {
            !e.exception_type
                .as_deref()
                .is_some_and(|t| SKIP_ERROR_TYPES.contains(&t))
        })
        .collect();
    kept.sort_by_key(|e| e.timestamp);
    let out: Vec<ExportedError> = kept
        .into_iter()
        .map(|e| ExportedError {
            analysis_basis: e.analysis_basis,
            source: "jetstream",
            exception: &e.exception,
            exception_type: &e.exception_type,
            experiment: &e.experiment,
            filename: &e.filename,
            func_name: &e.func_name,
            log_level: &e.log_level,
            message: &e.message,
            metric: &e.metric,
            segment: &e.segment,
            statistic: &e.statistic,
            timestamp: e
                .timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect();
    serde_json::to_vec(&out).expect("errors serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_names_are_title_cased() {
        assert_eq!(default_friendly_name("active_hours"), "Active Hours");
    }

    #[test]
    fn errors_floor_is_the_last_weekly_boundary() {
        let spec = AnalysisSpec {
            experiment: jetstream_proto::testing::experiment(
                "e",
                "2024-01-01",
                "2024-01-08",
                "2024-03-01",
            ),
            metrics: Default::default(),
            periods: vec![],
            data_sources: Default::default(),
            segments: vec![],
            segment_data_sources: Default::default(),
            exposure_signal: None,
        };
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // Boundaries: 01-09, 01-16, 01-23, ...
        assert_eq!(
            errors_floor(&spec, at("2024-01-20T05:06:07Z")),
            at("2024-01-16T00:00:00Z")
        );
        assert_eq!(
            errors_floor(&spec, at("2024-01-16T00:00:00Z")),
            at("2024-01-16T00:00:00Z")
        );
        // Before the first boundary, and without an enrollment end: the start, to the minute.
        assert_eq!(
            errors_floor(&spec, at("2024-01-05T05:06:07Z")),
            at("2024-01-05T05:06:00Z")
        );
        let mut open = spec.clone();
        open.experiment.enrollment_end_date = None;
        assert_eq!(
            errors_floor(&open, at("2024-01-20T05:06:07.5Z")),
            at("2024-01-20T05:06:00Z")
        );
    }

    #[test]
    fn errors_export_skips_ended_and_old_records() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let record = |ts: &str, exception_type: &str| AnalysisError {
            timestamp: at(ts),
            log_level: "ERROR".into(),
            experiment: Some("e".into()),
            metric: Some("m".into()),
            statistic: None,
            segment: None,
            analysis_basis: Some(AnalysisBasis::Enrollments),
            analysis_period: Some("week".into()),
            message: "boom".into(),
            exception: None,
            exception_type: Some(exception_type.into()),
            filename: "f.rs".into(),
            func_name: "f".into(),
        };
        let errors = vec![
            record("2024-01-10T00:00:00Z", "StatisticComputationException"),
            record("2024-01-20T00:00:00Z", "EndedException"),
            record("2024-01-21T00:00:00Z", "StatisticComputationException"),
        ];
        let out: Vec<serde_json::Value> =
            serde_json::from_slice(&errors_json(&errors, at("2024-01-16T00:00:00Z"))).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["timestamp"], "2024-01-21T00:00:00Z");
        assert_eq!(out[0]["source"], "jetstream");
        assert!(
            out[0].get("analysis_period").is_none(),
            "not in Experimenter's schema"
        );
    }

    #[test]
    fn local_sink_writes_atomically_into_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalDirSink::new(dir.path());
        sink.write("statistics/x.json", b"[1]").unwrap();
        sink.write("statistics/x.json", b"[2]").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("statistics/x.json")).unwrap(),
            b"[2]"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("statistics"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }
}
