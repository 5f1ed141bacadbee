//! TOML text → [`CustomConfig`]: type checks, unknown-key policy and line numbers.
//!
//! One parser for every kind of metric-hub file ([`FileKind`]): experiment configs, defaults,
//! definitions and outcomes share the same tables; outcomes also have top-level period lists,
//! `default_metrics` and a required `friendly_name`/`description`; `functions.toml` has only
//! `[functions.<name>]`.
//!
//! Unknown-key policy (deliberate decisions):
//! - top level: only metric-hub's allowed keys (`validate_config_settings`); anything else is an
//!   error with a "did you mean". A `[project]` table marks an OpMon config, which is an error
//!   here (repositories skip such files); the other OpMon-only tables (`population`, `alerts`,
//!   `dimensions`, `functions`) are ignored, as are top-level period lists outside outcomes
//!   (ignored by upstream; warned).
//! - `[metrics] days28 = [...]` is read as `28_day` (upstream silently ignores the `days28`
//!   spelling, which would drop the user's metrics without a word).
//! - `[parameters.<name>]`: unknown keys are errors, as upstream.
//! - `[experiment]` and `[experiment.exposure_signal]`: unknown keys are logged with
//!   `tracing::warn` and ignored, as upstream (cattrs) silently ignores them (verified upstream);
//!   real configs carry e.g. `enrollment_end_date`, and must keep loading.
//! - definitions (`[metrics.<m>]`, `[data_sources.<d>]`, `[segments.…]`): unknown keys are
//!   logged with `tracing::warn` and ignored, as upstream (cattrs) ignores them silently; real
//!   configs carry such keys (e.g. `window_start` in segment definitions). The keys of these
//!   tables are matched case-insensitively, as upstream lowercases them. The aggregation DSL
//!   (`aggregation`, `column`, `where`, ...) compiles into the select expression
//!   (`aggregation.rs`); unknown keys inside `where` and `threshold` are errors, as upstream.

use super::aggregation::{self, AggregationFields, Clause, Literal, Number};
use super::error::{join_key, ConfigError, Loc, Sourced};
use super::suggest::did_you_mean;
use super::tree::{self, Entry, Kind, LineIndex, Node};
use super::types::{
    AnalysisUnit, CustomConfig, DataSourceDefinition, ExperimentConfig, ExposureSignalDefinition,
    FileKind, FunctionDefinition, MetricDefinition, MetricsConfig, ParameterDefinition,
    ParameterValue, PeriodList, SegmentDataSourceDefinition, SegmentDefinition, SegmentsConfig,
    StatisticDefinition, WindowLimit,
};
use chrono::NaiveDate;
use jetstream_proto::spec::PreTreatmentSpec;
use jetstream_proto::{AnalysisBasis, AnalysisPeriod};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

const TOP_LEVEL_KEYS: &[&str] = &[
    "experiment",
    "metrics",
    "data_sources",
    "segments",
    "parameters",
    "friendly_name",
    "description",
    "project",
    "population",
    "alerts",
    "dimensions",
    "functions",
    "daily",
    "weekly",
    "28_day",
    "overall",
    "preenrollment_weekly",
    "preenrollment_days28",
];

const ENROLLMENTS_QUERY_TYPES: &[&str] = &[
    "normandy",
    "glean-event",
    "fenix-fallback",
    "cirrus",
    "background-update",
];

/// The largest number of days a config may write (enrollment period, windows).
const MAX_DAYS: i64 = 36_500;

const EXPERIMENTS_COLUMN_TYPES: &[&str] = &["simple", "native", "glean", "events_stream", "none"];

const AGGREGATION_DSL_KEYS: &[&str] = &[
    "aggregation",
    "column",
    "where",
    "within_days",
    "threshold",
    "scale",
    "cumulative_window",
    "incremental_window",
    "repeat_windows",
];

/// The `[metrics]` keys naming period lists, and their periods.
fn period_for_key(key: &str) -> Option<AnalysisPeriod> {
    Some(match key {
        "daily" => AnalysisPeriod::Day,
        "weekly" => AnalysisPeriod::Week,
        "28_day" | "days28" => AnalysisPeriod::Days28,
        "overall" => AnalysisPeriod::Overall,
        "preenrollment_weekly" => AnalysisPeriod::PreenrollmentWeek,
        "preenrollment_days28" => AnalysisPeriod::PreenrollmentDays28,
        _ => return None,
    })
}

type Result<T> = std::result::Result<T, ConfigError>;

/// Parses a metric-hub file of `kind` (not functions); `path` names the file in errors and in
/// the result.
pub(crate) fn parse(path: &Path, text: &str, kind: FileKind) -> Result<CustomConfig> {
    let root = tree::parse_document(text).map_err(|e| syntax_error(path, text, &e))?;
    Parser::new(path, text, kind).config(path, &root)
}

/// [`parse`] for files loaded as part of a repository: ignored keys are logged at debug level.
pub(crate) fn parse_quietly(path: &Path, text: &str, kind: FileKind) -> Result<CustomConfig> {
    let root = tree::parse_document(text).map_err(|e| syntax_error(path, text, &e))?;
    let mut parser = Parser::new(path, text, kind);
    parser.quiet = true;
    parser.config(path, &root)
}

/// Parses `definitions/functions.toml`.
pub(crate) fn parse_functions(path: &Path, text: &str) -> Result<Vec<FunctionDefinition>> {
    let root = tree::parse_document(text).map_err(|e| syntax_error(path, text, &e))?;
    Parser::new(path, text, FileKind::Functions).functions(&root)
}

fn syntax_error(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let message = error.message().trim().to_string();
    match error.span() {
        Some(span) => {
            let (line, column) = LineIndex::new(text).line_col(text, span.start);
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        }
        None => ConfigError::Invalid {
            file: Some(path.to_path_buf()),
            line: None,
            column: None,
            key: None,
            message: format!("invalid TOML: {message}"),
        },
    }
}

