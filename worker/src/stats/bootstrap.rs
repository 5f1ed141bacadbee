//! Rubin's Bayesian bootstrap of the mean (mozanalysis `bayesian_stats.bayesian_bootstrap`).
//!
//! # Two exact-in-distribution paths, chosen by size
//! - While it costs no more than the binned path, every draw weighs every distinct value with
//!   its Dirichlet component (Gamma(count, 1), normalised), as upstream does: small branches,
//!   and branches with few distinct values.
//! - Otherwise a draw costs O(bins), not O(n): the sorted values are cut into [`BINS`] bins of
//!   about equal counts. By the aggregation property of the Dirichlet distribution, a bin's total
//!   weight is exactly Gamma(m) for its m observations, and independent of how the weight is
//!   shared inside the bin; the bin's weighted mean is itself a Bayesian-bootstrap mean of its
//!   values, drawn here from the normal with its exact mean and variance `SS/(m(m + 1))`. Every
//!   draw's first two moments are exact and the between-bin shape (skewness included) too; only
//!   the within-bin means' higher moments are smoothed, over bins that span a sliver of the
//!   data. Tests check both paths give the same quantiles within Monte-Carlo error.

use super::quantile::quantile_sorted;
use super::random::{chunked_draws, exp1_fast, exp1_slow, ziggurat_tables};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Bins of the large-sample path.
pub(crate) const BINS: usize = 256;
/// Relative cost of one draw's work per distinct value: an exponential for a value seen once,
/// a Gamma variate for a repeated one, a Gamma and a normal for a bin.
const COST_SINGLE: usize = 1;
const COST_REPEATED: usize = 16;
const COST_BIN: usize = 16;

/// One branch's data after outlier capping, tallied into unique values. Values are stored
/// relative to `center` so that large offsets cost no precision in the weighted sums.
#[derive(Debug)]
pub(crate) struct Tally {
    center: f64,
    /// Unique values seen exactly once (their Dirichlet component is Gamma(1) = Exp(1)).
    singles: Vec<f64>,
    /// Unique values seen more than once, with Gamma(count, 1) for their component.
    repeated: Vec<(f64, Gamma<f64>)>,
    /// The large-sample path's bins (then `singles` and `repeated` are empty).
    bins: Vec<Bin>,
}

/// A bin of the large-sample path: Gamma(m, 1) for its total weight, and the mean (relative to
/// the tally's centre) and standard deviation of its values' Bayesian-bootstrap mean.
#[derive(Debug)]
struct Bin {
    weight: Gamma<f64>,
    mean: f64,
    sd: f64,
}

/// Prepares one branch as mozanalysis's `get_bootstrap_samples` does before drawing: refuse
/// NaN, cap values above the `threshold_quantile` quantile of the branch's own data (a falsy
/// quantile, i.e. 0, skips the capping as upstream's `if threshold_quantile:` does), and tally
/// unique values with their counts.
pub(crate) fn prepare(values: &[f64], threshold_quantile: f64) -> Result<Tally, String> {
    if values.iter().any(|v| v.is_nan()) {
        return Err("'data' contains null values".to_string());
    }
    if values.is_empty() {
        return Err("no data to bootstrap".to_string());
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    if threshold_quantile != 0.0 {
        if !(0.5..=1.0).contains(&threshold_quantile) {
            return Err("'threshold_quantile' should be close to, and <= 1".to_string());
        }
        // np.clip(data, min, quantile): values above the threshold become the threshold (a NaN
        // threshold, from an infinite maximum, turns everything NaN as np.clip does).
        let threshold = quantile_sorted(&sorted, threshold_quantile);
        if threshold.is_nan() {
            sorted.iter_mut().for_each(|v| *v = f64::NAN);
        } else {
            for v in sorted.iter_mut().rev() {
                if *v > threshold {
                    *v = threshold;
                } else {
                    break;
                }
            }
        }
    }
    let finite: Vec<f64> = sorted.iter().copied().filter(|v| v.is_finite()).collect();
    let center = if finite.is_empty() {
        0.0
    } else {
        finite.iter().sum::<f64>() / finite.len() as f64
    };
    let runs = runs(&sorted);
    let exact_cost: usize = runs
        .iter()
        .map(|&(_, count)| {
            if count == 1 {
                COST_SINGLE
            } else {
                COST_REPEATED
            }
        })
        .sum();
    if exact_cost > BINS * COST_BIN
        && sorted.len() > 4 * BINS
        && sorted.iter().all(|v| v.is_finite())
    {
        return Ok(Tally {
            center,
            singles: Vec::new(),
            repeated: Vec::new(),
            bins: bins(&sorted, center)?,
        });
    }
    let mut singles = Vec::new();
    let mut repeated = Vec::new();
    for (v, count) in runs {
        if count == 1 {
            singles.push(v - center);
        } else {
            let gamma = Gamma::new(count as f64, 1.0).map_err(|e| e.to_string())?;
            repeated.push((v - center, gamma));
        }
    }
    Ok(Tally {
        center,
        singles,
        repeated,
        bins: Vec::new(),
    })
}

/// Runs of equal values in sorted data, as (value, count). NaN never equals itself, so NaNs (only
/// after a NaN threshold) stay separate values.
fn runs(sorted: &[f64]) -> Vec<(f64, usize)> {
    let mut runs: Vec<(f64, usize)> = Vec::new();
    for &v in sorted {
        match runs.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => runs.push((v, 1)),
        }
    }
    runs
}

