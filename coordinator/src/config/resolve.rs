//! Experimenter's experiment + a custom config → [`AnalysisSpec`].
//!
//! Only what the custom config itself defines is available here: a metric, data source or
//! segment must be defined in the config. Platform defaults and definitions (metric-hub's
//! `defaults/` and `definitions/`) will be consulted by a later layer at exactly the points
//! where this module reports "not defined".

use super::error::{join_key, ConfigError, Loc, Sourced};
use super::types::{
    AnalysisUnit, CustomConfig, DataSourceDefinition, MetricDefinition, WindowLimit,
};
use crate::experimenter::ExperimenterExperiment;
use chrono::NaiveDate;
use jetstream_proto::spec::{
    AnalysisSpec, DataSourceSpec, ExperimentOverrides, ExperimentSpec, ExperimentStatus,
    ExposureSignalSpec, MetricSpec, SegmentDataSourceSpec, SegmentSpec, StatisticSpec, SummarySpec,
    WindowBound,
};
use jetstream_proto::AnalysisBasis;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

type Result<T> = std::result::Result<T, ConfigError>;

const DEFAULT_CLIENT_ID_COLUMN: &str = "client_id";
const DEFAULT_SUBMISSION_DATE_COLUMN: &str = "submission_date";
const DEFAULT_EXPERIMENTS_COLUMN_TYPE: &str = "simple";

pub(crate) fn resolve(
    experiment: &ExperimenterExperiment,
    config: Option<&CustomConfig>,
    today: NaiveDate,
) -> Result<AnalysisSpec> {
    let empty;
    let (config, file_loc) = match config {
        Some(c) => (c, Loc::new(&Arc::from(c.path.as_path()), None)),
        None => {
            empty = CustomConfig::default();
            (&empty, Loc::default())
        }
    };
    let mut r = Resolver {
        experiment,
        config,
        file_loc,
        metrics: BTreeMap::new(),
        data_sources: BTreeMap::new(),
    };
    let experiment_spec = r.experiment(today)?;
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

struct Resolver<'a> {
    experiment: &'a ExperimenterExperiment,
    config: &'a CustomConfig,
    /// The config file without a line (for problems with no better place), or nowhere.
    file_loc: Loc,
    metrics: BTreeMap<String, MetricSpec>,
    data_sources: BTreeMap<String, DataSourceSpec>,
}

fn value<T: Clone>(v: &Option<Sourced<T>>) -> Option<T> {
    v.as_ref().map(|s| s.value.clone())
}

