//! Experimenter's experiment + metric-hub → [`AnalysisSpec`], as Jetstream's
//! `cli._experiments_to_configs` and metric-config-parser's `AnalysisSpec.resolve` do it:
//!
//! 1. platform defaults (`defaults/<app>.toml`), with the experiment type's defaults over them;
//! 2. the experiment's config over those (`--config_file`, else `<slug>.toml` of the
//!    repositories);
//! 3. each outcome (Experimenter's, then the config's `[experiment].outcomes`) under the result:
//!    its metrics are defined first and the spec's definitions override them;
//! 4. the experiment (`[experiment]` over Experimenter), its segments and exposure signal;
//! 5. every period list, each metric name resolved against the spec, then the platform's
//!    definitions (`definitions/<app>.toml`).
//!
//! Deliberate decisions (merge rules: `merge.rs`):
//! - **Parameters.** An experiment config's `[parameters]` set values of parameters that an
//!   outcome in use declares; `{{parameters.x}}` only sees outcome-declared parameters. Upstream
//!   drops a config's parameters entirely when it merges the config over the defaults (so a
//!   config cannot set an outcome's parameter, and a config using its own parameters fails with
//!   "'collections.defaultdict object' has no attribute"); we apply the documented intent and
//!   reject the second case with an error that says why.
//! - **Stub metrics patch the platform metric for the rest of the resolution.** A definition
//!   without `select_expression` or `data_source` borrows the platform's definition with its own
//!   statistics (and bases and units); upstream does this by mutating the shared definition, so
//!   a later `depends_on` on that metric sees those statistics. We keep that effect (per
//!   resolution, never across experiments) so that the same configs resolve as upstream.
//! - **Unknown statistics, statistic parameters and pre-treatments are errors here** (with a
//!   "did you mean"), where upstream only logs them while computing statistics and writes no
//!   rows.
//! - **Duplicates.** A (metric, statistic) pair appears once per period; as upstream, the last
//!   occurrence wins, and the survivors keep config order (upstream reverses the list).
//! - **Segments** are the spec's `[experiment].segments` followed by Experimenter's, without
//!   repeats; each is looked up in the spec, then the platform's definitions.
//! - **Enrollment period** (jetstream.md §1.5): the config's value (even 0); else
//!   `(enrollmentEndDate − start).days + 1` with the resolved start date, never below 0; else
//!   `proposedEnrollment`; else 0.
//! - **Exposure-signal window limits**: `enrollment_start` becomes `Days(0)` and
//!   `enrollment_end` `Days(enrollment_period)`; the analysis-window limits stay symbolic.
//!   `friendly_name` and `description` are optional (upstream requires them).
//! - **Validation beyond upstream**: a config `reference_branch` must be one of Experimenter's
//!   branches; a config start/end date pair must be ordered; metrics that depend on each other in
//!   a cycle, or a platform metric with no query, are errors (upstream recurses until Python's
//!   recursion limit).
//! - **Not supported yet** (errors rather than a silently different analysis): `is_private =
//!   true`, and an `analysis_unit` other than the one Experimenter's randomization unit implies.
//!   `dataset_id` is accepted and ignored.

use super::collection::ConfigCollection;
use super::error::{join_key, ConfigError, Loc, Sourced};
use super::merge::{is_valid_slug, merge_outcome_under, merge_parameter, merge_spec};
use super::platform::dataset_for_app_id;
use super::suggest::did_you_mean;
use super::template::{python_format, Templates};
use super::types::{
    AnalysisUnit, CustomConfig, DataSourceDefinition, MetricDefinition, MetricsConfig,
    ParameterDefinition, ParameterValue, PeriodList, StatisticDefinition, WindowLimit,
};
use super::vars::experiment_vars;
use crate::experimenter::ExperimenterExperiment;
use chrono::NaiveDate;
use jetstream_proto::catalog;
use jetstream_proto::naming::bq_escape;
use jetstream_proto::spec::{
    AnalysisSpec, DataSourceJoinSpec, DataSourceSpec, ExperimentOverrides, ExperimentSpec,
    ExperimentStatus, ExposureSignalSpec, MetricSpec, SegmentDataSourceSpec, SegmentSpec,
    StatisticSpec, SummarySpec, WindowBound,
};
use jetstream_proto::{AnalysisBasis, AnalysisPeriod};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

type Result<T> = std::result::Result<T, ConfigError>;

const DEFAULT_CLIENT_ID_COLUMN: &str = "client_id";
const DEFAULT_SUBMISSION_DATE_COLUMN: &str = "submission_date";
const DEFAULT_GROUP_ID_COLUMN: &str = "profile_group_id";
const DEFAULT_EXPERIMENTS_COLUMN_TYPE: &str = "simple";
const JOIN_RELATIONSHIPS: &[&str] = &["one_to_one", "many_to_one", "one_to_many", "many_to_many"];

/// Resolves `experiment` with the collection's defaults, outcomes and definitions; `custom` is
/// the experiment's own config (an explicit `--config_file`, or the collection's `<slug>.toml`).
pub(crate) fn resolve(
    collection: &ConfigCollection,
    experiment: &ExperimenterExperiment,
    custom: Option<&CustomConfig>,
    today: NaiveDate,
) -> Result<AnalysisSpec> {
    let file_loc = custom
        .map(|c| Loc::new(&Arc::from(c.path.as_path()), None))
        .unwrap_or_default();

    let mut spec = collection.defaults_for(&experiment.app_name, "v6");
    if let Some(config) = custom {
        merge_spec(&mut spec, config);
    }
    let config_parameters = custom.map(|c| &c.parameters);
    let parameters = apply_outcomes(collection, experiment, &mut spec, config_parameters)?;

    let mut r = Resolver::new(collection, experiment, &spec, parameters, file_loc);
    let experiment_spec = r.experiment(today)?;
    r.dataset = dataset_for_app_id(&experiment_spec.app_id);
    r.vars = Some(experiment_vars(&experiment_spec));
    let experiment_spec = r.render_enrollment_query(experiment_spec)?;
    let (segments, segment_data_sources) = r.segments()?;
    let exposure_signal = r.exposure_signal(experiment_spec.enrollment_period)?;
    let periods = r.periods()?;
    Ok(AnalysisSpec {
        experiment: experiment_spec,
        metrics: r.metrics,
        periods,
        data_sources: r.data_sources,
        segments,
        segment_data_sources,
        exposure_signal,
    })
}

