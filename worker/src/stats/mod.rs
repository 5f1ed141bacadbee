//! Statistics of one metric in one (period, window, segment, basis): Jetstream's
//! `statistics.py` (`Summary.run`, `Statistic.apply`, the statistic classes it uses) and
//! `pre_treatment.py`, on top of the mozanalysis computations they call.
//!
//! Every statistic of Jetstream (config name → `statistic` column): `bootstrap_mean` → `mean`,
//! `binomial`, `count`, `sum`, `deciles` (`deciles.rs`), `empirical_cdf` and
//! `kernel_density_estimate` (`distribution.rs`), `population_ratio` (`population_ratio.rs`),
//! and `linear_model_mean` → `mean_lm`, `linear_model_mean_no_clip` → `mean_lm_noclip`,
//! `per_client_dau_impact` (`linear_model.rs`, with CUPED covariates). Names Jetstream does not
//! know give its "does not exist" error; parameters are checked against the shared catalog
//! (`statistic.rs`).
//!
//! # Data
//! [`MetricData`] (`data.rs`) is what Jetstream's subset query returns: the metric's non-NULL values, or for
//! a metric computed from others (`depends_on`) its upstream columns, plus the pre-enrollment
//! covariate when a linear model adjusts for one. Pre-treatments apply in config order to the
//! metric's column, or to each upstream column of a derived metric. Upstream also applies them
//! to the derived metric's all-NULL placeholder column first, so a filtering pre-treatment
//! (`remove_nulls`, `censor_*`) on a `population_ratio` metric empties its data there; here the
//! placeholder does not exist and such pre-treatments work on the upstream columns (a
//! deliberate fix).
//!
//! # Pairwise references
//! As in Jetstream, every branch present in the data is used in turn as the reference (in label
//! order, for determinism); rows are collected by [`StatisticRow::dedup_key`] with the last
//! write winning and returned in key order. A failing reference iteration is recorded as one
//! error and the other iterations still produce their rows.
//!
//! # Randomness
//! Upstream draws from unseeded numpy generators. Here every random stream is derived from the
//! run seed and the identity of the computation ([`derive_seed`]), so a rerun reproduces its
//! rows exactly whatever the number of threads. Each summary's seed keys ChaCha8 streams per
//! branch (and, for the bootstraps, per chunk of 256 draws; each chunk's stream seeds a
//! xoshiro256++ generator for the bulk of its draws, about twice as fast). Numbers are
//! statistically, not bit-for-bit, equivalent to upstream's.
//!
//! # Deliberate deviation: comparative bounds at any width
//! mozanalysis summarises comparisons only at the fixed quantiles (0.005, 0.025, 0.5, 0.975,
//! 0.995) (and, for `binomial`, the individual rows too), and Jetstream looks the bounds up by
//! label, so a `confidence_interval` other than 0.95 or 0.99 yields null bounds. This module
//! computes the quantiles `(1 − w)/2` and `1 − (1 − w)/2` of the samples (or of the Beta
//! posterior) directly, so any width gets bounds; for 0.95 (and 0.99) both agree.

mod binomial;
mod bootstrap;
pub mod calibration;
mod data;
mod deciles;
mod distribution;
mod linear_model;
mod population_ratio;
mod pretreatment;
mod quantile;
mod random;
mod statistic;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_multi;

use data::Prepared;
pub use data::{DataColumn, MetricData};
use jetstream_proto::spec::SummarySpec;
use jetstream_proto::statistic::RowKey;
use jetstream_proto::{AnalysisBasis, AnalysisError, AnalysisPeriod, Comparison, StatisticRow};
pub use linear_model::CovariateAdjustment;
use pretreatment::PreTreatment;
use quantile::{mean, quantile_select};
use rayon::prelude::*;
use statistic::{BootstrapParams, Statistic};
use std::collections::BTreeMap;

/// Identity of the computation, for rows, error records and seeds.
#[derive(Debug, Clone, Copy)]
pub struct StatContext<'a> {
    pub experiment: &'a str,
    pub metric: &'a str,
    pub segment: &'a str,
    pub basis: AnalysisBasis,
    pub period: AnalysisPeriod,
    pub window_index: u32,
    pub analysis_length_days: i64,
    /// Run seed; each statistic derives its own via `derive_seed`.
    pub seed: u64,
    /// The experiment's configured branches (for zero counts), in Experimenter order.
    pub branches: &'a [String],
}

