//! Date and time functions.
//!
//! BigQuery and DuckDB differ in argument order (`DATE_DIFF(end, start, part)` vs
//! `date_diff(part, start, end)`), in week conventions (BigQuery `WEEK` starts on Sunday, DuckDB's
//! `week` is ISO/Monday), in what `DATE + INTERVAL` returns (DuckDB: TIMESTAMP) and in literal
//! coercion (BigQuery reads `'2024-01-01'` as a DATE where a DATE is expected). Each rewrite
//! below keeps the BigQuery result.

use sqlparser::ast::{DateTimeField, Expr};
use sqlparser::tokenizer::Location;

use crate::error::TranslateError;
use crate::functions::Call;
use crate::literals::{as_string, sql_string};
use crate::raw::operand;

/// Rewrites a date/time builtin, or returns `None` if `call` is not one.
pub fn rewrite(c: &Call) -> Result<Option<String>, TranslateError> {
    let n = c.name.as_str();
    let text = match n {
        "CURRENT_DATE" => {
            c.arity(0, 0)?;
            "current_date".to_string()
        }
        "CURRENT_TIMESTAMP" | "CURRENT_DATETIME" => {
            c.arity(0, 0)?;
            "CAST(timezone('UTC', current_timestamp) AS TIMESTAMP)".to_string()
        }
        "DATE" => match c.args.len() {
            1 => format!("CAST({} AS DATE)", c.arg(0)),
            3 => format!("make_date({}, {}, {})", c.arg(0), c.arg(1), c.arg(2)),
            2 => {
                return Err(
                    c.unsupported("DATE(timestamp, time_zone): time zones are not translated")
                )
            }
            _ => return Err(c.unsupported("expected 1 or 3 arguments")),
        },
        "DATETIME" | "TIMESTAMP" => {
            c.arity(1, 1)?;
            format!("CAST({} AS TIMESTAMP)", c.arg(0))
        }
        "DATE_DIFF" => {
            c.arity(3, 3)?;
            let (end, start) = (date_arg(c.args[0]), date_arg(c.args[1]));
            match part(c, c.args[2])?.as_str() {
                p @ ("DAY" | "MONTH" | "QUARTER" | "YEAR") => {
                    format!("date_diff('{}', {start}, {end})", p.to_ascii_lowercase())
                }
                "WEEK" | "WEEK(SUNDAY)" => format!("bq_date_diff_week({end}, {start})"),
                "ISOWEEK" | "WEEK(MONDAY)" => format!("date_diff('week', {start}, {end})"),
                p => return Err(c.unsupported(format!("date part {p}"))),
            }
        }
        "DATETIME_DIFF" | "TIMESTAMP_DIFF" => {
            c.arity(3, 3)?;
            let p = part(c, c.args[2])?;
            if !is_time_part(&p) {
                return Err(c.unsupported(format!("date part {p}")));
            }
            // BigQuery counts whole units elapsed (date_sub); DATETIME_DIFF counts boundaries
            // for DAY like DATE_DIFF does (date_diff).
            let f = if n == "DATETIME_DIFF" && p == "DAY" {
                "date_diff"
            } else {
                "date_sub"
            };
            format!(
                "{f}('{}', {}, {})",
                p.to_ascii_lowercase(),
                c.arg(1),
                c.arg(0)
            )
        }
        "DATE_ADD" | "DATE_SUB" => {
            c.arity(2, 2)?;
            let (value, unit) = interval(c, c.args[1])?;
            if !matches!(unit.as_str(), "DAY" | "WEEK" | "MONTH" | "QUARTER" | "YEAR") {
                return Err(c.unsupported(format!("interval unit {unit}")));
            }
            let op = if n == "DATE_ADD" { '+' } else { '-' };
            format!(
                "CAST({} {op} INTERVAL {value} {unit} AS DATE)",
                date_operand(c.args[0])
            )
        }
        "DATETIME_ADD" | "DATETIME_SUB" | "TIMESTAMP_ADD" | "TIMESTAMP_SUB" => {
            c.arity(2, 2)?;
            let (value, unit) = interval(c, c.args[1])?;
            if !is_time_part(&unit) {
                return Err(c.unsupported(format!("interval unit {unit}")));
            }
            let op = if n.ends_with("_ADD") { '+' } else { '-' };
            format!(
                "CAST({} {op} INTERVAL {value} {unit} AS TIMESTAMP)",
                c.op(0)
            )
        }
        "DATE_TRUNC" => {
            c.arity(2, 2)?;
            let d = date_arg(c.args[0]);
            match part(c, c.args[1])?.as_str() {
                "WEEK" | "WEEK(SUNDAY)" => format!("bq_date_trunc_week({d})"),
                "ISOWEEK" | "WEEK(MONDAY)" => format!("CAST(date_trunc('week', {d}) AS DATE)"),
                p @ ("DAY" | "MONTH" | "QUARTER" | "YEAR") => {
                    format!(
                        "CAST(date_trunc('{}', {d}) AS DATE)",
                        p.to_ascii_lowercase()
                    )
                }
                p => return Err(c.unsupported(format!("date part {p}"))),
            }
        }
        "DATETIME_TRUNC" | "TIMESTAMP_TRUNC" => {
            c.arity(2, 2)?;
            match part(c, c.args[1])?.as_str() {
                "WEEK" | "WEEK(SUNDAY)" => {
                    format!("CAST(bq_date_trunc_week({}) AS TIMESTAMP)", c.arg(0))
                }
                "ISOWEEK" | "WEEK(MONDAY)" => format!("date_trunc('week', {})", c.arg(0)),
                p @ ("MICROSECOND" | "MILLISECOND" | "SECOND" | "MINUTE" | "HOUR" | "DAY"
                | "MONTH" | "QUARTER" | "YEAR") => {
                    format!("date_trunc('{}', {})", p.to_ascii_lowercase(), c.arg(0))
                }
                p => return Err(c.unsupported(format!("date part {p}"))),
            }
        }
        "PARSE_DATE" | "PARSE_DATETIME" | "PARSE_TIMESTAMP" => {
            c.arity(2, 2)?;
            let fmt = format_string(c)?;
            let f = if c.safe { "try_strptime" } else { "strptime" };
            let parsed = format!("{f}({}, {fmt})", c.arg(1));
            if n == "PARSE_DATE" {
                format!("CAST({parsed} AS DATE)")
            } else {
                format!("CAST({parsed} AS TIMESTAMP)")
            }
        }
        "FORMAT_DATE" | "FORMAT_DATETIME" | "FORMAT_TIMESTAMP" => {
            c.arity(2, 2)?;
            let fmt = format_string(c)?;
            let value = if n == "FORMAT_DATE" {
                date_arg(c.args[1])
            } else {
                c.arg(1)
            };
            format!("strftime({value}, {fmt})")
        }
        "UNIX_DATE" => {
            c.arity(1, 1)?;
            format!(
                "CAST({} - DATE '1970-01-01' AS BIGINT)",
                date_operand(c.args[0])
            )
        }
        "DATE_FROM_UNIX_DATE" => {
            c.arity(1, 1)?;
            format!("(DATE '1970-01-01' + CAST({} AS INTEGER))", c.arg(0))
        }
        "UNIX_SECONDS" => {
            c.arity(1, 1)?;
            format!("CAST(floor(epoch_us({}) / 1000000) AS BIGINT)", c.arg(0))
        }
        "UNIX_MILLIS" => {
            c.arity(1, 1)?;
            format!("CAST(floor(epoch_us({}) / 1000) AS BIGINT)", c.arg(0))
        }
        "UNIX_MICROS" => {
            c.arity(1, 1)?;
            format!("epoch_us({})", c.arg(0))
        }
        "TIMESTAMP_SECONDS" => {
            c.arity(1, 1)?;
            format!("make_timestamp(CAST({} AS BIGINT) * 1000000)", c.arg(0))
        }
        "TIMESTAMP_MILLIS" => {
            c.arity(1, 1)?;
            format!("make_timestamp(CAST({} AS BIGINT) * 1000)", c.arg(0))
        }
        "TIMESTAMP_MICROS" => {
            c.arity(1, 1)?;
            format!("make_timestamp(CAST({} AS BIGINT))", c.arg(0))
        }
        "GENERATE_DATE_ARRAY" => {
            c.arity(2, 3)?;
            let step = if c.args.len() == 3 {
                let (value, unit) = interval(c, c.args[2])?;
                format!("INTERVAL {value} {unit}")
            } else {
                "INTERVAL 1 DAY".to_string()
            };
            format!(
                "bq_generate_date_array({}, {}, {step})",
                date_arg(c.args[0]),
                date_arg(c.args[1])
            )
        }
        "LAST_DAY" => {
            c.arity(1, 1)?;
            format!("last_day({})", date_arg(c.args[0]))
        }
        _ => return Ok(None),
    };
    if c.func.over.is_some() {
        return Err(c.unsupported("OVER clause on a scalar function"));
    }
    Ok(Some(text))
}

