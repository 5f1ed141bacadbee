//! The acceptance test: every fragment of the metric-hub corpus translates.
//!
//! Fragments are wrapped as in `corpus.rs` (`function.definition` jinja helpers get `x` for
//! `{select_expr}`). Whether DuckDB parses the output is checked by `parse_in_duckdb.py`
//! (this crate does not link DuckDB); at the time of writing all 3,059 parse in DuckDB 1.2.0
//! and in DuckDB 2.0.0.

#[path = "common/corpus.rs"]
mod corpus;

/// Fragments in sql_fragments_dev.jsonl.
const EXPECTED_FRAGMENTS: usize = 3_059;
/// All of them translate; there is no known exception.
const EXPECTED_TRANSLATED: usize = 3_059;

#[test]
fn every_corpus_fragment_translates() {
    let Some(fragments) = corpus::load() else {
        eprintln!(
            "skipping: corpus not found at {}",
            corpus::corpus_path().display()
        );
        return;
    };
    assert_eq!(fragments.len(), EXPECTED_FRAGMENTS);
    let mut failures = Vec::new();
    for f in &fragments {
        if let Err(e) = jetstream_dialect::translate(&f.sql) {
            failures.push(format!("{} {} {}: {e}\n{}", f.kind, f.file, f.name, f.sql));
        }
    }
    let translated = fragments.len() - failures.len();
    assert_eq!(
        translated,
        EXPECTED_TRANSLATED,
        "failures:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn translation_is_stable() {
    // Translating DuckDB output again is not meaningful (it is not BigQuery), but translating
    // the same input twice must give the same text.
    let Some(fragments) = corpus::load() else {
        return;
    };
    for f in fragments.iter().take(300) {
        assert_eq!(
            jetstream_dialect::translate(&f.sql).ok(),
            jetstream_dialect::translate(&f.sql).ok()
        );
    }
}