/// The rows of one summary, and the errors of whatever failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatOutput {
    pub rows: Vec<StatisticRow>,
    pub errors: Vec<AnalysisError>,
}

/// Deterministic 64-bit seed from the run seed and the identity parts: the first 8 bytes
/// (little-endian) of SHA-256 over a domain tag, the run seed (little-endian) and each part
/// length-prefixed. Stable across platforms, runs and builds.
pub fn derive_seed(run_seed: u64, parts: &[&str]) -> u64 {
    let digest = random::seed_digest(run_seed, parts);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The pre-enrollment covariate a summary reads when computed in `period`: its statistic's
/// `covariate_adjustment`, if it applies there. The caller joins the covariate metric of that
/// period's table as `MetricData::covariate` (named [`CovariateAdjustment::column`]); an invalid
/// parameter gives None here and is reported by [`run_summary`].
pub fn covariate_request(
    summary: &SummarySpec,
    period: AnalysisPeriod,
) -> Option<CovariateAdjustment> {
    let value = summary.statistic.params.get("covariate_adjustment")?;
    let adjustment = CovariateAdjustment::from_value(value).ok()?;
    adjustment.applies_in(period).then_some(adjustment)
}

/// Jetstream's `counts`: metric "identity", statistic "count", one row per configured branch
/// (point = number of clients of that branch in `population_branches`, 0 if absent), plus rows
/// for any unconfigured branch present in the data (in label order, after the configured ones).
pub fn counts(population_branches: &[String], ctx: &StatContext) -> Vec<StatisticRow> {
    let mut tally: BTreeMap<&str, u64> = BTreeMap::new();
    for branch in population_branches {
        *tally.entry(branch.as_str()).or_default() += 1;
    }
    let mut order: Vec<&str> = Vec::new();
    for branch in ctx.branches {
        if !order.contains(&branch.as_str()) {
            order.push(branch);
        }
    }
    let unconfigured: Vec<&str> = tally
        .keys()
        .copied()
        .filter(|b| !order.contains(b))
        .collect();
    order.extend(unconfigured);
    order
        .into_iter()
        .map(|branch| {
            let n = tally.get(branch).copied().unwrap_or(0);
            let mut row = base_row(ctx, "identity", "count", branch);
            row.point = Some(n as f64);
            row.normalized()
        })
        .collect()
}

/// Applies the summary's pre-treatments then its statistic, with every branch present in the
/// data used in turn as the reference. Never panics on bad data: failures become `errors`
/// (one per failing reference iteration, as Jetstream logs them), and the rest still completes.
///
/// Errors recorded once for the whole summary (no rows): an unknown statistic or pre-treatment,
/// bad parameters or arguments, mismatched input columns, and data left empty (no client has a
/// value, before or after the pre-treatments). Errors recorded once per reference iteration:
/// data the statistic refuses (NaN for `bootstrap_mean`, non-0/1 values for `binomial`, a
/// `confidence_interval` whose quantiles fall outside [0, 1] for `bootstrap_mean`), and a
/// reference against which some branch's relative uplift is undefined (every sample
/// non-finite, e.g. an all-zero reference); in that last case the iteration's rows are still
/// returned, the undefined values as null, as upstream returns them.
pub fn run_summary(summary: &SummarySpec, data: &MetricData, ctx: &StatContext) -> StatOutput {
    let name = summary.statistic.name.as_str();
    let fail = |reason: String| StatOutput {
        rows: Vec::new(),
        errors: vec![statistic_error(ctx, name, &reason)],
    };
    let statistic = match Statistic::from_spec(&summary.statistic) {
        Ok(statistic) => statistic,
        Err(reason) => return fail(reason),
    };
    let pre_treatments = match summary
        .pre_treatments
        .iter()
        .map(PreTreatment::from_spec)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(reason) => return fail(reason),
    };
    if let Some((column, len)) = data
        .column_lengths()
        .into_iter()
        .find(|(_, len)| *len != data.codes.len())
    {
        return fail(format!(
            "metric data has {} branch labels but {len} values in {column}",
            data.codes.len()
        ));
    }
    if let Some(code) = data
        .codes
        .iter()
        .find(|c| **c as usize >= data.labels.len())
    {
        return fail(format!(
            "metric data has branch code {code} but only {} labels",
            data.labels.len()
        ));
    }
    if data.is_derived() && !matches!(statistic, Statistic::PopulationRatio(_)) {
        let upstream: Vec<&str> = data.upstream.iter().map(|c| c.name.as_str()).collect();
        return fail(format!(
            "metric {} is computed from other metrics ({}); statistic {name} needs values of its \
             own (use population_ratio, or give the metric a select_expression)",
            ctx.metric,
            upstream.join(", ")
        ));
    }
    if data.codes.is_empty() {
        return fail("no client has a value for this metric".to_string());
    }
    let prepared = Prepared::new(data, &pre_treatments, ctx);
    if prepared.frame.len() == 0 {
        return fail("no client has a value for this metric after its pre-treatments".to_string());
    }

    let seed = derive_seed(
        ctx.seed,
        &[
            ctx.experiment,
            ctx.metric,
            name,
            ctx.segment,
            ctx.basis.value(),
            ctx.period.value(),
            &ctx.window_index.to_string(),
        ],
    );
    let mut collector = Collector::new(ctx, name);
    match &statistic {
        Statistic::PopulationRatio(params) => {
            population_ratio::run(params, &prepared, seed, &mut collector)
        }
        Statistic::LinearModel(params) => linear_model::run(params, &prepared, &mut collector),
        _ => run_univariate(&statistic, &prepared.grouped(0), seed, &mut collector),
    }
    collector.finish()
}

