//! One row of Jetstream's statistics table, which is also one `Statistic` in Experimenter's JSON.

use crate::period::AnalysisBasis;
use serde::{Deserialize, Serialize};

/// What a comparative row compares: absolute difference or relative uplift versus
/// `comparison_to_branch`. Individual (per-branch) rows have no comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Difference,
    RelativeUplift,
}

impl Comparison {
    /// The value written in the `comparison` column.
    pub fn value(self) -> &'static str {
        match self {
            Comparison::Difference => "difference",
            Comparison::RelativeUplift => "relative_uplift",
        }
    }
}

/// A statistics row with exactly the fields of Jetstream's statistics table (schema version 4)
/// plus `window_index`, which Jetstream's views add and Experimenter reads.
///
/// Serialisation omits null fields, as BigQuery's JSON export (and so Jetstream's) does.
/// `parameter` is written as a JSON number: Experimenter's schema declares a number; Jetstream's
/// export happens to carry NUMERIC as a string, which Experimenter coerces. A number satisfies
/// both the schema and the consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatisticRow {
    pub metric: String,
    pub statistic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<f64>,
    pub branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_to_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_width: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    pub segment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_basis: Option<AnalysisBasis>,
    /// 1-based window index within the period, as a string (Experimenter's type). Not a column
    /// of the per-window table: the aggregator's views add it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_index: Option<String>,
}

impl StatisticRow {
    /// An individual (per-branch) row with every optional field empty.
    pub fn individual(metric: &str, statistic: &str, branch: &str) -> StatisticRow {
        StatisticRow {
            metric: metric.to_string(),
            statistic: statistic.to_string(),
            parameter: None,
            branch: branch.to_string(),
            comparison: None,
            comparison_to_branch: None,
            ci_width: None,
            point: None,
            lower: None,
            upper: None,
            segment: "all".to_string(),
            analysis_basis: None,
            window_index: None,
        }
    }

    /// Applies Jetstream's `StatisticResult` normalisation: non-finite floats become null and
    /// `parameter` is rounded to 6 decimals.
    pub fn normalized(mut self) -> StatisticRow {
        fn finite(v: Option<f64>) -> Option<f64> {
            v.filter(|x| x.is_finite())
        }
        self.point = finite(self.point);
        self.lower = finite(self.lower);
        self.upper = finite(self.upper);
        self.ci_width = finite(self.ci_width);
        self.parameter = finite(self.parameter).map(|p| (p * 1e6).round() / 1e6);
        self
    }

    /// The key on which rows of one table must be unique (Jetstream's dedup key, without the
    /// window index). Floats are compared by their bit patterns after normalisation.
    pub fn dedup_key(&self) -> RowKey {
        RowKey {
            metric: self.metric.clone(),
            statistic: self.statistic.clone(),
            branch: self.branch.clone(),
            parameter: self.parameter.map(f64::to_bits),
            comparison: self.comparison,
            comparison_to_branch: self.comparison_to_branch.clone(),
            ci_width: self.ci_width.map(f64::to_bits),
            segment: self.segment.clone(),
            analysis_basis: self.analysis_basis,
        }
    }
}

/// See [`StatisticRow::dedup_key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub metric: String,
    pub statistic: String,
    pub branch: String,
    pub parameter: Option<u64>,
    pub comparison: Option<Comparison>,
    pub comparison_to_branch: Option<String>,
    pub ci_width: Option<u64>,
    pub segment: String,
    pub analysis_basis: Option<AnalysisBasis>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_without_nulls_and_normalises() {
        let mut row = StatisticRow::individual("identity", "count", "control");
        row.point = Some(12.0);
        row.lower = Some(f64::NAN);
        row.parameter = Some(0.123_456_78);
        row.analysis_basis = Some(AnalysisBasis::Exposures);
        let row = row.normalized();
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["point"], 12.0);
        assert!(json.get("lower").is_none());
        assert_eq!(json["parameter"], 0.123457);
        assert_eq!(json["analysis_basis"], "exposures");
        let back: StatisticRow = serde_json::from_value(json).unwrap();
        assert_eq!(back, row);
    }
}
