//! The distributional statistics: `empirical_cdf` (statsmodels' `ECDF`) and
//! `kernel_density_estimate` (scikit-learn's `KernelDensity`), each evaluated per branch on
//! Jetstream's grid (`_make_grid`). They have no intervals and no comparisons.
//!
//! Grid (upstream): from the branch's minimum to its maximum, `grid_size` points, linear or
//! geometric (`log_space`). A geometric grid over negative or all-zero data falls back to a
//! linear one with a warning; over data whose minimum is 0 it starts at the second-smallest
//! distinct value and an extra row at parameter 0 is added.
//!
//! KDE: a Gaussian kernel with scikit-learn's bandwidth rules, which do not scale by the data's
//! spread: `scott` is `n^(-1/5)`, `silverman` is `(3n/4)^(-1/5)`, a number is used as is. The
//! density at `x` is `(1/n) Σ φ((x − xᵢ)/h)/h`; terms more than 39 bandwidths away are exactly 0 in
//! double precision and are skipped (sorted data, binary search), which changes no result.

use super::{base_row, Collector};
use rayon::prelude::*;

/// Where the grid of one branch lies and whether an extra row at 0 is due.
struct Grid {
    points: Vec<f64>,
    zero_row: bool,
    /// The points are evenly spaced (`linspace`), which the KDE's recurrence needs.
    linear: bool,
}

/// Parameters of `kernel_density_estimate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct KdeParams {
    pub bandwidth: Bandwidth,
    pub grid_size: usize,
    pub log_space: bool,
}

/// scikit-learn's bandwidth choices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Bandwidth {
    Scott,
    Silverman,
    Fixed(f64),
}

/// Upper bound on `grid_size` (upstream has none; 256 by default).
pub(super) const MAX_GRID_SIZE: u64 = 100_000;

/// numpy's `linspace(start, stop, n)`: `start + i·step`, with the last point exactly `stop`.
fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (stop - start) / (n - 1) as f64;
            let mut points: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
            points[n - 1] = stop;
            points
        }
    }
}

/// numpy's `geomspace(start, stop, n)` for positive bounds: powers of ten of a linear grid of
/// exponents, with the endpoints exactly `start` and `stop`.
fn geomspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    let mut points: Vec<f64> = linspace(start.log10(), stop.log10(), n)
        .into_iter()
        .map(|e| 10f64.powf(e))
        .collect();
    if let Some(first) = points.first_mut() {
        *first = start;
    }
    if n > 1 {
        points[n - 1] = stop;
    }
    points
}

/// Jetstream's `_make_grid` over sorted values; a warning when a geometric grid is refused.
fn make_grid(sorted: &[f64], grid_size: usize, log_space: bool) -> (Grid, Option<String>) {
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    if !log_space {
        return (
            Grid {
                points: linspace(min, max, grid_size),
                zero_row: false,
                linear: true,
            },
            None,
        );
    }
    if min < 0.0 || max <= 0.0 {
        let warning = "Refusing to create a geometric grid for a series with negative or \
                       all-zero values"
            .to_string();
        return (
            Grid {
                points: linspace(min, max, grid_size),
                zero_row: false,
                linear: true,
            },
            Some(warning),
        );
    }
    if min == 0.0 {
        // The second-smallest distinct value (max > 0 guarantees one).
        let start = sorted.iter().copied().find(|v| *v > 0.0).unwrap_or(max);
        return (
            Grid {
                points: geomspace(start, max, grid_size),
                zero_row: true,
                linear: false,
            },
            None,
        );
    }
    (
        Grid {
            points: geomspace(min, max, grid_size),
            zero_row: false,
            linear: false,
        },
        None,
    )
}

/// statsmodels' `ECDF` at `x`: the share of values ≤ x.
fn ecdf_at(sorted: &[f64], x: f64) -> f64 {
    sorted.partition_point(|v| *v <= x) as f64 / sorted.len() as f64
}

/// Terms more than this many bandwidths away underflow to 0 in double precision.
const CUTOFF: f64 = 39.0;

/// The Gaussian KDE of sorted values at `x` with bandwidth `h`.
fn kde_at(sorted: &[f64], h: f64, x: f64) -> f64 {
    let lo = sorted.partition_point(|v| *v < x - CUTOFF * h);
    let hi = sorted.partition_point(|v| *v <= x + CUTOFF * h);
    let sum: f64 = sorted[lo..hi]
        .iter()
        .map(|v| {
            let z = (x - v) / h;
            (-0.5 * z * z).exp()
        })
        .sum();
    sum / (sorted.len() as f64 * h * (2.0 * std::f64::consts::PI).sqrt())
}

