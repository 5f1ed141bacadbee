//! Token-level fixes applied before parsing, for BigQuery syntax the parser does not accept.
//!
//! Only one: the `SAFE.` function prefix (`SAFE.SUBSTR(...)`). The `.` after `SAFE` is replaced by
//! `_` (same length, so every line/column in error messages stays right) and the position of the
//! call is remembered, so the rewriter knows the call was `SAFE.`-prefixed and not a function
//! that happens to be called `SAFE_SUBSTR`.

use std::collections::HashSet;

use sqlparser::dialect::BigQueryDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The SQL with `SAFE.f(` turned into `SAFE_f(`, and the (line, column) of each such call.
pub fn mark_safe_calls(sql: &str) -> (String, HashSet<(u64, u64)>) {
    let mut positions = HashSet::new();
    let Ok(tokens) = Tokenizer::new(&BigQueryDialect {}, sql).tokenize_with_location() else {
        return (sql.to_string(), positions);
    };
    let mut periods = Vec::new();
    for w in tokens.windows(4) {
        let is_safe = matches!(&w[0].token, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case("SAFE"));
        if is_safe
            && w[1].token == Token::Period
            && matches!(&w[2].token, Token::Word(word) if word.quote_style.is_none())
            && w[3].token == Token::LParen
        {
            let start = w[0].span.start;
            periods.push(w[1].span.start);
            positions.insert((start.line, start.column));
        }
    }
    if periods.is_empty() {
        return (sql.to_string(), positions);
    }
    let mut out = String::with_capacity(sql.len());
    for (line_no, line) in sql.split_inclusive('\n').enumerate() {
        for (col_no, ch) in line.chars().enumerate() {
            let here = periods
                .iter()
                .any(|p| p.line == line_no as u64 + 1 && p.column == col_no as u64 + 1);
            out.push(if here && ch == '.' { '_' } else { ch });
        }
    }
    (out, positions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_safe_prefix() {
        let (sql, pos) = mark_safe_calls("SELECT SAFE.SUBSTR(a, 0, 8), safe.x FROM t");
        assert_eq!(sql, "SELECT SAFE_SUBSTR(a, 0, 8), safe.x FROM t");
        assert!(pos.contains(&(1, 8)));
        assert_eq!(pos.len(), 1);
    }
}
