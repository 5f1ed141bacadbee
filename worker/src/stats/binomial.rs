//! Beta-binomial posterior of a conversion rate (mozanalysis `bayesian_stats.binary`).

use super::random::stream_rng;
use rand_distr::{Beta as BetaSampler, Distribution};
use statrs::distribution::{Beta, ContinuousCDF};

/// Monte-Carlo draws per branch for the comparisons (mozanalysis's default `num_samples`).
pub(crate) const NUM_SAMPLES: usize = 10_000;

/// A branch's conversions: `n` clients, `k` of them with value 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Conversions {
    pub(crate) n: u64,
    pub(crate) k: u64,
}

impl Conversions {
    /// Posterior parameters under a uniform prior: Beta(k + 1, n − k + 1).
    pub(crate) fn posterior(self) -> (f64, f64) {
        ((self.k + 1) as f64, (self.n - self.k + 1) as f64)
    }

    /// Posterior mean `(k + 1)/(n + 2)`.
    pub(crate) fn point(self) -> f64 {
        (self.k + 1) as f64 / (self.n + 2) as f64
    }

    /// Posterior quantile at `p` (statrs's regularised incomplete beta inverse).
    pub(crate) fn ppf(self, p: f64) -> Result<f64, String> {
        let (a, b) = self.posterior();
        let beta = Beta::new(a, b).map_err(|e| e.to_string())?;
        // statrs panics on arguments it cannot handle; the data must never bring a worker down.
        std::panic::catch_unwind(|| beta.inverse_cdf(p))
            .map_err(|_| format!("cannot compute the {p} quantile of Beta({a}, {b})"))
    }

    /// `NUM_SAMPLES` draws from the posterior on a ChaCha8 stream keyed by `(seed, label)`.
    pub(crate) fn samples(self, seed: u64, label: &str) -> Result<Vec<f64>, String> {
        let (a, b) = self.posterior();
        let beta = BetaSampler::new(a, b).map_err(|e| e.to_string())?;
        let mut rng = stream_rng(seed, &["binomial", label], 0);
        Ok((0..NUM_SAMPLES).map(|_| beta.sample(&mut rng)).collect())
    }
}

/// Per-branch tallies, refusing anything but exact 0/1 values as mozanalysis does.
pub(crate) fn tally(values: &[f64], metric: &str) -> Result<Conversions, String> {
    let mut k = 0u64;
    for &v in values {
        if v == 1.0 {
            k += 1;
        } else if v != 0.0 {
            return Err(format!("All values in column '{metric}' must be 0 or 1."));
        }
    }
    Ok(Conversions {
        n: values.len() as u64,
        k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::quantile::mean;

    #[test]
    fn tally_and_posterior() {
        let c = tally(&[1.0, 0.0, 1.0, 1.0], "m").unwrap();
        assert_eq!(c, Conversions { n: 4, k: 3 });
        assert_eq!(c.point(), 4.0 / 6.0);
        assert_eq!(
            tally(&[1.0, 0.5], "m").unwrap_err(),
            "All values in column 'm' must be 0 or 1."
        );
        // Beta(1, 1) is uniform: its quantiles are the probabilities themselves.
        let uniform = Conversions { n: 0, k: 0 };
        assert!((uniform.ppf(0.025).unwrap() - 0.025).abs() < 1e-9);
        // Large posteriors stay accurate (normal approximation: mean ± 1.96 sd).
        let big = Conversions {
            n: 2_000_000,
            k: 600_000,
        };
        let (a, b) = big.posterior();
        let sd = (a * b / ((a + b).powi(2) * (a + b + 1.0))).sqrt();
        let lo = big.ppf(0.025).unwrap();
        assert!((lo - (big.point() - 1.959_964 * sd)).abs() < 1e-6, "{lo}");
    }

    #[test]
    fn samples_follow_the_posterior() {
        let c = Conversions { n: 1000, k: 300 };
        let s = c.samples(3, "control").unwrap();
        assert_eq!(s.len(), NUM_SAMPLES);
        assert!((mean(&s) - c.point()).abs() < 0.002);
        assert_eq!(s, c.samples(3, "control").unwrap());
    }
}