/// `EXTRACT(part FROM x)` with BigQuery's numbering (DAYOFWEEK 1 = Sunday, WEEK Sunday-based).
pub fn extract(field: &DateTimeField, expr: &Expr, at: Location) -> Result<String, TranslateError> {
    let x = expr.to_string();
    let part = field.to_string().to_ascii_uppercase();
    Ok(match part.as_str() {
        "DAYOFWEEK" => format!("(dayofweek({x}) + 1)"),
        "DAYOFYEAR" => format!("dayofyear({x})"),
        "WEEK" | "WEEK(SUNDAY)" => format!("CAST(strftime({x}, '%U') AS BIGINT)"),
        "WEEK(MONDAY)" => format!("CAST(strftime({x}, '%W') AS BIGINT)"),
        "ISOWEEK" => format!("week({x})"),
        "ISOYEAR" => format!("isoyear({x})"),
        "DATE" => format!("CAST({x} AS DATE)"),
        "MILLISECOND" => format!("(millisecond({x}) % 1000)"),
        "MICROSECOND" => format!("(microsecond({x}) % 1000000)"),
        "YEAR" | "QUARTER" | "MONTH" | "DAY" | "HOUR" | "MINUTE" | "SECOND" => {
            format!("extract({} FROM {x})", part.to_ascii_lowercase())
        }
        other => {
            return Err(TranslateError::unsupported(
                format!("EXTRACT({other} FROM ...)"),
                at,
            ))
        }
    })
}

