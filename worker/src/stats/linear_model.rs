//! `linear_model_mean` (`mean_lm`), `linear_model_mean_no_clip` (`mean_lm_noclip`) and
//! `per_client_dau_impact`: Jetstream's `LinearModelMean` family over mozanalysis's
//! `compare_branches_lm` — t-intervals for each branch's mean, and an OLS fit of
//! `y ~ branch [+ covariate]` (CUPED when the covariate is the metric's pre-enrollment value) for
//! the comparisons. Deterministic; the peer comparison holds these rows to 1e-9.
//!
//! # What each row is
//! - Individual: the branch's mean of the modelled rows, `mean ± t(1 − α/2, n − 1)·s/√n`.
//! - `difference`: the branch's coefficient, with its t-interval on the residual degrees of
//!   freedom (non-robust covariance `σ̂²(XᵀX)⁻¹`, `σ̂² = RSS/(n − p)`).
//! - `relative_uplift`: `μ_T/μ_C − 1` with `μ = β₀ + β_T + β_cov·q̄`, where q̄ is the mean of
//!   the covariate's 10,000 quantiles at 0, 0.0001, …, 0.9999 (what marginaleffects'
//!   balanced grid averages over); the interval is the delta method on `ln(μ_T/μ_C)` with a
//!   normal quantile, exponentiated — the closed form of upstream's `avg_comparisons(…,
//!   comparison = "lnratioavg", transform = exp)`. Upstream's marginaleffects differentiates
//!   by forward finite differences (step `|β|·√ε`), whose rounding noise reaches 1e-7 relative
//!   in the standard error; the analytic gradient here is exact (statsmodels' own delta method
//!   agrees with it to 1e-15 on the peer's 100k file), so these two bounds differ from upstream's
//!   by ~1e-8 absolute, every other value by less than 1e-10 relative.
//! - `per_client_dau_impact` keeps only the comparisons of configured branches, the differences
//!   multiplied by the number of clients in the data (the DAU gained by shipping the branch to
//!   the experiment's population).
//!
//! # Kept from upstream
//! Outliers are clipped at the pooled `1 − drop_highest` quantile of all branches (rounded up
//! for integer columns, as pandas keeps them integral), the covariate likewise; rows with a
//! NULL target or covariate are then left out. A reference branch whose clipped values are all
//! zero gives a warning and no rows for that reference (its relative uplift is undefined). A
//! metric without variation gives the rows with null values (upstream's "empty output"), and a
//! model that cannot be fitted (a perfect fit, a singular design) gives null comparisons; both
//! are also recorded as warnings here, where upstream stays silent or only logs.
//!
//! # Deliberate differences
//! - Upstream clips the caller's data frame in place (`interactive=False`), so every further
//!   reference iteration clips already-clipped data again at a new, lower quantile; the rows
//!   then depend on the number and order of branches. Here the data is clipped once, at the
//!   pooled quantile of the data as given, for every reference. (For integer metrics the
//!   rounded-up threshold is usually a fixed point, so the two agree, as on the peer data.)
//! - A covariate that is constant, or collinear with the branches, falls back to the
//!   unadjusted model with a warning instead of depending on whether numpy's inversion of a
//!   singular matrix happens to raise.
//! - `confidence_interval` is honoured (upstream fixes 95 %); `drop_highest` may be an integer.

use super::pretreatment::skipna_quantile;
use super::quantile::quantile_sorted;
use super::{base_row, Collector, Prepared};
pub use jetstream_proto::catalog::CovariateAdjustment;
use jetstream_proto::{Comparison, StatisticRow};
use statrs::distribution::{Continuous, ContinuousCDF, Normal, StudentsT};

/// Which statistic of the family, and so which rows it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LmOutput {
    Mean,
    MeanNoClip,
    DauImpact,
}

