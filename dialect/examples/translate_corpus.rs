//! Prints every corpus fragment with its translation as JSON lines
//! (`{"kind","file","name","bigquery","duckdb"|"error"}`), for `tests/parse_in_duckdb.py`.
//!
//! Usage: `cargo run -p jetstream-dialect --example translate_corpus > translated.jsonl`

#[path = "../tests/common/corpus.rs"]
mod corpus;

fn main() {
    let Some(fragments) = corpus::load() else {
        eprintln!("corpus not found at {}", corpus::corpus_path().display());
        std::process::exit(2);
    };
    for f in fragments {
        let mut obj = serde_json::json!({
            "kind": f.kind, "file": f.file, "name": f.name, "bigquery": f.sql,
        });
        match jetstream_dialect::translate(&f.sql) {
            Ok(sql) => obj["duckdb"] = sql.into(),
            Err(e) => obj["error"] = e.to_string().into(),
        }
        println!("{obj}");
    }
}
