//! `deciles`: mozanalysis's resampling-free quantile bootstrap (`compare_branches_quantiles`,
//! after Spotify's method): for each decile q of a branch's sorted values x₀ ≤ … ≤ xₙ₋₁, each
//! bootstrap sample is x[I] with I ~ Binomial(n − 1, q), which has the distribution of the
//! q-quantile of a resample with replacement, without resampling.
//!
//! Streams: one ChaCha8 stream per (branch, decile), keyed by the summary's seed, so rows do
//! not depend on thread count. Samples of a branch are drawn once and reused for every
//! reference iteration (as `bootstrap_mean`).

use super::random::stream_rng;
use rand_distr::{Binomial, Distribution};

/// The deciles mozanalysis reports, and their `parameter` values.
pub(super) const DECILES: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// `num_samples` bootstrap samples of the `q`-quantile of `sorted` (non-empty, ascending).
pub(super) fn quantile_samples(
    sorted: &[f64],
    q: f64,
    num_samples: usize,
    seed: u64,
    label: &str,
    decile: usize,
) -> Vec<f64> {
    let last = sorted.len() as u64 - 1;
    if last == 0 {
        return vec![sorted[0]; num_samples];
    }
    let mut rng = stream_rng(seed, &["deciles", label], decile as u64);
    match Binomial::new(last, q) {
        Ok(binomial) => (0..num_samples)
            .map(|_| sorted[binomial.sample(&mut rng) as usize])
            .collect(),
        // q is one of DECILES, always a valid probability.
        Err(_) => vec![f64::NAN; num_samples],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_centre_on_the_quantile_and_repeat() {
        let sorted: Vec<f64> = (0..1001).map(f64::from).collect();
        for (i, q) in DECILES.iter().enumerate() {
            let samples = quantile_samples(&sorted, *q, 4000, 7, "control", i);
            let mean = samples.iter().sum::<f64>() / samples.len() as f64;
            // E[I] = 1000 q; sd of the mean ≈ sqrt(1000 q (1 − q) / 4000) < 0.3.
            assert!((mean - 1000.0 * q).abs() < 1.5, "q={q}: {mean}");
            assert_eq!(
                samples,
                quantile_samples(&sorted, *q, 4000, 7, "control", i)
            );
        }
        assert_ne!(
            quantile_samples(&sorted, 0.5, 10, 7, "control", 4),
            quantile_samples(&sorted, 0.5, 10, 7, "treatment", 4)
        );
        assert_eq!(quantile_samples(&[3.0], 0.5, 3, 1, "a", 0), [3.0, 3.0, 3.0]);
    }
}
