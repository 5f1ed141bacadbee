//! `jetstream translate-sql`: BigQuery SQL in, the DuckDB SQL the embedded warehouse would run
//! out. Plain text reads all of stdin as one input; `--jsonl` translates a corpus line by line
//! and never stops at a bad line, so every input gets exactly one output line.

use crate::cli::TranslateSqlArgs;
use anyhow::Context;
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

pub fn execute(args: &TranslateSqlArgs) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !args.jsonl {
        let mut sql = String::new();
        stdin
            .lock()
            .read_to_string(&mut sql)
            .context("reading BigQuery SQL from stdin")?;
        let translated = jetstream_dialect::translate(&sql)?;
        writeln!(out, "{translated}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut failures = 0usize;
    for (number, line) in stdin.lock().lines().enumerate() {
        let line = line.with_context(|| format!("reading stdin line {}", number + 1))?;
        let record = translate_line(&line, number + 1);
        if record.get("error").is_some() {
            failures += 1;
        }
        writeln!(out, "{record}")?;
    }
    out.flush()?;
    if failures > 0 {
        eprintln!("{failures} input line(s) could not be translated");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// One output record for one input line.
fn translate_line(line: &str, number: usize) -> serde_json::Value {
    let input: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return serde_json::json!({
                "error": format!("line {number}: not a JSON object ({e}); expected {{\"sql\": \"...\"}}")
            })
        }
    };
    let Some(sql) = input.get("sql").and_then(|s| s.as_str()) else {
        return serde_json::json!({
            "error": format!("line {number}: expected a JSON object with a string \"sql\" field")
        });
    };
    match jetstream_dialect::translate(sql) {
        Ok(duckdb) => serde_json::json!({ "duckdb": duckdb }),
        Err(e) => serde_json::json!({ "error": format!("line {number}: {e}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_gets_one_record() {
        assert!(translate_line(r#"{"sql": "SELECT 1"}"#, 1)
            .get("duckdb")
            .is_some());
        let bad = translate_line("not json", 2);
        assert!(bad["error"].as_str().unwrap().starts_with("line 2:"));
        let missing = translate_line(r#"{"query": "SELECT 1"}"#, 3);
        assert!(missing["error"].as_str().unwrap().contains("\"sql\""));
    }
}
