//! `population_ratio`: the frequentist bootstrap of a ratio of means, `mean(numerator) /
//! mean(denominator)`, over the upstream metrics of a derived (`depends_on`) metric
//! (mozanalysis `frequentist_stats.bootstrap.compare_branches` with a two-column `stat_fn`).
//!
//! Per branch, as upstream: refuse NULLs (`'data' contains null values`), cap each column at its
//! own `1 − drop_highest` quantile of the branch (`filter_outliers`, skipped for a falsy
//! threshold), then resample rows with replacement.
//!
//! # Two exact-in-distribution paths, chosen by size
//! - Up to [`EXACT_ROWS`] rows per branch, each of the `num_samples` resamples draws `n` row
//!   indices, exactly as upstream does (with our own generator).
//! - Above it, a resample costs O(bins), not O(n): rows are sorted by their influence on the
//!   ratio, `ψᵢ = numᵢ − R·denᵢ` (R the branch's ratio), and cut into [`BINS`] bins of equal
//!   size. A resample draws how many rows each bin contributes (independent Poisson counts:
//!   the Poisson bootstrap, which for a ratio of sums, invariant to the total count, matches the
//!   multinomial one to O(1/n)) and, given that count `c`, the bin's two column sums from the
//!   bivariate normal with their exact conditional mean `c·μ` and covariance `c·Σ`. The first
//!   two moments of every resample are exact, and so is the between-bin shape (skewness of the
//!   ratio included); only the within-bin sums' higher moments are smoothed, and those barely
//!   move the ratio because rows of a bin share nearly the same influence. Tests check that both
//!   paths give the same quantiles within Monte-Carlo error.
//!
//! Streams are per (branch, chunk of 256 resamples), so results do not depend on the thread
//! count.

use super::quantile::quantile_sorted;
use super::random::chunked_draws;
use super::{compare_samples, interval_levels, Collector, Prepared};
use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use statrs::function::gamma::ln_gamma;

/// Rows per branch up to which resamples draw row indices as upstream does.
pub(crate) const EXACT_ROWS: usize = 4096;
/// Bins of the large-sample path.
pub(crate) const BINS: usize = 256;

/// `population_ratio`'s parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RatioParams {
    pub(crate) numerator: String,
    pub(crate) denominator: String,
    pub(crate) num_samples: usize,
    pub(crate) drop_highest: f64,
    pub(crate) confidence_interval: f64,
}

/// Runs the statistic with every present branch as the reference, as the other bootstraps do.
pub(super) fn run(params: &RatioParams, data: &Prepared, seed: u64, collector: &mut Collector) {
    let references = data.present();
    let fail_every_iteration = |collector: &mut Collector, reason: &str| {
        references.iter().for_each(|_| collector.error(reason));
    };
    let (Some(num), Some(den)) = (
        data.target(&params.numerator),
        data.target(&params.denominator),
    ) else {
        let missing: Vec<&str> = [&params.numerator, &params.denominator]
            .into_iter()
            .filter(|c| data.target(c).is_none())
            .map(String::as_str)
            .collect();
        return fail_every_iteration(
            collector,
            &format!(
                "population_ratio needs the columns {missing:?}, which are not among the \
                 metric's upstream metrics {:?} (list them in depends_on)",
                &data.names[..data.covariate.unwrap_or(data.names.len())]
            ),
        );
    };
    let Some(levels) = interval_levels(params.confidence_interval) else {
        return fail_every_iteration(collector, "Quantiles must be in the range [0, 1]");
    };
    let numerators = data.grouped(num);
    let denominators = data.grouped(den);
    let mut prepared = Vec::with_capacity(numerators.len());
    for ((label, n), (_, d)) in numerators.iter().zip(&denominators) {
        match Branch::prepare(n, d, 1.0 - params.drop_highest) {
            Ok(branch) => prepared.push((*label, branch)),
            Err(reason) => return fail_every_iteration(collector, &reason),
        }
    }
    let samples: Vec<Vec<f64>> = prepared
        .par_iter()
        .map(|(label, branch)| branch.samples(params.num_samples, seed, label))
        .collect();
    compare_samples(
        collector,
        "population_ratio",
        None,
        (params.confidence_interval, levels),
        prepared
            .iter()
            .map(|(label, _)| *label)
            .zip(samples)
            .collect(),
        &references,
    );
}

