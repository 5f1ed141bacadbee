//! Deterministic random streams and a fast standard-exponential sampler.
//!
//! Every random stream of the statistics is a ChaCha8 generator keyed by SHA-256 of the run seed
//! and the identity of what it is drawn for (the Bayesian bootstrap additionally runs a
//! xoshiro256++ generator seeded from each chunk's ChaCha8 stream, for speed), so results depend
//! only on the run seed and the data, never on thread count, platform or scheduling.

use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// SHA-256 of a domain tag, the run seed (little-endian) and each part (length-prefixed, so
/// `["ab", "c"]` and `["a", "bc"]` differ).
pub(crate) fn seed_digest(run_seed: u64, parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"jetstream-stats-seed-v1");
    hasher.update(run_seed.to_le_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// A ChaCha8 generator keyed by [`seed_digest`]`(seed, parts)`, on stream `stream` (e.g. the
/// index of a chunk of bootstrap draws).
pub(crate) fn stream_rng(seed: u64, parts: &[&str], stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(seed_digest(seed, parts));
    rng.set_stream(stream);
    rng
}

/// The bulk generator of bootstrap chunks (xoshiro256++, from `rand_xoshiro`), keyed from a
/// ChaCha8 stream: about twice as fast per word as ChaCha8 on this workload.
pub(crate) fn bulk_rng(key: &mut ChaCha8Rng) -> Xoshiro256PlusPlus {
    let mut seed = [0u8; 32];
    key.fill_bytes(&mut seed);
    // An all-zero seed (probability 2^-256) is remapped by the crate to a valid state.
    Xoshiro256PlusPlus::from_seed(seed)
}

/// Draws per independently seeded chunk. Fixed, so that samples do not depend on how many
/// threads run the chunks.
pub(crate) const CHUNK: usize = 256;

/// `num_samples` Monte-Carlo draws in chunks of [`CHUNK`] on the current rayon pool: chunk `i`
/// keys a ChaCha8 stream `(seed, parts)` with stream number `i`, which seeds the chunk's
/// xoshiro256++ bulk generator; `draw` gets both. Identical whatever the thread count.
pub(crate) fn chunked_draws(
    num_samples: usize,
    seed: u64,
    parts: &[&str],
    draw: impl Fn(&mut Xoshiro256PlusPlus, &mut ChaCha8Rng) -> f64 + Sync,
) -> Vec<f64> {
    use rayon::prelude::*;
    let chunks = num_samples.div_ceil(CHUNK);
    let drawn: Vec<Vec<f64>> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let draws = CHUNK.min(num_samples - chunk * CHUNK);
            let mut key = stream_rng(seed, parts, chunk as u64);
            let mut bulk = bulk_rng(&mut key);
            (0..draws).map(|_| draw(&mut bulk, &mut key)).collect()
        })
        .collect();
    drawn.concat()
}

/// Layers of the exponential ziggurat (Marsaglia & Tsang 2000).
const LAYERS: usize = 256;
/// Right edge of the base layer.
const ZIG_R: f64 = 7.697_117_470_131_05;

/// Layer edges `x[0..=256]` (x[0] = v/f(r), x[1] = r, …, x[256] = 0) and `f(x) = e^(−x)` at them.
pub(crate) struct ZigguratTables {
    pub(crate) x: [f64; LAYERS + 1],
    pub(crate) f: [f64; LAYERS + 1],
}

/// The tables, computed once from the two defining constants.
pub(crate) fn ziggurat_tables() -> &'static ZigguratTables {
    static TABLES: OnceLock<ZigguratTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        // Common area of every layer: the base rectangle plus the tail beyond r.
        let v = (ZIG_R + 1.0) * (-ZIG_R).exp();
        let mut x = [0.0; LAYERS + 1];
        x[0] = v / (-ZIG_R).exp();
        x[1] = ZIG_R;
        for i in 1..LAYERS - 1 {
            x[i + 1] = -(v / x[i] + (-x[i]).exp()).ln();
        }
        x[LAYERS] = 0.0;
        let mut f = [0.0; LAYERS + 1];
        for i in 0..=LAYERS {
            f[i] = (-x[i]).exp();
        }
        ZigguratTables { x, f }
    })
}

/// A uniform draw in [0, 1) with 53 bits of resolution.
#[inline]
fn uniform53<R: RngCore>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The common path of the exponential ziggurat (about 99% of draws): a 32-bit word whose low 8
/// bits pick the layer and whose upper 24 bits place the point within it. `None` when the point
/// falls outside the layer's inner rectangle; the caller then continues with [`exp1_slow`].
///
/// Using 32-bit words halves the random-number cost of a 64-bit ziggurat. The resolution of a
/// draw is ≈ 5e-7 in absolute terms, far below anything a bootstrap weight can resolve; wedge
/// and tail draws use 53-bit uniforms.
#[inline(always)]
pub(crate) fn exp1_fast(bits: u32, t: &ZigguratTables) -> Option<f64> {
    let i = (bits & 0xff) as usize;
    let u = f64::from(bits >> 8) * (1.0 / (1u32 << 24) as f64);
    let x = u * t.x[i];
    (x < t.x[i + 1]).then_some(x)
}