struct Parser {
    file: Arc<Path>,
    text: String,
    lines: LineIndex,
    kind: FileKind,
    /// Ignored keys are logged at debug level rather than as warnings.
    quiet: bool,
}

impl Parser {
    fn new(path: &Path, text: &str, kind: FileKind) -> Parser {
        Parser {
            file: Arc::from(path),
            text: text.to_string(),
            lines: LineIndex::new(text),
            kind,
            quiet: false,
        }
    }

    fn loc(&self, span: Option<&Range<usize>>) -> Loc {
        match span {
            Some(span) => {
                let (line, column) = self.lines.line_col(&self.text, span.start);
                Loc::at(&self.file, line, column)
            }
            None => Loc::new(&self.file, None),
        }
    }

    /// Where an entry's value is (its key when the value has no span, e.g. implicit tables).
    fn value_loc(&self, e: &Entry) -> Loc {
        self.loc(e.value.span.as_ref().or(e.key_span.as_ref()))
    }

    /// Where an entry's key is.
    fn key_loc(&self, e: &Entry) -> Loc {
        self.loc(e.key_span.as_ref().or(e.value.span.as_ref()))
    }

    /// The location of an array item, falling back to its entry's.
    fn item_loc(&self, item: &Node, e: &Entry) -> Loc {
        match &item.span {
            Some(span) => self.loc(Some(span)),
            None => self.value_loc(e),
        }
    }

    fn expected(&self, loc: &Loc, key: &str, what: &str, found: &Node) -> ConfigError {
        ConfigError::at(
            loc,
            key,
            format!("expected {what}, found {}", found.describe()),
        )
    }

    fn expected_entry(&self, e: &Entry, key: &str, what: &str) -> ConfigError {
        self.expected(&self.value_loc(e), key, what, &e.value)
    }

