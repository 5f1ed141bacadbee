//! metric-hub's aggregation DSL (2026): a metric may declare `aggregation = "sum"` and friends
//! instead of writing a `select_expression`; the DSL compiles into one, with upstream's rules
//! and SQL shapes (metric-config-parser's `aggregation.py`).
//!
//! Deliberate decision: the expression is generated when the file is parsed, so merging and
//! resolution treat it like a written `select_expression` (an override layer with either form
//! replaces the other). The windowed fields (`cumulative_window`, `incremental_window`,
//! `repeat_windows`) are validated and kept for the nimbus aggregation plan; Jetstream's
//! analysis windows do not use them.

/// The DSL fields of one metric, as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AggregationFields {
    pub aggregation: Option<String>,
    pub column: Option<String>,
    pub clauses: Vec<Clause>,
    pub within_days: Option<i64>,
    pub threshold: Option<(String, Number)>,
    pub scale: Option<Number>,
    pub cumulative_window: Option<i64>,
    pub incremental_window: Option<i64>,
    pub repeat_windows: Option<bool>,
}

/// A number as written (integers stay integers in the SQL, as in Python).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

/// A literal in a `where` clause.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Number(Number),
    Bool(bool),
    Text(String),
}

/// One `where` clause: `{column, op, value}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clause {
    pub column: String,
    pub op: Option<String>,
    pub value: Option<Literal>,
}

const AGGREGATIONS: &[&str] = &["sum", "count", "count_where", "any", "recency_within"];
const COMPARISONS: &[&str] = &[">", ">=", "<", "<=", "=", "!="];
const NULL_TESTS: &[&str] = &["IS NULL", "IS NOT NULL"];
const NO_ACTIVITY_DAYS: i64 = 30;

/// Whether any DSL field is set.
pub(crate) fn is_used(f: &AggregationFields) -> bool {
    *f != AggregationFields::default()
}

/// Validates the fields and generates the select expression (a Jinja template using
/// `agg_sum`/`agg_any`). Errors name the offending field first (`field: message`).
pub(crate) fn select_expression(f: &AggregationFields) -> Result<String, (String, String)> {
    let err = |field: &str, message: String| Err((field.to_string(), message));
    let Some(aggregation) = f.aggregation.as_deref() else {
        return err(
            "aggregation",
            "column, where, within_days, threshold, scale, cumulative_window, \
             incremental_window and repeat_windows require aggregation"
                .into(),
        );
    };
    if !AGGREGATIONS.contains(&aggregation) {
        return err(
            "aggregation",
            format!("'{aggregation}' is not one of {}", AGGREGATIONS.join(", ")),
        );
    }
    if let Some(column) = &f.column {
        check_identifier(column).map_err(|m| ("column".to_string(), m))?;
    }
    for clause in &f.clauses {
        check_clause(clause).map_err(|m| ("where".to_string(), m))?;
    }
    let column_aggregation = matches!(aggregation, "sum" | "count" | "recency_within");
    if column_aggregation {
        if f.column.is_none() {
            return err("column", format!("'{aggregation}' requires a column"));
        }
        if !f.clauses.is_empty() {
            return err("where", format!("'{aggregation}' does not take where"));
        }
    } else if f.column.is_some() != f.clauses.is_empty() {
        return err(
            "column",
            format!("'{aggregation}' requires exactly one of column or where"),
        );
    }
    match (aggregation, f.within_days) {
        ("recency_within", Some(days)) if days > 0 => {}
        ("recency_within", _) => {
            return err(
                "within_days",
                "within_days must be a positive integer".into(),
            )
        }
        (_, Some(_)) => {
            return err(
                "within_days",
                "within_days is only valid for recency_within".into(),
            )
        }
        _ => {}
    }
    for (field, value) in [
        ("cumulative_window", f.cumulative_window),
        ("incremental_window", f.incremental_window),
    ] {
        if value.is_some_and(|v| v <= 0) {
            return err(field, format!("{field} must be a positive integer"));
        }
    }
    if f.repeat_windows == Some(true)
        && f.cumulative_window.is_none()
        && f.incremental_window.is_none()
    {
        return err(
            "repeat_windows",
            "repeat_windows requires cumulative_window or incremental_window".into(),
        );
    }
    if let Some((op, _)) = &f.threshold {
        if !COMPARISONS.contains(&op.as_str()) {
            return err(
                "threshold",
                format!("threshold operator '{op}' must be a comparison"),
            );
        }
    }
    Ok(generate(aggregation, f))
}

