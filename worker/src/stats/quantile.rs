//! numpy-compatible summaries of samples: the default ("linear", Hyndman–Fan type 7) quantile
//! and the mean.

/// numpy's `_lerp`: `a + (b − a)·t`, computed from the upper end when `t ≥ 0.5`. Infinite
/// endpoints give NaN (as in numpy, because `b − a` is NaN).
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// `np.quantile(data, q)` for data already sorted ascending (`total_cmp` order).
///
/// Follows numpy exactly, including its quirks: a NaN anywhere gives NaN, and an infinite value
/// at an interpolation end gives NaN even when the interpolation weight is 0 (so the maximum of
/// data whose largest value is +inf is NaN). Returns NaN for empty data or `q` outside [0, 1];
/// callers validate `q` themselves where numpy would raise.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    // With total_cmp ordering, positive NaNs sort last and negative NaNs first.
    if sorted[0].is_nan() || sorted[n - 1].is_nan() {
        return f64::NAN;
    }
    let last = (n - 1) as f64;
    let virtual_index = last * q;
    if virtual_index >= last {
        // numpy sets both indexes to −1 and gamma = virtual_index − (−1).
        let v = sorted[n - 1];
        return lerp(v, v, virtual_index + 1.0);
    }
    let previous = virtual_index.floor();
    let i = previous as usize;
    lerp(sorted[i], sorted[i + 1], virtual_index - previous)
}

/// The same as [`quantile_sorted`] for unsorted data, by selection in O(n) (reorders `data`).
pub(crate) fn quantile_select(data: &mut [f64], q: f64) -> f64 {
    let n = data.len();
    if n == 0 || !(0.0..=1.0).contains(&q) || data.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let last = (n - 1) as f64;
    let virtual_index = last * q;
    if virtual_index >= last {
        let v = data.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        return lerp(v, v, virtual_index + 1.0);
    }
    let previous = virtual_index.floor();
    let (_, a, above) = data.select_nth_unstable_by(previous as usize, f64::total_cmp);
    let a = *a;
    // Everything above the selected element is ≥ it; the next order statistic is their minimum.
    let b = above.iter().copied().fold(f64::INFINITY, f64::min);
    lerp(a, b, virtual_index - previous)
}

/// Sorts a copy of `data` and returns its `q`-quantile (see [`quantile_sorted`]).
#[cfg(test)]
pub(crate) fn quantile(data: &[f64], q: f64) -> f64 {
    let mut sorted = data.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    quantile_sorted(&sorted, q)
}

/// Arithmetic mean (NaN for empty data).
pub(crate) fn mean(data: &[f64]) -> f64 {
    if data.is_empty() {
        return f64::NAN;
    }
    data.iter().sum::<f64>() / data.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_quantiles_match_numpy() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&x, 0.25), 1.75);
        assert_eq!(quantile(&x, 0.5), 2.5);
        assert_eq!(quantile(&x, 0.75), 3.25);
        assert_eq!(quantile(&x, 0.0), 1.0);
        assert_eq!(quantile(&x, 1.0), 4.0);
        // Unsorted input, odd length: np.quantile([5, 1, 4, 2, 3], 0.1) == 1.4
        assert!((quantile(&[5.0, 1.0, 4.0, 2.0, 3.0], 0.1) - 1.4).abs() < 1e-12);
        // np.quantile(range(11), 0.995) == 9.95
        let r: Vec<f64> = (0..11).map(f64::from).collect();
        assert!((quantile(&r, 0.995) - 9.95).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.3), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
        // numpy quirks: NaN propagates; an infinite end point gives NaN.
        assert!(quantile(&[1.0, f64::NAN, 3.0], 0.5).is_nan());
        assert!(quantile(&[1.0, f64::INFINITY], 1.0).is_nan());
        assert_eq!(quantile(&[1.0, 2.0, f64::INFINITY], 0.25), 1.5);
    }

    #[test]
    fn selection_agrees_with_sorting() {
        let mut state = 12345u64;
        for n in [1usize, 2, 3, 10, 101, 1000] {
            let data: Vec<f64> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 33) % 50) as f64 / 7.0
                })
                .collect();
            for q in [0.0, 0.005, 0.025, 0.1, 0.5, 0.975, 0.995, 1.0] {
                let mut scratch = data.clone();
                assert_eq!(
                    quantile_select(&mut scratch, q),
                    quantile(&data, q),
                    "n {n} q {q}"
                );
            }
        }
        assert!(quantile_select(&mut [1.0, f64::NAN], 0.5).is_nan());
        assert!(quantile_select(&mut [1.0, f64::INFINITY], 1.0).is_nan());
    }

    #[test]
    fn mean_of_values() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
        assert!(mean(&[]).is_nan());
    }
}