/// The rest of a draw whose first word `bits` missed the inner rectangle: wedge test, tail, or
/// a fresh attempt, all drawing from `rng`. Since every uniform it uses is fresh, `rng` may be
/// a different stream from the one that produced `bits` (the bootstrap keeps its bulk generator
/// in registers that way) and the draw is still exactly Exp(1).
#[cold]
#[inline(never)]
pub(crate) fn exp1_slow<R: RngCore>(mut bits: u32, rng: &mut R, t: &ZigguratTables) -> f64 {
    loop {
        let i = (bits & 0xff) as usize;
        let u = f64::from(bits >> 8) * (1.0 / (1u32 << 24) as f64);
        let x = u * t.x[i];
        if x < t.x[i + 1] {
            return x;
        }
        if i == 0 {
            // The tail beyond r: by memorylessness, r + Exp(1).
            let u = 1.0 - uniform53(rng); // in (0, 1]
            return ZIG_R - u.ln();
        }
        // Wedge: accept if the point (x, y), uniform over the layer's rectangle outside the
        // inner part, lies under e^(−x). e^(−x) is convex, so it lies above its tangent at
        // x[i+1] and below the chord between the layer's corners; those two lines settle most
        // points without computing an exponential.
        let y = t.f[i + 1] + (t.f[i] - t.f[i + 1]) * uniform53(rng);
        let below_tangent = t.f[i + 1] * (1.0 - (x - t.x[i + 1]));
        if y < below_tangent {
            return x;
        }
        let chord = t.f[i + 1] + (t.f[i] - t.f[i + 1]) * (x - t.x[i + 1]) / (t.x[i] - t.x[i + 1]);
        if y <= chord && y < (-x).exp() {
            return x;
        }
        bits = rng.next_u32();
    }
}

/// One standard-exponential draw (Exp(1)).
#[cfg(test)]
pub(crate) fn exp1<R: RngCore>(rng: &mut R, t: &ZigguratTables) -> f64 {
    let bits = rng.next_u32();
    exp1_fast(bits, t).unwrap_or_else(|| exp1_slow(bits, rng, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_close_the_ziggurat() {
        let t = ziggurat_tables();
        // The layers must shrink towards the peak, the top one narrow.
        assert!(
            t.x[LAYERS - 1] > 0.05 && t.x[LAYERS - 1] < 0.08,
            "{}",
            t.x[255]
        );
        assert!(t.x.windows(2).all(|w| w[0] > w[1]));
        // The top layer's area must equal the common area v.
        let v = (ZIG_R + 1.0) * (-ZIG_R).exp();
        let top = t.x[LAYERS - 1] * (1.0 - t.f[LAYERS - 1]);
        assert!((top - v).abs() / v < 1e-3, "top {top} v {v}");
    }

    #[test]
    fn exp1_has_the_right_moments_and_tail() {
        let t = ziggurat_tables();
        let mut rng = stream_rng(7, &["exp1-test"], 0);
        let n = 400_000;
        let (mut s1, mut s2, mut above3, mut above8) = (0.0, 0.0, 0usize, 0usize);
        for _ in 0..n {
            let x = exp1(&mut rng, t);
            assert!(x >= 0.0 && x.is_finite());
            s1 += x;
            s2 += x * x;
            above3 += usize::from(x > 3.0);
            above8 += usize::from(x > 8.0);
        }
        let m = s1 / n as f64;
        let var = s2 / n as f64 - m * m;
        assert!((m - 1.0).abs() < 0.01, "mean {m}");
        assert!((var - 1.0).abs() < 0.03, "var {var}");
        let p3 = above3 as f64 / n as f64;
        assert!((p3 - (-3.0f64).exp()).abs() < 0.003, "P(X>3) {p3}");
        // P(X > 8) = 3.4e-4: the tail must be sampled (≈ 134 expected).
        assert!((70..220).contains(&above8), "tail count {above8}");
    }

    #[test]
    fn bulk_streams_are_keyed_by_their_chacha_stream() {
        let draw = |stream: u64| {
            let mut key = stream_rng(1, &["x"], stream);
            let mut bulk = bulk_rng(&mut key);
            (0..3).map(|_| bulk.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(0), draw(0));
        assert_ne!(draw(0), draw(1));
    }

    #[test]
    fn streams_differ_and_repeat() {
        let draw = |seed: u64, stream: u64| {
            let mut rng = stream_rng(seed, &["x"], stream);
            (0..4).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        let (a, b, c, d) = (draw(1, 0), draw(1, 0), draw(1, 1), draw(2, 0));
        assert_ne!(a, d);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(seed_digest(1, &["ab", "c"]), seed_digest(1, &["a", "bc"]));
    }
}