/// Resolves every metric, data source and segment `platform`'s definitions hold, for
/// `validate-config` (statistics are not required of definitions); returns how many were
/// checked.
pub(crate) fn check_definitions(
    collection: &ConfigCollection,
    experiment: &ExperimenterExperiment,
    today: NaiveDate,
) -> Result<usize> {
    let empty = CustomConfig::default();
    let mut r = Resolver::new(
        collection,
        experiment,
        &empty,
        BTreeMap::new(),
        Loc::default(),
    );
    let experiment_spec = r.experiment(today)?;
    r.dataset = dataset_for_app_id(&experiment_spec.app_id);
    r.vars = Some(experiment_vars(&experiment_spec));
    let Some(definitions) = collection.definitions(experiment.app_name.as_str()) else {
        return Ok(0);
    };
    let mut checked = 0;
    for name in definitions.data_sources.keys() {
        let reference = Sourced::new(name.clone(), definitions.data_sources[name].loc.clone());
        r.data_source(&reference, &join_key("data_sources", name))?;
        checked += 1;
    }
    for def in definitions.metrics.definitions.values() {
        let key = join_key("metrics", &def.name);
        match (&def.select_expression, &def.data_source) {
            (Some(template), Some(source)) => {
                r.full_metric(def, template, source, &key)?;
            }
            _ => {
                r.metric(def)?;
            }
        }
        checked += 1;
    }
    let names: Vec<Sourced<String>> = definitions
        .segments
        .definitions
        .values()
        .map(|d| Sourced::new(d.name.clone(), d.loc.clone()))
        .collect();
    checked += names.len();
    r.segment_list(names)?;
    Ok(checked)
}

/// Merges every outcome the experiment uses under the spec (upstream's `merge_outcome` and
/// `merge_parameters`) and returns the parameters templates may use, rendered to strings.
fn apply_outcomes(
    collection: &ConfigCollection,
    experiment: &ExperimenterExperiment,
    spec: &mut CustomConfig,
    config_parameters: Option<&BTreeMap<String, ParameterDefinition>>,
) -> Result<BTreeMap<String, String>> {
    let app = experiment.app_name.as_str();
    let mut slugs: Vec<Sourced<String>> = experiment
        .outcomes
        .iter()
        .map(|s| Sourced::new(s.clone(), Loc::default()))
        .collect();
    for slug in &spec.experiment.outcomes {
        if !slugs.iter().any(|s| s.value == slug.value) {
            slugs.push(slug.clone());
        }
    }
    let mut parameters: BTreeMap<String, ParameterDefinition> = BTreeMap::new();
    for slug in &slugs {
        let Some(outcome) = collection.outcome(app, &slug.value) else {
            let available = collection.outcome_slugs(app);
            return Err(ConfigError::at(
                &slug.loc,
                if slug.loc.file.is_some() {
                    "experiment.outcomes"
                } else {
                    ""
                },
                format!(
                    "Outcome {} doesn't support the platform '{app}'{}",
                    slug.value,
                    did_you_mean(&slug.value, available.iter())
                ),
            ));
        };
        merge_outcome(spec, outcome);
        for (name, declared) in &outcome.parameters {
            let config = config_parameters.and_then(|p| p.get(name));
            let merged = merge_parameter(parameters.get(name).or(config), declared);
            validate_parameter(&merged)?;
            parameters.insert(name.clone(), merged);
        }
    }
    Ok(parameters
        .into_iter()
        .map(|(name, p)| {
            let rendered = render_parameter(&p);
            (name, rendered)
        })
        .collect())
}

/// Upstream's `merge_outcome`: the outcome's metrics (in its period lists, or weekly and overall
/// when it declares none) with the spec merged over them; the spec's data sources override the
/// outcome's.
fn merge_outcome(spec: &mut CustomConfig, outcome: &CustomConfig) {
    let declared = outcome
        .metrics
        .periods
        .iter()
        .any(|p| !p.metrics.is_empty());
    let metrics = if declared {
        outcome.metrics.clone()
    } else {
        let names: Vec<Sourced<String>> = outcome
            .metrics
            .definitions
            .values()
            .map(|d| Sourced::new(d.name.clone(), d.loc.clone()))
            .collect();
        let list = |period: AnalysisPeriod, key: &str| PeriodList {
            period,
            key: key.to_string(),
            metrics: names.clone(),
            loc: Loc::default(),
        };
        MetricsConfig {
            periods: vec![
                list(AnalysisPeriod::Week, "weekly"),
                list(AnalysisPeriod::Overall, "overall"),
            ],
            definitions: outcome.metrics.definitions.clone(),
        }
    };
    merge_outcome_under(spec, metrics, outcome.data_sources.clone());
}

/// Upstream's `ParameterDefinition.validate`.
fn validate_parameter(p: &ParameterDefinition) -> Result<()> {
    let by_branch = |v: &Option<ParameterValue>| matches!(v, Some(ParameterValue::ByBranch(_)));
    let text = |v: &Option<ParameterValue>| matches!(v, Some(ParameterValue::Text(_)));
    let key = join_key("parameters", &p.name);
    if p.distinct_by_branch == Some(true) {
        if !(by_branch(&p.value) || by_branch(&p.default)) {
            return Err(ConfigError::at(
                &p.loc,
                key,
                "distinct_by_branch = true needs a value (or default) per branch, e.g. \
                 value.control = \"1\"",
            ));
        }
    } else if !(text(&p.value) || text(&p.default)) {
        return Err(ConfigError::at(
            &p.loc,
            key,
            "a parameter that is not distinct_by_branch needs a string value (or default), \
             e.g. value = \"1\"",
        ));
    }
    Ok(())
}

