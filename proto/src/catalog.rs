//! The statistics and pre-treatments Jetstream knows, with their parameters.
//!
//! Shared by the config layer (which rejects an unknown name or parameter when a config is
//! resolved, with a "did you mean") and the workers (which implement them), so that both agree
//! on what exists. Upstream only notices these mistakes while computing statistics, where it
//! logs them and writes no rows; we report them before any query runs.

use crate::naming::is_plain_identifier;
use crate::period::AnalysisPeriod;
use serde_json::Value;

/// A statistic's config name and the parameters its constructor accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatisticKind {
    /// The config name (`[metrics.<m>.statistics.<name>]`).
    pub name: &'static str,
    /// Parameter keys upstream's class accepts.
    pub params: &'static [&'static str],
}

/// Every statistic of upstream's `jetstream/statistics.py`.
pub const STATISTICS: &[StatisticKind] = &[
    StatisticKind {
        name: "bootstrap_mean",
        params: &["num_samples", "drop_highest", "confidence_interval"],
    },
    StatisticKind {
        name: "binomial",
        params: &["confidence_interval"],
    },
    StatisticKind {
        name: "deciles",
        params: &["confidence_interval", "num_samples"],
    },
    StatisticKind {
        name: "kernel_density_estimate",
        params: &["bandwidth", "adjust", "kernel", "grid_size", "log_space"],
    },
    StatisticKind {
        name: "empirical_cdf",
        params: &["log_space", "grid_size"],
    },
    StatisticKind {
        name: "count",
        params: &[],
    },
    StatisticKind {
        name: "sum",
        params: &[],
    },
    StatisticKind {
        name: "population_ratio",
        params: &[
            "numerator",
            "denominator",
            "confidence_interval",
            "drop_highest",
            "num_samples",
        ],
    },
    StatisticKind {
        name: "linear_model_mean",
        params: &[
            "drop_highest",
            "covariate_adjustment",
            "confidence_interval",
        ],
    },
    StatisticKind {
        name: "linear_model_mean_no_clip",
        // `drop_highest` is inherited from linear_model_mean (default 0.0 here).
        params: &[
            "drop_highest",
            "covariate_adjustment",
            "confidence_interval",
        ],
    },
    StatisticKind {
        name: "per_client_dau_impact",
        params: &[
            "drop_highest",
            "covariate_adjustment",
            "confidence_interval",
        ],
    },
];

/// A pre-treatment's config name and its arguments (`analysis_period_length` is injected by
/// the analysis, never written in a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreTreatmentKind {
    pub name: &'static str,
    pub args: &'static [&'static str],
}

/// Every pre-treatment of upstream's `jetstream/pre_treatment.py`.
pub const PRE_TREATMENTS: &[PreTreatmentKind] = &[
    PreTreatmentKind {
        name: "remove_nulls",
        args: &[],
    },
    PreTreatmentKind {
        name: "remove_indefinites",
        args: &[],
    },
    PreTreatmentKind {
        name: "censor_highest_values",
        args: &["fraction"],
    },
    PreTreatmentKind {
        name: "censor_lowest_values",
        args: &["fraction"],
    },
    PreTreatmentKind {
        name: "censor_values_below_threshold",
        args: &["threshold"],
    },
    PreTreatmentKind {
        name: "censor_values_above_threshold",
        args: &["threshold"],
    },
    PreTreatmentKind {
        name: "normalize_over_analysis_period",
        args: &[],
    },
    PreTreatmentKind {
        name: "log",
        args: &["base"],
    },
    PreTreatmentKind {
        name: "zero_fill",
        args: &[],
    },
];

/// The statistic called `name`, if there is one.
pub fn statistic(name: &str) -> Option<&'static StatisticKind> {
    STATISTICS.iter().find(|s| s.name == name)
}

/// The pre-treatment called `name`, if there is one.
pub fn pre_treatment(name: &str) -> Option<&'static PreTreatmentKind> {
    PRE_TREATMENTS.iter().find(|p| p.name == name)
}

/// `covariate_adjustment = {period = "preenrollment_week" | "preenrollment_days28", metric = …}`
/// of the linear models: parsed here so that the config layer rejects a bad one when a config is
/// resolved and the worker reads it the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CovariateAdjustment {
    pub period: AnalysisPeriod,
    /// The pre-enrollment metric; the summary's own metric when unset.
    pub metric: Option<String>,
}

impl CovariateAdjustment {
    /// Reads the parameter table, with upstream's check on the period.
    pub fn from_value(value: &Value) -> Result<CovariateAdjustment, String> {
        let Value::Object(table) = value else {
            return Err(format!(
                "parameter 'covariate_adjustment' must be a table with a 'period', got {value}"
            ));
        };
        if let Some(key) = table.keys().find(|k| *k != "period" && *k != "metric") {
            return Err(format!(
                "covariate_adjustment: unknown key '{key}' (expected 'period' and 'metric')"
            ));
        }
        let period = match table.get("period") {
            Some(Value::String(p)) => AnalysisPeriod::parse(p)
                .ok_or_else(|| format!("covariate_adjustment: '{p}' is not an analysis period"))?,
            Some(v) => {
                return Err(format!(
                    "covariate_adjustment: 'period' must be a string, got {v}"
                ))
            }
            None => return Err("covariate_adjustment: 'period' is required".to_string()),
        };
        if !period.is_preenrollment() {
            return Err(
                "Covariate adjustment must be done using a pre-treatment analysis period \
                 (one of: ['preenrollment_week', 'preenrollment_days28'])"
                    .to_string(),
            );
        }
        let metric = match table.get("metric") {
            None => None,
            // The name reaches SQL (the covariate join), so it must be a plain identifier, as
            // metric names are.
            Some(Value::String(m)) if is_plain_identifier(m) => Some(m.clone()),
            Some(v) => {
                return Err(format!(
                    "covariate_adjustment: 'metric' must be a metric name, got {v}"
                ))
            }
        };
        Ok(CovariateAdjustment { period, metric })
    }

    /// Whether the adjustment applies in `current`: not in the covariate's own period, nor in
    /// any pre-enrollment period.
    pub fn applies_in(&self, current: AnalysisPeriod) -> bool {
        self.period != current && !current.is_preenrollment()
    }

    /// The covariate column's name for the summary's `metric`: `<metric>_pre`.
    pub fn column(&self, metric: &str) -> String {
        format!("{}_pre", self.metric.as_deref().unwrap_or(metric))
    }
}
