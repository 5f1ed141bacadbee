//! Field access and array subscripts: `f(x).field`, `arr[OFFSET(n)]`, `arr[SAFE_ORDINAL(n)]`.
//!
//! DuckDB lists are 1-based and return NULL out of range; BigQuery `OFFSET` is 0-based and
//! fails out of range (`SAFE_OFFSET` returns NULL). Field access on a call result needs
//! parentheses in DuckDB: `(mozfun_hist_extract(h))."values"`.

use sqlparser::ast::{
    AccessExpr, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, ObjectName, ObjectNamePart, Subscript,
};
use sqlparser::tokenizer::Location;

use crate::error::TranslateError;
use crate::literals::{as_integer, as_string, sql_string};
use crate::names;
use crate::raw::operand;

/// Before the children are visited: the parser reads `mozfun.hist.extract(h).values` as the
/// column `mozfun` with the accesses `.hist`, `.extract(h)`, `.values`. This folds the leading
/// names into the function's name, leaving `mozfun.hist.extract(h)` followed by `.values`.
pub fn fold_dotted_call(expr: &mut Expr) {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return;
    };
    let Some(pos) = access_chain
        .iter()
        .position(|a| matches!(a, AccessExpr::Dot(Expr::Function(_))))
    else {
        return;
    };
    let mut parts = match root.as_ref() {
        Expr::Identifier(id) => vec![id.clone()],
        Expr::CompoundIdentifier(ids) => ids.clone(),
        _ => return,
    };
    for access in &access_chain[..pos] {
        match access {
            AccessExpr::Dot(Expr::Identifier(id)) => parts.push(id.clone()),
            _ => return,
        }
    }
    let AccessExpr::Dot(Expr::Function(func)) = &access_chain[pos] else {
        return;
    };
    let mut func: Function = func.clone();
    let mut name: Vec<ObjectNamePart> = parts.into_iter().map(ObjectNamePart::Identifier).collect();
    name.extend(func.name.0);
    func.name = ObjectName(name);
    let rest: Vec<AccessExpr> = access_chain[pos + 1..].to_vec();
    *expr = if rest.is_empty() {
        Expr::Function(func)
    } else {
        Expr::CompoundFieldAccess {
            root: Box::new(Expr::Function(func)),
            access_chain: rest,
        }
    };
}

/// Before the children are visited: in `ARRAY_AGG(mozfun.hist.extract(x) IGNORE NULLS)` the
/// parser attaches `IGNORE NULLS` to the inner call (which has no window, so it cannot be its).
/// This moves it to the enclosing call as an argument clause.
pub fn move_null_treatment(expr: &mut Expr) {
    let Expr::Function(outer) = expr else { return };
    let FunctionArguments::List(list) = &mut outer.args else {
        return;
    };
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(last))) = list.args.last_mut() else {
        return;
    };
    let inner = match last {
        Expr::Function(f) => f,
        Expr::CompoundFieldAccess { access_chain, .. } => match access_chain.last_mut() {
            Some(AccessExpr::Dot(Expr::Function(f))) => f,
            _ => return,
        },
        _ => return,
    };
    if inner.over.is_none() {
        if let Some(nt) = inner.null_treatment.take() {
            list.clauses
                .insert(0, FunctionArgumentClause::IgnoreOrRespectNulls(nt));
        }
    }
}

/// After the children are translated: renders the access chain as DuckDB text.
pub fn rewrite(root: &Expr, chain: &[AccessExpr], at: Location) -> Result<String, TranslateError> {
    let mut acc = match root {
        Expr::Function(_) => format!("({root})"),
        other => operand(other),
    };
    for access in chain {
        acc = match access {
            AccessExpr::Dot(Expr::Identifier(id)) => format!("{acc}.{}", names::quote(&id.value)),
            AccessExpr::Dot(other) => {
                return Err(TranslateError::unsupported(
                    format!("field access `.{other}`"),
                    at,
                ))
            }
            AccessExpr::Subscript(Subscript::Index { index }) => subscript(&acc, index, at)?,
            AccessExpr::Subscript(other) => {
                return Err(TranslateError::unsupported(
                    format!("subscript `[{other}]`"),
                    at,
                ))
            }
        };
    }
    Ok(acc)
}

/// `acc[OFFSET(n)]` and friends. `acc` is already an operand (parenthesised if needed).
fn subscript(acc: &str, index: &Expr, at: Location) -> Result<String, TranslateError> {
    let (kind, n) = match index {
        Expr::Function(f) => {
            let kind = names::flat_parts(&f.name).join(".").to_ascii_uppercase();
            let arg = match &f.args {
                sqlparser::ast::FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0]
                {
                    sqlparser::ast::FunctionArg::Unnamed(
                        sqlparser::ast::FunctionArgExpr::Expr(e),
                    ) => e,
                    _ => {
                        return Err(TranslateError::unsupported(
                            format!("subscript `[{index}]`"),
                            at,
                        ))
                    }
                },
                _ => {
                    return Err(TranslateError::unsupported(
                        format!("subscript `[{index}]`"),
                        at,
                    ))
                }
            };
            (kind, arg)
        }
        Expr::Value(_) if as_integer(index).is_some() => ("OFFSET".to_string(), index),
        // A string subscript only exists on BigQuery JSON values: member access.
        _ if as_string(index).is_some() => {
            let key = as_string(index).unwrap_or_default().replace('"', "\\\"");
            return Ok(format!(
                "json_extract({acc}, {})",
                sql_string(&format!("$.\"{key}\""))
            ));
        }
        other => {
            return Err(TranslateError::unsupported(
                format!("subscript `[{other}]`"),
                at,
            ))
        }
    };
    let literal = as_integer(n);
    Ok(match (kind.as_str(), literal) {
        ("SAFE_OFFSET", Some(i)) if i >= 0 => format!("{acc}[{}]", i + 1),
        ("SAFE_ORDINAL", Some(i)) if i >= 1 => format!("{acc}[{i}]"),
        ("SAFE_OFFSET", _) => format!("bq_safe_offset({acc}, {n})"),
        ("SAFE_ORDINAL", _) => format!("bq_safe_offset({acc}, {} - 1)", operand(n)),
        ("OFFSET", _) => format!("bq_offset({acc}, {n})"),
        ("ORDINAL", _) => format!("bq_offset({acc}, {} - 1)", operand(n)),
        _ => {
            return Err(TranslateError::unsupported(
                format!("subscript `[{index}]`"),
                at,
            ))
        }
    })
}
