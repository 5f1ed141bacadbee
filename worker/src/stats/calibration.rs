//! Synthetic per-client data for benchmarks, and A/A calibration of the interval statistics.
//!
//! [`peer_like_clients`] draws a client table with the peer harness's distributions
//! (`../shared/peer/gen_data.py`: Bernoulli `retained`, negative-binomial `uri_count`, lognormal
//! `active_hours` with ~5 % NULLs, +2/+3/+2 % effects outside the first branch), from our own
//! generator: the same shapes, not the same numbers.
//!
//! [`aa_coverage`] simulates A/A experiments (both branches from one distribution, so every
//! true difference is zero) and counts how often the 95 % intervals of `mean`, `binomial` and
//! `mean_lm` differences cover zero; a calibrated method covers ~95 % of the time.

use super::{run_summary, MetricData, StatContext};
use crate::client_file::ClientTable;
use jetstream_proto::spec::{StatisticSpec, SummarySpec};
use jetstream_proto::{AnalysisBasis, AnalysisPeriod, Comparison};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, LogNormal, Poisson};
use rayon::prelude::*;

/// `clients` clients split uniformly over `branches` (the first is the reference, without
/// effect), drawn from `seed`, as a client table with the columns `retained`, `uri_count`
/// (integer) and `active_hours` (NULL for ~5 % of clients).
pub fn peer_like_clients(clients: usize, branches: &[&str], seed: u64) -> ClientTable {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let hours = LogNormal::new(0.5, 1.25).expect("valid lognormal");
    let mut table = ClientTable::default();
    let (mut retained, mut uri_count, mut active_hours) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..clients {
        let b = rng.gen_range(0..branches.len().max(1));
        let treated = b > 0;
        table
            .branches
            .push(branches.get(b).unwrap_or(&"control").to_string());
        let p = if treated { 0.612 } else { 0.60 };
        retained.push(Some(f64::from(u8::from(rng.gen_bool(p)))));
        let mean = if treated { 123.6 } else { 120.0 };
        uri_count.push(Some(negative_binomial(&mut rng, 0.35, mean)));
        let value = hours.sample(&mut rng) * if treated { 1.02 } else { 1.0 };
        active_hours.push((!rng.gen_bool(0.05)).then_some(value));
    }
    table.columns.insert("retained".into(), retained);
    table.columns.insert("uri_count".into(), uri_count);
    table.columns.insert("active_hours".into(), active_hours);
    table.integer_columns.insert("uri_count".into());
    table
}

/// A negative-binomial count with dispersion `shape` and mean `mean`, as a Gamma–Poisson mixture.
fn negative_binomial(rng: &mut ChaCha8Rng, shape: f64, mean: f64) -> f64 {
    let rate = Gamma::new(shape, mean / shape)
        .map(|g| g.sample(rng))
        .unwrap_or(0.0);
    if rate <= 0.0 {
        return 0.0;
    }
    Poisson::new(rate).map(|p| p.sample(rng)).unwrap_or(0.0)
}

/// Share of A/A simulations whose 95 % difference interval covered zero, per statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub simulations: usize,
    pub mean: f64,
    pub binomial: f64,
    pub mean_lm: f64,
}

/// Runs `simulations` A/A experiments of `clients_per_branch` clients per branch (two
/// branches), with `num_samples` bootstrap draws and `drop_highest` capping for `mean`, seeded
/// from `seed`. Metrics: a skewed continuous one (lognormal with log-scale `sigma`) for `mean`
/// and `mean_lm`, a Bernoulli(0.3) one for `binomial`. Simulations run in parallel; the result depends only on the arguments.
pub fn aa_coverage(
    simulations: usize,
    clients_per_branch: usize,
    num_samples: usize,
    drop_highest: f64,
    sigma: f64,
    seed: u64,
) -> Coverage {
    let summary = |name: &str, params: serde_json::Value| SummarySpec {
        metric: "m".to_string(),
        statistic: StatisticSpec {
            name: name.to_string(),
            params: params.as_object().cloned().unwrap_or_default(),
        },
        pre_treatments: Vec::new(),
    };
    let mean = summary(
        "bootstrap_mean",
        serde_json::json!({ "num_samples": num_samples, "drop_highest": drop_highest }),
    );
    let lm = summary("linear_model_mean", serde_json::json!({}));
    let binomial = summary("binomial", serde_json::json!({}));
    let configured = vec!["control".to_string(), "treatment".to_string()];
    let covered: Vec<[bool; 3]> = (0..simulations)
        .into_par_iter()
        .map(|sim| {
            let mut rng =
                ChaCha8Rng::seed_from_u64(seed ^ (sim as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let Ok(lognormal) = LogNormal::new(0.0, sigma) else {
                return [false; 3];
            };
            let mut continuous = MetricData::default();
            let mut binary = MetricData::default();
            for branch in &configured {
                for _ in 0..clients_per_branch {
                    continuous.push(branch, lognormal.sample(&mut rng));
                    binary.push(branch, f64::from(u8::from(rng.gen_bool(0.3))));
                }
            }
            let ctx = StatContext {
                experiment: "aa",
                metric: "m",
                segment: "all",
                basis: AnalysisBasis::Enrollments,
                period: AnalysisPeriod::Overall,
                window_index: 1,
                analysis_length_days: 28,
                seed: seed.wrapping_add(sim as u64),
                branches: &configured,
            };
            let covers = |summary: &SummarySpec, data: &MetricData| {
                let out = run_summary(summary, data, &ctx);
                out.rows.iter().any(|r| {
                    r.branch == "treatment"
                        && r.comparison == Some(Comparison::Difference)
                        && r.lower.is_some_and(|l| l <= 0.0)
                        && r.upper.is_some_and(|u| u >= 0.0)
                })
            };
            [
                covers(&mean, &continuous),
                covers(&binomial, &binary),
                covers(&lm, &continuous),
            ]
        })
        .collect();
    let share =
        |i: usize| covered.iter().filter(|c| c[i]).count() as f64 / simulations.max(1) as f64;
    Coverage {
        simulations,
        mean: share(0),
        binomial: share(1),
        mean_lm: share(2),
    }
}
