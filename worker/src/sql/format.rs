//! Python `str.format(experiment_slug=...)` as mozanalysis applies it to metric expressions.

use thiserror::Error;

/// A metric expression that Python's `str.format` would reject.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    #[error("unknown placeholder '{{{0}}}' in select_expression (only {{experiment_slug}} is available; write '{{{{' and '}}}}' for literal braces)")]
    UnknownPlaceholder(String),
    #[error("unbalanced '{0}' in select_expression (write '{0}{0}' for a literal brace)")]
    Unbalanced(char),
}

/// Substitutes `{experiment_slug}` and turns `{{` / `}}` into literal braces, rejecting any
/// other placeholder, exactly as mozanalysis' `select_expr.format(experiment_slug=...)`.
pub fn format_select_expression(expr: &str, slug: &str) -> Result<String, FormatError> {
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(FormatError::Unbalanced('{')),
                    }
                }
                if name == "experiment_slug" {
                    out.push_str(slug);
                } else {
                    return Err(FormatError::UnknownPlaceholder(name));
                }
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(FormatError::Unbalanced('}')),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python() {
        assert_eq!(
            format_select_expression("x = '{experiment_slug}' AND y = '{{a}}'", "my-exp").unwrap(),
            "x = 'my-exp' AND y = '{a}'"
        );
        assert_eq!(
            format_select_expression("{other}", "s"),
            Err(FormatError::UnknownPlaceholder("other".into()))
        );
        assert_eq!(
            format_select_expression("a } b", "s"),
            Err(FormatError::Unbalanced('}'))
        );
    }
}
