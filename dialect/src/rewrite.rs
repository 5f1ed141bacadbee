//! The tree walk: visits every node once, bottom-up, and applies the rewrites of the other
//! modules. The first error stops the walk.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, ObjectName, OrderByExpr, OrderBySort, Query, Select, SelectItem, SetExpr,
    SetQuantifier, Spanned, Statement, ValueWithSpan, VisitorMut, WildcardAdditionalOptions,
};

use crate::error::TranslateError;
use crate::{access, dates, functions, literals, names, raw, types, unnest};

/// Rewrites one statement or expression tree in place.
pub struct Rewriter {
    /// (line, column) of calls written `SAFE.f(...)` (see `preprocess`).
    pub safe_calls: HashSet<(u64, u64)>,
}

type Flow = ControlFlow<TranslateError>;

fn check(result: Result<(), TranslateError>) -> Flow {
    match result {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }
}

impl VisitorMut for Rewriter {
    type Break = TranslateError;

    fn pre_visit_statement(&mut self, statement: &mut Statement) -> Flow {
        match statement {
            Statement::Query(_)
            | Statement::CreateTable(_)
            | Statement::CreateView { .. }
            | Statement::Insert(_)
            | Statement::Drop { .. } => ControlFlow::Continue(()),
            other => {
                let text = other.to_string();
                let head: String = text
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                ControlFlow::Break(TranslateError::unsupported(
                    format!("statement `{head} ...`"),
                    other.span().start,
                ))
            }
        }
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> Flow {
        access::move_null_treatment(expr);
        access::fold_dotted_call(expr);
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> Flow {
        check(self.rewrite_expr(expr))
    }

    fn post_visit_value(&mut self, value: &mut ValueWithSpan) -> Flow {
        check(literals::normalize_value(value))
    }

    fn post_visit_ident(&mut self, ident: &mut Ident) -> Flow {
        names::fix_ident(ident);
        ControlFlow::Continue(())
    }

    fn post_visit_relation(&mut self, relation: &mut ObjectName) -> Flow {
        check(names::map_table_name(relation))
    }

    fn post_visit_select(&mut self, select: &mut Select) -> Flow {
        let element_aliases = unnest::element_aliases(&select.from);
        for item in &mut select.projection {
            if let Err(e) = unnest::expand_element_star(item, &element_aliases) {
                return ControlFlow::Break(e);
            }
            match item {
                SelectItem::Wildcard(opts) | SelectItem::QualifiedWildcard(_, opts) => {
                    except_to_exclude(opts)
                }
                _ => {}
            }
        }
        check(unnest::rewrite_from(&mut select.from))
    }

    fn post_visit_query(&mut self, query: &mut Query) -> Flow {
        fix_set_quantifiers(&mut query.body);
        ControlFlow::Continue(())
    }

    fn post_visit_order_by_expr(&mut self, order: &mut OrderByExpr) -> Flow {
        // BigQuery sorts NULLs first ascending and last descending; DuckDB sorts them last.
        if order.options.nulls_first.is_none() {
            let desc = matches!(order.options.sort, Some(OrderBySort::Desc));
            order.options.nulls_first = Some(!desc);
        }
        ControlFlow::Continue(())
    }
}

impl Rewriter {
    fn rewrite_expr(&mut self, expr: &mut Expr) -> Result<(), TranslateError> {
        let at = expr.span().start;
        let replacement = match expr {
            Expr::Function(func) => {
                let name_at = names::name_span(&func.name).start;
                let safe = self.safe_calls.contains(&(name_at.line, name_at.column));
                if safe {
                    strip_safe_prefix(&mut func.name);
                }
                functions::rewrite(func, safe, at)?
            }
            Expr::Cast {
                kind,
                expr: inner,
                data_type,
                format,
            } => Some(raw::expr(types::rewrite_cast(
                kind,
                inner,
                data_type,
                format.is_some(),
                at,
            )?)),
            Expr::Extract {
                field, expr: inner, ..
            } => Some(raw::expr(dates::extract(field, inner, at)?)),
            Expr::CompoundFieldAccess { root, access_chain } => {
                Some(raw::expr(access::rewrite(root, access_chain, at)?))
            }
            Expr::InUnnest {
                expr: inner,
                array_expr,
                negated,
            } => Some(raw::expr(unnest::in_unnest(inner, array_expr, *negated))),
            Expr::Struct { values, fields } => {
                Some(functions::struct_pack(values, !fields.is_empty(), at)?)
            }
            Expr::Substring {
                expr: inner,
                substring_from,
                substring_for,
                ..
            } => {
                let from = substring_from
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "1".into());
                Some(raw::expr(functions::substr(
                    &inner.to_string(),
                    &from,
                    substring_for.as_ref().map(|e| e.to_string()),
                    false,
                )))
            }
            Expr::Interval(iv) => {
                if !matches!(iv.value.as_ref(), Expr::Value(_) | Expr::Nested(_)) {
                    let value = std::mem::replace(iv.value.as_mut(), raw::expr(String::new()));
                    *iv.value = Expr::Nested(Box::new(value));
                }
                None
            }
            Expr::Array(array) => {
                array.named = false;
                None
            }
            Expr::TypedString(ts) => {
                let target = types::map_type(&ts.data_type, at)?;
                Some(raw::expr(format!("CAST({} AS {target})", ts.value)))
            }
            Expr::AtTimeZone { .. } => {
                return Err(TranslateError::unsupported("AT TIME ZONE", at));
            }
            Expr::JsonAccess { .. } => {
                return Err(TranslateError::unsupported("JSON subscript", at));
            }
            _ => None,
        };
        if let Some(new) = replacement {
            *expr = new;
        }
        Ok(())
    }
}

/// `SAFE_f` (marked by `preprocess`) → `f`.
fn strip_safe_prefix(name: &mut ObjectName) {
    if let Some(sqlparser::ast::ObjectNamePart::Identifier(id)) = name.0.first_mut() {
        let stripped = id
            .value
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("SAFE_"))
            .and_then(|_| id.value.get(5..))
            .map(str::to_string);
        if let Some(rest) = stripped {
            id.value = rest;
        }
    }
}

/// `* EXCEPT (a, b)` → `* EXCLUDE (a, b)`.
fn except_to_exclude(opts: &mut WildcardAdditionalOptions) {
    if let Some(except) = opts.opt_except.take() {
        let mut cols = vec![except.first_element];
        cols.extend(except.additional_elements);
        opts.opt_exclude = Some(sqlparser::ast::ExcludeSelectItem::Multiple(
            cols.into_iter()
                .map(|c| ObjectName(vec![sqlparser::ast::ObjectNamePart::Identifier(c)]))
                .collect(),
        ));
    }
}

/// `UNION DISTINCT` → `UNION` (DuckDB's spelling of the same).
fn fix_set_quantifiers(body: &mut SetExpr) {
    if let SetExpr::SetOperation {
        left,
        right,
        set_quantifier,
        ..
    } = body
    {
        if *set_quantifier == SetQuantifier::Distinct {
            *set_quantifier = SetQuantifier::None;
        }
        fix_set_quantifiers(left);
        fix_set_quantifiers(right);
    }
}