fn generate(aggregation: &str, f: &AggregationFields) -> String {
    let column = f.column.as_deref().unwrap_or_default();
    // A column of a condition aggregation is shorthand for a truthy-column clause.
    let predicate = if f.clauses.is_empty() {
        column.to_string()
    } else {
        f.clauses
            .iter()
            .map(clause_sql)
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let (mut expression, mut boolean) = match aggregation {
        "sum" => (format!("{{{{agg_sum(\"{column}\")}}}}"), false),
        "count" => (format!("COUNT({column})"), false),
        "count_where" => (format!("COUNTIF({predicate})"), false),
        "any" => (macro_call("agg_any", &predicate), true),
        _ => (
            format!(
                "COALESCE(MIN(mozfun.bits28.days_since_seen({column})), {NO_ACTIVITY_DAYS}) < {}",
                f.within_days.unwrap_or_default()
            ),
            true,
        ),
    };
    if let Some((op, value)) = &f.threshold {
        if boolean {
            expression = format!("CAST({expression} AS INT64)");
        }
        expression = format!("{expression} {op} {}", number_sql(*value));
        boolean = true;
    }
    if let Some(scale) = f.scale {
        if boolean {
            expression = format!("CAST({expression} AS INT64)");
        }
        expression = format!("{expression} * {}", number_sql(scale));
    }
    expression
}

fn check_identifier(column: &str) -> Result<(), String> {
    let mut chars = column.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("column '{column}' must be a plain column name"))
    }
}

fn check_clause(clause: &Clause) -> Result<(), String> {
    check_identifier(&clause.column)?;
    let column = &clause.column;
    match (clause.op.as_deref(), &clause.value) {
        (Some(op), None) if COMPARISONS.contains(&op) => Err(format!(
            "where clause on '{column}' with '{op}' requires a value"
        )),
        (Some(op), _) if !COMPARISONS.contains(&op) && !NULL_TESTS.contains(&op) => Err(format!(
            "where clause: '{op}' is not one of {}, {}",
            COMPARISONS.join(" "),
            NULL_TESTS.join(", ")
        )),
        (Some(op), Some(_)) if NULL_TESTS.contains(&op) => {
            Err(format!("where clause on '{column}' takes no value"))
        }
        (None, Some(_)) => Err(format!("where clause on '{column}' takes no value")),
        _ => Ok(()),
    }
}

fn clause_sql(clause: &Clause) -> String {
    match (&clause.op, &clause.value) {
        (None, _) => clause.column.clone(),
        (Some(op), Some(value)) => format!("{} {op} {}", clause.column, literal_sql(value)),
        (Some(op), None) => format!("{} {op}", clause.column),
    }
}

/// Upstream's `sql_value`: strings single-quoted with `\`, `'` escaped and `{` written as
/// `\x7b` so that it cannot open a template.
fn literal_sql(value: &Literal) -> String {
    match value {
        Literal::Bool(true) => "TRUE".into(),
        Literal::Bool(false) => "FALSE".into(),
        Literal::Number(n) => number_sql(*n),
        Literal::Text(s) => format!(
            "'{}'",
            s.replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('{', "\\x7b")
        ),
    }
}

