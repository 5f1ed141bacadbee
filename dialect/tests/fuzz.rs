//! No input makes the translator panic: random bytes, random truncations and random splices of
//! corpus fragments must all come back as `Ok` or `Err`.

#[path = "common/corpus.rs"]
#[allow(dead_code)] // each test crate uses part of the shared module
mod corpus;

/// A small deterministic xorshift generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn exercise(text: &str) {
    let _ = jetstream_dialect::translate(text);
    let _ = jetstream_dialect::translate_expression(text);
}

#[test]
fn random_bytes_do_not_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let alphabet: Vec<char> =
        "SELECT FROM WHERE UNNEST(),.[]`'\"\\r*-+/<>=!@#$%^&{}|;: \n\tabc123_OFFSET SAFE."
            .chars()
            .collect();
    for _ in 0..3_000 {
        let len = rng.below(60);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&String::from_utf8_lossy(&bytes));
        let text: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        exercise(&text);
    }
}

#[test]
fn truncated_corpus_fragments_do_not_panic() {
    let Some(fragments) = corpus::load() else {
        return;
    };
    let mut rng = Rng(42);
    for f in fragments.iter().step_by(3) {
        let chars: Vec<char> = f.sql.chars().collect();
        let cut = rng.below(chars.len() + 1);
        exercise(&chars[..cut].iter().collect::<String>());
        let start = rng.below(chars.len() + 1);
        exercise(&chars[start..].iter().collect::<String>());
        let other = &fragments[rng.below(fragments.len())].sql;
        exercise(&format!(
            "{}{}",
            &chars[..cut].iter().collect::<String>(),
            other
        ));
    }
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    let deep = format!("SELECT {}1{} AS v", "(".repeat(5_000), ")".repeat(5_000));
    assert!(jetstream_dialect::translate(&deep).is_err());
    let deep_expr = format!("{}x{}", "f(".repeat(5_000), ")".repeat(5_000));
    assert!(jetstream_dialect::translate_expression(&deep_expr).is_err());
}
