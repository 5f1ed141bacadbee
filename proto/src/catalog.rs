//! The statistics and pre-treatments Jetstream knows, with their parameters.
//!
//! Shared by the config layer (which rejects an unknown name or parameter when a config is
//! resolved, with a "did you mean") and the workers (which implement them), so that both agree
//! on what exists. Upstream only notices these mistakes while computing statistics, where it
//! logs them and writes no rows; we report them before any query runs.

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
