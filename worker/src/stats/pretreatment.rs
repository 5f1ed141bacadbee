//! Jetstream's pre-treatments (`jetstream/pre_treatment.py`), applied to a metric's values
//! before its statistic.
//!
//! Values are `f64`; NaN stands for a null (as in pandas). Quirks of upstream kept on purpose:
//! - `remove_indefinites` drops NaN and +inf but keeps −inf (upstream replaces only +inf).
//! - `censor_highest_values` keeps values *strictly below* the `fraction` quantile, so it always
//!   drops the maximum (and every value of a constant column); `censor_lowest_values` mirrors it.
//! - `log` gives −inf for 0 and NaN for negative values, and keeps those rows.

use super::quantile::quantile_sorted;
use jetstream_proto::spec::PreTreatmentSpec;
use serde_json::Value;

/// A resolved pre-treatment with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PreTreatment {
    RemoveNulls,
    RemoveIndefinites,
    CensorHighestValues {
        fraction: f64,
    },
    CensorLowestValues {
        fraction: f64,
    },
    CensorValuesBelowThreshold {
        threshold: f64,
    },
    CensorValuesAboveThreshold {
        threshold: f64,
    },
    NormalizeOverAnalysisPeriod,
    /// `None` is a falsy base upstream: natural logarithm.
    Log {
        base: Option<f64>,
    },
    ZeroFill,
}

/// Reads a numeric argument (JSON integer or float).
fn number(name: &str, key: &str, value: &Value) -> Result<f64, String> {
    value.as_f64().ok_or_else(|| {
        format!("pre-treatment {name}: argument '{key}' must be a number, got {value}")
    })
}

impl PreTreatment {
    /// Resolves a configured pre-treatment, refusing unknown names and arguments as upstream's
    /// constructor lookup (`ValueError`) and keyword arguments (`TypeError`) do.
    pub(crate) fn from_spec(spec: &PreTreatmentSpec) -> Result<PreTreatment, String> {
        let name = spec.name.as_str();
        let allowed: &[&str] = match name {
            "remove_nulls" | "remove_indefinites" | "zero_fill" => &[],
            "censor_highest_values" | "censor_lowest_values" => &["fraction"],
            "censor_values_below_threshold" | "censor_values_above_threshold" => &["threshold"],
            // Overwritten by the analysis window length upstream, so accepted and ignored.
            "normalize_over_analysis_period" => &["analysis_period_length"],
            "log" => &["base"],
            _ => return Err(format!("Could not find pre-treatment {name}.")),
        };
        if let Some(key) = spec.args.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "pre-treatment {name} got an unexpected keyword argument '{key}'"
            ));
        }
        let arg = |key: &str, default: Option<f64>| -> Result<f64, String> {
            match spec.args.get(key) {
                Some(v) => number(name, key, v),
                None => default.ok_or_else(|| {
                    format!("pre-treatment {name} is missing required argument '{key}'")
                }),
            }
        };
        let fraction = |default: f64| -> Result<f64, String> {
            let f = arg("fraction", Some(default))?;
            if (0.0..=1.0).contains(&f) {
                Ok(f)
            } else {
                Err(format!(
                    "pre-treatment {name}: percentiles should all be in the interval [0, 1], got {f}"
                ))
            }
        };
        Ok(match name {
            "remove_nulls" => PreTreatment::RemoveNulls,
            "remove_indefinites" => PreTreatment::RemoveIndefinites,
            "zero_fill" => PreTreatment::ZeroFill,
            "censor_highest_values" => PreTreatment::CensorHighestValues {
                fraction: fraction(1.0 - 1e-5)?,
            },
            "censor_lowest_values" => PreTreatment::CensorLowestValues {
                fraction: fraction(1e-5)?,
            },
            "censor_values_below_threshold" => PreTreatment::CensorValuesBelowThreshold {
                threshold: arg("threshold", None)?,
            },
            "censor_values_above_threshold" => PreTreatment::CensorValuesAboveThreshold {
                threshold: arg("threshold", None)?,
            },
            "normalize_over_analysis_period" => PreTreatment::NormalizeOverAnalysisPeriod,
            "log" => {
                let base = match spec.args.get("base") {
                    None => Some(10.0),
                    Some(Value::Null) => None,
                    Some(Value::Bool(false)) => None,
                    Some(v) => Some(number(name, "base", v)?).filter(|b| *b != 0.0),
                };
                PreTreatment::Log { base }
            }
            _ => unreachable!("names are checked above"),
        })
    }

    /// Applies the pre-treatment to column `column` of `frame`. Filters drop whole rows (every
    /// column with them), as upstream's `df.loc[mask, :]` and `dropna(subset=[col])` do.
    pub(crate) fn apply(&self, frame: &mut Frame, column: usize, analysis_length_days: i64) {
        let values = &mut frame.columns[column];
        match *self {
            PreTreatment::RemoveNulls => frame.retain(column, |v| !v.is_nan()),
            PreTreatment::RemoveIndefinites => {
                frame.retain(column, |v| !v.is_nan() && v != f64::INFINITY)
            }
            PreTreatment::CensorHighestValues { fraction } => {
                let threshold = skipna_quantile(values, fraction);
                frame.retain(column, |v| v < threshold);
            }
            PreTreatment::CensorLowestValues { fraction } => {
                let threshold = skipna_quantile(values, fraction);
                frame.retain(column, |v| v > threshold);
            }
            PreTreatment::CensorValuesBelowThreshold { threshold } => {
                frame.retain(column, |v| v > threshold)
            }
            PreTreatment::CensorValuesAboveThreshold { threshold } => {
                frame.retain(column, |v| v < threshold)
            }
            PreTreatment::NormalizeOverAnalysisPeriod => {
                let length = analysis_length_days as f64;
                values.iter_mut().for_each(|v| *v /= length);
            }
            PreTreatment::Log { base } => {
                let divisor = base.map(f64::ln);
                values.iter_mut().for_each(|v| {
                    *v = match divisor {
                        Some(d) => v.ln() / d,
                        None => v.ln(),
                    }
                });
            }
            PreTreatment::ZeroFill => values
                .iter_mut()
                .filter(|v| v.is_nan())
                .for_each(|v| *v = 0.0),
        }
    }
}

