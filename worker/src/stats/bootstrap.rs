//! Rubin's Bayesian bootstrap of the mean (mozanalysis `bayesian_stats.bayesian_bootstrap`).

use super::quantile::quantile_sorted;
use super::random::{bulk_rng, exp1_fast, exp1_slow, stream_rng, ziggurat_tables};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// Draws per independently seeded chunk. Fixed, so that the samples do not depend on how many
/// threads run the chunks.
pub(crate) const CHUNK: usize = 256;

/// One branch's data after outlier capping, tallied into unique values. Values are stored
/// relative to `center` so that large offsets cost no precision in the weighted sums.
#[derive(Debug)]
pub(crate) struct Tally {
    center: f64,
    /// Unique values seen exactly once (their Dirichlet component is Gamma(1) = Exp(1)).
    singles: Vec<f64>,
    /// Unique values seen more than once, with Gamma(count, 1) for their component.
    repeated: Vec<(f64, Gamma<f64>)>,
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
    let mut singles = Vec::new();
    let mut repeated = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let v = sorted[i];
        let mut j = i + 1;
        // NaN never equals itself, so NaNs (only after a NaN threshold) stay separate values.
        while j < sorted.len() && sorted[j] == v {
            j += 1;
        }
        let count = j - i;
        if count == 1 {
            singles.push(v - center);
        } else {
            let gamma = Gamma::new(count as f64, 1.0).map_err(|e| e.to_string())?;
            repeated.push((v - center, gamma));
        }
        i = j;
    }
    Ok(Tally {
        center,
        singles,
        repeated,
    })
}

impl Tally {
    /// The single value, when the branch has only one distinct value (every draw equals it).
    fn constant(&self) -> Option<f64> {
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
/// Draws are split into chunks of [`CHUNK`]; chunk `i` uses its own ChaCha8 stream keyed by
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
    let chunks = num_samples.div_ceil(CHUNK);
    let parts: Vec<Vec<f64>> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let draws = CHUNK.min(num_samples - chunk * CHUNK);
            let mut key = stream_rng(seed, &["bayesian_bootstrap", label], chunk as u64);
            let mut bulk = bulk_rng(&mut key);
            (0..draws)
                .map(|_| one_draw(tally, &mut bulk, &mut key))
                .collect()
        })
        .collect();
    parts.concat()
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