impl LmOutput {
    /// The `statistic` column.
    pub(crate) fn statistic(self) -> &'static str {
        match self {
            LmOutput::Mean => "mean_lm",
            LmOutput::MeanNoClip => "mean_lm_noclip",
            LmOutput::DauImpact => "per_client_dau_impact",
        }
    }
}

/// Parameters of the family.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LmParams {
    pub(crate) output: LmOutput,
    pub(crate) drop_highest: f64,
    pub(crate) confidence_interval: f64,
    pub(crate) covariate: Option<CovariateAdjustment>,
}

/// Runs the statistic with every present branch as the reference.
pub(super) fn run(params: &LmParams, data: &Prepared, collector: &mut Collector) {
    let ctx = collector.ctx;
    let statistic = params.output.statistic();
    let references = data.present();
    let fail_every_iteration = |collector: &mut Collector, reason: &str| {
        references.iter().for_each(|_| collector.error(reason));
    };
    if params.output == LmOutput::DauImpact && references.len() < 2 {
        // Its rows are comparisons only: with one branch there is nothing to write.
        collector.warning(&format!(
            "per_client_dau_impact compares branches, but only {references:?} has data"
        ));
        return;
    }
    let alpha = 1.0 - params.confidence_interval;
    if !(0.002..1.0).contains(&alpha) {
        return fail_every_iteration(collector, "alpha must be in (0.002,1)");
    }
    let threshold_quantile = 1.0 - params.drop_highest;
    if threshold_quantile <= 0.0 || threshold_quantile > 1.0 {
        return fail_every_iteration(collector, "Threshold quantile must be in (0,1]");
    }
    let wants_covariate = params
        .covariate
        .as_ref()
        .is_some_and(|c| c.applies_in(ctx.period));
    let covariate = match (wants_covariate, data.covariate) {
        (true, Some(index)) => Some(index),
        (true, None) => {
            collector.warning(&format!(
                "Falling back to unadjusted inferences for {}",
                ctx.metric
            ));
            None
        }
        (false, _) => None,
    };

    let y = &data.frame.columns[0];
    let mut threshold = skipna_quantile(y, threshold_quantile);
    if data.integer[0] {
        threshold = threshold.ceil();
    }
    let model = Model::new(data, covariate, threshold, threshold_quantile);
    // np.isclose(std, 0); a NaN std (one value) is not close to 0.
    let no_variation = sample_sd(y.iter().copied().filter(|v| !v.is_nan())) <= 1e-8;
    let clients = data.frame.len() as f64;

    // Per branch, for the zero-reference guard: non-null clients, and whether any value is
    // non-zero before and after clipping.
    let mut guard = vec![(0usize, false, false); data.labels.len()];
    for (&code, &v) in data.frame.codes.iter().zip(y) {
        if !v.is_nan() {
            let g = &mut guard[code as usize];
            g.0 += 1;
            g.1 |= v != 0.0;
            g.2 |= v.min(threshold) != 0.0;
        }
    }

    for &reference in &references {
        let code = data
            .labels
            .iter()
            .position(|l| *l == reference)
            .unwrap_or(0);
        let (n, any_raw, any_clipped) = guard[code];
        if n > 0 && !any_clipped {
            let reason = if !any_raw {
                format!(
                    "reference branch '{reference}' has {n} non-null client(s) and all values \
                     for metric '{}' are zero",
                    ctx.metric
                )
            } else {
                format!(
                    "reference branch '{reference}' has {n} non-null client(s) but metric '{}' \
                     became all zeroes after outlier clipping (pooled {threshold_quantile:.3} \
                     quantile threshold is {threshold})",
                    ctx.metric
                )
            };
            collector.warning(&format!(
                "Skipping computing statistic {} for metric {}: {reason}. Cannot compute \
                 because the relative uplift (treatment/reference) is undefined when the \
                 reference mean is zero.",
                collector.name, ctx.metric
            ));
            continue;
        }
        let rows = if no_variation {
            collector.warning(&format!(
                "Metric {} has no variation: its rows have no values",
                ctx.metric
            ));
            empty_rows(ctx, statistic, params, &references, reference)
        } else {
            match model.rows(ctx, statistic, params, alpha, reference, collector) {
                Ok(rows) => rows,
                Err(reason) => {
                    collector.error(&reason);
                    continue;
                }
            }
        };
        for row in rows {
            if let Some(row) = finish_row(row, params.output, clients, ctx.branches) {
                collector.insert(row);
            }
        }
    }
}