/// The statistics over a single column, branch by branch.
fn run_univariate(
    statistic: &Statistic,
    branches: &[(&str, Vec<f64>)],
    seed: u64,
    collector: &mut Collector,
) {
    let ctx = collector.ctx;
    match statistic {
        Statistic::Count | Statistic::Sum => {
            let sum = matches!(statistic, Statistic::Sum);
            let output_name = statistic.output_name();
            for (label, values) in branches {
                let mut row = base_row(ctx, ctx.metric, output_name, label);
                // pandas's sum skips nulls (NaN); the count is the number of clients.
                row.point = Some(if sum {
                    values.iter().filter(|v| !v.is_nan()).sum()
                } else {
                    values.len() as f64
                });
                collector.insert(row);
            }
        }
        Statistic::BootstrapMean(params) => bootstrap_mean(params, branches, seed, collector),
        Statistic::Binomial {
            confidence_interval,
        } => binomial(*confidence_interval, branches, seed, collector),
        Statistic::EmpiricalCdf {
            grid_size,
            log_space,
        } => distribution::empirical_cdf(*grid_size, *log_space, branches, collector),
        Statistic::KernelDensity(params) => {
            distribution::kernel_density_estimate(params, branches, collector)
        }
        Statistic::Deciles {
            num_samples,
            confidence_interval,
        } => deciles(
            *num_samples,
            *confidence_interval,
            branches,
            seed,
            collector,
        ),
        Statistic::PopulationRatio(_) | Statistic::LinearModel(_) => {
            collector.error("internal: a multi-column statistic reached the univariate path")
        }
    }
}

/// Rows keyed by their dedup key (last write wins) and the errors of one summary.
struct Collector<'c, 'a> {
    ctx: &'c StatContext<'a>,
    name: &'c str,
    rows: BTreeMap<RowKey, StatisticRow>,
    errors: Vec<AnalysisError>,
}

