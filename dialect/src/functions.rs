//! BigQuery builtin function calls → DuckDB.
//!
//! Three kinds of rewrite:
//! * same name and meaning (`SUM`, `COALESCE`, ...): only the name is normalised;
//! * a DuckDB function with another name and the same meaning (`COUNTIF` → `count_if`): renamed,
//!   keeping `DISTINCT`, `OVER`, `IGNORE NULLS` etc.;
//! * everything else is re-written as DuckDB text, often a call of a `bq_*` macro from
//!   `bigquery_builtins.sql` when the BigQuery meaning needs several DuckDB steps.
//!
//! A builtin that is not listed here is an error rather than a guess.

use sqlparser::ast::{
    DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, NullTreatment, ObjectName, ObjectNamePart,
};
use sqlparser::tokenizer::Location;

use crate::error::TranslateError;
use crate::literals::{as_integer, as_string};
use crate::names::{self, FunctionTarget};
use crate::raw::{self, operand};
use crate::{dates, json};

/// Functions with the same name and meaning in both engines.
const SAME: &[&str] = &[
    "SUM",
    "COUNT",
    "MIN",
    "MAX",
    "AVG",
    "COALESCE",
    "NULLIF",
    "LOWER",
    "UPPER",
    "REPLACE",
    "LENGTH",
    "LTRIM",
    "RTRIM",
    "ROUND",
    "ABS",
    "SIGN",
    "SQRT",
    "LN",
    "LOG10",
    "EXP",
    "CEIL",
    "FLOOR",
    "TRUNC",
    "MOD",
    "ROW_NUMBER",
    "RANK",
    "DENSE_RANK",
    "PERCENT_RANK",
    "CUME_DIST",
    "NTILE",
    "LAG",
    "LEAD",
    "FIRST_VALUE",
    "LAST_VALUE",
    "NTH_VALUE",
    "STRING_AGG",
    "STDDEV_SAMP",
    "STDDEV_POP",
    "VAR_SAMP",
    "VAR_POP",
    "CORR",
    "COVAR_POP",
    "COVAR_SAMP",
    "BIT_AND",
    "BIT_OR",
    "BIT_XOR",
    "LPAD",
    "RPAD",
    "REVERSE",
    "REPEAT",
    "ASCII",
    "LEFT",
    "RIGHT",
    "SIN",
    "COS",
    "TAN",
    "ASIN",
    "ACOS",
    "ATAN",
    "ATAN2",
    "BIT_COUNT",
    "STRPOS",
    "TRIM",
];

/// Functions that exist in DuckDB under another name with the same meaning.
const RENAMED: &[(&str, &str)] = &[
    ("LOGICAL_OR", "bool_or"),
    ("LOGICAL_AND", "bool_and"),
    ("ANY_VALUE", "any_value"),
    ("MAX_BY", "arg_max"),
    ("MIN_BY", "arg_min"),
    ("ARRAY_LENGTH", "len"),
    ("STARTS_WITH", "starts_with"),
    ("ENDS_WITH", "ends_with"),
    ("IFNULL", "coalesce"),
    ("POW", "pow"),
    ("POWER", "pow"),
    ("REGEXP_CONTAINS", "regexp_matches"),
    ("RAND", "random"),
    ("APPROX_COUNT_DISTINCT", "approx_count_distinct"),
    ("ARRAY_REVERSE", "list_reverse"),
    ("PERCENTILE_CONT", "quantile_cont"),
    ("PERCENTILE_DISC", "quantile_disc"),
    ("CEILING", "ceil"),
    ("STDDEV", "stddev_samp"),
    ("VARIANCE", "var_samp"),
    ("CHAR_LENGTH", "length"),
    ("CHARACTER_LENGTH", "length"),
    ("IS_INF", "isinf"),
    ("IS_NAN", "isnan"),
];

/// Pseudo-functions that only occur inside another construct (`arr[OFFSET(0)]`,
/// `DATE_TRUNC(d, WEEK(MONDAY))`); the enclosing rewrite consumes them.
const CONSUMED_BY_PARENT: &[&str] = &["OFFSET", "SAFE_OFFSET", "ORDINAL", "SAFE_ORDINAL", "WEEK"];