/// `per_client_dau_impact` keeps the comparisons of configured branches only, with differences
/// scaled by the number of clients; the other two keep every row.
fn finish_row(
    mut row: StatisticRow,
    output: LmOutput,
    clients: f64,
    configured: &[String],
) -> Option<StatisticRow> {
    if output != LmOutput::DauImpact {
        return Some(row);
    }
    if !configured.contains(&row.branch) {
        return None;
    }
    match row.comparison {
        None => None,
        Some(Comparison::Difference) => {
            for value in [&mut row.point, &mut row.lower, &mut row.upper] {
                *value = value.map(|v| v * clients);
            }
            Some(row)
        }
        Some(_) => Some(row),
    }
}

/// Rows with null values: upstream's "empty output" for a metric without variation.
fn empty_rows(
    ctx: &super::StatContext,
    statistic: &str,
    params: &LmParams,
    branches: &[&str],
    reference: &str,
) -> Vec<StatisticRow> {
    let mut rows = Vec::new();
    for branch in branches {
        let mut row = base_row(ctx, ctx.metric, statistic, branch);
        row.ci_width = Some(params.confidence_interval);
        rows.push(row);
        if *branch != reference {
            for comparison in [Comparison::Difference, Comparison::RelativeUplift] {
                rows.push(comparison_row(
                    ctx, statistic, params, branch, reference, comparison, None,
                ));
            }
        }
    }
    rows
}

fn comparison_row(
    ctx: &super::StatContext,
    statistic: &str,
    params: &LmParams,
    branch: &str,
    reference: &str,
    comparison: Comparison,
    estimate: Option<(f64, f64, f64)>,
) -> StatisticRow {
    let mut row = base_row(ctx, ctx.metric, statistic, branch);
    row.comparison = Some(comparison);
    row.comparison_to_branch = Some(reference.to_string());
    row.ci_width = Some(params.confidence_interval);
    if let Some((point, lower, upper)) = estimate {
        row.point = Some(point);
        row.lower = Some(lower);
        row.upper = Some(upper);
    }
    row
}

/// Sample standard deviation (ddof 1) of the values, NaN below two values (as pandas).
fn sample_sd(values: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for v in values {
        n += 1.0;
        let delta = v - mean;
        mean += delta / n;
        m2 += delta * (v - mean);
    }
    if n < 2.0 {
        f64::NAN
    } else {
        (m2 / (n - 1.0)).sqrt()
    }
}

/// The modelled rows — clipped target and covariate, rows with a NULL in either left out —
/// reduced once to per-branch moments, from which every reference's fit is built in O(branches)
/// (upstream refits over every row for each reference).
struct Model<'d> {
    labels: &'d [&'d str],
    /// Moments of each branch code (None for a branch without modelled rows).
    branches: Vec<Option<Moments>>,
    covariate: Option<CovariateSummary>,
}

/// One branch's modelled rows: count, means, and sums of squares and cross-products about the
/// branch means (centred, so that large means cost no precision). The covariate is taken
/// relative to its pooled mean; without one its terms are 0.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: f64,
    mean_y: f64,
    mean_c: f64,
    ss_yy: f64,
    ss_cc: f64,
    ss_cy: f64,
}

struct CovariateSummary {
    /// q̄ − pooled mean: the balanced grid's covariate average, on the centred scale.
    grid_mean: f64,
    constant: bool,
}

