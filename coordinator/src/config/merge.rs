//! Layering of metric-hub specs: platform defaults ← experiment-type defaults ← the experiment's
//! own config, root definitions ← `jetstream/definitions`, earlier repositories ← later ones.
//!
//! Upstream's rule is "the override's value wins unless it is falsy" (`other.f or self.f`).
//! Deliberate decisions, each tested in `tests.rs`:
//! - **Set wins, unset never does.** Our parsed specs tell "unset" from "set to a falsy value",
//!   so an explicitly written `false`, `0` or `""` overrides (upstream cannot express
//!   `bigger_is_better = false` over a definition's `true`, nor `skip = false` over
//!   `skip = true`). Empty lists and empty `statistics` tables count as unset, as upstream.
//! - **An unset `bigger_is_better` is unset.** Upstream's attrs default `True` makes every
//!   override layer reset a definition's `bigger_is_better = false` to `true`; we don't.
//! - **A wildcard merge keeps the metric's name.** Upstream copies the pattern (`"*"`) into the
//!   name of every metric it patches; we keep the name.
//! - Kept from upstream: period lists concatenate (override first); metric and data-source keys
//!   of the override are fnmatch patterns applied to the base's keys, and patterns matching
//!   nothing are dropped; a metric's `statistics` are replaced wholesale; a data source's `joins`
//!   are replaced; segments and segment data sources are replaced whole; parameters are not
//!   merged here (see `resolve.rs`).

use super::types::{
    CustomConfig, DataSourceDefinition, ExperimentConfig, MetricDefinition, MetricsConfig,
    ParameterDefinition, ParameterValue,
};
use std::collections::BTreeMap;

/// Upstream's `AnalysisSpec.merge`: `other` over `base` (experiment, metrics, data sources,
/// segments).
pub(crate) fn merge_spec(base: &mut CustomConfig, other: &CustomConfig) {
    merge_experiment(&mut base.experiment, &other.experiment);
    merge_metrics(&mut base.metrics, &other.metrics);
    merge_data_sources(&mut base.data_sources, &other.data_sources);
    base.segments
        .definitions
        .extend(other.segments.definitions.clone());
    base.segments
        .data_sources
        .extend(other.segments.data_sources.clone());
}

/// Upstream's `merge_outcome` core: the outcome's metrics and data sources become the base and
/// the spec's are merged over them.
pub(crate) fn merge_outcome_under(
    spec: &mut CustomConfig,
    mut outcome_metrics: MetricsConfig,
    mut outcome_sources: BTreeMap<String, DataSourceDefinition>,
) {
    merge_metrics(&mut outcome_metrics, &spec.metrics);
    merge_data_sources(&mut outcome_sources, &spec.data_sources);
    spec.metrics = outcome_metrics;
    spec.data_sources = outcome_sources;
}

/// Merges definitions files (`definitions/<platform>.toml` of several layers): like
/// [`merge_spec`], plus parameters by name.
pub(crate) fn merge_definitions(base: &mut CustomConfig, other: &CustomConfig) {
    merge_spec(base, other);
    base.parameters.extend(other.parameters.clone());
}

fn set<T: Clone>(base: &mut Option<T>, other: &Option<T>) {
    if other.is_some() {
        base.clone_from(other);
    }
}

fn non_empty<T: Clone>(base: &mut Vec<T>, other: &[T]) {
    if !other.is_empty() {
        *base = other.to_vec();
    }
}

fn merge_experiment(base: &mut ExperimentConfig, other: &ExperimentConfig) {
    set(&mut base.enrollment_query, &other.enrollment_query);
    set(&mut base.enrollment_period, &other.enrollment_period);
    set(&mut base.reference_branch, &other.reference_branch);
    set(&mut base.start_date, &other.start_date);
    set(&mut base.end_date, &other.end_date);
    non_empty(&mut base.segments, &other.segments);
    non_empty(&mut base.outcomes, &other.outcomes);
    set(&mut base.skip, &other.skip);
    set(&mut base.exposure_signal, &other.exposure_signal);
    set(&mut base.is_private, &other.is_private);
    set(&mut base.dataset_id, &other.dataset_id);
    set(&mut base.sample_size, &other.sample_size);
    set(&mut base.analysis_unit, &other.analysis_unit);
    set(
        &mut base.enrollments_query_type,
        &other.enrollments_query_type,
    );
}