/// The Gaussian KDE on an evenly spaced grid `start + j·step`, by a recurrence instead of one
/// exponential per (value, grid point): along the grid, a value's kernel terms satisfy
/// `K(j+1) = K(j)·r(j)` with `r(j+1) = r(j)·c`, `c = e^(−step²/h²)`. Each value starts at its
/// nearest grid point (where its term is largest, so nothing underflows early) and walks out
/// both ways until the terms vanish. Rounding grows by about one ulp per step, far below the
/// 1e-9 the peer comparison asks. Values are split into fixed chunks whose partial sums are added
/// in chunk order, so the result does not depend on the number of threads.
fn kde_linear_grid(sorted: &[f64], h: f64, start: f64, step: f64, size: usize) -> Vec<f64> {
    const CHUNK: usize = 4096;
    let inv_h2 = 1.0 / (h * h);
    let c = (-step * step * inv_h2).exp();
    let reach = (CUTOFF * h / step).ceil() as i64 + 1;
    let partials: Vec<Vec<f64>> = sorted
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut sums = vec![0.0; size];
            for &v in chunk {
                let nearest = ((v - start) / step).round().clamp(0.0, (size - 1) as f64) as i64;
                let d = start + nearest as f64 * step - v;
                let k0 = (-0.5 * d * d * inv_h2).exp();
                sums[nearest as usize] += k0;
                // Rightwards: K(j+1)/K(j) = e^(−(x_j − v)·step/h²)·e^(−step²/2h²).
                // One exponential for the ratio: its factors alone can overflow when h ≪ step.
                let (mut k, mut r) = (k0, (-(d * step + 0.5 * step * step) * inv_h2).exp());
                let last = (nearest + reach).min(size as i64 - 1);
                for j in nearest + 1..=last {
                    k *= r;
                    r *= c;
                    sums[j as usize] += k;
                }
                let (mut k, mut r) = (k0, ((d * step - 0.5 * step * step) * inv_h2).exp());
                let first = (nearest - reach).max(0);
                for j in (first..nearest).rev() {
                    k *= r;
                    r *= c;
                    sums[j as usize] += k;
                }
            }
            sums
        })
        .collect();
    let norm = sorted.len() as f64 * h * (2.0 * std::f64::consts::PI).sqrt();
    (0..size)
        .map(|j| partials.iter().map(|p| p[j]).sum::<f64>() / norm)
        .collect()
}

fn bandwidth(rule: Bandwidth, n: usize) -> f64 {
    match rule {
        Bandwidth::Scott => (n as f64).powf(-0.2),
        Bandwidth::Silverman => (n as f64 * 0.75).powf(-0.2),
        Bandwidth::Fixed(h) => h,
    }
}

/// Rows of `empirical_cdf` for every branch.
pub(super) fn empirical_cdf(
    grid_size: usize,
    log_space: bool,
    branches: &[(&str, Vec<f64>)],
    collector: &mut Collector,
) {
    evaluate(
        "empirical_cdf",
        grid_size,
        log_space,
        branches,
        collector,
        |sorted, grid| {
            grid.points
                .par_iter()
                .map(|&x| ecdf_at(sorted, x))
                .collect()
        },
        ecdf_at,
    );
}

/// Rows of `kernel_density_estimate` for every branch.
pub(super) fn kernel_density_estimate(
    params: &KdeParams,
    branches: &[(&str, Vec<f64>)],
    collector: &mut Collector,
) {
    evaluate(
        "kernel_density_estimate",
        params.grid_size,
        params.log_space,
        branches,
        collector,
        |sorted, grid| {
            let h = bandwidth(params.bandwidth, sorted.len());
            let n = grid.points.len();
            if grid.linear && n > 1 && grid.points[n - 1] > grid.points[0] {
                let step = (grid.points[n - 1] - grid.points[0]) / (n - 1) as f64;
                kde_linear_grid(sorted, h, grid.points[0], step, n)
            } else {
                grid.points
                    .par_iter()
                    .map(|&x| kde_at(sorted, h, x))
                    .collect()
            }
        },
        |sorted, x| kde_at(sorted, bandwidth(params.bandwidth, sorted.len()), x),
    );
}