/// Python's `str()` of a number.
fn number_sql(n: Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
        Number::Float(f) if f.abs() >= 1e16 || (f != 0.0 && f.abs() < 1e-4) => {
            // Rust writes `1e20`, Python `1e+20`.
            let s = format!("{f:e}");
            match s.split_once('e') {
                Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp:0>2}"),
                Some((mantissa, exp)) => format!("{mantissa}e-{:0>2}", &exp[1..]),
                None => s,
            }
        }
        Number::Float(f) => f.to_string(),
    }
}

/// `{{name("argument")}}` with the argument escaped for a Jinja string.
fn macro_call(name: &str, argument: &str) -> String {
    let escaped = argument.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{{{{{name}(\"{escaped}\")}}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(aggregation: &str) -> AggregationFields {
        AggregationFields {
            aggregation: Some(aggregation.into()),
            ..AggregationFields::default()
        }
    }

    #[test]
    fn generates_upstreams_expressions() {
        let mut sum = fields("sum");
        sum.column = Some("active_hours_sum".into());
        assert_eq!(
            select_expression(&sum).unwrap(),
            "{{agg_sum(\"active_hours_sum\")}}"
        );

        let mut any = fields("any");
        any.clauses = vec![
            Clause {
                column: "source".into(),
                op: Some("=".into()),
                value: Some(Literal::Text("it's {x}".into())),
            },
            Clause {
                column: "n".into(),
                op: Some("IS NOT NULL".into()),
                value: None,
            },
        ];
        any.scale = Some(Number::Int(100));
        assert_eq!(
            select_expression(&any).unwrap(),
            r#"CAST({{agg_any("source = 'it\\'s \\x7bx}' AND n IS NOT NULL")}} AS INT64) * 100"#
        );

        let mut recency = fields("recency_within");
        recency.column = Some("days_seen_bits".into());
        recency.within_days = Some(7);
        recency.threshold = Some((">=".into(), Number::Float(1.0)));
        assert_eq!(
            select_expression(&recency).unwrap(),
            "CAST(COALESCE(MIN(mozfun.bits28.days_since_seen(days_seen_bits)), 30) < 7 AS INT64) >= 1.0"
        );

        let mut count_where = fields("count_where");
        count_where.column = Some("is_default".into());
        assert_eq!(
            select_expression(&count_where).unwrap(),
            "COUNTIF(is_default)"
        );
    }

    #[test]
    fn rejects_what_upstream_rejects() {
        let field = |f: &AggregationFields| select_expression(f).unwrap_err().0;
        assert_eq!(field(&fields("median")), "aggregation");
        assert_eq!(field(&fields("sum")), "column");
        let mut both = fields("any");
        both.column = Some("a".into());
        both.clauses = vec![Clause {
            column: "b".into(),
            op: None,
            value: None,
        }];
        assert_eq!(field(&both), "column");
        let mut bad_column = fields("count");
        bad_column.column = Some("a; DROP".into());
        assert_eq!(field(&bad_column), "column");
        let mut days = fields("sum");
        days.column = Some("a".into());
        days.within_days = Some(3);
        assert_eq!(field(&days), "within_days");
        let mut orphan = AggregationFields {
            scale: Some(Number::Int(2)),
            ..AggregationFields::default()
        };
        assert_eq!(field(&orphan), "aggregation");
        orphan.aggregation = Some("count".into());
        orphan.column = Some("a".into());
        orphan.repeat_windows = Some(true);
        assert_eq!(field(&orphan), "repeat_windows");
    }

    #[test]
    fn numbers_print_as_python() {
        assert_eq!(number_sql(Number::Float(0.5)), "0.5");
        assert_eq!(number_sql(Number::Float(2.0)), "2.0");
        assert_eq!(number_sql(Number::Float(1e20)), "1e+20");
        assert_eq!(number_sql(Number::Float(1e-5)), "1e-05");
        assert_eq!(number_sql(Number::Int(-3)), "-3");
    }
}
