//! Identifiers, table names and function names.
//!
//! BigQuery quotes identifiers with backticks and allows a whole dotted path inside one pair
//! (`` `moz-fx-data-shared-prod.telemetry.events` ``); DuckDB quotes with double quotes and has
//! no notion of a GCP project. The mapping (also documented in the crate docs):
//!
//! * tables: `project.dataset.table` → `dataset.table` (the project is dropped, so `mozdata.x.y`
//!   and `moz-fx-data-shared-prod.x.y` are the same DuckDB table `x.y`); 2- and 1-part names keep
//!   their parts;
//! * functions: `mozfun.<ns>.<name>` → `mozfun_<ns>_<name>`; `<project>.udf.<name>` and
//!   `udf.<name>` → `udf_<name>`; `udf_js.<name>` → `udf_js_<name>`;
//! * any identifier that is not a plain `[A-Za-z_][A-Za-z0-9_]*` word, or that is a DuckDB
//!   keyword, is double-quoted; other identifiers are left bare.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};
use sqlparser::tokenizer::Span;

use crate::error::TranslateError;

/// DuckDB 1.2.0 keywords that cannot be used as bare column or field names
/// (`SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'`).
const DUCKDB_KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "default",
    "deferrable",
    "desc",
    "describe",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "pivot",
    "pivot_longer",
    "pivot_wider",
    "placing",
    "primary",
    "qualify",
    "references",
    "returning",
    "select",
    "show",
    "some",
    "summarize",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "unpivot",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
    "anti",
    "asof",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "char",
    "character",
    "coalesce",
    "collation",
    "columns",
    "concurrently",
    "cross",
    "dec",
    "decimal",
    "exists",
    "extract",
    "float",
    "freeze",
    "full",
    "generated",
    "glob",
    "grouping",
    "grouping_id",
    "ilike",
    "inner",
    "inout",
    "int",
    "integer",
    "interval",
    "is",
    "isnull",
    "join",
    "left",
    "like",
    "map",
    "national",
    "natural",
    "nchar",
    "none",
    "notnull",
    "nullif",
    "numeric",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "position",
    "positional",
    "precision",
    "real",
    "right",
    "row",
    "semi",
    "setof",
    "similar",
    "smallint",
    "struct",
    "substring",
    "tablesample",
    "time",
    "timestamp",
    "treat",
    "trim",
    "try_cast",
    "values",
    "varchar",
    "verbose",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// True when `name` can be written bare in DuckDB: a plain word that is not a keyword.
pub fn is_plain(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !DUCKDB_KEYWORDS.contains(&name.to_ascii_lowercase().as_str())
}

/// Writes `name` as a DuckDB identifier, double-quoting it when needed.
pub fn quote(name: &str) -> String {
    if is_plain(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Re-quotes one identifier for DuckDB (backticks become double quotes where needed).
pub fn fix_ident(ident: &mut Ident) {
    ident.quote_style = if is_plain(&ident.value) {
        None
    } else {
        Some('"')
    };
}

/// An identifier with the given text, quoted for DuckDB when needed.
pub fn ident(name: &str) -> Ident {
    let mut id = Ident::new(name);
    fix_ident(&mut id);
    id
}

/// The dotted parts of a name, with backticked dotted paths split apart
/// (`` `a.b`.c `` → `["a", "b", "c"]`).
pub fn flat_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .flat_map(|part| match part {
            ObjectNamePart::Identifier(id) => {
                id.value.split('.').map(str::to_string).collect::<Vec<_>>()
            }
            other => vec![other.to_string()],
        })
        .collect()
}

/// The span of the first part of a name (for error positions).
pub fn name_span(name: &ObjectName) -> Span {
    match name.0.first() {
        Some(ObjectNamePart::Identifier(id)) => id.span,
        _ => Span::empty(),
    }
}

/// Maps a BigQuery table reference to its DuckDB name (see the module docs).
pub fn map_table_name(name: &mut ObjectName) -> Result<(), TranslateError> {
    let span = name_span(name);
    let mut parts = flat_parts(name);
    if parts.iter().any(String::is_empty) || parts.len() > 3 {
        return Err(TranslateError::unsupported(
            format!("table name `{}`", parts.join(".")),
            span.start,
        ));
    }
    if parts.len() == 3 {
        parts.remove(0);
    }
    name.0 = parts
        .iter()
        .map(|p| {
            let mut id = ident(p);
            id.span = span;
            ObjectNamePart::Identifier(id)
        })
        .collect();
    Ok(())
}

/// What a (possibly dotted) function name refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionTarget {
    /// A BigQuery builtin, upper-cased (e.g. `SAFE_DIVIDE`).
    Builtin(String),
    /// A user-defined function, already renamed for DuckDB (e.g. `mozfun_map_get_key`).
    Udf(String),
}

