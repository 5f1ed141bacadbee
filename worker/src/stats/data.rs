//! The data a summary reads: per-client metric values as the subset query returns them
//! ([`MetricData`]), and the same after interning and pre-treatments ([`Prepared`]).

use super::pretreatment::{Frame, PreTreatment};
use super::StatContext;

/// Per-client values of one metric, NULL rows already removed (Jetstream's subset query), one
/// entry per client: branch label and value (booleans arrive as 0.0/1.0; NaN/inf may occur).
///
/// A metric computed from others (`depends_on`) has no values of its own (upstream selects an
/// all-NULL placeholder); its upstream metrics' columns are in `upstream` instead, with rows
/// where any of them is NULL already removed. `linear_model_mean`'s covariate adjustment reads
/// the pre-enrollment column `<metric>_pre` from `covariate` (NaN where the client has no
/// pre-enrollment row).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricData {
    /// The branch labels; `codes` index into it (interned: a client costs 4 bytes, not a
    /// string).
    pub labels: Vec<String>,
    /// Each client's branch.
    pub codes: Vec<u32>,
    pub values: Vec<f64>,
    /// The metric's SQL type is an integer type: pandas then holds it in an integer dtype, and
    /// the linear model rounds its clipping threshold up (`np.ceil`) as upstream does.
    pub integer: bool,
    pub upstream: Vec<DataColumn>,
    pub covariate: Option<DataColumn>,
}

/// A named column aligned with [`MetricData::codes`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataColumn {
    pub name: String,
    pub values: Vec<f64>,
    /// As [`MetricData::integer`].
    pub integer: bool,
}

impl MetricData {
    /// A plain metric: each client's branch and non-NULL value.
    pub fn new<S: AsRef<str>>(branches: &[S], values: Vec<f64>) -> MetricData {
        let mut data = MetricData {
            values,
            ..MetricData::default()
        };
        data.codes = branches.iter().map(|b| data.code(b.as_ref())).collect();
        data
    }

    /// The code of `label`, interning it if new (branches are few, so a scan beats hashing).
    pub fn code(&mut self, label: &str) -> u32 {
        match self.labels.iter().position(|l| l == label) {
            Some(i) => i as u32,
            None => {
                self.labels.push(label.to_string());
                (self.labels.len() - 1) as u32
            }
        }
    }

    /// Appends a client of a plain metric.
    pub fn push(&mut self, branch: &str, value: f64) {
        let code = self.code(branch);
        self.codes.push(code);
        self.values.push(value);
    }

    /// The branch label of client `i`.
    pub fn branch(&self, i: usize) -> &str {
        &self.labels[self.codes[i] as usize]
    }

    /// Whether the metric is computed from upstream metrics (`depends_on`).
    pub fn is_derived(&self) -> bool {
        !self.upstream.is_empty()
    }

    /// Every column with its length, for the shape check.
    pub(super) fn column_lengths(&self) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        if !self.is_derived() {
            out.push(("the metric", self.values.len()));
        }
        out.extend(
            self.upstream
                .iter()
                .map(|c| (c.name.as_str(), c.values.len())),
        );
        out.extend(
            self.covariate
                .iter()
                .map(|c| (c.name.as_str(), c.values.len())),
        );
        out
    }
}

/// A summary's data after its pre-treatments: branch labels interned (sorted) so that rows move
/// integers, not strings; the target columns (the metric's own, or its upstream metrics') and
/// then the covariate, if any.
pub(crate) struct Prepared<'d> {
    /// Every label of the input, sorted; `frame.codes` index into it.
    pub(crate) labels: Vec<&'d str>,
    pub(crate) frame: Frame,
    /// Names of the columns of `frame` (the metric's own column is named after the metric).
    pub(crate) names: Vec<&'d str>,
    /// Whether each column of `frame` has an integer SQL type.
    pub(crate) integer: Vec<bool>,
    /// Position of the covariate column in `frame`, if the data has one.
    pub(crate) covariate: Option<usize>,
}

impl<'d> Prepared<'d> {
    /// Interns the branches and applies the pre-treatments, in config order, to every target
    /// column (Jetstream applies each to the metric and then to each upstream metric; the
    /// all-NULL placeholder column of a derived metric is not reproduced, see the module docs).
    pub(super) fn new(
        data: &'d MetricData,
        pre_treatments: &[PreTreatment],
        ctx: &'d StatContext,
    ) -> Self {
        let mut labels: Vec<&str> = data.labels.iter().map(String::as_str).collect();
        labels.sort_unstable();
        labels.dedup();
        // Codes in label order, so that references iterate deterministically.
        let remap: Vec<u32> = data
            .labels
            .iter()
            .map(|l| labels.binary_search(&l.as_str()).unwrap_or_default() as u32)
            .collect();
        let codes: Vec<u32> = data.codes.iter().map(|&c| remap[c as usize]).collect();
        let mut columns = Vec::new();
        let mut names = Vec::new();
        let mut integer = Vec::new();
        if data.is_derived() {
            for column in &data.upstream {
                columns.push(column.values.clone());
                names.push(column.name.as_str());
                integer.push(column.integer);
            }
        } else {
            columns.push(data.values.clone());
            names.push(ctx.metric);
            integer.push(data.integer);
        }
        let targets = columns.len();
        let covariate = data.covariate.as_ref().map(|c| {
            columns.push(c.values.clone());
            names.push(c.name.as_str());
            integer.push(c.integer);
            targets
        });
        let mut frame = Frame { codes, columns };
        for pre_treatment in pre_treatments {
            for column in 0..targets {
                pre_treatment.apply(&mut frame, column, ctx.analysis_length_days);
            }
        }
        Prepared {
            labels,
            frame,
            names,
            integer,
            covariate,
        }
    }

    /// The values of `column` of every present branch, in label order.
    pub(crate) fn grouped(&self, column: usize) -> Vec<(&'d str, Vec<f64>)> {
        let mut grouped: Vec<Vec<f64>> = vec![Vec::new(); self.labels.len()];
        for (&code, &value) in self.frame.codes.iter().zip(&self.frame.columns[column]) {
            grouped[code as usize].push(value);
        }
        self.labels
            .iter()
            .copied()
            .zip(grouped)
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// The labels of the branches that still have rows, in label order.
    pub(crate) fn present(&self) -> Vec<&'d str> {
        let mut seen = vec![false; self.labels.len()];
        for &code in &self.frame.codes {
            seen[code as usize] = true;
        }
        self.labels
            .iter()
            .zip(seen)
            .filter(|(_, s)| *s)
            .map(|(l, _)| *l)
            .collect()
    }

    /// The target column named `name`.
    pub(crate) fn target(&self, name: &str) -> Option<usize> {
        let targets = self.covariate.unwrap_or(self.names.len());
        self.names[..targets].iter().position(|n| *n == name)
    }
}