/// A parameter as templates see it: its value escaped for a BigQuery string literal, or for a
/// per-branch value upstream's
/// `CASE e.branch WHEN "<b>" THEN "<v>" ... END`.
fn render_parameter(p: &ParameterDefinition) -> String {
    match (&p.value, p.distinct_by_branch == Some(true)) {
        (Some(ParameterValue::ByBranch(values)), true) => {
            let arms: Vec<String> = values
                .iter()
                .map(|(branch, value)| {
                    format!(
                        "WHEN \"{}\" THEN \"{}\"",
                        bq_escape(branch),
                        bq_escape(value)
                    )
                })
                .collect();
            format!("CASE e.branch {} END", arms.join(" "))
        }
        // Escaped for a string literal: every real config quotes its parameters
        // (`'{{ parameters.x }}'`), and the value must stay inside those quotes.
        (Some(ParameterValue::Text(t)), _) => bq_escape(t),
        (Some(ParameterValue::ByBranch(values)), false) => {
            // Upstream renders the Python dict; the closest useful text is its repr.
            let items: Vec<String> = values
                .iter()
                .map(|(b, v)| format!("'{b}': '{v}'"))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        (None, _) => String::new(),
    }
}

struct Resolver<'a> {
    collection: &'a ConfigCollection,
    templates: &'a Templates,
    app: &'a str,
    /// Defaults, the experiment's config and its outcomes, merged.
    spec: &'a CustomConfig,
    /// Outcome-declared parameters, rendered.
    parameters: BTreeMap<String, String>,
    /// The config file without a line (for problems with no better place), or nowhere.
    file_loc: Loc,
    experiment: &'a ExperimenterExperiment,
    /// `{dataset}` of data source expressions.
    dataset: String,
    /// `experiment` in templates (set once the experiment is resolved).
    vars: Option<super::template::ExperimentVars>,
    /// Platform metrics a stub has given statistics to (see the module docs).
    patched: HashMap<String, MetricDefinition>,
    /// Metrics being resolved (cycle detection).
    resolving: Vec<String>,
    /// Data sources being resolved (join cycle detection).
    resolving_sources: Vec<String>,
    metrics: BTreeMap<String, MetricSpec>,
    data_sources: BTreeMap<String, DataSourceSpec>,
}

fn value<T: Clone>(v: &Option<Sourced<T>>) -> Option<T> {
    v.as_ref().map(|s| s.value.clone())
}