fn evaluate(
    statistic: &str,
    grid_size: usize,
    log_space: bool,
    branches: &[(&str, Vec<f64>)],
    collector: &mut Collector,
    on_grid: impl Fn(&[f64], &Grid) -> Vec<f64>,
    at: impl Fn(&[f64], f64) -> f64,
) {
    for (label, values) in branches {
        if values.iter().any(|v| v.is_nan()) {
            collector.error(&format!(
                "branch {label} has NaN values; {statistic} needs numbers (add the \
                 remove_indefinites or remove_nulls pre-treatment)"
            ));
            continue;
        }
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let (grid, warning) = make_grid(&sorted, grid_size, log_space);
        if let Some(warning) = warning {
            tracing::warn!(metric = collector.ctx.metric, branch = %label, "{warning}");
        }
        let values = on_grid(&sorted, &grid);
        let zero = grid.zero_row.then(|| (0.0, at(&sorted, 0.0)));
        for (x, point) in zero
            .into_iter()
            .chain(grid.points.iter().copied().zip(values))
        {
            let mut row = base_row(collector.ctx, collector.ctx.metric, statistic, label);
            row.parameter = Some(x);
            row.point = Some(point);
            collector.insert(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurrence_matches_the_direct_sum() {
        let values: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 5000) as f64 / 1000.0 - 2.0 + ((i % 13) as f64).sqrt())
            .collect();
        let mut sorted = values;
        sorted.sort_by(f64::total_cmp);
        for h in [0.001, 0.01, 0.2, 3.0] {
            let grid = linspace(sorted[0], sorted[sorted.len() - 1], 256);
            let step = (grid[255] - grid[0]) / 255.0;
            let fast = kde_linear_grid(&sorted, h, grid[0], step, 256);
            for (x, f) in grid.iter().zip(&fast) {
                let direct = kde_at(&sorted, h, *x);
                assert!(
                    (f - direct).abs() <= 1e-12 + 1e-11 * direct,
                    "h {h}, x {x}: {f} vs {direct}"
                );
            }
        }
    }

    #[test]
    fn grids_follow_numpy() {
        assert_eq!(linspace(0.0, 1.0, 5), [0.0, 0.25, 0.5, 0.75, 1.0]);
        let g = geomspace(1.0, 1000.0, 4);
        assert_eq!(g[0], 1.0);
        assert_eq!(g[3], 1000.0);
        assert!((g[1] - 10.0).abs() < 1e-12 && (g[2] - 100.0).abs() < 1e-12);

        let (grid, warning) = make_grid(&[0.0, 0.0, 2.0, 8.0], 3, true);
        assert!(grid.zero_row && warning.is_none());
        assert_eq!(grid.points[0], 2.0);
        assert!((grid.points[1] - 4.0).abs() < 1e-12);
        assert_eq!(grid.points[2], 8.0);
        let (grid, warning) = make_grid(&[-1.0, 3.0], 3, true);
        assert!(!grid.zero_row && warning.is_some());
        assert_eq!(grid.points, [-1.0, 1.0, 3.0]);
    }

    #[test]
    fn ecdf_and_kde_match_their_definitions() {
        let sorted = [1.0, 2.0, 2.0, 4.0];
        assert_eq!(ecdf_at(&sorted, 0.5), 0.0);
        assert_eq!(ecdf_at(&sorted, 2.0), 0.75);
        assert_eq!(ecdf_at(&sorted, 4.0), 1.0);

        // Direct sum over every term, no cutoff.
        let h = bandwidth(Bandwidth::Scott, sorted.len());
        assert!((h - 4f64.powf(-0.2)).abs() < 1e-15);
        for x in [0.0, 1.5, 2.0, 3.3, 10.0] {
            let direct: f64 = sorted
                .iter()
                .map(|v| (-0.5 * ((x - v) / h).powi(2)).exp())
                .sum::<f64>()
                / (4.0 * h * (2.0 * std::f64::consts::PI).sqrt());
            assert!((kde_at(&sorted, h, x) - direct).abs() <= 1e-15 * direct.max(1e-300));
        }
        // Far from the data the density underflows to exactly 0, cutoff or not.
        assert_eq!(kde_at(&sorted, h, 1e6), 0.0);
        assert_eq!(bandwidth(Bandwidth::Silverman, 4), 3f64.powf(-0.2));
    }
}
