//! Shared by the corpus tests: reading /work/shared/reference/sql_fragments_dev.jsonl (or the
//! path in `JETSTREAM_SQL_FRAGMENTS`) and wrapping each fragment into a statement.

/// One fragment of the corpus, wrapped into a statement.
pub struct Fragment {
    pub kind: String,
    pub file: String,
    pub name: String,
    pub sql: String,
}

/// Where the corpus lives.
pub fn corpus_path() -> std::path::PathBuf {
    std::env::var_os("JETSTREAM_SQL_FRAGMENTS")
        .map(Into::into)
        .unwrap_or_else(|| "/work/shared/reference/sql_fragments_dev.jsonl".into())
}

/// Wraps a rendered fragment as mozanalysis would use it. `function.definition` fragments are
/// jinja helper templates: their `{select_expr}` placeholder is filled with a column `x`.
pub fn wrap(kind: &str, rendered: &str) -> String {
    match kind {
        "experiment.enrollment_query" => rendered.to_string(),
        "data_source.from_expression" | "segment_data_source.from_expression" => {
            format!("SELECT * FROM {rendered} AS ds")
        }
        "function.definition" => {
            format!(
                "SELECT {} AS v FROM t",
                rendered.replace("{select_expr}", "x")
            )
        }
        _ => format!("SELECT {rendered} AS v FROM t"),
    }
}

/// All fragments, or `None` when the corpus file is absent.
pub fn load() -> Option<Vec<Fragment>> {
    let text = std::fs::read_to_string(corpus_path()).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("corpus line is JSON");
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                Fragment {
                    sql: wrap(&s("kind"), &s("rendered")),
                    kind: s("kind"),
                    file: s("file"),
                    name: s("name"),
                }
            })
            .collect(),
    )
}