impl<'a> Resolver<'a> {
    fn new(
        collection: &'a ConfigCollection,
        experiment: &'a ExperimenterExperiment,
        spec: &'a CustomConfig,
        parameters: BTreeMap<String, String>,
        file_loc: Loc,
    ) -> Resolver<'a> {
        Resolver {
            collection,
            templates: collection.templates(),
            app: experiment.app_name.as_str(),
            spec,
            parameters,
            file_loc,
            experiment,
            dataset: String::new(),
            vars: None,
            patched: HashMap::new(),
            resolving: Vec::new(),
            resolving_sources: Vec::new(),
            metrics: BTreeMap::new(),
            data_sources: BTreeMap::new(),
        }
    }

    fn experiment(&self, today: NaiveDate) -> Result<ExperimentSpec> {
        let exp = self.experiment;
        let x = &self.spec.experiment;

        if let Some(branch) = &x.reference_branch {
            if !exp.branches.iter().any(|b| b.slug == branch.value) {
                let branches: Vec<_> = exp.branches.iter().map(|b| b.slug.as_str()).collect();
                return Err(ConfigError::at(
                    &branch.loc,
                    "experiment.reference_branch",
                    format!(
                        "'{}' is not a branch of experiment '{}' (branches: {}){}",
                        branch.value,
                        exp.slug,
                        branches.join(", "),
                        did_you_mean(&branch.value, branches.iter())
                    ),
                ));
            }
        }
        let reference_branch = value(&x.reference_branch).or_else(|| exp.reference_branch.clone());
        let start_date = value(&x.start_date).or(exp.start_date);
        let end_date = value(&x.end_date).or(exp.end_date);
        if let (Some(start), Some(end)) = (start_date, end_date) {
            // Only a problem the config introduced is reported; Experimenter's own dates are
            // left to the validation checks.
            let culprit = match (&x.end_date, &x.start_date) {
                (Some(e), _) => Some((&e.loc, "experiment.end_date")),
                (None, Some(s)) => Some((&s.loc, "experiment.start_date")),
                (None, None) => None,
            };
            if let (true, Some((loc, key))) = (end < start, culprit) {
                return Err(ConfigError::at(
                    loc,
                    key,
                    format!("the end date {end} is before the start date {start}"),
                ));
            }
        }
        let status = if x.end_date.is_some() {
            ExperimentStatus::Complete
        } else {
            exp.status(today)
        };
        let enrollment_period = match &x.enrollment_period {
            Some(days) => days.value,
            None => match (exp.enrollment_end_date, start_date) {
                // Deliberate decision: an enrollment end before the start gives 0 (which the
                // "no enrollment period" check then reports) rather than a negative period.
                (Some(end), Some(start)) => ((end - start).num_days() + 1).max(0),
                _ => exp.proposed_enrollment.unwrap_or(0),
            },
        };

        let implied = if exp.randomization_unit.as_deref() == Some("group_id") {
            AnalysisUnit::ProfileGroup
        } else {
            AnalysisUnit::Client
        };
        if let Some(unit) = &x.analysis_unit {
            if unit.value != implied {
                return Err(ConfigError::at(
                    &unit.loc,
                    "experiment.analysis_unit",
                    format!(
                        "'{}' differs from the unit Experimenter's randomization unit implies \
                         ('{}'); overriding the analysis unit is not supported yet",
                        unit.value.value(),
                        implied.value()
                    ),
                ));
            }
        }
        if let Some(private) = x.is_private.as_ref().filter(|p| p.value) {
            return Err(ConfigError::at(
                &private.loc,
                "experiment.is_private",
                "private experiments are not supported yet (their results would not be kept \
                 private)",
            ));
        }

        let overrides = ExperimentOverrides {
            reference_branch: value(&x.reference_branch)
                .filter(|b| exp.reference_branch.as_ref() != Some(b)),
            start_date: value(&x.start_date).filter(|d| exp.start_date != Some(*d)),
            end_date: value(&x.end_date).filter(|d| exp.end_date != Some(*d)),
            enrollment_period: value(&x.enrollment_period)
                .filter(|p| exp.proposed_enrollment != Some(*p)),
            skip: value(&x.skip),
            enrollment_period_set: x.enrollment_period.is_some(),
        };

        Ok(ExperimentSpec {
            slug: exp.slug.clone(),
            app_name: exp.app_name.clone(),
            app_id: exp.app_id.clone(),
            experiment_type: "v6".to_string(),
            status,
            branches: exp.branches.clone(),
            reference_branch,
            start_date,
            end_date,
            proposed_enrollment: exp.proposed_enrollment,
            enrollment_end_date: exp.enrollment_end_date,
            enrollment_period,
            is_rollout: exp.is_rollout,
            randomization_unit: exp.randomization_unit.clone(),
            outcomes: exp.outcomes.clone(),
            skip: value(&x.skip).unwrap_or(false),
            enrollment_query: None,
            sample_size: value(&x.sample_size).unwrap_or(100),
            overrides,
            // The platform's type when the config names none, so every consumer (the query
            // generator on a remote worker included) sees the effective type.
            enrollments_query_type: value(&x.enrollments_query_type).or_else(|| {
                super::platform::platform(&exp.app_name)
                    .map(|p| p.enrollments_query_type.to_string())
            }),
            analysis_unit: implied.value().to_string(),
        })
    }

    fn vars(&self) -> &super::template::ExperimentVars {
        self.vars
            .as_ref()
            .expect("experiment variables are set before templates are rendered")
    }

    /// Renders `[experiment].enrollment_query` (Jinja with `experiment`, no functions).
    fn render_enrollment_query(&self, mut spec: ExperimentSpec) -> Result<ExperimentSpec> {
        if let Some(query) = &self.spec.experiment.enrollment_query {
            let rendered = self
                .templates
                .render_with_experiment(&query.value, self.vars())
                .map_err(|e| {
                    ConfigError::at(&query.loc, "experiment.enrollment_query", e.to_string())
                })?;
            spec.enrollment_query = Some(rendered);
        }
        Ok(spec)
    }

    /// The spec's segments, then Experimenter's, without repeats.
    fn segments(&self) -> Result<(Vec<SegmentSpec>, BTreeMap<String, SegmentDataSourceSpec>)> {
        let mut names: Vec<Sourced<String>> = Vec::new();
        for name in &self.spec.experiment.segments {
            if !names.iter().any(|n| n.value == name.value) {
                names.push(name.clone());
            }
        }
        for name in &self.experiment.segments {
            if !names.iter().any(|n| n.value == *name) {
                names.push(Sourced::new(name.clone(), Loc::default()));
            }
        }
        self.segment_list(names)
    }

    /// Resolves segments by name: the spec's definition, else the platform's.
    fn segment_list(
        &self,
        names: Vec<Sourced<String>>,
    ) -> Result<(Vec<SegmentSpec>, BTreeMap<String, SegmentDataSourceSpec>)> {
        let platform = self.collection.definitions(self.app);
        let mut segments = Vec::with_capacity(names.len());
        let mut data_sources = BTreeMap::new();
        for name in names {
            let def = self
                .spec
                .segments
                .definitions
                .get(&name.value)
                .or_else(|| platform.and_then(|p| p.segments.definitions.get(&name.value)));
            let Some(def) = def else {
                return Err(self.undefined_segment(&name));
            };
            let key = join_key("segments", &name.value);
            let source_name = &def.data_source.value;
            let source = self
                .spec
                .segments
                .data_sources
                .get(source_name)
                .or_else(|| platform.and_then(|p| p.segments.data_sources.get(source_name)));
            let Some(source) = source else {
                let mut known: Vec<&String> = self.spec.segments.data_sources.keys().collect();
                known.extend(platform.iter().flat_map(|p| p.segments.data_sources.keys()));
                return Err(ConfigError::at(
                    &def.data_source.loc,
                    join_key(&key, "data_source"),
                    format!(
                        "Could not find definition for segment data source '{source_name}'{}",
                        did_you_mean(source_name, known)
                    ),
                ));
            };
            if !data_sources.contains_key(source_name) {
                let source_key = join_key("segments.data_sources", source_name);
                let rendered = self
                    .templates
                    .render_with_experiment(&source.from_expression.value, self.vars())
                    .map_err(|e| {
                        ConfigError::at(
                            &source.from_expression.loc,
                            join_key(&source_key, "from_expression"),
                            e.to_string(),
                        )
                    })?;
                let from_expression = self.fill_dataset(
                    &rendered,
                    source.default_dataset.as_deref(),
                    &source.from_expression.loc,
                    &join_key(&source_key, "from_expression"),
                )?;
                data_sources.insert(
                    source_name.clone(),
                    SegmentDataSourceSpec {
                        name: source_name.clone(),
                        from_expression,
                        window_start: source.window_start.unwrap_or(0),
                        window_end: source.window_end.unwrap_or(0),
                        client_id_column: or_default(
                            &source.client_id_column,
                            DEFAULT_CLIENT_ID_COLUMN,
                        ),
                        submission_date_column: or_default(
                            &source.submission_date_column,
                            DEFAULT_SUBMISSION_DATE_COLUMN,
                        ),
                        group_id_column: or_default(
                            &source.group_id_column,
                            DEFAULT_GROUP_ID_COLUMN,
                        ),
                        glean_client_id_column: source
                            .glean_client_id_column
                            .clone()
                            .filter(|c| !c.is_empty()),
                        legacy_client_id_column: source
                            .legacy_client_id_column
                            .clone()
                            .filter(|c| !c.is_empty()),
                    },
                );
            }
            let select_expression = self
                .templates
                .render_select_expression(&def.select_expression.value, None)
                .map_err(|e| {
                    ConfigError::at(
                        &def.select_expression.loc,
                        join_key(&key, "select_expression"),
                        e.to_string(),
                    )
                })?;
            segments.push(SegmentSpec {
                name: name.value,
                select_expression,
                data_source: source_name.clone(),
            });
        }
        Ok((segments, data_sources))
    }

    fn undefined_segment(&self, name: &Sourced<String>) -> ConfigError {
        let platform = self.collection.definitions(self.app);
        let mut known: Vec<&String> = self.spec.segments.definitions.keys().collect();
        known.extend(platform.iter().flat_map(|p| p.segments.definitions.keys()));
        let hint = did_you_mean(&name.value, known);
        if name.loc.file.is_some() {
            ConfigError::at(
                &name.loc,
                "experiment.segments",
                format!(
                    "Could not find definition for segment '{}'{hint}",
                    name.value
                ),
            )
        } else {
            ConfigError::at(
                &self.file_loc,
                "",
                format!(
                    "Could not find definition for segment '{}', which Experimenter lists for \
                     experiment '{}' (define [segments.{}] in the config or the {} \
                     definitions){hint}",
                    name.value, self.experiment.slug, name.value, self.app
                ),
            )
        }
    }

    fn exposure_signal(&mut self, enrollment_period: i64) -> Result<Option<ExposureSignalSpec>> {
        let Some(signal) = self.spec.experiment.exposure_signal.clone() else {
            return Ok(None);
        };
        self.data_source(
            &signal.data_source,
            "experiment.exposure_signal.data_source",
        )?;
        let bound = |limit: &Option<Sourced<WindowLimit>>| {
            limit.as_ref().map(|l| match l.value {
                WindowLimit::Days(days) => WindowBound::Days(days),
                WindowLimit::EnrollmentStart => WindowBound::Days(0),
                // The last enrollment date is `enrollment_period` days after the first.
                WindowLimit::EnrollmentEnd => WindowBound::Days(enrollment_period),
                WindowLimit::AnalysisWindowStart => WindowBound::AnalysisWindowStart,
                WindowLimit::AnalysisWindowEnd => WindowBound::AnalysisWindowEnd,
            })
        };
        Ok(Some(ExposureSignalSpec {
            name: signal.name.value.clone(),
            select_expression: signal.select_expression.value.clone(),
            data_source: signal.data_source.value.clone(),
            friendly_name: signal.friendly_name.as_deref().map(dedent),
            description: signal.description.as_deref().map(dedent),
            window_start: bound(&signal.window_start),
            window_end: bound(&signal.window_end),
        }))
    }

    /// The definition of data source `name`: the spec's, else the platform's.
    fn data_source_definition(&self, name: &str) -> Option<&DataSourceDefinition> {
        self.spec.data_sources.get(name).or_else(|| {
            self.collection
                .definitions(self.app)
                .and_then(|p| p.data_sources.get(name))
        })
    }

    /// Resolves a data source reference and records it (and the sources it joins).
    fn data_source(&mut self, name: &Sourced<String>, key: &str) -> Result<()> {
        if self.data_sources.contains_key(&name.value) {
            return Ok(());
        }
        let Some(def) = self.data_source_definition(&name.value).cloned() else {
            let mut known: Vec<&String> = self.spec.data_sources.keys().collect();
            let platform = self.collection.definitions(self.app);
            known.extend(platform.iter().flat_map(|p| p.data_sources.keys()));
            return Err(ConfigError::at(
                &name.loc,
                key,
                format!(
                    "No default definition for data source '{}' [{}] found{}",
                    name.value,
                    self.app,
                    did_you_mean(&name.value, known)
                ),
            ));
        };
        let def_key = join_key("data_sources", &def.name);
        if !is_valid_slug(&name.value) {
            return Err(ConfigError::at(
                &def.loc,
                def_key,
                format!(
                    "Invalid identifier found in name {}: a name consists of letters, digits \
                     and underscores (wildcards only patch data sources defined elsewhere)",
                    name.value
                ),
            ));
        }
        if self.resolving_sources.contains(&name.value) {
            self.resolving_sources.push(name.value.clone());
            return Err(ConfigError::at(
                &def.loc,
                join_key(&def_key, "joins"),
                format!(
                    "data sources join each other in a cycle: {}",
                    self.resolving_sources.join(" -> ")
                ),
            ));
        }
        let from_key = join_key(&def_key, "from_expression");
        let Some(from) = &def.from_expression else {
            return Err(ConfigError::at(
                &def.loc,
                from_key,
                "required key is missing",
            ));
        };
        let rendered = self
            .templates
            .render_from_expression(&from.value, Some(self.vars()))
            .map_err(|e| ConfigError::at(&from.loc, from_key.clone(), e.to_string()))?;
        let from_expression = self.fill_dataset(
            &rendered,
            def.default_dataset.as_deref(),
            &from.loc,
            &from_key,
        )?;

        self.resolving_sources.push(name.value.clone());
        let joins = self.joins(&def, &def_key)?;
        self.resolving_sources.pop();

        let spec = DataSourceSpec {
            name: name.value.clone(),
            from_expression,
            client_id_column: or_default(&def.client_id_column, DEFAULT_CLIENT_ID_COLUMN),
            submission_date_column: or_default(
                &def.submission_date_column,
                DEFAULT_SUBMISSION_DATE_COLUMN,
            ),
            group_id_column: or_default(&def.group_id_column, DEFAULT_GROUP_ID_COLUMN),
            glean_client_id_column: def.glean_client_id_column.clone().filter(|c| !c.is_empty()),
            legacy_client_id_column: def
                .legacy_client_id_column
                .clone()
                .filter(|c| !c.is_empty()),
            analysis_units: def
                .analysis_units
                .clone()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| self.default_units())
                .iter()
                .map(|u| u.value().to_string())
                .collect(),
            joins,
            experiments_column_type: or_default(
                &def.experiments_column_type,
                DEFAULT_EXPERIMENTS_COLUMN_TYPE,
            ),
            friendly_name: def.friendly_name.as_deref().map(dedent),
            description: def.description.as_deref().map(dedent),
        };
        self.data_sources.insert(name.value.clone(), spec);
        Ok(())
    }

    fn joins(
        &mut self,
        def: &DataSourceDefinition,
        def_key: &str,
    ) -> Result<Vec<DataSourceJoinSpec>> {
        let Some(joins) = &def.joins else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (other, join) in joins {
            let join_key_path = join_key(&join_key(def_key, "joins"), other);
            let table = join.as_table();
            let text = |field: &str| -> Result<Option<String>> {
                match table.and_then(|t| t.get(field)) {
                    None => Ok(None),
                    Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                    Some(v) => Err(ConfigError::at(
                        &def.loc,
                        join_key(&join_key_path, field),
                        format!("expected a string, found {}", v.type_str()),
                    )),
                }
            };
            let relationship = text("relationship")?;
            if let Some(r) = &relationship {
                if !JOIN_RELATIONSHIPS.contains(&r.as_str()) {
                    return Err(ConfigError::at(
                        &def.loc,
                        join_key(&join_key_path, "relationship"),
                        format!(
                            "expected one of {}, found \"{r}\"",
                            JOIN_RELATIONSHIPS.join(", ")
                        ),
                    ));
                }
            }
            let on_expression = text("on_expression")?;
            self.data_source(
                &Sourced::new(other.clone(), def.loc.clone()),
                &join_key_path,
            )?;
            out.push(DataSourceJoinSpec {
                data_source: other.clone(),
                relationship,
                on_expression,
            });
        }
        Ok(out)
    }

    /// Python's `str.format(dataset=...)` of a from expression, as mozanalysis applies it:
    /// the experiment's app dataset, else the data source's `default_dataset`. Like upstream, a
    /// `{dataset}` template needs a `default_dataset`.
    fn fill_dataset(
        &self,
        text: &str,
        default_dataset: Option<&str>,
        loc: &Loc,
        key: &str,
    ) -> Result<String> {
        let default_dataset = default_dataset.filter(|d| !d.is_empty());
        if default_dataset.is_none() {
            // Upstream validates `from_expression.format()` without arguments.
            if let Err(e) = python_format(text, &[]) {
                return Err(ConfigError::at(
                    loc,
                    key,
                    format!(
                        "{e}; a from_expression with a {{dataset}} template needs a \
                         default_dataset (write {{{{ and }}}} for literal braces)"
                    ),
                ));
            }
        }
        let dataset = if self.dataset.is_empty() {
            default_dataset.unwrap_or_default()
        } else {
            self.dataset.as_str()
        };
        python_format(text, &[("dataset", dataset)])
            .map_err(|e| ConfigError::at(loc, key, e.to_string()))
    }

    /// Upstream's default analysis units: `client_id`, plus `profile_group_id` on desktop.
    fn default_units(&self) -> Vec<AnalysisUnit> {
        if self.app == "firefox_desktop" {
            vec![AnalysisUnit::Client, AnalysisUnit::ProfileGroup]
        } else {
            vec![AnalysisUnit::Client]
        }
    }

    /// The platform's definition of metric `name`, with a stub's patch if one applied.
    fn platform_metric(&self, name: &str) -> Option<MetricDefinition> {
        if let Some(patched) = self.patched.get(name) {
            return Some(patched.clone());
        }
        self.collection
            .definitions(self.app)
            .and_then(|p| p.metrics.definitions.get(name))
            .cloned()
    }

    fn known_metric_names(&self) -> Vec<&String> {
        let mut names: Vec<&String> = self.spec.metrics.definitions.keys().collect();
        names.extend(
            self.collection
                .definitions(self.app)
                .iter()
                .flat_map(|p| p.metrics.definitions.keys()),
        );
        names
    }

    fn periods(&mut self) -> Result<Vec<(AnalysisPeriod, Vec<SummarySpec>)>> {
        let spec = self.spec;
        let mut periods = Vec::new();
        for period in AnalysisPeriod::ALL {
            let Some(list) = spec.metrics.periods.iter().find(|p| p.period == period) else {
                continue;
            };
            let mut summaries = Vec::new();
            for item in &list.metrics {
                summaries.extend(self.metric_reference(item, &join_key("metrics", &list.key))?);
            }
            let summaries = last_occurrences(summaries);
            if !summaries.is_empty() {
                periods.push((period, summaries));
            }
        }
        Ok(periods)
    }

    /// A metric named in a period list: the spec's definition, else the platform's.
    fn metric_reference(&mut self, name: &Sourced<String>, key: &str) -> Result<Vec<SummarySpec>> {
        let def = match self.spec.metrics.definitions.get(&name.value) {
            Some(def) => def.clone(),
            None => match self.platform_metric(&name.value) {
                Some(def) if def.statistics.as_ref().is_none_or(|s| s.is_empty()) => {
                    let defined_at = defined_in(&def.loc);
                    return Err(ConfigError::at(
                        &name.loc,
                        key,
                        format!(
                            "No statistical treatment defined for metric '{}'{defined_at}: add \
                             [metrics.{}.statistics.<statistic>] to the config",
                            name.value, name.value
                        ),
                    ));
                }
                Some(def) => def,
                None => {
                    return Err(ConfigError::at(
                        &name.loc,
                        key,
                        format!(
                            "Could not locate metric {}{}",
                            name.value,
                            did_you_mean(&name.value, self.known_metric_names())
                        ),
                    ))
                }
            },
        };
        self.metric(&def)
    }

    /// Resolves a metric definition into its summaries, recording the metric (and the metrics
    /// it depends on) in the spec.
    fn metric(&mut self, def: &MetricDefinition) -> Result<Vec<SummarySpec>> {
        let key = join_key("metrics", &def.name);
        if self.resolving.contains(&def.name) {
            self.resolving.push(def.name.clone());
            return Err(ConfigError::at(
                &def.loc,
                join_key(&key, "depends_on"),
                format!(
                    "metrics depend on each other in a cycle: {}",
                    self.resolving.join(" -> ")
                ),
            ));
        }
        self.resolving.push(def.name.clone());
        let result = self.metric_unchecked(def, &key);
        self.resolving.pop();
        result
    }

    fn metric_unchecked(&mut self, def: &MetricDefinition, key: &str) -> Result<Vec<SummarySpec>> {
        let mut upstream: Option<Vec<String>> = None;
        for dependency in &def.depends_on {
            if self.resolving.contains(&dependency.value) {
                let mut chain = self.resolving.clone();
                chain.push(dependency.value.clone());
                return Err(ConfigError::at(
                    &dependency.loc,
                    join_key(key, "depends_on"),
                    format!(
                        "metrics depend on each other in a cycle: {}",
                        chain.join(" -> ")
                    ),
                ));
            }
            // Upstream looks for the upstream metric in the platform's definitions first.
            let found = self.platform_metric(&dependency.value).or_else(|| {
                self.spec
                    .metrics
                    .definitions
                    .get(&dependency.value)
                    .cloned()
            });
            let Some(upstream_def) = found else {
                return Err(ConfigError::at(
                    &dependency.loc,
                    join_key(key, "depends_on"),
                    format!(
                        "No definition found for referenced upstream metric {}{}",
                        dependency.value,
                        did_you_mean(&dependency.value, self.known_metric_names())
                    ),
                ));
            };
            if upstream_def
                .statistics
                .as_ref()
                .is_none_or(|s| s.is_empty())
            {
                // As upstream, which resolves upstream metrics in full.
                let defined_at = defined_in(&upstream_def.loc);
                return Err(ConfigError::at(
                    &dependency.loc,
                    join_key(key, "depends_on"),
                    format!(
                        "No statistical treatment defined for upstream metric '{}'{defined_at}: \
                         metrics in depends_on need statistics too; add \
                         [metrics.{}.statistics.<statistic>]",
                        dependency.value, dependency.value
                    ),
                ));
            }
            self.metric(&upstream_def)?;
            let names = upstream.get_or_insert_with(Vec::new);
            if !names.contains(&dependency.value) {
                names.push(dependency.value.clone());
            }
        }

        if let (Some(template), Some(source)) = (&def.select_expression, &def.data_source) {
            let metric = self.full_metric(def, template, source, key)?;
            return self.summaries(def, key, &metric.name);
        }
        if let Some(upstream) = upstream {
            let metric = self.metric_spec(def, None, None, upstream);
            self.record(metric);
            return self.summaries(def, key, &def.name);
        }
        let Some(platform) = self.platform_metric(&def.name) else {
            let what = match (&def.select_expression, &def.data_source) {
                (Some(_), None) => "it has a select_expression but no data_source",
                (None, Some(_)) => "it has a data_source but no select_expression",
                _ => "it has no select_expression",
            };
            return Err(ConfigError::at(
                &def.loc,
                key,
                format!(
                    "No default definition found for referenced metric {}: {what}, and the {} \
                     definitions do not define it{}",
                    def.name,
                    self.app,
                    did_you_mean(&def.name, self.known_metric_names())
                ),
            ));
        };
        if (platform.select_expression.is_none() || platform.data_source.is_none())
            && platform.depends_on.is_empty()
        {
            return Err(ConfigError::at(
                &platform.loc,
                key,
                format!(
                    "the {} definition of metric {} has no select_expression or data_source",
                    self.app, def.name
                ),
            ));
        }
        // A stub: the platform's metric with the stub's statistics (see the module docs).
        if def.statistics.as_ref().is_none_or(|s| s.is_empty()) {
            return Err(ConfigError::at(
                &def.loc,
                key,
                format!(
                    "No statistical treatment defined for metric '{}' (a [metrics.{}] table \
                     without select_expression uses the {} definition and needs its own \
                     [metrics.{}.statistics.<statistic>])",
                    def.name, def.name, self.app, def.name
                ),
            ));
        }
        let mut patched = platform;
        patched.statistics = def.statistics.clone();
        if let Some(bases) = def.analysis_bases.clone().filter(|b| !b.is_empty()) {
            patched.analysis_bases = Some(bases);
        }
        if let Some(units) = def.analysis_units.clone().filter(|u| !u.is_empty()) {
            patched.analysis_units = Some(units);
        }
        self.patched.insert(def.name.clone(), patched.clone());
        self.metric_unchecked(&patched, key)
    }

    /// A metric with its own select expression and data source.
    fn full_metric(
        &mut self,
        def: &MetricDefinition,
        template: &Sourced<String>,
        source: &Sourced<String>,
        key: &str,
    ) -> Result<MetricSpec> {
        let parameters = template
            .value
            .contains("parameters")
            .then_some(&self.parameters);
        let select_expression = self
            .templates
            .render_select_expression(&template.value, parameters)
            .map_err(|e| {
                let mut message = e.to_string();
                if message.contains("parameters") {
                    message.push_str(
                        " (parameters are declared by outcomes; an experiment config's \
                         [parameters] only set the values of parameters an outcome it uses \
                         declares)",
                    );
                }
                ConfigError::at(&template.loc, join_key(key, "select_expression"), message)
            })?;
        self.data_source(source, &join_key(key, "data_source"))?;
        let units = def
            .analysis_units
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| self.default_units());
        let source_units = &self.data_sources[&source.value].analysis_units;
        if let Some(missing) = units
            .iter()
            .find(|u| !source_units.iter().any(|s| s == u.value()))
        {
            return Err(ConfigError::at(
                &def.loc,
                join_key(key, "analysis_units"),
                format!(
                    "data_source {} (app: {}) does not support all analysis_units specified by \
                     metric {}: '{}' is not among the data source's [{}]",
                    source.value,
                    self.app,
                    def.name,
                    missing.value(),
                    source_units.join(", ")
                ),
            ));
        }
        let metric = self.metric_spec(
            def,
            Some(select_expression),
            Some(source.value.clone()),
            Vec::new(),
        );
        self.record(metric.clone());
        Ok(metric)
    }

    fn metric_spec(
        &self,
        def: &MetricDefinition,
        select_expression: Option<String>,
        data_source: Option<String>,
        depends_on: Vec<String>,
    ) -> MetricSpec {
        MetricSpec {
            name: def.name.clone(),
            select_expression,
            data_source,
            friendly_name: def.friendly_name.as_deref().map(dedent),
            description: def.description.as_deref().map(dedent),
            bigger_is_better: def.bigger_is_better.unwrap_or(true),
            analysis_bases: def
                .analysis_bases
                .clone()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| AnalysisBasis::ALL.to_vec()),
            depends_on,
        }
    }

    /// Records a resolved metric (the first resolution of a name is kept).
    fn record(&mut self, metric: MetricSpec) {
        self.metrics.entry(metric.name.clone()).or_insert(metric);
    }

    /// The summaries of a resolved metric: one per configured statistic.
    fn summaries(
        &self,
        def: &MetricDefinition,
        key: &str,
        metric: &str,
    ) -> Result<Vec<SummarySpec>> {
        let Some(statistics) = &def.statistics else {
            return Err(ConfigError::at(
                &def.loc,
                key,
                format!(
                    "No statistical treatment defined for metric '{}' (add a \
                     [metrics.{}.statistics.<statistic>] table)",
                    def.name, def.name
                ),
            ));
        };
        if statistics.is_empty() {
            return Err(ConfigError::at(
                &def.loc,
                join_key(key, "statistics"),
                format!("Metric {} has no statistical treatment defined.", def.name),
            ));
        }
        statistics
            .iter()
            .map(|s| {
                let upstream: Vec<&str> = def.depends_on.iter().map(|d| d.value.as_str()).collect();
                validate_statistic(
                    s,
                    &join_key(&join_key(key, "statistics"), &s.name),
                    &upstream,
                )?;
                Ok(SummarySpec {
                    metric: metric.to_string(),
                    statistic: StatisticSpec {
                        name: s.name.clone(),
                        params: s.params.clone(),
                    },
                    pre_treatments: s.pre_treatments.clone(),
                })
            })
            .collect()
    }
}