impl Resolver<'_> {
    fn experiment(&self, today: NaiveDate) -> Result<ExperimentSpec> {
        let exp = self.experiment;
        let x = &self.config.experiment;

        if let Some(branch) = &x.reference_branch {
            if !exp.branches.iter().any(|b| b.slug == branch.value) {
                let branches: Vec<_> = exp.branches.iter().map(|b| b.slug.as_str()).collect();
                return Err(ConfigError::at(
                    &branch.loc,
                    "experiment.reference_branch",
                    format!(
                        "'{}' is not a branch of experiment '{}' (branches: {})",
                        branch.value,
                        exp.slug,
                        branches.join(", ")
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

        if let Some(unit) = &x.analysis_unit {
            let implied = if exp.randomization_unit.as_deref() == Some("group_id") {
                AnalysisUnit::ProfileGroup
            } else {
                AnalysisUnit::Client
            };
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
        if let Some(kind) = &x.enrollments_query_type {
            return Err(ConfigError::at(
                &kind.loc,
                "experiment.enrollments_query_type",
                "overriding the enrollment query type is not supported yet (it follows the \
                 platform)",
            ));
        }
        if let Some(private) = x.is_private.as_ref().filter(|p| p.value) {
            return Err(ConfigError::at(
                &private.loc,
                "experiment.is_private",
                "private experiments are not supported yet (their results would not be kept \
                 private)",
            ));
        }
        if !x.outcomes.is_empty() {
            let slugs: Vec<_> = x.outcomes.iter().map(|o| o.value.as_str()).collect();
            tracing::warn!(
                experiment = %exp.slug,
                outcomes = %slugs.join(", "),
                "outcomes listed in the config are not applied yet"
            );
        }

        let overrides = ExperimentOverrides {
            reference_branch: value(&x.reference_branch)
                .filter(|b| exp.reference_branch.as_ref() != Some(b)),
            start_date: value(&x.start_date).filter(|d| exp.start_date != Some(*d)),
            end_date: value(&x.end_date).filter(|d| exp.end_date != Some(*d)),
            enrollment_period: value(&x.enrollment_period)
                .filter(|p| exp.proposed_enrollment != Some(*p)),
            skip: value(&x.skip),
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
            enrollment_query: value(&x.enrollment_query),
            sample_size: value(&x.sample_size).unwrap_or(100),
            overrides,
        })
    }

    /// The config's segments, then Experimenter's, without repeats.
    fn segments(&self) -> Result<(Vec<SegmentSpec>, BTreeMap<String, SegmentDataSourceSpec>)> {
        let defs = &self.config.segments;
        let mut names: Vec<(String, Option<Loc>)> = Vec::new();
        for name in &self.config.experiment.segments {
            if !names.iter().any(|(n, _)| *n == name.value) {
                names.push((name.value.clone(), Some(name.loc.clone())));
            }
        }
        for name in &self.experiment.segments {
            if !names.iter().any(|(n, _)| n == name) {
                names.push((name.clone(), None));
            }
        }
        let mut segments = Vec::with_capacity(names.len());
        let mut data_sources = BTreeMap::new();
        for (name, loc) in names {
            let Some(def) = defs.definitions.get(&name) else {
                return Err(match loc {
                    Some(loc) => ConfigError::at(
                        &loc,
                        "experiment.segments",
                        format!("segment '{name}' is not defined"),
                    ),
                    None => ConfigError::at(
                        &self.file_loc,
                        "",
                        format!(
                            "segment '{name}', which Experimenter lists for experiment '{}', \
                             is not defined ({})",
                            self.experiment.slug,
                            if self.file_loc.file.is_some() {
                                format!("no [segments.{name}] in the config")
                            } else {
                                "there is no custom config".to_string()
                            }
                        ),
                    ),
                });
            };
            let source_name = &def.data_source.value;
            let Some(source) = defs.data_sources.get(source_name) else {
                return Err(ConfigError::at(
                    &def.data_source.loc,
                    join_key(&join_key("segments", &name), "data_source"),
                    format!("segment data source '{source_name}' is not defined"),
                ));
            };
            data_sources
                .entry(source_name.clone())
                .or_insert_with(|| SegmentDataSourceSpec {
                    name: source_name.clone(),
                    from_expression: source.from_expression.value.clone(),
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
                });
            segments.push(SegmentSpec {
                name,
                select_expression: def.select_expression.value.clone(),
                data_source: source_name.clone(),
            });
        }
        Ok((segments, data_sources))
    }

    fn exposure_signal(&mut self, enrollment_period: i64) -> Result<Option<ExposureSignalSpec>> {
        let Some(signal) = &self.config.experiment.exposure_signal else {
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
            friendly_name: signal.friendly_name.clone(),
            description: signal.description.clone(),
            window_start: bound(&signal.window_start),
            window_end: bound(&signal.window_end),
        }))
    }

    /// Resolves a data source reference and records it among the spec's data sources.
    fn data_source(&mut self, name: &Sourced<String>, key: &str) -> Result<()> {
        if self.data_sources.contains_key(&name.value) {
            return Ok(());
        }
        let Some(def) = self.config.data_sources.get(&name.value) else {
            return Err(ConfigError::at(
                &name.loc,
                key,
                format!("data source '{}' is not defined", name.value),
            ));
        };
        let spec = data_source_spec(def)?;
        self.data_sources.insert(name.value.clone(), spec);
        Ok(())
    }

    fn periods(&mut self) -> Result<Vec<(jetstream_proto::AnalysisPeriod, Vec<SummarySpec>)>> {
        let config = self.config;
        let definitions = &config.metrics.definitions;
        let mut periods = Vec::new();
        for list in &config.metrics.periods {
            let list_key = join_key("metrics", &list.key);
            let mut summaries = Vec::new();
            let mut seen = BTreeSet::new();
            for item in &list.metrics {
                let Some(def) = definitions.get(&item.value) else {
                    return Err(ConfigError::at(
                        &item.loc,
                        list_key,
                        format!("metric '{}' is not defined", item.value),
                    ));
                };
                self.metric(def, &mut Vec::new())?;
                for statistic in def.statistics.iter().flatten() {
                    if seen.insert((def.name.clone(), statistic.name.clone())) {
                        summaries.push(SummarySpec {
                            metric: def.name.clone(),
                            statistic: StatisticSpec {
                                name: statistic.name.clone(),
                                params: statistic.params.clone(),
                            },
                            pre_treatments: statistic.pre_treatments.clone(),
                        });
                    }
                }
            }
            if !summaries.is_empty() {
                periods.push((list.period, summaries));
            }
        }
        Ok(periods)
    }

    /// Validates a used metric (and, recursively, the metrics it depends on) and records it.
    fn metric(&mut self, def: &MetricDefinition, stack: &mut Vec<String>) -> Result<()> {
        if self.metrics.contains_key(&def.name) {
            return Ok(());
        }
        let key = join_key("metrics", &def.name);
        if stack.contains(&def.name) {
            stack.push(def.name.clone());
            return Err(ConfigError::at(
                &def.loc,
                join_key(&key, "depends_on"),
                format!(
                    "metrics depend on each other in a cycle: {}",
                    stack.join(" -> ")
                ),
            ));
        }
        let derived = !def.depends_on.is_empty();
        let (select_expression, data_source) = match (&def.select_expression, &def.data_source) {
            (Some(expression), Some(source)) => {
                self.data_source(source, &join_key(&key, "data_source"))?;
                (Some(expression.value.clone()), Some(source.value.clone()))
            }
            (expression, source) if derived => {
                // Upstream: a metric with `depends_on` and without a complete definition is
                // computed from its upstream metrics only; a lone select_expression or
                // data_source is dropped.
                if expression.is_some() || source.is_some() {
                    tracing::warn!(
                        metric = %def.name,
                        "a metric with depends_on needs both select_expression and data_source \
                         to be computed from data; the one given is ignored"
                    );
                }
                (None, None)
            }
            (Some(_), None) => {
                return Err(ConfigError::at(
                    &def.loc,
                    join_key(&key, "data_source"),
                    format!(
                        "required key is missing (metric '{}' has a select_expression)",
                        def.name
                    ),
                ))
            }
            (None, _) => {
                return Err(ConfigError::at(
                    &def.loc,
                    key,
                    format!(
                        "metric '{}' has neither a select_expression nor depends_on",
                        def.name
                    ),
                ))
            }
        };
        if def.statistics.as_ref().is_none_or(|s| s.is_empty()) {
            return Err(ConfigError::at(
                &def.loc,
                key,
                format!("No statistical treatment defined for metric '{}'", def.name),
            ));
        }
        stack.push(def.name.clone());
        for upstream in &def.depends_on {
            let Some(upstream_def) = self.config.metrics.definitions.get(&upstream.value) else {
                return Err(ConfigError::at(
                    &upstream.loc,
                    join_key(&key, "depends_on"),
                    format!("metric '{}' is not defined", upstream.value),
                ));
            };
            self.metric(upstream_def, stack)?;
        }
        stack.pop();
        let mut depends_on: Vec<String> = Vec::new();
        for upstream in &def.depends_on {
            if !depends_on.contains(&upstream.value) {
                depends_on.push(upstream.value.clone());
            }
        }
        self.metrics.insert(
            def.name.clone(),
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
            },
        );
        Ok(())
    }
}

fn data_source_spec(def: &DataSourceDefinition) -> Result<DataSourceSpec> {
    let from_expression = def.from_expression.as_ref().ok_or_else(|| {
        ConfigError::at(
            &def.loc,
            join_key(&join_key("data_sources", &def.name), "from_expression"),
            "required key is missing",
        )
    })?;
    Ok(DataSourceSpec {
        name: def.name.clone(),
        from_expression: from_expression.value.clone(),
        client_id_column: or_default(&def.client_id_column, DEFAULT_CLIENT_ID_COLUMN),
        submission_date_column: or_default(
            &def.submission_date_column,
            DEFAULT_SUBMISSION_DATE_COLUMN,
        ),
        experiments_column_type: or_default(
            &def.experiments_column_type,
            DEFAULT_EXPERIMENTS_COLUMN_TYPE,
        ),
        friendly_name: def.friendly_name.clone(),
        description: def.description.clone(),
    })
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
