//! Configured statistics: resolving a `[metrics.<m>.statistics.<s>]` name and its parameters
//! into a [`Statistic`], refusing what upstream's class lookup and constructors refuse.

use super::{distribution, linear_model, population_ratio};
use jetstream_proto::spec::StatisticSpec;
use serde_json::Value;

/// A configured statistic with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Statistic {
    BootstrapMean(BootstrapParams),
    Binomial {
        confidence_interval: f64,
    },
    Count,
    Sum,
    EmpiricalCdf {
        grid_size: usize,
        log_space: bool,
    },
    Deciles {
        num_samples: usize,
        confidence_interval: f64,
    },
    KernelDensity(distribution::KdeParams),
    PopulationRatio(population_ratio::RatioParams),
    LinearModel(linear_model::LmParams),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BootstrapParams {
    pub(super) num_samples: usize,
    pub(super) drop_highest: f64,
    pub(super) confidence_interval: f64,
}

/// Upper bound on `num_samples`, so that a typo cannot exhaust a worker's memory
/// (upstream has none; its default is 10,000).
const MAX_NUM_SAMPLES: u64 = 10_000_000;

impl Statistic {
    /// Resolves the statistic by config name and validates its parameters, as upstream's class
    /// lookup (`ValueError`) and constructor keyword arguments (`TypeError`) do. The accepted
    /// keys are the shared catalog's, so that the config layer and the worker agree.
    pub(super) fn from_spec(spec: &StatisticSpec) -> Result<Statistic, String> {
        let name = spec.name.as_str();
        let Some(kind) = jetstream_proto::catalog::STATISTICS
            .iter()
            .find(|k| k.name == name)
        else {
            return Err(format!("Statistic '{name}' does not exist."));
        };
        if let Some(key) = spec
            .params
            .keys()
            .find(|k| !kind.params.contains(&k.as_str()))
        {
            return Err(format!(
                "statistic {name} got an unexpected keyword argument '{key}'"
            ));
        }
        let float = |key: &str, default: f64| -> Result<f64, String> {
            match spec.params.get(key) {
                None => Ok(default),
                Some(v) => v.as_f64().ok_or_else(|| {
                    format!("parameter '{key}' of {name} must be a number, got {v}")
                }),
            }
        };
        let num_samples = || match spec.params.get("num_samples") {
            None => Ok(10_000),
            Some(Value::Number(n))
                if n.as_u64()
                    .is_some_and(|n| (1..=MAX_NUM_SAMPLES).contains(&n)) =>
            {
                Ok(n.as_u64().unwrap_or_default() as usize)
            }
            Some(v) => Err(format!(
                "parameter 'num_samples' of {name} must be an integer between 1 and \
                 {MAX_NUM_SAMPLES}, got {v}"
            )),
        };
        let text = |key: &str| -> Result<String, String> {
            match spec.params.get(key) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                None => Err(format!(
                    "statistic {name} is missing required keyword argument '{key}'"
                )),
                Some(v) => Err(format!(
                    "parameter '{key}' of {name} must be a metric name, got {v}"
                )),
            }
        };
        Ok(match name {
            "deciles" => Statistic::Deciles {
                num_samples: num_samples()?,
                confidence_interval: float("confidence_interval", 0.95)?,
            },
            "bootstrap_mean" => {
                let num_samples = num_samples()?;
                Statistic::BootstrapMean(BootstrapParams {
                    num_samples,
                    drop_highest: float("drop_highest", 0.005)?,
                    confidence_interval: float("confidence_interval", 0.95)?,
                })
            }
            "binomial" => Statistic::Binomial {
                confidence_interval: float("confidence_interval", 0.95)?,
            },
            "empirical_cdf" => Statistic::EmpiricalCdf {
                grid_size: grid_size(spec)?,
                log_space: log_space(spec)?,
            },
            "kernel_density_estimate" => {
                if float("adjust", 1.0)? != 1.0 {
                    return Err("KDE Adjust parameter no longer supported".to_string());
                }
                match spec.params.get("kernel") {
                    None => {}
                    Some(Value::String(k)) if k == "gaussian" => {}
                    Some(v) => {
                        return Err(format!(
                            "parameter 'kernel' of {name}: only \"gaussian\" is supported, got {v}"
                        ))
                    }
                }
                let bandwidth = match spec.params.get("bandwidth") {
                    None => distribution::Bandwidth::Scott,
                    Some(Value::String(b)) if b == "scott" => distribution::Bandwidth::Scott,
                    Some(Value::String(b)) if b == "silverman" => {
                        distribution::Bandwidth::Silverman
                    }
                    Some(Value::Number(n)) if n.as_f64().is_some_and(|h| h > 0.0 && h.is_finite()) => {
                        distribution::Bandwidth::Fixed(n.as_f64().unwrap_or(1.0))
                    }
                    Some(v) => {
                        return Err(format!(
                            "parameter 'bandwidth' of {name} must be \"scott\", \"silverman\" or a positive number, got {v}"
                        ))
                    }
                };
                Statistic::KernelDensity(distribution::KdeParams {
                    bandwidth,
                    grid_size: grid_size(spec)?,
                    log_space: log_space(spec)?,
                })
            }
            "population_ratio" => Statistic::PopulationRatio(population_ratio::RatioParams {
                numerator: text("numerator")?,
                denominator: text("denominator")?,
                num_samples: num_samples()?,
                drop_highest: float("drop_highest", 0.005)?,
                confidence_interval: float("confidence_interval", 0.95)?,
            }),
            "linear_model_mean" | "linear_model_mean_no_clip" | "per_client_dau_impact" => {
                let (output, default_drop) = match name {
                    "linear_model_mean" => (linear_model::LmOutput::Mean, 0.005),
                    "linear_model_mean_no_clip" => (linear_model::LmOutput::MeanNoClip, 0.0),
                    _ => (linear_model::LmOutput::DauImpact, 0.0),
                };
                let covariate = match spec.params.get("covariate_adjustment") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(linear_model::CovariateAdjustment::from_value(v)?),
                };
                Statistic::LinearModel(linear_model::LmParams {
                    output,
                    drop_highest: float("drop_highest", default_drop)?,
                    confidence_interval: float("confidence_interval", 0.95)?,
                    covariate,
                })
            }
            "count" => Statistic::Count,
            _ => Statistic::Sum,
        })
    }

    /// The value of the `statistic` column.
    pub(super) fn output_name(&self) -> &'static str {
        match self {
            Statistic::BootstrapMean(_) => "mean",
            Statistic::Binomial { .. } => "binomial",
            Statistic::Count => "count",
            Statistic::Sum => "sum",
            Statistic::EmpiricalCdf { .. } => "empirical_cdf",
            Statistic::Deciles { .. } => "deciles",
            Statistic::KernelDensity(_) => "kernel_density_estimate",
            Statistic::PopulationRatio(_) => "population_ratio",
            Statistic::LinearModel(p) => p.output.statistic(),
        }
    }
}

/// `grid_size` of the distributional statistics (default 256).
fn grid_size(spec: &StatisticSpec) -> Result<usize, String> {
    match spec.params.get("grid_size") {
        None => Ok(256),
        Some(Value::Number(n))
            if n.as_u64()
                .is_some_and(|n| (1..=distribution::MAX_GRID_SIZE).contains(&n)) =>
        {
            Ok(n.as_u64().unwrap_or(256) as usize)
        }
        Some(v) => Err(format!(
            "parameter 'grid_size' of {} must be an integer between 1 and {}, got {v}",
            spec.name,
            distribution::MAX_GRID_SIZE
        )),
    }
}

/// `log_space` of the distributional statistics (default false).
fn log_space(spec: &StatisticSpec) -> Result<bool, String> {
    match spec.params.get("log_space") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!(
            "parameter 'log_space' of {} must be a boolean, got {v}",
            spec.name
        )),
    }
}