/// One branch's capped rows, ready to resample.
#[derive(Debug)]
pub(crate) enum Branch {
    Exact {
        num: Vec<f64>,
        den: Vec<f64>,
    },
    /// The bins, and the Poisson tables of their sizes (bins differ in size by at most one row).
    Binned {
        bins: Vec<Bin>,
        tables: Vec<PoissonTable>,
    },
}

/// A bin of the large-sample path: its size, column means and the Cholesky factor of the
/// columns' (population) covariance, `[[a, 0], [b, c]]`.
#[derive(Debug, Clone)]
pub(crate) struct Bin {
    /// Index of the Poisson table of the bin's size.
    table: usize,
    mean_num: f64,
    mean_den: f64,
    a: f64,
    b: f64,
    c: f64,
}

impl Branch {
    /// Refuses NULLs, caps each column at its `threshold_quantile` quantile (for a truthy
    /// quantile in [0.5, 1], as `filter_outliers`) and picks the path by size.
    pub(crate) fn prepare(
        num: &[f64],
        den: &[f64],
        threshold_quantile: f64,
    ) -> Result<Branch, String> {
        if num.iter().chain(den).any(|v| v.is_nan()) {
            return Err("'data' contains null values".to_string());
        }
        if num.is_empty() {
            return Err("no data to bootstrap".to_string());
        }
        let mut num = num.to_vec();
        let mut den = den.to_vec();
        if threshold_quantile != 0.0 {
            if !(0.5..=1.0).contains(&threshold_quantile) {
                return Err("'threshold_quantile' should be close to, and <= 1".to_string());
            }
            cap(&mut num, threshold_quantile);
            cap(&mut den, threshold_quantile);
        }
        if num.len() <= EXACT_ROWS {
            Ok(Branch::Exact { num, den })
        } else {
            let (bins, tables) = bins(&num, &den);
            Ok(Branch::Binned { bins, tables })
        }
    }

    /// `num_samples` bootstrap ratios (`random::chunked_draws`).
    pub(crate) fn samples(&self, num_samples: usize, seed: u64, label: &str) -> Vec<f64> {
        chunked_draws(
            num_samples,
            seed,
            &["population_ratio", label],
            |rng, _| match self {
                Branch::Exact { num, den } => exact_ratio(num, den, rng),
                Branch::Binned { bins, tables } => binned_ratio(bins, tables, rng),
            },
        )
    }
}

/// `np.clip(x, min(x), np.quantile(x, q))`; an infinite maximum gives a NaN threshold, which
/// turns every value NaN as numpy does.
fn cap(values: &mut [f64], q: f64) {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let threshold = quantile_sorted(&sorted, q);
    for v in values.iter_mut() {
        if threshold.is_nan() {
            *v = f64::NAN;
        } else if *v > threshold {
            *v = threshold;
        }
    }
}

/// One resample of row indices: the ratio of the resampled column sums.
fn exact_ratio(num: &[f64], den: &[f64], rng: &mut Xoshiro256PlusPlus) -> f64 {
    let n = num.len() as u64;
    let (mut sum_num, mut sum_den) = (0.0, 0.0);
    for _ in 0..n {
        // Lemire's multiply-shift: an index in [0, n) from 64 random bits (bias < n / 2^64).
        let i = ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as usize;
        sum_num += num[i];
        sum_den += den[i];
    }
    sum_num / sum_den
}

