//! `validate-config`: checks metric-hub files the way upstream's `jetstream validate_config`
//! does, file by file, each according to its place in the repository.
//!
//! - an experiment config is merged over its platform's defaults and resolved against its
//!   experiment: Experimenter's (online) or a synthetic one (offline, see
//!   [`synthetic_experiment`]);
//! - an outcome is resolved for a synthetic experiment of its platform that uses it;
//! - a defaults file is resolved as the config of a synthetic experiment of its app;
//! - a definitions file has every metric, data source and segment it defines rendered and
//!   resolved (stronger than upstream, which resolves no metric of a definitions file);
//! - `functions.toml` is parsed.
//!
//! Every SQL fragment is rendered on the way (Jinja, `{dataset}`), so a template error fails the
//! file. The results are [`CheckRecord`]s; `--json` prints them one per line.

use crate::config::{
    self, ConfigCollection, ConfigError, CustomConfig, FileKind, FunctionDefinition, PLATFORMS,
};
use crate::experimenter::ExperimenterExperiment;
use crate::validation::SUPPORTED_APPS;
use chrono::NaiveDate;
use jetstream_proto::spec::{AnalysisSpec, Branch};
use jetstream_proto::AnalysisPeriod;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Which app a synthetic experiment runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppChoice {
    /// This app.
    Fixed(String),
    /// Each platform in turn (firefox_desktop first), keeping the first that resolves; a config
    /// that resolves for none reports firefox_desktop's error. This is how the reference
    /// resolution of the shared corpus was made, since a config does not name its platform.
    Auto,
}

/// The platforms `AppChoice::Auto` tries, in order: the supported apps that have metric-hub
/// definitions (the first eight of [`SUPPORTED_APPS`]).
pub const AUTO_PLATFORMS: &[&str] = SUPPORTED_APPS.split_at(8).0;

/// The outcome of checking one file.
#[derive(Debug)]
pub struct CheckRecord {
    pub path: PathBuf,
    pub kind: FileKind,
    /// The file stem (experiment slug, outcome slug, platform...).
    pub slug: String,
    /// The app the file was resolved for.
    pub app_name: String,
    pub result: Result<Checked, ConfigError>,
}

/// What a successful check resolved.
#[derive(Debug)]
pub enum Checked {
    /// A resolved analysis (experiment configs, outcomes, defaults).
    Analysis(Box<AnalysisSpec>),
    /// A definitions or functions file: how many definitions were checked.
    Definitions(usize),
}

/// The synthetic experiment of `validate-config --offline`: branches {reference branch or
/// `control`, `treatment`}, 2024-01-01 to 2024-03-01, a 7-day enrollment, Complete, on `app`.
///
/// A config that overrides only one of the dates keeps it (config dates win in resolution);
/// the synthetic other date is moved so that the experiment still spans 60 days in order, since
/// an override conflicting with Experimenter's dates is an error of ours but says nothing here.
pub fn synthetic_experiment_for(
    slug: &str,
    app: &str,
    config: &CustomConfig,
) -> ExperimenterExperiment {
    let x = &config.experiment;
    let reference = x.reference_branch.as_ref().map(|b| b.value.as_str());
    let mut experiment = synthetic_experiment(slug, app, reference);
    let span = chrono::Duration::days(60);
    match (&x.start_date, &x.end_date) {
        (None, Some(end)) if Some(end.value) < experiment.start_date => {
            experiment.start_date = Some(end.value - span);
        }
        (Some(start), None) if Some(start.value) > experiment.end_date => {
            experiment.end_date = Some(start.value + span);
        }
        _ => {}
    }
    experiment
}

/// The synthetic experiment without a config (see [`synthetic_experiment_for`]).
pub fn synthetic_experiment(
    slug: &str,
    app: &str,
    reference_branch: Option<&str>,
) -> ExperimenterExperiment {
    let reference = reference_branch.unwrap_or("control").to_string();
    let mut branches = vec![Branch {
        slug: reference.clone(),
        ratio: 1.0,
    }];
    if reference != "treatment" {
        branches.push(Branch {
            slug: "treatment".to_string(),
            ratio: 1.0,
        });
    }
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    ExperimenterExperiment {
        slug: slug.to_string(),
        app_name: app.to_string(),
        app_id: config::platform(app)
            .map(|p| p.app_id.to_string())
            .unwrap_or_else(|| app.to_string()),
        branches,
        start_date: date("2024-01-01"),
        end_date: date("2024-03-01"),
        proposed_enrollment: Some(7),
        enrollment_end_date: None,
        reference_branch: Some(reference),
        is_rollout: false,
        is_enrollment_paused: true,
        randomization_unit: None,
        outcomes: Vec::new(),
        segments: Vec::new(),
    }
}