fn merge_metrics(base: &mut MetricsConfig, other: &MetricsConfig) {
    for list in &other.periods {
        match base.periods.iter_mut().find(|p| p.period == list.period) {
            Some(existing) => {
                let mut metrics = list.metrics.clone();
                metrics.append(&mut existing.metrics);
                existing.metrics = metrics;
            }
            None => base.periods.push(list.clone()),
        }
    }
    merge_patterns(
        &mut base.definitions,
        &other.definitions,
        merge_metric_definition,
    );
}

fn merge_data_sources(
    base: &mut BTreeMap<String, DataSourceDefinition>,
    other: &BTreeMap<String, DataSourceDefinition>,
) {
    merge_patterns(base, other, merge_data_source_definition);
}

/// Upstream's wildcard merge: every key of `other` is an fnmatch pattern merged into each key of
/// `base` it matches; keys of `other` that matched nothing are added when they are plain
/// identifiers (patterns that matched nothing are dropped).
fn merge_patterns<T: Clone>(
    base: &mut BTreeMap<String, T>,
    other: &BTreeMap<String, T>,
    merge: fn(&mut T, &T),
) {
    let mut matched: Vec<&str> = Vec::new();
    for (key, value) in base.iter_mut() {
        for (pattern, patch) in other {
            if fnmatch(pattern, key) {
                merge(value, patch);
                matched.push(pattern);
            }
        }
    }
    for (key, value) in other {
        if !matched.contains(&key.as_str()) && !base.contains_key(key) && is_valid_slug(key) {
            base.insert(key.clone(), value.clone());
        }
    }
}

fn merge_metric_definition(base: &mut MetricDefinition, other: &MetricDefinition) {
    set(&mut base.select_expression, &other.select_expression);
    set(&mut base.data_source, &other.data_source);
    set(&mut base.friendly_name, &other.friendly_name);
    set(&mut base.description, &other.description);
    set(&mut base.bigger_is_better, &other.bigger_is_better);
    if other.analysis_bases.as_ref().is_some_and(|b| !b.is_empty()) {
        base.analysis_bases.clone_from(&other.analysis_bases);
    }
    non_empty(&mut base.depends_on, &other.depends_on);
    set(&mut base.category, &other.category);
    set(&mut base.metric_type, &other.metric_type);
    non_empty(&mut base.owner, &other.owner);
    set(&mut base.deprecated, &other.deprecated);
    set(&mut base.level, &other.level);
    if other.analysis_units.as_ref().is_some_and(|u| !u.is_empty()) {
        base.analysis_units.clone_from(&other.analysis_units);
    }
    if other.statistics.as_ref().is_some_and(|s| !s.is_empty()) {
        base.statistics.clone_from(&other.statistics);
    }
    base.loc = other.loc.clone();
}

fn merge_data_source_definition(base: &mut DataSourceDefinition, other: &DataSourceDefinition) {
    set(&mut base.from_expression, &other.from_expression);
    set(&mut base.client_id_column, &other.client_id_column);
    set(
        &mut base.submission_date_column,
        &other.submission_date_column,
    );
    set(
        &mut base.experiments_column_type,
        &other.experiments_column_type,
    );
    set(&mut base.friendly_name, &other.friendly_name);
    set(&mut base.description, &other.description);
    set(&mut base.default_dataset, &other.default_dataset);
    set(&mut base.build_id_column, &other.build_id_column);
    set(&mut base.group_id_column, &other.group_id_column);
    set(
        &mut base.glean_client_id_column,
        &other.glean_client_id_column,
    );
    set(
        &mut base.legacy_client_id_column,
        &other.legacy_client_id_column,
    );
    set(&mut base.analysis_units, &other.analysis_units);
    set(&mut base.joins, &other.joins);
    set(
        &mut base.columns_as_dimensions,
        &other.columns_as_dimensions,
    );
    base.loc = other.loc.clone();
}