/// The parameter values the worker would refuse: population_ratio's column names, which must
/// name the metric's `depends_on` metrics (the only columns its data has), and the linear
/// models' `covariate_adjustment` (upstream only notices them while computing).
fn check_statistic_values(s: &StatisticDefinition, key: &str, upstream: &[&str]) -> Result<()> {
    if s.name == "population_ratio" {
        for required in ["numerator", "denominator"] {
            match s.params.get(required) {
                Some(serde_json::Value::String(name)) if upstream.contains(&name.as_str()) => {}
                Some(serde_json::Value::String(name)) => {
                    return Err(ConfigError::at(
                        &s.loc,
                        join_key(key, required),
                        format!(
                            "'{name}' is not among the metric's depends_on metrics ({})",
                            upstream.join(", ")
                        ),
                    ))
                }
                Some(other) => {
                    return Err(ConfigError::at(
                        &s.loc,
                        join_key(key, required),
                        format!("expected the name of an upstream metric, found {other}"),
                    ))
                }
                None => {
                    return Err(ConfigError::at(
                        &s.loc,
                        join_key(key, required),
                        "required parameter of population_ratio is missing (the name of one \
                         of the metric's depends_on metrics)"
                            .to_string(),
                    ))
                }
            }
        }
    }
    if let Some(value) = s.params.get("covariate_adjustment") {
        catalog::CovariateAdjustment::from_value(value)
            .map_err(|e| ConfigError::at(&s.loc, join_key(key, "covariate_adjustment"), e))?;
    }
    Ok(())
}