/// Builtins that `SAFE.` may prefix, because their translation can return NULL instead of failing.
const SAFE_CAPABLE: &[&str] = &[
    "SUBSTR",
    "SUBSTRING",
    "PARSE_DATE",
    "PARSE_DATETIME",
    "PARSE_TIMESTAMP",
];

/// A function call with its arguments, as seen by the rewrites.
pub struct Call<'a> {
    /// Upper-cased builtin name.
    pub name: String,
    /// The call as parsed (with translated arguments).
    pub func: &'a Function,
    /// Plain positional arguments.
    pub args: Vec<&'a Expr>,
    /// Where the call starts.
    pub at: Location,
    /// Called as `SAFE.<name>`.
    pub safe: bool,
}

impl Call<'_> {
    /// Argument `i` as DuckDB text.
    pub fn arg(&self, i: usize) -> String {
        self.args.get(i).map(|a| a.to_string()).unwrap_or_default()
    }

    /// Argument `i` as an operand (parenthesised when composite).
    pub fn op(&self, i: usize) -> String {
        self.args.get(i).map(|a| operand(a)).unwrap_or_default()
    }

    /// All arguments as DuckDB text, comma separated.
    pub fn all_args(&self) -> String {
        self.args
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks the number of arguments.
    pub fn arity(&self, min: usize, max: usize) -> Result<(), TranslateError> {
        let n = self.args.len();
        if n < min || n > max {
            let expected = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(self.unsupported(format!("{n} argument(s) (expected {expected})")));
        }
        Ok(())
    }

    /// An error about this call.
    pub fn unsupported(&self, what: impl std::fmt::Display) -> TranslateError {
        TranslateError::unsupported(format!("{}: {what}", self.name), self.at)
    }

    /// Rejects `OVER (...)`: the rewrite is for a scalar function.
    fn scalar(&self) -> Result<(), TranslateError> {
        if self.func.over.is_some() {
            return Err(self.unsupported("OVER clause on a scalar function"));
        }
        Ok(())
    }

    /// ` OVER (...)` if the call has a window.
    fn over(&self) -> String {
        self.func
            .over
            .as_ref()
            .map(|o| format!(" OVER {o}"))
            .unwrap_or_default()
    }
}

/// Rewrites one function call. Returns the replacement expression, or `None` when the call was
/// only renamed in place.
pub fn rewrite(
    func: &mut Function,
    safe: bool,
    at: Location,
) -> Result<Option<Expr>, TranslateError> {
    let name = match names::function_target(&func.name)? {
        FunctionTarget::Udf(udf) => {
            if safe {
                return Err(TranslateError::unsupported(format!("SAFE.{udf}"), at));
            }
            set_name(func, &udf);
            return Ok(None);
        }
        FunctionTarget::Builtin(name) => name,
    };
    if safe && !SAFE_CAPABLE.contains(&name.as_str()) {
        return Err(TranslateError::unsupported(format!("SAFE.{name}"), at));
    }
    if CONSUMED_BY_PARENT.contains(&name.as_str()) {
        return Ok(None);
    }
    if name == "ARRAY" && matches!(func.args, FunctionArguments::Subquery(_)) {
        // ARRAY(SELECT ...) has the same syntax and meaning in DuckDB.
        set_name(func, "ARRAY");
        return Ok(None);
    }
    if SAME.contains(&name.as_str()) {
        set_name(func, &name.to_ascii_lowercase());
        null_treatment_inside(func);
        return Ok(None);
    }
    if name == "COUNTIF" {
        // BigQuery counts 0 where nothing is true; DuckDB's count_if gives NULL then (over no
        // rows or only NULLs), which would drop clients without data from a metric.
        set_name(func, "count_if");
        null_treatment_inside(func);
        return Ok(Some(raw::expr(format!("COALESCE({func}, 0)"))));
    }
    if let Some((_, duck)) = RENAMED.iter().find(|(bq, _)| *bq == name) {
        set_name(func, duck);
        null_treatment_inside(func);
        return Ok(None);
    }
    let args = positional_args(func, &name, at)?;
    let call = Call {
        name,
        func,
        args,
        at,
        safe,
    };
    let text = match dates::rewrite(&call)? {
        Some(text) => text,
        None => match json::rewrite(&call)? {
            Some(text) => text,
            None => other(&call)?,
        },
    };
    Ok(Some(raw::expr(text)))
}