/// Upstream's `_merge_param(config, outcome)`: the experiment config's settings over the
/// outcome's declaration; a per-branch value is completed by the default's branches.
pub(crate) fn merge_parameter(
    config: Option<&ParameterDefinition>,
    outcome: &ParameterDefinition,
) -> ParameterDefinition {
    let truthy = |v: Option<&ParameterValue>| v.filter(|v| !v.is_empty()).cloned();
    let config_value = config.and_then(|c| truthy(c.value.as_ref()));
    let config_default = config.and_then(|c| truthy(c.default.as_ref()));
    let default = config_default.or_else(|| truthy(outcome.default.as_ref()));
    let value = config_value
        .or_else(|| truthy(outcome.value.as_ref()))
        .or_else(|| default.clone());
    let value = match (value, &default) {
        (Some(ParameterValue::ByBranch(own)), Some(ParameterValue::ByBranch(defaults))) => {
            let mut merged = defaults.clone();
            for (branch, v) in own {
                match merged.iter_mut().find(|(b, _)| *b == branch) {
                    Some(slot) => slot.1 = v,
                    None => merged.push((branch, v)),
                }
            }
            Some(ParameterValue::ByBranch(merged))
        }
        (value, _) => value,
    };
    let first = |f: fn(&ParameterDefinition) -> Option<String>| {
        config
            .and_then(f)
            .filter(|s| !s.is_empty())
            .or_else(|| f(outcome))
    };
    ParameterDefinition {
        name: outcome.name.clone(),
        loc: config.map_or_else(|| outcome.loc.clone(), |c| c.loc.clone()),
        friendly_name: first(|p| p.friendly_name.clone()),
        description: first(|p| p.description.clone()),
        value,
        default,
        distinct_by_branch: Some(
            config.and_then(|c| c.distinct_by_branch).unwrap_or(false)
                || outcome.distinct_by_branch.unwrap_or(false),
        ),
    }
}

/// Metric-hub's slug rule for names added by a merge: `^[a-zA-Z0-9_]+$`.
pub(crate) fn is_valid_slug(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Python's `fnmatch.fnmatchcase` (`*`, `?`, `[seq]`, `[!seq]`), which upstream applies to
/// override keys.
pub(crate) fn fnmatch(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| matches_from(rest, &name[skip..])),
        Some(('?', rest)) => !name.is_empty() && matches_from(rest, &name[1..]),
        Some(('[', rest)) => match (class_end(rest), name.split_first()) {
            (Some(end), Some((c, name_rest))) => {
                class_matches(&rest[..end], *c) && matches_from(&rest[end + 1..], name_rest)
            }
            // An unterminated `[` is a literal, as in Python.
            (None, Some(('[', name_rest))) => matches_from(rest, name_rest),
            _ => false,
        },
        Some((c, rest)) => name.first() == Some(c) && matches_from(rest, &name[1..]),
    }
}

/// Index of the `]` closing a class that starts right after `[` (a `]` first is literal).
fn class_end(class: &[char]) -> Option<usize> {
    let start = match class {
        ['!', ']', ..] => 2,
        ['!', ..] | [']', ..] => 1,
        _ => 0,
    };
    class[start..]
        .iter()
        .position(|&c| c == ']')
        .map(|i| i + start)
}

fn class_matches(class: &[char], c: char) -> bool {
    let (negated, class) = match class.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, class),
    };
    let mut found = false;
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            found |= class[i] <= c && c <= class[i + 2];
            i += 3;
        } else {
            found |= class[i] == c;
            i += 1;
        }
    }
    found != negated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_follows_python() {
        assert!(fnmatch("*", "active_hours"));
        assert!(fnmatch("search_*", "search_count"));
        assert!(!fnmatch("search_*", "ad_search"));
        assert!(fnmatch("?d_clicks", "ad_clicks"));
        assert!(fnmatch("[ab]d_clicks", "ad_clicks"));
        assert!(!fnmatch("[!a]d_clicks", "ad_clicks"));
        assert!(fnmatch("[a-c]x", "bx"));
        assert!(fnmatch("a[", "a["));
        assert!(fnmatch("exact", "exact"));
        assert!(!fnmatch("exact", "exactly"));
    }

    #[test]
    fn slugs() {
        assert!(is_valid_slug("active_hours_2"));
        assert!(!is_valid_slug("search_*"));
        assert!(!is_valid_slug(""));
    }
}