    fn table<'n>(&self, e: &'n Entry, key: &str, what: &str) -> Result<&'n [Entry]> {
        match &e.value.kind {
            Kind::Table(entries) => Ok(entries),
            _ => Err(self.expected_entry(e, key, what)),
        }
    }

    fn string(&self, e: &Entry, key: &str) -> Result<Sourced<String>> {
        match &e.value.kind {
            Kind::String(s) => Ok(Sourced::new(s.clone(), self.value_loc(e))),
            _ => Err(self.expected_entry(e, key, "a string")),
        }
    }

    fn plain_string(&self, e: &Entry, key: &str) -> Result<String> {
        self.string(e, key).map(|s| s.value)
    }

    fn non_empty_string(&self, e: &Entry, key: &str) -> Result<Sourced<String>> {
        match &e.value.kind {
            Kind::String(s) if !s.trim().is_empty() => {
                Ok(Sourced::new(s.clone(), self.value_loc(e)))
            }
            _ => Err(self.expected_entry(e, key, "a non-empty string")),
        }
    }

    fn boolean(&self, e: &Entry, key: &str) -> Result<Sourced<bool>> {
        match &e.value.kind {
            Kind::Boolean(b) => Ok(Sourced::new(*b, self.value_loc(e))),
            _ => Err(self.expected_entry(e, key, "a boolean")),
        }
    }

    /// An integer; a float with no fractional part is accepted too, as metric-hub's parser
    /// converts it (real configs write `sample_size = 3.0`).
    fn integer(&self, e: &Entry, key: &str, what: &str) -> Result<Sourced<i64>> {
        match whole_number(&e.value) {
            Some(i) => Ok(Sourced::new(i, self.value_loc(e))),
            None => Err(self.expected_entry(e, key, what)),
        }
    }

    /// A number of days from `min` to [`MAX_DAYS`] (a bound that keeps date arithmetic in
    /// range; a century of days is more than any analysis needs).
    fn days(&self, e: &Entry, key: &str, min: i64) -> Result<Sourced<i64>> {
        let what = if min == 0 {
            format!("a non-negative integer (days) up to {MAX_DAYS}")
        } else {
            format!("an integer (days) from {min} to {MAX_DAYS}")
        };
        let days = self.integer(e, key, &what)?;
        if days.value < min || days.value > MAX_DAYS {
            return Err(self.expected_entry(e, key, &what));
        }
        Ok(days)
    }

    /// A TOML string "YYYY-MM-DD" or a TOML local date.
    fn date(&self, e: &Entry, key: &str) -> Result<Sourced<NaiveDate>> {
        const WHAT: &str = "a date \"YYYY-MM-DD\"";
        let date = match &e.value.kind {
            Kind::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            Kind::Datetime(d) => match (d.date, d.time, d.offset) {
                (Some(date), None, None) => NaiveDate::from_ymd_opt(
                    i32::from(date.year),
                    date.month.into(),
                    date.day.into(),
                ),
                _ => None,
            },
            _ => None,
        };
        date.map(|d| Sourced::new(d, self.value_loc(e)))
            .ok_or_else(|| self.expected_entry(e, key, WHAT))
    }

    /// An array of non-empty strings.
    fn string_list(&self, e: &Entry, key: &str, what: &str) -> Result<Vec<Sourced<String>>> {
        let Kind::Array(items) = &e.value.kind else {
            return Err(self.expected_entry(e, key, &format!("a list of {what}")));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match &item.kind {
                Kind::String(s) if !s.trim().is_empty() => {
                    Ok(Sourced::new(s.clone(), self.item_loc(item, e)))
                }
                _ => Err(self.expected(
                    &self.item_loc(item, e),
                    &format!("{key}[{i}]"),
                    &format!("a non-empty string ({what})"),
                    item,
                )),
            })
            .collect()
    }

    /// A string or a list of strings.
    fn owners(&self, e: &Entry, key: &str) -> Result<Vec<String>> {
        match &e.value.kind {
            Kind::String(s) => Ok(vec![s.clone()]),
            Kind::Array(_) => Ok(self
                .string_list(e, key, "owners")?
                .into_iter()
                .map(|s| s.value)
                .collect()),
            _ => Err(self.expected_entry(e, key, "a string or a list of strings")),
        }
    }

    fn analysis_units(&self, e: &Entry, key: &str) -> Result<Vec<AnalysisUnit>> {
        let names = self.string_list(e, key, "analysis units")?;
        names
            .into_iter()
            .map(|name| {
                AnalysisUnit::parse(&name.value).ok_or_else(|| {
                    ConfigError::at(
                        &name.loc,
                        key,
                        format!(
                            "expected \"client_id\" or \"profile_group_id\", found {:?}",
                            name.value
                        ),
                    )
                })
            })
            .collect()
    }

    fn warn_unknown(&self, e: &Entry, key: &str, table: &str) {
        self.note_ignored(e, key, &format!("unknown key in [{table}]"));
    }

    /// Reports an ignored key: a warning for a file the user names, a debug message while a
    /// whole repository is loaded (hundreds of other experiments' quirks are not news).
    fn note_ignored(&self, e: &Entry, key: &str, why: &str) {
        let loc = self.key_loc(e);
        let line = loc.line.unwrap_or(0);
        if self.quiet {
            tracing::debug!(file = %self.file.display(), line, key = %key, "ignored: {why}");
        } else {
            tracing::warn!(file = %self.file.display(), line, key = %key, "ignored: {why}");
        }
    }

    fn root_entries<'n>(&self, root: &'n Node) -> Result<&'n [Entry]> {
        match &root.kind {
            Kind::Table(entries) => Ok(entries),
            _ => Err(ConfigError::at(
                &self.loc(None),
                "",
                "expected a TOML table",
            )),
        }
    }

    fn config(&self, path: &Path, root: &Node) -> Result<CustomConfig> {
        let mut config = CustomConfig::empty(path);
        let mut top_level_periods = Vec::new();
        for e in self.root_entries(root)? {
            let key = join_key("", &e.key);
            match e.key.as_str() {
                "experiment" if self.kind == FileKind::Outcome => {
                    self.warn_ignored(e, &key, "an outcome cannot set [experiment]")
                }
                "experiment" => config.experiment = self.experiment(e)?,
                "metrics" => config.metrics = self.metrics(e)?,
                "data_sources" => config.data_sources = self.data_sources(e)?,
                "segments" => config.segments = self.segments(e)?,
                "parameters" => config.parameters = self.parameters(e)?,
                "friendly_name" => config.friendly_name = Some(self.string(e, &key)?),
                "description" => config.description = Some(self.string(e, &key)?),
                "default_metrics" if self.kind == FileKind::Outcome => {
                    config.default_metrics = self.string_list(e, &key, "metric names")?
                }
                "project" => {
                    return Err(ConfigError::at(
                        &self.key_loc(e),
                        key,
                        "this is an OpMon project config (it has a [project] table), not a \
                         Jetstream config",
                    ))
                }
                "population" | "alerts" | "dimensions" | "functions" => {
                    tracing::debug!(file = %self.file.display(), key = %key, "OpMon-only table ignored");
                }
                k if period_for_key(k).is_some() && self.kind == FileKind::Outcome => {
                    top_level_periods.push(self.period_list(e, &key)?);
                }
                k if period_for_key(k).is_some() => self.warn_ignored(
                    e,
                    &key,
                    "a top-level period list is only read in outcomes; list metrics under [metrics]",
                ),
                _ => {
                    return Err(ConfigError::at(
                        &self.key_loc(e),
                        key,
                        format!(
                            "unexpected top-level key in {}{} (expected one of: {})",
                            self.kind.describe(),
                            did_you_mean(&e.key, self.top_level_keys().iter()),
                            self.top_level_keys().join(", ")
                        ),
                    ))
                }
            }
        }
        if self.kind == FileKind::Outcome {
            self.outcome_checks(&mut config, top_level_periods)?;
        }
        Ok(config)
    }

    fn top_level_keys(&self) -> Vec<&'static str> {
        let mut keys = TOP_LEVEL_KEYS.to_vec();
        if self.kind == FileKind::Outcome {
            keys.push("default_metrics");
        }
        keys
    }

    /// Upstream's outcome rules: `friendly_name` and `description` are required, `[metrics]`
    /// holds definitions only (the period lists are top-level), and every default metric is
    /// defined in the outcome.
    fn outcome_checks(&self, config: &mut CustomConfig, periods: Vec<PeriodList>) -> Result<()> {
        let file_loc = self.loc(None);
        for (field, value) in [
            ("friendly_name", &config.friendly_name),
            ("description", &config.description),
        ] {
            if value.is_none() {
                return Err(ConfigError::at(
                    &file_loc,
                    field,
                    "required key is missing (an outcome needs a friendly_name and a description)",
                ));
            }
        }
        if let Some(list) = config.metrics.periods.first() {
            return Err(ConfigError::at(
                &list.loc,
                join_key("metrics", &list.key),
                format!(
                    "an outcome lists its periods at the top level (`{} = [...]` before any \
                     table), not under [metrics]",
                    list.key
                ),
            ));
        }
        config.metrics.periods = periods;
        for name in &config.default_metrics {
            if !config.metrics.definitions.contains_key(&name.value) {
                return Err(ConfigError::at(
                    &name.loc,
                    "default_metrics",
                    format!(
                        "default metric '{}' is not defined in the outcome{}",
                        name.value,
                        did_you_mean(&name.value, config.metrics.definitions.keys())
                    ),
                ));
            }
        }
        Ok(())
    }

    fn warn_ignored(&self, e: &Entry, key: &str, why: &str) {
        self.note_ignored(e, key, why);
    }

    fn functions(&self, root: &Node) -> Result<Vec<FunctionDefinition>> {
        let mut out = Vec::new();
        for e in self.root_entries(root)? {
            let key = join_key("", &e.key);
            if e.key != "functions" {
                return Err(ConfigError::at(
                    &self.key_loc(e),
                    key,
                    "unexpected top-level key in functions.toml (expected [functions.<name>] tables)",
                ));
            }
            for f in self.table(e, "functions", "a table of functions")? {
                let prefix = join_key("functions", &f.key);
                let mut definition = None;
                for (field, d) in
                    self.lowercased(self.table(f, &prefix, "a function table")?, &prefix)?
                {
                    let key = join_key(&prefix, &d.key);
                    match field.as_str() {
                        "definition" => definition = Some(self.non_empty_string(d, &key)?),
                        "friendly_name" | "description" => {
                            self.string(d, &key)?;
                        }
                        _ => self.warn_unknown(d, &key, &prefix),
                    }
                }
                let definition = definition.ok_or_else(|| {
                    ConfigError::at(
                        &self.value_loc(f),
                        join_key(&prefix, "definition"),
                        "required key is missing",
                    )
                })?;
                out.push(FunctionDefinition {
                    name: f.key.clone(),
                    definition: definition.value,
                    loc: definition.loc,
                });
            }
        }
        Ok(out)
    }

    fn parameters(&self, section: &Entry) -> Result<BTreeMap<String, ParameterDefinition>> {
        let entries = self.table(section, "parameters", "a table of parameters")?;
        let mut out = BTreeMap::new();
        for p in entries {
            let prefix = join_key("parameters", &p.key);
            let mut definition = ParameterDefinition {
                name: p.key.clone(),
                loc: self.value_loc(p),
                friendly_name: None,
                description: None,
                value: None,
                default: None,
                distinct_by_branch: None,
            };
            for (field, e) in
                self.lowercased(self.table(p, &prefix, "a parameter table")?, &prefix)?
            {
                let key = join_key(&prefix, &e.key);
                match field.as_str() {
                    "friendly_name" => definition.friendly_name = Some(self.plain_string(e, &key)?),
                    "description" => definition.description = Some(self.plain_string(e, &key)?),
                    "value" => definition.value = Some(self.parameter_value(e, &key)?),
                    "default" => definition.default = Some(self.parameter_value(e, &key)?),
                    "distinct_by_branch" => {
                        definition.distinct_by_branch = Some(self.boolean(e, &key)?.value)
                    }
                    // Upstream rejects unknown parameter keys (a TypeError in its structuring).
                    _ => {
                        return Err(ConfigError::at(
                            &self.key_loc(e),
                            key,
                            "unknown parameter key (expected friendly_name, description, value, \
                             default or distinct_by_branch)",
                        ))
                    }
                }
            }
            out.insert(p.key.clone(), definition);
        }
        Ok(out)
    }

    /// A parameter value: a string (numbers and booleans are taken as written), or a table of
    /// branch → string.
    fn parameter_value(&self, e: &Entry, key: &str) -> Result<ParameterValue> {
        const WHAT: &str = "a string or a table of branch = \"value\"";
        let scalar = |node: &Node| match &node.kind {
            Kind::String(s) => Some(s.clone()),
            Kind::Integer(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            _ => None,
        };
        match &e.value.kind {
            Kind::Table(entries) => entries
                .iter()
                .map(|b| {
                    scalar(&b.value)
                        .map(|v| (b.key.clone(), v))
                        .ok_or_else(|| self.expected_entry(b, &join_key(key, &b.key), "a string"))
                })
                .collect::<Result<Vec<_>>>()
                .map(ParameterValue::ByBranch),
            _ => scalar(&e.value)
                .map(ParameterValue::Text)
                .ok_or_else(|| self.expected_entry(e, key, WHAT)),
        }
    }

    fn experiment(&self, section: &Entry) -> Result<ExperimentConfig> {
        let entries = self.table(section, "experiment", "a table")?;
        let mut x = ExperimentConfig::default();
        for e in entries {
            let key = join_key("experiment", &e.key);
            match e.key.as_str() {
                "enrollment_query" => x.enrollment_query = Some(self.non_empty_string(e, &key)?),
                "enrollment_period" => {
                    x.enrollment_period = Some(self.days(e, &key, 0)?);
                }
                "reference_branch" => x.reference_branch = Some(self.non_empty_string(e, &key)?),
                "start_date" => x.start_date = Some(self.date(e, &key)?),
                "end_date" => x.end_date = Some(self.date(e, &key)?),
                "segments" => x.segments = self.string_list(e, &key, "segment names")?,
                "outcomes" => x.outcomes = self.string_list(e, &key, "outcome slugs")?,
                "skip" => x.skip = Some(self.boolean(e, &key)?),
                "exposure_signal" => x.exposure_signal = Some(self.exposure_signal(e)?),
                "is_private" => {
                    x.is_private = Some(self.boolean(e, &key)?);
                    tracing::debug!(file = %self.file.display(), key = %key, "accepted; private experiments are not supported yet");
                }
                "dataset_id" => {
                    x.dataset_id = Some(self.non_empty_string(e, &key)?);
                    tracing::debug!(file = %self.file.display(), key = %key, "accepted and ignored: results go to the run's dataset");
                }
                "sample_size" => {
                    const WHAT: &str = "an integer percentage from 1 to 100";
                    let size = self.integer(e, &key, WHAT)?;
                    if !(1..=100).contains(&size.value) {
                        return Err(self.expected_entry(e, &key, WHAT));
                    }
                    x.sample_size = Some(Sourced::new(size.value as u32, size.loc));
                }
                "analysis_unit" => {
                    let unit = self.string(e, &key)?;
                    let parsed = AnalysisUnit::parse(&unit.value).ok_or_else(|| {
                        self.expected_entry(e, &key, "\"client_id\" or \"profile_group_id\"")
                    })?;
                    x.analysis_unit = Some(Sourced::new(parsed, unit.loc));
                }
                "enrollments_query_type" => {
                    let kind = self.string(e, &key)?;
                    if !ENROLLMENTS_QUERY_TYPES.contains(&kind.value.as_str()) {
                        return Err(self.expected_entry(
                            e,
                            &key,
                            &format!("one of {}", quoted_list(ENROLLMENTS_QUERY_TYPES)),
                        ));
                    }
                    x.enrollments_query_type = Some(kind);
                }
                _ => self.warn_unknown(e, &key, "experiment"),
            }
        }
        Ok(x)
    }

    fn exposure_signal(&self, section: &Entry) -> Result<ExposureSignalDefinition> {
        const PREFIX: &str = "experiment.exposure_signal";
        let entries = self.table(section, PREFIX, "a table")?;
        let loc = self.value_loc(section);
        let (mut name, mut data_source, mut select_expression) = (None, None, None);
        let mut signal = ExposureSignalDefinition {
            name: Sourced::new(String::new(), loc.clone()),
            data_source: Sourced::new(String::new(), loc.clone()),
            select_expression: Sourced::new(String::new(), loc.clone()),
            friendly_name: None,
            description: None,
            window_start: None,
            window_end: None,
            loc: loc.clone(),
        };
        for e in entries {
            let key = join_key(PREFIX, &e.key);
            match e.key.as_str() {
                "name" => name = Some(self.non_empty_string(e, &key)?),
                "data_source" => data_source = Some(self.non_empty_string(e, &key)?),
                "select_expression" => select_expression = Some(self.non_empty_string(e, &key)?),
                "friendly_name" => signal.friendly_name = Some(self.plain_string(e, &key)?),
                "description" => signal.description = Some(self.plain_string(e, &key)?),
                "window_start" => signal.window_start = Some(self.window_limit(e, &key)?),
                "window_end" => signal.window_end = Some(self.window_limit(e, &key)?),
                _ => self.warn_unknown(e, &key, "experiment.exposure_signal"),
            }
        }
        let required = |value: Option<Sourced<String>>, field: &str| {
            value.ok_or_else(|| {
                ConfigError::at(&loc, join_key(PREFIX, field), "required key is missing")
            })
        };
        signal.name = required(name, "name")?;
        signal.data_source = required(data_source, "data_source")?;
        signal.select_expression = required(select_expression, "select_expression")?;
        Ok(signal)
    }

    fn window_limit(&self, e: &Entry, key: &str) -> Result<Sourced<WindowLimit>> {
        let limit = match &e.value.kind {
            Kind::Integer(_) | Kind::Float(_) => whole_number(&e.value)
                .filter(|d| d.abs() <= MAX_DAYS)
                .map(WindowLimit::Days),
            Kind::String(s) => match s.as_str() {
                "enrollment_start" => Some(WindowLimit::EnrollmentStart),
                "enrollment_end" => Some(WindowLimit::EnrollmentEnd),
                "analysis_window_start" => Some(WindowLimit::AnalysisWindowStart),
                "analysis_window_end" => Some(WindowLimit::AnalysisWindowEnd),
                _ => None,
            },
            _ => None,
        };
        limit
            .map(|l| Sourced::new(l, self.value_loc(e)))
            .ok_or_else(|| {
                self.expected_entry(
                e,
                key,
                "an integer (days) or one of \"analysis_window_start\", \"analysis_window_end\", \
                 \"enrollment_start\", \"enrollment_end\"",
            )
            })
    }

    fn metrics(&self, section: &Entry) -> Result<MetricsConfig> {
        let entries = self.table(section, "metrics", "a table")?;
        let mut metrics = MetricsConfig::default();
        for e in entries {
            let key = join_key("metrics", &e.key);
            if period_for_key(&e.key).is_some() {
                let list = self.period_list(e, &key)?;
                if let Some(other) = metrics.periods.iter().find(|p| p.period == list.period) {
                    return Err(ConfigError::at(
                        &self.key_loc(e),
                        key,
                        format!(
                            "the {} period is already listed as `metrics.{}`",
                            list.period.value(),
                            other.key
                        ),
                    ));
                }
                metrics.periods.push(list);
            } else {
                if !matches!(e.value.kind, Kind::Table(_)) {
                    return Err(self.expected_entry(
                        e,
                        &key,
                        "a metric definition table or a period list (daily, weekly, 28_day, \
                         overall, preenrollment_weekly, preenrollment_days28)",
                    ));
                }
                let definition = self.metric(e, &key)?;
                metrics.definitions.insert(e.key.clone(), definition);
            }
        }
        Ok(metrics)
    }

    /// A period list (`weekly = ["a", "b"]`); `e.key` is a period key.
    fn period_list(&self, e: &Entry, key: &str) -> Result<PeriodList> {
        let period = period_for_key(&e.key)
            .ok_or_else(|| ConfigError::at(&self.key_loc(e), key, "not a period list"))?;
        Ok(PeriodList {
            period,
            key: e.key.clone(),
            metrics: self.string_list(e, key, "metric names")?,
            loc: self.key_loc(e),
        })
    }

    /// Entries of a definition table with lower-cased keys (upstream lowercases them);
    /// two keys differing only in case are an error.
    fn lowercased<'n>(
        &self,
        entries: &'n [Entry],
        prefix: &str,
    ) -> Result<Vec<(String, &'n Entry)>> {
        let mut seen = BTreeSet::new();
        entries
            .iter()
            .map(|e| {
                let lower = e.key.to_lowercase();
                if !seen.insert(lower.clone()) {
                    return Err(ConfigError::at(
                        &self.key_loc(e),
                        join_key(prefix, &e.key),
                        "duplicate key (keys of definitions are case-insensitive)",
                    ));
                }
                Ok((lower, e))
            })
            .collect()
    }

    fn metric(&self, section: &Entry, prefix: &str) -> Result<MetricDefinition> {
        let entries = self.table(section, prefix, "a table")?;
        let mut m = MetricDefinition {
            name: section.key.clone(),
            loc: self.value_loc(section),
            ..MetricDefinition::default()
        };
        let mut dsl = AggregationFields::default();
        let mut dsl_loc = None;
        for (field, e) in self.lowercased(entries, prefix)? {
            let key = join_key(prefix, &e.key);
            match field.as_str() {
                "select_expression" => m.select_expression = Some(self.non_empty_string(e, &key)?),
                "data_source" => m.data_source = Some(self.non_empty_string(e, &key)?),
                "friendly_name" => m.friendly_name = Some(self.plain_string(e, &key)?),
                "description" => m.description = Some(self.plain_string(e, &key)?),
                "bigger_is_better" => m.bigger_is_better = Some(self.boolean(e, &key)?.value),
                "analysis_bases" => {
                    let mut bases = Vec::new();
                    for name in self.string_list(e, &key, "analysis bases")? {
                        let basis = AnalysisBasis::parse(&name.value).ok_or_else(|| {
                            ConfigError::at(
                                &name.loc,
                                &key,
                                format!(
                                    "expected \"enrollments\" or \"exposures\", found {:?}",
                                    name.value
                                ),
                            )
                        })?;
                        if !bases.contains(&basis) {
                            bases.push(basis);
                        }
                    }
                    m.analysis_bases = Some(bases);
                }
                "depends_on" => m.depends_on = self.string_list(e, &key, "metric names")?,
                "category" => m.category = Some(self.plain_string(e, &key)?),
                "type" => m.metric_type = Some(self.plain_string(e, &key)?),
                "owner" => m.owner = self.owners(e, &key)?,
                "deprecated" => m.deprecated = Some(self.boolean(e, &key)?.value),
                "level" => {
                    let level = self.string(e, &key)?;
                    if !["gold", "silver", "bronze"].contains(&level.value.as_str()) {
                        return Err(self.expected_entry(
                            e,
                            &key,
                            "\"gold\", \"silver\" or \"bronze\"",
                        ));
                    }
                    m.level = Some(level.value);
                }
                "analysis_units" => m.analysis_units = Some(self.analysis_units(e, &key)?),
                "statistics" => m.statistics = Some(self.statistics(e, &key)?),
                f if AGGREGATION_DSL_KEYS.contains(&f) => {
                    self.aggregation_field(&mut dsl, f, e, &key)?;
                    dsl_loc.get_or_insert_with(|| self.key_loc(e));
                }
                _ => self.warn_unknown(e, &key, prefix),
            }
        }
        if aggregation::is_used(&dsl) {
            let loc = dsl_loc.unwrap_or_else(|| m.loc.clone());
            if let Some(written) = &m.select_expression {
                return Err(ConfigError::at(
                    &written.loc,
                    join_key(prefix, "select_expression"),
                    "declare either select_expression or aggregation, not both",
                ));
            }
            let expression = aggregation::select_expression(&dsl).map_err(|(field, message)| {
                ConfigError::at(&loc, join_key(prefix, &field), message)
            })?;
            m.select_expression = Some(Sourced::new(expression, loc));
        }
        Ok(m)
    }

    /// One field of the aggregation DSL (`aggregation.rs`).
    fn aggregation_field(
        &self,
        dsl: &mut AggregationFields,
        field: &str,
        e: &Entry,
        key: &str,
    ) -> Result<()> {
        let positive = |what: &str| -> Result<i64> {
            match &e.value.kind {
                Kind::Integer(i) => Ok(*i),
                _ => Err(self.expected_entry(e, key, what)),
            }
        };
        match field {
            "aggregation" => dsl.aggregation = Some(self.plain_string(e, key)?),
            "column" => dsl.column = Some(self.plain_string(e, key)?),
            "where" => {
                let Kind::Array(items) = &e.value.kind else {
                    return Err(self.expected_entry(
                        e,
                        key,
                        "a list of {column, op, value} tables",
                    ));
                };
                for (i, item) in items.iter().enumerate() {
                    dsl.clauses
                        .push(self.clause(item, e, &format!("{key}[{i}]"))?);
                }
            }
            "within_days" => dsl.within_days = Some(positive("an integer (days)")?),
            "cumulative_window" => dsl.cumulative_window = Some(positive("a positive integer")?),
            "incremental_window" => dsl.incremental_window = Some(positive("a positive integer")?),
            "repeat_windows" => dsl.repeat_windows = Some(self.boolean(e, key)?.value),
            "scale" => {
                dsl.scale = Some(
                    dsl_number(&e.value).ok_or_else(|| self.expected_entry(e, key, "a number"))?,
                )
            }
            "threshold" => {
                let entries = self.table(e, key, "a table {op, value}")?;
                let (mut op, mut value) = (None, None);
                for t in entries {
                    let t_key = join_key(key, &t.key);
                    match t.key.as_str() {
                        "op" => op = Some(self.plain_string(t, &t_key)?),
                        "value" => {
                            value = Some(
                                dsl_number(&t.value)
                                    .ok_or_else(|| self.expected_entry(t, &t_key, "a number"))?,
                            )
                        }
                        _ => {
                            return Err(ConfigError::at(
                                &self.key_loc(t),
                                t_key,
                                "unexpected key (a threshold has op and value)",
                            ))
                        }
                    }
                }
                let (Some(op), Some(value)) = (op, value) else {
                    return Err(ConfigError::at(
                        &self.value_loc(e),
                        key,
                        "threshold requires op and value",
                    ));
                };
                dsl.threshold = Some((op, value));
            }
            _ => unreachable!("only aggregation DSL keys are passed"),
        }
        Ok(())
    }

    /// A `where` clause `{column, op, value}`.
    fn clause(&self, item: &Node, e: &Entry, key: &str) -> Result<Clause> {
        let Kind::Table(entries) = &item.kind else {
            return Err(self.expected(
                &self.item_loc(item, e),
                key,
                "a table {column, op, value}",
                item,
            ));
        };
        let mut clause = Clause {
            column: String::new(),
            op: None,
            value: None,
        };
        let mut column = None;
        for c in entries {
            let c_key = join_key(key, &c.key);
            match c.key.as_str() {
                "column" => column = Some(self.plain_string(c, &c_key)?),
                "op" => clause.op = Some(self.plain_string(c, &c_key)?),
                "value" => {
                    clause.value = Some(match &c.value.kind {
                        Kind::Boolean(b) => Literal::Bool(*b),
                        Kind::String(s) => Literal::Text(s.clone()),
                        _ => Literal::Number(dsl_number(&c.value).ok_or_else(|| {
                            self.expected_entry(c, &c_key, "a number, string or boolean")
                        })?),
                    })
                }
                _ => {
                    return Err(ConfigError::at(
                        &self.key_loc(c),
                        c_key,
                        "unexpected key (a where clause has column, op and value)",
                    ))
                }
            }
        }
        clause.column = column.ok_or_else(|| {
            ConfigError::at(
                &self.item_loc(item, e),
                join_key(key, "column"),
                "where clause requires a column",
            )
        })?;
        Ok(clause)
    }

    fn statistics(&self, section: &Entry, prefix: &str) -> Result<Vec<StatisticDefinition>> {
        let entries = self.table(section, prefix, "a table of statistics")?;
        let mut statistics = Vec::with_capacity(entries.len());
        for s in entries {
            let key = join_key(prefix, &s.key);
            let params_entries = self.table(s, &key, "a table of statistic parameters")?;
            let mut params = serde_json::Map::new();
            let mut pre_treatments = Vec::new();
            for p in params_entries {
                let param_key = join_key(&key, &p.key);
                if p.key == "pre_treatments" {
                    pre_treatments = self.pre_treatments(p, &param_key)?;
                } else {
                    params.insert(
                        p.key.clone(),
                        self.json(&p.value, &self.value_loc(p), &param_key)?,
                    );
                }
            }
            statistics.push(StatisticDefinition {
                name: s.key.clone(),
                params,
                pre_treatments,
                loc: self.value_loc(s),
            });
        }
        Ok(statistics)
    }

    fn pre_treatments(&self, e: &Entry, key: &str) -> Result<Vec<PreTreatmentSpec>> {
        const WHAT: &str = "a pre-treatment name or a table with a `name`";
        let Kind::Array(items) = &e.value.kind else {
            return Err(self.expected_entry(e, key, "a list of pre-treatments"));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let loc = self.item_loc(item, e);
            let item_key = format!("{key}[{i}]");
            match &item.kind {
                Kind::String(name) if !name.trim().is_empty() => out.push(PreTreatmentSpec {
                    name: name.clone(),
                    args: serde_json::Map::new(),
                }),
                Kind::Table(entries) => {
                    let mut name = None;
                    let mut args = serde_json::Map::new();
                    for a in entries {
                        if a.key == "name" {
                            match &a.value.kind {
                                Kind::String(n) if !n.trim().is_empty() => name = Some(n.clone()),
                                _ => {
                                    return Err(self.expected_entry(
                                        a,
                                        &join_key(&item_key, "name"),
                                        "a non-empty string",
                                    ))
                                }
                            }
                        } else {
                            let arg_key = join_key(&item_key, &a.key);
                            args.insert(
                                a.key.clone(),
                                self.json(&a.value, &self.value_loc(a), &arg_key)?,
                            );
                        }
                    }
                    let name = name.ok_or_else(|| {
                        ConfigError::at(
                            &loc,
                            join_key(&item_key, "name"),
                            "required key is missing",
                        )
                    })?;
                    out.push(PreTreatmentSpec { name, args });
                }
                _ => return Err(self.expected(&loc, &item_key, WHAT, item)),
            }
        }
        Ok(out)
    }

    /// A TOML value as JSON (statistic parameters and pre-treatment arguments).
    fn json(&self, node: &Node, loc: &Loc, key: &str) -> Result<serde_json::Value> {
        use serde_json::Value;
        let loc = match &node.span {
            Some(span) => self.loc(Some(span)),
            None => loc.clone(),
        };
        Ok(match &node.kind {
            Kind::String(s) => Value::String(s.clone()),
            Kind::Integer(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .ok_or_else(|| {
                    ConfigError::at(&loc, key, format!("expected a finite number, found {f}"))
                })?,
            Kind::Boolean(b) => Value::Bool(*b),
            Kind::Datetime(d) => Value::String(d.to_string()),
            Kind::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.json(item, &loc, &format!("{key}[{i}]")))
                    .collect::<Result<_>>()?,
            ),
            Kind::Table(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| {
                        let value =
                            self.json(&e.value, &self.value_loc(e), &join_key(key, &e.key))?;
                        Ok((e.key.clone(), value))
                    })
                    .collect::<Result<_>>()?,
            ),
        })
    }

    fn data_sources(&self, section: &Entry) -> Result<BTreeMap<String, DataSourceDefinition>> {
        let entries = self.table(section, "data_sources", "a table of data sources")?;
        let mut out = BTreeMap::new();
        for d in entries {
            let prefix = join_key("data_sources", &d.key);
            let fields = self.table(d, &prefix, "a data source table")?;
            let mut ds = DataSourceDefinition {
                name: d.key.clone(),
                loc: self.value_loc(d),
                ..DataSourceDefinition::default()
            };
            for (field, e) in self.lowercased(fields, &prefix)? {
                let key = join_key(&prefix, &e.key);
                match field.as_str() {
                    "from_expression" => ds.from_expression = Some(self.non_empty_string(e, &key)?),
                    "client_id_column" => ds.client_id_column = Some(self.plain_string(e, &key)?),
                    "submission_date_column" => {
                        ds.submission_date_column = Some(self.plain_string(e, &key)?)
                    }
                    "experiments_column_type" => {
                        let kind = self.plain_string(e, &key)?;
                        let kind = if kind.eq_ignore_ascii_case("none") {
                            "none".to_string()
                        } else {
                            kind
                        };
                        if !kind.is_empty() && !EXPERIMENTS_COLUMN_TYPES.contains(&kind.as_str()) {
                            return Err(self.expected_entry(
                                e,
                                &key,
                                &format!("one of {}", quoted_list(EXPERIMENTS_COLUMN_TYPES)),
                            ));
                        }
                        ds.experiments_column_type = Some(kind);
                    }
                    "friendly_name" => ds.friendly_name = Some(self.plain_string(e, &key)?),
                    "description" => ds.description = Some(self.plain_string(e, &key)?),
                    "default_dataset" => ds.default_dataset = Some(self.plain_string(e, &key)?),
                    "build_id_column" => ds.build_id_column = Some(self.plain_string(e, &key)?),
                    "group_id_column" => ds.group_id_column = Some(self.plain_string(e, &key)?),
                    "glean_client_id_column" => {
                        ds.glean_client_id_column = Some(self.plain_string(e, &key)?)
                    }
                    "legacy_client_id_column" => {
                        ds.legacy_client_id_column = Some(self.plain_string(e, &key)?)
                    }
                    "analysis_units" => ds.analysis_units = Some(self.analysis_units(e, &key)?),
                    "joins" => {
                        self.table(e, &key, "a table of joins")?;
                        if let toml::Value::Table(joins) = e.value.to_toml() {
                            ds.joins = Some(joins);
                        }
                    }
                    "columns_as_dimensions" => {
                        ds.columns_as_dimensions = Some(self.boolean(e, &key)?.value)
                    }
                    _ => self.warn_unknown(e, &key, &prefix),
                }
            }
            out.insert(d.key.clone(), ds);
        }
        Ok(out)
    }

    fn segments(&self, section: &Entry) -> Result<SegmentsConfig> {
        let entries = self.table(section, "segments", "a table of segments")?;
        let mut segments = SegmentsConfig::default();
        for s in entries {
            if s.key == "data_sources" {
                let sources = self.table(
                    s,
                    "segments.data_sources",
                    "a table of segment data sources",
                )?;
                for d in sources {
                    let definition = self.segment_data_source(d)?;
                    segments.data_sources.insert(d.key.clone(), definition);
                }
            } else {
                let definition = self.segment(s)?;
                segments.definitions.insert(s.key.clone(), definition);
            }
        }
        Ok(segments)
    }

    fn segment(&self, section: &Entry) -> Result<SegmentDefinition> {
        let prefix = join_key("segments", &section.key);
        let fields = self.table(section, &prefix, "a segment table")?;
        let loc = self.value_loc(section);
        let (mut select_expression, mut data_source) = (None, None);
        let (mut friendly_name, mut description) = (None, None);
        for (field, e) in self.lowercased(fields, &prefix)? {
            let key = join_key(&prefix, &e.key);
            match field.as_str() {
                "select_expression" => select_expression = Some(self.non_empty_string(e, &key)?),
                "data_source" => data_source = Some(self.non_empty_string(e, &key)?),
                "friendly_name" => friendly_name = Some(self.plain_string(e, &key)?),
                "description" => description = Some(self.plain_string(e, &key)?),
                _ => self.warn_unknown(e, &key, &prefix),
            }
        }
        let missing = |field: &str| {
            ConfigError::at(&loc, join_key(&prefix, field), "required key is missing")
        };
        Ok(SegmentDefinition {
            name: section.key.clone(),
            select_expression: select_expression.ok_or_else(|| missing("select_expression"))?,
            data_source: data_source.ok_or_else(|| missing("data_source"))?,
            friendly_name,
            description,
            loc: loc.clone(),
        })
    }

    fn segment_data_source(&self, section: &Entry) -> Result<SegmentDataSourceDefinition> {
        let prefix = join_key("segments.data_sources", &section.key);
        let fields = self.table(section, &prefix, "a segment data source table")?;
        let loc = self.value_loc(section);
        let mut from_expression = None;
        let mut d = SegmentDataSourceDefinition {
            name: section.key.clone(),
            loc: loc.clone(),
            from_expression: Sourced::new(String::new(), loc.clone()),
            window_start: None,
            window_end: None,
            client_id_column: None,
            submission_date_column: None,
            friendly_name: None,
            description: None,
            default_dataset: None,
            group_id_column: None,
            glean_client_id_column: None,
            legacy_client_id_column: None,
        };
        for (field, e) in self.lowercased(fields, &prefix)? {
            let key = join_key(&prefix, &e.key);
            match field.as_str() {
                "from_expression" => from_expression = Some(self.non_empty_string(e, &key)?),
                "window_start" => d.window_start = Some(self.days(e, &key, -MAX_DAYS)?.value),
                "window_end" => d.window_end = Some(self.days(e, &key, -MAX_DAYS)?.value),
                "client_id_column" => d.client_id_column = Some(self.plain_string(e, &key)?),
                "submission_date_column" => {
                    d.submission_date_column = Some(self.plain_string(e, &key)?)
                }
                "friendly_name" => d.friendly_name = Some(self.plain_string(e, &key)?),
                "description" => d.description = Some(self.plain_string(e, &key)?),
                "default_dataset" => d.default_dataset = Some(self.plain_string(e, &key)?),
                "group_id_column" => d.group_id_column = Some(self.plain_string(e, &key)?),
                "glean_client_id_column" => {
                    d.glean_client_id_column = Some(self.plain_string(e, &key)?)
                }
                "legacy_client_id_column" => {
                    d.legacy_client_id_column = Some(self.plain_string(e, &key)?)
                }
                _ => self.warn_unknown(e, &key, &prefix),
            }
        }
        d.from_expression = from_expression.ok_or_else(|| {
            ConfigError::at(
                &loc,
                join_key(&prefix, "from_expression"),
                "required key is missing",
            )
        })?;
        let (start, end) = (d.window_start.unwrap_or(0), d.window_end.unwrap_or(0));
        if start > end {
            return Err(ConfigError::at(
                &loc,
                prefix,
                format!("window_start ({start}) must be <= window_end ({end})"),
            ));
        }
        Ok(d)
    }
}

/// A finite number of the aggregation DSL.
fn dsl_number(node: &Node) -> Option<Number> {
    match node.kind {
        Kind::Integer(i) => Some(Number::Int(i)),
        Kind::Float(f) if f.is_finite() => Some(Number::Float(f)),
        _ => None,
    }
}

/// An integer, or a float with no fractional part.
fn whole_number(node: &Node) -> Option<i64> {
    match node.kind {
        Kind::Integer(i) => Some(i),
        Kind::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
        _ => None,
    }
}

fn quoted_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