/// Builtins that are neither date/time nor JSON functions.
fn other(c: &Call) -> Result<String, TranslateError> {
    let n = c.name.as_str();
    if !matches!(n, "ARRAY_AGG" | "ARRAY_CONCAT_AGG" | "APPROX_QUANTILES") {
        c.scalar()?;
    }
    Ok(match n {
        "SAFE_DIVIDE" => {
            c.arity(2, 2)?;
            format!("bq_safe_divide({}, {})", c.arg(0), c.arg(1))
        }
        "IF" => {
            c.arity(3, 3)?;
            format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                c.arg(0),
                c.arg(1),
                c.arg(2)
            )
        }
        "LEAST" | "GREATEST" => {
            // BigQuery returns NULL as soon as one argument is NULL; DuckDB skips NULLs.
            c.arity(1, usize::MAX)?;
            let any_null = c
                .args
                .iter()
                .map(|a| format!("{} IS NULL", operand(a)))
                .collect::<Vec<_>>()
                .join(" OR ");
            format!(
                "CASE WHEN {any_null} THEN NULL ELSE {}({}) END",
                n.to_ascii_lowercase(),
                c.all_args()
            )
        }
        "CONCAT" => {
            // `||` is NULL when an operand is NULL, like BigQuery's CONCAT (DuckDB's concat skips NULLs).
            c.arity(1, usize::MAX)?;
            if c.args.len() == 1 {
                format!("CAST({} AS VARCHAR)", c.arg(0))
            } else {
                let parts: Vec<String> = c.args.iter().map(|a| operand(a)).collect();
                format!("({})", parts.join(" || "))
            }
        }
        "SPLIT" => {
            c.arity(1, 2)?;
            let delim = if c.args.len() == 2 {
                c.arg(1)
            } else {
                "','".to_string()
            };
            format!("string_split({}, {delim})", c.arg(0))
        }
        "SUBSTR" | "SUBSTRING" => {
            c.arity(2, 3)?;
            substr(
                &c.arg(0),
                &c.arg(1),
                c.args.get(2).map(|e| e.to_string()),
                c.safe,
            )
        }
        "DIV" => {
            c.arity(2, 2)?;
            format!("({} // {})", c.op(0), c.op(1))
        }
        "IEEE_DIVIDE" => {
            c.arity(2, 2)?;
            format!("(CAST({} AS DOUBLE) / {})", c.arg(0), c.op(1))
        }
        "LOG" => {
            c.arity(1, 2)?;
            if c.args.len() == 1 {
                format!("ln({})", c.arg(0))
            } else {
                format!("(ln({}) / ln({}))", c.arg(0), c.arg(1))
            }
        }
        "CONTAINS_SUBSTR" => {
            c.arity(2, 2)?;
            format!(
                "contains(lower(CAST({} AS VARCHAR)), lower({}))",
                c.arg(0),
                c.arg(1)
            )
        }
        "REGEXP_EXTRACT" | "REGEXP_SUBSTR" | "REGEXP_EXTRACT_ALL" => {
            c.arity(2, 2)?;
            let pattern = as_string(c.args[1])
                .ok_or_else(|| c.unsupported("a non-literal regular expression"))?;
            let groups = capture_groups(pattern);
            if groups > 1 {
                return Err(
                    c.unsupported("a regular expression with more than one capturing group")
                );
            }
            let group = if groups == 1 { 1 } else { 0 };
            if n == "REGEXP_EXTRACT_ALL" {
                format!("regexp_extract_all({}, {}, {group})", c.arg(0), c.arg(1))
            } else {
                format!("bq_regexp_extract({}, {}, {group})", c.arg(0), c.arg(1))
            }
        }
        "REGEXP_REPLACE" => {
            c.arity(3, 3)?;
            format!(
                "regexp_replace({}, {}, {}, 'g')",
                c.arg(0),
                c.arg(1),
                c.arg(2)
            )
        }
        "ARRAY_TO_STRING" => {
            c.arity(2, 3)?;
            if c.args.len() == 3 {
                format!(
                    "array_to_string([coalesce(bq_x, {}) FOR bq_x IN {}], {})",
                    c.arg(2),
                    c.arg(0),
                    c.arg(1)
                )
            } else {
                format!("array_to_string({}, {})", c.arg(0), c.arg(1))
            }
        }
        "ARRAY_CONCAT" => {
            c.arity(1, usize::MAX)?;
            let any_null = c
                .args
                .iter()
                .map(|a| format!("{} IS NULL", operand(a)))
                .collect::<Vec<_>>()
                .join(" OR ");
            let mut acc = c.arg(0);
            for a in &c.args[1..] {
                acc = format!("list_concat({acc}, {a})");
            }
            format!("CASE WHEN {any_null} THEN NULL ELSE {acc} END")
        }
        "GENERATE_ARRAY" => {
            c.arity(2, 3)?;
            let step = if c.args.len() == 3 {
                c.arg(2)
            } else {
                "1".into()
            };
            format!("generate_series({}, {}, {step})", c.arg(0), c.arg(1))
        }
        "GENERATE_UUID" => {
            c.arity(0, 0)?;
            "CAST(uuid() AS VARCHAR)".to_string()
        }
        "ARRAY_AGG" => array_agg(c, false)?,
        "ARRAY_CONCAT_AGG" => array_agg(c, true)?,
        "APPROX_QUANTILES" => {
            c.arity(2, 2)?;
            let buckets = as_integer(c.args[1])
                .filter(|b| (1..=10_000).contains(b))
                .ok_or_else(|| {
                    c.unsupported("a number of quantiles that is not a literal between 1 and 10000")
                })?;
            let points: Vec<String> = (0..=buckets)
                .map(|k| format!("{:?}", k as f64 / buckets as f64))
                .collect();
            format!(
                "quantile_disc({}, [{}]){}",
                c.arg(0),
                points.join(", "),
                c.over()
            )
        }
        "FARM_FINGERPRINT" => {
            return Err(c.unsupported(
                "no DuckDB function computes FarmHash Fingerprint64 (hash() gives other values)",
            ))
        }
        _ => return Err(c.unsupported("function not known to the translator")),
    })
}

