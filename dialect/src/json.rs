//! JSON functions.
//!
//! BigQuery's JSON functions take JSON text (STRING) and return STRING; DuckDB's `json_*`
//! functions accept VARCHAR too. Differences kept: `JSON_VALUE`/`JSON_EXTRACT_SCALAR` return NULL
//! for objects and arrays (DuckDB would return their text), `JSON_EXTRACT`/`JSON_QUERY` return
//! text, `JSON_EXTRACT_ARRAY` returns an array of JSON texts. BigQuery's `$['key']` path steps
//! become DuckDB's `$."key"`.

use crate::error::TranslateError;
use crate::functions::Call;
use crate::literals::{as_string, sql_string};

/// Rewrites a JSON builtin, or returns `None` if `call` is not one.
pub fn rewrite(c: &Call) -> Result<Option<String>, TranslateError> {
    let template = match c.name.as_str() {
        "JSON_EXTRACT_SCALAR" | "JSON_VALUE" => "bq_json_value({j}, {p})",
        "JSON_EXTRACT" | "JSON_QUERY" => "CAST(json_extract({j}, {p}) AS VARCHAR)",
        "JSON_EXTRACT_ARRAY" | "JSON_QUERY_ARRAY" => "bq_json_extract_array({j}, {p})",
        "JSON_EXTRACT_STRING_ARRAY" | "JSON_VALUE_ARRAY" => "bq_json_value_array({j}, {p})",
        _ => return Ok(None),
    };
    c.arity(1, 2)?;
    if c.func.over.is_some() {
        return Err(c.unsupported("OVER clause on a scalar function"));
    }
    let path = match c.args.get(1) {
        None => sql_string("$"),
        Some(p) => match as_string(p) {
            Some(text) => sql_string(&translate_path(text)),
            None => p.to_string(),
        },
    };
    Ok(Some(
        template.replace("{j}", &c.arg(0)).replace("{p}", &path),
    ))
}

/// Rewrites `['key']` / `["key"]` path steps as `."key"`; everything else is kept.
pub fn translate_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find('[') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let quote = after.chars().next();
        if let Some(q @ ('\'' | '"')) = quote {
            if let Some(end) = after[1..].find(q) {
                let key = &after[1..1 + end];
                if after[1 + end + 1..].starts_with(']') {
                    out.push_str(&format!(".\"{}\"", key.replace('"', "\\\"")));
                    rest = &after[1 + end + 2..];
                    continue;
                }
            }
        }
        out.push('[');
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_steps_become_quoted_keys() {
        assert_eq!(translate_path("$.a.b"), "$.a.b");
        assert_eq!(translate_path("$['a-b'].c"), "$.\"a-b\".c");
        assert_eq!(translate_path("$[0].x"), "$[0].x");
        assert_eq!(translate_path("$[\"k\"]"), "$.\"k\"");
    }
}