/// The date "today" is for synthetic experiments (after their end, so they are Complete).
fn synthetic_today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 1).expect("valid date")
}

/// Checks one file offline (synthetic experiments; no Experimenter, no warehouse).
pub fn check_offline(collection: &ConfigCollection, path: &Path, app: &AppChoice) -> CheckRecord {
    let kind = FileKind::of_path(path);
    let slug = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let apps: Vec<String> = match (app, kind) {
        (AppChoice::Fixed(app), FileKind::Experiment) => vec![app.clone()],
        (AppChoice::Auto, FileKind::Experiment) => {
            AUTO_PLATFORMS.iter().map(|s| s.to_string()).collect()
        }
        // Outcomes, defaults and definitions name their platform.
        (_, FileKind::Outcome) => vec![platform_dir(path)],
        (_, FileKind::Defaults | FileKind::Definitions) => vec![platform_of_stem(&slug, app)],
        (_, FileKind::Functions) => vec![String::new()],
    };
    let record = |app_name: &str, result| CheckRecord {
        path: path.to_path_buf(),
        kind,
        slug: slug.clone(),
        app_name: app_name.to_string(),
        result,
    };
    // Read and parse once; only resolution depends on the app.
    let parsed = match parse(path, kind) {
        Ok(parsed) => parsed,
        Err(e) => return record(&apps[0], Err(e)),
    };
    let first = check_parsed(collection, &parsed, &slug, &apps[0]);
    if first.is_err() {
        for app_name in &apps[1..] {
            if let Ok(checked) = check_parsed(collection, &parsed, &slug, app_name) {
                return record(app_name, Ok(checked));
            }
        }
    }
    record(&apps[0], first)
}

/// Checks an experiment config online: against its Experimenter experiment.
pub fn check_online(
    collection: &ConfigCollection,
    path: &Path,
    experiment: &ExperimenterExperiment,
    today: NaiveDate,
) -> CheckRecord {
    let slug = experiment.slug.clone();
    let result = config::load_config(path)
        .and_then(|custom| collection.resolve(experiment, Some(&custom), today))
        .map(|spec| Checked::Analysis(Box::new(spec)));
    CheckRecord {
        path: path.to_path_buf(),
        kind: FileKind::Experiment,
        slug,
        app_name: experiment.app_name.clone(),
        result,
    }
}

fn platform_dir(path: &Path) -> String {
    path.parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A defaults or definitions file is named after its platform; experiment-type defaults
/// (`messaging.toml`) are checked on the chosen (or the desktop) app.
fn platform_of_stem(stem: &str, app: &AppChoice) -> String {
    if PLATFORMS.iter().any(|p| p.app_name == stem) || stem == "monitor_cirrus" {
        return stem.to_string();
    }
    match app {
        AppChoice::Fixed(app) => app.clone(),
        AppChoice::Auto => "firefox_desktop".to_string(),
    }
}

/// A metric-hub file, read and parsed.
enum Parsed {
    Functions(Vec<FunctionDefinition>),
    Spec(FileKind, Box<CustomConfig>),
}

fn parse(path: &Path, kind: FileKind) -> Result<Parsed, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(match kind {
        FileKind::Functions => Parsed::Functions(config::parse_functions(path, &text)?),
        _ => Parsed::Spec(kind, Box::new(config::parse_file(path, &text, kind)?)),
    })
}

/// Resolves a parsed file for `app` (see the module docs for what each kind means).
fn check_parsed(
    collection: &ConfigCollection,
    parsed: &Parsed,
    slug: &str,
    app: &str,
) -> Result<Checked, ConfigError> {
    match parsed {
        Parsed::Functions(functions) => {
            for f in functions {
                // Each helper must format with a select expression.
                config::python_format(&f.definition, &[("select_expr", "x")]).map_err(|e| {
                    ConfigError::at(
                        &f.loc,
                        format!("functions.{}.definition", f.name),
                        e.to_string(),
                    )
                })?;
            }
            Ok(Checked::Definitions(functions.len()))
        }
        Parsed::Spec(FileKind::Outcome, outcome) => {
            let mut with_outcome = collection.clone();
            with_outcome.insert_outcome(app, slug, CustomConfig::clone(outcome));
            let mut experiment = synthetic_experiment("dummy-experiment", app, None);
            experiment.outcomes = vec![slug.to_string()];
            let spec = with_outcome.resolve(
                &experiment,
                Some(&CustomConfig::default()),
                synthetic_today(),
            )?;
            Ok(Checked::Analysis(Box::new(spec)))
        }
        Parsed::Spec(FileKind::Definitions, definitions) => {
            let mut with_definitions = collection.clone();
            with_definitions.replace_definitions(app, CustomConfig::clone(definitions));
            let experiment = synthetic_experiment("dummy-experiment", app, None);
            let checked = with_definitions.check_definitions(&experiment, synthetic_today())?;
            Ok(Checked::Definitions(checked))
        }
        // Experiment configs and defaults resolve as the config of a synthetic experiment.
        Parsed::Spec(_, custom) => {
            let experiment = synthetic_experiment_for(slug, app, custom);
            let spec = collection.resolve(&experiment, Some(custom), synthetic_today())?;
            Ok(Checked::Analysis(Box::new(spec)))
        }
    }
}