impl<'d> Model<'d> {
    fn new(
        data: &'d Prepared<'d>,
        covariate: Option<usize>,
        threshold: f64,
        threshold_quantile: f64,
    ) -> Model<'d> {
        let y = &data.frame.columns[0];
        let covariate_threshold = covariate.map(|c| {
            let t = skipna_quantile(&data.frame.columns[c], threshold_quantile);
            if data.integer[c] {
                t.ceil()
            } else {
                t
            }
        });
        // The modelled rows: (code, clipped y, clipped covariate or 0).
        let rows: Vec<(usize, f64, f64)> = y
            .iter()
            .enumerate()
            .filter_map(|(i, &value)| {
                let cov = covariate.map(|c| data.frame.columns[c][i]);
                if value.is_nan() || cov.is_some_and(f64::is_nan) {
                    return None;
                }
                let cov = match (cov, covariate_threshold) {
                    (Some(c), Some(t)) => c.min(t),
                    _ => 0.0,
                };
                Some((data.frame.codes[i] as usize, value.min(threshold), cov))
            })
            .collect();
        let summary = covariate.map(|_| {
            let mut sorted: Vec<f64> = rows.iter().map(|r| r.2).collect();
            sorted.sort_unstable_by(f64::total_cmp);
            let pooled = sorted.iter().sum::<f64>() / sorted.len().max(1) as f64;
            // pandas quantiles at np.arange(0, 1, 0.0001), averaged.
            let grid = (0..10_000)
                .map(|k| quantile_sorted(&sorted, k as f64 * 0.0001))
                .sum::<f64>()
                / 10_000.0;
            (
                pooled,
                CovariateSummary {
                    grid_mean: grid - pooled,
                    constant: sorted.first() == sorted.last(),
                },
            )
        });
        let pooled = summary.as_ref().map_or(0.0, |(m, _)| *m);
        let k = data.labels.len();
        let mut sums = vec![Moments::default(); k];
        for &(b, y, c) in &rows {
            sums[b].n += 1.0;
            sums[b].mean_y += y;
            sums[b].mean_c += c - pooled;
        }
        for m in &mut sums {
            if m.n > 0.0 {
                m.mean_y /= m.n;
                m.mean_c /= m.n;
            }
        }
        for &(b, y, c) in &rows {
            let m = &mut sums[b];
            let (dy, dc) = (y - m.mean_y, c - pooled - m.mean_c);
            m.ss_yy += dy * dy;
            m.ss_cc += dc * dc;
            m.ss_cy += dc * dy;
        }
        Model {
            labels: &data.labels,
            branches: sums.into_iter().map(|m| (m.n > 0.0).then_some(m)).collect(),
            covariate: summary.map(|(_, s)| s),
        }
    }

    /// Individual and comparative rows for one reference.
    fn rows(
        &self,
        ctx: &super::StatContext,
        statistic: &str,
        params: &LmParams,
        alpha: f64,
        reference: &str,
        collector: &mut Collector,
    ) -> Result<Vec<StatisticRow>, String> {
        let present: Vec<(usize, Moments)> = self
            .branches
            .iter()
            .enumerate()
            .filter_map(|(b, m)| Some((b, (*m)?)))
            .collect();
        let Some(&(reference_code, _)) = present.iter().find(|(b, _)| self.labels[*b] == reference)
        else {
            return Err(format!("No data from reference branch {reference} found"));
        };
        let mut rows = Vec::new();
        // Individual rows: t-intervals of each branch's mean.
        for (b, m) in &present {
            let half = student_t_quantile(1.0 - alpha / 2.0, m.n - 1.0)
                .map(|t| t * (m.ss_yy / (m.n - 1.0)).sqrt() / m.n.sqrt());
            let mut row = base_row(ctx, ctx.metric, statistic, self.labels[*b]);
            row.ci_width = Some(params.confidence_interval);
            row.point = Some(m.mean_y);
            row.lower = half.map(|h| m.mean_y - h);
            row.upper = half.map(|h| m.mean_y + h);
            rows.push(row);
        }

        let treatments: Vec<(usize, Moments)> = present
            .iter()
            .copied()
            .filter(|(b, _)| *b != reference_code)
            .collect();
        let reference_moments = self.branches[reference_code].unwrap_or_default();
        let fit = match self.fit(&reference_moments, &treatments, true) {
            Ok(fit) => Ok(fit),
            Err(FitError::Singular) if self.covariate.is_some() => {
                collector.warning("Unexpectedly fell back to unadjusted inferences");
                self.fit(&reference_moments, &treatments, false)
            }
            Err(e) => Err(e),
        };
        let fit = match fit {
            Ok(fit) => Some(fit),
            Err(e) => {
                collector.warning(&format!(
                    "{} for target {}; comparisons against {reference} have no values",
                    e.message(),
                    ctx.metric
                ));
                None
            }
        };
        let df_resid = fit.as_ref().map(|f| f.df_resid).unwrap_or(f64::NAN);
        let t = student_t_quantile(1.0 - alpha / 2.0, df_resid);
        let z = normal_quantile(1.0 - alpha / 2.0);
        for (index, (b, _)) in treatments.iter().enumerate() {
            let label = self.labels[*b];
            let (difference, relative) = match &fit {
                None => (None, None),
                Some(fit) => (
                    t.map(|t| fit.difference(index, t)),
                    Some(fit.relative(index, z)),
                ),
            };
            for (comparison, estimate) in [
                (Comparison::Difference, difference),
                (Comparison::RelativeUplift, relative),
            ] {
                rows.push(comparison_row(
                    ctx, statistic, params, label, reference, comparison, estimate,
                ));
            }
        }
        Ok(rows)
    }

    /// OLS by the normal equations over [intercept, one dummy per treatment, covariate], from
    /// the branches' moments: `XᵀX` and `Xᵀy` are sums of per-branch sums, and the residual sum
    /// of squares is, per branch, `SS_yy − 2β·SS_cy + β²·SS_cc + n·(ȳ − a − β·c̄)²`.
    fn fit(
        &self,
        reference: &Moments,
        treatments: &[(usize, Moments)],
        with_covariate: bool,
    ) -> Result<Fit, FitError> {
        let covariate = self.covariate.as_ref().filter(|_| with_covariate);
        if covariate.is_some_and(|c| c.constant) {
            return Err(FitError::Singular);
        }
        let p = 1 + treatments.len() + usize::from(covariate.is_some());
        let cov_col = covariate.map(|_| p - 1);
        // Column 0 (intercept only) for the reference, 1.. for the treatments.
        let columns = std::iter::once((0, reference))
            .chain(treatments.iter().enumerate().map(|(i, (_, m))| (i + 1, m)));
        let mut xtx = vec![0.0; p * p];
        let mut xty = vec![0.0; p];
        for (d, m) in columns.clone() {
            let sum_y = m.n * m.mean_y;
            xtx[0] += m.n;
            xty[0] += sum_y;
            if d > 0 {
                xtx[d] += m.n;
                xtx[d * p + d] += m.n;
                xty[d] += sum_y;
            }
            if let Some(j) = cov_col {
                let sum_c = m.n * m.mean_c;
                xtx[j] += sum_c;
                xtx[j * p + j] += m.ss_cc + m.n * m.mean_c * m.mean_c;
                xty[j] += m.ss_cy + m.n * m.mean_c * m.mean_y;
                if d > 0 {
                    xtx[d * p + j] += sum_c;
                }
            }
        }
        for r in 0..p {
            for c in 0..r {
                xtx[r * p + c] = xtx[c * p + r];
            }
        }
        let factor = cholesky(&xtx, p).ok_or(FitError::Singular)?;
        let beta = cholesky_solve(&factor, p, &xty);
        let mut inverse = vec![0.0; p * p];
        for j in 0..p {
            let mut e = vec![0.0; p];
            e[j] = 1.0;
            let col = cholesky_solve(&factor, p, &e);
            for i in 0..p {
                inverse[i * p + j] = col[i];
            }
        }
        let slope = cov_col.map_or(0.0, |j| beta[j]);
        let (mut rss, mut n) = (0.0, 0.0);
        for (d, m) in columns {
            let intercept = beta[0] + if d > 0 { beta[d] } else { 0.0 };
            let (ss_cy, ss_cc) = if cov_col.is_some() {
                (m.ss_cy, m.ss_cc)
            } else {
                (0.0, 0.0)
            };
            let offset = m.mean_y - intercept - slope * m.mean_c;
            rss += m.ss_yy - 2.0 * slope * ss_cy + slope * slope * ss_cc + m.n * offset * offset;
            n += m.n;
        }
        let df_resid = n - p as f64;
        // A perfect fit has an infinite log-likelihood: upstream's FailedToFitModel.
        if rss.is_nan() || rss <= 0.0 || !rss.is_finite() || df_resid <= 0.0 {
            return Err(FitError::Degenerate);
        }
        let scale = rss / df_resid;
        Ok(Fit {
            beta,
            covariance: inverse.iter().map(|v| v * scale).collect(),
            p,
            df_resid,
            grid_mean: covariate.map(|c| c.grid_mean),
        })
    }
}

