//! `CAST` / `SAFE_CAST` and BigQuery type names.
//!
//! Types: INT64/INT/INTEGER/... → BIGINT, FLOAT64 → DOUBLE, STRING → VARCHAR, BOOL → BOOLEAN,
//! NUMERIC/DECIMAL → DECIMAL(38,9), BIGNUMERIC → DECIMAL(38,9) (narrower than BigQuery's),
//! DATETIME/TIMESTAMP → TIMESTAMP, BYTES → BLOB, ARRAY<T> → T[], STRUCT<a T> → STRUCT(a T).
//! `SAFE_CAST` → `TRY_CAST`. BigQuery rounds halves away from zero when casting a float to
//! INT64, DuckDB rounds them to even, so such casts go through the `bq_cast_int64` macro unless
//! the operand is evidently not a float.

use sqlparser::ast::{ArrayElemTypeDef, BinaryOperator, CastKind, DataType, Expr, Value};
use sqlparser::tokenizer::Location;

use crate::error::TranslateError;
use crate::names;

/// Rewrites `CAST(expr AS type)` / `SAFE_CAST(...)` into DuckDB text.
pub fn rewrite_cast(
    kind: &CastKind,
    expr: &Expr,
    data_type: &DataType,
    has_format: bool,
    at: Location,
) -> Result<String, TranslateError> {
    if has_format {
        return Err(TranslateError::unsupported("CAST ... FORMAT", at));
    }
    let safe = matches!(kind, CastKind::SafeCast | CastKind::TryCast);
    let target = map_type(data_type, at)?;
    if target == "BIGINT" && !surely_not_float(expr) {
        let f = if safe {
            "bq_safe_cast_int64"
        } else {
            "bq_cast_int64"
        };
        return Ok(format!("{f}({expr})"));
    }
    let f = if safe { "TRY_CAST" } else { "CAST" };
    Ok(format!("{f}({expr} AS {target})"))
}

/// The DuckDB spelling of a BigQuery type.
pub fn map_type(t: &DataType, at: Location) -> Result<String, TranslateError> {
    Ok(match t {
        DataType::Array(ArrayElemTypeDef::AngleBracket(inner))
        | DataType::Array(ArrayElemTypeDef::SquareBracket(inner, _)) => {
            format!("{}[]", map_type(inner, at)?)
        }
        DataType::Struct(fields, _) => {
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                let name = f.field_name.as_ref().ok_or_else(|| {
                    TranslateError::unsupported("STRUCT type with an unnamed field", at)
                })?;
                out.push(format!(
                    "{} {}",
                    names::quote(&name.value),
                    map_type(&f.field_type, at)?
                ));
            }
            format!("STRUCT({})", out.join(", "))
        }
        other => {
            let text = other.to_string().to_ascii_uppercase();
            let base = text.split('(').next().unwrap_or("").trim().to_string();
            match base.as_str() {
                "INT64" | "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "BYTEINT" => {
                    "BIGINT".to_string()
                }
                "FLOAT64" | "FLOAT" | "DOUBLE" => "DOUBLE".to_string(),
                "STRING" => "VARCHAR".to_string(),
                "BOOL" | "BOOLEAN" => "BOOLEAN".to_string(),
                "DATE" => "DATE".to_string(),
                "DATETIME" | "TIMESTAMP" => "TIMESTAMP".to_string(),
                "TIME" => "TIME".to_string(),
                "NUMERIC" | "DECIMAL" | "BIGNUMERIC" | "BIGDECIMAL" => {
                    if text.contains('(') {
                        text.replacen(&base, "DECIMAL", 1)
                    } else {
                        "DECIMAL(38,9)".to_string()
                    }
                }
                "BYTES" => "BLOB".to_string(),
                "JSON" => "JSON".to_string(),
                _ => return Err(TranslateError::unsupported(format!("type {text}"), at)),
            }
        }
    })
}

/// True when `e` evidently yields a boolean, an integer or a string, so a plain integer cast
/// has BigQuery's result.
fn surely_not_float(e: &Expr) -> bool {
    use BinaryOperator::*;
    match e {
        Expr::Nested(inner) => surely_not_float(inner),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => !n.contains(['.', 'e', 'E']),
            Value::Boolean(_) | Value::Null | Value::SingleQuotedString(_) => true,
            _ => false,
        },
        Expr::BinaryOp { op, .. } => matches!(
            op,
            Eq | NotEq | Lt | LtEq | Gt | GtEq | And | Or | Spaceship
        ),
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Not,
            ..
        }
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::InList { .. }
        | Expr::InSubquery { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::Exists { .. } => true,
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            match name.as_str() {
                "bool_or" | "bool_and" | "count" | "count_if" | "regexp_matches"
                | "starts_with" | "ends_with" | "len" | "length" => true,
                "coalesce" => match &f.args {
                    sqlparser::ast::FunctionArguments::List(l) => l.args.iter().all(|a| {
                        matches!(a, sqlparser::ast::FunctionArg::Unnamed(
                            sqlparser::ast::FunctionArgExpr::Expr(x)) if surely_not_float(x))
                    }),
                    _ => false,
                },
                _ => false,
            }
        }
        _ => false,
    }
}