/// Checks a statistic's name, parameters and pre-treatments against the catalog.
fn validate_statistic(s: &StatisticDefinition, key: &str, upstream: &[&str]) -> Result<()> {
    let Some(kind) = catalog::statistic(&s.name) else {
        let names: Vec<&str> = catalog::STATISTICS.iter().map(|k| k.name).collect();
        return Err(unknown_name(&s.loc, key, "statistic", &s.name, &names));
    };
    check_known_keys(
        s.params.keys(),
        kind.params,
        &s.loc,
        key,
        &format!("parameter of {}", s.name),
        "parameters",
    )?;
    check_statistic_values(s, key, upstream)?;
    let pre_key = join_key(key, "pre_treatments");
    for (i, pre) in s.pre_treatments.iter().enumerate() {
        let item_key = format!("{pre_key}[{i}]");
        let Some(kind) = catalog::pre_treatment(&pre.name) else {
            let names: Vec<&str> = catalog::PRE_TREATMENTS.iter().map(|k| k.name).collect();
            return Err(unknown_name(
                &s.loc,
                &item_key,
                "pre-treatment",
                &pre.name,
                &names,
            ));
        };
        check_known_keys(
            pre.args.keys(),
            kind.args,
            &s.loc,
            &item_key,
            &format!("argument of pre-treatment {}", pre.name),
            "arguments",
        )?;
        if kind.name.ends_with("_threshold") && !pre.args.contains_key("threshold") {
            return Err(ConfigError::at(
                &s.loc,
                join_key(&item_key, "threshold"),
                format!("required argument of pre-treatment {} is missing", pre.name),
            ));
        }
    }
    Ok(())
}