#[derive(Debug)]
enum FitError {
    Singular,
    Degenerate,
}

impl FitError {
    fn message(&self) -> &'static str {
        match self {
            FitError::Singular => "Encountered a linear algebra error when fitting model",
            FitError::Degenerate => "Failed to fit model",
        }
    }
}

/// A fitted model: coefficients [intercept, treatments…, covariate] and their covariance.
struct Fit {
    beta: Vec<f64>,
    covariance: Vec<f64>,
    p: usize,
    df_resid: f64,
    grid_mean: Option<f64>,
}

impl Fit {
    /// The treatment's coefficient with its t-interval.
    fn difference(&self, treatment: usize, t: f64) -> (f64, f64, f64) {
        let j = treatment + 1;
        let estimate = self.beta[j];
        let se = self.covariance[j * self.p + j].sqrt();
        (estimate, estimate - t * se, estimate + t * se)
    }

    /// `μ_T/μ_C − 1` by the delta method on the log ratio (see the module docs).
    fn relative(&self, treatment: usize, z: f64) -> (f64, f64, f64) {
        let j = treatment + 1;
        let cov_term = self
            .grid_mean
            .map(|q| self.beta[self.p - 1] * q)
            .unwrap_or(0.0);
        let control = self.beta[0] + cov_term;
        let treated = control + self.beta[j];
        let estimate = (treated / control).ln();
        let mut gradient = vec![0.0; self.p];
        gradient[0] = 1.0 / treated - 1.0 / control;
        gradient[j] = 1.0 / treated;
        if let Some(q) = self.grid_mean {
            gradient[self.p - 1] = q * (1.0 / treated - 1.0 / control);
        }
        let mut variance = 0.0;
        for a in 0..self.p {
            for b in 0..self.p {
                variance += gradient[a] * self.covariance[a * self.p + b] * gradient[b];
            }
        }
        let se = variance.sqrt();
        (
            estimate.exp() - 1.0,
            (estimate - z * se).exp() - 1.0,
            (estimate + z * se).exp() - 1.0,
        )
    }
}

