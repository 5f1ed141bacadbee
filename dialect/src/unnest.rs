//! `UNNEST` in FROM clauses and in `x IN UNNEST(arr)`.
//!
//! BigQuery semantics kept:
//! * `FROM UNNEST(arr) AS h` makes `h` the element, so `h.key` reads a struct field. DuckDB's
//!   `unnest(arr) AS h(h)` names the table and its single column `h`, which gives the same.
//! * An unaliased `FROM UNNEST(arr)` over an array of structs exposes the struct fields as
//!   columns (`SELECT SUM(value) FROM UNNEST(hist) WHERE key > 0`): DuckDB's
//!   `unnest(arr, max_depth := 2)` in a subquery expands the struct (and leaves scalars as is).
//! * Correlated (lateral) use after a comma or JOIN works with DuckDB's table function form;
//!   the subquery form gets `LATERAL`.
//! * `WITH OFFSET AS o` becomes a `generate_subscripts(arr, 1) - 1` column.

use sqlparser::ast::{
    Expr, ObjectNamePart, SelectItem, SelectItemQualifiedWildcardKind, TableFactor, TableWithJoins,
};
use sqlparser::tokenizer::{Location, Span};

use crate::error::TranslateError;
use crate::names;
use crate::raw;

/// Rewrites every UNNEST of a FROM clause; items after the first may be correlated.
pub fn rewrite_from(from: &mut [TableWithJoins]) -> Result<(), TranslateError> {
    for (i, twj) in from.iter_mut().enumerate() {
        rewrite_factor(&mut twj.relation, i > 0)?;
        for join in &mut twj.joins {
            rewrite_factor(&mut join.relation, true)?;
        }
    }
    Ok(())
}

fn rewrite_factor(factor: &mut TableFactor, lateral: bool) -> Result<(), TranslateError> {
    let replacement = match factor {
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => return rewrite_from(std::slice::from_mut(table_with_joins.as_mut())),
        TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset,
            with_offset_alias,
            with_ordinality,
        } => {
            let at = array_exprs
                .first()
                .map(|e| sqlparser::ast::Spanned::span(e).start)
                .unwrap_or(Span::empty().start);
            if array_exprs.len() != 1 {
                return Err(TranslateError::unsupported("UNNEST of several arrays", at));
            }
            if *with_ordinality {
                return Err(TranslateError::unsupported(
                    "UNNEST ... WITH ORDINALITY",
                    at,
                ));
            }
            let arr = array_exprs[0].to_string();
            let name = match alias {
                Some(a) if !a.columns.is_empty() => {
                    return Err(TranslateError::unsupported(
                        "UNNEST alias with column list",
                        at,
                    ))
                }
                Some(a) => Some(names::quote(&a.name.value)),
                None => None,
            };
            unnest_text(
                &arr,
                name,
                *with_offset,
                with_offset_alias.as_ref().map(|o| names::quote(&o.value)),
                lateral,
                at,
            )?
        }
        _ => return Ok(()),
    };
    *factor = raw::table_factor(replacement);
    Ok(())
}

fn unnest_text(
    arr: &str,
    name: Option<String>,
    with_offset: bool,
    offset_alias: Option<String>,
    lateral: bool,
    at: Location,
) -> Result<String, TranslateError> {
    let lateral_kw = if lateral { "LATERAL " } else { "" };
    Ok(match (name, with_offset) {
        (Some(n), false) => format!("unnest({arr}) AS {n}({n})"),
        (Some(n), true) => {
            let o = offset_alias.unwrap_or_else(|| "\"offset\"".to_string());
            format!(
                "{lateral_kw}(SELECT unnest({arr}) AS {n}, generate_subscripts({arr}, 1) - 1 AS {o}) AS {n}"
            )
        }
        (None, false) => format!("{lateral_kw}(SELECT unnest({arr}, max_depth := 2))"),
        (None, true) => {
            return Err(TranslateError::unsupported(
                "UNNEST ... WITH OFFSET without an alias for the element",
                at,
            ))
        }
    })
}

/// The aliases given to UNNEST items of a FROM clause (`UNNEST(arr) AS e` → `e`), lower-cased.
pub fn element_aliases(from: &[TableWithJoins]) -> Vec<String> {
    fn visit(factor: &TableFactor, out: &mut Vec<String>) {
        match factor {
            TableFactor::UNNEST { alias: Some(a), .. } => {
                out.push(a.name.value.to_ascii_lowercase())
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                visit(&table_with_joins.relation, out);
                for j in &table_with_joins.joins {
                    visit(&j.relation, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for twj in from {
        visit(&twj.relation, &mut out);
        for j in &twj.joins {
            visit(&j.relation, &mut out);
        }
    }
    out
}

/// `e.*` where `e` names an UNNEST element expands the element's struct fields in BigQuery;
/// DuckDB does that with `unnest(e)` in the select list. Other select items are kept.
pub fn expand_element_star(
    item: &mut SelectItem,
    aliases: &[String],
) -> Result<(), TranslateError> {
    let SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), opts) =
        item
    else {
        return Ok(());
    };
    let [ObjectNamePart::Identifier(id)] = name.0.as_slice() else {
        return Ok(());
    };
    if !aliases.contains(&id.value.to_ascii_lowercase()) {
        return Ok(());
    }
    if opts.opt_except.is_some() || opts.opt_exclude.is_some() || opts.opt_replace.is_some() {
        return Err(TranslateError::unsupported(
            format!("`{}.* EXCEPT/REPLACE` on an UNNEST element", id.value),
            id.span.start,
        ));
    }
    *item = SelectItem::UnnamedExpr(raw::expr(format!("unnest({})", names::quote(&id.value))));
    Ok(())
}

/// `x [NOT] IN UNNEST(arr)` → `x [NOT] IN (SELECT unnest(arr))` (keeps SQL's NULL semantics).
pub fn in_unnest(expr: &Expr, array: &Expr, negated: bool) -> String {
    let not = if negated { "NOT " } else { "" };
    format!("{} {not}IN (SELECT unnest({array}))", raw::operand(expr))
}
