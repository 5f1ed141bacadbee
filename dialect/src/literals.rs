//! String and number literals.
//!
//! In BigQuery `"x"` is a string (in DuckDB an identifier), `r'\d'` is a raw string and `'\''`
//! uses backslash escapes. The parser already resolves escapes into the literal's value, so
//! every string form is re-emitted as a DuckDB standard string `'...'` (which processes no
//! escapes except a doubled quote), which keeps the value byte for byte.

use sqlparser::ast::{Expr, Value, ValueWithSpan};

use crate::error::TranslateError;

/// Rewrites one literal in place into a form DuckDB reads with the same value.
pub fn normalize_value(value: &mut ValueWithSpan) -> Result<(), TranslateError> {
    let text = match &value.value {
        Value::DoubleQuotedString(s)
        | Value::TripleSingleQuotedString(s)
        | Value::TripleDoubleQuotedString(s)
        | Value::SingleQuotedRawStringLiteral(s)
        | Value::DoubleQuotedRawStringLiteral(s)
        | Value::TripleSingleQuotedRawStringLiteral(s)
        | Value::TripleDoubleQuotedRawStringLiteral(s) => s.clone(),
        Value::SingleQuotedByteStringLiteral(_)
        | Value::DoubleQuotedByteStringLiteral(_)
        | Value::TripleSingleQuotedByteStringLiteral(_)
        | Value::TripleDoubleQuotedByteStringLiteral(_)
        | Value::HexStringLiteral(_) => {
            return Err(TranslateError::unsupported(
                "BYTES literal",
                value.span.start,
            ))
        }
        Value::Placeholder(p) => {
            return Err(TranslateError::unsupported(
                format!("query parameter {p}"),
                value.span.start,
            ))
        }
        _ => return Ok(()),
    };
    value.value = Value::SingleQuotedString(text);
    Ok(())
}

/// A DuckDB string literal holding `s`.
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The value of a string literal expression (any quoting), if `expr` is one.
pub fn as_string(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::SingleQuotedRawStringLiteral(s)
            | Value::DoubleQuotedRawStringLiteral(s)
            | Value::TripleSingleQuotedString(s)
            | Value::TripleDoubleQuotedString(s) => Some(s),
            _ => None,
        },
        Expr::Nested(inner) => as_string(inner),
        _ => None,
    }
}

/// The value of an integer literal expression (optionally negated), if `expr` is one.
pub fn as_integer(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Minus,
            expr,
        } => as_integer(expr).and_then(i64::checked_neg),
        Expr::Nested(inner) => as_integer(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(sql_string("it's"), "'it''s'");
        assert_eq!(sql_string("a\\d"), "'a\\d'");
    }
}