/// Lower Cholesky factor of a symmetric positive-definite matrix (row-major), or None when a
/// pivot is not clearly positive (a singular or collinear design).
fn cholesky(a: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; p * p];
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= l[j * p + k] * l[j * p + k];
        }
        if d.is_nan() || d <= 1e-10 * a[j * p + j].abs() || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        l[j * p + j] = d;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= l[i * p + k] * l[j * p + k];
            }
            l[i * p + j] = s / d;
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b`.
fn cholesky_solve(l: &[f64], p: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; p];
    for i in 0..p {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * p + k] * y[k];
        }
        y[i] = s / l[i * p + i];
    }
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        let mut s = y[i];
        for k in i + 1..p {
            s -= l[k * p + i] * x[k];
        }
        x[i] = s / l[i * p + i];
    }
    x
}

/// Student's t quantile, polished by Newton steps on statrs's CDF (its inverse loses digits for
/// large degrees of freedom). None for degrees of freedom that are not positive.
pub(crate) fn student_t_quantile(p: f64, df: f64) -> Option<f64> {
    if df.is_nan() || df <= 0.0 || !df.is_finite() {
        return None;
    }
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let mut x = dist.inverse_cdf(p);
    for _ in 0..4 {
        let density = dist.pdf(x);
        if density.is_nan() || density <= 0.0 {
            break;
        }
        x -= (dist.cdf(x) - p) / density;
    }
    x.is_finite().then_some(x)
}

/// Standard normal quantile (statrs's inverse, accurate to ~1e-16; its CDF is not accurate
/// enough to polish with).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    Normal::new(0.0, 1.0)
        .map(|dist| dist.inverse_cdf(p))
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jetstream_proto::AnalysisPeriod;

    #[test]
    fn quantiles_are_accurate() {
        // scipy.stats.t.ppf(0.975, df) and norm.ppf(0.975).
        let cases = [
            (1.0, 12.706204736174694),
            (9.0, 2.262157162798205),
            (4998.0, 1.9604387416545477),
            (99_998.0, 1.9599877080090842),
        ];
        for (df, expected) in cases {
            let t = student_t_quantile(0.975, df).unwrap();
            // statrs's CDF limits the polish to ~1e-12 at large degrees of freedom.
            assert!(
                (t - expected).abs() < 1e-11 * expected,
                "df {df}: {t} vs {expected}"
            );
        }
        let z = normal_quantile(0.975);
        assert!((z - 1.959963984540054).abs() < 1e-13, "{z}");
        assert_eq!(student_t_quantile(0.975, 0.0), None);
    }

    #[test]
    fn cholesky_solves_and_detects_singularity() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let l = cholesky(&a, 2).unwrap();
        let x = cholesky_solve(&l, 2, &[2.0, 1.0]);
        assert!((4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12);
        assert!((2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12);
        assert!(cholesky(&[1.0, 1.0, 1.0, 1.0], 2).is_none());
    }

    #[test]
    fn covariate_adjustment_is_validated() {
        let ok =
            CovariateAdjustment::from_value(&serde_json::json!({"period": "preenrollment_week"}))
                .unwrap();
        assert_eq!(ok.column("active_hours"), "active_hours_pre");
        assert!(ok.applies_in(AnalysisPeriod::Overall));
        assert!(!ok.applies_in(AnalysisPeriod::PreenrollmentDays28));
        let other = CovariateAdjustment::from_value(
            &serde_json::json!({"period": "preenrollment_days28", "metric": "uri_count"}),
        )
        .unwrap();
        assert_eq!(other.column("x"), "uri_count_pre");
        let err =
            CovariateAdjustment::from_value(&serde_json::json!({"period": "weekly"})).unwrap_err();
        assert!(err.starts_with("Covariate adjustment must be done using a pre-treatment"));
        assert!(CovariateAdjustment::from_value(&serde_json::json!("weekly")).is_err());
        // The covariate metric's name reaches SQL: only plain identifiers.
        let injected =
            serde_json::json!({"period": "preenrollment_week", "metric": "x; DROP TABLE y"});
        assert!(CovariateAdjustment::from_value(&injected).is_err());
    }
}