/// The record `--json` prints: `{"slug", "ok", "app_name", ...}` as in the format, with
/// `kind` and `path` added.
pub fn record_json(record: &CheckRecord) -> Value {
    let mut out = Map::new();
    out.insert("slug".into(), json!(record.slug));
    out.insert("kind".into(), json!(kind_name(record.kind)));
    out.insert("path".into(), json!(record.path.display().to_string()));
    out.insert("app_name".into(), json!(record.app_name));
    match &record.result {
        Ok(Checked::Analysis(spec)) => {
            out.insert("ok".into(), json!(true));
            analysis_fields(spec, &mut out);
        }
        Ok(Checked::Definitions(n)) => {
            out.insert("ok".into(), json!(true));
            out.insert("definitions_checked".into(), json!(n));
        }
        Err(e) => {
            out.insert("ok".into(), json!(false));
            out.insert("error".into(), json!(e.to_string()));
            out.insert("error_class".into(), json!(error_class(e)));
        }
    }
    Value::Object(out)
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Experiment => "experiment",
        FileKind::Defaults => "defaults",
        FileKind::Definitions => "definitions",
        FileKind::Functions => "functions",
        FileKind::Outcome => "outcome",
    }
}

fn error_class(e: &ConfigError) -> &'static str {
    match e {
        ConfigError::Io { .. } => "io",
        ConfigError::Syntax { .. } => "toml_syntax",
        ConfigError::Invalid { .. } => "invalid_config",
    }
}

/// `periods` (every period, pairs sorted), `segments` (sorted), `exposure_signal`, and per
/// period with entries: `pre_treatments` and `statistic_params`.
fn analysis_fields(spec: &AnalysisSpec, out: &mut Map<String, Value>) {
    let mut periods = Map::new();
    let mut pre_treatments = Map::new();
    let mut params = Map::new();
    for period in AnalysisPeriod::ALL {
        let summaries = spec.summaries(period);
        let mut pairs: Vec<(String, String)> = summaries
            .iter()
            .map(|s| (s.metric.clone(), s.statistic.name.clone()))
            .collect();
        pairs.sort();
        periods.insert(period.value().into(), json!(pairs));

        let mut treated: Vec<Value> = summaries
            .iter()
            .filter(|s| !s.pre_treatments.is_empty())
            .map(|s| {
                let list: Vec<Value> = s
                    .pre_treatments
                    .iter()
                    .map(|p| json!({"name": p.name, "args": p.args}))
                    .collect();
                json!([s.metric, s.statistic.name, list])
            })
            .collect();
        sort_by_pair(&mut treated);
        if !treated.is_empty() {
            pre_treatments.insert(period.value().into(), Value::Array(treated));
        }

        let mut with_params: Vec<Value> = summaries
            .iter()
            .filter(|s| !s.statistic.params.is_empty())
            .map(|s| json!([s.metric, s.statistic.name, s.statistic.params]))
            .collect();
        sort_by_pair(&mut with_params);
        if !with_params.is_empty() {
            params.insert(period.value().into(), Value::Array(with_params));
        }
    }
    let mut segments: Vec<&str> = spec.segments.iter().map(|s| s.name.as_str()).collect();
    segments.sort();
    out.insert("periods".into(), Value::Object(periods));
    out.insert("segments".into(), json!(segments));
    out.insert(
        "exposure_signal".into(),
        json!(spec.exposure_signal.as_ref().map(|e| e.name.clone())),
    );
    out.insert("pre_treatments".into(), Value::Object(pre_treatments));
    out.insert("statistic_params".into(), Value::Object(params));
}

fn sort_by_pair(items: &mut [Value]) {
    items.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v[0].as_str().map(String::from),
                v[1].as_str().map(String::from),
            )
        };
        key(a).cmp(&key(b))
    });
}
