//! Translates BigQuery SQL, as written in metric-hub configs and emitted by mozanalysis/Jetstream,
//! into SQL that DuckDB runs with the same meaning (checked on DuckDB 1.2.0 and 2.0.0).
//!
//! ```
//! let duck = jetstream_dialect::translate_expression(
//!     r#"SAFE_DIVIDE(COUNTIF(`mozfun.map.get_key`(m, "k") = 'x'), COUNT(*))"#,
//! )
//! .unwrap();
//! assert_eq!(duck, "bq_safe_divide(COALESCE(count_if(mozfun_map_get_key(m, 'k') = 'x'), 0), count(*))");
//! // Run `duckdb_prelude()` once per DuckDB database before running translated SQL.
//! assert!(jetstream_dialect::duckdb_prelude().contains("bq_safe_divide"));
//! ```
//!
//! The text is parsed with `sqlparser`'s BigQuery dialect, the tree is rewritten bottom-up (one
//! module per concern) and printed back. Constructs without a faithful DuckDB form are reported
//! as [`TranslateError::Unsupported`] with their line and column, never passed through silently.
//!
//! # Names
//!
//! * **Tables**: `project.dataset.table` (backticked whole or per part, project ids with
//!   dashes, quoted or not) becomes `dataset.table`; the project is dropped, so
//!   `mozdata.telemetry.clients_daily` and `` `moz-fx-data-shared-prod.telemetry.clients_daily` ``
//!   both read DuckDB's `telemetry.clients_daily`. 2- and 1-part names keep their parts.
//! * **Identifiers** that are not plain words (`` `slug-x` ``) or are DuckDB keywords (`values`)
//!   are double-quoted.
//! * **UDFs**: `mozfun.<ns>.<name>` → `mozfun_<ns>_<name>`; `<project>.udf.<name>` and
//!   `udf.<name>` → `udf_<name>`; `udf_js.<name>` → `udf_js_<name>`. Their DuckDB definitions
//!   come with [`duckdb_prelude`].
//!
//! # Semantics kept (the list of rewrites)
//!
//! Strings: `"x"`, `r'x'`, `'\''` → standard `'...'` literals. NULL ordering: BigQuery's
//! NULLS FIRST ascending / NULLS LAST descending is made explicit. `SAFE_DIVIDE`, `COUNTIF`,
//! `LOGICAL_OR/AND`, `IF`, `IFNULL`, `LEAST`/`GREATEST` (NULL if any argument is NULL, as in
//! BigQuery), `CONCAT` (NULL if any argument is NULL), `DATE_DIFF` (argument order, Sunday
//! weeks), `DATE_ADD/SUB` (string literals read as dates, result stays a DATE), `EXTRACT`
//! (DAYOFWEEK 1 = Sunday), `CAST`/`SAFE_CAST` (INT64 casts round halves away from zero),
//! `SUBSTR` (BigQuery positions), JSON functions (scalar-only `JSON_VALUE`, `$['k']` paths),
//! `REGEXP_EXTRACT` (NULL when no match), `arr[OFFSET(n)]` (0-based), `ARRAY_AGG(... IGNORE
//! NULLS ORDER BY ... LIMIT n)`, `STRUCT(...)`, `UNNEST` (struct fields of an unaliased UNNEST
//! become columns; `AS h` names the element), `* EXCEPT` → `* EXCLUDE`, `x IN UNNEST(arr)`.
//!
//! Known differences that are not errors: integer division by zero with `/` gives NULL/inf in
//! DuckDB where BigQuery fails; `ANY_VALUE` prefers non-NULL values in DuckDB; `ARRAY_AGG`
//! without `IGNORE NULLS` keeps NULL elements (BigQuery fails on them); `CAST('1.5' AS INT64)`
//! gives 2 in DuckDB where BigQuery fails; `CONTAINS_SUBSTR` does not apply Unicode
//! normalisation; timestamps are assumed to be stored as UTC `TIMESTAMP`; dot access into a
//! BigQuery JSON-typed column (`JSON_VALUE(event_extra.key)`) is printed as struct field access,
//! which works when the column is stored as a DuckDB STRUCT (types are not known here).
//!
//! # Checking
//!
//! `tests/fragments.rs` translates the metric-hub corpus; `tests/parse_in_duckdb.py` parses the
//! output with DuckDB; `tests/semantics.jsonl` holds BigQuery queries with the rows BigQuery
//! returns, executed on DuckDB by `tests/check_semantics.py`.

mod access;
mod dates;
mod error;
mod functions;
mod json;
mod literals;
mod names;
mod preprocess;
mod raw;
mod rewrite;
mod types;
mod unnest;

use sqlparser::ast::VisitMut;
use sqlparser::dialect::BigQueryDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

pub use error::TranslateError;

/// Translates BigQuery SQL (one or more statements, or a full query) into DuckDB SQL.
///
/// Several statements are joined with `;\n`. Comments are dropped.
pub fn translate(bigquery_sql: &str) -> Result<String, TranslateError> {
    let (sql, safe_calls) = preprocess::mark_safe_calls(bigquery_sql);
    let mut statements = Parser::parse_sql(&BigQueryDialect {}, &sql)
        .map_err(|e| TranslateError::from_parser(e, &sql))?;
    if statements.is_empty() {
        return Err(TranslateError::Parse {
            message: "Expected: a SQL statement, found: end of input".into(),
            line: 1,
            column: 1,
        });
    }
    let mut rewriter = rewrite::Rewriter { safe_calls };
    let mut out = Vec::with_capacity(statements.len());
    for statement in &mut statements {
        if let std::ops::ControlFlow::Break(err) = statement.visit(&mut rewriter) {
            return Err(err);
        }
        out.push(statement.to_string());
    }
    Ok(out.join(";\n"))
}

/// Translates a single BigQuery expression (e.g. a metric select_expression), returning a DuckDB expression.
pub fn translate_expression(bigquery_expr: &str) -> Result<String, TranslateError> {
    let (sql, safe_calls) = preprocess::mark_safe_calls(bigquery_expr);
    let dialect = BigQueryDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(&sql)
        .map_err(|e| TranslateError::from_parser(e, &sql))?;
    let mut expr = parser
        .parse_expr()
        .map_err(|e| TranslateError::from_parser(e, &sql))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(TranslateError::Parse {
            message: format!("Expected: end of expression, found: {}", next.token),
            line: next.span.start.line,
            column: next.span.start.column,
        });
    }
    let mut rewriter = rewrite::Rewriter { safe_calls };
    if let std::ops::ControlFlow::Break(err) = expr.visit(&mut rewriter) {
        return Err(err);
    }
    Ok(expr.to_string())
}

/// DuckDB statements (`CREATE OR REPLACE MACRO ...`) defining every function the translated
/// SQL may call that DuckDB lacks. The macros persist in the database, so run this once per
/// database (not per connection: loading it costs tens of milliseconds); rerunning it is safe.
///
/// The `bq_*` macros implement BigQuery builtins; the `mozfun_*`/`udf_*` macros implement
/// Mozilla's UDFs under the names described in the crate docs.
pub fn duckdb_prelude() -> String {
    let mut out = String::from(include_str!("bigquery_builtins.sql"));
    out.push('\n');
    out.push_str(include_str!("mozfun.sql"));
    out
}