/// BigQuery `SUBSTR`: 1-based, position 0 means 1, negative positions count from the end,
/// a negative length is an error (NULL with `SAFE.`).
pub fn substr(s: &str, pos: &str, len: Option<String>, safe: bool) -> String {
    let name = if safe { "bq_safe_substr" } else { "bq_substr" };
    match len {
        Some(len) => format!("{name}({s}, {pos}, {len})"),
        None => format!("{name}({s}, {pos})"),
    }
}

/// `ARRAY_AGG` / `ARRAY_CONCAT_AGG` with `DISTINCT`, `IGNORE NULLS`, `ORDER BY` and `LIMIT`.
fn array_agg(c: &Call, concat: bool) -> Result<String, TranslateError> {
    c.arity(1, 1)?;
    let FunctionArguments::List(list) = &c.func.args else {
        return Err(c.unsupported("missing argument list"));
    };
    let x = c.args[0];
    let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
    let mut ignore_nulls = matches!(c.func.null_treatment, Some(NullTreatment::IgnoreNulls));
    let mut order = String::new();
    let mut limit = None;
    for clause in &list.clauses {
        match clause {
            FunctionArgumentClause::IgnoreOrRespectNulls(NullTreatment::IgnoreNulls) => {
                ignore_nulls = true
            }
            FunctionArgumentClause::IgnoreOrRespectNulls(NullTreatment::RespectNulls) => {}
            FunctionArgumentClause::OrderBy(items) => {
                let items: Vec<String> = items.iter().map(|i| i.to_string()).collect();
                order = format!(" ORDER BY {}", items.join(", "));
            }
            FunctionArgumentClause::Limit(n) => limit = Some(n.to_string()),
            other => return Err(c.unsupported(format!("clause `{other}`"))),
        }
    }
    if c.func.filter.is_some() {
        return Err(c.unsupported("FILTER clause"));
    }
    if limit.is_some() && c.func.over.is_some() {
        return Err(c.unsupported("LIMIT together with OVER"));
    }
    let mut text = format!(
        "list({}{x}{order})",
        if distinct { "DISTINCT " } else { "" }
    );
    if ignore_nulls && !concat {
        text.push_str(&format!(" FILTER (WHERE {} IS NOT NULL)", operand(x)));
    }
    text.push_str(&c.over());
    if let Some(n) = limit {
        text = format!("list_slice({text}, 1, {n})");
    }
    if concat {
        text = format!("flatten({text})");
    }
    Ok(text)
}

