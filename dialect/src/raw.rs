//! "Raw" DuckDB text spliced into the syntax tree.
//!
//! Rewrites build their DuckDB output as text from the already translated children (whose
//! `Display` is final DuckDB SQL). The text is stored in an unquoted identifier node, whose
//! `Display` prints it verbatim; the rewriter visits every node once, bottom-up, so a raw node
//! is never inspected or rewritten again.

use sqlparser::ast::{Expr, Ident, ObjectName, ObjectNamePart, TableFactor};
use sqlparser::tokenizer::Span;

/// An expression node that prints `text` verbatim.
pub fn expr(text: String) -> Expr {
    Expr::Identifier(ident(text))
}

/// An identifier node that prints `text` verbatim.
pub fn ident(text: String) -> Ident {
    Ident {
        value: text,
        quote_style: None,
        span: Span::empty(),
    }
}

/// A FROM item that prints `text` verbatim (e.g. `unnest(arr) AS x(x)`).
pub fn table_factor(text: String) -> TableFactor {
    TableFactor::Table {
        name: ObjectName(vec![ObjectNamePart::Identifier(ident(text))]),
        alias: None,
        args: None,
        with_hints: vec![],
        version: None,
        with_ordinality: false,
        partitions: vec![],
        json_path: None,
        sample: None,
        index_hints: vec![],
    }
}

/// `expr` as an operand: parenthesised unless it is atomic (a name, literal or call), so that
/// splicing it next to an operator cannot change precedence.
pub fn operand(e: &Expr) -> String {
    match e {
        Expr::Identifier(id) if id.quote_style.is_none() && !is_plain_word(&id.value) => {
            format!("({e})")
        }
        Expr::Identifier(_)
        | Expr::CompoundIdentifier(_)
        | Expr::Value(_)
        | Expr::Function(_)
        | Expr::Nested(_)
        | Expr::Cast { .. }
        | Expr::Case { .. }
        | Expr::Subquery(_) => e.to_string(),
        _ => format!("({e})"),
    }
}

/// True for text that is a single (possibly dotted/quoted) name or a call, i.e. safe to use as an
/// operand without parentheses.
fn is_plain_word(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '"')
}