/// The rows of one summary: interned branch codes and parallel numeric columns (NaN = NULL).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Frame {
    pub(crate) codes: Vec<u32>,
    pub(crate) columns: Vec<Vec<f64>>,
}

impl Frame {
    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.codes.len()
    }

    /// Keeps the rows whose value in `column` satisfies `keep`, in order.
    pub(crate) fn retain(&mut self, column: usize, keep: impl Fn(f64) -> bool) {
        let mask: Vec<bool> = self.columns[column].iter().map(|&v| keep(v)).collect();
        self.retain_rows(&mask);
    }

    /// Keeps the rows where `mask` is true, in order.
    pub(crate) fn retain_rows(&mut self, mask: &[bool]) {
        compact(&mut self.codes, mask);
        for column in &mut self.columns {
            compact(column, mask);
        }
    }
}

/// Moves the kept elements to the front, in order, and truncates.
fn compact<T: Copy>(items: &mut Vec<T>, mask: &[bool]) {
    let mut j = 0;
    for i in 0..items.len() {
        if mask[i] {
            items[j] = items[i];
            j += 1;
        }
    }
    items.truncate(j);
}

/// pandas `Series.quantile(q)`: linear interpolation over the non-null values.
pub(crate) fn skipna_quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    quantile_sorted(&sorted, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str, args: Value) -> PreTreatmentSpec {
        PreTreatmentSpec {
            name: name.to_string(),
            args: args.as_object().cloned().unwrap_or_default(),
        }
    }

    fn run(name: &str, args: Value, values: &[f64]) -> Vec<f64> {
        let pt = PreTreatment::from_spec(&spec(name, args)).unwrap();
        let mut frame = Frame {
            codes: vec![0; values.len()],
            columns: vec![values.to_vec()],
        };
        pt.apply(&mut frame, 0, 7);
        assert_eq!(frame.codes.len(), frame.columns[0].len());
        frame.columns.remove(0)
    }

    #[test]
    fn remove_nulls_drops_nan() {
        let out = run(
            "remove_nulls",
            json!({}),
            &[1.0, f64::NAN, 3.0, f64::INFINITY],
        );
        assert_eq!(out, vec![1.0, 3.0, f64::INFINITY]);
    }

    #[test]
    fn remove_indefinites_keeps_negative_infinity() {
        let out = run(
            "remove_indefinites",
            json!({}),
            &[1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
        );
        assert_eq!(out, vec![1.0, f64::NEG_INFINITY]);
    }

    #[test]
    fn censoring_follows_upstream() {
        // 10% top of 10,000 rows: 9,000 remain (upstream test_pretreatment).
        let values: Vec<f64> = (0..10_000).map(f64::from).collect();
        assert_eq!(
            run("censor_highest_values", json!({"fraction": 0.9}), &values).len(),
            9000
        );
        assert_eq!(
            run("censor_lowest_values", json!({"fraction": 0.1}), &values).len(),
            9000
        );
        // The default fraction always drops the maximum; a constant column loses everything.
        let out = run("censor_highest_values", json!({}), &[1.0, 2.0, 3.0]);
        assert_eq!(out, vec![1.0, 2.0]);
        assert!(run("censor_highest_values", json!({}), &[5.0; 4]).is_empty());
        let hundred: Vec<f64> = (0..200).map(f64::from).collect();
        assert_eq!(
            run(
                "censor_values_below_threshold",
                json!({"threshold": 49}),
                &hundred
            )
            .len(),
            150
        );
        assert_eq!(
            run(
                "censor_values_above_threshold",
                json!({"threshold": 50}),
                &hundred
            )
            .len(),
            50
        );
        assert!(
            PreTreatment::from_spec(&spec("censor_values_above_threshold", json!({}))).is_err()
        );
        assert!(
            PreTreatment::from_spec(&spec("censor_highest_values", json!({"fraction": 2})))
                .is_err()
        );
    }

    #[test]
    fn log_and_normalise_and_zero_fill() {
        let values: Vec<f64> = (-1..=10).map(f64::from).collect();
        let out = run("log", json!({}), &values);
        assert!(out[0].is_nan());
        assert_eq!(out[1], f64::NEG_INFINITY);
        assert!((out[11] - 1.0).abs() < 1e-15);
        let natural = run("log", json!({"base": null}), &[std::f64::consts::E]);
        assert!((natural[0] - 1.0).abs() < 1e-15);
        let two = run("log", json!({"base": 2}), &[8.0]);
        assert!((two[0] - 3.0).abs() < 1e-12);
        assert_eq!(
            run("normalize_over_analysis_period", json!({}), &[14.0]),
            vec![2.0]
        );
        assert_eq!(
            run("zero_fill", json!({}), &[f64::NAN, 2.0]),
            vec![0.0, 2.0]
        );
    }

    #[test]
    fn filters_drop_whole_rows() {
        let pt = PreTreatment::from_spec(&spec("remove_nulls", json!({}))).unwrap();
        let mut frame = Frame {
            codes: vec![0, 1, 2],
            columns: vec![vec![1.0, 2.0, 3.0], vec![4.0, f64::NAN, 6.0]],
        };
        pt.apply(&mut frame, 1, 1);
        assert_eq!(frame.codes, vec![0, 2]);
        assert_eq!(frame.columns, vec![vec![1.0, 3.0], vec![4.0, 6.0]]);
    }

    #[test]
    fn unknown_names_and_arguments_are_refused() {
        assert_eq!(
            PreTreatment::from_spec(&spec("winsorize", json!({}))).unwrap_err(),
            "Could not find pre-treatment winsorize."
        );
        assert!(PreTreatment::from_spec(&spec("remove_nulls", json!({"x": 1}))).is_err());
        assert!(PreTreatment::from_spec(&spec("log", json!({"base": "ten"}))).is_err());
    }
}