/// A date argument: string literals are cast to DATE, as BigQuery coerces them.
pub fn date_arg(e: &Expr) -> String {
    match as_string(e) {
        Some(s) => format!("CAST({} AS DATE)", sql_string(s)),
        None => e.to_string(),
    }
}

/// Like [`date_arg`], as an operand of `+`/`-`.
fn date_operand(e: &Expr) -> String {
    match as_string(e) {
        Some(s) => format!("CAST({} AS DATE)", sql_string(s)),
        None => operand(e),
    }
}

/// The date part named by an argument such as `DAY` or `WEEK(MONDAY)`, upper-cased.
fn part(c: &Call, e: &Expr) -> Result<String, TranslateError> {
    match e {
        Expr::Identifier(id) if id.quote_style.is_none() => Ok(id.value.to_ascii_uppercase()),
        Expr::Function(f) => {
            let args = match &f.args {
                sqlparser::ast::FunctionArguments::List(l) => l.to_string(),
                _ => String::new(),
            };
            let name = crate::names::flat_parts(&f.name).join(".");
            Ok(format!("{name}({args})")
                .to_ascii_uppercase()
                .replace(' ', ""))
        }
        other => Err(c.unsupported(format!("`{other}` where a date part was expected"))),
    }
}

/// Parts valid for TIMESTAMP arithmetic.
fn is_time_part(p: &str) -> bool {
    matches!(
        p,
        "MICROSECOND" | "MILLISECOND" | "SECOND" | "MINUTE" | "HOUR" | "DAY"
    )
}

/// `INTERVAL n UNIT` → (`n` as DuckDB text, parenthesised unless a literal, `UNIT`).
fn interval(c: &Call, e: &Expr) -> Result<(String, String), TranslateError> {
    let Expr::Interval(iv) = e else {
        return Err(c.unsupported(format!("`{e}` where INTERVAL n <part> was expected")));
    };
    let (Some(unit), None) = (&iv.leading_field, &iv.last_field) else {
        return Err(c.unsupported(format!("interval `{e}`")));
    };
    let value = match iv.value.as_ref() {
        v @ Expr::Value(_) => v.to_string(),
        v => format!("({v})"),
    };
    Ok((value, unit.to_string().to_ascii_uppercase()))
}

/// The literal format string of a PARSE_/FORMAT_ call, translated to DuckDB's strftime dialect.
fn format_string(c: &Call) -> Result<String, TranslateError> {
    let fmt = as_string(c.args[0]).ok_or_else(|| c.unsupported("a non-literal format string"))?;
    translate_format(fmt)
        .map(|f| sql_string(&f))
        .map_err(|spec| c.unsupported(format!("format element %{spec}")))
}

/// Translates BigQuery `%` format elements into DuckDB's; `Err` names an untranslatable element.
pub fn translate_format(fmt: &str) -> Result<String, String> {
    let mut out = String::with_capacity(fmt.len());
    let mut chars = fmt.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(String::new());
        };
        let mapped = match spec {
            'Y' | 'm' | 'd' | 'H' | 'M' | 'S' | 'y' | 'b' | 'B' | 'a' | 'A' | 'p' | 'j' | 'I'
            | 'U' | 'W' | 'w' | 'Z' | 'z' | '%' => format!("%{spec}"),
            'F' => "%Y-%m-%d".into(),
            'T' => "%H:%M:%S".into(),
            'D' => "%m/%d/%y".into(),
            'R' => "%H:%M".into(),
            'h' => "%b".into(),
            'e' => "%-d".into(),
            'k' => "%-H".into(),
            'l' => "%-I".into(),
            'n' => "\n".into(),
            't' => "\t".into(),
            other => return Err(other.to_string()),
        };
        out.push_str(&mapped);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_elements() {
        assert_eq!(translate_format("%Y%m%d").unwrap(), "%Y%m%d");
        assert_eq!(translate_format("%F %T").unwrap(), "%Y-%m-%d %H:%M:%S");
        assert_eq!(translate_format("%Q"), Err("Q".to_string()));
        assert_eq!(translate_format("100%"), Err(String::new()));
    }
}