/// Classifies a function name according to the naming contract in the module docs.
pub fn function_target(name: &ObjectName) -> Result<FunctionTarget, TranslateError> {
    let parts: Vec<String> = flat_parts(name)
        .iter()
        .map(|p| p.to_ascii_lowercase())
        .collect();
    let span = name_span(name);
    let joined = parts.join(".");
    let unsupported = || TranslateError::unsupported(format!("function `{joined}`"), span.start);
    match parts.as_slice() {
        [single] => Ok(FunctionTarget::Builtin(single.to_ascii_uppercase())),
        [m, ns, f] if m == "mozfun" => Ok(FunctionTarget::Udf(format!("mozfun_{ns}_{f}"))),
        [.., ds, f] if ds == "udf" || ds == "udf_js" => {
            if parts.len() > 3 {
                return Err(unsupported());
            }
            Ok(FunctionTarget::Udf(format!("{ds}_{f}")))
        }
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(parts: &[&str]) -> ObjectName {
        ObjectName(
            parts
                .iter()
                .map(|p| ObjectNamePart::Identifier(Ident::with_quote('`', *p)))
                .collect(),
        )
    }

    #[test]
    fn plain_and_quoted_identifiers() {
        assert_eq!(quote("client_id"), "client_id");
        assert_eq!(quote("slug-x"), "\"slug-x\"");
        assert_eq!(quote("values"), "\"values\"");
        assert_eq!(quote("1abc"), "\"1abc\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn table_names_drop_the_project() {
        let mut n = obj(&["moz-fx-data-shared-prod.telemetry.events"]);
        map_table_name(&mut n).unwrap();
        assert_eq!(n.to_string(), "telemetry.events");
        let mut n = obj(&["mozdata", "telemetry", "clients_daily"]);
        map_table_name(&mut n).unwrap();
        assert_eq!(n.to_string(), "telemetry.clients_daily");
        let mut n = obj(&["my-dataset", "t"]);
        map_table_name(&mut n).unwrap();
        assert_eq!(n.to_string(), "\"my-dataset\".t");
        let mut n = obj(&["a.b.c.d"]);
        assert!(map_table_name(&mut n).is_err());
    }

    #[test]
    fn function_names_follow_the_contract() {
        use FunctionTarget::*;
        let t = |p: &[&str]| function_target(&obj(p)).unwrap();
        assert_eq!(t(&["mozfun.map.get_key"]), Udf("mozfun_map_get_key".into()));
        assert_eq!(
            t(&["mozfun", "hist", "extract"]),
            Udf("mozfun_hist_extract".into())
        );
        assert_eq!(
            t(&["moz-fx-data-shared-prod", "udf", "get_key"]),
            Udf("udf_get_key".into())
        );
        assert_eq!(
            t(&["moz-fx-data-shared-prod.udf.normalize_search_engine"]),
            Udf("udf_normalize_search_engine".into())
        );
        assert_eq!(t(&["mozdata", "udf", "get_key"]), Udf("udf_get_key".into()));
        assert_eq!(t(&["udf", "get_key"]), Udf("udf_get_key".into()));
        assert_eq!(t(&["udf_js", "f"]), Udf("udf_js_f".into()));
        assert_eq!(t(&["sum"]), Builtin("SUM".into()));
        assert!(function_target(&obj(&["a", "b"])).is_err());
    }
}