impl<'c, 'a> Collector<'c, 'a> {
    fn new(ctx: &'c StatContext<'a>, name: &'c str) -> Self {
        Collector {
            ctx,
            name,
            rows: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    fn insert(&mut self, row: StatisticRow) {
        let row = row.normalized();
        self.rows.insert(row.dedup_key(), row);
    }

    fn error(&mut self, reason: &str) {
        self.errors
            .push(statistic_error(self.ctx, self.name, reason));
    }

    /// A record at WARNING level: the data (or config) prevents a result, nothing failed.
    fn warning(&mut self, reason: &str) {
        self.errors
            .push(statistic_record(self.ctx, self.name, reason, "WARNING"));
    }

    fn finish(self) -> StatOutput {
        StatOutput {
            rows: self.rows.into_values().collect(),
            errors: self.errors,
        }
    }
}

/// The lower and upper quantile levels `(1 − w)/2` and `1 − (1 − w)/2` of a nominal interval
/// width, if numpy would accept them. Levels are rounded to 12 decimals so that a width of 0.95
/// gives exactly mozanalysis's literal levels 0.025 and 0.975 (the raw arithmetic gives
/// 0.025000000000000022).
fn interval_levels(width: f64) -> Option<(f64, f64)> {
    let round = |x: f64| (x * 1e12).round() / 1e12;
    let c = (1.0 - width) / 2.0;
    let (lo, hi) = (round(c), round(1.0 - c));
    ((0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi)).then_some((lo, hi))
}

/// Mean and interval of samples (reordered in place).
fn summarise(samples: &mut [f64], levels: Option<(f64, f64)>) -> (f64, Option<f64>, Option<f64>) {
    let point = mean(samples);
    match levels {
        Some((lo, hi)) => (
            point,
            Some(quantile_select(samples, lo)),
            Some(quantile_select(samples, hi)),
        ),
        None => (point, None, None),
    }
}

/// A present branch's summary inputs for the pairwise comparisons.
struct BranchSamples<'b> {
    label: &'b str,
    individual: StatisticRow,
    samples: Vec<f64>,
}

impl<'b> BranchSamples<'b> {
    /// A branch's samples with its individual row: the samples' mean and interval at `levels`.
    fn summarised(
        ctx: &StatContext,
        statistic: &str,
        label: &'b str,
        parameter: Option<f64>,
        width: f64,
        levels: (f64, f64),
        samples: Vec<f64>,
    ) -> BranchSamples<'b> {
        let mut scratch = samples.clone();
        let (point, lower, upper) = summarise(&mut scratch, Some(levels));
        let mut row = base_row(ctx, ctx.metric, statistic, label);
        row.parameter = parameter;
        row.ci_width = Some(width);
        row.point = Some(point);
        row.lower = lower;
        row.upper = upper;
        BranchSamples {
            label,
            individual: row,
            samples,
        }
    }
}

/// Jetstream's reference loop for a statistic with an interval: for every present branch as
/// reference (in label order), the individual rows of every branch plus a `difference` and a
/// `relative_uplift` row for every other branch, paired draw by draw.
fn pairwise(
    collector: &mut Collector,
    statistic: &str,
    width: f64,
    levels: Option<(f64, f64)>,
    branches: &[BranchSamples],
    references: &[&str],
) {
    for reference in references {
        match reference_iteration(collector.ctx, statistic, width, levels, branches, reference) {
            Ok((rows, note)) => {
                rows.into_iter().for_each(|row| collector.insert(row));
                // A zero reference decile (common: the 10th percentile of a count) makes the
                // relative uplift undefined as a matter of course; upstream writes the rows with
                // nulls and logs nothing, and so do we. For the means it is worth an error.
                if let Some(note) = note.filter(|_| statistic != "deciles") {
                    collector.error(&note);
                }
            }
            Err(reason) => collector.error(&reason),
        }
    }
}

/// One reference iteration: its rows, and a note when some relative uplift is undefined.
fn reference_iteration(
    ctx: &StatContext,
    statistic: &str,
    width: f64,
    levels: Option<(f64, f64)>,
    branches: &[BranchSamples],
    reference: &str,
) -> Result<(Vec<StatisticRow>, Option<String>), String> {
    let Some(reference_samples) = branches
        .iter()
        .find(|b| b.label == reference)
        .map(|b| b.samples.as_slice())
    else {
        let labels: Vec<&str> = branches.iter().map(|b| b.label).collect();
        return Err(format!(
            "Branch label '{reference}' not in branch list '{labels:?}'"
        ));
    };
    if reference_samples.is_empty() {
        return Err(format!("reference branch '{reference}' has no samples"));
    }
    let mut rows: Vec<StatisticRow> = branches.iter().map(|b| b.individual.clone()).collect();
    let mut undefined = Vec::new();
    for branch in branches.iter().filter(|b| b.label != reference) {
        if branch.samples.len() != reference_samples.len() {
            return Err(format!(
                "branch '{}' has {} samples but reference '{reference}' has {}",
                branch.label,
                branch.samples.len(),
                reference_samples.len()
            ));
        }
        let mut difference: Vec<f64> = branch
            .samples
            .iter()
            .zip(reference_samples)
            .map(|(b, r)| b - r)
            .collect();
        let mut relative: Vec<f64> = branch
            .samples
            .iter()
            .zip(reference_samples)
            .map(|(b, r)| b / r - 1.0)
            .collect();
        if relative.iter().all(|x| !x.is_finite()) {
            undefined.push(branch.label);
        }
        for (comparison, samples) in [
            (Comparison::Difference, &mut difference),
            (Comparison::RelativeUplift, &mut relative),
        ] {
            let (point, lower, upper) = summarise(samples, levels);
            let mut row = base_row(ctx, ctx.metric, statistic, branch.label);
            row.parameter = branch.individual.parameter;
            row.comparison = Some(comparison);
            row.comparison_to_branch = Some(reference.to_string());
            row.ci_width = Some(width);
            row.point = Some(point);
            row.lower = lower;
            row.upper = upper;
            rows.push(row);
        }
    }
    let note = (!undefined.is_empty()).then(|| {
        format!(
            "relative uplift versus reference branch '{reference}' is undefined for {undefined:?}: \
             every sample of the ratio is non-finite (the reference's samples are zero)"
        )
    });
    Ok((rows, note))
}