/// [`BINS`] bins of consecutive sorted values, of about equal counts (see the module docs).
fn bins(sorted: &[f64], center: f64) -> Result<Vec<Bin>, String> {
    let n = sorted.len();
    let count = BINS.min(n);
    (0..count)
        .map(|g| {
            let values = &sorted[g * n / count..(g + 1) * n / count];
            let m = values.len() as f64;
            let mean = values.iter().map(|v| v - center).sum::<f64>() / m;
            let ss: f64 = values.iter().map(|v| (v - center - mean).powi(2)).sum();
            Ok(Bin {
                weight: Gamma::new(m, 1.0).map_err(|e| e.to_string())?,
                mean,
                sd: (ss / (m * (m + 1.0))).sqrt(),
            })
        })
        .collect()
}

impl Tally {
    /// The single value, when the branch has only one distinct value (every draw equals it).
    fn constant(&self) -> Option<f64> {
        if !self.bins.is_empty() {
            return None;
        }
        match (self.singles.as_slice(), self.repeated.as_slice()) {
            ([v], []) => Some(self.center + v),
            ([], [(v, _)]) => Some(self.center + v),
            _ => None,
        }
    }
}

/// `num_samples` Bayesian-bootstrap means of `tally`: for each draw, weights `w ~ Dirichlet(c)`
/// over the unique values (drawn as normalised Gamma(c_j, 1) variates) and the sample
/// `Σ w_j v_j`.
///
/// Draws are split into chunks of `random::CHUNK`; chunk `i` uses its own ChaCha8 stream keyed by
/// `(seed, label)` with stream number `i`. That stream seeds a xoshiro256++ generator for the
/// bulk of the exponential draws (twice as fast per word as ChaCha8, and its state stays in
/// registers) and itself feeds the rare ziggurat slow paths and the Gamma draws of repeated
/// values. Chunks run on the current rayon pool; the result is identical whatever its thread
/// count.
pub(crate) fn bb_mean_samples(
    tally: &Tally,
    num_samples: usize,
    seed: u64,
    label: &str,
) -> Vec<f64> {
    if let Some(v) = tally.constant() {
        return vec![v; num_samples];
    }
    chunked_draws(
        num_samples,
        seed,
        &["bayesian_bootstrap", label],
        |bulk, key| {
            if tally.bins.is_empty() {
                one_draw(tally, bulk, key)
            } else {
                binned_draw(tally, bulk)
            }
        },
    )
}

/// One Bayesian-bootstrap mean. Each 64-bit word of the bulk generator gives two exponential
/// weights on the ziggurat's fast path; the ~2% of draws that miss it continue on `key`.
/// (Variants that keep the slow path out of the loop, by buffering misses or weights, measured
/// slower.)
#[inline]
fn one_draw(tally: &Tally, bulk: &mut Xoshiro256PlusPlus, key: &mut ChaCha8Rng) -> f64 {
    let tables = ziggurat_tables();
    // A local copy, so that the generator state can live in registers.
    let mut rng = bulk.clone();
    // Two accumulator pairs halve the floating-point dependency chains.
    let (mut num0, mut den0, mut num1, mut den1) = (0.0, 0.0, 0.0, 0.0);
    let mut pairs = tally.singles.chunks_exact(2);
    for pair in &mut pairs {
        let bits = rng.next_u64();
        let (lo, hi) = (bits as u32, (bits >> 32) as u32);
        let g0 = match exp1_fast(lo, tables) {
            Some(g) => g,
            None => exp1_slow(lo, key, tables),
        };
        let g1 = match exp1_fast(hi, tables) {
            Some(g) => g,
            None => exp1_slow(hi, key, tables),
        };
        num0 += g0 * pair[0];
        den0 += g0;
        num1 += g1 * pair[1];
        den1 += g1;
    }
    for &v in pairs.remainder() {
        let bits = rng.next_u32();
        let g = match exp1_fast(bits, tables) {
            Some(g) => g,
            None => exp1_slow(bits, key, tables),
        };
        num0 += g * v;
        den0 += g;
    }
    *bulk = rng;
    for (v, gamma) in &tally.repeated {
        let g = gamma.sample(key);
        num1 += g * v;
        den1 += g;
    }
    tally.center + (num0 + num1) / (den0 + den1)
}