/// "unknown <what> '<name>' (did you mean ...) (known: ...)" at `key`.
fn unknown_name(loc: &Loc, key: &str, what: &str, name: &str, known: &[&str]) -> ConfigError {
    ConfigError::at(
        loc,
        key,
        format!(
            "unknown {what} '{name}'{} (known: {})",
            did_you_mean(name, known.iter()),
            known.join(", ")
        ),
    )
}

/// Rejects the first of `keys` not in `known`: "unknown <what> (did you mean ...) (<plural>:
/// ...)", at `key.<unknown key>`.
fn check_known_keys<'k>(
    keys: impl IntoIterator<Item = &'k String>,
    known: &[&str],
    loc: &Loc,
    key: &str,
    what: &str,
    plural: &str,
) -> Result<()> {
    let Some(unknown) = keys.into_iter().find(|k| !known.contains(&k.as_str())) else {
        return Ok(());
    };
    let listed = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    Err(ConfigError::at(
        loc,
        join_key(key, unknown),
        format!(
            "unknown {what}{} ({plural}: {listed})",
            did_you_mean(unknown, known.iter())
        ),
    ))
}

/// " (defined in <file>)" for a definition from another file, for messages about it.
fn defined_in(loc: &Loc) -> String {
    loc.file
        .as_ref()
        .map(|f| format!(" (defined in {})", f.display()))
        .unwrap_or_default()
}