/// `bootstrap_mean`: Rubin's Bayesian bootstrap of each branch's (capped) mean.
///
/// Each branch's samples are drawn once and reused for every reference iteration (upstream
/// redraws per iteration; the distributions are the same, and the individual rows agree across
/// iterations). Comparative bounds are the requested quantiles of the paired samples, so any
/// `confidence_interval` gets bounds (upstream: only 0.95 and 0.99; see the module docs).
fn bootstrap_mean(
    params: &BootstrapParams,
    branches: &[(&str, Vec<f64>)],
    seed: u64,
    collector: &mut Collector,
) {
    let references: Vec<&str> = branches.iter().map(|(label, _)| *label).collect();
    let fail_every_iteration = |collector: &mut Collector, reason: &str| {
        references.iter().for_each(|_| collector.error(reason));
    };
    let threshold_quantile = 1.0 - params.drop_highest;
    let mut tallies = Vec::with_capacity(branches.len());
    for (_, values) in branches {
        match bootstrap::prepare(values, threshold_quantile) {
            Ok(tally) => tallies.push(tally),
            Err(reason) => return fail_every_iteration(collector, &reason),
        }
    }
    let Some(levels) = interval_levels(params.confidence_interval) else {
        return fail_every_iteration(collector, "Quantiles must be in the range [0, 1]");
    };
    let samples: Vec<Vec<f64>> = branches
        .par_iter()
        .zip(&tallies)
        .map(|((label, _), tally)| {
            bootstrap::bb_mean_samples(tally, params.num_samples, seed, label)
        })
        .collect();
    let labels: Vec<&str> = branches.iter().map(|(label, _)| *label).collect();
    compare_samples(
        collector,
        "mean",
        None,
        (params.confidence_interval, levels),
        labels.into_iter().zip(samples).collect(),
        &references,
    );
}

/// The bootstraps' common tail: each branch's samples summarised into its individual row, then
/// the pairwise comparisons for every reference.
fn compare_samples(
    collector: &mut Collector,
    statistic: &str,
    parameter: Option<f64>,
    (width, levels): (f64, (f64, f64)),
    samples: Vec<(&str, Vec<f64>)>,
    references: &[&str],
) {
    let ctx = collector.ctx;
    let summaries: Vec<BranchSamples> = samples
        .into_iter()
        .map(|(label, samples)| {
            BranchSamples::summarised(ctx, statistic, label, parameter, width, levels, samples)
        })
        .collect();
    pairwise(
        collector,
        statistic,
        width,
        Some(levels),
        &summaries,
        references,
    );
}

/// `deciles`: for each decile, the quantile bootstrap of every branch (`deciles.rs`), with
/// individual and comparative rows at the requested width and `parameter` = the decile.
fn deciles(
    num_samples: usize,
    width: f64,
    branches: &[(&str, Vec<f64>)],
    seed: u64,
    collector: &mut Collector,
) {
    let references: Vec<&str> = branches.iter().map(|(label, _)| *label).collect();
    if branches.iter().any(|(_, v)| v.iter().any(|x| x.is_nan())) {
        let reason = "'data' contains null values";
        references.iter().for_each(|_| collector.error(reason));
        return;
    }
    let Some(levels) = interval_levels(width) else {
        references
            .iter()
            .for_each(|_| collector.error("Quantiles must be in the range [0, 1]"));
        return;
    };
    let sorted: Vec<Vec<f64>> = branches
        .par_iter()
        .map(|(_, values)| {
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            sorted
        })
        .collect();
    // Every (decile, branch) stream at once, so that all cores share the draws.
    let tasks: Vec<(usize, usize)> = (0..deciles::DECILES.len())
        .flat_map(|d| (0..branches.len()).map(move |b| (d, b)))
        .collect();
    let mut drawn: Vec<Vec<f64>> = tasks
        .par_iter()
        .map(|&(d, b)| {
            let q = deciles::DECILES[d];
            deciles::quantile_samples(&sorted[b], q, num_samples, seed, branches[b].0, d)
        })
        .collect();
    for (index, q) in deciles::DECILES.iter().enumerate().rev() {
        let samples: Vec<Vec<f64>> = drawn.split_off(index * branches.len());
        let labels = branches.iter().map(|(label, _)| *label);
        compare_samples(
            collector,
            "deciles",
            Some(*q),
            (width, levels),
            labels.zip(samples).collect(),
            &references,
        );
    }
}