/// One draw of the large-sample path.
fn binned_draw(tally: &Tally, rng: &mut Xoshiro256PlusPlus) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for bin in &tally.bins {
        let w = bin.weight.sample(rng);
        let z: f64 = StandardNormal.sample(rng);
        num += w * (bin.mean + bin.sd * z);
        den += w;
    }
    tally.center + num / den
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::quantile::mean;

    #[test]
    fn prepare_caps_per_branch_and_tallies() {
        // np.quantile([1, 2, 2, 3, 100], 0.75) = 3: 100 is capped to 3.
        let t = prepare(&[2.0, 1.0, 100.0, 2.0, 3.0], 0.75).unwrap();
        let center = (1.0 + 2.0 + 2.0 + 3.0 + 3.0) / 5.0;
        assert!((t.center - center).abs() < 1e-12);
        assert_eq!(t.singles, vec![1.0 - center]);
        let repeated: Vec<f64> = t.repeated.iter().map(|(v, _)| *v + center).collect();
        assert_eq!(repeated, vec![2.0, 3.0]);
        assert_eq!(
            prepare(&[1.0, f64::NAN], 0.995).unwrap_err(),
            "'data' contains null values"
        );
        assert_eq!(
            prepare(&[1.0, 2.0], 0.3).unwrap_err(),
            "'threshold_quantile' should be close to, and <= 1"
        );
        // A threshold quantile of 0 (drop_highest = 1) is falsy upstream: no capping.
        assert_eq!(prepare(&[1.0, 50.0], 0.0).unwrap().singles.len(), 2);
    }

    #[test]
    fn binned_path_matches_the_exact_bootstrap() {
        // 30,000 distinct lognormal values: binned; the exact path is forced by a tally built
        // over the same capped values with one bin per value.
        use rand::SeedableRng;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let values: Vec<f64> = (0..30_000)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                (z * 1.25 + 0.5).exp()
            })
            .collect();
        let binned = prepare(&values, 0.995).unwrap();
        assert_eq!(binned.bins.len(), BINS);
        let mut exact = prepare(&values, 0.995).unwrap();
        let mut sorted = values.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        let threshold = quantile_sorted(&sorted, 0.995);
        exact.bins.clear();
        exact.singles = sorted
            .iter()
            .filter(|v| **v < threshold)
            .map(|v| v - exact.center)
            .collect();
        let capped = sorted.iter().filter(|v| **v >= threshold).count();
        exact.repeated = vec![(
            threshold - exact.center,
            Gamma::new(capped as f64, 1.0).unwrap(),
        )];
        let e = bb_mean_samples(&exact, 4000, 1, "x");
        let b = bb_mean_samples(&binned, 4000, 2, "x");
        let sd = |s: &[f64]| {
            let m = mean(s);
            (s.iter().map(|x| (x - m).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
        };
        let (sd_e, sd_b) = (sd(&e), sd(&b));
        assert!((mean(&e) - mean(&b)).abs() < 0.06 * sd_e);
        assert!(
            (sd_b / sd_e - 1.0).abs() < 0.06,
            "sd exact {sd_e}, binned {sd_b}"
        );
        for q in [0.025, 0.5, 0.975] {
            let (qe, qb) = (
                crate::stats::quantile::quantile(&e, q),
                crate::stats::quantile::quantile(&b, q),
            );
            assert!(
                (qe - qb).abs() < 0.2 * sd_e,
                "q{q}: exact {qe}, binned {qb}"
            );
        }
    }

    #[test]
    fn samples_center_on_the_mean_and_are_reproducible() {
        let values: Vec<f64> = (0..500).map(|i| f64::from(i % 37) * 1.5 + 1e6).collect();
        let t = prepare(&values, 1.0).unwrap();
        let a = bb_mean_samples(&t, 1000, 5, "control");
        let b = bb_mean_samples(&t, 1000, 5, "control");
        let c = bb_mean_samples(&t, 1000, 5, "treatment");
        assert_eq!(a.len(), 1000);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let m = mean(&values);
        assert!((mean(&a) - m).abs() < 0.2, "{} vs {m}", mean(&a));
        // The spread matches the standard error of the mean (sd ≈ 16, n = 500 → se ≈ 0.71).
        let sd = (a.iter().map(|x| (x - mean(&a)).powi(2)).sum::<f64>() / 999.0).sqrt();
        assert!((0.55..0.9).contains(&sd), "sd {sd}");
        assert_eq!(
            bb_mean_samples(&prepare(&[4.0, 4.0], 1.0).unwrap(), 3, 1, "x"),
            vec![4.0; 3]
        );
    }
}
