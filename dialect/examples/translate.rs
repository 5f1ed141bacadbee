//! Translates BigQuery SQL given on stdin (or one expression with `--expr`) and prints DuckDB SQL.
//! With `--jsonl`, reads JSON lines `{"bigquery": ...}` and adds `"duckdb"` or `"error"` to each
//! (used by `tests/check_semantics.py`). With `--prelude`, prints `duckdb_prelude()`.

use std::io::Read;

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    if arg == "--prelude" {
        print!("{}", jetstream_dialect::duckdb_prelude());
        return;
    }
    let mut input = String::new();
    if std::io::stdin().read_to_string(&mut input).is_err() {
        eprintln!("stdin is not UTF-8");
        std::process::exit(2);
    }
    if arg == "--jsonl" {
        for line in input.lines().filter(|l| !l.trim().is_empty()) {
            let mut v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("bad JSON line: {e}");
                    std::process::exit(2);
                }
            };
            let sql = v["bigquery"].as_str().unwrap_or_default().to_string();
            match jetstream_dialect::translate(&sql) {
                Ok(out) => v["duckdb"] = out.into(),
                Err(e) => v["error"] = e.to_string().into(),
            }
            println!("{v}");
        }
        return;
    }
    let result = if arg == "--expr" {
        jetstream_dialect::translate_expression(&input)
    } else {
        jetstream_dialect::translate(&input)
    };
    match result {
        Ok(sql) => println!("{sql}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