/// One resample of the large-sample path (see the module docs).
fn binned_ratio(bins: &[Bin], poisson: &[PoissonTable], rng: &mut Xoshiro256PlusPlus) -> f64 {
    let (mut sum_num, mut sum_den) = (0.0, 0.0);
    for bin in bins {
        let count = poisson[bin.table].sample(rng);
        if count == 0 {
            continue;
        }
        let count = count as f64;
        let z1: f64 = StandardNormal.sample(rng);
        let z2: f64 = StandardNormal.sample(rng);
        let scale = count.sqrt();
        sum_num += count * bin.mean_num + scale * bin.a * z1;
        sum_den += count * bin.mean_den + scale * (bin.b * z1 + bin.c * z2);
    }
    sum_num / sum_den
}

/// Sorts rows by their influence on the ratio and summarises [`BINS`] equal-size bins, with a
/// Poisson table per distinct bin size.
fn bins(num: &[f64], den: &[f64]) -> (Vec<Bin>, Vec<PoissonTable>) {
    let n = num.len();
    let ratio = num.iter().sum::<f64>() / den.iter().sum::<f64>();
    let influence = |i: usize| {
        let psi = num[i] - ratio * den[i];
        // A non-finite ratio (zero denominator sum) leaves the order to the numerator.
        if psi.is_finite() {
            psi
        } else {
            num[i]
        }
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&i, &j| influence(i).total_cmp(&influence(j)));
    let count = BINS.min(n);
    let mut tables: Vec<PoissonTable> = Vec::new();
    let bins = (0..count)
        .map(|g| {
            let rows = &order[g * n / count..(g + 1) * n / count];
            let table = match tables.iter().position(|t| t.rows == rows.len()) {
                Some(t) => t,
                None => {
                    tables.push(PoissonTable::new(rows.len()));
                    tables.len() - 1
                }
            };
            let m = rows.len() as f64;
            let mean_num = rows.iter().map(|&i| num[i]).sum::<f64>() / m;
            let mean_den = rows.iter().map(|&i| den[i]).sum::<f64>() / m;
            let (mut vnn, mut vdd, mut vnd) = (0.0, 0.0, 0.0);
            for &i in rows {
                let (x, y) = (num[i] - mean_num, den[i] - mean_den);
                vnn += x * x;
                vdd += y * y;
                vnd += x * y;
            }
            let (vnn, vdd, vnd) = (vnn / m, vdd / m, vnd / m);
            let a = vnn.sqrt();
            let b = if a > 0.0 { vnd / a } else { 0.0 };
            let c = (vdd - b * b).max(0.0).sqrt();
            Bin {
                table,
                mean_num,
                mean_den,
                a,
                b,
                c,
            }
        })
        .collect();
    (bins, tables)
}

/// Inverse-CDF table of Poisson(λ = rows) over λ ± 12√λ (+ 12), beyond which the probability
/// is below 1e-30.
#[derive(Debug)]
pub(crate) struct PoissonTable {
    rows: usize,
    start: u64,
    /// Cumulative probabilities scaled to 2⁶⁴ − 1, for one comparison per step on raw bits.
    cumulative: Vec<u64>,
}

impl PoissonTable {
    fn new(rows: usize) -> PoissonTable {
        let lambda = rows as f64;
        let spread = 12.0 * lambda.sqrt() + 12.0;
        let start = (lambda - spread).max(0.0).floor() as u64;
        let end = (lambda + spread).ceil() as u64;
        let log_pmf = |k: u64| k as f64 * lambda.ln() - lambda - ln_gamma(k as f64 + 1.0);
        let pmf: Vec<f64> = (start..=end).map(|k| log_pmf(k).exp()).collect();
        let total: f64 = pmf.iter().sum();
        let mut acc = 0.0;
        let cumulative = pmf
            .iter()
            .map(|p| {
                acc += p / total;
                (acc.min(1.0) * u64::MAX as f64) as u64
            })
            .collect();
        PoissonTable {
            rows,
            start,
            cumulative,
        }
    }

    fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> u64 {
        let u = rng.next_u64();
        let index = self
            .cumulative
            .partition_point(|&c| c < u)
            .min(self.cumulative.len() - 1);
        self.start + index as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::quantile::{mean, quantile};
    use rand::{Rng, SeedableRng};

    fn skewed_rows(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let hours: f64 = (rng.gen::<f64>() * 2.5 - 0.5).exp();
                let urls = (hours * 30.0 * (rng.gen::<f64>() + 0.5)).round();
                (urls, hours)
            })
            .unzip()
    }

    #[test]
    fn caps_per_column_and_refuses_nulls() {
        let branch = Branch::prepare(&[1.0, 2.0, 100.0], &[1.0, 50.0, 2.0], 0.5).unwrap();
        let Branch::Exact { num, den } = branch else {
            panic!("small data takes the exact path")
        };
        assert_eq!(num, vec![1.0, 2.0, 2.0]);
        assert_eq!(den, vec![1.0, 2.0, 2.0]);
        assert_eq!(
            Branch::prepare(&[1.0], &[f64::NAN], 0.995).unwrap_err(),
            "'data' contains null values"
        );
        assert!(Branch::prepare(&[1.0], &[1.0], 0.2).is_err());
    }

    #[test]
    fn exact_resamples_centre_on_the_ratio_and_repeat() {
        let (num, den) = skewed_rows(2000, 3);
        let branch = Branch::prepare(&num, &den, 1.0).unwrap();
        let a = branch.samples(2000, 9, "control");
        assert_eq!(a, branch.samples(2000, 9, "control"));
        let ratio = num.iter().sum::<f64>() / den.iter().sum::<f64>();
        assert!(
            (mean(&a) - ratio).abs() < 0.01 * ratio,
            "{} vs {ratio}",
            mean(&a)
        );
    }

    #[test]
    fn binned_path_matches_the_exact_bootstrap() {
        // 20,000 rows: the exact path is forced by building it directly, so both paths see the
        // same data; 4,000 resamples each.
        let (num, den) = skewed_rows(20_000, 11);
        let binned = Branch::prepare(&num, &den, 0.995).unwrap();
        let Branch::Binned { .. } = &binned else {
            panic!("large data takes the binned path")
        };
        let mut capped_num = num.clone();
        let mut capped_den = den.clone();
        cap(&mut capped_num, 0.995);
        cap(&mut capped_den, 0.995);
        let exact = Branch::Exact {
            num: capped_num,
            den: capped_den,
        };
        let e = exact.samples(4000, 1, "x");
        let b = binned.samples(4000, 2, "x");
        let sd = {
            let m = mean(&e);
            (e.iter().map(|x| (x - m).powi(2)).sum::<f64>() / e.len() as f64).sqrt()
        };
        // Monte-Carlo error of a 2.5 % quantile from 4,000 draws is about 0.08 sd; of the mean
        // about 0.016 sd.
        assert!((mean(&e) - mean(&b)).abs() < 0.06 * sd);
        for q in [0.025, 0.5, 0.975] {
            let (qe, qb) = (quantile(&e, q), quantile(&b, q));
            assert!(
                (qe - qb).abs() < 0.2 * sd,
                "q{q}: exact {qe}, binned {qb}, sd {sd}"
            );
        }
        let sd_b = {
            let m = mean(&b);
            (b.iter().map(|x| (x - m).powi(2)).sum::<f64>() / b.len() as f64).sqrt()
        };
        assert!(
            (sd_b / sd - 1.0).abs() < 0.06,
            "sd exact {sd}, binned {sd_b}"
        );
    }

    #[test]
    fn poisson_table_has_the_right_moments() {
        let table = PoissonTable::new(40);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let draws: Vec<f64> = (0..200_000)
            .map(|_| table.sample(&mut rng) as f64)
            .collect();
        let m = mean(&draws);
        let v = draws.iter().map(|x| (x - m).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!((m - 40.0).abs() < 0.05, "mean {m}");
        assert!((v - 40.0).abs() < 0.6, "variance {v}");
        assert_eq!(PoissonTable::new(1).start, 0);
    }
}