/// Number of capturing groups in an RE2 pattern (`(` not followed by `?`, or `(?P<name>`).
pub fn capture_groups(pattern: &str) -> usize {
    let chars: Vec<char> = pattern.chars().collect();
    let (mut i, mut groups, mut in_class) = (0, 0, false);
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => {
                let next = chars.get(i + 1);
                let named = next == Some(&'?') && chars.get(i + 2) == Some(&'P');
                if next != Some(&'?') || named {
                    groups += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    groups
}

/// `STRUCT(a AS x, b)` → `struct_pack(x := a, b := b)`. Unnamed fields take the name of the
/// column they read (as BigQuery infers it) or `_field_<n>`.
pub fn struct_pack(values: &[Expr], typed: bool, at: Location) -> Result<Expr, TranslateError> {
    if typed {
        return Err(TranslateError::unsupported(
            "typed STRUCT<...>(...) literal",
            at,
        ));
    }
    let mut fields = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let (name, value) = match v {
            Expr::Named { expr, name } => (name.value.clone(), expr.to_string()),
            Expr::Identifier(id) => (id.value.clone(), v.to_string()),
            Expr::CompoundIdentifier(ids) => (
                ids.last().map(|id| id.value.clone()).unwrap_or_default(),
                v.to_string(),
            ),
            _ => (format!("_field_{}", i + 1), v.to_string()),
        };
        fields.push(format!("{} := {value}", names::quote(&name)));
    }
    Ok(raw::expr(format!("struct_pack({})", fields.join(", "))))
}

/// `f(x) IGNORE NULLS OVER (...)` → `f(x IGNORE NULLS) OVER (...)`: DuckDB only accepts the
/// clause inside the parentheses.
fn null_treatment_inside(func: &mut Function) {
    if let FunctionArguments::List(list) = &mut func.args {
        if let Some(nt) = func.null_treatment.take() {
            list.clauses
                .push(FunctionArgumentClause::IgnoreOrRespectNulls(nt));
        }
    }
}

/// Replaces the function name with a single bare identifier.
fn set_name(func: &mut Function, name: &str) {
    func.name = ObjectName(vec![ObjectNamePart::Identifier(raw::ident(
        name.to_string(),
    ))]);
}

/// The plain positional arguments of a call; named or wildcard arguments are rejected.
fn positional_args<'a>(
    func: &'a Function,
    name: &str,
    at: Location,
) -> Result<Vec<&'a Expr>, TranslateError> {
    match &func.args {
        FunctionArguments::None => Ok(vec![]),
        FunctionArguments::Subquery(_) => Err(TranslateError::unsupported(
            format!("{name} with a subquery argument"),
            at,
        )),
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                other => Err(TranslateError::unsupported(
                    format!("{name} with argument `{other}`"),
                    at,
                )),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_capture_groups() {
        assert_eq!(capture_groups(r"abc"), 0);
        assert_eq!(capture_groups(r"a(b)c"), 1);
        assert_eq!(capture_groups(r"a(?:b)c"), 0);
        assert_eq!(capture_groups(r"a\(b\)"), 0);
        assert_eq!(capture_groups(r"[(]x(y)"), 1);
        assert_eq!(capture_groups(r"(?P<n>x)(y)"), 2);
    }
}