/// Upstream's de-duplication: the last occurrence of each (metric, statistic) pair wins; the
/// survivors keep their order.
fn last_occurrences(summaries: Vec<SummarySpec>) -> Vec<SummarySpec> {
    let mut seen = BTreeSet::new();
    let mut kept: Vec<SummarySpec> = summaries
        .into_iter()
        .rev()
        .filter(|s| seen.insert((s.metric.clone(), s.statistic.name.clone())))
        .collect();
    kept.reverse();
    kept
}

/// The value, or `default` when unset or empty (upstream treats empty values as unset).
fn or_default(value: &Option<String>, default: &str) -> String {
    match value {
        Some(v) if !v.is_empty() => v.clone(),
        _ => default.to_string(),
    }
}

/// Python's `textwrap.dedent`, which upstream applies to metric names and descriptions:
/// removes the whitespace (spaces and tabs) common to the start of every non-blank line and
/// empties lines made only of spaces and tabs.
pub(crate) fn dedent(text: &str) -> String {
    let is_blank = |line: &str| line.chars().all(|c| c == ' ' || c == '\t');
    let indent = |line: &str| line.len() - line.trim_start_matches([' ', '\t']).len();
    let mut margin: Option<&str> = None;
    for line in text.split('\n').filter(|l| !is_blank(l)) {
        let ws = &line[..indent(line)];
        margin = Some(match margin {
            None => ws,
            Some(m) => {
                let common = m
                    .bytes()
                    .zip(ws.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                &m[..common]
            }
        });
    }
    let margin = margin.map_or(0, str::len);
    text.split('\n')
        .map(|line| if is_blank(line) { "" } else { &line[margin..] })
        .collect::<Vec<_>>()
        .join("\n")
}