/// `binomial`: Beta(k + 1, n − k + 1) posteriors; analytic individual rows, Monte-Carlo
/// comparisons.
///
/// Bounds are taken at the requested width for individual and comparative rows alike
/// (upstream always uses its fixed quantile list here, so any width but 0.95 and 0.99 gives null
/// bounds; see the module docs). A width whose quantile levels fall outside [0, 1] gives null
/// bounds rather than an error, as upstream gives rows either way.
fn binomial(width: f64, branches: &[(&str, Vec<f64>)], seed: u64, collector: &mut Collector) {
    let ctx = collector.ctx;
    let references: Vec<&str> = branches.iter().map(|(label, _)| *label).collect();
    let mut tallies = Vec::with_capacity(branches.len());
    for (_, values) in branches {
        match binomial::tally(values, ctx.metric) {
            Ok(t) => tallies.push(t),
            Err(reason) => {
                references.iter().for_each(|_| collector.error(&reason));
                return;
            }
        }
    }
    let levels = interval_levels(width);
    let mut summaries = Vec::with_capacity(branches.len());
    for ((label, _), conversions) in branches.iter().zip(&tallies) {
        let computed = conversions.samples(seed, label).and_then(|samples| {
            let bounds = match levels {
                Some((lo, hi)) => (Some(conversions.ppf(lo)?), Some(conversions.ppf(hi)?)),
                None => (None, None),
            };
            Ok((samples, bounds))
        });
        let (samples, (lower, upper)) = match computed {
            Ok(c) => c,
            Err(reason) => {
                references.iter().for_each(|_| collector.error(&reason));
                return;
            }
        };
        let mut row = base_row(ctx, ctx.metric, "binomial", label);
        row.ci_width = Some(width);
        row.point = Some(conversions.point());
        row.lower = lower;
        row.upper = upper;
        summaries.push(BranchSamples {
            label,
            individual: row,
            samples,
        });
    }
    pairwise(
        collector,
        "binomial",
        width,
        levels,
        &summaries,
        &references,
    );
}

/// An individual row with the context's segment and basis.
fn base_row(ctx: &StatContext, metric: &str, statistic: &str, branch: &str) -> StatisticRow {
    let mut row = StatisticRow::individual(metric, statistic, branch);
    row.segment = ctx.segment.to_string();
    row.analysis_basis = Some(ctx.basis);
    row
}

/// The error record of a failed statistic computation, as Jetstream logs it.
pub fn statistic_error(ctx: &StatContext, statistic: &str, reason: &str) -> AnalysisError {
    statistic_record(ctx, statistic, reason, "ERROR")
}

/// A record of a statistic at `level` (ERROR, or WARNING when the data prevents a result).
fn statistic_record(
    ctx: &StatContext,
    statistic: &str,
    reason: &str,
    level: &str,
) -> AnalysisError {
    tracing::warn!(
        experiment = ctx.experiment,
        metric = ctx.metric,
        statistic,
        segment = ctx.segment,
        level,
        "statistic: {reason}"
    );
    AnalysisError {
        timestamp: chrono::Utc::now(),
        log_level: level.to_string(),
        experiment: Some(ctx.experiment.to_string()),
        metric: Some(ctx.metric.to_string()),
        statistic: Some(statistic.to_string()),
        segment: Some(ctx.segment.to_string()),
        analysis_basis: Some(ctx.basis),
        analysis_period: Some(ctx.period.value().to_string()),
        message: format!(
            "Error while computing statistic {statistic} for metric {}: {reason}",
            ctx.metric
        ),
        exception: Some(reason.to_string()),
        exception_type: Some("StatisticComputationException".to_string()),
        filename: "worker/src/stats/mod.rs".to_string(),
        func_name: "run_summary".to_string(),
    }
}
